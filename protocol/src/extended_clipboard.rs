//! Extended Clipboard (community RFB spec, "Extended Clipboard Pseudo-Encoding", 0xC0A1E5CE):
//! ServerCutText and ClientCutText with a negative length carry a U32 of flags and, for some
//! actions, more. The flags' low 16 bits name formats (text is UTF-8 with CRLF line ends and a
//! terminating NUL), bits 24-28 the action: *caps* (the formats and actions the sender takes,
//! with a maximum unsolicited size per format), *request* (send me these formats), *peek* (tell
//! me what you have), *notify* (these formats are available) and *provide* (the data: a zlib
//! stream of a U32 size and the bytes for each format flagged, in bit order).
//!
//! This module is the message codec; [`sync`] is the conversation each side keeps. Every
//! length is checked against [`MAX_MESSAGE_LEN`] and [`MAX_PROVIDED_LEN`] before anything is
//! allocated or inflated beyond it.

pub mod sync;

use std::io::Write;

use flate2::{Decompress, FlushDecompress, Status};

use crate::error::ProtocolError;

/// The longest extended cut-text message a peer may send (its absolute length), in bytes:
/// as much as it may inflate to, so that even incompressible data fits.
pub const MAX_MESSAGE_LEN: usize = MAX_PROVIDED_LEN + 64 * 1024;
/// The most bytes a *provide* message may inflate to, all formats together.
pub const MAX_PROVIDED_LEN: usize = 32 * 1024 * 1024;

/// Format bits (0-15) and action bits (24-31) of the flags word.
pub mod flags {
    pub const TEXT: u32 = 1;
    pub const RTF: u32 = 1 << 1;
    pub const HTML: u32 = 1 << 2;
    pub const DIB: u32 = 1 << 3;
    pub const FILES: u32 = 1 << 4;
    /// Every bit that may name a format.
    pub const FORMATS: u32 = 0xffff;
    pub const CAPS: u32 = 1 << 24;
    pub const REQUEST: u32 = 1 << 25;
    pub const PEEK: u32 = 1 << 26;
    pub const NOTIFY: u32 = 1 << 27;
    pub const PROVIDE: u32 = 1 << 28;
    /// Every bit that may name an action.
    pub const ACTIONS: u32 = 0xff00_0000;
}

/// One Extended Clipboard message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClipboardMessage {
    /// The formats (low bits) and actions (high bits, the caps bit itself left out) the
    /// sender takes, and for each format flagged, in bit order, the largest data it wants
    /// sent without asking.
    Caps { flags: u32, max_sizes: Vec<u32> },
    /// Asks for the data of these formats.
    Request { formats: u32 },
    /// Asks for a *notify* of what is available.
    Peek,
    /// These formats are available now (none: the clipboard was emptied).
    Notify { formats: u32 },
    /// The data of each format flagged, in bit order: `(format bit, bytes)`.
    Provide { data: Vec<(u32, Vec<u8>)> },
}

fn bad(reason: String) -> ProtocolError {
    ProtocolError::BadEncoding {
        encoding: "extended clipboard",
        reason,
    }
}

/// The format bits set in `formats`, lowest first.
fn format_bits(formats: u32) -> impl Iterator<Item = u32> {
    (0..16)
        .map(|bit| 1u32 << bit)
        .filter(move |f| formats & f != 0)
}

fn word(bytes: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?))
}

