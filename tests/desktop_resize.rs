//! Resizing a shared desktop from viewers (SetDesktopSize, ExtendedDesktopSize) and following
//! the X pointer (PointerPos), against real software: TigerVNC's Xvnc as the X server (it
//! takes any size; Debian's Xvfb goes no larger than it started), TigerVNC's vncviewer
//! resizing its window, our viewer, and the replay source, which refuses.

mod support;

use std::time::Duration;

use farview_protocol::ClientEvent;
use farview_protocol::encodings::extended_desktop_size::{
    DesktopLayout, ResizeReason, ResizeStatus, Screen,
};
use support::{
    COMMAND_TIMEOUT, FarviewServer, Proc, STARTUP_TIMEOUT, TempDir, TestViewer, VIEWER_TIMEOUT,
    XServer, assert_viewer_matches_screen, image_difference, poll, require_all, run_ok,
    wait_for_x_pointer,
};

/// The screen size `xdpyinfo` reports, e.g. (1024, 768).
fn xdpyinfo_size(x: &XServer) -> Option<(u16, u16)> {
    let output = run_ok(&mut x.client("xdpyinfo"), COMMAND_TIMEOUT);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("dimensions:"))?;
    let size = line.split_whitespace().nth(1)?;
    let (width, height) = size.split_once('x')?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

/// The root window's size as `xwininfo -root` reports it.
fn xwininfo_size(x: &XServer) -> Option<(u16, u16)> {
    let output = run_ok(x.client("xwininfo").arg("-root"), COMMAND_TIMEOUT);
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.trim_start().strip_prefix(name))
            .and_then(|value| value.trim().parse::<u16>().ok())
    };
    Some((field("Width:")?, field("Height:")?))
}

/// Waits until both X tools report the screen as `size`.
fn wait_for_screen_size(x: &XServer, size: (u16, u16), context: impl FnOnce() -> String) {
    poll(
        &format!("the X screen to be {}x{}", size.0, size.1),
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let reported = (xdpyinfo_size(x), xwininfo_size(x));
            if reported == (Some(size), Some(size)) {
                Ok(())
            } else {
                Err(format!("xdpyinfo, xwininfo say {reported:?}"))
            }
        },
        context,
    );
}

/// An Xvnc (as a plain X server) sharing a flat desktop through `farview serve`.
fn shared_xvnc(dir: &TempDir, width: u32, height: u32) -> (XServer, FarviewServer) {
    let port = support::free_port();
    let x = XServer::xvnc(dir, width, height, port, &["-SecurityTypes", "None"]);
    x.plain_root(dir, "#2a5d8f");
    let server = FarviewServer::x11(dir, &x);
    (x, server)
}

