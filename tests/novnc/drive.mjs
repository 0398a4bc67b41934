// Drives tests/novnc/index.html in headless Chromium for tests/interop_novnc.rs.
// Usage: node drive.mjs URL PROFILE_DIR. Reads one command a line on stdin and answers one line
// on stdout (JSON):
//   state               -> window.farview of the page ({status, reason, clipboard})
//   capture FILE.png    -> writes noVNC's canvas (the remote framebuffer) as PNG
//   type TEXT           -> focuses noVNC's canvas and types TEXT
// Chromium is Debian's (/usr/bin/chromium, or $FARVIEW_CHROMIUM); nothing is downloaded.
import { writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [url, profile] = process.argv.slice(2);
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.FARVIEW_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
  viewport: { width: 1280, height: 900 },
  // https and wss tests use a self-signed certificate.
  ignoreHTTPSErrors: true,
});
const page = context.pages()[0] ?? await context.newPage();
page.on('console', (message) => console.error(`page: ${message.text()}`));
page.on('pageerror', (error) => console.error(`page error: ${error}`));
// A browser that sends its request later than farview waits for one (250 ms, on a loaded
// machine) is answered as an RFB viewer; as a user would, reload (farview then waits longer).
for (let attempt = 1; ; attempt++) {
  try {
    await page.goto(url);
    break;
  } catch (error) {
    if (attempt === 3) {
      throw error;
    }
    console.error(`page load ${attempt} failed, again: ${error}`);
    // Let the error page finish loading, or it interrupts the next navigation.
    await page.waitForLoadState('load').catch(() => {});
  }
}

const commands = {
  state: async () => page.evaluate(() => window.farview ?? { status: 'no page state' }),
  capture: async (path) => {
    const data = await page.evaluate(() => {
      const canvas = document.querySelector('#screen canvas');
      return canvas && canvas.width > 0 ? canvas.toDataURL('image/png') : null;
    });
    if (!data) {
      return { error: 'no canvas yet' };
    }
    writeFileSync(path, Buffer.from(data.split(',')[1], 'base64'));
    return { written: path };
  },
  type: async (text) => {
    await page.evaluate(() => window.rfb.focus());
    await page.keyboard.type(text);
    return { typed: text };
  },
};

for await (const line of createInterface({ input: process.stdin })) {
  const space = line.indexOf(' ');
  const [name, argument] = space < 0 ? [line, ''] : [line.slice(0, space), line.slice(space + 1)];
  let answer;
  try {
    answer = commands[name] ? await commands[name](argument) : { error: `unknown command ${name}` };
  } catch (error) {
    answer = { error: String(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await context.close();
