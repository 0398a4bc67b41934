//! TigerVNC's `vncviewer`, on its own Xvfb, shows the frame that `farview serve` replays: the
//! viewer window, cut out of an `xwd -root` dump of that Xvfb, equals the PNG pixel for pixel.
//!
//! vncviewer decodes Raw, CopyRect, RRE, Hextile, ZRLE and Tight (`-PreferredEncoding` takes
//! Raw, RRE, Hextile, ZRLE or Tight; anything else, CoRRE included, is not one of its
//! decoders). Each of those is forced in turn with `-AutoSelect=0 -PreferredEncoding=NAME
//! -NoJPEG`: the server uses the viewer's first encoding it can produce, and `-NoJPEG` keeps
//! the QualityLevel pseudo-encoding out of the list, so Tight stays lossless. The server's
//! debug log names the encodings of every update, and each case checks that the forced one
//! was really used. Two frames: `desktop` (busy, anti-aliased) and `htop` (12 colours, an odd
//! size, so RRE gets used and tiles are cut at the edges). CopyRect is checked with `scroll`,
//! frames in which a terminal scrolls.

mod support;

use std::path::Path;

use farview_server::desktop::Catchup;
use farview_server::source::replay::decode_png;
use farview_server::{Desktop, DesktopEvent};
use support::{FarviewServer, Image, Proc, TempDir, XServer};

/// Room around the frame so the window (placed by FLTK slightly off the corner, as there is no
/// window manager) fits on the screen without being shrunk.
const MARGIN: u32 = 64;
/// What the viewer's window title ends with.
const WINDOW: &str = "TigerVNC";

fn tools_present() -> bool {
    support::require_all(&["vncviewer", "Xvfb", "xwd", "xwininfo", "vncpasswd"])
}

/// Starts vncviewer on `x` against `server` with `options` (encoding and security choices).
fn start_viewer(dir: &TempDir, x: &XServer, server: &FarviewServer, options: &[&str]) -> Proc {
    let mut command = x.client("vncviewer");
    command
        // A private HOME: vncviewer saves its settings there.
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-display", &x.name()])
        // Full colour and a fixed encoding: AutoSelect would switch both by measured speed.
        .args(["-AutoSelect=0", "-FullColor"])
        // No dialogs in a test: quit on errors, and never try to resize the remote desktop.
        .args([
            "-ReconnectOnError=0",
            "-AlertOnFatalError=0",
            "-RemoteResize=0",
        ])
        .args(options)
        .arg(server.target());
    Proc::spawn("vncviewer", &mut command, dir)
}

/// Waits until the vncviewer window shows `expected`.
fn assert_viewer_shows(
    dir: &TempDir,
    label: &str,
    x: &XServer,
    server: &FarviewServer,
    viewer: &Proc,
    expected: &Image,
) {
    // Polled: the viewer needs a moment to connect and draw.
    x.wait_for_window(dir, label, WINDOW, expected, viewer, || {
        format!("{}{}", viewer.logs(), server.process.logs())
    });
}

fn screen_for(frames: &[&Image]) -> (u32, u32) {
    let width = frames.iter().map(|f| f.width).max().unwrap_or(0);
    let height = frames.iter().map(|f| f.height).max().unwrap_or(0);
    (width + MARGIN, height + MARGIN)
}

fn run_case(label: &str, fixture: &Path, frame: Image, password: Option<&str>) {
    let dir = TempDir::new(label);
    let server = FarviewServer::replay(&dir, fixture, password, &[]);
    let (width, height) = screen_for(&[&frame]);
    let x = XServer::xvfb(&dir, width, height);
    let mut options = vec!["-PreferredEncoding".to_string(), "raw".to_string()];
    match password {
        None => options.extend(["-SecurityTypes".to_string(), "None".to_string()]),
        Some(password) => {
            let file = support::vnc_password_file(&dir, password);
            options.extend([
                "-SecurityTypes".to_string(),
                "VncAuth".to_string(),
                "-passwd".to_string(),
                file.display().to_string(),
            ]);
        }
    }
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let viewer = start_viewer(&dir, &x, &server, &options);
    assert_viewer_shows(&dir, label, &x, &server, &viewer, &frame);
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

// ---------------------------------------------------------------------------------------------
// One encoding at a time

/// What a case expects: the fixture, and the encodings the server's log must show among
/// those it sent to this viewer.
struct Case {
    fixture: &'static str,
    must_use: &'static [&'static str],
}

