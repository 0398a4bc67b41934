//! farview's RFB server: shares a desktop [`Source`] with any number of viewers.
//!
//! The source draws into a [`Desktop`]; each viewer has a session task that accumulates the
//! desktop's damage and sends it when the viewer has asked and its socket can take more.

mod access;
pub mod auth_backoff;
pub mod congestion;
pub mod desktop;
pub mod frame_log;
pub mod fuzzing;
mod pacing;
pub mod plain_users;
pub mod policy;
pub mod reverse;
mod server;
mod session;
pub mod source;
pub mod tls;
pub mod transport;

pub use desktop::{Canvas, Desktop, DesktopEvent, InputEvent, ResizeRequest, ViewerId};
pub use policy::{ExclusivePolicy, SessionPolicy};
pub use server::{Server, ServerError, ServerOptions};
pub use source::{Source, SourceError, SourceOptions, SourceSpec};
