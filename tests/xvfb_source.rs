//! The xvfb source: `farview serve --source xvfb:WxH --session CMD` starts a virtual desktop
//! running the command, serves it, and leaves nothing behind: not when it is stopped, not
//! when the session command ends.

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use support::{FarviewServer, STARTUP_TIMEOUT, TempDir, TestViewer, poll, require_all};

/// A session that records its display, its pid and its child's pid, then waits for `stop`
/// to appear (or to be killed).
fn session_script(dir: &TempDir) -> String {
    format!(
        "echo \"$DISPLAY\" > '{dir}/display'; sleep 600 & echo $! > '{dir}/child'; \
         echo $$ > '{dir}/shell'; while [ ! -e '{dir}/stop' ]; do sleep 0.05; done",
        dir = dir.path().display()
    )
}

fn read_trimmed(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // The parent is the 4th field of /proc/PID/stat, after "(name)".
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

/// What the session left to check: its display number, and the pids of Xvfb, the session
/// shell and its background child.
struct Started {
    display: u32,
    pids: Vec<u32>,
}

fn wait_for_session(dir: &TempDir, server: &FarviewServer) -> Started {
    poll(
        "the session command to start",
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            let display = read_trimmed(&dir.join("display"));
            let (child, shell) = (
                read_trimmed(&dir.join("child")),
                read_trimmed(&dir.join("shell")),
            );
            let number = display
                .strip_prefix(':')
                .and_then(|n| n.parse::<u32>().ok());
            match (number, child.parse::<u32>(), shell.parse::<u32>()) {
                (Some(display), Ok(child), Ok(shell)) => {
                    let mut pids = children_of(server.process.pid());
                    if pids.len() < 2 {
                        return Err(format!("farview's children: {pids:?}"));
                    }
                    pids.extend([child, shell]);
                    Ok(Started { display, pids })
                }
                _ => Err(format!(
                    "display {display:?}, child {child:?}, shell {shell:?}"
                )),
            }
        },
        || server.process.logs(),
    )
}

fn lock_file(display: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/.X{display}-lock"))
}

fn is_running(pid: u32) -> bool {
    // A zombie has no cmdline left; count it as gone (its parent reaps it).
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| !cmdline.is_empty())
}

/// Waits until every process is gone and the display's socket (and lock file, which Xvfb
/// makes without -displayfd) are removed.
fn assert_nothing_left(started: &Started, server: &FarviewServer) {
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{}", started.display));
    poll(
        "everything to be gone",
        STARTUP_TIMEOUT,
        Duration::from_millis(50),
        || {
            let running: Vec<u32> = started
                .pids
                .iter()
                .copied()
                .filter(|&p| is_running(p))
                .collect();
            let files: Vec<String> = [lock_file(started.display), socket.clone()]
                .iter()
                .filter(|path| path.exists())
                .map(|path| path.display().to_string())
                .collect();
            if running.is_empty() && files.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "still running: {running:?}; still there: {files:?}"
                ))
            }
        },
        || server.process.logs(),
    );
}

fn start(dir: &TempDir) -> (FarviewServer, Started) {
    let script = session_script(dir);
    let server = FarviewServer::with_source(dir, "xvfb:640x360", &["--session", &script], "info");
    let started = wait_for_session(dir, &server);
    (server, started)
}

#[test]
fn the_xvfb_source_serves_its_desktop_and_cleans_up_when_stopped() {
    if !require_all(&["Xvfb"]) {
        return;
    }
    let dir = TempDir::new("xvfb-stopped");
    let (server, started) = start(&dir);
    let viewer = TestViewer::connect(server.port);
    let image = viewer.image();
    assert_eq!((image.width, image.height), (640, 360));
    poll(
        "the log to name the source and the display",
        STARTUP_TIMEOUT,
        Duration::from_millis(20),
        || {
            let log = server.process.stderr();
            let display = format!("x11 display :{}", started.display);
            if log.contains("source: xvfb 640x360") && log.contains(&display) {
                Ok(())
            } else {
                Err(log)
            }
        },
        String::new,
    );
    drop(viewer);
    let status = server
        .process
        .terminate_and_wait(STARTUP_TIMEOUT)
        .unwrap_or_else(|| panic!("farview did not stop\n{}", server.process.logs()));
    assert!(status.success(), "{}", server.process.logs());
    assert_nothing_left(&started, &server);
}

#[test]
fn the_session_command_ending_stops_the_server_and_cleans_up() {
    if !require_all(&["Xvfb"]) {
        return;
    }
    let dir = TempDir::new("xvfb-session-end");
    let (server, started) = start(&dir);
    let _viewer = TestViewer::connect(server.port);
    dir.write("stop", b"");
    let status = server
        .process
        .wait_exit(STARTUP_TIMEOUT)
        .unwrap_or_else(|| panic!("farview kept running\n{}", server.process.logs()));
    assert!(status.success(), "{}", server.process.logs());
    assert!(
        server
            .process
            .stderr()
            .contains("the session command ended"),
        "{}",
        server.process.logs()
    );
    assert_nothing_left(&started, &server);
}
