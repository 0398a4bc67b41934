//! WebSocket (RFC 6455) on the server side, without I/O: the opening handshake's answer, and a
//! codec that turns a client's frames into the bytes of one stream and our bytes into frames.
//!
//! RFB over WebSocket is a byte stream carried in binary messages (the `binary` subprotocol of
//! websockify and noVNC): message boundaries mean nothing, so data frames are passed through as
//! their bytes arrive, never held whole. Control frames (at most 125 bytes) are answered here.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use super::http::{self, Request, Status};

/// The largest data frame a client may send (its payload streams through, never held).
pub const MAX_FRAME_PAYLOAD: u64 = 16 * 1024 * 1024;
/// The largest control frame payload (RFC 6455, 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;
/// The largest data frame we send: larger writes go as several messages.
pub const MAX_SENT_PAYLOAD: usize = 64 * 1024;
/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;
/// The subprotocol of RFB over WebSocket in binary messages.
pub const BINARY_SUBPROTOCOL: &str = "binary";

/// Appended to the client's key before hashing (RFC 6455, 1.3).
const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
const SUPPORTED_VERSION: &str = "13";
/// The key is 16 random bytes in base64 (RFC 6455, 4.1).
const KEY_LEN: usize = 16;

/// Frame opcodes (RFC 6455, 5.2).
pub const OPCODE_CONTINUATION: u8 = 0x0;
pub const OPCODE_TEXT: u8 = 0x1;
pub const OPCODE_BINARY: u8 = 0x2;
pub const OPCODE_CLOSE: u8 = 0x8;
pub const OPCODE_PING: u8 = 0x9;
pub const OPCODE_PONG: u8 = 0xa;

/// Close status codes (RFC 6455, 7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_UNSUPPORTED_DATA: u16 = 1003;
pub const CLOSE_TOO_BIG: u16 = 1009;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("WebSocket upgrade with method {0} (only GET)")]
    Method(String),
    #[error("WebSocket version {0:?} (only 13)")]
    Version(String),
    #[error("WebSocket upgrade without \"Connection: Upgrade\"")]
    NoConnectionUpgrade,
    #[error("bad or missing Sec-WebSocket-Key")]
    Key,
}

impl HandshakeError {
    /// The HTTP answer that refuses the upgrade.
    pub fn response(&self) -> Vec<u8> {
        match self {
            HandshakeError::Method(_) => {
                http::text_response(Status::MethodNotAllowed, &[("Allow", "GET")], "use GET")
            }
            HandshakeError::Version(_) => http::text_response(
                Status::UpgradeRequired,
                &[("Sec-WebSocket-Version", SUPPORTED_VERSION)],
                "WebSocket version 13 only",
            ),
            HandshakeError::NoConnectionUpgrade | HandshakeError::Key => {
                http::text_response(Status::BadRequest, &[], &self.to_string())
            }
        }
    }
}

/// Whether a request asks for a WebSocket.
pub fn is_upgrade(request: &Request) -> bool {
    request.header_has_token("upgrade", "websocket")
}

/// An accepted upgrade: the 101 answer, and whether the client asked for `binary`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub response: Vec<u8>,
    pub binary_subprotocol: bool,
}

/// Checks an upgrade request and writes its answer (RFC 6455, 4.2).
pub fn accept(request: &Request) -> Result<Accepted, HandshakeError> {
    if request.method != "GET" {
        return Err(HandshakeError::Method(request.method.clone()));
    }
    if !request.header_has_token("connection", "upgrade") {
        return Err(HandshakeError::NoConnectionUpgrade);
    }
    let version = request.header("sec-websocket-version").unwrap_or_default();
    if version != SUPPORTED_VERSION {
        return Err(HandshakeError::Version(version));
    }
    let key = request
        .header("sec-websocket-key")
        .ok_or(HandshakeError::Key)?;
    match BASE64.decode(&key) {
        Ok(decoded) if decoded.len() == KEY_LEN => {}
        _ => return Err(HandshakeError::Key),
    }
    let mut hash = Sha1::new();
    hash.update(key.as_bytes());
    hash.update(ACCEPT_GUID.as_bytes());
    let accept = BASE64.encode(hash.finalize());
    let binary_subprotocol = request.header_has_token("sec-websocket-protocol", BINARY_SUBPROTOCOL);
    let mut headers = vec![
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept.as_str()),
    ];
    if binary_subprotocol {
        headers.push(("Sec-WebSocket-Protocol", BINARY_SUBPROTOCOL));
    }
    Ok(Accepted {
        response: http::response_head(Status::SwitchingProtocols, &headers),
        binary_subprotocol,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("reserved bits set (no extension was agreed)")]
    ReservedBits,
    #[error("unmasked frame from the client")]
    Unmasked,
    #[error("unknown opcode {0:#x}")]
    Opcode(u8),
    #[error("text frame (RFB needs binary messages)")]
    Text,
    #[error("continuation frame outside a message")]
    StrayContinuation,
    #[error("new message before the last one ended")]
    UnfinishedMessage,
    #[error("fragmented control frame")]
    FragmentedControl,
    #[error("control frame of {0} bytes > {MAX_CONTROL_PAYLOAD}")]
    ControlTooLong(u64),
    #[error("frame of {0} bytes > {MAX_FRAME_PAYLOAD}")]
    FrameTooLong(u64),
    #[error("frame length not in its shortest form")]
    LengthEncoding,
}

