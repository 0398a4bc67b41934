//! Resizing a shared desktop from viewers (SetDesktopSize, ExtendedDesktopSize) and following
//! the X pointer (PointerPos), against real software: TigerVNC's Xvnc as the X server (it
//! takes any size; Debian's Xvfb goes no larger than it started), TigerVNC's vncviewer
//! resizing its window, our viewer, the demo source, which resizes within its limits, and
//! the replay source, which refuses.

mod support;

use std::time::Duration;

use farview_protocol::ClientEvent;
use farview_protocol::encodings::extended_desktop_size::{
    DesktopLayout, ResizeReason, ResizeStatus, Screen,
};
use support::desktop_peers::wait_for_log;
use support::{
    COMMAND_TIMEOUT, FarviewServer, Image, Proc, STARTUP_TIMEOUT, TempDir, TestViewer,
    VIEWER_TIMEOUT, XServer, assert_viewer_matches_screen, image_difference, poll, require_all,
    run_ok, wait_for_x_pointer,
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

/// TigerVNC's vncviewer on an Xvfb display of its own, resizing the remote desktop with its
/// window; returned once the server told it that it takes requests, with its window's id.
fn resizing_vncviewer(dir: &TempDir, server: &FarviewServer) -> (XServer, Proc, String) {
    let viewer_display = XServer::xvfb(dir, 1600, 1200);
    let mut command = viewer_display.client("vncviewer");
    command
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-Shared", "-RemoteResize=1", "-ReconnectOnError=0"])
        .args(["-AlertOnFatalError=0", "-Log", "*:stderr:100"])
        .arg(server.target());
    let vncviewer = Proc::spawn("vncviewer", &mut command, dir);
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
    (viewer_display, vncviewer, window)
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
    let (viewer_display, vncviewer, window) = resizing_vncviewer(&dir, &server);
    let logs = || format!("{}{}", vncviewer.logs(), server.process.logs());
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
    wait_for_log(&view, "resized the desktop to 720x540 as asked", || {
        server.process.logs()
    });
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
    wait_for_log(&view, "resized the desktop to 800x480 as asked", || {
        x.process.logs()
    });
}

/// `farview serve --source demo`, logging what it sends each viewer.
fn demo_server(dir: &TempDir) -> FarviewServer {
    FarviewServer::with_source(dir, "demo", &[], "debug")
}

/// A viewer of the demo, once it has the first picture (the first update may bring only the
/// desktop's size).
fn demo_viewer(server: &FarviewServer) -> TestViewer {
    let mut viewer = TestViewer::connect(server.port);
    viewer
        .wait_for_picture(VIEWER_TIMEOUT, |image| match image.pixel(0, 0) {
            [0, 0, 0] => Err("still black".into()),
            _ => Ok(()),
        })
        .unwrap_or_else(|e| panic!("the first picture: {e}\n{}", server.process.logs()));
    viewer
}

/// The demo's Notes window (see server/src/source/demo/scene.rs), which resizes keep.
const DEMO_NOTES: (u32, u32, u32, u32) = (16, 40, 488, 330);

fn demo_notes(image: &Image) -> Image {
    let (x, y, width, height) = DEMO_NOTES;
    image.crop(x, y, width, height).expect("the notes window")
}

/// Whether `image` shows the demo at `size` with `notes` in place: its top and status bars
/// (24 pixels high) span the whole width, the status bar along the bottom.
fn demo_shows(image: &Image, (width, height): (u32, u32), notes: &Image) -> Result<(), String> {
    if (image.width, image.height) != (width, height) {
        return Err(format!("{}x{}", image.width, image.height));
    }
    let bar = image.pixel(0, 0);
    let corners = [(width - 1, 0), (0, height - 24), (width - 1, height - 1)];
    if let Some(corner) = corners.iter().find(|&&(x, y)| image.pixel(x, y) != bar) {
        return Err(format!("no bar at {corner:?}"));
    }
    if image.pixel(0, height - 25) == bar {
        return Err("the status bar is too high".into());
    }
    image_difference(notes, &demo_notes(image)).map_or(Ok(()), Err)
}

#[test]
fn our_viewer_resizes_the_demo_within_its_limits() {
    let dir = TempDir::new("resize-demo");
    let server = demo_server(&dir);
    let mut viewer = demo_viewer(&server);
    let mut other = demo_viewer(&server);
    // Text typed into Notes stays through the resize. The demo draws it, then puts it on
    // the clipboard: the update after the clipboard shows it.
    let empty = demo_notes(&viewer.image());
    viewer.tap(u32::from('Z'));
    viewer
        .wait_for(
            "the typed text on the clipboard",
            VIEWER_TIMEOUT,
            |event, _| matches!(event, ClientEvent::CutText(text) if text == "Z"),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
    viewer
        .wait_for("an update", VIEWER_TIMEOUT, |event, _| {
            matches!(event, ClientEvent::UpdateComplete { .. })
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
    let notes = demo_notes(&viewer.image());
    assert!(image_difference(&empty, &notes).is_some(), "nothing typed");
    assert!(viewer.request_desktop_size(1500, 1000));
    let status = wait_for_answer(&mut viewer, || server.process.logs());
    assert_eq!(status, ResizeStatus::SUCCESS, "{}", server.process.logs());
    for (label, watcher) in [("asking", &mut viewer), ("other", &mut other)] {
        watcher
            .wait_for_picture(VIEWER_TIMEOUT, |image| {
                demo_shows(image, (1500, 1000), &notes)
            })
            .unwrap_or_else(|e| panic!("{label} viewer: {e}\n{}", server.process.logs()));
    }
    // Refusals, each with the status that says why; the desktop stays as it is.
    let two_screens = DesktopLayout {
        width: 2048,
        height: 768,
        screens: vec![
            Screen::whole(0, 1024, 768),
            Screen {
                x: 1024,
                ..Screen::whole(1, 1024, 768)
            },
        ],
    };
    for (layout, expected) in [
        (
            DesktopLayout::single(800, 600),
            ResizeStatus::INVALID_LAYOUT,
        ),
        (
            DesktopLayout::single(5000, 3000),
            ResizeStatus::OUT_OF_RESOURCES,
        ),
        (two_screens, ResizeStatus::INVALID_LAYOUT),
    ] {
        assert!(viewer.request_desktop_layout(layout.clone()));
        let status = wait_for_answer(&mut viewer, || server.process.logs());
        assert_eq!(status, expected, "{layout:?}\n{}", server.process.logs());
    }
    assert_eq!((viewer.image().width, viewer.image().height), (1500, 1000));
    assert!(server.process.exited().is_none());
}

#[test]
fn the_view_command_resizes_the_demo_and_reports_a_refusal() {
    let dir = TempDir::new("resize-demo-cli");
    let server = demo_server(&dir);
    for (size, logged) in [
        ("1280x1024", "resized the desktop to 1280x1024 as asked"),
        ("640x480", "refused the desktop size: invalid screen layout"),
    ] {
        let mut command = support::farview();
        command
            .args(["view", &server.target(), "--headless", "--resize", size])
            .args(["--exit-after", "60"]);
        let view = Proc::spawn("farview-view", &mut command, &dir);
        wait_for_log(&view, logged, || server.process.logs());
    }
}

#[test]
fn tigervnc_viewer_resizes_the_demo_with_its_window() {
    if !require_all(&["Xvfb", "vncviewer", "xdotool"]) {
        return;
    }
    let dir = TempDir::new("resize-demo-vncviewer");
    let server = demo_server(&dir);
    let mut watcher = demo_viewer(&server);
    let notes = demo_notes(&watcher.image());
    let (viewer_display, vncviewer, window) = resizing_vncviewer(&dir, &server);
    let logs = || format!("{}{}", vncviewer.logs(), server.process.logs());
    run_ok(
        viewer_display
            .client("xdotool")
            .args(["windowsize", &window, "1280", "900"]),
        COMMAND_TIMEOUT,
    );
    watcher
        .wait_for_picture(VIEWER_TIMEOUT, |image| {
            demo_shows(image, (1280, 900), &notes)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", logs()));
    let log = server.process.stderr();
    assert!(
        log.contains("desktop resized to 1280x900 as asked"),
        "{log}"
    );
    assert!(vncviewer.exited().is_none(), "{}", vncviewer.logs());
}
