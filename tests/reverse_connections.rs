//! Reverse connections with real peers: `farview serve --connect` reaching TigerVNC's
//! `vncviewer -listen` (trying until it listens, and again after the connection drops), and
//! x11vnc's `-connect` reaching `farview view --listen`; and over TLS, `farview serve
//! --connect` reaching `farview view --listen`. (TigerVNC 1.12's vncviewer crashes listening
//! with X509 security types, TigerVNC issue 1440, so TLS here is between our two ends.)

mod support;

use std::time::Duration;

use support::certificate::Certificate;
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
    let _xterm = x.xterm_desktop(
        &dir,
        "#336699",
        "farview-reverse",
        "50x6+20+30",
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
        .args(support::X11VNC_PLAIN_SCREEN);
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

/// `farview serve --connect` replaying the terminal to the viewer listening on `port`, with
/// `extra` arguments, logging at debug level.
fn serve_connecting_out(dir: &TempDir, name: &str, port: &str, extra: &[String]) -> Proc {
    let mut command = support::farview();
    command
        .env("FARVIEW_LOG", "debug")
        .args(["serve", "--connect", &format!("127.0.0.1:{port}")])
        .arg("--source")
        .arg(format!("replay:{}", support::fixture("terminal").display()))
        .args(extra);
    Proc::spawn(name, &mut command, dir)
}

/// A server that connects out gets the same security as one that accepts: our listening
/// viewer must speak VeNCrypt X509Vnc with it, and signing in with the view-only password
/// makes it a viewer that only watches. The server's certificate is trusted on first use
/// and remembered by its address alone, so the next server from there with another
/// certificate is refused, although it comes from another port.
#[test]
fn our_listening_viewer_remembers_a_tls_server_by_its_address() {
    let dir = TempDir::new("reverse-tls-first-use");
    let known = dir.join("known-servers");
    let full = dir.write("full.txt", b"full-pass\n");
    let watcher = dir.write("watcher.txt", b"watch-me\n");
    let port = support::free_port();
    let listen = |label: &str| {
        let mut command = support::farview();
        command
            .args(["view", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--headless")
            .arg("--password-file")
            .arg(&watcher)
            .arg("--known-servers")
            .arg(&known)
            .arg("--frame-log")
            .arg(dir.join(&format!("{label}.jsonl")));
        let viewer = Proc::spawn(label, &mut command, &dir);
        wait_for_log(&viewer, "waiting for a server to connect", || viewer.logs());
        viewer
    };
    let serve = |name: &str, certificate: &Certificate| {
        let mut extra = certificate.serve_args();
        extra.extend([
            "--password-file".into(),
            full.display().to_string(),
            "--view-only-password-file".into(),
            watcher.display().to_string(),
        ]);
        serve_connecting_out(&dir, name, &port.to_string(), &extra)
    };

    let first = Certificate::new(&dir, "first");
    let viewer = listen("first-viewer");
    let mut server = serve("first-server", &first);
    let frame_log = dir.join("first-viewer.jsonl");
    poll(
        "the listening viewer to get an update",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || match std::fs::read_to_string(&frame_log) {
            Ok(log) if log.contains("\"update\"") => Ok(()),
            _ => Err("not yet".to_string()),
        },
        || logs_of(&[&viewer, &server]),
    );
    let status = viewer.terminate_and_wait(COMMAND_TIMEOUT);
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        viewer.logs()
    );
    assert!(
        viewer.stderr().contains("first connection"),
        "{}",
        viewer.logs()
    );
    let log = server.stderr();
    assert!(log.contains("VeNCrypt X509Vnc, starting TLS"), "{log}");
    assert!(log.contains(", view only)"), "{log}");
    let remembered = std::fs::read_to_string(&known).expect("known-servers written");
    assert_eq!(remembered, format!("127.0.0.1:0 {}\n", first.fingerprint));
    server.stop();

    let second = Certificate::new(&dir, "second");
    let viewer = listen("second-viewer");
    let _server = serve("second-server", &second);
    let status = viewer.wait_exit(VIEWER_TIMEOUT);
    assert!(
        status.is_some_and(|s| !s.success()),
        "{status:?}\n{}",
        viewer.logs()
    );
    let stderr = viewer.stderr();
    assert!(
        stderr.contains("has CHANGED") && stderr.contains(&second.fingerprint),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&known).unwrap(), remembered);
}
