//! TLS (VeNCrypt X509None, X509Vnc and X509Plain): TigerVNC's `vncviewer` (on its own Xvfb)
//! against `farview serve`, showing the replayed frame pixel for pixel, once per subtype and
//! many handshakes in a row; `farview view` against `farview serve` for each subtype, with
//! wrong passwords, pinned, first-use and changed certificates; and bad input: a viewer that
//! insists on anonymous TLS, a broken TLS handshake, a viewer vanishing mid-handshake, an
//! address guessing passwords. (`farview view` against TigerVNC's Xvnc over TLS is in
//! interop_servers.rs, beside the other Xvnc cases.)

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use farview_client::{Target, TlsTrust, Viewer, ViewerOptions};
use farview_protocol::security::vencrypt::SubType;
use farview_server::tls::{SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, TlsCertificate};
use support::{FarviewServer, Image, Proc, TempDir, XServer};

const PASSWORD: &str = "s3cret!";
const USER: &str = "ada";
const USER_PASSWORD: &str = "correct horse";
/// What the viewer's window title ends with.
const WINDOW: &str = "TigerVNC";
/// How many TigerVNC handshakes in a row must all reach the desktop.
const HANDSHAKES_IN_A_ROW: usize = 12;

/// A self-signed certificate made by farview, in its own folder of `dir`.
struct Certificate {
    cert: PathBuf,
    key: PathBuf,
    fingerprint: String,
}

impl Certificate {
    fn new(dir: &TempDir, name: &str) -> Certificate {
        let folder = dir.join(name);
        let tls = farview_server::tls::server_config(&TlsCertificate::SelfSigned {
            dir: folder.clone(),
        })
        .unwrap_or_else(|e| panic!("certificate {name}: {e}"));
        Certificate {
            cert: folder.join(SELF_SIGNED_CERT_FILE),
            key: folder.join(SELF_SIGNED_KEY_FILE),
            fingerprint: tls.fingerprint,
        }
    }

    /// The `farview serve` arguments for this certificate.
    fn serve_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}

/// Writes a users file with [`USER`] through `farview passwd`.
fn plain_users_file(dir: &TempDir) -> PathBuf {
    let file = dir.join("plain-users");
    let password = dir.write("user-password.txt", USER_PASSWORD.as_bytes());
    let output = support::run_ok(
        support::farview()
            .arg("passwd")
            .arg(&file)
            .arg(USER)
            .arg("--password-file")
            .arg(&password),
        support::COMMAND_TIMEOUT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("added ada"), "{stderr}");
    file
}

/// The subtypes farview serves, each tested.
const SUBTYPES: [SubType; 3] = [SubType::X509_NONE, SubType::X509_VNC, SubType::X509_PLAIN];

