//! Continuous updates and fences across processes, with real peers:
//!
//! - TigerVNC's `vncviewer` (which turns continuous updates on after its first update and
//!   answers fences) follows a replay that keeps changing: its window shows each frame in
//!   turn, pixel for pixel, and the server's log shows it was paced by fences. It is forced
//!   to Raw, so a picture (4 MB) is far more than the initial congestion window: the window
//!   must open again after each, by the answers to the fences.
//! - Our viewer turns them on against our server and against TigerVNC's `Xvnc`, sends no
//!   more update requests, and still shows every change pixel for pixel: a server that did
//!   not push would leave it on the first picture.
//! - Against x11vnc, which has no continuous updates, it stays with requests.

mod support;

use support::{FarviewServer, Proc, TempDir, TestViewer, XServer};

/// Frames that differ, shown in a loop one second each.
const FIXTURE: &str = "scroll";
const FRAMES: usize = 3;
const REPLAY: &[&str] = &["--loop", "--fps", "1"];

#[test]
fn tigervnc_viewer_follows_a_changing_replay_with_continuous_updates() {
    if !support::require_all(&["vncviewer", "Xvfb", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("cu-vncviewer");
    let fixture = support::fixture(FIXTURE);
    let frames: Vec<support::Image> = (0..FRAMES)
        .map(|i| support::fixture_frame(FIXTURE, i))
        .collect();
    let server = FarviewServer::replay_debug(&dir, &fixture, None, REPLAY);
    let x = XServer::xvfb(&dir, frames[0].width + 64, frames[0].height + 64);
    let mut command = x.client("vncviewer");
    command
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-display", &x.name()])
        .args(["-AutoSelect=0", "-FullColor", "-PreferredEncoding", "raw"])
        .args(["-SecurityTypes", "None", "-ReconnectOnError=0"])
        .args(["-AlertOnFatalError=0", "-RemoteResize=0"])
        .arg(server.target());
    let viewer = Proc::spawn("vncviewer", &mut command, &dir);
    let logs = || format!("{}{}", viewer.logs(), server.process.logs());
    // Twice round: the second time every frame comes by continuous updates.
    for round in 0..2 {
        for (index, frame) in frames.iter().enumerate() {
            let label = format!("cu-vncviewer-{round}-{index}");
            x.wait_for_window(&dir, &label, "TigerVNC", frame, &viewer, logs);
        }
    }
    let log = server.log();
    let id = log.last_viewer().expect("the viewer connected");
    let lines = log.lines_of(id);
    assert!(
        lines.iter().any(|l| l.contains("continuous updates on")),
        "vncviewer never turned continuous updates on:\n{}",
        logs()
    );
    assert!(
        lines.iter().any(|l| l.contains("fence answered")),
        "vncviewer never answered a fence:\n{}",
        logs()
    );
}

/// Waits until `viewer` shows `frame`, pixel for pixel.
fn wait_for_frame(viewer: &mut TestViewer, label: &str, frame: &support::Image) {
    let result = viewer.wait_for_picture(support::VIEWER_TIMEOUT, |image| {
        support::image_difference(frame, image).map_or(Ok(()), Err)
    });
    if let Err(difference) = result {
        panic!("{label}: the viewer never showed the frame: {difference}");
    }
}

#[test]
fn our_viewer_follows_our_server_with_continuous_updates() {
    let dir = TempDir::new("cu-farview");
    let fixture = support::fixture(FIXTURE);
    let server = FarviewServer::replay_debug(&dir, &fixture, None, REPLAY);
    let mut viewer = TestViewer::connect(server.port);
    assert!(viewer.continuous_updates(), "{}", server.process.logs());
    for round in 0..2 {
        for index in 0..FRAMES {
            let frame = support::fixture_frame(FIXTURE, index);
            wait_for_frame(
                &mut viewer,
                &format!("round {round}, frame {index}"),
                &frame,
            );
        }
    }
    let log = server.log();
    let lines = log.lines_of(log.last_viewer().expect("the viewer connected"));
    assert!(
        lines.iter().any(|l| l.contains("fence answered")),
        "our viewer never answered a fence:\n{}",
        server.process.logs()
    );
}

#[test]
fn our_viewer_follows_xvnc_with_continuous_updates() {
    if !support::require_all(&["Xvnc", "xsetroot", "xwd"]) {
        return;
    }
    let dir = TempDir::new("cu-xvnc");
    let port = support::free_port();
    let x = XServer::xvnc(&dir, 320, 240, port, &["-SecurityTypes", "None"]);
    if let Err(error) = support::wait_for_rfb(port, &x.process, support::STARTUP_TIMEOUT) {
        panic!("Xvnc RFB port: {error}\n{}", x.process.logs());
    }
    x.plain_root(&dir, "#336699");
    let mut viewer = TestViewer::connect(port);
    assert!(
        viewer.continuous_updates(),
        "Xvnc offers continuous updates"
    );
    for (step, colour) in ["#336699", "#993311", "#11aa44"].iter().enumerate() {
        x.plain_root(&dir, colour);
        support::assert_viewer_matches_screen(&dir, &format!("cu-xvnc-{step}"), &x, &mut viewer);
    }
}

#[test]
fn our_viewer_keeps_to_requests_with_x11vnc() {
    if !support::require_all(&["x11vnc", "Xvfb", "xsetroot", "xwd"]) {
        return;
    }
    let dir = TempDir::new("cu-x11vnc");
    let x = XServer::xvfb(&dir, 320, 240);
    x.plain_root(&dir, "#336699");
    let port = support::free_port();
    let mut command = x.client("x11vnc");
    command
        .args(["-display", &x.name(), "-rfbport", &port.to_string()])
        .args([
            "-localhost",
            "-nopw",
            "-forever",
            "-shared",
            "-nocursor",
            "-norc",
        ]);
    let x11vnc = Proc::spawn("x11vnc", &mut command, &dir);
    if let Err(error) = support::wait_for_rfb(port, &x11vnc, support::STARTUP_TIMEOUT) {
        panic!("x11vnc RFB port: {error}\n{}", x11vnc.logs());
    }
    let mut viewer = TestViewer::connect(port);
    assert!(
        !viewer.continuous_updates(),
        "x11vnc offers no continuous updates"
    );
    for (step, colour) in ["#993311", "#11aa44"].iter().enumerate() {
        x.plain_root(&dir, colour);
        support::assert_viewer_matches_screen(&dir, &format!("cu-x11vnc-{step}"), &x, &mut viewer);
    }
}
