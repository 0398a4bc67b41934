//! The listener: accepts viewers and runs a session for each, next to the source's task.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::access::Access;
use crate::desktop::Desktop;
use crate::plain_users::PlainUsers;
use crate::policy::SessionPolicy;
use crate::source::{Source, SourceError};
use crate::transport::{self, WebOptions};
use crate::{reverse, session};

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
    #[error("web client directory {path}: {cause}")]
    WebRoot {
        path: PathBuf,
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
    /// VNC Authentication password (inside TLS when there is TLS).
    pub password: Option<Vec<u8>>,
    /// A second VNC password, whose viewers may only watch (inside TLS when there is TLS).
    pub view_only_password: Option<Vec<u8>>,
    /// TLS: viewers must use VeNCrypt (see [`crate::tls::server_config`]).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Usernames and passwords for VeNCrypt's X509Plain (needs `tls`).
    pub plain_users: Option<Arc<PlainUsers>>,
    /// Allows serving without authentication or TLS on a non-loopback address.
    pub insecure_no_auth: bool,
    pub policy: SessionPolicy,
    /// Take WebSocket clients (browsers running noVNC) on the same port. Connections then
    /// wait briefly for a browser's request before being taken as RFB ([`DETECT_WAIT`]).
    ///
    /// [`DETECT_WAIT`]: crate::transport::DETECT_WAIT
    pub websocket: bool,
    /// Serve the files of this directory (a web client such as noVNC) over HTTP.
    pub web_root: Option<PathBuf>,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 5900)),
            connect: None,
            password: None,
            view_only_password: None,
            tls: None,
            plain_users: None,
            insecure_no_auth: false,
            policy: SessionPolicy::default(),
            websocket: true,
            web_root: None,
        }
    }
}

impl ServerOptions {
    fn authenticates(&self) -> bool {
        self.password.is_some() || self.view_only_password.is_some()
    }
}

/// A bound server, ready to run.
#[derive(Debug)]
pub struct Server {
    /// `None` when the server connects out instead ([`ServerOptions::connect`]).
    listener: Option<TcpListener>,
    listen: SocketAddr,
    connect: Option<String>,
    policy: SessionPolicy,
    access: Arc<Access>,
    web: Arc<WebOptions>,
}

impl Server {
    /// Checks the security policy and binds the listening socket (unless connecting out).
    pub async fn bind(options: ServerOptions) -> Result<Server, ServerError> {
        if options.plain_users.is_some() && options.tls.is_none() {
            return Err(ServerError::PlainUsersWithoutTls);
        }
        let root = match &options.web_root {
            Some(path) => Some(web_root(path)?),
            None => None,
        };
        let web = WebOptions {
            websocket: options.websocket,
            root,
            recent_browsers: Default::default(),
        };
        if options.connect.is_some() {
            return Ok(Server::new(None, &options, web));
        }
        if !options.authenticates()
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
        Ok(Server::new(Some(listener), &options, web))
    }

    fn new(listener: Option<TcpListener>, options: &ServerOptions, web: WebOptions) -> Server {
        Server {
            listener,
            listen: options.listen,
            connect: options.connect.clone(),
            policy: options.policy,
            access: Arc::new(Access::new(options)),
            web: Arc::new(web),
        }
    }

    /// Where it listens (for a server that connects out, the address it would have used).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .as_ref()
            .and_then(|listener| listener.local_addr().ok())
            .unwrap_or(self.listen)
    }

    /// Runs `source` and serves it until the source fails (an error) or ends (`Ok`).
    pub async fn run(self, source: Box<dyn Source>) -> Result<(), ServerError> {
        let (width, height) = source.size();
        let (desktop, input) = Desktop::new(width, height, &source.name());
        let mut source_task = tokio::spawn(source.run(desktop.clone(), input));
        let auth = self.access.describe();
        let place = match &self.connect {
            Some(target) => format!("to the viewer listening at {target}"),
            None => format!("on {}", self.local_addr()),
        };
        info!(
            "serving {:?} ({width}x{height}) {place} with {auth}",
            desktop.name()
        );
        // Ends with this function, so with the source.
        let _reverse = self.connect.clone().map(|target| {
            let reverse = reverse::run(target, self.access.clone(), self.policy, desktop.clone());
            let task = tokio::spawn(reverse);
            AbortOnDrop(task)
        });
        if let Some(root) = &self.web.root {
            info!(
                "web client from {} at http://{}/",
                root.display(),
                self.local_addr()
            );
        }
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
                    let access = self.access.clone();
                    let web = self.web.clone();
                    tokio::spawn(transport::run(stream, peer, access, self.policy, desktop.clone(), web));
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

/// The web client's directory, canonical, so that served paths can be checked against it.
fn web_root(path: &std::path::Path) -> Result<PathBuf, ServerError> {
    let error = |cause| ServerError::WebRoot {
        path: path.to_path_buf(),
        cause,
    };
    let root = path.canonicalize().map_err(error)?;
    if !root.is_dir() {
        return Err(error(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            "not a directory",
        )));
    }
    Ok(root)
}
