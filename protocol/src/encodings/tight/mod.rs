//! Tight (encoding 7) and TightPNG (encoding -260), community RFB spec, "Tight Encoding".
//!
//! A rectangle starts with a compression-control byte: its low four bits reset zlib streams
//! 0-3, its high four bits choose FillCompression (one TPIXEL for the whole rectangle),
//! JpegCompression (a JFIF stream), PngCompression (TightPNG only) or BasicCompression: an
//! optional filter (copy, a palette of 2-256 colours, or the gradient predictor) whose output
//! goes through one of four persistent zlib streams, unless it is shorter than 12 bytes.
//! Lengths are compact (one to three bytes, see `compact_length`).
//!
//! The module is split by concern: `frame` finds where a rectangle's parts lie,
//! `tpixel` reads and writes Tight's pixels, `palette` and `gradient` are the
//! filters, `jpeg` the lossy path, `tightpng` the PNG variant, and the encoder and
//! decoder sit in their own files.

mod compact_length;
mod decoder;
mod encoder;
mod frame;
mod gradient;
mod jpeg;
mod palette;
mod tightpng;
mod tpixel;

#[cfg(test)]
mod known_answers;
#[cfg(test)]
mod tests;

use super::Decoded;
use crate::framebuffer::Rect;
use crate::pixel::PixelFormat;

pub use compact_length::MAX_COMPACT_LENGTH;
pub use decoder::{TightDecoder, decode_tight_png};
pub use encoder::TightEncoder;
pub use jpeg::{JpegSettings, Subsampling};
pub use tightpng::TightPngEncoder;

/// The widest rectangle Tight may carry (the spec's limit; wider ones are split). Viewers
/// such as TigerVNC refuse wider non-fill rectangles.
pub const MAX_RECT_WIDTH: u16 = 2048;

/// The most pixels a Tight rectangle should carry, as TigerVNC and TightVNC split them: it
/// keeps each rectangle's data well inside the compact length's 4 MiB and the viewer's work
/// per rectangle small. Fill rectangles may be of any size.
pub const MAX_RECT_PIXELS: usize = 65536;

/// The fewest pixels for which the encoders consider JPEG: below this its headers cost more
/// than they save.
pub const MIN_JPEG_PIXELS: usize = 2048;

/// The compression level the encoders use until the viewer asks for one. TigerVNC uses 2,
/// which sent 5-16 % more bytes on the corpus for about 40 % less encoding time.
pub const DEFAULT_COMPRESS_LEVEL: u8 = 6;

/// Bytes a Tight rectangle's body takes (`Ok(None)` while incomplete), found without
/// touching any zlib stream.
pub fn body_len(body: &[u8], rect: &Rect, format: &PixelFormat) -> Result<Option<usize>, String> {
    frame::body_len(body, rect, format, frame::Variant::Tight)
}

/// Bytes a TightPNG rectangle's body takes (`Ok(None)` while incomplete).
pub fn tight_png_body_len(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
) -> Result<Option<usize>, String> {
    frame::body_len(body, rect, format, frame::Variant::TightPng)
}
