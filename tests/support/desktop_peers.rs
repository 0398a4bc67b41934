//! Peers on test desktops, for the tests of input, clipboard and sessions: a terminal that
//! writes what is typed into it to a file, TigerVNC's vncviewer on a display, and waits on
//! what processes log.

use std::path::PathBuf;
use std::time::Duration;

use super::{COMMAND_TIMEOUT, Proc, STARTUP_TIMEOUT, TempDir, VIEWER_TIMEOUT, XServer, poll, run};

/// The logs of several processes, one after the other.
pub fn logs_of(processes: &[&Proc]) -> String {
    processes.iter().map(|p| p.logs()).collect()
}

/// Waits until `process`'s stderr has `text`; fails at once if it exits first.
pub fn wait_for_log(process: &Proc, text: &str, context: impl FnOnce() -> String) {
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

/// An xterm at the top left of `x` (40x8 characters) whose shell copies what is typed into
/// it, without echo, to a file: returns the xterm and the file once its window is visible.
/// Without a window manager the focus follows the pointer: put it over the terminal.
pub fn typing_terminal(dir: &TempDir, x: &XServer) -> (Proc, PathBuf) {
    let typed = dir.join("typed.txt");
    let mut command = x.client("xterm");
    command
        .env("LC_ALL", "C.UTF-8")
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
    let terminal = Proc::spawn("xterm-typing", &mut command, dir);
    poll(
        "the typing terminal's window",
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            if let Some(status) = terminal.exited() {
                panic!("xterm exited ({status})\n{}", terminal.logs());
            }
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
    (terminal, typed)
}

/// Waits until a line ends in the file of [`typing_terminal`], and returns what it holds.
pub fn wait_for_typed_line(typed: &PathBuf, context: impl FnOnce() -> String) -> String {
    poll(
        "the terminal to get a line",
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let text = std::fs::read_to_string(typed).unwrap_or_default();
            if text.ends_with('\n') {
                Ok(text)
            } else {
                Err(format!("it has {text:?}"))
            }
        },
        context,
    )
}

/// TigerVNC's vncviewer on `x` with `args` (a server, or `-listen PORT`): full colour, no
/// dialogs, never resizing the remote desktop, its settings in `dir`.
pub fn tigervnc_viewer(dir: &TempDir, x: &XServer, args: &[&str]) -> Proc {
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
