//! The x11 source against real X servers: a viewer's keys, pointer and clipboard reach X
//! programs; X's clipboard, drawing and screen size changes reach the viewer, pixel-exact;
//! an X server that goes away ends the server with a clear error.

mod support;

use std::time::Duration;

use farview_protocol::ClientEvent;
use support::{
    COMMAND_TIMEOUT, FarviewServer, Proc, STARTUP_TIMEOUT, TempDir, TestViewer, VIEWER_TIMEOUT,
    XServer, assert_viewer_matches_screen, poll, require_all, run, run_ok, wait_for_x_pointer,
};

const SHIFT_L: u32 = 0xffe1;
const RETURN: u32 = 0xff0d;

fn logs(processes: &[&Proc]) -> String {
    processes.iter().map(|p| p.logs()).collect()
}

/// An xterm at the top left running `command` (through sh), in a UTF-8 locale.
fn xterm(dir: &TempDir, x: &XServer, title: &str, command: &str) -> Proc {
    let mut xterm = x.client("xterm");
    xterm
        .env("LC_ALL", "C.UTF-8")
        .args(["-title", title, "-geometry", "60x10+0+0", "-fn", "fixed"])
        .args(["-e", "sh", "-c", command]);
    let process = Proc::spawn(&format!("xterm-{title}"), &mut xterm, dir);
    window_of(x, title, &process);
    process
}

/// The id of the visible window titled `title` (a window manager may have reparented it),
/// once there is one.
fn window_of(x: &XServer, title: &str, owner: &Proc) -> String {
    poll(
        &format!("window {title:?} mapped"),
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            if let Some(status) = owner.exited() {
                return Ok(Err(format!("{} exited ({status})", owner.name())));
            }
            let output = run(
                x.client("xdotool")
                    .args(["search", "--onlyvisible", "--name"])
                    .arg(format!("^{title}$")),
                COMMAND_TIMEOUT,
            );
            match String::from_utf8_lossy(&output.stdout).lines().next() {
                Some(id) => Ok(Ok(id.to_string())),
                None => Err("no window yet".to_string()),
            }
        },
        String::new,
    )
    .unwrap_or_else(|e: String| panic!("{e}\n{}", owner.logs()))
}

/// Waits until the file at `path` holds `expected`.
fn wait_for_file(path: &std::path::Path, expected: &str, context: impl FnOnce() -> String) {
    poll(
        &format!("{} to hold {expected:?}", path.display()),
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if text == expected {
                Ok(())
            } else {
                Err(format!("it holds {text:?}"))
            }
        },
        context,
    );
}

#[test]
fn keys_typed_in_the_viewer_reach_an_x_program() {
    if !require_all(&["Xvfb", "xterm", "xdotool", "xmodmap"]) {
        return;
    }
    let dir = TempDir::new("x11-keys");
    let x = XServer::xvfb(&dir, 640, 400);
    let typed = dir.join("typed.txt");
    let terminal = xterm(
        &dir,
        &x,
        "typing",
        &format!("stty -echo; exec cat > '{}'", typed.display()),
    );
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    // Without a window manager the focus follows the pointer: put it on the terminal.
    viewer.pointer(0, 100, 50);
    // Plain keysyms, the shifted level without Shift (the server adds it), Shift held as
    // viewers do for capitals, and characters that the US layout lacks altogether.
    for character in "Hello, farview! 1+1=2 ~{}|".chars() {
        viewer.tap(u32::from(character));
    }
    viewer.key(true, SHIFT_L);
    for keysym in [u32::from('Q'), u32::from('?')] {
        viewer.tap(keysym);
    }
    viewer.key(false, SHIFT_L);
    for keysym in [0xe9, 0x0100_20ac, 0xe9] {
        viewer.tap(keysym); // é, €, é again (its spare keycode is still bound)
    }
    viewer.tap(RETURN);
    wait_for_file(&typed, "Hello, farview! 1+1=2 ~{}|Q?é€é\n", || {
        logs(&[&terminal, &server.process, &x.process])
    });
    // The keycodes bound for é and € are given back once idle: the layout is as before.
    poll(
        "the spare keycodes to be given back",
        VIEWER_TIMEOUT,
        Duration::from_millis(100),
        || {
            let output = run_ok(x.client("xmodmap").arg("-pke"), COMMAND_TIMEOUT);
            let map = String::from_utf8_lossy(&output.stdout).into_owned();
            let bound: Vec<&str> = map
                .lines()
                .filter(|line| line.contains("eacute") || line.contains("EuroSign"))
                .collect();
            if bound.is_empty() {
                Ok(())
            } else {
                Err(bound.join("; "))
            }
        },
        || server.process.logs(),
    );
}

