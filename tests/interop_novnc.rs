//! noVNC (the browser VNC client, @novnc/novnc from npm) in Debian's headless Chromium, driven
//! by playwright-core, against `farview serve --source demo --web tests/novnc`: the page and
//! noVNC come over HTTP from farview's own port, RFB over a WebSocket on it. noVNC's canvas
//! must show the demo desktop exactly as our own viewer's snapshot does, and keys typed in the
//! page must reach the demo's text box (which puts its text on the clipboard). Over http and
//! ws, and over https and wss on the same port.
//!
//! tests/novnc holds the page, the driver (drive.mjs) and the npm lock; `npm ci` there
//! (.ci/run does it) installs noVNC and playwright-core. playwright-core never downloads a
//! browser: it starts /usr/bin/chromium.

mod support;

use std::cell::RefCell;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::thread;
use std::time::Duration;

use farview_server::source::demo::clock_area;
use farview_server::tls::{SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, TlsCertificate};
use support::{FarviewServer, Image, TempDir};

static ONE_BROWSER: Mutex<()> = Mutex::new(());

/// How long the browser may take to answer one command (starting Chromium is the slowest).
const BROWSER_TIMEOUT: Duration = Duration::from_secs(60);
/// How long noVNC may take to show the expected picture or clipboard.
const SHOW_TIMEOUT: Duration = Duration::from_secs(30);

fn novnc_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/novnc")
}

/// Whether node, Chromium and the npm packages are there (panics in CI if not).
fn require_browser() -> bool {
    if !support::require_all(&["node", "chromium"]) {
        return false;
    }
    let installed = novnc_dir()
        .join("node_modules/playwright-core/package.json")
        .is_file()
        && novnc_dir()
            .join("node_modules/@novnc/novnc/core/rfb.js")
            .is_file();
    if !installed {
        assert!(
            !support::in_ci(),
            "noVNC and playwright-core are not installed: run `npm ci` in tests/novnc"
        );
        eprintln!("skipping: run `npm ci` in tests/novnc for noVNC and playwright-core");
    }
    installed
}

/// tests/novnc/drive.mjs: Chromium showing the page, answering one command a line.
struct Browser {
    child: Child,
    /// Closed on drop: the driver then closes Chromium and exits.
    stdin: Option<ChildStdin>,
    answers: mpsc::Receiver<String>,
    stderr: PathBuf,
}

impl Browser {
    fn open(dir: &TempDir, url: &str) -> Browser {
        let stderr = dir.join("browser.stderr");
        let profile = dir.join("chromium-profile");
        let mut child = Command::new("node")
            .current_dir(novnc_dir())
            .arg("drive.mjs")
            .arg(url)
            .arg(&profile)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node drive.mjs: {e}"));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (sender, answers) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Browser {
            child,
            stdin: Some(stdin),
            answers,
            stderr,
        }
    }

    /// Sends one command and returns the driver's one-line JSON answer.
    fn ask(&mut self, command: &str) -> String {
        let stdin = self
            .stdin
            .as_mut()
            .expect("the driver's stdin is open until drop");
        writeln!(stdin, "{command}")
            .unwrap_or_else(|e| panic!("the browser driver is gone ({e})\n{}", self.logs()));
        self.answers
            .recv_timeout(BROWSER_TIMEOUT)
            .unwrap_or_else(|e| panic!("no answer to {command:?} ({e})\n{}", self.logs()))
    }

    /// noVNC's canvas, once there is one.
    fn capture(&mut self, dir: &TempDir, label: &str) -> Result<Image, String> {
        let path = dir.join(&format!("{label}-canvas.png"));
        let answer = self.ask(&format!("capture {}", path.display()));
        if answer.contains("\"written\"") {
            Ok(Image::read_png(&path))
        } else {
            Err(answer)
        }
    }

    fn logs(&self) -> String {
        format!(
            "browser stderr:\n{}",
            std::fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Chromium writes its profile until it has closed: let the driver close it, so the
        // temp dir can be removed; kill the driver only if it hangs.
        self.stdin = None;
        let deadline = std::time::Instant::now() + BROWSER_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The picture without the demo's clock, which changes every second on its own.
fn without_clock(image: &Image) -> Image {
    let mut image = image.clone();
    let clock = clock_area(image.width as u16);
    for y in clock.y..clock.y + clock.height {
        for x in clock.x..clock.x + clock.width {
            let at = (usize::from(y) * image.width as usize + usize::from(x)) * 3;
            image.rgb[at..at + 3].fill(0);
        }
    }
    image
}

/// Waits until noVNC's canvas shows what `farview view --headless` sees now.
fn assert_canvas_matches_our_viewer(
    dir: &TempDir,
    label: &str,
    browser: &mut Browser,
    server: &FarviewServer,
    password: Option<&str>,
    view_args: &[&str],
) {
    let ours = support::view_headless_with(dir, label, &server.target(), password, 1.0, view_args);
    let expected = without_clock(ours.snapshot.as_ref().unwrap_or_else(|| {
        panic!(
            "our viewer failed: {}\n{}",
            ours.stderr(),
            server.process.logs()
        )
    }));
    let browser_logs = browser.stderr.clone();
    let last = RefCell::new(None);
    support::poll(
        &format!("{label}: noVNC's canvas to show the demo desktop"),
        SHOW_TIMEOUT,
        Duration::from_millis(200),
        || {
            let canvas = without_clock(&browser.capture(dir, label)?);
            let difference = support::image_difference(&expected, &canvas);
            *last.borrow_mut() = Some(canvas);
            difference.map_or(Ok(()), Err)
        },
        || {
            let saved = last
                .borrow()
                .as_ref()
                .map(|canvas| support::save_mismatch(dir, label, &expected, canvas))
                .unwrap_or_default();
            format!(
                "{saved}\nbrowser: {}\n{}",
                std::fs::read_to_string(&browser_logs).unwrap_or_default(),
                server.process.logs()
            )
        },
    );
}

/// Types `text` in the page and waits for the demo to put it on the clipboard.
fn assert_typing_reaches_the_demo(browser: &mut Browser, server: &FarviewServer, text: &str) {
    browser.ask(&format!("type {text}"));
    // The page's state is JSON; the test's texts need no escaping in it.
    assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' '));
    let wanted = format!("\"{text}\"");
    let browser_logs = browser.stderr.clone();
    support::poll(
        "the typed text to come back as the demo's clipboard",
        SHOW_TIMEOUT,
        Duration::from_millis(100),
        || {
            let state = browser.ask("state");
            if state.contains(&wanted) {
                Ok(())
            } else {
                Err(state)
            }
        },
        || {
            format!(
                "browser: {}\n{}",
                std::fs::read_to_string(&browser_logs).unwrap_or_default(),
                server.process.logs()
            )
        },
    );
}

