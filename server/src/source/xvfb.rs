//! The xvfb source: a virtual desktop of its own, as TigerVNC's vncserver makes. Starts Xvfb
//! on a display number it picks itself (`-displayfd`), with a fresh MIT-MAGIC-COOKIE so only
//! we and the session can connect, runs the session command in it, and shares it with the
//! x11 source.
//!
//! Teardown is the point of this module: when the server stops (Ctrl-C, SIGTERM, an error)
//! or the session command ends, the session's whole process group is terminated, then Xvfb
//! (which removes its socket and its lock file in /tmp on SIGTERM), then the cookie file. A
//! process that outlives SIGTERM is killed, and lock files of a killed Xvfb are removed.

use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::sync::mpsc;
use tracing::{info, warn};
use x11rb::rust_connection::{DefaultStream, RustConnection};

use super::x11::X11Source;
use super::{Source, SourceError, SourceFuture};
use crate::desktop::{Desktop, InputEvent};

/// The desktop size of `--source xvfb` without a size.
pub const DEFAULT_SIZE: (u16, u16) = (1280, 800);
/// How long Xvfb may take to start.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a process has after SIGTERM before it is killed.
const TERM_GRACE: Duration = Duration::from_secs(3);
/// How often the session command is checked for having ended.
const SESSION_CHECK: Duration = Duration::from_millis(250);
/// Terminals tried, in order, when no session command is given.
const TERMINALS: &[&str] = &["x-terminal-emulator", "xterm"];

fn error(message: impl Into<String>) -> SourceError {
    SourceError::Xvfb(message.into())
}

/// Xvfb, the session, and the cookie file; all of it goes when this is dropped.
#[derive(Debug)]
struct VirtualDisplay {
    display: u32,
    xvfb: Child,
    session: Option<Child>,
    auth_file: PathBuf,
}

impl VirtualDisplay {
    fn stop(&mut self) {
        if let Some(session) = &mut self.session {
            terminate_group(session, "session");
        }
        if terminate_group(&mut self.xvfb, "Xvfb") == Ended::Killed {
            // Xvfb removes its socket (and lock file, when it made one) on SIGTERM; a killed
            // one cannot, and the display number is ours until Xvfb ended.
            let lock = PathBuf::from(format!("/tmp/.X{}-lock", self.display));
            if lock_owned_by(&lock, self.xvfb.id()) {
                let _ = std::fs::remove_file(&lock);
            }
            let _ = std::fs::remove_file(format!("/tmp/.X11-unix/X{}", self.display));
        }
        let _ = std::fs::remove_file(&self.auth_file);
    }
}

impl Drop for VirtualDisplay {
    fn drop(&mut self) {
        self.stop();
        info!("xvfb :{}: stopped and cleaned up", self.display);
    }
}

/// Whether the X lock file at `path` names process `pid`.
fn lock_owned_by(path: &Path, pid: u32) -> bool {
    std::fs::read_to_string(path).is_ok_and(|text| text.trim().parse::<u32>() == Ok(pid))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    ByItself,
    Terminated,
    Killed,
}

