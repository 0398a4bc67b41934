//! farview's NX-style proxies. The near proxy is an RFB server for any viewer, the far proxy
//! an RFB client of any server; between them runs the link, farview's own framed protocol,
//! which carries moves as moves and tiles by content hash so that what crossed once never
//! crosses again.

pub mod disk_cache;
pub mod far;
pub mod link;
pub mod near;
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
    #[error("link: {0}")]
    Link(#[from] link::LinkError),
    #[error("the link protocol versions differ (ours {ours}, theirs {theirs})")]
    VersionMismatch { ours: u16, theirs: u16 },
    #[error("tile cache in {dir}: {cause}")]
    Cache {
        dir: std::path::PathBuf,
        cause: std::io::Error,
    },
    #[error("the link closed")]
    LinkClosed,
    #[error("timed out waiting for {0}")]
    Timeout(&'static str),
    #[error("link I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the VNC server: {0}")]
    Server(#[from] farview_client::ViewerError),
    #[error("serving viewers: {0}")]
    Serve(#[from] farview_server::ServerError),
    #[error("{0}")]
    Task(String),
}
