//! TRLE encoding (number 15, RFC 6143 §7.7.5): the rectangle in 16x16 tiles, each raw,
//! solid, packed palette, plain RLE or palette RLE, in CPIXELs, with no compression around
//! it. Subencodings 127 and 129 reuse the palette of the last tile that had one; like other
//! decoders we keep that palette only within a rectangle, and so does our encoder.
//! The tile coder itself is shared with ZRLE (see `rle_tiles`).

use super::Decoded;
use super::rle_tiles::{Flavour, TileEncoder, walk};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// The most colours a tile's palette may hold.
pub use super::rle_tiles::MAX_PALETTE_SIZE;

#[derive(Debug, Default)]
pub struct TrleEncoder {
    tiles: TileEncoder,
}

impl TrleEncoder {
    /// Appends the body of a TRLE rectangle: `rect` (inside `framebuffer`) in `format`.
    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        self.tiles
            .encode(framebuffer, rect, format, Flavour::Trle, out);
    }
}

/// The framing pass: how many bytes the body at the start of `body` takes, `None` if it is
/// not all there. Palette indices of packed tiles are checked only by [`draw`].
pub fn body_len(body: &[u8], rect: &Rect, format: &PixelFormat) -> Result<Option<usize>, String> {
    walk(body, rect, format, Flavour::Trle, None)
}

/// Draws a complete body (as found by [`body_len`]) into `framebuffer` at `rect`, which
/// lies inside it; returns the bytes it took.
pub fn draw(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Result<usize, String> {
    walk(body, rect, format, Flavour::Trle, Some(framebuffer))?
        .ok_or_else(|| "the tile data ends early".to_string())
}

/// Frames then draws one rectangle; draws nothing until the whole body is there.
pub fn decode(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Decoded {
    match body_len(body, rect, format)? {
        Some(length) => draw(&body[..length], rect, format, framebuffer).map(Some),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests;