/// `farview serve` replaying `fixture` over TLS with `certificate`, offering `subtype`.
fn tls_server(
    dir: &TempDir,
    fixture: &str,
    certificate: &Certificate,
    subtype: SubType,
) -> FarviewServer {
    let mut extra = certificate.serve_args();
    if subtype == SubType::X509_PLAIN {
        extra.extend([
            "--plain-users-file".into(),
            plain_users_file(dir).display().to_string(),
        ]);
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let password = (subtype == SubType::X509_VNC).then_some(PASSWORD);
    FarviewServer::replay_debug(dir, &support::fixture(fixture), password, &extra)
}

// ---------------------------------------------------------------------------------------------
// TigerVNC's vncviewer against farview serve

fn vncviewer_present() -> bool {
    support::require_all(&["vncviewer", "Xvfb", "xwd", "xwininfo", "vncpasswd"])
}

/// Starts vncviewer on `x` against `server`, trusting `certificate`, with `subtype`.
fn start_vncviewer(
    dir: &TempDir,
    x: &XServer,
    server: &FarviewServer,
    certificate: &Certificate,
    subtype: SubType,
) -> Proc {
    let mut command = x.client("vncviewer");
    command
        // A private HOME: vncviewer saves its settings (and any certificates) there.
        .env("HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .args(["-display", &x.name()])
        .args(["-AutoSelect=0", "-FullColor", "-PreferredEncoding=raw"])
        .args([
            "-ReconnectOnError=0",
            "-AlertOnFatalError=0",
            "-RemoteResize=0",
        ])
        .arg(format!("-X509CA={}", certificate.cert.display()))
        .arg(format!("-SecurityTypes={subtype}"));
    if subtype == SubType::X509_VNC {
        let file = support::vnc_password_file(dir, PASSWORD);
        command.arg("-passwd").arg(file);
    }
    // vncviewer takes a username and password for Plain from the environment.
    if subtype == SubType::X509_PLAIN {
        command
            .env("VNC_USERNAME", USER)
            .env("VNC_PASSWORD", USER_PASSWORD);
    }
    command.arg(server.target());
    Proc::spawn("vncviewer", &mut command, dir)
}

/// Screen room around the frame, so the window fits without being shrunk.
const MARGIN: u32 = 64;

fn xvfb_for(dir: &TempDir, frame: &Image) -> XServer {
    XServer::xvfb(dir, frame.width + MARGIN, frame.height + MARGIN)
}

#[test]
fn tigervnc_viewer_over_each_tls_subtype() {
    if !vncviewer_present() {
        return;
    }
    let dir = TempDir::new("tls-vncviewer");
    let certificate = Certificate::new(&dir, "certificate");
    let frame = support::fixture_frame("terminal", 0);
    let x = xvfb_for(&dir, &frame);
    for subtype in SUBTYPES {
        let label = subtype.to_string();
        let server = tls_server(&dir, "terminal", &certificate, subtype);
        let mut viewer = start_vncviewer(&dir, &x, &server, &certificate, subtype);
        x.wait_for_window(&dir, &label, WINDOW, &frame, &viewer, || {
            format!("{}{}", viewer.logs(), server.process.logs())
        });
        let log = server.process.stderr();
        assert!(
            log.contains(&format!("VeNCrypt {label}, starting TLS")),
            "{label}: the server should log the subtype\n{log}"
        );
        if subtype == SubType::X509_PLAIN {
            assert!(log.contains("signed in as \"ada\""), "{log}");
        }
        viewer.stop();
        x.wait_no_window(WINDOW);
    }
}

/// TigerVNC 1.12's vncviewer hangs on most TLS 1.3 handshakes with a server that sends
/// session tickets: every one of many handshakes in a row must reach the desktop.
#[test]
fn tigervnc_viewer_handshakes_many_times_in_a_row() {
    if !vncviewer_present() {
        return;
    }
    let dir = TempDir::new("tls-vncviewer-repeat");
    let certificate = Certificate::new(&dir, "certificate");
    let frame = support::fixture_frame("terminal", 0);
    let x = xvfb_for(&dir, &frame);
    let server = tls_server(&dir, "terminal", &certificate, SubType::X509_NONE);
    for attempt in 1..=HANDSHAKES_IN_A_ROW {
        let mut viewer = start_vncviewer(&dir, &x, &server, &certificate, SubType::X509_NONE);
        x.wait_for_window(
            &dir,
            &format!("handshake-{attempt}"),
            WINDOW,
            &frame,
            &viewer,
            || {
                format!(
                    "handshake {attempt}:\n{}{}",
                    viewer.logs(),
                    server.process.logs()
                )
            },
        );
        viewer.stop();
        x.wait_no_window(WINDOW);
    }
    let connected = server
        .process
        .stderr()
        .lines()
        .filter(|line| line.contains(") connected ("))
        .count();
    assert_eq!(connected, HANDSHAKES_IN_A_ROW);
}

/// vncviewer allowed only TLSNone (anonymous TLS) finds nothing it can use and says so; the
/// server's log says where the viewer left and what it offered. A scripted viewer that asks
/// for TLSNone anyway is told why it cannot have it.
#[test]
fn a_viewer_insisting_on_anonymous_tls_gets_a_clear_reason() {
    let dir = TempDir::new("tls-anonymous");
    let certificate = Certificate::new(&dir, "certificate");
    let server = tls_server(&dir, "terminal", &certificate, SubType::X509_NONE);

    let reason = String::from_utf8_lossy(&vencrypt_refusal(server.port, 257)).into_owned();
    assert!(
        reason.contains("TLSNone (anonymous TLS) is not supported") && reason.contains("X509None"),
        "{reason}"
    );
    wait_for_lines(&server.process, &reason, 1);

    if !vncviewer_present() {
        return;
    }
    let frame = support::fixture_frame("terminal", 0);
    let x = xvfb_for(&dir, &frame);
    let mut command = x.client("vncviewer");
    command
        .env("HOME", dir.path())
        .args(["-display", &x.name()])
        .args(["-ReconnectOnError=0", "-AlertOnFatalError=0"])
        .arg("-SecurityTypes=TLSNone")
        .arg(server.target());
    let viewer = Proc::spawn("vncviewer-tlsnone", &mut command, &dir);
    viewer
        .wait_exit(support::COMMAND_TIMEOUT)
        .unwrap_or_else(|| panic!("vncviewer should give up\n{}", viewer.logs()));
    assert!(
        viewer.logs().contains("No valid VeNCrypt sub-type"),
        "{}",
        viewer.logs()
    );
    wait_for_lines(
        &server.process,
        "went away during the VeNCrypt negotiation (offered: X509None)",
        1,
    );
}

// ---------------------------------------------------------------------------------------------
// Scripted viewers: what a well-behaved one never sends

/// Reads exactly `n` bytes.
fn read_bytes(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut bytes = vec![0; n];
    stream
        .read_exact(&mut bytes)
        .unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    bytes
}

/// Connects and negotiates VeNCrypt up to the choice of a subtype; returns the stream and the
/// subtypes the server offered.
fn negotiate_vencrypt(port: u16) -> (TcpStream, Vec<u32>) {
    let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).expect("connect");
    stream
        .set_read_timeout(Some(support::COMMAND_TIMEOUT))
        .expect("read timeout");
    assert_eq!(read_bytes(&mut stream, 12), b"RFB 003.008\n");
    stream.write_all(b"RFB 003.008\n").expect("write");
    assert_eq!(read_bytes(&mut stream, 2), [1, 19], "only VeNCrypt offered");
    stream.write_all(&[19]).expect("write");
    assert_eq!(read_bytes(&mut stream, 2), [0, 2], "VeNCrypt 0.2");
    stream.write_all(&[0, 2]).expect("write");
    let head = read_bytes(&mut stream, 2);
    assert_eq!(head[0], 0, "version accepted");
    let subtypes = read_bytes(&mut stream, usize::from(head[1]) * 4)
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (stream, subtypes)
}

/// Chooses `subtype` and returns the reason of the server's refusal.
fn vencrypt_refusal(port: u16, subtype: u32) -> Vec<u8> {
    let (mut stream, _) = negotiate_vencrypt(port);
    stream.write_all(&subtype.to_be_bytes()).expect("write");
    let head = read_bytes(&mut stream, 9);
    assert_eq!(head[..5], [0, 0, 0, 0, 1], "refused, failed");
    let len = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) as usize;
    read_bytes(&mut stream, len)
}