#[test]
fn pointer_moves_and_clicks_reach_x() {
    if !require_all(&["Xvfb", "xdotool", "xev"]) {
        return;
    }
    let dir = TempDir::new("x11-pointer");
    let x = XServer::xvfb(&dir, 640, 400);
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    viewer.pointer(0, 123, 77);
    wait_for_x_pointer(&x, (123, 77), || server.process.logs());
    // A click target: xev's window prints the button events it gets.
    let mut command = x.client("xev");
    command.args(["-geometry", "200x200+300+100", "-event", "button"]);
    let xev = Proc::spawn("xev", &mut command, &dir);
    poll(
        "xev's window",
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            if x.find_windows("Event Tester").is_empty() {
                Err("not mapped yet".to_string())
            } else {
                Ok(())
            }
        },
        || xev.logs(),
    );
    viewer.pointer(0, 350, 150);
    viewer.pointer(1, 350, 150);
    viewer.pointer(0, 350, 150);
    viewer.pointer(8, 350, 150); // wheel up: button 4
    viewer.pointer(0, 350, 150);
    poll(
        "xev to see button 1 press and release and wheel button 4",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let events = xev.stdout();
            let seen = |kind: &str, button: &str| {
                events
                    .split("\n\n")
                    .any(|event| event.starts_with(kind) && event.contains(button))
            };
            if seen("ButtonPress", "button 1,")
                && seen("ButtonRelease", "button 1,")
                && seen("ButtonPress", "button 4,")
            {
                Ok(())
            } else {
                Err(events)
            }
        },
        || logs(&[&xev, &server.process]),
    );
}

fn xclip_output(x: &XServer, selection: &str) -> String {
    let output = run(
        x.client("xclip").args(["-o", "-selection", selection]),
        COMMAND_TIMEOUT,
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn the_clipboard_goes_both_ways() {
    if !require_all(&["Xvfb", "xclip"]) {
        return;
    }
    let dir = TempDir::new("x11-clipboard");
    let x = XServer::xvfb(&dir, 320, 200);
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);

    // X to the viewer: xclip owns CLIPBOARD (and stays in the foreground while it does).
    let from_x = "copied in X: café";
    let file = dir.write("from-x.txt", from_x.as_bytes());
    let mut command = x.client("xclip");
    command
        .args(["-quiet", "-selection", "clipboard", "-i"])
        .arg(&file);
    let owner = Proc::spawn("xclip-in", &mut command, &dir);
    let event = viewer
        .wait_for(
            "the X clipboard",
            VIEWER_TIMEOUT,
            |event, _| matches!(event, ClientEvent::CutText(text) if text == from_x),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&owner, &server.process])));
    assert!(matches!(event, ClientEvent::CutText(_)));

    // The viewer to X: both selections serve the text.
    let from_viewer = "pasted from the viewer: naïve";
    viewer.cut_text(from_viewer);
    for selection in ["clipboard", "primary"] {
        poll(
            &format!("xclip to read the {selection} selection"),
            VIEWER_TIMEOUT,
            Duration::from_millis(50),
            || {
                let text = xclip_output(&x, selection);
                if text == from_viewer {
                    Ok(())
                } else {
                    Err(format!("it reads {text:?}"))
                }
            },
            || server.process.logs(),
        );
    }
    // Our own ownership did not bounce back to the viewer as X clipboard text.
    assert!(
        !server
            .process
            .stderr()
            .contains("X clipboard: 29 characters"),
        "{}",
        server.process.logs()
    );
}

