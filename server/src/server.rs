//! The listener: accepts viewers and runs a session for each, next to the source's task.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::access::Access;
use crate::desktop::Desktop;
use crate::plain_users::PlainUsers;
use crate::session;
use crate::source::{Source, SourceError};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to serve {0} without authentication or TLS: give --password-file or a TLS \
         certificate (--tls-cert/--tls-key or --tls-self-signed), listen on a loopback \
         address, or pass --insecure-no-auth"
    )]
    UnauthenticatedOffLoopback(SocketAddr),
    #[error(
        "usernames and passwords (--plain-users-file) are only taken over TLS: give a TLS certificate"
    )]
    PlainUsersWithoutTls,
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("source: {0}")]
    Source(SourceError),
    #[error("the source stopped")]
    SourceStopped,
}

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub listen: SocketAddr,
    /// VNC Authentication password (inside TLS when there is TLS).
    pub password: Option<Vec<u8>>,
    /// TLS: viewers must use VeNCrypt (see [`crate::tls::server_config`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Usernames and passwords for VeNCrypt's X509Plain (needs `tls`).
    pub plain_users: Option<Arc<PlainUsers>>,
    /// Allows serving without authentication or TLS on a non-loopback address.
    pub insecure_no_auth: bool,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5900)),
            password: None,
            tls: None,
            plain_users: None,
            insecure_no_auth: false,
        }
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    listen: SocketAddr,
    access: Arc<Access>,
}

impl Server {
    /// Checks the security policy and binds the listening socket.
    pub async fn bind(options: ServerOptions) -> Result<Server, ServerError> {
        if options.plain_users.is_some() && options.tls.is_none() {
            return Err(ServerError::PlainUsersWithoutTls);
        }
        if options.password.is_none()
            && options.tls.is_none()
            && !options.listen.ip().is_loopback()
            && !options.insecure_no_auth
        {
            return Err(ServerError::UnauthenticatedOffLoopback(options.listen));
        }
        let listener =
            TcpListener::bind(options.listen)
                .await
                .map_err(|cause| ServerError::Listen {
                    addr: options.listen,
                    cause,
                })?;
        Ok(Server {
            listener,
            listen: options.listen,
            access: Arc::new(Access::new(&options)),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.listen)
    }

    /// Runs `source` and serves it until the source fails (an error) or ends (`Ok`).
    pub async fn run(self, source: Box<dyn Source>) -> Result<(), ServerError> {
        let (width, height) = source.size();
        let (desktop, input) = Desktop::new(width, height, &source.name());
        let mut source_task = tokio::spawn(source.run(desktop.clone(), input));
        let auth = self.access.describe();
        info!(
            "serving {:?} ({width}x{height}) on {} with {auth}",
            desktop.name(),
            self.local_addr()
        );
        let mut next_id = 1u64;
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(connection) => connection,
                        Err(error) => {
                            warn!("accept failed: {error}");
                            continue;
                        }
                    };
                    session::tune_socket(&stream);
                    let id = next_id;
                    next_id += 1;
                    tokio::spawn(session::run(id, stream, peer, self.access.clone(), desktop.clone()));
                }
                ended = &mut source_task => {
                    return match ended {
                        Ok(Ok(())) => {
                            info!("the source ended: stopping");
                            Ok(())
                        }
                        Ok(Err(error)) => Err(ServerError::Source(error)),
                        Err(join) => {
                            warn!("source task failed: {join}");
                            Err(ServerError::SourceStopped)
                        }
                    };
                }
            }
        }
    }
}