/// Negotiates the first subtype offered, up to the start of TLS.
fn at_tls_start(port: u16) -> TcpStream {
    let (mut stream, subtypes) = negotiate_vencrypt(port);
    stream.write_all(&subtypes[0].to_be_bytes()).expect("write");
    assert_eq!(read_bytes(&mut stream, 1), [1], "subtype accepted");
    stream
}

/// The lines of `process`'s stderr that contain `wanted`, once there are at least `count`.
fn wait_for_lines(process: &Proc, wanted: &str, count: usize) -> Vec<String> {
    support::poll(
        &format!("{} to log {count} lines with {wanted:?}", process.name()),
        support::STARTUP_TIMEOUT,
        Duration::from_millis(20),
        || {
            let lines: Vec<String> = process
                .stderr()
                .lines()
                .filter(|line| line.contains(wanted))
                .map(str::to_string)
                .collect();
            if lines.len() >= count {
                Ok(lines)
            } else {
                Err(format!("{} so far", lines.len()))
            }
        },
        || process.logs(),
    )
}

/// A broken TLS handshake and viewers that vanish mid-handshake each get a log line; the
/// server goes on, a viewer connected all along is unaffected and new viewers get in.
#[test]
fn broken_tls_and_vanishing_viewers_leave_the_others_alone() {
    let dir = TempDir::new("tls-bad-input");
    let certificate = Certificate::new(&dir, "certificate");
    let server = tls_server(&dir, "terminal", &certificate, SubType::X509_PLAIN);
    let frame = support::fixture_frame("terminal", 0);
    let pin = ["--tls-fingerprint", certificate.fingerprint.as_str()];
    let credentials = ["--username", USER];

    // A viewer that stays connected through it all.
    let known = dir.join("known-servers");
    let snapshot = dir.join("steady.png");
    let password = dir.write("steady-password.txt", USER_PASSWORD.as_bytes());
    let mut command = support::farview();
    command
        .args(["view", &server.target(), "--headless", "--exit-after", "8"])
        .args(pin)
        .args(credentials)
        .arg("--password-file")
        .arg(&password)
        .arg("--known-servers")
        .arg(&known)
        .arg("--snapshot")
        .arg(&snapshot);
    let steady = Proc::spawn("steady-viewer", &mut command, &dir);
    let steady_id = wait_for_lines(&server.process, "signed in as", 1)[0]
        .split_whitespace()
        .skip_while(|word| *word != "viewer")
        .nth(1)
        .map(str::to_string)
        .expect("a viewer number");

    // Not a TLS record at all.
    let mut stream = at_tls_start(server.port);
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    wait_for_lines(&server.process, "TLS handshake failed", 1);
    drop(stream);

    // The start of a ClientHello, then gone.
    let mut stream = at_tls_start(server.port);
    stream
        .write_all(&[22, 3, 1, 0, 200, 1, 0, 0, 196, 3, 3])
        .expect("write");
    drop(stream);
    wait_for_lines(&server.process, "TLS handshake failed", 2);

    // Gone in the middle of the VeNCrypt negotiation.
    let (stream, _) = negotiate_vencrypt(server.port);
    drop(stream);
    wait_for_lines(
        &server.process,
        "went away during the VeNCrypt negotiation",
        1,
    );

    // A viewer without the password it needs says so and leaves.
    let result = support::view_headless_with(
        &dir,
        "no-password",
        &server.target(),
        None,
        1.0,
        &[&pin[..], &credentials[..]].concat(),
    );
    assert!(!result.output.status.success());
    assert!(
        result.stderr().contains("requires a password"),
        "{}",
        result.stderr()
    );

    // A newcomer gets in and sees the frame.
    let result = support::view_headless_with(
        &dir,
        "newcomer",
        &server.target(),
        Some(USER_PASSWORD),
        1.0,
        &[&pin[..], &credentials[..]].concat(),
    );
    let snapshot_of = |result: &support::ViewResult| {
        result
            .snapshot
            .clone()
            .unwrap_or_else(|| panic!("{}\n{}", result.stderr(), server.process.logs()))
    };
    support::assert_same_image(&dir, "newcomer", &frame, &snapshot_of(&result), "");

    let status = steady
        .wait_exit(support::COMMAND_TIMEOUT)
        .expect("the steady viewer ends after --exit-after");
    assert!(status.success(), "{}", steady.logs());
    let log = server.process.stderr();
    let steady_lines: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(&format!("viewer {steady_id} (")))
        .collect();
    assert!(
        steady_lines
            .last()
            .is_some_and(|line| line.contains("disconnected: viewer closed")),
        "the steady viewer left on its own: {steady_lines:#?}"
    );
    assert!(!log.contains("panicked"), "{log}");
    assert!(server.process.exited().is_none(), "the server must go on");
    support::assert_same_image(&dir, "steady", &frame, &Image::read_png(&snapshot), &log);
}

