//! The one error type of the protocol crate: every variant says what was wrong and where.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("unsupported protocol version {0:?} (expected \"RFB 003.00x\\n\")")]
    BadVersion(String),
    #[error("unknown {side} message type {byte}")]
    UnknownMessageType { side: &'static str, byte: u8 },
    #[error("{what}: length {len} exceeds the limit of {limit}")]
    TooLong {
        what: &'static str,
        len: usize,
        limit: usize,
    },
    #[error("invalid pixel format: {0}")]
    BadPixelFormat(String),
    #[error(
        "the server offers no TLS (security types {0:?}), but its certificate is pinned or \
         known: refusing to connect without TLS"
    )]
    TlsRequired(Vec<u8>),
    #[error("server offered no security type we can use (offered: {0:?})")]
    NoCommonSecurityType(Vec<u8>),
    #[error("the server requires a password and none was given")]
    PasswordRequired,
    #[error("the server requires a username (X509Plain) and none was given")]
    UsernameRequired,
    #[error("VeNCrypt: {0}")]
    Vencrypt(String),
    #[error("VeNCrypt: {0}")]
    NoUsableSubtype(String),
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    #[error("server refused the connection: {0}")]
    ConnectionRefused(String),
    #[error("{encoding} rectangle at {x},{y} {w}x{h}: {reason}")]
    BadRectangle {
        encoding: String,
        x: u16,
        y: u16,
        w: u16,
        h: u16,
        reason: String,
    },
    #[error("{encoding}: {reason}")]
    BadEncoding {
        encoding: &'static str,
        reason: String,
    },
    #[error("message received in the wrong state: {0}")]
    UnexpectedState(&'static str),
    #[error("the connection is closed")]
    Closed,
}
