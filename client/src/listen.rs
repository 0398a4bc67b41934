//! Where the viewer finds its server: it connects to a target, or (a reverse connection) it
//! listens and waits for a server to connect to it (`farview serve --connect`,
//! `x11vnc -connect`, TigerVNC's `vncconfig -connect`).

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tracing::info;

use crate::target::Target;
use crate::viewer::{Viewer, ViewerError, ViewerOptions};

/// The port a listening viewer waits on by VNC custom.
pub const DEFAULT_LISTEN_PORT: u16 = 5500;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Connect(Target),
    /// Wait on this address for one server to connect.
    Listen(SocketAddr),
}

impl Endpoint {
    /// Reaches the server and completes the handshake.
    pub async fn open(&self, options: &ViewerOptions) -> Result<Viewer, ViewerError> {
        match self {
            Endpoint::Connect(target) => Viewer::connect(target, options).await,
            Endpoint::Listen(address) => {
                let listener =
                    TcpListener::bind(address)
                        .await
                        .map_err(|cause| ViewerError::Listen {
                            address: *address,
                            cause,
                        })?;
                let local = listener.local_addr().unwrap_or(*address);
                info!("waiting for a server to connect on {local}");
                let (stream, peer) = listener.accept().await?;
                // One server per listening viewer: later ones find the port closed.
                drop(listener);
                info!("server {peer} connected");
                let _ = stream.set_nodelay(true);
                // Its certificate, if it speaks TLS, is checked and remembered under its
                // address alone: its port changes with every connection (port 0 says none).
                let server = Target {
                    host: peer.ip().to_string(),
                    port: 0,
                };
                Viewer::over_stream(Box::new(stream), &server, options).await
            }
        }
    }
}

/// Parses `view --listen`'s address: `PORT` (on loopback), `HOST` (port 5500) or `HOST:PORT`.
pub fn parse_listen_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let host = text.trim_start_matches('[').trim_end_matches(']');
    host.parse::<std::net::IpAddr>()
        .map(|ip| SocketAddr::new(ip, DEFAULT_LISTEN_PORT))
        .map_err(|_| format!("{text:?}: expected PORT, ADDRESS or ADDRESS:PORT"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_addresses() {
        let parse = |text| parse_listen_address(text).map(|a| a.to_string());
        assert_eq!(parse("5600").as_deref(), Ok("127.0.0.1:5600"));
        assert_eq!(parse("0.0.0.0").as_deref(), Ok("0.0.0.0:5500"));
        assert_eq!(parse("127.0.0.1:5501").as_deref(), Ok("127.0.0.1:5501"));
        assert_eq!(parse("[::1]").as_deref(), Ok("[::1]:5500"));
        assert!(parse("nowhere:x").is_err());
    }
}