// ---------------------------------------------------------------------------------------------
// farview view against farview serve

#[test]
fn farview_viewer_over_each_tls_subtype() {
    let dir = TempDir::new("tls-farview");
    let certificate = Certificate::new(&dir, "certificate");
    let frame = support::fixture_frame("terminal", 0);
    for subtype in SUBTYPES {
        let label = subtype.to_string();
        let server = tls_server(&dir, "terminal", &certificate, subtype);
        let mut extra = vec!["--tls-fingerprint", certificate.fingerprint.as_str()];
        let (password, wrong_error) = match subtype {
            SubType::X509_VNC => (Some(PASSWORD), Some("wrong password")),
            SubType::X509_PLAIN => {
                extra.extend(["--username", USER]);
                (Some(USER_PASSWORD), Some("wrong username or password"))
            }
            _ => (None, None),
        };
        let result =
            support::view_headless_with(&dir, &label, &server.target(), password, 1.0, &extra);
        let Some(snapshot) = &result.snapshot else {
            panic!("{label}: {}\n{}", result.stderr(), server.process.logs());
        };
        support::assert_same_image(&dir, &label, &frame, snapshot, &server.process.logs());
        let log = server.process.stderr();
        assert!(
            log.contains(&format!("VeNCrypt {label}, starting TLS")),
            "{log}"
        );
        if let Some(expected) = wrong_error {
            let wrong = format!("{label}-wrong");
            let result = support::view_headless_with(
                &dir,
                &wrong,
                &server.target(),
                Some("not it"),
                1.0,
                &extra,
            );
            assert!(!result.output.status.success(), "{}", result.stderr());
            assert!(result.stderr().contains(expected), "{}", result.stderr());
            assert!(server.process.stderr().contains(expected));
        }
    }
}

