//! Who may connect and what they may do, with real peers: the policies for viewers that ask
//! for sole access (`--exclusive-policy`), and view-only viewers (`--view-only`, and the
//! view-only password, in the clear and inside TLS) that can watch but never type.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use farview_client::{Target, Viewer, ViewerError, ViewerOptions};
use farview_protocol::ClientEvent;
use support::certificate::Certificate;
use support::desktop_peers::{
    logs_of, tigervnc_viewer, typing_terminal, wait_for_log, wait_for_typed_line,
};
use support::{
    COMMAND_TIMEOUT, FarviewServer, TempDir, TestViewer, VIEWER_TIMEOUT, XServer, poll,
    require_all, run_ok,
};

/// Room around the frame for vncviewer's window.
const MARGIN: u32 = 64;

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
    let (terminal, typed) = typing_terminal(&dir, &x);
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
    let text = wait_for_typed_line(&typed, || logs_of(&[&terminal, &server.process]));
    assert_eq!(text, "Z\n", "{}", server.process.logs());
}

/// TigerVNC's vncviewer signs in with the view-only password, with `security` (over TLS
/// with a certificate it trusts, if `tls`): it sees the desktop, and the server counts it as
/// view only.
fn tigervnc_viewer_with_the_view_only_password(label: &str, security: &str, tls: bool) {
    if !require_all(&["vncviewer", "Xvfb", "xwd", "xwininfo", "vncpasswd"]) {
        return;
    }
    let dir = TempDir::new(label);
    let frame = support::fixture_frame("desktop", 0);
    let x = XServer::xvfb(&dir, frame.width + MARGIN, frame.height + MARGIN);
    let watcher = dir.write("watcher.txt", b"watch-me\n");
    let mut extra = vec![
        "--view-only-password-file".to_string(),
        watcher.display().to_string(),
    ];
    let mut security = vec![format!("-SecurityTypes={security}")];
    if tls {
        let certificate = Certificate::new(&dir, "certificate");
        extra.extend(certificate.serve_args());
        security.push(format!("-X509CA={}", certificate.cert.display()));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let server = FarviewServer::replay(
        &dir,
        &support::fixture("desktop"),
        Some("full-pass"),
        &extra,
    );
    let password = support::vnc_password_file(&dir, "watch-me");
    let mut args: Vec<&str> = security.iter().map(String::as_str).collect();
    let target = server.target();
    args.extend(["-passwd", password.to_str().unwrap(), &target]);
    let viewer = tigervnc_viewer(&dir, &x, &args);
    x.wait_for_window(&dir, label, "TigerVNC", &frame, &viewer, || {
        logs_of(&[&viewer, &server.process])
    });
    assert!(
        server.process.stderr().contains(", view only)"),
        "{}",
        server.process.logs()
    );
}

#[test]
fn tigervnc_viewer_with_the_view_only_password_sees_the_desktop() {
    tigervnc_viewer_with_the_view_only_password("view-only-vncviewer", "VncAuth", false);
}

/// Inside TLS (VeNCrypt X509Vnc) the view-only password works as it does in the clear.
#[test]
fn tigervnc_viewer_with_the_view_only_password_inside_tls_sees_the_desktop() {
    tigervnc_viewer_with_the_view_only_password("view-only-vncviewer-tls", "X509Vnc", true);
}
