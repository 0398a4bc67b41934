//! farview's RFB server: shares a desktop [`Source`] with any number of viewers.
//!
//! The source draws into a [`Desktop`]; each viewer has a session task that accumulates the
//! desktop's damage and sends it when the viewer has asked and its socket can take more.

mod access;
pub mod auth_backoff;
pub mod desktop;
pub mod frame_log;
pub mod plain_users;
mod server;
mod session;
pub mod source;
pub mod tls;

pub use desktop::{Canvas, Desktop, DesktopEvent, InputEvent, ResizeRequest, ViewerId};
pub use server::{Server, ServerError, ServerOptions};
pub use source::{Source, SourceError, SourceOptions, SourceSpec};