/// `farview serve` on `port` over TLS with `certificate`, without authentication.
fn server_on_port(dir: &TempDir, name: &str, port: u16, certificate: &Certificate) -> Proc {
    let mut command = support::farview();
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--source")
        .arg(format!("replay:{}", support::fixture("terminal").display()))
        .args(certificate.serve_args());
    let process = Proc::spawn(name, &mut command, dir);
    if let Err(error) = support::wait_for_rfb(port, &process, support::STARTUP_TIMEOUT) {
        panic!("{name}: {error}\n{}", process.logs());
    }
    process
}

/// The first certificate seen is remembered; the same one is trusted again quietly; another
/// one on the same server is refused with a clear message, unless pinned.
#[test]
fn first_use_is_remembered_and_a_changed_certificate_refused() {
    let dir = TempDir::new("tls-first-use");
    let first = Certificate::new(&dir, "first");
    let second = Certificate::new(&dir, "second");
    let known = dir.join("known-servers");
    let known_arg = known.display().to_string();
    let port = support::free_port();
    let target = format!("127.0.0.1::{port}");
    let view = |label: &str, extra: &[&str]| {
        let extra = [&["--known-servers", known_arg.as_str()], extra].concat();
        support::view_headless_with(&dir, label, &target, None, 0.5, &extra)
    };

    let mut server = server_on_port(&dir, "first-server", port, &first);
    let result = view("first-use", &[]);
    assert!(result.output.status.success(), "{}", result.stderr());
    assert!(
        result.stderr().contains("first connection")
            && result.stderr().contains(&first.fingerprint),
        "{}",
        result.stderr()
    );
    let remembered = std::fs::read_to_string(&known).expect("known-servers written");
    assert_eq!(
        remembered,
        format!("127.0.0.1:{port} {}\n", first.fingerprint)
    );
    let result = view("again", &[]);
    assert!(result.output.status.success(), "{}", result.stderr());
    assert!(
        !result.stderr().contains("first connection"),
        "{}",
        result.stderr()
    );
    server.stop();

    let second_server = server_on_port(&dir, "second-server", port, &second);
    let result = view("changed", &[]);
    assert!(!result.output.status.success(), "{}", result.stderr());
    let stderr = result.stderr();
    assert!(
        stderr.contains("has CHANGED")
            && stderr.contains(&first.fingerprint)
            && stderr.contains(&second.fingerprint),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&known).unwrap(), remembered);
    // Pinned, the new certificate is trusted; a pin of another one is not.
    let result = view("pinned", &["--tls-fingerprint", &second.fingerprint]);
    assert!(result.output.status.success(), "{}", result.stderr());
    let result = view("pinned-other", &["--tls-fingerprint", &first.fingerprint]);
    assert!(
        result.stderr().contains("is not the pinned one"),
        "{}",
        result.stderr()
    );
    drop(second_server);

    // A known server that suddenly offers no TLS is refused (TLS may have been stripped).
    let mut command = support::farview();
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--source", "demo"]);
    let plain = Proc::spawn("plain-server", &mut command, &dir);
    if let Err(error) = support::wait_for_rfb(port, &plain, support::STARTUP_TIMEOUT) {
        panic!("plain server: {error}\n{}", plain.logs());
    }
    let result = view("stripped", &[]);
    assert!(!result.output.status.success(), "{}", result.stderr());
    assert!(
        result.stderr().contains("refusing to connect without TLS"),
        "{}",
        result.stderr()
    );
}

