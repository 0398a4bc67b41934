//! Support sessions with real peers: reverse connections both ways (our server connecting out
//! to TigerVNC's `vncviewer -listen`, x11vnc connecting out to `farview view --listen`), the
//! policy for viewers that ask for sole access, and view-only viewers (`--view-only`, and a
//! view-only password) that can watch but never type.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use farview_client::{Target, Viewer, ViewerError, ViewerOptions};
use farview_protocol::ClientEvent;
use support::{
    COMMAND_TIMEOUT, FarviewServer, Image, Proc, STARTUP_TIMEOUT, TempDir, TestViewer,
    VIEWER_TIMEOUT, XServer, poll, require_all, run, run_ok,
};

/// Room around the frame for vncviewer's window.
const MARGIN: u32 = 64;

fn logs(processes: &[&Proc]) -> String {
    processes.iter().map(|p| p.logs()).collect()
}

/// Waits until `process`'s stderr has a line containing `text`.
fn wait_for_log(process: &Proc, text: &str, context: impl FnOnce() -> String) {
    poll(
        &format!("{} to log {text:?}", process.name()),
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            if process.stderr().contains(text) {
                return Ok(());
            }
            if let Some(status) = process.exited() {
                panic!("{} exited ({status})\n{}", process.name(), process.logs());
            }
            Err("not yet".to_string())
        },
        context,
    );
}

/// TigerVNC's vncviewer on `x`, with `args` (a server, or `-listen PORT`).
fn vncviewer(dir: &TempDir, x: &XServer, args: &[&str]) -> Proc {
    let mut command = x.client("vncviewer");
    command
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-display", &x.name(), "-AutoSelect=0", "-FullColor"])
        .args([
            "-ReconnectOnError=0",
            "-AlertOnFatalError=0",
            "-RemoteResize=0",
        ])
        .args(args);
    Proc::spawn("vncviewer", &mut command, dir)
}

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
    let mut viewer = vncviewer(&dir, &x, &listen);
    x.wait_for_window(&dir, "reverse", "TigerVNC", &frame, &viewer, || {
        logs(&[&viewer, &server])
    });
    // The connection drops: once a viewer listens again, the server is back.
    viewer.stop();
    x.wait_no_window("TigerVNC");
    let viewer = vncviewer(&dir, &x, &listen);
    x.wait_for_window(&dir, "reverse-again", "TigerVNC", &frame, &viewer, || {
        logs(&[&viewer, &server])
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
    // The first complete update is the whole (still) screen.
    poll(
        "the listening viewer's first update",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || match std::fs::read_to_string(&frame_log) {
            Ok(log) if log.contains("\"update\"") => Ok(()),
            _ => Err("no update yet".to_string()),
        },
        || logs(&[&viewer, &x11vnc]),
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
        panic!("{difference}\n{saved}\n{}", logs(&[&viewer, &x11vnc]));
    }
    assert!(
        viewer.stderr().contains("server 127.0.0.1:"),
        "{}",
        viewer.logs()
    );
}

// ---------------------------------------------------------------------------------------------
// Sole access

fn options(exclusive: bool) -> ViewerOptions {
    ViewerOptions {
        exclusive,
        ..ViewerOptions::default()
    }
}

/// Connects a viewer of ours; `Err` if the server closes the connection.
fn connect(port: u16, exclusive: bool) -> Result<Viewer, ViewerError> {
    let target = Target {
        host: "127.0.0.1".into(),
        port,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut viewer = Viewer::connect(&target, &options(exclusive)).await?;
        // The first update: the server has admitted the viewer.
        viewer
            .wait_for(VIEWER_TIMEOUT, |event, _| {
                matches!(event, ClientEvent::UpdateComplete { .. })
            })
            .await?;
        Ok(viewer)
    })
}

/// A demo server with `--exclusive-policy POLICY`, logging each viewer's fate.
fn demo_server(dir: &TempDir, extra: &[&str]) -> FarviewServer {
    FarviewServer::with_source(dir, "demo", extra, "info")
}

