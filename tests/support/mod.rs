//! Helpers shared by the interop tests: temp dirs, child processes that die with the test, X
//! servers, the farview binary, PNG and XWD images and a pixel-exact comparison.
//!
//! Everything here drives real programs (Xvfb, Xvnc, x11vnc, vncviewer, vncdotool, xwd), so a
//! failure message always carries the stderr of the processes involved.

// Each test crate includes this module and uses only part of it.
#![allow(dead_code)]

pub mod certificate;
pub mod desktop_peers;
pub mod relay;

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write as _};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to come up before the test gives up.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a one-shot helper program (xwd, xwininfo, vncdo, ...) may run.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a viewer window may take to show the expected picture.
pub const VIEWER_TIMEOUT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------------------------
// Tools

/// True under CI, where a missing tool must fail the test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| {
        let value = value.trim();
        !value.is_empty() && value != "0" && !value.eq_ignore_ascii_case("false")
    })
}

/// The full path of an executable found on PATH.
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
        })
}

/// Whether `tool` is installed. Missing: panics under CI, otherwise says so and returns false
/// so the test can return early.
pub fn require(tool: &str) -> bool {
    require_all(&[tool])
}

/// [`require`] for several tools, reporting every missing one at once.
pub fn require_all(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|tool| find_program(tool).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    if in_ci() {
        panic!(
            "not installed: {}; CI must not skip interop tests (.ci/run installs them)",
            missing.join(", ")
        );
    }
    for tool in missing {
        eprintln!("skipping: {tool} not installed");
    }
    false
}

// ---------------------------------------------------------------------------------------------
// Temp dirs

/// A fresh directory under the system temp dir. Removed on drop, unless the test is failing:
/// then it is kept, with the logs and images in it, for inspection.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "farview-{label}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        TempDir { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Writes `content` to a file in the dir and returns its path.
    pub fn write(&self, name: &str, content: &[u8]) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, content)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A background process, stopped on drop (also when the test panics), so no server outlives
/// its test. Its stdout and stderr go to files in the temp dir.
///
/// It stays in the test's process group, so Ctrl-C on `cargo test` ends it too. None of the
/// programs started here leave children of their own behind once they are stopped.
#[derive(Debug)]
pub struct Proc {
    name: String,
    // A RefCell so that status checks work through shared references, e.g. from the
    // context closure of `poll` while the test also uses the process.
    child: RefCell<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    /// Starts `command` with stdin closed.
    pub fn spawn(name: &str, command: &mut Command, dir: &TempDir) -> Proc {
        let stdout = dir.join(&format!("{name}.stdout"));
        let stderr = dir.join(&format!("{name}.stderr"));
        let open = |path: &Path| {
            File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(open(&stdout))
            .stderr(open(&stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Proc {
            name: name.to_string(),
            child: RefCell::new(child),
            stdout,
            stderr,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.borrow().id()
    }

    /// The exit status, if the process has ended.
    pub fn exited(&self) -> Option<ExitStatus> {
        self.child.borrow_mut().try_wait().ok().flatten()
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stdout).unwrap_or_default()).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.stderr).unwrap_or_default()).into_owned()
    }

    /// The output so far, labelled, for failure messages.
    pub fn logs(&self) -> String {
        let status = match self.exited() {
            Some(status) => format!("exited: {status}"),
            None => "running".to_string(),
        };
        let mut text = format!("--- {} (pid {}, {status}) ---\n", self.name, self.pid());
        for (label, content) in [("stdout", self.stdout()), ("stderr", self.stderr())] {
            if !content.trim().is_empty() {
                let _ = writeln!(text, "[{label}]\n{}", tail(&content, 60));
            }
        }
        text
    }

    /// Waits up to `timeout` for the process to end by itself.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to end; `None` if it did not
    /// (the guard still kills it on drop).
    pub fn terminate_and_wait(&self, timeout: Duration) -> Option<ExitStatus> {
        if self.exited().is_none() {
            terminate(self.pid());
        }
        self.wait_exit(timeout)
    }

    /// Ends the process: SIGTERM first so X servers remove their sockets and lock files,
    /// SIGKILL if it lingers.
    pub fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        // Not reaped yet, so the pid cannot have been reused.
        terminate(self.pid());
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let mut child = self.child.borrow_mut();
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Sends SIGTERM, through the shell's `kill` builtin: std only sends SIGKILL without unsafe
/// code, and /bin/kill may not be installed.
fn terminate(pid: u32) {
    let _ = Command::new("sh")
        .args(["-c", "kill -s TERM \"$1\" 2>/dev/null", "sh"])
        .arg(pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Runs a command to completion with a time limit, stdin closed, capturing its output. Panics
/// if it cannot start or overruns.
pub fn run(command: &mut Command, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    // Drain both pipes while waiting, so a chatty program cannot block on a full pipe.
    let out_reader = thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stdout.read_to_end(&mut buffer);
        buffer
    });
    let err_reader = thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = stderr.read_to_end(&mut buffer);
        buffer
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err_reader.join().unwrap_or_default();
            panic!(
                "{command:?} did not finish within {timeout:?}; stderr:\n{}",
                String::from_utf8_lossy(&stderr)
            );
        }
        thread::sleep(Duration::from_millis(10));
    };
    Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// [`run`], and panics unless the command succeeds.