/// vncviewer forced to `preferred` shows each case's frame, sent with the encodings the
/// case names. One Xvfb for all cases; one server per fixture; one viewer at a time.
fn check_encoding(preferred: &str, cases: &[Case]) {
    if !tools_present() {
        return;
    }
    let name = preferred.to_lowercase();
    let dir = TempDir::new(&format!("vncviewer-{name}"));
    let frames: Vec<Image> = cases
        .iter()
        .map(|case| support::fixture_frame(case.fixture, 0))
        .collect();
    let (width, height) = screen_for(&frames.iter().collect::<Vec<_>>());
    let x = XServer::xvfb(&dir, width, height);
    for (case, frame) in cases.iter().zip(&frames) {
        let label = format!("{name}-{}", case.fixture);
        let case_dir = TempDir::new(&format!("vncviewer-{label}"));
        let server =
            FarviewServer::replay_debug(&case_dir, &support::fixture(case.fixture), None, &[]);
        let mut viewer = start_viewer(
            &case_dir,
            &x,
            &server,
            &[
                "-PreferredEncoding",
                preferred,
                "-NoJPEG",
                "-SecurityTypes",
                "None",
            ],
        );
        assert_viewer_shows(&case_dir, &label, &x, &server, &viewer, frame);
        assert_sent(&server, &label, case.must_use, &viewer);
        viewer.stop();
        // The next case looks for the window by title: this one must be gone first.
        x.wait_no_window(WINDOW);
    }
}

/// Checks the server's log: the viewer asked for `must_use`'s encodings and got them.
fn assert_sent(server: &FarviewServer, label: &str, must_use: &[&str], viewer: &Proc) {
    let log = server.log();
    let Some(id) = log.last_viewer() else {
        panic!(
            "{label}: the server logged no viewer\n{}",
            server.process.logs()
        );
    };
    let context = format!("{}\n{}", log.updates(id), viewer.logs());
    log.assert_sent(Some(id), label, must_use, &context);
}

#[test]
fn tigervnc_viewer_decodes_raw() {
    check_encoding(
        "Raw",
        &[
            Case {
                fixture: "desktop",
                must_use: &["raw"],
            },
            Case {
                fixture: "htop",
                must_use: &["raw"],
            },
        ],
    );
}

#[test]
fn tigervnc_viewer_decodes_rre() {
    check_encoding(
        "RRE",
        &[
            // Busy pieces are never sent as RRE; they go in the viewer's next encoding.
            Case {
                fixture: "desktop",
                must_use: &[],
            },
            Case {
                fixture: "htop",
                must_use: &["rre"],
            },
        ],
    );
}

#[test]
fn tigervnc_viewer_decodes_hextile() {
    check_encoding(
        "Hextile",
        &[
            Case {
                fixture: "desktop",
                must_use: &["hextile"],
            },
            Case {
                fixture: "htop",
                must_use: &["hextile"],
            },
        ],
    );
}

#[test]
fn tigervnc_viewer_decodes_zrle() {
    check_encoding(
        "ZRLE",
        &[
            Case {
                fixture: "desktop",
                must_use: &["zrle"],
            },
            Case {
                fixture: "htop",
                must_use: &["zrle"],
            },
        ],
    );
}

#[test]
fn tigervnc_viewer_decodes_lossless_tight() {
    check_encoding(
        "Tight",
        &[
            Case {
                fixture: "desktop",
                must_use: &["tight"],
            },
            Case {
                fixture: "htop",
                must_use: &["tight"],
            },
        ],
    );
}

