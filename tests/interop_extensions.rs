//! TigerVNC's `vncviewer` (on its own Xvfb) against `farview serve --source x11` (sharing
//! another Xvfb), through the modern extensions it uses: QEMU Extended Key Events (keys typed
//! into its window, by xdotool, reach a terminal on the shared display, with scancodes) and
//! Extended Clipboard (text beyond Latin-1 both ways, read and written with xclip on each
//! display: the core protocol's Latin-1 could not carry it).

mod support;

use std::time::Duration;

use support::desktop_peers::{logs_of, tigervnc_viewer, typing_terminal, wait_for_typed_line};
use support::{
    COMMAND_TIMEOUT, FarviewServer, Proc, STARTUP_TIMEOUT, TempDir, VIEWER_TIMEOUT, XServer, poll,
    require_all, run, run_ok,
};

const WINDOW: &str = "TigerVNC";

/// The shared display, its server, and a second display with vncviewer connected to it.
struct Setup {
    dir: TempDir,
    served: XServer,
    server: FarviewServer,
    viewer_x: XServer,
    viewer: Proc,
}

impl Setup {
    fn start(label: &str) -> Setup {
        let dir = TempDir::new(label);
        let served = XServer::xvfb(&dir, 480, 300);
        let server = FarviewServer::x11(&dir, &served);
        let viewer_x = XServer::xvfb(&dir, 640, 400);
        let target = server.target();
        let viewer = tigervnc_viewer(
            &dir,
            &viewer_x,
            &["-SecurityTypes", "None", "-Log", "*:stderr:100", &target],
        );
        poll(
            "vncviewer's window",
            STARTUP_TIMEOUT,
            Duration::from_millis(100),
            || {
                if let Some(status) = viewer.exited() {
                    panic!("vncviewer exited ({status})\n{}", viewer.logs());
                }
                if viewer_x.find_windows(WINDOW).is_empty() {
                    Err("no window yet".to_string())
                } else {
                    Ok(())
                }
            },
            || server.process.logs(),
        );
        // TigerVNC takes clipboard changes and keys only while its window has the focus.
        run_ok(
            viewer_x.client("xdotool").args([
                "search",
                "--onlyvisible",
                "--name",
                WINDOW,
                "windowfocus",
                "--sync",
            ]),
            COMMAND_TIMEOUT,
        );
        Setup {
            dir,
            served,
            server,
            viewer_x,
            viewer,
        }
    }

    fn logs(&self, others: &[&Proc]) -> String {
        let mut all = vec![&self.viewer, &self.server.process];
        all.extend(others);
        logs_of(&all)
    }
}

/// Polls `xclip -o` of CLIPBOARD on `x` until it gives `expected`.
fn wait_for_clipboard(x: &XServer, expected: &str, context: impl FnOnce() -> String) {
    poll(
        &format!("the CLIPBOARD of {} to hold {expected:?}", x.name()),
        VIEWER_TIMEOUT,
        Duration::from_millis(100),
        || {
            let output = run(
                x.client("xclip").args(["-o", "-selection", "clipboard"]),
                COMMAND_TIMEOUT,
            );
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text == expected {
                Ok(())
            } else {
                Err(format!("it holds {text:?}"))
            }
        },
        context,
    );
}

/// Makes `text` the CLIPBOARD of `x`; xclip serves it for as long as the process lives.
fn own_clipboard(setup: &Setup, x: &XServer, name: &str, text: &str) -> Proc {
    let file = setup.dir.write(&format!("{name}.txt"), text.as_bytes());
    let mut command = x.client("xclip");
    command
        .args(["-quiet", "-selection", "clipboard", "-i"])
        .arg(&file);
    Proc::spawn(name, &mut command, &setup.dir)
}

#[test]
fn tigervnc_viewer_and_our_server_share_utf8_clipboard_both_ways() {
    if !require_all(&["vncviewer", "Xvfb", "xclip", "xwininfo"]) {
        return;
    }
    let setup = Setup::start("extended-clipboard");
    // The served display to the viewer's.
    let from_server = "héllo ✓ 日本";
    let owner = own_clipboard(&setup, &setup.served, "xclip-served", from_server);
    wait_for_clipboard(&setup.viewer_x, from_server, || setup.logs(&[&owner]));
    // The viewer's display to the served one.
    let from_viewer = "wörld ✓ 中文\nzweite Zeile";
    let owner = own_clipboard(&setup, &setup.viewer_x, "xclip-viewer", from_viewer);
    wait_for_clipboard(&setup.served, from_viewer, || setup.logs(&[&owner]));
    assert!(
        setup.server.process.stderr().contains("encodings")
            && setup.server.process.stderr().contains("extended-clipboard"),
        "vncviewer should have listed Extended Clipboard\n{}",
        setup.server.process.logs()
    );
}

#[test]
fn keys_typed_into_tigervnc_viewer_reach_the_shared_display_with_scancodes() {
    if !require_all(&["vncviewer", "Xvfb", "xterm", "xdotool", "xwininfo"]) {
        return;
    }
    let setup = Setup::start("extended-keys");
    let (terminal, typed) = typing_terminal(&setup.dir, &setup.served);
    // Focus follows the pointer on the served display (no window manager).
    run_ok(
        setup
            .served
            .client("xdotool")
            .args(["mousemove", "60", "40"]),
        COMMAND_TIMEOUT,
    );
    // On the viewer's display, type into vncviewer's window (it has the focus).
    run_ok(
        setup
            .viewer_x
            .client("xdotool")
            .args(["type", "--delay", "30", "Hello, farview 42"]),
        COMMAND_TIMEOUT,
    );
    run_ok(
        setup.viewer_x.client("xdotool").args(["key", "Return"]),
        COMMAND_TIMEOUT,
    );
    let text = wait_for_typed_line(&typed, || setup.logs(&[&terminal]));
    assert_eq!(text, "Hello, farview 42\n", "{}", setup.logs(&[&terminal]));
    assert!(
        setup
            .server
            .process
            .stderr()
            .contains("keys come with scancodes (QEMU Extended Key Events)"),
        "{}",
        setup.server.process.logs()
    );
}