/// How the browser reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    /// http and ws.
    Plain,
    /// https and wss, with a self-signed certificate (the one VeNCrypt uses).
    Tls,
}

/// Serves the demo and the page, opens it in Chromium, and checks picture, typing, and that
/// noVNC was never sent Raw (noVNC draws only the first 64 KiB of a large Raw rectangle).
fn check_novnc(label: &str, password: Option<&str>, scheme: Scheme) {
    if !require_browser() {
        return;
    }
    // One Chromium at a time: two starting together on a small machine are slow enough to
    // miss the server's wait for a browser's first request.
    let _one_browser = ONE_BROWSER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = TempDir::new(label);
    let web = novnc_dir();
    let mut extra = vec!["--web".to_string(), web.display().to_string()];
    let mut view_args = Vec::new();
    if let Some(password) = password {
        let file = dir.write("password.txt", password.as_bytes());
        extra.extend(["--password-file".into(), file.display().to_string()]);
    }
    if scheme == Scheme::Tls {
        let folder = dir.join("certificate");
        let tls = farview_server::tls::server_config(&TlsCertificate::SelfSigned {
            dir: folder.clone(),
        })
        .unwrap_or_else(|e| panic!("certificate: {e}"));
        extra.extend([
            "--tls-cert".into(),
            folder.join(SELF_SIGNED_CERT_FILE).display().to_string(),
            "--tls-key".into(),
            folder.join(SELF_SIGNED_KEY_FILE).display().to_string(),
        ]);
        view_args.extend(["--tls-fingerprint".to_string(), tls.fingerprint]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let view_args: Vec<&str> = view_args.iter().map(String::as_str).collect();
    let server = FarviewServer::with_source(&dir, "demo", &extra, "debug");
    let (url_scheme, transport) = match scheme {
        Scheme::Plain => ("http", ") over WebSocket ("),
        Scheme::Tls => ("https", ") over WebSocket over TLS ("),
    };
    let query = password
        .map(|p| format!("?password={p}"))
        .unwrap_or_default();
    let url = format!("{url_scheme}://127.0.0.1:{}/{query}", server.port);
    let mut browser = Browser::open(&dir, &url);

    let first = format!("{label}-first");
    assert_canvas_matches_our_viewer(&dir, &first, &mut browser, &server, password, &view_args);
    let log = server.log();
    let novnc = log
        .0
        .lines()
        .find(|line| line.contains(transport) && line.contains("subprotocol binary"))
        .and_then(|line| {
            line.split("viewer ")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| {
            panic!(
                "no {transport:?} viewer with the binary subprotocol\n{}",
                log.0
            )
        });
    assert!(
        log.viewers().contains(&novnc),
        "noVNC's viewer {novnc} did not complete the handshake\n{}",
        log.0
    );
    assert_typing_reaches_the_demo(&mut browser, &server, "Hello noVNC 42");
    let typed = format!("{label}-typed");
    assert_canvas_matches_our_viewer(&dir, &typed, &mut browser, &server, password, &view_args);
    let log = server.log();
    let sent = log.sent(novnc);
    assert!(
        !sent.is_empty() && !sent.iter().any(|name| name == "raw"),
        "noVNC was sent {sent:?}\n{}",
        log.updates(novnc)
    );
}

#[test]
fn novnc_in_chromium_shows_the_demo_and_types_into_it() {
    check_novnc("novnc", None, Scheme::Plain);
}

#[test]
fn novnc_in_chromium_with_a_vnc_password() {
    check_novnc("novnc-password", Some("n0vnc-pw"), Scheme::Plain);
}

#[test]
fn novnc_in_chromium_over_https_and_wss_with_a_vnc_password() {
    check_novnc("novnc-wss", Some("n0vnc-pw"), Scheme::Tls);
}