#[test]
fn drawing_and_window_moves_reach_the_viewer_pixel_exact() {
    if !require_all(&["Xvfb", "xterm", "xwd", "xdotool", "twm", "xwininfo"]) {
        return;
    }
    let dir = TempDir::new("x11-pixels");
    let x = XServer::xvfb(&dir, 640, 480);
    x.plain_root(&dir, "#204060");
    let mut twm = x.client("twm");
    // twm places new windows where their geometry says, without asking the user.
    let twmrc = dir.write(
        "twmrc",
        b"RandomPlacement\nUsePPosition \"on\"\nNoGrabServer\n",
    );
    twm.arg("-f").arg(&twmrc);
    let window_manager = Proc::spawn("twm", &mut twm, &dir);
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    let lines = dir.join("lines.txt");
    std::fs::write(
        &lines,
        (1..=200)
            .map(|n| format!("line {n}: the quick brown fox\n"))
            .collect::<String>(),
    )
    .unwrap();
    let terminal = xterm(
        &dir,
        &x,
        "drawing",
        &format!("cat '{}'; exec sleep 600", lines.display()),
    );
    assert_viewer_matches_screen(&dir, "scrolled", &x, &mut viewer);
    let window = window_of(&x, "drawing", &terminal);
    let position = || {
        let output = run_ok(
            x.client("xdotool").args(["getwindowgeometry", &window]),
            COMMAND_TIMEOUT,
        );
        let text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.lines()
            .find(|line| line.trim_start().starts_with("Position:"))
            .unwrap_or_default()
            .to_string()
    };
    let before = position();
    run_ok(
        x.client("xdotool")
            .args(["windowmove", &window, "150", "120"]),
        COMMAND_TIMEOUT,
    );
    poll(
        "the window to move",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let now = position();
            if now != before { Ok(()) } else { Err(now) }
        },
        || logs(&[&window_manager, &terminal]),
    );
    assert_viewer_matches_screen(&dir, "moved", &x, &mut viewer);
    // The comparison was of a real desktop: xterm's text and twm's frame over the root.
    let shown = viewer.image();
    assert!(
        shown.colour_count() >= 3,
        "only {} colours",
        shown.colour_count()
    );
}

#[test]
fn a_screen_size_change_reaches_the_viewer() {
    // Debian 12's Xvfb offers one fixed RandR mode; TigerVNC's Xvnc resizes, so it stands in
    // as the X server here (its own VNC port is unused).
    if !require_all(&["Xvnc", "xrandr", "xwd"]) {
        return;
    }
    let dir = TempDir::new("x11-resize");
    let port = support::free_port();
    let x = XServer::xvnc(&dir, 1024, 768, port, &["-SecurityTypes", "None"]);
    x.plain_root(&dir, "#336699");
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    run_ok(x.client("xrandr").args(["-s", "800x600"]), COMMAND_TIMEOUT);
    viewer
        .wait_for("the new size", VIEWER_TIMEOUT, |event, _| {
            matches!(
                event,
                ClientEvent::Resized {
                    width: 800,
                    height: 600
                }
            )
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&[&server.process, &x.process])));
    assert_viewer_matches_screen(&dir, "resized", &x, &mut viewer);
}

