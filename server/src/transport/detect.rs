//! Tells, from the first bytes a client sends, which protocol it speaks on the server's port.
//!
//! An RFB viewer sends nothing until it has the server's version string (RFB spec, 7.1.1), so
//! a client that speaks first is a browser (an HTTP request, possibly a WebSocket upgrade) or
//! a TLS client (a ClientHello, for wss). A client that stays silent is an RFB viewer.

/// The longest HTTP method we wait for before deciding the bytes are not HTTP.
pub const MAX_METHOD_LEN: usize = 16;

/// A TLS record of type handshake starts every TLS connection (RFC 8446, 5.1).
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The start of the version an RFB viewer sends: one that speaks first is still RFB.
const RFB_VERSION_START: &[u8] = b"RFB ";

/// What a client speaking first turned out to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// An HTTP request line: a method token and a space.
    Http,
    /// A TLS ClientHello: wss, or HTTPS for the web client.
    Tls,
    /// An RFB viewer that sent its version before ours.
    Rfb,
    /// Anything else; the first byte, for the log.
    Unknown(u8),
}

/// Classifies the first bytes of a connection; `None` until there are enough to tell.
pub fn detect(first: &[u8]) -> Option<Protocol> {
    let &byte = first.first()?;
    if byte == TLS_HANDSHAKE_RECORD {
        return Some(Protocol::Tls);
    }
    let compared = first.len().min(RFB_VERSION_START.len());
    if first[..compared] == RFB_VERSION_START[..compared] {
        return (compared == RFB_VERSION_START.len()).then_some(Protocol::Rfb);
    }
    // An HTTP method is a token (RFC 9110, 9.1); every method in use is uppercase letters.
    match first.iter().position(|&b| !b.is_ascii_uppercase()) {
        Some(end) if end > 0 && end <= MAX_METHOD_LEN && first[end] == b' ' => Some(Protocol::Http),
        Some(_) => Some(Protocol::Unknown(byte)),
        None if first.len() <= MAX_METHOD_LEN => None,
        None => Some(Protocol::Unknown(byte)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_protocol_is_told_apart() {
        assert_eq!(detect(b"GET / HTTP/1.1\r\n"), Some(Protocol::Http));
        assert_eq!(detect(b"OPTIONS * HTTP/1.1\r\n"), Some(Protocol::Http));
        assert_eq!(detect(&[0x16, 3, 1, 0, 200]), Some(Protocol::Tls));
        assert_eq!(detect(b"RFB 003.008\n"), Some(Protocol::Rfb));
        assert_eq!(detect(&[0, 1, 2]), Some(Protocol::Unknown(0)));
        assert_eq!(detect(b"get / HTTP/1.1"), Some(Protocol::Unknown(b'g')));
        assert_eq!(detect(b" GET"), Some(Protocol::Unknown(b' ')));
        assert_eq!(detect(b"GET\r\n"), Some(Protocol::Unknown(b'G')));
        assert_eq!(
            detect(b"AAAAAAAAAAAAAAAAAAAA"),
            Some(Protocol::Unknown(b'A'))
        );
    }

    #[test]
    fn a_partial_start_waits_for_more() {
        assert_eq!(detect(b""), None);
        assert_eq!(detect(b"GE"), None);
        assert_eq!(detect(b"RFB"), None);
        assert_eq!(detect(b"R"), None);
    }

    #[test]
    fn feeding_byte_by_byte_decides_as_the_whole() {
        // Found by fuzzing: a method of exactly MAX_METHOD_LEN letters.
        let longest = [&[b'A'; MAX_METHOD_LEN][..], b" /"].concat();
        for whole in [
            &longest[..],
            &b"GET /x HTTP/1.1\r\n"[..],
            b"RFB 003.003\n",
            b"POSTAL\x00",
            b"\x16\x03",
        ] {
            let decided = (1..=whole.len()).find_map(|n| detect(&whole[..n]));
            assert_eq!(decided, detect(whole), "{whole:?}");
        }
    }
}
