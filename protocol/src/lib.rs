//! RFB (the Remote Framebuffer protocol, RFC 6143) without I/O.
//!
//! Everything here is a pure state machine or codec: feed it bytes, get events or
//! "need more" (`Ok(None)`); ask it for output, it writes into a buffer. No sockets, no
//! async runtime, no threads, no clock. The server, the viewer and the proxies all build on it.

pub mod diff;
pub mod encode;
pub mod encodings;
pub mod error;
pub mod extended_clipboard;
pub mod framebuffer;
#[doc(hidden)]
pub mod fuzzing;
pub mod handshake;
#[doc(hidden)]
pub mod loopback;
pub mod messages;
pub mod moves;
pub mod pixel;
pub mod qemu_key_event;
pub mod scroll;
pub mod security;
mod wire;

pub use encodings::cursor::Cursor;
pub use error::ProtocolError;
pub use framebuffer::{Framebuffer, Rect, Region};
pub use handshake::client::{ClientConfig, ClientConnection, ClientEvent};
pub use handshake::server::{ServerConfig, ServerConnection, ServerEvent};
pub use messages::{ClientMessage, EncodingType, ServerMessage};
pub use pixel::PixelFormat;
