//! farview's NX-style proxies. The near proxy is an RFB server for any viewer, the far proxy
//! an RFB client of any server; between them runs the link, farview's own framed protocol,
//! which carries moves as moves and tiles by content hash so that what crossed once never
//! crosses again.

pub mod disk_cache;
pub mod far;
pub mod history;
pub mod link;
pub mod link_io;
pub mod near;
pub mod remembered;
pub mod stats;

use std::net::SocketAddr;

/// Why a proxy stopped, or a link connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {cause}")]
    Listen {
        addr: SocketAddr,
        cause: std::io::Error,
    },
    #[error("cannot reach the far proxy at {address}: {cause}")]
    Connect {
        address: String,
        cause: std::io::Error,
    },
    #[error(transparent)]
    Link(#[from] link::LinkError),
    #[error("the link protocol versions differ (ours {ours}, theirs {theirs})")]
    VersionMismatch { ours: u16, theirs: u16 },
    #[error("tile cache in {dir}: {cause}")]
    Cache {
        dir: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("wrong link key: {0}")]
    WrongKey(&'static str),
    #[error(transparent)]
    Tls(#[from] farview_client::tls::TlsError),
    #[error("the link closed")]
    LinkClosed,
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("link I/O: {0}")]
    Io(std::io::Error),
    #[error("the VNC server: {0}")]
    Server(farview_client::ViewerError),
    #[error("serving viewers: {0}")]
    Serve(farview_server::ServerError),
    #[error("{0}")]
    Task(String),
}

// By hand rather than `#[from]`: the message already carries the cause, and a source would
// print it twice in a chain of errors.
impl From<std::io::Error> for ProxyError {
    fn from(error: std::io::Error) -> Self {
        ProxyError::Io(error)
    }
}

impl From<farview_client::ViewerError> for ProxyError {
    fn from(error: farview_client::ViewerError) -> Self {
        ProxyError::Server(error)
    }
}

impl From<farview_server::ServerError> for ProxyError {
    fn from(error: farview_server::ServerError) -> Self {
        ProxyError::Serve(error)
    }
}
