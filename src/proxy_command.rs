//! `farview proxy near|far`: the NX-style proxy pair.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Result, anyhow};
use clap::{Args, Subcommand};
use farview_client::Target;
use farview_proxy::far::FarOptions;
use farview_proxy::near::NearOptions;
use farview_server::ServerOptions;

use crate::{parse_listen, read_password, runtime, until_stopped};

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
    #[arg(long, value_name = "HOST:PORT")]
    link: String,
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
    /// The server's VNC password is on the first line of this file.
    #[arg(long, value_name = "FILE")]
    server_password_file: Option<PathBuf>,
    /// Rewrite this file with the link's figures (JSON) every few seconds.
    #[arg(long, value_name = "FILE")]
    stats_json: Option<PathBuf>,
}

pub fn run(command: ProxyCommand) -> Result<()> {
    match command {
        ProxyCommand::Near(args) => {
            let password = args
                .password_file
                .as_deref()
                .map(read_password)
                .transpose()?;
            let options = NearOptions {
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
            let options = FarOptions {
                listen: args.listen,
                server: args.server,
                server_password,
                stats_json: args.stats_json,
            };
            runtime()?.block_on(until_stopped(async move {
                farview_proxy::far::run(options)
                    .await
                    .map_err(|e| anyhow!(e))
            }))
        }
    }
}
