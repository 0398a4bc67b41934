//! The `farview` command line: parses arguments and wires the crates together.

mod config_dir;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use farview_client::listen::parse_listen_address;
use farview_client::window::WindowedOptions;
use farview_client::{Endpoint, Target, TlsTrust, ViewerOptions, session};
use farview_protocol::EncodingType;
use farview_server::plain_users::{self, PlainUsers};
use farview_server::tls::TlsCertificate;
use farview_server::{
    ExclusivePolicy, Server, ServerOptions, SessionPolicy, SourceOptions, SourceSpec,
};
use tokio::signal::unix::SignalKind;

mod proxy_command;

#[derive(Debug, Parser)]
#[command(
    name = "farview",
    version,
    about = "Remote desktop over RFB (VNC): server, viewer and WAN proxies"
)]
struct Cli {
    /// More detail in the log (-v: debug, -vv: trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Share a desktop with VNC viewers.
    Serve(ServeArgs),
    /// View a remote desktop.
    View(ViewArgs),
    /// The paired proxies that carry a session over a slow link.
    #[command(subcommand)]
    Proxy(proxy_command::ProxyCommand),
    /// Add a user to an X509Plain users file, or change their password. The password is
    /// read from --password-file, else from the first line of standard input.
    Passwd(PasswdArgs),
}

#[derive(Debug, Args)]
struct PasswdArgs {
    /// The users file (created if missing; give it to `serve --plain-users-file`).
    file: PathBuf,
    /// The username.
    user: String,
    /// Read the new password from the first line of this file.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on: HOST:PORT, or a port on loopback.
    #[arg(long, default_value = "127.0.0.1:5900", value_parser = parse_listen)]
    listen: SocketAddr,
    /// Connect out to a listening viewer (vncviewer -listen, farview view --listen) at
    /// HOST[:PORT] (default port 5500) instead of listening; retried until it answers.
    #[arg(long, value_name = "HOST[:PORT]", conflicts_with = "listen")]
    connect: Option<String>,
    /// A viewer that asks for sole access (RFB shared flag off): replace (the others are
    /// disconnected), refuse (it is, while others are connected) or ignore (it shares).
    #[arg(long, value_name = "POLICY", default_value = "replace")]
    exclusive_policy: ExclusivePolicy,
    /// No viewer may send keys, pointer, clipboard or resize requests.
    #[arg(long)]
    view_only: bool,
    /// A second VNC password (first line of this file) whose viewers may only watch.
    #[arg(long, value_name = "FILE")]
    view_only_password_file: Option<PathBuf>,
    /// What to share: demo; x11[:DISPLAY], a running X display (the default when DISPLAY
    /// is set); xvfb[:WIDTHxHEIGHT], a new virtual desktop running --session; or
    /// replay:DIR (the PNG files of DIR in name order).
    #[arg(long)]
    source: Option<SourceSpec>,
    /// xvfb: the command to run in the new desktop (through sh -c); default: a terminal.
    #[arg(long, value_name = "CMD")]
    session: Option<String>,
    /// Frames per second of the replay source.
    #[arg(long, default_value_t = 10.0)]
    fps: f64,
    /// Replay: start again after the last frame instead of holding it.
    #[arg(long = "loop")]
    looping: bool,
    /// Replay: decode every frame before serving (benchmarks; holds all frames in memory).
    #[arg(long)]
    preload: bool,
    /// Require VNC Authentication with the password on the first line of this file.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Allow serving without authentication or TLS on a non-loopback address.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Require TLS (VeNCrypt) with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require TLS (VeNCrypt) with a self-signed certificate, created on first run in
    /// $XDG_CONFIG_HOME/farview (or ~/.config/farview); its SHA-256 fingerprint is printed.
    #[arg(long, conflicts_with = "tls_cert")]
    tls_self_signed: bool,
    /// Let in the users of this file (written by `farview passwd`) with their username and
    /// password (VeNCrypt X509Plain; needs TLS).
    #[arg(long, value_name = "FILE")]
    plain_users_file: Option<PathBuf>,
    /// Replay: log every frame shown (JSON lines with its SHA-256).
    #[arg(long, value_name = "FILE")]
    frame_log: Option<PathBuf>,
    /// Serve a web client (e.g. noVNC) from DIR over HTTP on the same port; its WebSocket
    /// connections carry RFB.
    #[arg(long, value_name = "DIR", conflicts_with = "no_websocket")]
    web: Option<PathBuf>,
    /// RFB viewers only: no WebSocket or HTTP, so viewers skip the short wait at connect in
    /// which a browser would send its request.
    #[arg(long)]
    no_websocket: bool,
}

