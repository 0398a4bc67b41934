//! gtk-vnc, the VNC library of GNOME Boxes, virt-manager and Remmina's predecessor vinagre,
//! decodes the frames that `farview serve` replays. Two of its programs (Debian package
//! `gvncviewer`), neither of which lets the user choose encodings:
//!
//! - `gvnccapture HOST:DISPLAY FILE.png` offers ZRLE, Hextile, RRE, CopyRect, Raw (in that
//!   order, with DesktopSize) and saves a PNG: lossless, headless, compared pixel for pixel.
//!   It saves as soon as a rectangle reaching the bottom-right corner has been drawn (its
//!   source calls this "crude"); the server's pieces run top to bottom, so that is the last.
//! - `gvncviewer` (GTK) offers QualityLevel 5, Tight, ZRLE, Hextile, RRE, CopyRect, Raw and
//!   more pseudo-encodings: Tight, with JPEG allowed. Whatever goes as JPEG is sent again
//!   losslessly once the screen is quiet, so its window, on Xvfb, must end up pixel-exact.
//!   Its window has a menu bar above the remote screen, so the frame is looked for inside it.
//!
//! Both take HOST:DISPLAY only (no HOST::PORT): the port is 5900 + DISPLAY.
//!
//! gtk-vnc also decodes Raw, RRE and Hextile (its vncconnection.c: Raw, CopyRect, RRE,
//! Hextile, ZRLE, Tight; no CoRRE, no Zlib). To reach those, gvnccapture's SetEncodings list
//! is replaced on the way by an [`EncodingFilter`] relay.

mod support;

use std::process::Command;

use support::{COMMAND_TIMEOUT, EncodingFilter, FarviewServer, Image, Proc, TempDir, XServer};

/// The frames: `desktop` is busy (anti-aliased text, gradients), `htop` has 12 colours and an
/// odd size (448x706).
const FIXTURES: &[&str] = &["desktop", "htop"];
/// Room around the frame for the window and its menu bar.
const MARGIN: u32 = 64;
/// What the viewer's window title ends with (its other, hidden windows have other names).
const WINDOW: &str = "- GVncViewer\"";

/// gtk-vnc's target for `port`: HOST:DISPLAY, the display being the port minus 5900.
fn display_target(port: u16) -> String {
    let display = port
        .checked_sub(5900)
        .unwrap_or_else(|| panic!("port {port} is below 5900: no display number"));
    format!("127.0.0.1:{display}")
}

/// gvnccapture captures each fixture pixel-exact; the server must have sent `must_use` (per
/// fixture). With `forced`, it goes through an [`EncodingFilter`] that replaces its
/// SetEncodings list with that encoding number, named as the server logs it.
fn check_capture(label: &str, forced: Option<(i32, &str)>, must_use: &[(&str, &[&str])]) {
    if !support::require("gvnccapture") {
        return;
    }
    let dir = TempDir::new(&format!("gvnccapture-{label}"));
    for fixture in FIXTURES {
        let case = format!("{label}-{fixture}");
        let server = FarviewServer::replay_debug(&dir, &support::fixture(fixture), None, &[]);
        let filter = forced.map(|(number, _)| EncodingFilter::start(server.port, &[number]));
        let port = filter.as_ref().map_or(server.port, |filter| filter.port);
        let path = dir.join(&format!("{case}.png"));
        let output = support::run(
            Command::new("gvnccapture")
                .arg(display_target(port))
                .arg(&path),
            COMMAND_TIMEOUT,
        );
        let log = server.log();
        let id = log.last_viewer();
        let context = format!(
            "gvnccapture ({}):\n{}{}\nrelay: {}\nserver, for this viewer:\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            filter
                .as_ref()
                .map(EncodingFilter::notes)
                .unwrap_or_default(),
            id.map(|id| log.updates(id)).unwrap_or_default(),
            server.process.logs()
        );
        assert!(
            output.status.success() && path.exists(),
            "{case}: gvnccapture failed\n{context}"
        );
        if let Some((_, name)) = forced {
            let offered = id.and_then(|id| log.offered(id));
            assert_eq!(
                offered.as_deref(),
                Some(name),
                "{case}: the relay should have left only {name}\n{context}"
            );
        }
        let wanted = must_use
            .iter()
            .find(|(name, _)| name == fixture)
            .map_or(&[][..], |(_, names)| names);
        log.assert_sent(id, &case, wanted, &context);
        let expected = support::fixture_frame(fixture, 0);
        let captured = Image::read_png(&path);
        support::assert_same_image(&dir, &case, &expected, &captured, &context);
    }
}

