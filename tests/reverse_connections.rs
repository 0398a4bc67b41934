//! Reverse connections with real peers: `farview serve --connect` reaching TigerVNC's
//! `vncviewer -listen` (trying until it listens, and again after the connection drops), and
//! x11vnc's `-connect` reaching `farview view --listen`.

mod support;

use std::time::Duration;

use support::desktop_peers::{logs_of, tigervnc_viewer, wait_for_log};
use support::{COMMAND_TIMEOUT, Image, Proc, TempDir, VIEWER_TIMEOUT, XServer, poll, require_all};

/// Room around the frame for vncviewer's window.
const MARGIN: u32 = 64;

#[test]
fn our_server_connects_out_to_a_listening_tigervnc_viewer_retrying_until_it_listens() {
    if !require_all(&["vncviewer", "Xvfb", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("reverse-to-vncviewer");
    let frame = support::fixture_frame("terminal", 0);
    let x = XServer::xvfb(&dir, frame.width + MARGIN, frame.height + MARGIN);
    let port = support::free_port().to_string();
    // The server first: nobody listens yet, so it must try again until the viewer does.
    let mut command = support::farview();
    command.args([
        "serve",
        "--connect",
        &format!("127.0.0.1:{port}"),
        "--source",
    ]);
    command.arg(format!("replay:{}", support::fixture("terminal").display()));
    let server = Proc::spawn("farview-serve", &mut command, &dir);
    wait_for_log(&server, "cannot reach the viewer at 127.0.0.1:", || {
        server.logs()
    });
    let listen = ["-SecurityTypes", "None", "-listen", &port];
    let mut viewer = tigervnc_viewer(&dir, &x, &listen);
    x.wait_for_window(&dir, "reverse", "TigerVNC", &frame, &viewer, || {
        logs_of(&[&viewer, &server])
    });
    // The connection drops: once a viewer listens again, the server is back.
    viewer.stop();
    x.wait_no_window("TigerVNC");
    let viewer = tigervnc_viewer(&dir, &x, &listen);
    x.wait_for_window(&dir, "reverse-again", "TigerVNC", &frame, &viewer, || {
        logs_of(&[&viewer, &server])
    });
    let connections = server
        .stderr()
        .matches("connected out to the viewer at 127.0.0.1:")
        .count();
    assert_eq!(connections, 2, "{}", server.logs());
}

#[test]
fn x11vnc_connects_to_our_listening_viewer() {
    if !require_all(&["x11vnc", "Xvfb", "xterm", "xsetroot", "xwd", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("reverse-from-x11vnc");
    let x = XServer::xvfb(&dir, 640, 400);
    x.plain_root(&dir, "#336699");
    let _xterm = x.show_xterm(
        &dir,
        "farview-reverse",
        "50x6+20+30",
        ("black", "white"),
        "reached through a reverse connection\n",
    );
    let screen = x.wait_static();
    let port = support::free_port();
    let snapshot = dir.join("listening.png");
    let frame_log = dir.join("listening.jsonl");
    let mut command = support::farview();
    command
        .args([
            "view",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--headless",
        ])
        .arg("--snapshot")
        .arg(&snapshot)
        .arg("--frame-log")
        .arg(&frame_log);
    let viewer = Proc::spawn("farview-view", &mut command, &dir);
    wait_for_log(
        &viewer,
        "waiting for a server to connect on 127.0.0.1:",
        || viewer.logs(),
    );
    let mut command = x.client("x11vnc");
    command
        .args(["-display", &x.name(), "-rfbport", "0", "-nopw", "-norc"])
        .args(["-connect", &format!("localhost:{port}")])
        // Deterministic pixels: no cursor in the framebuffer, just the polled screen.
        .args([
            "-nocursor",
            "-noxdamage",
            "-nowf",
            "-noscr",
            "-nobell",
            "-nosel",
        ]);
    let x11vnc = Proc::spawn("x11vnc", &mut command, &dir);
    // x11vnc may send the screen in several updates: wait for one that completes it.
    let screen_hash = screen.rgba_sha256();
    poll(
        "the listening viewer to show the screen",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || match std::fs::read_to_string(&frame_log) {
            Ok(log) if log.contains(&screen_hash) => Ok(()),
            _ => Err("not yet".to_string()),
        },
        || logs_of(&[&viewer, &x11vnc]),
    );
    let status = viewer.terminate_and_wait(COMMAND_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        viewer.logs()
    );
    let shown = Image::read_png(&snapshot);
    if let Some(difference) = support::image_difference(&screen, &shown) {
        let saved = support::save_mismatch(&dir, "listening", &screen, &shown);
        panic!("{difference}\n{saved}\n{}", logs_of(&[&viewer, &x11vnc]));
    }
    assert!(
        viewer.stderr().contains("server 127.0.0.1:"),
        "{}",
        viewer.logs()
    );
}