pub fn run_ok(command: &mut Command, timeout: Duration) -> Output {
    let output = run(command, timeout);
    if !output.status.success() {
        panic!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

/// Calls `attempt` every `interval` until it returns `Ok`, or panics after `timeout` with the
/// last error and whatever `context` adds (typically process logs).
pub fn poll<T>(
    what: &str,
    timeout: Duration,
    interval: Duration,
    mut attempt: impl FnMut() -> Result<T, String>,
    context: impl FnOnce() -> String,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        match attempt() {
            Ok(value) => return value,
            Err(error) if Instant::now() >= deadline => {
                panic!(
                    "{what}: not done within {timeout:?}; last attempt: {error}\n{}",
                    context()
                );
            }
            Err(_) => thread::sleep(interval),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Network

/// A loopback port that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("cannot bind a loopback port")
}

/// Waits until an RFB server answers on `port`: it must send its "RFB xxx.yyy" version first.
/// Reading the banner, rather than just connecting, proves it is our server on that port and
/// closes the probe politely. `Err` if the process ends first (the caller may retry on another
/// port) or the time runs out.
pub fn wait_for_rfb(port: u16, process: &Proc, timeout: Duration) -> Result<(), String> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = process.exited() {
            return Err(format!(
                "{} exited ({status}) before listening",
                process.name()
            ));
        }
        match read_banner(&addr) {
            Ok(banner) if banner.starts_with(b"RFB ") => return Ok(()),
            Ok(banner) => {
                return Err(format!(
                    "port {port} answers {:?}, not RFB",
                    String::from_utf8_lossy(&banner)
                ));
            }
            Err(error) if Instant::now() >= deadline => {
                return Err(format!(
                    "no RFB server on port {port} after {timeout:?}: {error}"
                ));
            }
            Err(_) => {}
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// The 12-byte ProtocolVersion message an RFB server sends on connect.
fn read_banner(addr: &SocketAddr) -> std::io::Result<[u8; 12]> {
    let mut stream = TcpStream::connect_timeout(addr, Duration::from_millis(500))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut banner = [0; 12];
    stream.read_exact(&mut banner)?;
    Ok(banner)
}

/// Starts a server made by `command(port)` on a free port and waits until it listens.
/// Retries on a new port if the server dies early, as it does when another test took the port.
pub fn spawn_listening(
    name: &str,
    dir: &TempDir,
    mut command: impl FnMut(u16) -> Command,
) -> (Proc, u16) {
    const ATTEMPTS: usize = 3;
    for attempt in 1..=ATTEMPTS {
        let port = free_port();
        let process = Proc::spawn(name, &mut command(port), dir);
        match wait_for_rfb(port, &process, STARTUP_TIMEOUT) {
            Ok(()) => return (process, port),
            Err(error) if attempt == ATTEMPTS => {
                panic!("{name} did not start: {error}\n{}", process.logs())
            }
            Err(error) => eprintln!("{name} on port {port}: {error}; retrying"),
        }
    }
    unreachable!("the last attempt panics")
}

/// x11vnc options for deterministic pixels: no cursor drawn into the framebuffer, no damage,
/// wireframe or scroll heuristics, no bell or selection: just the polled screen, so that
/// what viewers get can be compared with `xwd`.
pub const X11VNC_PLAIN_SCREEN: [&str; 6] = [
    "-nocursor",
    "-noxdamage",
    "-nowf",
    "-noscr",
    "-nobell",
    "-nosel",
];

/// x11vnc sharing `x`'s display on a free loopback port, with `password` or none, showing
/// the plain screen ([`X11VNC_PLAIN_SCREEN`]).
pub fn spawn_x11vnc(dir: &TempDir, x: &XServer, password: Option<&str>) -> (Proc, u16) {
    spawn_listening("x11vnc", dir, |port| {
        let mut command = x.client("x11vnc");
        command
            .args(["-display", &x.name(), "-rfbport", &port.to_string()])
            .args(["-localhost", "-forever", "-shared", "-norc"])
            .args(X11VNC_PLAIN_SCREEN);
        match password {
            Some(password) => command.args(["-passwd", password]),
            None => command.arg("-nopw"),
        };
        command
    })
}

// ---------------------------------------------------------------------------------------------
// Forcing encodings on viewers that have no option for it

/// A one-connection relay between a viewer and an RFB server on loopback that replaces every
/// SetEncodings list the viewer sends with `forced`, so that viewers without an encoding
/// option (gtk-vnc's) decode what a test chooses. Everything else passes unchanged.
///
/// It follows the viewer's side of the protocol: RFB 3.7/3.8 with security None, or 3.3 with
/// None, then the core client messages. Anything else (another security type, an extension
/// message) ends the relay with a note; dropping the viewer's pseudo-encodings keeps the
/// server from enabling extensions, so a viewer has no cause to send any.
#[derive(Debug)]
pub struct EncodingFilter {
    pub port: u16,
    notes: Arc<Mutex<Vec<String>>>,
}

impl EncodingFilter {
    /// Listens on a free loopback port for one viewer, for as long as a test may take.
    pub fn start(server_port: u16, forced: &[i32]) -> EncodingFilter {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("cannot bind a loopback port");
        let port = listener.local_addr().expect("a bound address").port();
        let notes = Arc::new(Mutex::new(Vec::new()));
        let forced = forced.to_vec();
        let relay_notes = Arc::clone(&notes);
        thread::spawn(move || {
            let note = |text: String| {
                relay_notes
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .push(text);
            };
            let result =
                accept_within(&listener, STARTUP_TIMEOUT + COMMAND_TIMEOUT).and_then(|viewer| {
                    let server = TcpStream::connect((Ipv4Addr::LOCALHOST, server_port))?;
                    let mut to_viewer = viewer.try_clone()?;
                    let mut from_server = server.try_clone()?;
                    thread::spawn(move || {
                        let _ = std::io::copy(&mut from_server, &mut to_viewer);
                        let _ = to_viewer.shutdown(Shutdown::Write);
                    });
                    relay_viewer(viewer, server, &forced, &note)
                });
            if let Err(error) = result {
                note(format!("relay ended: {error}"));
            }
        });
        EncodingFilter { port, notes }
    }

    /// What the relay saw: the lists it replaced, and how it ended if not cleanly.
    pub fn notes(&self) -> String {
        self.notes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .join("\n")
    }
}

/// Accepts one connection on `listener`, giving up after `timeout`.
fn accept_within(listener: &TcpListener, timeout: Duration) -> std::io::Result<TcpStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + timeout;
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "no viewer connected",
                    ));
                }
                thread::sleep(Duration::from_millis(20));
            }
            Err(error) => return Err(error),
        }
    }
}

/// Reads `count` bytes from the viewer and sends them on to the server.
fn relay_bytes(
    viewer: &mut TcpStream,
    server: &mut TcpStream,
    count: usize,
) -> std::io::Result<Vec<u8>> {
    let mut bytes = vec![0; count];
    viewer.read_exact(&mut bytes)?;
    server.write_all(&bytes)?;
    Ok(bytes)
}

