//! Reverse connections: the server connects out to a listening viewer (`vncviewer -listen`,
//! `farview view --listen`) and serves the session over that socket, as support sessions
//! through a firewall need. A viewer that is not there yet, or a connection that drops, is
//! tried again after a pause that doubles up to [`MAX_RECONNECT_BACKOFF`].

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::access::{Access, Transport};
use crate::desktop::Desktop;
use crate::policy::SessionPolicy;
use crate::session;

/// The port a listening viewer waits on by VNC custom.
pub const DEFAULT_LISTENING_PORT: u16 = 5500;
/// The first pause before trying again.
pub const FIRST_RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// The longest pause between attempts.
pub const MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(30);

/// `HOST` or `HOST:PORT` (IPv6 in brackets) with the listening viewer's default port.
pub fn with_default_port(target: &str) -> String {
    let has_port = match target.rsplit_once(':') {
        Some((host, port)) => {
            port.parse::<u16>().is_ok() && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    };
    if has_port {
        target.to_string()
    } else {
        format!("{target}:{DEFAULT_LISTENING_PORT}")
    }
}

/// Connects to the viewer at `target` and serves it, again and again, until the task is
/// dropped (the server stops with its source). Each connection goes through the same access
/// rules as an accepted one (TLS, passwords, backoff).
pub(crate) async fn run(
    target: String,
    access: Arc<Access>,
    policy: SessionPolicy,
    desktop: Arc<Desktop>,
) {
    let mut backoff = FIRST_RECONNECT_BACKOFF;
    loop {
        match TcpStream::connect(&target).await {
            Ok(stream) => match stream.peer_addr() {
                Ok(peer) => {
                    info!("connected out to the viewer at {target} ({peer})");
                    session::tune_socket(&stream);
                    let id = desktop.next_viewer_id();
                    let (access, desktop) = (access.clone(), desktop.clone());
                    // Plain TCP RFB: a viewer listening for servers speaks no WebSocket.
                    session::run(id, stream, peer, Transport::Plain, access, policy, desktop).await;
                    backoff = FIRST_RECONNECT_BACKOFF;
                }
                Err(error) => warn!("reverse connection to {target}: {error}"),
            },
            Err(error) => {
                warn!(
                    "cannot reach the viewer at {target}: {error}; trying again in {}s",
                    backoff.as_secs()
                );
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_RECONNECT_BACKOFF);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_port() {
        assert_eq!(with_default_port("helper"), "helper:5500");
        assert_eq!(with_default_port("helper:6000"), "helper:6000");
        assert_eq!(with_default_port("10.0.0.1"), "10.0.0.1:5500");
        assert_eq!(with_default_port("[::1]"), "[::1]:5500");
        assert_eq!(with_default_port("[::1]:7000"), "[::1]:7000");
    }
}