impl FrameError {
    /// The close code that tells the client what was wrong.
    pub fn close_code(&self) -> u16 {
        match self {
            FrameError::Text => CLOSE_UNSUPPORTED_DATA,
            FrameError::FrameTooLong(_) => CLOSE_TOO_BIG,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FrameHeader {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    payload_len: u64,
    header_len: usize,
}

impl FrameHeader {
    /// Parses and checks a client frame's header; `Ok(None)` until all of it is there.
    fn parse(input: &[u8]) -> Result<Option<FrameHeader>, FrameError> {
        let [first, second, ..] = *input else {
            return Ok(None);
        };
        if first & 0x70 != 0 {
            return Err(FrameError::ReservedBits);
        }
        if second & 0x80 == 0 {
            return Err(FrameError::Unmasked);
        }
        let (payload_len, length_len) = match second & 0x7f {
            126 => {
                let Some(bytes) = input.get(2..4) else {
                    return Ok(None);
                };
                let len = u64::from(u16::from_be_bytes([bytes[0], bytes[1]]));
                if len < 126 {
                    return Err(FrameError::LengthEncoding);
                }
                (len, 2)
            }
            127 => {
                let Some(bytes) = input.get(2..10) else {
                    return Ok(None);
                };
                let len = u64::from_be_bytes(bytes.try_into().unwrap_or_default());
                if len <= u64::from(u16::MAX) || len >> 63 != 0 {
                    return Err(FrameError::LengthEncoding);
                }
                (len, 8)
            }
            len => (u64::from(len), 0),
        };
        let (fin, opcode) = (first & 0x80 != 0, first & 0x0f);
        // The length is checked as soon as it is known, before waiting for the mask.
        if opcode & 0x8 != 0 {
            if !fin {
                return Err(FrameError::FragmentedControl);
            }
            if payload_len > MAX_CONTROL_PAYLOAD as u64 {
                return Err(FrameError::ControlTooLong(payload_len));
            }
        } else if payload_len > MAX_FRAME_PAYLOAD {
            return Err(FrameError::FrameTooLong(payload_len));
        }
        let header_len = 2 + length_len + 4;
        let Some(&[a, b, c, d]) = input.get(header_len - 4..header_len) else {
            return Ok(None);
        };
        let header = FrameHeader {
            fin,
            opcode,
            mask: [a, b, c, d],
            payload_len,
            header_len,
        };
        Ok(Some(header))
    }
}

/// Where the reader is in the client's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiving {
    Header,
    /// Inside a data frame's payload: bytes left, its mask, and how far into it.
    Payload {
        remaining: u64,
        mask: [u8; 4],
        offset: usize,
    },
    /// The client sent a Close frame (or broke the protocol): nothing more is read.
    Closed,
}

/// The server end of a WebSocket, after the handshake.
#[derive(Debug)]
pub struct WebSocket {
    receiving: Receiving,
    /// A fragmented data message is open: the next data frame must be a continuation.
    in_message: bool,
    close_sent: bool,
    output: Vec<u8>,
}

impl Default for WebSocket {
    fn default() -> Self {
        Self::new()
    }
}

impl WebSocket {
    pub fn new() -> WebSocket {
        WebSocket {
            receiving: Receiving::Header,
            in_message: false,
            close_sent: false,
            output: Vec::new(),
        }
    }

    /// Feeds bytes from the client: appends the data they carry to `data`, queues answers to
    /// pings and closes, and returns how many bytes were used (a partial header or control
    /// frame is left for next time). On an error a Close frame naming it is queued.
    pub fn handle_input(&mut self, input: &[u8], data: &mut Vec<u8>) -> Result<usize, FrameError> {
        let mut used = 0;
        loop {
            let rest = &input[used..];
            match self.receiving {
                Receiving::Closed => return Ok(input.len()),
                Receiving::Payload {
                    remaining,
                    mask,
                    offset,
                } => {
                    let take = rest
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    if take == 0 {
                        return Ok(used);
                    }
                    data.extend(
                        rest[..take]
                            .iter()
                            .enumerate()
                            .map(|(i, byte)| byte ^ mask[(offset + i) % 4]),
                    );
                    used += take;
                    self.receiving = if remaining == take as u64 {
                        Receiving::Header
                    } else {
                        Receiving::Payload {
                            remaining: remaining - take as u64,
                            mask,
                            offset: (offset + take) % 4,
                        }
                    };
                }
                Receiving::Header => match FrameHeader::parse(rest) {
                    Ok(None) => return Ok(used),
                    Ok(Some(header)) => match self.handle_header(rest, header) {
                        Ok(Some(frame_used)) => used += frame_used,
                        Ok(None) => return Ok(used),
                        Err(error) => return Err(self.fail(error)),
                    },
                    Err(error) => return Err(self.fail(error)),
                },
            }
        }
    }

    /// Acts on a frame's header: returns the bytes used, `None` for a control frame whose
    /// payload is not all there yet.
    fn handle_header(
        &mut self,
        rest: &[u8],
        header: FrameHeader,
    ) -> Result<Option<usize>, FrameError> {
        match header.opcode {
            OPCODE_CLOSE | OPCODE_PING | OPCODE_PONG => {
                // Control payloads are at most 125 bytes: wait for all of it.
                let end = header.header_len + header.payload_len as usize;
                let Some(masked) = rest.get(header.header_len..end) else {
                    return Ok(None);
                };
                let payload: Vec<u8> = masked
                    .iter()
                    .enumerate()
                    .map(|(i, byte)| byte ^ header.mask[i % 4])
                    .collect();
                match header.opcode {
                    OPCODE_PING if !self.close_sent => {
                        write_frame(&mut self.output, OPCODE_PONG, &payload)
                    }
                    OPCODE_CLOSE => {
                        // Echo the client's status code, as RFC 6455 5.5.1 asks.
                        let code = payload
                            .get(..2)
                            .map_or(CLOSE_NORMAL, |code| u16::from_be_bytes([code[0], code[1]]));
                        self.send_close(code);
                        self.receiving = Receiving::Closed;
                    }
                    _ => {}
                }
                Ok(Some(end))
            }
            OPCODE_BINARY | OPCODE_CONTINUATION => {
                match (header.opcode, self.in_message) {
                    (OPCODE_CONTINUATION, false) => return Err(FrameError::StrayContinuation),
                    (OPCODE_BINARY, true) => return Err(FrameError::UnfinishedMessage),
                    _ => {}
                }
                self.in_message = !header.fin;
                if header.payload_len > 0 {
                    self.receiving = Receiving::Payload {
                        remaining: header.payload_len,
                        mask: header.mask,
                        offset: 0,
                    };
                }
                Ok(Some(header.header_len))
            }
            OPCODE_TEXT => Err(FrameError::Text),
            opcode => Err(FrameError::Opcode(opcode)),
        }
    }

    fn fail(&mut self, error: FrameError) -> FrameError {
        self.send_close(error.close_code());
        self.receiving = Receiving::Closed;
        error
    }

    /// Frames `data` as binary messages into the output.
    pub fn send_binary(&mut self, data: &[u8]) {
        for chunk in data.chunks(MAX_SENT_PAYLOAD) {
            write_frame(&mut self.output, OPCODE_BINARY, chunk);
        }
    }

    /// Queues a Close frame with `code`, once; nothing is sent after it.
    pub fn send_close(&mut self, code: u16) {
        if !self.close_sent {
            self.close_sent = true;
            write_frame(&mut self.output, OPCODE_CLOSE, &code.to_be_bytes());
        }
    }

    /// Whether the client closed the WebSocket (or broke its protocol).
    pub fn is_closed(&self) -> bool {
        self.receiving == Receiving::Closed
    }

    pub fn close_sent(&self) -> bool {
        self.close_sent
    }

    /// Bytes waiting to go to the client.
    pub fn output(&self) -> &[u8] {
        &self.output
    }

    /// Drops the first `sent` bytes of the output, once they have gone out.
    pub fn advance_output(&mut self, sent: usize) {
        self.output.drain(..sent.min(self.output.len()));
    }
}

/// Writes one unmasked, final frame (servers never mask, RFC 6455 5.1).
fn write_frame(output: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    output.push(0x80 | opcode);
    match payload.len() {
        len @ 0..=125 => output.push(len as u8),
        len @ 126..=0xffff => {
            output.push(126);
            output.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            output.push(127);
            output.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    output.extend_from_slice(payload);
}

#[cfg(test)]
pub(crate) mod tests;