/// SIGTERM to the child's process group (it leads one), SIGKILL after [`TERM_GRACE`].
fn terminate_group(child: &mut Child, what: &str) -> Ended {
    // Even a leader that has ended may leave members behind (a session's background
    // programs), so the group is signalled in any case.
    let ended_before = child.try_wait().ok().flatten().is_some();
    signal_group(child.id(), Signal::TERM);
    if ended_before {
        return Ended::ByItself;
    }
    let deadline = Instant::now() + TERM_GRACE;
    while Instant::now() < deadline {
        if child.try_wait().ok().flatten().is_some() {
            return Ended::Terminated;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    warn!("{what} ignored SIGTERM: killing it");
    signal_group(child.id(), Signal::KILL);
    let _ = child.wait();
    Ended::Killed
}

fn signal_group(pid: u32, signal: Signal) {
    if let Some(pid) = i32::try_from(pid).ok().and_then(Pid::from_raw) {
        let _ = kill_process_group(pid, signal);
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A fresh cookie in an Xauthority file only we can read: one wildcard entry (any address,
/// any display number), so it needs no display number before Xvfb has picked one.
fn write_cookie_file() -> Result<(PathBuf, [u8; 16]), SourceError> {
    let mut cookie = [0u8; 16];
    getrandom::fill(&mut cookie).map_err(|e| error(format!("no random cookie: {e}")))?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let path =
        std::env::temp_dir().join(format!("farview-xvfb-{}-{nanos}.xauth", std::process::id()));
    let mut entry = Vec::new();
    entry.extend_from_slice(&0xffffu16.to_be_bytes()); // FamilyWild
    for field in [&b""[..], b"", b"MIT-MAGIC-COOKIE-1", &cookie] {
        entry.extend_from_slice(&(field.len() as u16).to_be_bytes());
        entry.extend_from_slice(field);
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut file| file.write_all(&entry))
        .map_err(|e| error(format!("{}: {e}", path.display())))?;
    Ok((path, cookie))
}

#[derive(Debug)]
pub struct XvfbSource {
    display: VirtualDisplay,
    x11: X11Source,
}

impl XvfbSource {
    /// Starts Xvfb at `width`x`height` and `session` (a shell command) in it.
    pub fn start(
        width: u16,
        height: u16,
        session: Option<&str>,
    ) -> Result<XvfbSource, SourceError> {
        if width == 0 || height == 0 {
            return Err(error(format!("{width}x{height} is not a screen size")));
        }
        let xvfb_path = find_program("Xvfb")
            .ok_or_else(|| error("Xvfb not found on PATH (Debian package xvfb)"))?;
        let (auth_file, cookie) = write_cookie_file()?;
        let spawned = Command::new(xvfb_path)
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .arg("-auth")
            .arg(&auth_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own group: Ctrl-C reaches only us, and we stop it in order.
            .process_group(0)
            .spawn();
        let mut xvfb = match spawned {
            Ok(child) => child,
            Err(e) => {
                let _ = std::fs::remove_file(&auth_file);
                return Err(error(format!("cannot start Xvfb: {e}")));
            }
        };
        let stdout = xvfb.stdout.take();
        let mut display = VirtualDisplay {
            display: 0,
            xvfb,
            session: None,
            auth_file,
        };
        display.display = read_display_number(stdout, &mut display.xvfb)?;
        let name = format!(":{}", display.display);
        let connection = connect(display.display, &cookie)?;
        let x11 = X11Source::from_connection(name.clone(), connection, 0)?;
        display.session = start_session(&name, &display.auth_file, session)?;
        info!("xvfb {name}: {width}x{height}");
        Ok(XvfbSource { display, x11 })
    }
}

/// Reads the number Xvfb writes once it accepts clients.
fn read_display_number(
    stdout: Option<std::process::ChildStdout>,
    xvfb: &mut Child,
) -> Result<u32, SourceError> {
    let stdout = stdout.ok_or_else(|| error("no pipe from Xvfb"))?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = sender.send(line);
    });
    match receiver.recv_timeout(STARTUP_TIMEOUT) {
        Ok(line) => line.trim().parse().map_err(|_| {
            let status = xvfb.try_wait().ok().flatten();
            error(format!(
                "Xvfb did not start (said {line:?}, exit status {status:?})"
            ))
        }),
        Err(_) => Err(error(format!(
            "Xvfb gave no display number within {STARTUP_TIMEOUT:?}"
        ))),
    }
}

fn connect(display: u32, cookie: &[u8; 16]) -> Result<RustConnection, SourceError> {
    let socket = format!("/tmp/.X11-unix/X{display}");
    let stream = UnixStream::connect(&socket).map_err(|e| error(format!("{socket}: {e}")))?;
    let (stream, _) =
        DefaultStream::from_unix_stream(stream).map_err(|e| error(format!("{socket}: {e}")))?;
    RustConnection::connect_to_stream_with_auth_info(
        stream,
        0,
        b"MIT-MAGIC-COOKIE-1".to_vec(),
        cookie.to_vec(),
    )
    .map_err(|e| error(format!("cannot connect to :{display}: {e}")))
}

/// Starts the session command (or a terminal) in its own process group.
fn start_session(
    display_name: &str,
    auth_file: &Path,
    session: Option<&str>,
) -> Result<Option<Child>, SourceError> {
    let mut command = match session {
        Some(line) => {
            let mut command = Command::new("sh");
            command.arg("-c").arg(line);
            command
        }
        None => match TERMINALS.iter().find_map(|name| find_program(name)) {
            Some(terminal) => Command::new(terminal),
            None => {
                warn!("no terminal installed (tried {TERMINALS:?}): the desktop stays empty");
                return Ok(None);
            }
        },
    };
    let child = command
        .env("DISPLAY", display_name)
        .env("XAUTHORITY", auth_file)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| error(format!("cannot start the session command: {e}")))?;
    info!(
        "session command started in {display_name} (pid {}): {}",
        child.id(),
        session.unwrap_or("a terminal")
    );
    Ok(Some(child))
}

impl Source for XvfbSource {
    fn size(&self) -> (u16, u16) {
        self.x11.size()
    }

    fn name(&self) -> String {
        format!("farview virtual desktop :{}", self.display.display)
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        let XvfbSource { display, x11 } = *self;
        Box::pin(async move {
            // Declared first, so dropped last: the x11 worker cleans up while X still runs.
            let mut display = display;
            let shared = Box::new(x11).run(desktop, input);
            let mut checks = tokio::time::interval(SESSION_CHECK);
            tokio::pin!(shared);
            loop {
                tokio::select! {
                    result = &mut shared => return result,
                    _ = checks.tick() => {
                        let Some(session) = &mut display.session else { continue };
                        if let Ok(Some(status)) = session.try_wait() {
                            info!("the session command ended ({status}): stopping");
                            return Ok(());
                        }
                    }
                }
            }
        })
    }
}