/// Copies the viewer's bytes to the server, message by message, rewriting SetEncodings.
fn relay_viewer(
    mut viewer: TcpStream,
    mut server: TcpStream,
    forced: &[i32],
    note: &dyn Fn(String),
) -> std::io::Result<()> {
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let (viewer, server) = (&mut viewer, &mut server);
    let version = relay_bytes(viewer, server, 12)?;
    if version != b"RFB 003.003\n" {
        // RFB 3.7 and 3.8: the viewer picks the security type.
        let security = relay_bytes(viewer, server, 1)?;
        if security[0] != 1 {
            return Err(invalid(format!(
                "security type {} (only None is relayed)",
                security[0]
            )));
        }
    }
    relay_bytes(viewer, server, 1)?; // ClientInit
    loop {
        let mut kind = [0u8; 1];
        if viewer.read(&mut kind)? == 0 {
            let _ = server.shutdown(Shutdown::Write);
            return Ok(());
        }
        let rest = match kind[0] {
            2 => {
                let mut header = [0u8; 3];
                viewer.read_exact(&mut header)?;
                let count = usize::from(u16::from_be_bytes([header[1], header[2]]));
                let mut list = vec![0u8; count * 4];
                viewer.read_exact(&mut list)?;
                let offered: Vec<String> = list
                    .chunks_exact(4)
                    .map(|e| i32::from_be_bytes([e[0], e[1], e[2], e[3]]).to_string())
                    .collect();
                note(format!(
                    "SetEncodings [{}] replaced by {forced:?}",
                    offered.join(", ")
                ));
                let mut message = vec![2, 0];
                message.extend_from_slice(&(forced.len() as u16).to_be_bytes());
                for encoding in forced {
                    message.extend_from_slice(&encoding.to_be_bytes());
                }
                server.write_all(&message)?;
                continue;
            }
            0 => 19, // SetPixelFormat
            3 => 9,  // FramebufferUpdateRequest
            4 => 7,  // KeyEvent
            5 => 5,  // PointerEvent
            6 => 7,  // ClientCutText: padding and length, then the text
            other => {
                return Err(invalid(format!(
                    "client message type {other} is not relayed"
                )));
            }
        };
        server.write_all(&kind)?;
        let fields = relay_bytes(viewer, server, rest)?;
        if kind[0] == 6 {
            let length = u32::from_be_bytes([fields[3], fields[4], fields[5], fields[6]]);
            relay_bytes(viewer, server, length as usize)?;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// farview

pub fn farview() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_farview"));
    // Without DISPLAY `serve` defaults to the demo, whatever desktop the tests run in; tests
    // that share an X display say so with --source.
    command.env("FARVIEW_LOG", "info").env_remove("DISPLAY");
    // Never the user's own config directory (TLS certificates, known servers): a folder of
    // this test process, created only if something is written there.
    let config = std::env::temp_dir().join(format!("farview-test-config-{}", std::process::id()));
    command.env("XDG_CONFIG_HOME", config);
    command
}

/// A folder of PNG frames under tests/fixtures.
pub fn fixture(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    assert!(path.is_dir(), "missing fixture folder {}", path.display());
    path
}

/// Frame `index` of a fixture folder.
pub fn fixture_frame(name: &str, index: usize) -> Image {
    Image::read_png(&fixture(name).join(format!("frame-{index:05}.png")))
}

/// The loopback port a farview process says it listens on, in a log line containing
/// `marker` and then `127.0.0.1:PORT` (it was started with port 0, so that two tests can
/// never race for one port).
pub fn logged_port(process: &Proc, marker: &str) -> u16 {
    poll(
        &format!("{} to log its port", process.name()),
        STARTUP_TIMEOUT,
        Duration::from_millis(20),
        || {
            if let Some(status) = process.exited() {
                return Ok(Err(format!("{} exited ({status})", process.name())));
            }
            let log = process.stderr();
            let port = log
                .lines()
                .filter(|line| line.contains(marker))
                .find_map(|line| line.rsplit_once(" on 127.0.0.1:"))
                .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<u16>().ok());
            port.map(Ok).ok_or_else(|| "not yet".to_string())
        },
        String::new,
    )
    .unwrap_or_else(|e: String| panic!("{e}\n{}", process.logs()))
}

/// `farview serve` with the replay source, on a free loopback port.
#[derive(Debug)]
pub struct FarviewServer {
    pub process: Proc,
    pub port: u16,
}

impl FarviewServer {
    pub fn replay(dir: &TempDir, frames: &Path, password: Option<&str>, extra: &[&str]) -> Self {
        Self::replay_logging(dir, frames, password, extra, "info")
    }

    /// [`FarviewServer::replay`] with debug logs: each viewer's SetEncodings list and one
    /// line per update with the encodings it used (read them with [`ServerLog`]).
    pub fn replay_debug(
        dir: &TempDir,
        frames: &Path,
        password: Option<&str>,
        extra: &[&str],
    ) -> Self {
        Self::replay_logging(dir, frames, password, extra, "debug")
    }

    /// `farview serve --source SOURCE` with `extra` arguments, logging at `log_filter`. It
    /// listens on a port the system picks (`--listen 127.0.0.1:0`) and the port is read from
    /// its log, so two tests can never race for one port.
    pub fn with_source(dir: &TempDir, source: &str, extra: &[&str], log_filter: &str) -> Self {
        let mut command = farview();
        command
            .env("FARVIEW_LOG", log_filter)
            .args(["serve", "--listen", "127.0.0.1:0", "--source", source])
            .args(extra);
        let process = Proc::spawn("farview-serve", &mut command, dir);
        let port = logged_port(&process, "serving ");
        if let Err(error) = wait_for_rfb(port, &process, STARTUP_TIMEOUT) {
            panic!("farview serve: {error}\n{}", process.logs());
        }
        FarviewServer { process, port }
    }

    /// `farview serve --source x11:N`, sharing `x`.
    pub fn x11(dir: &TempDir, x: &XServer) -> Self {
        Self::with_source(dir, &format!("x11:{}", x.name()), &[], "debug")
    }

    fn replay_logging(
        dir: &TempDir,
        frames: &Path,
        password: Option<&str>,
        extra: &[&str],
        log_filter: &str,
    ) -> Self {
        let password_file =
            password.map(|password| dir.write("serve-password.txt", password.as_bytes()));
        let (process, port) = spawn_listening("farview-serve", dir, |port| {
            let mut command = farview();
            command
                .env("FARVIEW_LOG", log_filter)
                .arg("serve")
                .arg("--listen")
                .arg(format!("127.0.0.1:{port}"))
                .arg("--source")
                .arg(format!("replay:{}", frames.display()))
                .args(extra);
            if let Some(file) = &password_file {
                command.arg("--password-file").arg(file);
            }
            command
        });
        FarviewServer { process, port }
    }

    /// The VNC target for `port`, as viewers spell it.
    pub fn target(&self) -> String {
        format!("127.0.0.1::{}", self.port)
    }

    /// The server's log so far (needs [`FarviewServer::replay_debug`] for the details).
    pub fn log(&self) -> ServerLog {
        ServerLog(self.process.stderr())
    }
}

/// What a `farview serve` log says about its viewers. With debug logs, the session logs
/// `viewer N: encodings a, b, c` for each SetEncodings and, per FramebufferUpdate,
/// `viewer N: update: B bytes, R rects, P px [name=rects/pixels px/bytes B ...]` (or
/// `viewer N: lossless refresh update: ...` for the lossless resend of JPEG areas).
#[derive(Debug, Clone)]
pub struct ServerLog(pub String);

impl ServerLog {
    /// The ids of the viewers that completed the handshake, in order.
    pub fn viewers(&self) -> Vec<u64> {
        self.0
            .lines()
            .filter(|line| line.contains(") connected ("))
            .filter_map(|line| {
                let rest = &line[line.find("viewer ")? + "viewer ".len()..];
                rest.split_whitespace().next()?.parse().ok()
            })
            .collect()
    }

    /// The id of the last viewer that connected.
    pub fn last_viewer(&self) -> Option<u64> {
        self.viewers().last().copied()
    }

    /// Panics unless the server sent viewer `id` (none: no viewer was logged) each of
    /// `must_use`, by the encoding names its log uses; `context` goes into the message.
    pub fn assert_sent(&self, id: Option<u64>, label: &str, must_use: &[&str], context: &str) {
        let sent = id.map(|id| self.sent(id)).unwrap_or_default();
        let missing: Vec<&&str> = must_use
            .iter()
            .filter(|name| !sent.iter().any(|s| s == *name))
            .collect();
        assert!(
            missing.is_empty(),
            "{label}: the server never sent {missing:?}; it sent {sent:?}\n\
             the viewer's encodings: {}\n{}",
            id.and_then(|id| self.offered(id)).unwrap_or_default(),
            context
        );
    }

    /// The log lines of viewer `id`.
    pub fn lines_of(&self, id: u64) -> Vec<&str> {
        let tags = [format!("viewer {id}: "), format!("viewer {id} (")];
        self.0
            .lines()
            .filter(|line| tags.iter().any(|tag| line.contains(tag.as_str())))
            .collect()
    }

    /// The protocol version viewer `id` connected with, e.g. "3.3".
    pub fn protocol(&self, id: u64) -> Option<String> {
        self.lines_of(id).iter().find_map(|line| {
            let rest = &line[line.find(", protocol ")? + ", protocol ".len()..];
            Some(rest.trim_end_matches(')').trim().to_string())
        })
    }

    /// Viewer `id`'s last SetEncodings list, as the server names them.
    pub fn offered(&self, id: u64) -> Option<String> {
        self.lines_of(id).iter().rev().find_map(|line| {
            let rest = &line[line.find(": encodings ")? + ": encodings ".len()..];
            Some(rest.trim().to_string())
        })
    }

    /// The encodings of all updates sent to viewer `id` (CopyRect included), each once, in
    /// the order first used.
    pub fn sent(&self, id: u64) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for line in self.lines_of(id) {
            if !line.contains("update: ") {
                continue;
            }
            let Some(inside) = line
                .rsplit_once('[')
                .and_then(|(_, rest)| rest.split_once(']'))
                .map(|(inside, _)| inside)
            else {
                continue;
            };
            for entry in inside.split_whitespace() {
                if let Some((name, _)) = entry.split_once('=')
                    && !names.iter().any(|known| known == name)
                {
                    names.push(name.to_string());
                }
            }
        }
        names
    }

    /// How many lossless refreshes (of areas sent as JPEG before) viewer `id` was sent.
    pub fn lossless_refreshes(&self, id: u64) -> usize {
        self.lines_of(id)
            .iter()
            .filter(|line| line.contains("lossless refresh update: "))
            .count()
    }

    /// Viewer `id`'s update lines, for failure messages.
    pub fn updates(&self, id: u64) -> String {
        self.lines_of(id)
            .iter()
            .filter(|line| line.contains("update: ") || line.contains(": encodings "))
            .copied()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// What `farview view --headless` ended with.
#[derive(Debug)]
pub struct ViewResult {
    pub output: Output,
    pub snapshot: Option<Image>,
    /// Lines of the viewer's frame log: one per complete update.
    pub updates: usize,
}

impl ViewResult {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs `farview view TARGET --headless` for `seconds`, with a snapshot and a frame log.
pub fn view_headless(
    dir: &TempDir,
    label: &str,
    target: &str,
    password: Option<&str>,
    seconds: f64,
) -> ViewResult {
    view_headless_with(dir, label, target, password, seconds, &[])
}

/// Like [`view_headless`], with extra `farview view` arguments (e.g. `--encodings hextile`).
pub fn view_headless_with(
    dir: &TempDir,
    label: &str,
    target: &str,
    password: Option<&str>,
    seconds: f64,
    extra: &[&str],
) -> ViewResult {
    let snapshot = dir.join(&format!("{label}-snapshot.png"));
    let frame_log = dir.join(&format!("{label}-updates.jsonl"));
    let _ = std::fs::remove_file(&snapshot);
    let mut command = farview();
    command
        .args(["view", target, "--headless", "--snapshot"])
        .arg(&snapshot)
        .arg("--frame-log")
        .arg(&frame_log)
        .arg("--exit-after")
        .arg(seconds.to_string())
        .args(extra);
    if let Some(password) = password {
        let file = dir.write(&format!("{label}-password.txt"), password.as_bytes());
        command.arg("--password-file").arg(file);
    }
    let output = run(
        &mut command,
        Duration::from_secs_f64(seconds) + COMMAND_TIMEOUT,
    );
    let updates = std::fs::read_to_string(&frame_log)
        .map(|log| {
            log.lines()
                .filter(|line| line.contains("\"update\""))
                .count()
        })
        .unwrap_or(0);
    ViewResult {
        snapshot: (output.status.success() && snapshot.exists())
            .then(|| Image::read_png(&snapshot)),
        output,
        updates,
    }
}

/// Writes a password file in the DES-obfuscated format of TigerVNC (`vncpasswd -f`).
pub fn vnc_password_file(dir: &TempDir, password: &str) -> PathBuf {
    let plain = dir.write("vncpasswd-plain.txt", format!("{password}\n").as_bytes());
    // `vncpasswd -f` reads the password from stdin; `run` closes stdin, so redirect in a shell.
    let output = run_ok(
        Command::new("sh")
            .args(["-c", "exec vncpasswd -f < \"$1\"", "sh"])
            .arg(&plain),
        COMMAND_TIMEOUT,
    );
    assert_eq!(
        output.stdout.len(),
        8,
        "vncpasswd -f should write 8 bytes, wrote {}",
        output.stdout.len()
    );
    dir.write("vncpasswd.bin", &output.stdout)
}

// ---------------------------------------------------------------------------------------------
// X servers

/// An X server (Xvfb or Xvnc) on a display number it chose itself (-displayfd), killed on drop.
#[derive(Debug)]
pub struct XServer {
    pub process: Proc,
    pub display: u32,
}

impl XServer {
    /// Xvfb with one WxHx24 screen.
    pub fn xvfb(dir: &TempDir, width: u32, height: u32) -> XServer {
        XServer::xvfb_with(dir, width, height, &[])
    }

    /// Xvfb with extra options, e.g. `-extension DAMAGE` to run without an extension.
    pub fn xvfb_with(dir: &TempDir, width: u32, height: u32, extra: &[&str]) -> XServer {
        let mut command = Command::new("Xvfb");
        command
            .args(["-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .args(extra);
        XServer::start("Xvfb", dir, command)
    }

    /// TigerVNC's Xvnc at WxH, depth 24, serving RFB on `port` (loopback only) with the given
    /// extra options (security types, password file).
    pub fn xvnc(dir: &TempDir, width: u32, height: u32, port: u16, extra: &[&str]) -> XServer {
        let mut command = Command::new("Xvnc");
        command
            .arg("-geometry")
            .arg(format!("{width}x{height}"))
            .args(["-depth", "24", "-localhost", "-rfbport"])
            .arg(port.to_string())
            .args(extra);
        XServer::start("Xvnc", dir, command)
    }

    /// Starts an X server with `-displayfd 1`: it writes its display number to stdout (a file
    /// here) once it accepts clients.
    fn start(name: &str, dir: &TempDir, mut command: Command) -> XServer {
        command.args(["-displayfd", "1", "-noreset", "-nolisten", "tcp"]);
        let process = Proc::spawn(name, &mut command, dir);
        let display = poll(
            &format!("{name} display number"),
            STARTUP_TIMEOUT,
            Duration::from_millis(20),
            || {
                if let Some(status) = process.exited() {
                    return Ok(Err(format!("{name} exited ({status})")));
                }
                let text = process.stdout();
                match text
                    .strip_suffix('\n')
                    .map(|line| line.trim().parse::<u32>())
                {
                    Some(Ok(display)) => Ok(Ok(display)),
                    _ => Err(format!("stdout so far: {text:?}")),
                }
            },
            String::new,
        );
        match display {
            Ok(display) => XServer { process, display },
            Err(error) => panic!("{error}\n{}", process.logs()),
        }
    }

    /// The display name, ":N".
    pub fn name(&self) -> String {
        format!(":{}", self.display)
    }

    /// An X client command aimed at this display.
    pub fn client(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command.env("DISPLAY", self.name());
        command
    }

    /// The whole screen, read by `xwd -root`.
    pub fn xwd(&self) -> Image {
        let output = run_ok(
            self.client("xwd")
                .args(["-root", "-silent", "-display"])
                .arg(self.name()),
            COMMAND_TIMEOUT,
        );
        parse_xwd(&output.stdout).unwrap_or_else(|e| panic!("xwd of {}: {e}", self.name()))
    }

    /// Top-level windows whose line in `xwininfo -root -children` contains `pattern`, as
    /// (x, y, width, height) in root coordinates.
    pub fn find_windows(&self, pattern: &str) -> Vec<(u32, u32, u32, u32)> {
        let output = run_ok(
            self.client("xwininfo")
                .args(["-root", "-children", "-display"])
                .arg(self.name()),
            COMMAND_TIMEOUT,
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|line| line.contains(pattern))
            .filter_map(parse_xwininfo_child)
            .collect()
    }

    /// Whether the first window whose `xwininfo` line contains `pattern` shows `expected`
    /// pixel for pixel, at any offset inside the window (viewers put menus and borders around
    /// the remote screen). `Err` says why not, with the window's best-matching area if there
    /// is one (the offset where the most rows match), for the mismatch images.
    pub fn window_shows(
        &self,
        pattern: &str,
        expected: &Image,
    ) -> Result<(), (String, Option<Image>)> {
        let windows = self.find_windows(pattern);
        let Some(&(wx, wy, ww, wh)) = windows.first() else {
            return Err((format!("no window matching {pattern:?} yet"), None));
        };
        if ww < expected.width || wh < expected.height {
            return Err((
                format!(
                    "window {ww}x{wh} at {wx},{wy} is smaller than the {}x{} frame",
                    expected.width, expected.height
                ),
                None,
            ));
        }
        let screen = self.xwd();
        let Some(window) = screen.crop(wx, wy, ww, wh) else {
            return Err((
                format!("window at {wx},{wy} is partly off the screen"),
                None,
            ));
        };
        let (offset, rows) = window.best_offset(expected);
        let shown = window
            .crop(offset.0, offset.1, expected.width, expected.height)
            .expect("the offset keeps the frame inside the window");
        if rows == expected.height {
            return Ok(());
        }
        let difference = image_difference(expected, &shown).unwrap_or_default();
        Err((
            format!(
                "best match at {},{} inside the window at {wx},{wy}: {difference}",
                offset.0, offset.1
            ),
            Some(shown),
        ))
    }

    /// Polls [`XServer::window_shows`] until the window shows `expected`; panics after
    /// [`VIEWER_TIMEOUT`] with the mismatch images saved as `label-*.png` and `context()`
    /// (logs). Fails at once if `viewer` exits.
    pub fn wait_for_window(
        &self,
        dir: &TempDir,
        label: &str,
        pattern: &str,
        expected: &Image,
        viewer: &Proc,
        context: impl Fn() -> String,
    ) {
        let timeout = VIEWER_TIMEOUT;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = viewer.exited() {
                panic!(
                    "{label}: {} exited ({status})\n{}",
                    viewer.name(),
                    context()
                );
            }
            let (error, shown) = match self.window_shows(pattern, expected) {
                Ok(()) => return,
                Err(failure) => failure,
            };
            if Instant::now() >= deadline {
                let saved = shown
                    .map(|shown| save_mismatch(dir, label, expected, &shown))
                    .unwrap_or_default();
                panic!(
                    "{label}: the window never showed the frame within {timeout:?}: {error}\n{saved}\n{}",
                    context()
                );
            }
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until no window matches `pattern` (a viewer that was stopped has gone).
    pub fn wait_no_window(&self, pattern: &str) {
        poll(
            &format!("no window matching {pattern:?} on {}", self.name()),
            STARTUP_TIMEOUT,
            Duration::from_millis(50),
            || {
                if self.find_windows(pattern).is_empty() {
                    Ok(())
                } else {
                    Err("still there".to_string())
                }
            },
            String::new,
        );
    }

    /// Waits until two `xwd` dumps a moment apart are equal, and returns the screen.
    pub fn wait_static(&self) -> Image {
        let mut previous = self.xwd();
        poll(
            &format!("a static screen on {}", self.name()),
            STARTUP_TIMEOUT,
            Duration::from_millis(250),
            || {
                let current = self.xwd();
                let same = current == previous;
                previous = current;
                if same {
                    Ok(previous.clone())
                } else {
                    Err("the screen is still changing".to_string())
                }
            },
            String::new,
        )
    }

    /// Paints the root window a solid colour and gives it an invisible cursor, so a server
    /// that draws the cursor into the framebuffer (for viewers without cursor encodings)
    /// matches `xwd`, which never shows the cursor.
    pub fn plain_root(&self, dir: &TempDir, colour: &str) {
        let blank = dir.write(
            "blank-cursor.xbm",
            b"#define blank_width 1\n#define blank_height 1\n\
              #define blank_x_hot 0\n#define blank_y_hot 0\n\
              static char blank_bits[] = {\n   0x00};\n",
        );
        run_ok(
            self.client("xsetroot")
                .args(["-display", &self.name(), "-solid", colour, "-cursor"])
                .arg(&blank)
                .arg(&blank),
            COMMAND_TIMEOUT,
        );
    }

    /// A plain root of `root` ([`XServer::plain_root`]) with one black-on-white xterm at
    /// `geometry` showing `text`: a small desktop to compare with `xwd`.
    pub fn xterm_desktop(
        &self,
        dir: &TempDir,
        root: &str,
        title: &str,
        geometry: &str,
        text: &str,
    ) -> Proc {
        self.plain_root(dir, root);
        self.show_xterm(dir, title, geometry, ("black", "white"), text)
    }

    /// An xterm showing `text`, kept open after the command ends (-hold) so nothing is left
    /// running in it; waits until its window is mapped.
    pub fn show_xterm(
        &self,
        dir: &TempDir,
        title: &str,
        geometry: &str,
        colours: (&str, &str),
        text: &str,
    ) -> Proc {
        let mut command = self.client("xterm");
        command
            .args([
                "-display",
                &self.name(),
                "-title",
                title,
                "-geometry",
                geometry,
            ])
            .args(["-fn", "fixed", "-fg", colours.0, "-bg", colours.1])
            .args(["-hold", "-e", "printf", "%s", text]);
        let xterm = Proc::spawn(&format!("xterm-{title}"), &mut command, dir);
        poll(
            &format!("xterm {title} mapped"),
            STARTUP_TIMEOUT,
            Duration::from_millis(100),
            || {
                if let Some(status) = xterm.exited() {
                    return Ok(Err(format!("xterm exited ({status})")));
                }
                if self.find_windows(&format!("\"{title}\"")).is_empty() {
                    Err("no window yet".to_string())
                } else {
                    Ok(Ok(()))
                }
            },
            String::new,
        )
        .unwrap_or_else(|e: String| panic!("{e}\n{}", xterm.logs()));
        xterm
    }
}

/// Parses a child line of `xwininfo -root -children`, which ends in
/// `WxH+X+Y  +ABSX+ABSY`; the window name before it may hold spaces.
fn parse_xwininfo_child(line: &str) -> Option<(u32, u32, u32, u32)> {
    let mut tokens = line.split_whitespace().rev();
    let absolute = tokens.next()?;
    let geometry = tokens.next()?;
    let (size, _) = geometry.split_once('+')?;
    let (width, height) = size.split_once('x')?;
    let mut position = absolute.strip_prefix('+')?.split('+');
    let x = position.next()?.parse().ok()?;
    let y = position.next()?.parse().ok()?;
    Some((x, y, width.parse().ok()?, height.parse().ok()?))
}

// ---------------------------------------------------------------------------------------------
// Images

/// An 8-bit RGB picture, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Image({}x{})", self.width, self.height)
    }
}

impl Image {
    /// Reads a PNG of any 8-bit colour type as RGB (alpha dropped, grey expanded).
    pub fn read_png(path: &Path) -> Image {
        let fail = |e: &dyn std::fmt::Display| -> ! { panic!("PNG {}: {e}", path.display()) };
        let file = File::open(path).unwrap_or_else(|e| fail(&e));
        let mut decoder = png::Decoder::new(BufReader::new(file));
        decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
        let mut reader = decoder.read_info().unwrap_or_else(|e| fail(&e));
        let size = reader
            .output_buffer_size()
            .unwrap_or_else(|| fail(&"image too large"));
        let mut buffer = vec![0; size];
        let info = reader.next_frame(&mut buffer).unwrap_or_else(|e| fail(&e));
        let data = &buffer[..info.buffer_size()];
        let rgb: Vec<u8> = match info.color_type {
            png::ColorType::Rgb => data.to_vec(),
            png::ColorType::Rgba => data
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect(),
            png::ColorType::Grayscale => data.iter().flat_map(|&g| [g, g, g]).collect(),
            png::ColorType::GrayscaleAlpha => data
                .chunks_exact(2)
                .flat_map(|p| [p[0], p[0], p[0]])
                .collect(),
            other => fail(&format!("unexpected colour type {other:?} after expansion")),
        };
        Image {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    pub fn write_png(&self, path: &Path) {
        let file =
            File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
        let mut encoder = png::Encoder::new(BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("PNG header");
        writer.write_image_data(&self.rgb).expect("PNG data");
        writer.finish().expect("PNG end");
    }

    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let at = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]
    }

    /// The `width`x`height` area at (x, y); `None` if it does not fit.
    pub fn crop(&self, x: u32, y: u32, width: u32, height: u32) -> Option<Image> {
        if x.checked_add(width)? > self.width || y.checked_add(height)? > self.height {
            return None;
        }
        let row = self.width as usize * 3;
        let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
        for line in y..y + height {
            let start = line as usize * row + x as usize * 3;
            rgb.extend_from_slice(&self.rgb[start..start + width as usize * 3]);
        }
        Some(Image { width, height, rgb })
    }

    /// Where `inner` fits best inside this picture: the offset with the most rows equal to
    /// `inner`'s, and that count (`inner.height` for an exact match). `inner` must fit.
    pub fn best_offset(&self, inner: &Image) -> ((u32, u32), u32) {
        let row_bytes = inner.width as usize * 3;
        let mut best = ((0, 0), 0);
        for dy in 0..=self.height.saturating_sub(inner.height) {
            for dx in 0..=self.width.saturating_sub(inner.width) {
                let rows = (0..inner.height)
                    .filter(|&row| {
                        let at = ((dy + row) as usize * self.width as usize + dx as usize) * 3;
                        let inner_at = row as usize * row_bytes;
                        self.rgb[at..at + row_bytes] == inner.rgb[inner_at..inner_at + row_bytes]
                    })
                    .count() as u32;
                if rows > best.1 {
                    best = ((dx, dy), rows);
                    if rows == inner.height {
                        return best;
                    }
                }
            }
        }
        best
    }

    /// Writes the picture as a binary PPM (P6), the input format of `cjpeg`.
    pub fn write_ppm(&self, path: &Path) {
        let mut data = format!("P6\n{} {}\n255\n", self.width, self.height).into_bytes();
        data.extend_from_slice(&self.rgb);
        std::fs::write(path, data)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }

    /// Parses a binary PPM (P6, maxval 255), as `djpeg -pnm` writes for colour JPEGs.
    pub fn parse_ppm(data: &[u8]) -> Result<Image, String> {
        // Header: magic, width, height, maxval, separated by whitespace (no comments from
        // djpeg), then one whitespace byte and the pixels.
        let mut fields = Vec::new();
        let mut at = 0;
        while fields.len() < 4 {
            while at < data.len() && data[at].is_ascii_whitespace() {
                at += 1;
            }
            let start = at;
            while at < data.len() && !data[at].is_ascii_whitespace() {
                at += 1;
            }
            if start == at {
                return Err("PPM header truncated".to_string());
            }
            fields.push(String::from_utf8_lossy(&data[start..at]).into_owned());
        }
        at += 1;
        let number = |index: usize| {
            fields[index]
                .parse::<u32>()
                .map_err(|e| format!("PPM field {:?}: {e}", fields[index]))
        };
        if fields[0] != "P6" || number(3)? != 255 {
            return Err(format!(
                "not an 8-bit P6 PPM: {} maxval {}",
                fields[0], fields[3]
            ));
        }
        let (width, height) = (number(1)?, number(2)?);
        let size = width as usize * height as usize * 3;
        let rgb = data
            .get(at..at + size)
            .ok_or_else(|| format!("PPM truncated: {}x{} needs {size} bytes", width, height))?
            .to_vec();
        Ok(Image { width, height, rgb })
    }

    /// SHA-256 of the picture as RGBA with alpha 255, in hex: the hash of the frame logs.
    pub fn rgba_sha256(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for pixel in self.rgb.chunks_exact(3) {
            hasher.update([pixel[0], pixel[1], pixel[2], 255]);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// How many different colours the picture holds (to check that something was drawn).
    pub fn colour_count(&self) -> usize {
        let mut colours: Vec<[u8; 3]> = self
            .rgb
            .chunks_exact(3)
            .map(|p| [p[0], p[1], p[2]])
            .collect();
        colours.sort_unstable();
        colours.dedup();
        colours.len()
    }
}

/// `None` if the pictures are equal, else a description: the size difference, or the count of
/// differing pixels and the first few of them.
pub fn image_difference(expected: &Image, actual: &Image) -> Option<String> {
    if (expected.width, expected.height) != (actual.width, actual.height) {
        return Some(format!(
            "size differs: expected {}x{}, got {}x{}",
            expected.width, expected.height, actual.width, actual.height
        ));
    }
    if expected.rgb == actual.rgb {
        return None;
    }
    let differing: Vec<(u32, u32)> = expected
        .rgb
        .chunks_exact(3)
        .zip(actual.rgb.chunks_exact(3))
        .enumerate()
        .filter(|(_, (a, b))| a != b)
        .map(|(index, _)| {
            let index = index as u32;
            (index % expected.width, index / expected.width)
        })
        .collect();
    let mut text = format!(
        "{} of {} pixels differ; first:",
        differing.len(),
        expected.width * expected.height
    );
    for &(x, y) in differing.iter().take(8) {
        let _ = write!(
            text,
            " ({x},{y}) expected {:02x?} got {:02x?};",
            expected.pixel(x, y),
            actual.pixel(x, y)
        );
    }
    Some(text)
}

/// Panics unless the pictures are pixel-exact equal, after writing both (and a mask of the
/// differing pixels, in red) into the temp dir as `<label>-expected.png` and so on.
pub fn assert_same_image(
    dir: &TempDir,
    label: &str,
    expected: &Image,
    actual: &Image,
    context: &str,
) {
    if let Some(difference) = image_difference(expected, actual) {
        let saved = save_mismatch(dir, label, expected, actual);
        panic!("{label}: images differ: {difference}\n{saved}\n{context}");
    }
}

/// Writes the two pictures of a mismatch and a difference mask; returns where they are.
pub fn save_mismatch(dir: &TempDir, label: &str, expected: &Image, actual: &Image) -> String {
    let expected_path = dir.join(&format!("{label}-expected.png"));
    let actual_path = dir.join(&format!("{label}-actual.png"));
    expected.write_png(&expected_path);
    actual.write_png(&actual_path);
    let mut text = format!(
        "saved {} and {}",
        expected_path.display(),
        actual_path.display()
    );
    if (expected.width, expected.height) == (actual.width, actual.height) {
        let mask = Image {
            width: expected.width,
            height: expected.height,
            rgb: expected
                .rgb
                .chunks_exact(3)
                .zip(actual.rgb.chunks_exact(3))
                .flat_map(|(a, b)| if a == b { [0, 0, 0] } else { [255, 0, 0] })
                .collect(),
        };
        let mask_path = dir.join(&format!("{label}-diff.png"));
        mask.write_png(&mask_path);
        let _ = write!(text, " (differences in red: {})", mask_path.display());
    }
    text
}

// ---------------------------------------------------------------------------------------------
// JPEG, through libjpeg's own tools (cjpeg and djpeg, package libjpeg-turbo-progs)

/// Decodes a JPEG file with `djpeg`.
pub fn decode_jpeg(path: &Path) -> Image {
    let output = run_ok(Command::new("djpeg").arg("-pnm").arg(path), COMMAND_TIMEOUT);
    Image::parse_ppm(&output.stdout).unwrap_or_else(|e| panic!("djpeg of {}: {e}", path.display()))
}

/// What `image` looks like after a round trip through libjpeg at quality 100 in the RGB
/// colour space (no YCbCr conversion, no chroma subsampling): the settings of programs that
/// can only save JPEG, such as vncsnapshot. libjpeg is deterministic, so a program that held
/// exactly `image` writes a file that decodes to exactly this.
pub fn libjpeg_rgb_q100(dir: &TempDir, label: &str, image: &Image) -> Image {
    let ppm = dir.join(&format!("{label}-reference.ppm"));
    let jpeg = dir.join(&format!("{label}-reference.jpg"));
    image.write_ppm(&ppm);
    run_ok(
        Command::new("cjpeg")
            .args(["-rgb", "-quality", "100", "-outfile"])
            .arg(&jpeg)
            .arg(&ppm),
        COMMAND_TIMEOUT,
    );
    decode_jpeg(&jpeg)
}

// ---------------------------------------------------------------------------------------------
// XWD

/// XWD header fields, in file order (all 32-bit big-endian).
const XWD_FIELDS: usize = 25;
const XWD_FILE_VERSION: u32 = 7;
const XWD_Z_PIXMAP: u32 = 2;
const TRUE_COLOR: u32 = 4;
const DIRECT_COLOR: u32 = 5;

/// Parses an XWD dump as written by `xwd` of a 24-bit TrueColor screen, in ZPixmap format with
/// 24 or 32 bits per pixel. Anything else is an error naming the field, not a wrong picture.
pub fn parse_xwd(data: &[u8]) -> Result<Image, String> {
    if data.len() < XWD_FIELDS * 4 {
        return Err(format!("{} bytes: too short for an XWD header", data.len()));
    }
    let field = |index: usize| {
        u32::from_be_bytes(data[index * 4..index * 4 + 4].try_into().expect("4 bytes"))
    };
    let header_size = field(0) as usize;
    let check = |ok: bool, what: &str, value: u32| {
        if ok {
            Ok(())
        } else {
            Err(format!("unsupported XWD: {what} = {value:#x}"))
        }
    };
    check(
        (XWD_FIELDS * 4..=data.len()).contains(&header_size),
        "header_size",
        header_size as u32,
    )?;
    check(field(1) == XWD_FILE_VERSION, "file_version", field(1))?;
    check(field(2) == XWD_Z_PIXMAP, "pixmap_format", field(2))?;
    check(field(3) == 24, "pixmap_depth", field(3))?;
    let (width, height) = (field(4), field(5));
    check(field(6) == 0, "xoffset", field(6))?;
    let byte_order = field(7);
    check(byte_order <= 1, "byte_order", byte_order)?;
    let bits_per_pixel = field(11);
    check(
        bits_per_pixel == 24 || bits_per_pixel == 32,
        "bits_per_pixel",
        bits_per_pixel,
    )?;
    let bytes_per_pixel = bits_per_pixel as usize / 8;
    let bytes_per_line = field(12) as usize;
    check(
        bytes_per_line >= width as usize * bytes_per_pixel,
        "bytes_per_line",
        bytes_per_line as u32,
    )?;
    check(
        field(13) == TRUE_COLOR || field(13) == DIRECT_COLOR,
        "visual_class",
        field(13),
    )?;
    let mut shifts = [0u32; 3];
    for (channel, shift) in shifts.iter_mut().enumerate() {
        let mask = field(14 + channel);
        // Only 8-bit channels: the shift is where the mask starts.
        check(
            mask != 0 && mask >> mask.trailing_zeros() == 0xff,
            "colour mask",
            mask,
        )?;
        *shift = mask.trailing_zeros();
    }
    let ncolors = field(19) as usize;
    let image_start = header_size + ncolors * 12;
    let image_end = image_start + bytes_per_line * height as usize;
    if data.len() < image_end {
        return Err(format!(
            "XWD truncated: {} bytes, the {width}x{height} image needs {image_end}",
            data.len()
        ));
    }
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for row in data[image_start..image_end].chunks_exact(bytes_per_line) {
        for bytes in row[..width as usize * bytes_per_pixel].chunks_exact(bytes_per_pixel) {
            let value = if byte_order == 0 {
                bytes.iter().rev().fold(0u32, |v, &b| v << 8 | u32::from(b))
            } else {
                bytes.iter().fold(0u32, |v, &b| v << 8 | u32::from(b))
            };
            rgb.extend(shifts.iter().map(|shift| (value >> shift) as u8));
        }
    }
    Ok(Image { width, height, rgb })
}

// ---------------------------------------------------------------------------------------------
// Our viewer, driven from a test

/// farview's own viewer in the test process, sending input and waiting on what it receives.
pub struct TestViewer {
    runtime: tokio::runtime::Runtime,
    viewer: farview_client::Viewer,
}

impl std::fmt::Debug for TestViewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestViewer").finish_non_exhaustive()
    }
}

/// Waits until `x`'s screen is still and `viewer` shows it pixel for pixel.
pub fn assert_viewer_matches_screen(
    dir: &TempDir,
    label: &str,
    x: &XServer,
    viewer: &mut TestViewer,
) {
    let screen = x.wait_static();
    let result = viewer.wait_for_picture(VIEWER_TIMEOUT, |image| {
        image_difference(&screen, image).map_or(Ok(()), Err)
    });
    if let Err(difference) = result {
        let saved = save_mismatch(dir, label, &screen, &viewer.image());
        panic!("{label}: the viewer does not show the screen: {difference}\n{saved}");
    }
}

/// Waits until `xdotool getmouselocation` on `x` says the pointer is at `(px, py)`.
pub fn wait_for_x_pointer(x: &XServer, (px, py): (u16, u16), context: impl FnOnce() -> String) {
    let wanted = format!("x:{px} y:{py} ");
    poll(
        &format!("the pointer at {px},{py}"),
        VIEWER_TIMEOUT,
        Duration::from_millis(50),
        || {
            let output = run_ok(x.client("xdotool").arg("getmouselocation"), COMMAND_TIMEOUT);
            let text = String::from_utf8_lossy(&output.stdout).into_owned();
            if text.starts_with(&wanted) {
                Ok(())
            } else {
                Err(text)
            }
        },
        context,
    );
}

impl TestViewer {
    /// Connects to a server on loopback `port` and waits for the first complete update.
    pub fn connect(port: u16) -> TestViewer {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let target = farview_client::Target {
            host: "127.0.0.1".into(),
            port,
        };
        let options = farview_client::ViewerOptions::default();
        let viewer = runtime
            .block_on(farview_client::Viewer::connect(&target, &options))
            .unwrap_or_else(|e| panic!("viewer cannot connect to port {port}: {e}"));
        let mut viewer = TestViewer { runtime, viewer };
        viewer
            .wait_for("the first update", VIEWER_TIMEOUT, |event, _| {
                matches!(event, farview_protocol::ClientEvent::UpdateComplete { .. })
            })
            .unwrap_or_else(|e| panic!("{e}"));
        viewer
    }

    /// Handles what the server sends until `wanted` accepts an event, or `timeout` passes.
    pub fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        wanted: impl FnMut(&farview_protocol::ClientEvent, &farview_protocol::Framebuffer) -> bool,
    ) -> Result<farview_protocol::ClientEvent, String> {
        self.runtime
            .block_on(self.viewer.wait_for(timeout, wanted))
            .map_err(|e| format!("waiting for {what}: {e}"))
    }

    /// Waits until the framebuffer satisfies `check` after an update; `Err` names the last
    /// reason it did not.
    pub fn wait_for_picture(
        &mut self,
        timeout: Duration,
        mut check: impl FnMut(&Image) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut last = match check(&self.image()) {
            Ok(()) => return Ok(()),
            Err(reason) => reason,
        };
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(last);
            }
            let result = self.wait_for("an update", left, |event, framebuffer| {
                matches!(event, farview_protocol::ClientEvent::UpdateComplete { .. })
                    && check(&image_of(framebuffer)).is_ok()
            });
            match result {
                Ok(_) => return Ok(()),
                Err(error) => {
                    last = match check(&self.image()) {
                        Ok(()) => return Ok(()),
                        Err(reason) => format!("{reason} ({error})"),
                    }
                }
            }
        }
    }

    fn flush(&mut self) {
        self.runtime
            .block_on(self.viewer.flush())
            .unwrap_or_else(|e| panic!("sending input: {e}"));
    }

    pub fn key(&mut self, down: bool, keysym: u32) {
        self.viewer.key_event(down, keysym);
        self.flush();
    }

    /// Presses and releases the key of XT `scancode` with `keysym` as a QEMU Extended Key
    /// Event, once the server has said it takes them (waiting for that).
    pub fn tap_scancode(&mut self, keysym: u32, scancode: u32) {
        while !self.viewer.takes_extended_key_events() {
            self.wait_for("any event", VIEWER_TIMEOUT, |_, _| true)
                .unwrap_or_else(|e| panic!("no QEMU Extended Key Event acknowledgement: {e}"));
        }
        for down in [true, false] {
            self.viewer
                .key_event_with_scancode(down, keysym, Some(scancode));
        }
        self.flush();
    }

    /// Presses and releases `keysym`.
    pub fn tap(&mut self, keysym: u32) {
        self.key(true, keysym);
        self.key(false, keysym);
    }

    pub fn pointer(&mut self, buttons: u8, x: u16, y: u16) {
        self.viewer.pointer_event(buttons, x, y);
        self.flush();
    }

    pub fn cut_text(&mut self, text: &str) {
        self.viewer.cut_text(text);
        self.flush();
    }

    /// Asks the server for a screen layout (SetDesktopSize), screens as given.
    pub fn request_desktop_layout(
        &mut self,
        layout: farview_protocol::encodings::extended_desktop_size::DesktopLayout,
    ) -> bool {
        let sent = self.viewer.request_desktop_layout(layout);
        self.flush();
        sent
    }

    /// Asks the server for a new desktop size (SetDesktopSize); false if the server has not
    /// said it takes such requests (no ExtendedDesktopSize rectangle yet).
    pub fn request_desktop_size(&mut self, width: u16, height: u16) -> bool {
        let sent = self.viewer.request_desktop_size(width, height);
        self.flush();
        sent
    }

    /// Whether the viewer has continuous updates on.
    pub fn continuous_updates(&self) -> bool {
        self.viewer.continuous_updates()
    }

    /// The picture as the viewer has it now.
    pub fn image(&self) -> Image {
        image_of(self.viewer.framebuffer())
    }
}

/// A framebuffer as an [`Image`].
pub fn image_of(framebuffer: &farview_protocol::Framebuffer) -> Image {
    Image {
        width: u32::from(framebuffer.width()),
        height: u32::from(framebuffer.height()),
        rgb: framebuffer.to_rgb(),
    }
}