#[test]
fn without_damage_and_shared_memory_the_screen_is_polled_with_get_image() {
    if !require_all(&["Xvfb", "xterm", "xwd", "xdotool"]) {
        return;
    }
    let dir = TempDir::new("x11-polled");
    let x = XServer::xvfb_with(
        &dir,
        480,
        320,
        &["-extension", "DAMAGE", "-extension", "MIT-SHM"],
    );
    x.plain_root(&dir, "#402020");
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    poll(
        "the log to say how the display is read",
        STARTUP_TIMEOUT,
        Duration::from_millis(20),
        || {
            let log = server.process.stderr();
            if log.contains("capture: GetImage; changes: polling") {
                Ok(())
            } else {
                Err(log)
            }
        },
        String::new,
    );
    let _terminal = xterm(&dir, &x, "polled", "seq 1 100; exec sleep 600");
    assert_viewer_matches_screen(&dir, "polled", &x, &mut viewer);
}

#[test]
fn the_pointer_shape_follows_the_x_cursor() {
    if !require_all(&["Xvfb", "xterm", "xdotool"]) {
        return;
    }
    let dir = TempDir::new("x11-cursor");
    let x = XServer::xvfb(&dir, 640, 400);
    let server = FarviewServer::x11(&dir, &x);
    let mut viewer = TestViewer::connect(server.port);
    let shape = |event: &ClientEvent| match event {
        ClientEvent::Cursor(cursor) if !cursor.is_hidden() => Some(cursor.clone()),
        _ => None,
    };
    viewer.pointer(0, 600, 380);
    let root_cursor = viewer
        .wait_for(
            "the root window's pointer shape",
            VIEWER_TIMEOUT,
            |event, _| shape(event).is_some(),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
    let root_cursor = shape(&root_cursor).expect("a shape");
    // Over a terminal the pointer is xterm's text cursor (a client that stays connected
    // owns it: X refuses the image of a cursor whose client has gone, as xsetroot's).
    let _terminal = xterm(&dir, &x, "pointer", "exec sleep 600");
    viewer.pointer(0, 60, 40);
    viewer
        .wait_for("xterm's pointer shape", VIEWER_TIMEOUT, |event, _| {
            shape(event).is_some_and(|cursor| cursor != root_cursor)
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", server.process.logs()));
}

#[test]
fn the_x_server_going_away_ends_the_server_with_a_clear_error() {
    if !require_all(&["Xvfb"]) {
        return;
    }
    let dir = TempDir::new("x11-gone");
    let mut x = XServer::xvfb(&dir, 320, 200);
    let display = x.name();
    let server = FarviewServer::x11(&dir, &x);
    let _viewer = TestViewer::connect(server.port);
    x.process.stop();
    let status = server
        .process
        .wait_exit(STARTUP_TIMEOUT)
        .unwrap_or_else(|| panic!("the server kept running\n{}", server.process.logs()));
    assert!(!status.success(), "{}", server.process.logs());
    let expected = format!("X display {display} went away");
    assert!(
        server.process.stderr().contains(&expected),
        "no {expected:?} in the log\n{}",
        server.process.logs()
    );
}

#[test]
fn with_display_set_the_x11_source_is_the_default_and_the_log_says_so() {
    if !require_all(&["Xvfb"]) {
        return;
    }
    let dir = TempDir::new("x11-default");
    let x = XServer::xvfb(&dir, 320, 200);
    let mut command = support::farview();
    command
        .env("DISPLAY", x.name())
        .args(["serve", "--listen", "127.0.0.1:0"]);
    let server = Proc::spawn("farview-serve", &mut command, &dir);
    let expected = format!("source: x11 display {} (from DISPLAY)", x.name());
    poll(
        "the log to name the source",
        STARTUP_TIMEOUT,
        Duration::from_millis(20),
        || {
            let log = server.stderr();
            if log.contains(&expected) && log.contains("serving \"X display") {
                Ok(())
            } else {
                Err(log)
            }
        },
        || server.logs(),
    );
}

#[test]
fn an_unreachable_display_is_a_clear_error() {
    let output = run(
        support::farview().args(["serve", "--listen", "127.0.0.1:0", "--source", "x11:987"]),
        COMMAND_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("X display :987: cannot connect"),
        "{stderr}"
    );
}
