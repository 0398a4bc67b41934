//! `farview proxy near|far`: the NX-style proxy pair.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use clap::{Args, Subcommand};
use farview_client::Target;
use farview_client::tls::{TlsTrust, parse_fingerprint};
use farview_proxy::far::FarOptions;
use farview_proxy::link::auth::LinkKey;
use farview_proxy::near::NearOptions;
use farview_server::ServerOptions;
use farview_server::tls::TlsCertificate;

use crate::{config_dir, parse_listen, read_password, runtime, until_stopped};

#[derive(Debug, Subcommand)]
pub enum ProxyCommand {
    /// The viewers' side: an RFB server fed by the link.
    Near(NearArgs),
    /// The server's side: an RFB client of the real server, feeding the link.
    Far(FarArgs),
}

#[derive(Debug, Args)]
pub struct NearArgs {
    /// Where viewers connect: HOST:PORT, or a port on loopback.
    #[arg(long, default_value = "127.0.0.1:5901", value_parser = parse_listen)]
    listen: SocketAddr,
    /// The far proxy: HOST:PORT.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_host_port)]
    link: Target,
    /// The key both proxies share (a file of at least 16 bytes, e.g. from
    /// `head -c 32 /dev/urandom | base64`).
    #[arg(long, value_name = "FILE")]
    link_key_file: PathBuf,
    /// Accept only the far proxy whose certificate has this SHA-256 fingerprint (it prints
    /// it when it starts). Without it, the first certificate seen is remembered.
    #[arg(long, value_name = "HEX")]
    link_fingerprint: Option<String>,
    /// Where far proxies' certificates seen first are remembered (default: in the config
    /// directory).
    #[arg(long, value_name = "FILE")]
    link_known_file: Option<PathBuf>,
    /// The tile cache's size in MB.
    #[arg(long, value_name = "MB", default_value_t = 256)]
    cache_size: usize,
    /// Keep the tile cache in this directory, so that later sessions start warm.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Viewers must give the VNC password on the first line of this file.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Allow viewers without authentication on a non-loopback address.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Rewrite this file with the link's figures (JSON) every few seconds.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct FarArgs {
    /// Where the near proxy connects: HOST:PORT, or a port on loopback.
    #[arg(long, default_value = "127.0.0.1:5990", value_parser = parse_listen)]
    listen: SocketAddr,
    /// The VNC server: HOST:DISPLAY (port 5900+DISPLAY) or HOST::PORT.
    #[arg(long)]
    server: Target,
    /// The key both proxies share (a file of at least 16 bytes).
    #[arg(long, value_name = "FILE")]
    link_key_file: PathBuf,
    /// Where the link's self-signed TLS certificate is kept (created on first run), and what
    /// was sent to each near proxy's disk cache (default: far-proxy/ in the config directory).
    #[arg(long, value_name = "DIR")]
    link_cert_dir: Option<PathBuf>,
    /// The server's VNC password is on the first line of this file.
    #[arg(long, value_name = "FILE")]
    server_password_file: Option<PathBuf>,
    /// Rewrite this file with the link's figures (JSON) every few seconds.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
}

fn read_link_key(path: &Path) -> Result<LinkKey> {
    let contents =
        std::fs::read(path).with_context(|| format!("link key file {}", path.display()))?;
    LinkKey::from_file_contents(&contents)
        .with_context(|| format!("link key file {}", path.display()))
}

fn parse_host_port(text: &str) -> Result<Target, String> {
    let (host, port) = text
        .rsplit_once(':')
        .ok_or_else(|| format!("{text}: expected HOST:PORT"))?;
    let port = port.parse().map_err(|_| format!("{text}: bad port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok(Target {
        host: host.to_string(),
        port,
    })
}

pub fn run(command: ProxyCommand) -> Result<()> {
    match command {
        ProxyCommand::Near(args) => {
            let password = args
                .password_file
                .as_deref()
                .map(read_password)
                .transpose()?;
            let fingerprint = args
                .link_fingerprint
                .as_deref()
                .map(|text| {
                    parse_fingerprint(text)
                        .ok_or_else(|| anyhow!("--link-fingerprint: expected 64 hex digits"))
                })
                .transpose()?;
            let known_servers = match args.link_known_file {
                Some(file) => Some(file),
                None => config_dir::config_dir().map(|dir| dir.join("known-far-proxies")),
            };
            let options = NearOptions {
                key: read_link_key(&args.link_key_file)?,
                trust: TlsTrust {
                    fingerprint,
                    known_servers,
                },
                server: ServerOptions {
                    listen: args.listen,
                    password,
                    insecure_no_auth: args.insecure_no_auth,
                    ..ServerOptions::default()
                },
                link: args.link,
                cache_size: args.cache_size.saturating_mul(1024 * 1024),
                cache_dir: args.cache_dir,
                stats_json: args.stats_json,
            };
            runtime()?.block_on(until_stopped(async move {
                farview_proxy::near::run(options)
                    .await
                    .map_err(|e| anyhow!(e))
            }))
        }
        ProxyCommand::Far(args) => {
            let server_password = args
                .server_password_file
                .as_deref()
                .map(read_password)
                .transpose()?;
            let dir = match args.link_cert_dir {
                Some(dir) => dir,
                None => config_dir::config_dir()
                    .context("no config directory for the link certificate: give --link-cert-dir")?
                    .join("far-proxy"),
            };
            let tls = farview_server::tls::server_config(&TlsCertificate::SelfSigned {
                dir: dir.clone(),
            })?;
            tracing::info!(
                "far: link certificate {} has SHA-256 fingerprint {}",
                tls.cert_path.display(),
                tls.fingerprint
            );
            let options = FarOptions {
                key: read_link_key(&args.link_key_file)?,
                tls: tls.config,
                listen: args.listen,
                server: args.server,
                server_password,
                stats_json: args.stats_json,
                state_dir: Some(dir),
            };
            runtime()?.block_on(until_stopped(async move {
                farview_proxy::far::run(options)
                    .await
                    .map_err(|e| anyhow!(e))
            }))
        }
    }
}