/// Three wrong passwords from one address block it for a while (the right password is then
/// refused too, with the reason); another address gets in all the same.
#[test]
fn repeated_failures_block_one_address_only() {
    let dir = TempDir::new("tls-backoff");
    let server = FarviewServer::replay(&dir, &support::fixture("terminal"), Some(PASSWORD), &[]);
    let target = Target {
        host: "127.0.0.1".into(),
        port: server.port,
    };
    let with_password = |password: &str| ViewerOptions {
        password: Some(password.as_bytes().to_vec()),
        tls: TlsTrust::default(),
        ..ViewerOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        for attempt in 1..=farview_server::auth_backoff::FAILURES_BEFORE_BLOCK {
            let error = Viewer::connect(&target, &with_password("guess"))
                .await
                .expect_err("a wrong password fails");
            assert!(
                error.to_string().contains("wrong password"),
                "attempt {attempt}: {error}"
            );
        }
        let error = Viewer::connect(&target, &with_password(PASSWORD))
            .await
            .expect_err("blocked");
        assert!(
            error
                .to_string()
                .contains("too many authentication failures from 127.0.0.1"),
            "{error}"
        );
        // Loopback has many addresses: the same server seen from 127.0.0.2 is another client.
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::from(([127, 0, 0, 2], 0)))
            .expect("bind 127.0.0.2");
        let stream = socket
            .connect(SocketAddr::from((Ipv4Addr::LOCALHOST, server.port)))
            .await
            .expect("connect from 127.0.0.2");
        Viewer::over_stream(Box::new(stream), &target, &with_password(PASSWORD))
            .await
            .unwrap_or_else(|e| panic!("127.0.0.2 is not blocked: {e}"));
    });
    let log = server.process.stderr();
    assert!(
        log.contains("127.0.0.1 blocked for 5 s after repeated failures"),
        "{log}"
    );
    assert!(log.contains("(127.0.0.2:"), "{log}");
}

/// `--tls-self-signed` makes a certificate in the config directory on first run, prints its
/// fingerprint, and uses the same one on the next run.
#[test]
fn self_signed_certificate_is_made_once_and_its_fingerprint_printed() {
    let dir = TempDir::new("tls-self-signed");
    let config = dir.join("config");
    let run = |name: &str| {
        let mut command = support::farview();
        command
            .env("XDG_CONFIG_HOME", &config)
            .args(["serve", "--listen", "127.0.0.1:0", "--source", "demo"])
            .arg("--tls-self-signed");
        let mut process = Proc::spawn(name, &mut command, &dir);
        let line = wait_for_lines(&process, "SHA-256 fingerprint", 1).remove(0);
        process.stop();
        (line, process.stderr())
    };
    let (first, log) = run("first-run");
    assert!(
        log.contains("created a self-signed TLS certificate"),
        "{log}"
    );
    let fingerprint = first.rsplit(' ').next().unwrap_or_default().to_string();
    assert_eq!(fingerprint.len(), 64, "{first}");
    let cert = config.join("farview").join(SELF_SIGNED_CERT_FILE);
    assert!(first.contains(&cert.display().to_string()), "{first}");
    let (second, log) = run("second-run");
    assert!(!log.contains("created"), "{log}");
    assert!(second.ends_with(&fingerprint), "{second}");
}

#[test]
fn plain_users_need_tls() {
    let dir = TempDir::new("tls-plain-needs-tls");
    let users = plain_users_file(&dir);
    let output = support::run(
        Command::new(env!("CARGO_BIN_EXE_farview"))
            .args(["serve", "--listen", "127.0.0.1:0", "--source", "demo"])
            .arg("--plain-users-file")
            .arg(&users),
        support::COMMAND_TIMEOUT,
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("only taken over TLS"), "{stderr}");
}