#[derive(Debug, Args)]
struct ViewArgs {
    /// The server: HOST:DISPLAY (port 5900+DISPLAY) or HOST::PORT.
    #[arg(required_unless_present = "listen")]
    target: Option<Target>,
    /// Wait for a server to connect (a reverse connection) on ADDR: PORT, HOST or HOST:PORT
    /// (default 127.0.0.1:5500, loopback only).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:5500",
          value_parser = parse_listen_address, conflicts_with = "target")]
    listen: Option<SocketAddr>,
    /// No window: connect, decode, and optionally snapshot.
    #[arg(long)]
    headless: bool,
    /// Write the framebuffer to this PNG file on exit.
    #[arg(long, value_name = "FILE.png")]
    snapshot: Option<PathBuf>,
    /// Encodings to ask for, in preference order (comma list: raw,copyrect,...).
    #[arg(long, value_delimiter = ',', value_parser = parse_encoding)]
    encodings: Vec<EncodingType>,
    /// JPEG quality 0-9 for Tight (lossless without it).
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    quality: Option<u8>,
    /// Compression level 0-9.
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=9))]
    compress: Option<u8>,
    /// The password (VNC, or X509Plain with --username) is on the first line of this file.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// The username for servers that ask for one (VeNCrypt X509Plain).
    #[arg(long)]
    username: Option<String>,
    /// Accept only the TLS certificate with this SHA-256 fingerprint (64 hex digits).
    #[arg(long, value_name = "SHA256HEX", value_parser = parse_fingerprint)]
    tls_fingerprint: Option<String>,
    /// Where certificates trusted on first use are remembered (default:
    /// $XDG_CONFIG_HOME/farview/known-servers, or ~/.config/farview/known-servers).
    #[arg(long, value_name = "FILE")]
    known_servers: Option<PathBuf>,
    /// Send no keyboard or pointer input.
    #[arg(long)]
    view_only: bool,
    /// Ask for sole access: the server sends the other viewers away (RFB's shared flag off).
    #[arg(long)]
    exclusive: bool,
    /// Log every complete update (JSON lines with bytes, rectangles and SHA-256).
    #[arg(long, value_name = "FILE")]
    frame_log: Option<PathBuf>,
    /// Disconnect after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    exit_after: Option<f64>,
    /// Ask the server to resize the desktop to WIDTHxHEIGHT (SetDesktopSize; the server
    /// must support ExtendedDesktopSize).
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    resize: Option<(u16, u16)>,
    /// Ask for every update (FramebufferUpdateRequest) even when the server offers
    /// continuous updates.
    #[arg(long)]
    no_continuous_updates: bool,
}

pub(crate) fn parse_listen(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    text.to_socket_addrs()
        .map_err(|e| format!("{text}: {e}"))?
        .next()
        .ok_or_else(|| format!("{text}: no address"))
}

fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let size = text
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u16>().ok()?, h.parse::<u16>().ok()?)));
    match size {
        Some((width, height)) if width > 0 && height > 0 => Ok((width, height)),
        _ => Err(format!("{text:?} is not a size like 1280x800")),
    }
}

fn parse_fingerprint(text: &str) -> Result<String, String> {
    farview_client::tls::parse_fingerprint(text)
        .ok_or_else(|| format!("{text:?} is not a SHA-256 fingerprint (64 hex digits)"))
}

fn parse_encoding(text: &str) -> Result<EncodingType, String> {
    EncodingType::from_name(text).ok_or_else(|| format!("unknown encoding {text:?}"))
}

/// Reads a password file: the password is the first line, without its line ending.
pub(crate) fn read_password(path: &Path) -> Result<Vec<u8>> {
    let content =
        std::fs::read(path).with_context(|| format!("password file {}", path.display()))?;
    let line = content.split(|&b| b == b'\n').next().unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        bail!("password file {} has an empty first line", path.display());
    }
    Ok(line.to_vec())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FARVIEW_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
        Command::View(args) => view(args),
        Command::Proxy(command) => proxy_command::run(command),
        Command::Passwd(args) => passwd(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("farview: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")
}

fn serve(args: ServeArgs) -> Result<()> {
    let password = args
        .password_file
        .as_deref()
        .map(read_password)
        .transpose()?;
    let view_only_password = args
        .view_only_password_file
        .as_deref()
        .map(read_password)
        .transpose()?;
    let options = ServerOptions {
        listen: args.listen,
        connect: args
            .connect
            .as_deref()
            .map(farview_server::reverse::with_default_port),
        password,
        view_only_password,
        tls: server_tls(&args)?,
        plain_users: args
            .plain_users_file
            .as_deref()
            .map(|path| PlainUsers::load(path).map(Arc::new))
            .transpose()?,
        insecure_no_auth: args.insecure_no_auth,
        policy: SessionPolicy {
            exclusive: args.exclusive_policy,
            view_only: args.view_only,
        },
        websocket: !args.no_websocket,
        web_root: args.web,
    };
    let source_options = SourceOptions {
        fps: args.fps,
        looping: args.looping,
        preload: args.preload,
        frame_log: args.frame_log,
        session: args.session,
    };
    let spec = args
        .source
        .unwrap_or_else(SourceSpec::default_for_environment);
    if source_options.session.is_some() && !matches!(spec, SourceSpec::Xvfb { .. }) {
        bail!("--session needs --source xvfb");
    }
    runtime()?.block_on(async move {
        // Bound first: a refused address is reported before any X server is started.
        let server = Server::bind(options).await?;
        tracing::info!("source: {}", describe_source(&spec));
        let source = farview_server::source::open(&spec, &source_options)?;
        // Returning drops the source, which stops what it started (Xvfb, the session).
        until_stopped(async move { server.run(source).await.map_err(|e| anyhow!(e)) }).await
    })
}