impl ClipboardMessage {
    /// Parses the `payload` of a cut-text message whose length was negative (`payload` is
    /// all `abs(length)` bytes). The caller has checked the length against
    /// [`MAX_MESSAGE_LEN`].
    pub fn parse(payload: &[u8]) -> Result<ClipboardMessage, ProtocolError> {
        let flags = word(payload)
            .ok_or_else(|| bad(format!("{} bytes: too short for the flags", payload.len())))?;
        let rest = &payload[4..];
        let formats = flags & flags::FORMATS;
        if flags & flags::CAPS != 0 {
            let count = format_bits(formats).count();
            if rest.len() < count * 4 {
                return Err(bad(format!(
                    "caps: {count} formats need {} bytes of sizes, got {}",
                    count * 4,
                    rest.len()
                )));
            }
            let max_sizes = rest.chunks_exact(4).take(count).filter_map(word).collect();
            return Ok(ClipboardMessage::Caps {
                flags: flags & !flags::CAPS,
                max_sizes,
            });
        }
        let action = flags & flags::ACTIONS;
        match action {
            flags::REQUEST => Ok(ClipboardMessage::Request { formats }),
            flags::PEEK => Ok(ClipboardMessage::Peek),
            flags::NOTIFY => Ok(ClipboardMessage::Notify { formats }),
            flags::PROVIDE => Ok(ClipboardMessage::Provide {
                data: inflate_provided(formats, rest)?,
            }),
            _ => Err(bad(format!(
                "flags {flags:#010x}: not exactly one action (caps, request, peek, notify or \
                 provide)"
            ))),
        }
    }

    /// The flags word and what follows it.
    pub fn payload(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            ClipboardMessage::Caps { flags, max_sizes } => {
                out.extend_from_slice(&(flags | flags::CAPS).to_be_bytes());
                for size in max_sizes.iter().take(format_bits(*flags).count()) {
                    out.extend_from_slice(&size.to_be_bytes());
                }
            }
            ClipboardMessage::Request { formats } => {
                out.extend_from_slice(&(flags::REQUEST | formats & flags::FORMATS).to_be_bytes());
            }
            ClipboardMessage::Peek => out.extend_from_slice(&flags::PEEK.to_be_bytes()),
            ClipboardMessage::Notify { formats } => {
                out.extend_from_slice(&(flags::NOTIFY | formats & flags::FORMATS).to_be_bytes());
            }
            ClipboardMessage::Provide { data } => {
                let formats = data.iter().fold(0, |all, (format, _)| all | format);
                out.extend_from_slice(&(flags::PROVIDE | formats & flags::FORMATS).to_be_bytes());
                let mut stream =
                    flate2::write::ZlibEncoder::new(out, flate2::Compression::default());
                // In bit order, one entry per format, as the reader expects.
                for format in format_bits(formats) {
                    let bytes = data
                        .iter()
                        .find(|(f, _)| *f == format)
                        .map_or(&[][..], |(_, bytes)| bytes);
                    // Writing into a Vec cannot fail.
                    let _ = stream.write_all(&(bytes.len() as u32).to_be_bytes());
                    let _ = stream.write_all(bytes);
                }
                out = stream.finish().unwrap_or_default();
            }
        }
        out
    }

    /// A *provide* of `text` (in the text format).
    pub fn provide_text(text: &str) -> ClipboardMessage {
        ClipboardMessage::Provide {
            data: vec![(flags::TEXT, text_to_wire(text))],
        }
    }

    /// The text of a *provide* message, if it carries the text format.
    pub fn provided_text(&self) -> Option<String> {
        match self {
            ClipboardMessage::Provide { data } => data
                .iter()
                .find(|(format, _)| *format == flags::TEXT)
                .map(|(_, bytes)| text_from_wire(bytes)),
            _ => None,
        }
    }
}