#[test]
fn refuse_policy_turns_an_exclusive_viewer_away_while_others_watch() {
    let dir = TempDir::new("exclusive-refuse");
    let server = demo_server(&dir, &["--exclusive-policy", "refuse"]);
    let mut first = TestViewer::connect(server.port);
    let refused = connect(server.port, true);
    assert!(
        matches!(refused, Err(ViewerError::Closed)),
        "{refused:?}\n{}",
        server.process.logs()
    );
    // The first viewer is still served: its typing reaches the demo, which answers.
    first.tap(u32::from('k'));
    first
        .wait_for(
            "the demo's clipboard",
            VIEWER_TIMEOUT,
            |event, _| matches!(event, ClientEvent::CutText(text) if text == "k"),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
    assert!(
        server
            .process
            .stderr()
            .contains("refused: it asked for sole access"),
        "{}",
        server.process.logs()
    );
    // Alone, an exclusive viewer is let in.
    drop(first);
    poll(
        "the exclusive viewer to be let in once alone",
        VIEWER_TIMEOUT,
        Duration::from_millis(100),
        || connect(server.port, true).map_err(|e| e.to_string()),
        || server.process.logs(),
    );
}

#[test]
fn ignore_policy_lets_an_exclusive_viewer_share() {
    let dir = TempDir::new("exclusive-ignore");
    let server = demo_server(&dir, &["--exclusive-policy", "ignore"]);
    let mut first = TestViewer::connect(server.port);
    let _exclusive = connect(server.port, true).expect("the exclusive viewer connects");
    // Both stay: the first viewer's typing still reaches the demo.
    first.tap(u32::from('s'));
    first
        .wait_for(
            "the demo's clipboard",
            VIEWER_TIMEOUT,
            |event, _| matches!(event, ClientEvent::CutText(text) if text == "s"),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
    assert!(
        !server
            .process
            .stderr()
            .contains("another viewer asked for sole access"),
        "{}",
        server.process.logs()
    );
}

#[test]
fn replace_policy_sends_the_others_away() {
    let dir = TempDir::new("exclusive-replace");
    let server = demo_server(&dir, &[]);
    let mut first = TestViewer::connect(server.port);
    let _exclusive = connect(server.port, true).expect("the exclusive viewer connects");
    let ended = first.wait_for("the server to close", VIEWER_TIMEOUT, |_, _| false);
    assert!(
        ended.as_ref().is_err_and(|e| e.contains("closed")),
        "{ended:?}\n{}",
        server.process.logs()
    );
}

// ---------------------------------------------------------------------------------------------
// View only

/// Types `text` with vncdotool, which then disconnects.
fn vncdo_type(target: &str, password: Option<&Path>, text: &str) {
    let mut command = Command::new("vncdo");
    command.args(["-s", target]);
    if let Some(file) = password {
        let password = std::fs::read_to_string(file).unwrap();
        command.args(["-p", password.trim()]);
    }
    command.args(["type", text]);
    run_ok(&mut command, COMMAND_TIMEOUT);
}

/// A viewer with the view-only password types, then one with the full password: only the
/// second one's key reaches the demo. Input from each connection is handled in order, and
/// vncdotool has disconnected before the second viewer types, so had the first one's keys
/// gone through, the demo's text would start with them.
#[test]
fn a_view_only_password_watches_but_never_types() {
    if !require_all(&["vncdo"]) {
        return;
    }
    let dir = TempDir::new("view-only-password");
    let full = dir.write("full.txt", b"full-pass\n");
    let watcher = dir.write("watcher.txt", b"watcher\n");
    let server = demo_server(
        &dir,
        &[
            "--password-file",
            full.to_str().unwrap(),
            "--view-only-password-file",
            watcher.to_str().unwrap(),
        ],
    );
    vncdo_type(&server.target(), Some(&watcher), "abc");
    let mut viewer = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let target = Target {
            host: "127.0.0.1".into(),
            port: server.port,
        };
        let options = ViewerOptions {
            password: Some(b"full-pass".to_vec()),
            ..ViewerOptions::default()
        };
        let viewer = runtime
            .block_on(Viewer::connect(&target, &options))
            .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
        (runtime, viewer)
    };
    viewer.1.key_event(true, u32::from('Z'));
    viewer.1.key_event(false, u32::from('Z'));
    let (runtime, viewer) = &mut viewer;
    let event = runtime
        .block_on(viewer.wait_for(VIEWER_TIMEOUT, |event, _| {
            matches!(event, ClientEvent::CutText(_))
        }))
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
    assert_eq!(
        event,
        ClientEvent::CutText("Z".into()),
        "{}",
        server.process.logs()
    );
    assert!(
        server.process.stderr().contains(", view only)"),
        "{}",
        server.process.logs()
    );
}

/// With `--view-only`, vncdotool's keys never reach the xterm of an x11 source: the server
/// says it dropped them, and the key typed on the X display itself afterwards is the first
/// thing the terminal gets.
#[test]
fn view_only_server_drops_every_viewers_keys() {
    if !require_all(&["vncdo", "Xvfb", "xterm", "xdotool"]) {
        return;
    }
    let dir = TempDir::new("view-only-server");
    let x = XServer::xvfb(&dir, 480, 300);
    let typed = dir.join("typed.txt");
    let mut command = x.client("xterm");
    command
        .args([
            "-title",
            "typing",
            "-geometry",
            "40x8+0+0",
            "-fn",
            "fixed",
            "-e",
        ])
        .args(["sh", "-c"])
        .arg(format!("stty -echo; exec cat > '{}'", typed.display()));
    let terminal = Proc::spawn("xterm", &mut command, &dir);
    poll(
        "the xterm's window",
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            let found = run(
                x.client("xdotool")
                    .args(["search", "--onlyvisible", "--name", "^typing$"]),
                COMMAND_TIMEOUT,
            );
            if found.stdout.is_empty() {
                Err("no window yet".to_string())
            } else {
                Ok(())
            }
        },
        || terminal.logs(),
    );
    // Focus follows the pointer without a window manager.
    run_ok(
        x.client("xdotool").args(["mousemove", "100", "50"]),
        COMMAND_TIMEOUT,
    );
    let server = FarviewServer::with_source(
        &dir,
        &format!("x11:{}", x.name()),
        &["--view-only"],
        "debug",
    );
    vncdo_type(&server.target(), None, "abc");
    wait_for_log(&server.process, "view only: input dropped", || {
        server.process.logs()
    });
    run_ok(
        x.client("xdotool").args(["type", "--delay", "20", "Z"]),
        COMMAND_TIMEOUT,
    );
    run_ok(x.client("xdotool").args(["key", "Return"]), COMMAND_TIMEOUT);
    let text = poll(
        "the terminal to get the key typed on X",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let text = std::fs::read_to_string(&typed).unwrap_or_default();
            if text.ends_with('\n') {
                Ok(text)
            } else {
                Err(format!("it has {text:?}"))
            }
        },
        || logs(&[&terminal, &server.process]),
    );
    assert_eq!(text, "Z\n", "{}", server.process.logs());
}

#[test]
fn tigervnc_viewer_with_the_view_only_password_sees_the_desktop() {
    if !require_all(&["vncviewer", "Xvfb", "xwd", "xwininfo", "vncpasswd"]) {
        return;
    }
    let dir = TempDir::new("view-only-vncviewer");
    let frame = support::fixture_frame("desktop", 0);
    let x = XServer::xvfb(&dir, frame.width + MARGIN, frame.height + MARGIN);
    let watcher = dir.write("watcher.txt", b"watch-me\n");
    let server = FarviewServer::replay(
        &dir,
        &support::fixture("desktop"),
        Some("full-pass"),
        &["--view-only-password-file", watcher.to_str().unwrap()],
    );
    let password = support::vnc_password_file(&dir, "watch-me");
    let viewer = vncviewer(
        &dir,
        &x,
        &[
            "-SecurityTypes",
            "VncAuth",
            "-passwd",
            password.to_str().unwrap(),
            &server.target(),
        ],
    );
    x.wait_for_window(&dir, "view-only", "TigerVNC", &frame, &viewer, || {
        logs(&[&viewer, &server.process])
    });
    assert!(
        server.process.stderr().contains(", view only)"),
        "{}",
        server.process.logs()
    );
}