/// Runs `work` until it ends or the process is interrupted or terminated.
async fn until_stopped(work: impl Future<Output = Result<()>>) -> Result<()> {
    let mut terminate =
        tokio::signal::unix::signal(SignalKind::terminate()).context("SIGTERM handler")?;
    tokio::select! {
        result = work => result,
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted, shutting down");
            Ok(())
        }
        _ = terminate.recv() => {
            tracing::info!("terminated, shutting down");
            Ok(())
        }
    }
}

/// The TLS configuration the arguments ask for, with its certificate's fingerprint logged.
fn server_tls(args: &ServeArgs) -> Result<Option<Arc<rustls::ServerConfig>>> {
    let certificate = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => TlsCertificate::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        _ if args.tls_self_signed => TlsCertificate::SelfSigned {
            dir: config_dir::config_dir()
                .context("--tls-self-signed: no config directory (set XDG_CONFIG_HOME or HOME)")?,
        },
        _ => return Ok(None),
    };
    let tls = farview_server::tls::server_config(&certificate)?;
    if tls.created {
        tracing::info!(
            "created a self-signed TLS certificate: {}",
            tls.cert_path.display()
        );
    }
    tracing::info!(
        "TLS certificate {} has SHA-256 fingerprint {}",
        tls.cert_path.display(),
        tls.fingerprint
    );
    Ok(Some(tls.config))
}

fn describe_source(spec: &SourceSpec) -> String {
    match spec {
        SourceSpec::Demo => "demo".into(),
        SourceSpec::Replay(dir) => format!("replay of {}", dir.display()),
        SourceSpec::X11(Some(display)) => format!("x11 display {display}"),
        SourceSpec::X11(None) => format!(
            "x11 display {} (from DISPLAY)",
            std::env::var("DISPLAY").unwrap_or_default()
        ),
        SourceSpec::Xvfb { width, height } => format!("xvfb {width}x{height}"),
    }
}

fn view(args: ViewArgs) -> Result<()> {
    let password = args
        .password_file
        .as_deref()
        .map(read_password)
        .transpose()?;
    let exit_after = args
        .exit_after
        .map(|s| {
            Duration::try_from_secs_f64(s).map_err(|_| anyhow!("--exit-after {s}: not a duration"))
        })
        .transpose()?;
    let options = ViewerOptions {
        password,
        username: args.username,
        tls: TlsTrust {
            fingerprint: args.tls_fingerprint,
            known_servers: args.known_servers.or_else(config_dir::known_servers_file),
        },
        encodings: args.encodings,
        quality: args.quality,
        compress: args.compress,
        frame_log: args.frame_log,
        resize: args.resize,
        exclusive: args.exclusive,
        no_continuous_updates: args.no_continuous_updates,
        handshake_timeout: None,
    };
    let endpoint = match (args.listen, args.target) {
        (Some(address), _) => Endpoint::Listen(address),
        (None, Some(target)) => Endpoint::Connect(target),
        (None, None) => bail!("give a TARGET or --listen"),
    };
    let runtime = runtime()?;
    if !args.headless {
        let windowed = WindowedOptions {
            view_only: args.view_only,
            exit_after,
            snapshot: args.snapshot,
        };
        return farview_client::window::run(&runtime, endpoint, options, windowed)
            .map_err(Into::into);
    }
    runtime.block_on(async move {
        let mut terminate =
            tokio::signal::unix::signal(SignalKind::terminate()).context("SIGTERM handler")?;
        // Ctrl-C and SIGTERM end the session the same way: with the snapshot written.
        let stop = async {
            let signalled = async {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            };
            match exit_after {
                Some(limit) => tokio::select! {
                    () = tokio::time::sleep(limit) => {}
                    () = signalled => {}
                },
                None => signalled.await,
            }
        };
        let end = session::run(&endpoint, &options, None, None, stop).await?;
        session::write_snapshot(&end, args.snapshot.as_ref())?;
        Ok(())
    })
}

fn passwd(args: PasswdArgs) -> Result<()> {
    let password = match &args.password_file {
        Some(path) => read_password(path)?,
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                eprint!("new password for {} (shown as typed): ", args.user);
            }
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("reading the password from standard input")?;
            let password = line.trim_end_matches(['\n', '\r']);
            if password.is_empty() {
                bail!("no password given on standard input");
            }
            password.as_bytes().to_vec()
        }
    };
    let new = plain_users::set_password(&args.file, &args.user, &password)?;
    let done = if new {
        "added"
    } else {
        "changed the password of"
    };
    eprintln!("farview: {done} {} in {}", args.user, args.file.display());
    Ok(())
}
