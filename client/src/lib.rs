//! farview's RFB viewer: a connection that decodes into a framebuffer, shown in a native
//! window ([`window`]) or kept headless for scripts and tests ([`session`]).

pub mod cursor_overlay;
pub mod frame_log;
pub mod parallel_decode;
pub mod session;
pub mod snapshot;
pub mod target;
pub mod tls;
pub mod viewer;
pub mod window;

pub use session::{SessionEnd, SharedFrame, UserInput};
pub use target::Target;
pub use tls::TlsTrust;
pub use viewer::{Viewer, ViewerError, ViewerOptions};
