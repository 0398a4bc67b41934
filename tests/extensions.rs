//! Our viewer and our server through the modern extensions, on an x11 source sharing an Xvfb:
//! keys sent by scancode alone (QEMU Extended Key Events, keysym NoSymbol) press the physical
//! key on the X server, and clipboard text beyond Latin-1 goes both ways (Extended Clipboard),
//! checked with xclip on the shared display.

mod support;

use std::time::Duration;

use farview_protocol::ClientEvent;
use support::desktop_peers::{logs_of, typing_terminal, wait_for_typed_line};
use support::{
    COMMAND_TIMEOUT, FarviewServer, Proc, TempDir, TestViewer, VIEWER_TIMEOUT, XServer, poll,
    require_all, run,
};

/// NoSymbol: the key is known only by its scancode.
const NO_SYMBOL: u32 = 0;

#[test]
fn keys_sent_by_scancode_alone_press_the_physical_key() {
    if !require_all(&["Xvfb", "xterm", "xdotool"]) {
        return;
    }
    let dir = TempDir::new("scancode-keys");
    let x = XServer::xvfb(&dir, 480, 300);
    let (terminal, typed) = typing_terminal(&dir, &x);
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    viewer.pointer(0, 60, 40);
    // h, i and Return, by their XT scancodes.
    for scancode in [0x23, 0x17, 0x1c] {
        viewer.tap_scancode(NO_SYMBOL, scancode);
    }
    let text = wait_for_typed_line(&typed, || logs_of(&[&terminal, &server.process]));
    assert_eq!(text, "hi\n", "{}", server.process.logs());
}

#[test]
fn our_viewer_and_server_carry_utf8_clipboard_both_ways() {
    if !require_all(&["Xvfb", "xclip"]) {
        return;
    }
    let dir = TempDir::new("utf8-clipboard");
    let x = XServer::xvfb(&dir, 320, 200);
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    let from_x = "héllo ✓ 日本";
    let file = dir.write("from-x.txt", from_x.as_bytes());
    let mut command = x.client("xclip");
    command
        .args(["-quiet", "-selection", "clipboard", "-i"])
        .arg(&file);
    let owner = Proc::spawn("xclip-in", &mut command, &dir);
    viewer
        .wait_for(
            "the X clipboard",
            VIEWER_TIMEOUT,
            |event, _| matches!(event, ClientEvent::CutText(text) if text == from_x),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}{}", owner.logs(), server.process.logs()));
    let from_viewer = "wörld ✓ 中文\nzweite Zeile";
    viewer.cut_text(from_viewer);
    poll(
        "xclip to read the viewer's text",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let output = run(
                x.client("xclip").args(["-o", "-selection", "clipboard"]),
                COMMAND_TIMEOUT,
            );
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text == from_viewer {
                Ok(())
            } else {
                Err(format!("it reads {text:?}"))
            }
        },
        || server.process.logs(),
    );
}
