//! The listener: accepts viewers and runs a session for each, next to the source's task.

use std::net::SocketAddr;

use farview_protocol::security::vnc_auth;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::desktop::Desktop;
use crate::policy::SessionPolicy;
use crate::source::{Source, SourceError};
use crate::{reverse, session};

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "refusing to serve {0} without authentication: give --password-file, listen on a \
         loopback address, or pass --insecure-no-auth"
    )]
    UnauthenticatedOffLoopback(SocketAddr),
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
    /// Connect out to a listening viewer at this `HOST:PORT` instead of listening.
    pub connect: Option<String>,
    /// VNC Authentication password; `None` serves without authentication.
    pub password: Option<Vec<u8>>,
    /// A second VNC password, whose viewers may only watch.
    pub view_only_password: Option<Vec<u8>>,
    /// Allows serving without authentication on a non-loopback address.
    pub insecure_no_auth: bool,
    pub policy: SessionPolicy,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5900)),
            connect: None,
            password: None,
            view_only_password: None,
            insecure_no_auth: false,
            policy: SessionPolicy::default(),
        }
    }
}

impl ServerOptions {
    /// The protocol's configuration for one new connection (with a fresh challenge).
    pub(crate) fn connection_config(&self) -> farview_protocol::ServerConfig {
        farview_protocol::ServerConfig {
            password: self.password.clone(),
            view_only_password: self.view_only_password.clone(),
            challenge: random_challenge(),
        }
    }

    fn authenticates(&self) -> bool {
        self.password.is_some() || self.view_only_password.is_some()
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    /// `None` when the server connects out instead ([`ServerOptions::connect`]).
    listener: Option<TcpListener>,
    options: ServerOptions,
}

impl Server {
    /// Checks the security policy and binds the listening socket (unless connecting out).
    pub async fn bind(options: ServerOptions) -> Result<Server, ServerError> {
        if options.connect.is_some() {
            return Ok(Server {
                listener: None,
                options,
            });
        }
        if !options.authenticates()
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
            listener: Some(listener),
            options,
        })
    }

    /// Where it listens (for a server that connects out, the address it would have used).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .unwrap_or(self.options.listen)
    }

    /// Runs `source` and serves it until the source fails (an error) or ends (`Ok`).
    pub async fn run(self, source: Box<dyn Source>) -> Result<(), ServerError> {
        let (width, height) = source.size();
        let (desktop, input) = Desktop::new(width, height, &source.name());
        let mut source_task = tokio::spawn(source.run(desktop.clone(), input));
        let auth = if self.options.authenticates() {
            "VNC password"
        } else {
            "no authentication"
        };
        let place = match &self.options.connect {
            Some(target) => format!("to the viewer listening at {target}"),
            None => format!("on {}", self.local_addr()),
        };
        info!(
            "serving {:?} ({width}x{height}) {place} with {auth}",
            desktop.name()
        );
        // Ends with this function, so with the source.
        let _reverse = self.options.connect.clone().map(|target| {
            let task = tokio::spawn(reverse::run(target, self.options.clone(), desktop.clone()));
            AbortOnDrop(task)
        });
        loop {
            tokio::select! {
                accepted = accept(self.listener.as_ref()) => {
                    let (stream, peer) = match accepted {
                        Ok(connection) => connection,
                        Err(error) => {
                            warn!("accept failed: {error}");
                            continue;
                        }
                    };
                    session::tune_socket(&stream);
                    let config = self.options.connection_config();
                    let policy = self.options.policy;
                    tokio::spawn(session::run(stream, peer, config, policy, desktop.clone()));
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

/// The next viewer on `listener`; never, without one.
async fn accept(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

/// Stops a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn random_challenge() -> [u8; vnc_auth::CHALLENGE_LEN] {
    let mut challenge = [0u8; vnc_auth::CHALLENGE_LEN];
    // Without the OS's randomness there is no safe challenge; that is not recoverable.
    getrandom::fill(&mut challenge).expect("the operating system's random source failed");
    challenge
}