/// With JPEG allowed (vncviewer's default QualityLevel 8), the photo-like parts of the desktop
/// frame go as JPEG; once the screen is quiet the server sends them again losslessly, so the
/// window still ends up pixel-exact.
#[test]
fn tigervnc_viewer_ends_lossless_after_jpeg() {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new("vncviewer-jpeg");
    let frame = support::fixture_frame("desktop", 0);
    let (width, height) = screen_for(&[&frame]);
    let x = XServer::xvfb(&dir, width, height);
    let server = FarviewServer::replay_debug(&dir, &support::fixture("desktop"), None, &[]);
    let viewer = start_viewer(
        &dir,
        &x,
        &server,
        &["-PreferredEncoding", "Tight", "-SecurityTypes", "None"],
    );
    assert_viewer_shows(&dir, "jpeg", &x, &server, &viewer, &frame);
    assert_sent(&server, "jpeg", &["tight"], &viewer);
    let log = server.log();
    let id = log.last_viewer().expect("a viewer connected");
    assert!(
        log.lossless_refreshes(id) > 0,
        "expected JPEG and then a lossless refresh\n{}",
        log.updates(id)
    );
}

// ---------------------------------------------------------------------------------------------
// CopyRect

/// Frames per second for the move fixtures: slow enough that the viewer has the first frame
/// before the second replaces it (a viewer that connects late gets the scrolled frame as
/// pixels, and no CopyRect).
const MOVE_FPS: &str = "0.5";

/// The scroll and window-move fixtures really move: the replay source turns each step into
/// a CopyRect, which the tests below rely on.
#[test]
fn the_move_fixtures_are_detected_as_moves() {
    for (fixture, frames) in [("scroll", 3), ("window-move", 2)] {
        let dir = support::fixture(fixture);
        let frame = |index: usize| {
            decode_png(&dir.join(format!("frame-{index:05}.png")))
                .unwrap_or_else(|e| panic!("{fixture} frame {index}: {e}"))
        };
        for index in 1..frames {
            let (before, after) = (frame(index - 1), frame(index));
            let (desktop, _input) = Desktop::new(before.width(), before.height(), fixture);
            desktop.draw(|canvas| canvas.replace_with(&before));
            let since = desktop.sequence();
            desktop.draw(|canvas| canvas.replace_with(&after));
            let Catchup::Events(events) = desktop.catch_up(since).0 else {
                panic!("{fixture} frame {index}: the desktop's log lost the events");
            };
            let copies: Vec<&DesktopEvent> = events
                .iter()
                .filter(|e| matches!(e, DesktopEvent::Copied { .. }))
                .collect();
            assert!(
                !copies.is_empty(),
                "frame {index} of the {fixture} fixture should move part of frame {}; \
                 events: {events:?}",
                index - 1
            );
        }
    }
}

/// vncviewer shows the last frame of a move fixture pixel-exact after CopyRect moves.
fn check_copyrect_moves(fixture: &str, last: usize) {
    if !tools_present() {
        return;
    }
    let dir = TempDir::new(&format!("vncviewer-copyrect-{fixture}"));
    let last = support::fixture_frame(fixture, last);
    let (width, height) = screen_for(&[&last]);
    let x = XServer::xvfb(&dir, width, height);
    let server =
        FarviewServer::replay_debug(&dir, &support::fixture(fixture), None, &["--fps", MOVE_FPS]);
    // Tight, lossless: TigerVNC's usual encoding for what the moves uncover.
    let viewer = start_viewer(
        &dir,
        &x,
        &server,
        &[
            "-PreferredEncoding",
            "Tight",
            "-NoJPEG",
            "-SecurityTypes",
            "None",
        ],
    );
    assert_viewer_shows(&dir, fixture, &x, &server, &viewer, &last);
    assert_sent(&server, fixture, &["copyrect", "tight"], &viewer);
}

#[test]
fn tigervnc_viewer_follows_copyrect_scrolls() {
    check_copyrect_moves("scroll", 2);
}

#[test]
fn tigervnc_viewer_follows_copyrect_window_moves() {
    check_copyrect_moves("window-move", 1);
}
