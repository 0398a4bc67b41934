//! The opening of an RFB connection (RFC 6143 §7.1, §7.3): protocol version, security,
//! ClientInit and ServerInit. [`server::ServerConnection`] and [`client::ClientConnection`]
//! carry on past the handshake as the whole connection's state machine.

pub mod client;
pub mod server;

use crate::error::ProtocolError;
use crate::wire::Reader;

/// The longest reason string (failed security, refused connection) a peer may send.
pub const MAX_REASON_LEN: usize = 64 * 1024;
/// The longest desktop name a peer may send.
pub const MAX_NAME_LEN: usize = 64 * 1024;

/// Reads a reason string (a U32 length and that many bytes), checked against
/// [`MAX_REASON_LEN`]; `Ok(None)` until it is all there.
pub(crate) fn read_reason(reader: &mut Reader<'_>) -> Result<Option<String>, ProtocolError> {
    let Some(len) = reader.u32() else {
        return Ok(None);
    };
    let len = len as usize;
    if len > MAX_REASON_LEN {
        return Err(ProtocolError::TooLong {
            what: "reason string",
            len,
            limit: MAX_REASON_LEN,
        });
    }
    let Some(text) = reader.take(len) else {
        return Ok(None);
    };
    Ok(Some(String::from_utf8_lossy(text).into_owned()))
}

/// The protocol versions farview speaks. Other 3.x minor versions are read as 3.3 (below 7)
/// or 3.8 (above 8), as the spec advises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ProtocolVersion {
    V3_3,
    V3_7,
    V3_8,
}

impl ProtocolVersion {
    pub const WIRE_SIZE: usize = 12;

    pub fn wire(self) -> &'static [u8; 12] {
        match self {
            ProtocolVersion::V3_3 => b"RFB 003.003\n",
            ProtocolVersion::V3_7 => b"RFB 003.007\n",
            ProtocolVersion::V3_8 => b"RFB 003.008\n",
        }
    }

    /// Parses the 12-byte version message.
    pub fn parse(bytes: &[u8; 12]) -> Result<ProtocolVersion, ProtocolError> {
        let bad = || ProtocolError::BadVersion(String::from_utf8_lossy(bytes).into_owned());
        let digits = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = &bytes[range];
            part.iter().all(u8::is_ascii_digit).then(|| {
                part.iter()
                    .fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0'))
            })
        };
        if &bytes[..4] != b"RFB " || bytes[7] != b'.' || bytes[11] != b'\n' {
            return Err(bad());
        }
        let (Some(major), Some(minor)) = (digits(4..7), digits(8..11)) else {
            return Err(bad());
        };
        match (major, minor) {
            (3, 0..=6) => Ok(ProtocolVersion::V3_3),
            (3, 7) => Ok(ProtocolVersion::V3_7),
            (3, _) => Ok(ProtocolVersion::V3_8),
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text = match self {
            ProtocolVersion::V3_3 => "3.3",
            ProtocolVersion::V3_7 => "3.7",
            ProtocolVersion::V3_8 => "3.8",
        };
        write!(f, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(
            ProtocolVersion::parse(b"RFB 003.008\n"),
            Ok(ProtocolVersion::V3_8)
        );
        assert_eq!(
            ProtocolVersion::parse(b"RFB 003.007\n"),
            Ok(ProtocolVersion::V3_7)
        );
        assert_eq!(
            ProtocolVersion::parse(b"RFB 003.003\n"),
            Ok(ProtocolVersion::V3_3)
        );
        assert_eq!(
            ProtocolVersion::parse(b"RFB 003.005\n"),
            Ok(ProtocolVersion::V3_3)
        );
        assert_eq!(
            ProtocolVersion::parse(b"RFB 003.889\n"),
            Ok(ProtocolVersion::V3_8)
        );
        let error = ProtocolVersion::parse(b"GET / HTTP/1").unwrap_err();
        assert!(error.to_string().contains("GET / HTTP/1"), "{error}");
        assert!(ProtocolVersion::parse(b"RFB 004.000\n").is_err());
        assert!(ProtocolVersion::parse(b"RFB 00a.008\n").is_err());
    }
}

#[cfg(test)]
mod connection_tests;
#[cfg(test)]
mod deferred_tests;
#[cfg(test)]
mod vencrypt_tests;
