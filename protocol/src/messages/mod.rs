//! The messages of RFC 6143 §7.5 (client to server) and §7.6 (server to client).

pub mod client;
pub mod continuous_updates;
pub mod fence;
pub mod server;

pub use client::ClientMessage;
pub use continuous_updates::EnableContinuousUpdates;
pub use fence::{Fence, FenceFlags};
pub use server::{RectangleHeader, ServerMessage};

use crate::error::ProtocolError;
use crate::extended_clipboard::{self, ClipboardMessage};
use crate::wire::Reader;

/// The longest cut text a peer may send us (either direction), in bytes.
pub const MAX_CUT_TEXT_LEN: usize = 8 * 1024 * 1024;
/// The most encodings a SetEncodings message may list.
pub const MAX_ENCODINGS: usize = 1024;

/// An encoding or pseudo-encoding number. Open: numbers we do not know survive parsing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncodingType(pub i32);

impl EncodingType {
    pub const RAW: Self = Self(0);
    pub const COPY_RECT: Self = Self(1);
    pub const RRE: Self = Self(2);
    pub const CORRE: Self = Self(4);
    pub const HEXTILE: Self = Self(5);
    pub const ZLIB: Self = Self(6);
    pub const TIGHT: Self = Self(7);
    pub const ZLIB_HEX: Self = Self(8);
    pub const TRLE: Self = Self(15);
    pub const ZRLE: Self = Self(16);
    pub const TIGHT_PNG: Self = Self(-260);
    pub const QUALITY_LEVEL_0: Self = Self(-32);
    pub const QUALITY_LEVEL_9: Self = Self(-23);
    pub const DESKTOP_SIZE: Self = Self(-223);
    pub const LAST_RECT: Self = Self(-224);
    pub const POINTER_POS: Self = Self(-232);
    pub const CURSOR: Self = Self(-239);
    pub const X_CURSOR: Self = Self(-240);
    pub const COMPRESS_LEVEL_0: Self = Self(-256);
    pub const COMPRESS_LEVEL_9: Self = Self(-247);
    pub const QEMU_EXTENDED_KEY_EVENT: Self = Self(-258);
    pub const DESKTOP_NAME: Self = Self(-307);
    pub const EXTENDED_DESKTOP_SIZE: Self = Self(-308);
    pub const FENCE: Self = Self(-312);
    pub const CONTINUOUS_UPDATES: Self = Self(-313);
    pub const CURSOR_WITH_ALPHA: Self = Self(-314);
    pub const EXTENDED_CLIPBOARD: Self = Self(0xC0A1_E5CEu32 as i32);

    /// The lowercase name used on the command line and in messages, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::RAW => "raw",
            Self::COPY_RECT => "copyrect",
            Self::RRE => "rre",
            Self::CORRE => "corre",
            Self::HEXTILE => "hextile",
            Self::ZLIB => "zlib",
            Self::TIGHT => "tight",
            Self::ZLIB_HEX => "zlibhex",
            Self::TRLE => "trle",
            Self::ZRLE => "zrle",
            Self::TIGHT_PNG => "tightpng",
            Self::DESKTOP_SIZE => "desktopsize",
            Self::LAST_RECT => "lastrect",
            Self::POINTER_POS => "pointerpos",
            Self::CURSOR => "cursor",
            Self::X_CURSOR => "xcursor",
            Self::QEMU_EXTENDED_KEY_EVENT => "qemu-extended-key",
            Self::DESKTOP_NAME => "desktopname",
            Self::EXTENDED_DESKTOP_SIZE => "extended-desktopsize",
            Self::FENCE => "fence",
            Self::CONTINUOUS_UPDATES => "continuous-updates",
            Self::CURSOR_WITH_ALPHA => "cursor-with-alpha",
            Self::EXTENDED_CLIPBOARD => "extended-clipboard",
            _ => return None,
        })
    }

    /// The encoding with this command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Self::RAW,
            Self::COPY_RECT,
            Self::RRE,
            Self::CORRE,
            Self::HEXTILE,
            Self::ZLIB,
            Self::TIGHT,
            Self::ZLIB_HEX,
            Self::TRLE,
            Self::ZRLE,
            Self::TIGHT_PNG,
        ]
        .into_iter()
        .find(|e| e.name() == Some(name))
    }
}

impl std::fmt::Display for EncodingType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "encoding {}", self.0),
        }
    }
}

/// Converts text to Latin-1 for the core protocol's cut-text messages; characters outside
/// Latin-1 become '?'.
pub fn to_latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// Converts core-protocol cut text (Latin-1) to a string.
pub fn from_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// The body of a cut-text message (either direction): Latin-1 text, or with a negative
/// length, an Extended Clipboard message.
pub(crate) enum CutText {
    Latin1(Vec<u8>),
    Extended(ClipboardMessage),
}

/// Reads a cut-text message after its type byte; `what` names it in errors.
pub(crate) fn read_cut_text(
    reader: &mut Reader<'_>,
    what: &'static str,
) -> Result<Option<CutText>, ProtocolError> {
    let (Some(()), Some(length)) = (reader.skip(3), reader.i32()) else {
        return Ok(None);
    };
    let (len, limit) = if length < 0 {
        (
            length.unsigned_abs() as usize,
            extended_clipboard::MAX_MESSAGE_LEN,
        )
    } else {
        (length as usize, MAX_CUT_TEXT_LEN)
    };
    if len > limit {
        return Err(ProtocolError::TooLong { what, len, limit });
    }
    let Some(body) = reader.take(len) else {
        return Ok(None);
    };
    Ok(Some(if length < 0 {
        CutText::Extended(ClipboardMessage::parse(body)?)
    } else {
        CutText::Latin1(body.to_vec())
    }))
}

/// Writes a cut-text message of type `kind` carrying `text` (Latin-1, cut to the limit).
pub(crate) fn write_cut_text(kind: u8, text: &[u8], out: &mut Vec<u8>) {
    let len = text.len().min(MAX_CUT_TEXT_LEN);
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.extend_from_slice(&text[..len]);
}

/// Writes a cut-text message of type `kind` carrying an Extended Clipboard message.
pub(crate) fn write_extended_cut_text(kind: u8, message: &ClipboardMessage, out: &mut Vec<u8>) {
    let payload = message.payload();
    out.extend_from_slice(&[kind, 0, 0, 0]);
    out.extend_from_slice(&(-(payload.len() as i64) as i32).to_be_bytes());
    out.extend_from_slice(&payload);
}