/// Inflates a *provide* message's zlib stream into one entry per format flagged. The stream
/// may end with a sync flush rather than its proper end (TigerVNC's do): all of it is used
/// either way.
fn inflate_provided(formats: u32, compressed: &[u8]) -> Result<Vec<(u32, Vec<u8>)>, ProtocolError> {
    let mut stream = Decompress::new(true);
    let mut inflated: Vec<u8> = Vec::new();
    while inflated.len() <= MAX_PROVIDED_LEN {
        // Room for more, never past one byte over the limit.
        inflated.reserve((64 * 1024).min(MAX_PROVIDED_LEN + 1 - inflated.len()));
        let (before_in, before_out) = (stream.total_in(), stream.total_out());
        let status = stream
            .decompress_vec(
                &compressed[before_in as usize..],
                &mut inflated,
                FlushDecompress::Sync,
            )
            .map_err(|error| bad(format!("provide: zlib stream: {error}")))?;
        let progressed = stream.total_in() != before_in || stream.total_out() != before_out;
        if status == Status::StreamEnd || !progressed {
            break;
        }
    }
    if inflated.len() > MAX_PROVIDED_LEN {
        return Err(ProtocolError::TooLong {
            what: "extended clipboard provide (inflated)",
            len: inflated.len(),
            limit: MAX_PROVIDED_LEN,
        });
    }
    if (stream.total_in() as usize) < compressed.len() {
        return Err(bad(format!(
            "provide: zlib stream: {} bytes left after its end",
            compressed.len() - stream.total_in() as usize
        )));
    }
    let mut at = 0;
    let mut data = Vec::new();
    for format in format_bits(formats) {
        let size = word(&inflated[at..]).ok_or_else(|| {
            bad(format!(
                "provide: data ends before the size of format {format:#x}"
            ))
        })? as usize;
        at += 4;
        let bytes = inflated.get(at..at.saturating_add(size)).ok_or_else(|| {
            bad(format!(
                "provide: format {format:#x} claims {size} bytes, {} left",
                inflated.len() - at
            ))
        })?;
        at += size;
        data.push((format, bytes.to_vec()));
    }
    Ok(data)
}

/// Text as the text format carries it: CRLF line ends and a terminating NUL.
pub fn text_to_wire(text: &str) -> Vec<u8> {
    let mut wire = text
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
        .into_bytes();
    wire.push(0);
    wire
}

