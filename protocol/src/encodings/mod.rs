//! Encodings (RFC 6143 §7.7 and the community RFB spec), one module each, encoder and
//! decoder side by side, and the per-connection sets of their state.
//!
//! Every decoder has the same shape: given the bytes after a rectangle header, it returns
//! `Ok(None)` when the rectangle's body is not all there yet (and then has changed nothing,
//! stream state included), or `Ok(Some(n))` once it has drawn the rectangle from the first
//! `n` bytes. Errors are a reason; the caller adds the encoding and rectangle. Decoders of
//! pseudo-encodings that carry something other than pixels ([`cursor`], [`desktop_name`])
//! have the same shape but return what they carry along with `n`. Encodings that keep no
//! state across rectangles can also be framed first and drawn later, anywhere (see [`batch`]).

pub mod batch;
pub mod copyrect;
pub mod corre;
pub mod cursor;
pub mod desktop_name;
pub mod extended_desktop_size;
pub mod hextile;
pub mod pseudo;
pub mod raw;
mod rle_tiles;
pub use rle_tiles::put_run_length;
pub mod rre;
mod subrects;
#[cfg(test)]
pub(crate) mod testing;
pub mod tight;
pub mod trle;
pub mod zlib;
pub mod zrle;
mod zstream;

pub use batch::{DecodeExecutor, DecodeJob, SequentialExecutor};
pub use zstream::{Deflater, Inflater};

use crate::framebuffer::{Framebuffer, Rect};
use crate::messages::EncodingType;
use crate::pixel::PixelFormat;

/// What a decoder returns: bytes consumed once the rectangle is complete, `None` before.
pub type Decoded = Result<Option<usize>, String>;

/// The pixel encodings this crate decodes.
pub const DECODABLE: &[EncodingType] = &[
    EncodingType::RAW,
    EncodingType::COPY_RECT,
    EncodingType::ZLIB,
    EncodingType::RRE,
    EncodingType::HEXTILE,
    EncodingType::CORRE,
    EncodingType::TIGHT,
    EncodingType::TIGHT_PNG,
    EncodingType::TRLE,
    EncodingType::ZRLE,
];

/// A viewer connection's decoder state (the zlib streams that live across rectangles).
#[derive(Debug, Default)]
pub struct Decoders {
    zlib: zlib::ZlibDecoder,
    tight: tight::TightDecoder,
    zrle: zrle::ZrleDecoder,
}

impl Decoders {
    /// Decodes one rectangle of a pixel encoding; `None` if the encoding is not one of
    /// [`DECODABLE`]. The rectangle must lie inside the framebuffer (the caller checks).
    pub fn decode(
        &mut self,
        encoding: EncodingType,
        body: &[u8],
        rect: &Rect,
        format: &PixelFormat,
        framebuffer: &mut Framebuffer,
    ) -> Option<Decoded> {
        Some(match encoding {
            EncodingType::COPY_RECT => match body.get(..copyrect::BODY_LEN) {
                Some(body) => {
                    copyrect::decode(body, rect, framebuffer).map(|()| Some(copyrect::BODY_LEN))
                }
                None => Ok(None),
            },
            EncodingType::ZLIB => self.zlib.decode(body, rect, format, framebuffer),
            EncodingType::TIGHT => self.tight.decode(body, rect, format, framebuffer),
            EncodingType::ZRLE => self.zrle.decode(body, rect, format, framebuffer),
            // The rest keep no state: the same code serves deferred decoding.
            _ => return batch::decode_in_place(encoding, body, rect, format, framebuffer),
        })
    }
}

/// A server connection's encoder state.
#[derive(Debug, Default)]
pub struct Encoders {
    pub zlib: zlib::ZlibEncoder,
    pub rre: rre::RreEncoder,
    pub hextile: hextile::HextileEncoder,
    pub corre: corre::CorreEncoder,
    pub tight: tight::TightEncoder,
    pub tight_png: tight::TightPngEncoder,
    pub trle: trle::TrleEncoder,
    pub zrle: zrle::ZrleEncoder,
}