/// Waits for the answer to our own SetDesktopSize.
fn wait_for_answer(viewer: &mut TestViewer, context: impl FnOnce() -> String) -> ResizeStatus {
    let event = viewer
        .wait_for("the answer to our resize", VIEWER_TIMEOUT, |event, _| {
            matches!(event, ClientEvent::DesktopSizeChange(change)
                if change.reason == ResizeReason::THIS_CLIENT)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", context()));
    match event {
        ClientEvent::DesktopSizeChange(change) => change.status,
        _ => unreachable!(),
    }
}

#[test]
fn tigervnc_viewer_resizes_the_shared_x_desktop_and_other_viewers_follow() {
    if !require_all(&[
        "Xvnc",
        "Xvfb",
        "vncviewer",
        "xdotool",
        "xdpyinfo",
        "xwininfo",
        "xwd",
    ]) {
        return;
    }
    let dir = TempDir::new("resize-vncviewer");
    let (x, server) = shared_xvnc(&dir, 1024, 768);
    let mut watcher = TestViewer::connect(server.port);
    // vncviewer on a display of its own, resizing the remote desktop with its window.
    let viewer_display = XServer::xvfb(&dir, 1600, 1200);
    let mut command = viewer_display.client("vncviewer");
    command
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-Shared", "-RemoteResize=1", "-ReconnectOnError=0"])
        .args(["-AlertOnFatalError=0", "-Log", "*:stderr:100"])
        .arg(server.target());
    let vncviewer = Proc::spawn("vncviewer", &mut command, &dir);
    let logs = || format!("{}{}", vncviewer.logs(), server.process.logs());
    // vncviewer may ask for a size only once the server said it takes requests: wait until
    // it was told (the answer to its first full update request).
    poll(
        "vncviewer to learn that the server resizes",
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            let log = server.log();
            let told = log.viewers().iter().skip(1).any(|&id| {
                log.lines_of(id)
                    .iter()
                    .any(|line| line.contains(": desktop size 1024x768"))
            });
            if told {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
        logs,
    );
    let window = poll(
        "vncviewer's window",
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            let output = run_ok(
                viewer_display.client("xdotool").args([
                    "search",
                    "--onlyvisible",
                    "--name",
                    "TigerVNC",
                ]),
                COMMAND_TIMEOUT,
            );
            match String::from_utf8_lossy(&output.stdout).lines().next() {
                Some(id) => Ok(id.to_string()),
                None => Err("no window yet".to_string()),
            }
        },
        logs,
    );
    run_ok(
        viewer_display
            .client("xdotool")
            .args(["windowsize", &window, "800", "600"]),
        COMMAND_TIMEOUT,
    );
    wait_for_screen_size(&x, (800, 600), logs);
    // Our viewer follows: the new size, told as another viewer's request, then the pixels.
    let change = watcher
        .wait_for(
            "the resize by another viewer",
            VIEWER_TIMEOUT,
            |event, _| {
                matches!(event, ClientEvent::DesktopSizeChange(change)
                if (change.layout.width, change.layout.height) == (800, 600))
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    let ClientEvent::DesktopSizeChange(change) = change else {
        unreachable!()
    };
    assert_eq!(change.reason, ResizeReason::OTHER_CLIENT);
    assert_eq!(change.status, ResizeStatus::SUCCESS);
    assert_viewer_matches_screen(&dir, "resized-by-vncviewer", &x, &mut watcher);
    // vncviewer's request was answered to it, not refused.
    let log = server.process.stderr();
    assert!(log.contains("desktop resized to 800x600 as asked"), "{log}");
    assert!(vncviewer.exited().is_none(), "{}", vncviewer.logs());
}

#[test]
fn our_viewer_resizes_the_x_desktop() {
    if !require_all(&["Xvnc", "xrandr", "xdpyinfo", "xwininfo", "xwd"]) {
        return;
    }
    let dir = TempDir::new("resize-ours");
    let (x, server) = shared_xvnc(&dir, 1024, 768);
    let mut viewer = TestViewer::connect(server.port);
    // The first update told the layout, so asking is allowed at once.
    assert!(viewer.request_desktop_size(937, 611));
    let status = wait_for_answer(&mut viewer, || server.process.logs());
    assert_eq!(status, ResizeStatus::SUCCESS, "{}", server.process.logs());
    assert_eq!((viewer.image().width, viewer.image().height), (937, 611));
    wait_for_screen_size(&x, (937, 611), || server.process.logs());
    assert_viewer_matches_screen(&dir, "937x611", &x, &mut viewer);
    // Smaller in one direction, larger in the other, then back to a size the server offers.
    for (width, height) in [(700, 900), (1024, 768)] {
        assert!(viewer.request_desktop_size(width, height));
        let status = wait_for_answer(&mut viewer, || server.process.logs());
        assert_eq!(status, ResizeStatus::SUCCESS, "{}", server.process.logs());
        wait_for_screen_size(&x, (width, height), || server.process.logs());
        assert_viewer_matches_screen(&dir, &format!("{width}x{height}"), &x, &mut viewer);
    }
    // The modes created for odd sizes are gone once unused.
    let output = run_ok(x.client("xrandr").arg("-q"), COMMAND_TIMEOUT);
    let modes = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(!modes.contains("937x611"), "{modes}");
    // Two monitors side by side: the X screen is resized as one, so that is refused.
    let left = Screen::whole(1, 512, 768);
    let right = Screen {
        x: 512,
        ..Screen::whole(2, 512, 768)
    };
    assert!(viewer.request_desktop_layout(DesktopLayout {
        width: 1024,
        height: 768,
        screens: vec![left, right],
    }));
    let status = wait_for_answer(&mut viewer, || server.process.logs());
    assert_eq!(status, ResizeStatus::INVALID_LAYOUT);
    // A size beyond what viewers accept is an invalid layout, answered without X.
    assert!(viewer.request_desktop_size(u16::MAX, u16::MAX));
    let status = wait_for_answer(&mut viewer, || server.process.logs());
    assert_eq!(status, ResizeStatus::INVALID_LAYOUT);
    assert_eq!(xdpyinfo_size(&x), Some((1024, 768)));
}

#[test]
fn the_view_command_asks_for_a_size_with_resize() {
    if !require_all(&["Xvnc", "xdpyinfo", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("resize-cli");
    let (x, server) = shared_xvnc(&dir, 1024, 768);
    let mut command = support::farview();
    command
        .args([
            "view",
            &server.target(),
            "--headless",
            "--resize",
            "720x540",
        ])
        .args(["--exit-after", "60"]);
    let view = Proc::spawn("farview-view", &mut command, &dir);
    wait_for_screen_size(&x, (720, 540), || {
        format!("{}{}", view.logs(), server.process.logs())
    });
    poll(
        "the viewer to log the answer",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let log = view.stderr();
            if log.contains("resized the desktop to 720x540 as asked") {
                Ok(())
            } else {
                Err(log)
            }
        },
        String::new,
    );
}

#[test]
fn a_source_that_cannot_resize_answers_prohibited_and_keeps_serving() {
    let dir = TempDir::new("resize-replay");
    let frames = support::fixture("desktop");
    let expected = support::fixture_frame("desktop", 0);
    let server = FarviewServer::replay(&dir, &frames, None, &[]);
    let mut viewer = TestViewer::connect(server.port);
    assert!(viewer.request_desktop_size(640, 480));
    let status = wait_for_answer(&mut viewer, || server.process.logs());
    assert_eq!(status, ResizeStatus::PROHIBITED);
    // Nothing changed, and the picture still arrives whole.
    let result = viewer.wait_for_picture(VIEWER_TIMEOUT, |image| {
        image_difference(&expected, image).map_or(Ok(()), Err)
    });
    if let Err(difference) = result {
        panic!("after the refusal: {difference}\n{}", server.process.logs());
    }
    // A second request is answered the same way: the connection is in order.
    assert!(viewer.request_desktop_size(800, 600));
    assert_eq!(
        wait_for_answer(&mut viewer, || server.process.logs()),
        ResizeStatus::PROHIBITED
    );
    assert!(server.process.exited().is_none());
}

#[test]
fn moving_the_x_pointer_reaches_the_viewer_as_pointer_position() {
    if !require_all(&["Xvfb", "xdotool"]) {
        return;
    }
    let dir = TempDir::new("pointer-position");
    let x = XServer::xvfb(&dir, 640, 400);
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    // Our own pointer move is not echoed back; one made in X is.
    viewer.pointer(0, 50, 60);
    wait_for_x_pointer(&x, (50, 60), || server.process.logs());
    run_ok(
        x.client("xdotool").args(["mousemove", "321", "123"]),
        COMMAND_TIMEOUT,
    );
    let mut echoed = Vec::new();
    viewer
        .wait_for("the pointer position from X", VIEWER_TIMEOUT, |event, _| {
            match event {
                ClientEvent::PointerPosition { x: 321, y: 123 } => return true,
                ClientEvent::PointerPosition { x, y } => echoed.push((*x, *y)),
                _ => {}
            }
            false
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
    assert!(
        !echoed.contains(&(50, 60)),
        "our own move came back: {echoed:?}"
    );
}

#[test]
fn our_viewer_resizes_tigervnc_xvnc_through_rfb() {
    // TigerVNC's own server parses our SetDesktopSize and answers with its ExtendedDesktopSize.
    if !require_all(&["Xvnc", "xdpyinfo", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("resize-xvnc-rfb");
    let port = support::free_port();
    let x = XServer::xvnc(&dir, 1024, 768, port, &["-SecurityTypes", "None"]);
    let mut command = support::farview();
    command
        .args(["view", &format!("127.0.0.1::{port}"), "--headless"])
        .args(["--resize", "800x480", "--exit-after", "60"]);
    let view = Proc::spawn("farview-view", &mut command, &dir);
    wait_for_screen_size(&x, (800, 480), || {
        format!("{}{}", view.logs(), x.process.logs())
    });
    poll(
        "the viewer to log Xvnc's answer",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let log = view.stderr();
            if log.contains("resized the desktop to 800x480 as asked") {
                Ok(())
            } else {
                Err(log)
            }
        },
        String::new,
    );
}