/// The text format's bytes as text: up to the first NUL, CRLF as LF, invalid UTF-8 replaced
/// (the spec asks that it never break the connection).
pub fn text_from_wire(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).replace("\r\n", "\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::messages::{ClientMessage, ServerMessage};
    use proptest::prelude::*;

    pub(crate) fn any_clipboard_message() -> impl Strategy<Value = ClipboardMessage> {
        let formats = 0u32..=0xffff;
        prop_oneof![
            (formats.clone(), proptest::collection::vec(any::<u32>(), 16)).prop_map(
                |(formats, sizes)| {
                    let count = format_bits(formats).count();
                    ClipboardMessage::Caps {
                        flags: formats | flags::REQUEST | flags::PROVIDE,
                        max_sizes: sizes[..count].to_vec(),
                    }
                }
            ),
            formats
                .clone()
                .prop_map(|formats| ClipboardMessage::Request { formats }),
            Just(ClipboardMessage::Peek),
            formats.prop_map(|formats| ClipboardMessage::Notify { formats }),
            (0u32..32, proptest::collection::vec(any::<u8>(), 0..2000)).prop_map(
                |(formats, bytes)| ClipboardMessage::Provide {
                    data: format_bits(formats)
                        .map(|format| (format, bytes.clone()))
                        .collect()
                }
            ),
            "\\PC{0,200}".prop_map(|text| ClipboardMessage::provide_text(&text)),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_in_both_directions(message in any_clipboard_message()) {
            let mut bytes = Vec::new();
            ClientMessage::ExtendedCutText(message.clone()).write(&mut bytes);
            prop_assert_eq!(
                ClientMessage::parse(&bytes).unwrap(),
                Some((ClientMessage::ExtendedCutText(message.clone()), bytes.len()))
            );
            for cut in 0..bytes.len() {
                prop_assert_eq!(ClientMessage::parse(&bytes[..cut]).unwrap(), None);
            }
            bytes.clear();
            ServerMessage::ExtendedCutText(message.clone()).write(&mut bytes);
            prop_assert_eq!(
                ServerMessage::parse(&bytes).unwrap(),
                Some((ServerMessage::ExtendedCutText(message), bytes.len()))
            );
        }

        #[test]
        fn garbage_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = ClipboardMessage::parse(&payload);
        }

        #[test]
        fn text_survives_the_wire(text in "\\PC{0,100}") {
            // NULs end the text and lone CRs stay: compare what the format can carry.
            let text = text.replace(['\0', '\r'], "");
            prop_assert_eq!(text_from_wire(&text_to_wire(&text)), text);
        }
    }

    #[test]
    fn known_answers() {
        let caps = ClipboardMessage::Caps {
            flags: flags::TEXT | flags::HTML | flags::REQUEST | flags::NOTIFY,
            max_sizes: vec![1024, 0],
        };
        assert_eq!(
            caps.payload(),
            [0x0b, 0, 0, 0x05, 0, 0, 4, 0, 0, 0, 0, 0],
            "caps|request|notify, text|html, two sizes"
        );
        let mut bytes = Vec::new();
        ServerMessage::ExtendedCutText(ClipboardMessage::Notify {
            formats: flags::TEXT,
        })
        .write(&mut bytes);
        assert_eq!(bytes, [3, 0, 0, 0, 0xff, 0xff, 0xff, 0xfc, 0x08, 0, 0, 1]);
        let provide = ClipboardMessage::provide_text("héllo ✓ 日本\nline");
        assert_eq!(
            provide.provided_text().as_deref(),
            Some("héllo ✓ 日本\nline")
        );
        let ClipboardMessage::Provide { data } = &provide else {
            unreachable!()
        };
        assert_eq!(data[0].1, "héllo ✓ 日本\r\nline\0".as_bytes());
    }

    #[test]
    fn malformed_messages_give_clear_errors() {
        let error = |payload: &[u8]| ClipboardMessage::parse(payload).unwrap_err().to_string();
        assert_eq!(
            error(&[0, 0]),
            "extended clipboard: 2 bytes: too short for the flags"
        );
        assert!(
            error(&[0x01, 0, 0, 0x03, 0, 0, 0, 1])
                .contains("2 formats need 8 bytes of sizes, got 4")
        );
        assert!(error(&[0x06, 0, 0, 1]).contains("not exactly one action"));
        assert!(error(&[0, 0, 0, 1]).contains("not exactly one action"));
        assert!(error(&[0x10, 0, 0, 1, 1, 2, 3]).contains("provide: zlib stream"));
        // A stream cut short (no end, no flush) leaves its data incomplete.
        let mut stream = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        stream.write_all(&[0, 0, 0, 2, b'h', b'i']).unwrap();
        let whole = stream.finish().unwrap();
        let mut payload = vec![0x10, 0, 0, 1];
        payload.extend_from_slice(&whole[..2]);
        assert!(
            error(&payload).contains("data ends before the size"),
            "{}",
            error(&payload)
        );
        // A stream that ends inside a format's data.
        let mut payload = vec![0x10, 0, 0, 1];
        let mut stream = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        stream.write_all(&[0, 0, 0, 9, b'a']).unwrap();
        payload.extend(stream.finish().unwrap());
        assert_eq!(
            error(&payload),
            "extended clipboard: provide: format 0x1 claims 9 bytes, 1 left"
        );
    }

    /// TigerVNC ends its provide streams with a sync flush, not the stream's end.
    #[test]
    fn a_sync_flushed_stream_is_read_whole() {
        let mut stream = flate2::Compress::new(flate2::Compression::default(), true);
        let mut compressed = Vec::with_capacity(256);
        let data = [0, 0, 0, 3, b'h', b'i', 0];
        stream
            .compress_vec(&data, &mut compressed, flate2::FlushCompress::Sync)
            .unwrap();
        let mut payload = vec![0x10, 0, 0, 1];
        payload.extend(compressed);
        let message = ClipboardMessage::parse(&payload).unwrap();
        assert_eq!(message.provided_text().as_deref(), Some("hi"));
    }

    #[test]
    fn a_zlib_bomb_stops_at_the_limit() {
        let mut payload = vec![0x10, 0, 0, 1];
        let mut stream = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..=MAX_PROVIDED_LEN >> 20 {
            stream.write_all(&zeros).unwrap();
        }
        payload.extend(stream.finish().unwrap());
        assert!(payload.len() < MAX_MESSAGE_LEN);
        assert!(matches!(
            ClipboardMessage::parse(&payload),
            Err(ProtocolError::TooLong { .. })
        ));
    }
}
