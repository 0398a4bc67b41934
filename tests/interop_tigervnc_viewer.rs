//! TigerVNC's `vncviewer`, on its own Xvfb, shows the frame that `farview serve` replays: the
//! viewer window, cut out of an `xwd -root` dump of that Xvfb, equals the PNG pixel for pixel.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use support::{FarviewServer, Image, Proc, TempDir, XServer};

/// Room around the frame so the window (placed by FLTK slightly off the corner, as there is no
/// window manager) fits on the screen without being shrunk.
const MARGIN: u32 = 64;

fn tools_present() -> bool {
    support::require_all(&["vncviewer", "Xvfb", "xwd", "xwininfo", "vncpasswd"])
}

/// Starts vncviewer on `x` against `server`, then waits until its window shows `expected`.
fn assert_viewer_shows(
    dir: &TempDir,
    x: &XServer,
    server: &FarviewServer,
    expected: &Image,
    security: &[&str],
) {
    let mut command = x.client("vncviewer");
    command
        // A private HOME: vncviewer saves its settings there.
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-display", &x.name()])
        // Raw, full colour: no lossy JPEG from Tight that could blur the comparison.
        .args(["-AutoSelect=0", "-PreferredEncoding", "raw", "-FullColor"])
        // No dialogs in a test: quit on errors, and never try to resize the remote desktop.
        .args([
            "-ReconnectOnError=0",
            "-AlertOnFatalError=0",
            "-RemoteResize=0",
        ])
        .args(security)
        .arg(server.target());
    let viewer = Proc::spawn("vncviewer", &mut command, dir);
    let logs = || format!("{}{}", viewer.logs(), server.process.logs());
    // Poll: the viewer needs a moment to connect and draw, and shows a "Press F8" hint over the
    // picture for a few seconds after connecting.
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut last_shown = None;
    loop {
        if let Some(status) = viewer.exited() {
            panic!("vncviewer exited ({status})\n{}", logs());
        }
        let error = match window_picture(x, expected.width, expected.height) {
            Ok(shown) => match support::image_difference(expected, &shown) {
                None => return,
                Some(difference) => {
                    last_shown = Some(shown);
                    difference
                }
            },
            Err(error) => error,
        };
        if Instant::now() >= deadline {
            let saved = last_shown
                .map(|shown| support::save_mismatch(dir, "vncviewer", expected, &shown))
                .unwrap_or_default();
            panic!(
                "the vncviewer window never showed the frame: {error}\n{saved}\n{}",
                logs()
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The top-left `width`x`height` of the vncviewer window, from a dump of the whole screen.
fn window_picture(x: &XServer, width: u32, height: u32) -> Result<Image, String> {
    let windows = x.find_windows("TigerVNC");
    let Some(&(wx, wy, ww, wh)) = windows.first() else {
        return Err("no TigerVNC window yet".to_string());
    };
    if ww < width || wh < height {
        return Err(format!(
            "window {ww}x{wh} at {wx},{wy} is smaller than the frame"
        ));
    }
    x.xwd()
        .crop(wx, wy, width, height)
        .ok_or_else(|| format!("window at {wx},{wy} is partly off the screen"))
}

fn screen_for(frame: &Image) -> (u32, u32) {
    (frame.width + MARGIN, frame.height + MARGIN)
}

fn run_case(label: &str, fixture: &Path, frame: Image, password: Option<&str>) {
    let dir = TempDir::new(label);
    let server = FarviewServer::replay(&dir, fixture, password, &[]);
    let (width, height) = screen_for(&frame);
    let x = XServer::xvfb(&dir, width, height);
    let security = match password {
        None => vec!["-SecurityTypes".to_string(), "None".to_string()],
        Some(password) => {
            let file = support::vnc_password_file(&dir, password);
            vec![
                "-SecurityTypes".to_string(),
                "VncAuth".to_string(),
                "-passwd".to_string(),
                file.display().to_string(),
            ]
        }
    };
    let security: Vec<&str> = security.iter().map(String::as_str).collect();
    assert_viewer_shows(&dir, &x, &server, &frame, &security);
}

#[test]
fn tigervnc_viewer_shows_the_replayed_frame() {
    if !tools_present() {
        return;
    }
    let fixture = support::fixture("terminal");
    run_case(
        "vncviewer-plain",
        &fixture,
        support::fixture_frame("terminal", 0),
        None,
    );
}

#[test]
fn tigervnc_viewer_shows_the_replayed_frame_with_a_password() {
    if !tools_present() {
        return;
    }
    let fixture = support::fixture("desktop");
    let frame = support::fixture_frame("desktop", 0);
    run_case("vncviewer-password", &fixture, frame, Some("s3same!"));
}