#[test]
fn gvnccapture_decodes_zrle() {
    // Its own list, unchanged: ZRLE first.
    check_capture("zrle", None, &[("desktop", &["zrle"]), ("htop", &["zrle"])]);
}

#[test]
fn gvnccapture_decodes_raw() {
    check_capture(
        "raw",
        Some((0, "raw")),
        &[("desktop", &["raw"]), ("htop", &["raw"])],
    );
}

#[test]
fn gvnccapture_decodes_rre() {
    // Busy pieces are never sent as RRE: offered nothing else, they go as Raw.
    check_capture(
        "rre",
        Some((2, "rre")),
        &[("desktop", &["raw"]), ("htop", &["rre"])],
    );
}

#[test]
fn gvnccapture_decodes_hextile() {
    check_capture(
        "hextile",
        Some((5, "hextile")),
        &[("desktop", &["hextile"]), ("htop", &["hextile"])],
    );
}

/// Starts gvncviewer on `x` against `server`.
fn start_viewer(dir: &TempDir, x: &XServer, server: &FarviewServer) -> Proc {
    let mut command = x.client("gvncviewer");
    command
        // A private HOME, and no accessibility bus to look for.
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("NO_AT_BRIDGE", "1")
        .env("GDK_BACKEND", "x11")
        .arg(display_target(server.port));
    Proc::spawn("gvncviewer", &mut command, dir)
}

fn screen_for(frame: &Image) -> (u32, u32) {
    (frame.width + MARGIN, frame.height + MARGIN)
}

/// Checks that the server sent `must_use` to its last viewer.
fn assert_sent(server: &FarviewServer, label: &str, must_use: &[&str], viewer: &Proc) {
    let log = server.log();
    let id = log
        .last_viewer()
        .unwrap_or_else(|| panic!("{label}: no viewer in the log\n{}", server.process.logs()));
    let context = format!("{}\n{}", log.updates(id), viewer.logs());
    log.assert_sent(Some(id), label, must_use, &context);
}

#[test]
fn gvncviewer_shows_the_frame_sent_as_tight() {
    if !support::require_all(&["gvncviewer", "Xvfb", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("gvncviewer");
    let largest = support::fixture_frame("desktop", 0);
    let (width, height) = screen_for(&largest);
    let x = XServer::xvfb(&dir, width, height);
    for fixture in FIXTURES {
        let case_dir = TempDir::new(&format!("gvncviewer-{fixture}"));
        let server = FarviewServer::replay_debug(&case_dir, &support::fixture(fixture), None, &[]);
        let expected = support::fixture_frame(fixture, 0);
        let mut viewer = start_viewer(&case_dir, &x, &server);
        x.wait_for_window(&case_dir, fixture, WINDOW, &expected, &viewer, || {
            format!("{}{}", viewer.logs(), server.process.logs())
        });
        assert_sent(&server, fixture, &["tight"], &viewer);
        if *fixture == "desktop" {
            // Parts of it are photo-like enough for JPEG: the window can only be exact after
            // the lossless refresh, which this checks was really needed.
            let log = server.log();
            let id = log.last_viewer().expect("a viewer connected");
            assert!(
                log.lossless_refreshes(id) > 0,
                "desktop: expected JPEG and a lossless refresh for gvncviewer (it offers \
                 QualityLevel 5)\n{}",
                log.updates(id)
            );
        }
        viewer.stop();
        x.wait_no_window(WINDOW);
    }
}

#[test]
fn gvncviewer_follows_copyrect_scrolls() {
    if !support::require_all(&["gvncviewer", "Xvfb", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("gvncviewer-copyrect");
    let last = support::fixture_frame("scroll", 2);
    let (width, height) = screen_for(&last);
    let x = XServer::xvfb(&dir, width, height);
    // Slow enough that the viewer has the first frame before the scrolls (a viewer that
    // connects late gets the scrolled frame as pixels, and no CopyRect).
    let server =
        FarviewServer::replay_debug(&dir, &support::fixture("scroll"), None, &["--fps", "0.5"]);
    let viewer = start_viewer(&dir, &x, &server);
    x.wait_for_window(&dir, "copyrect", WINDOW, &last, &viewer, || {
        format!("{}{}", viewer.logs(), server.process.logs())
    });
    assert_sent(&server, "copyrect", &["copyrect", "tight"], &viewer);
}
