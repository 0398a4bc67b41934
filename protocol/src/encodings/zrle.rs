//! ZRLE encoding (number 16, RFC 6143 §7.7.6): a 4-byte length, then that many bytes of one
//! persistent zlib stream per connection, inflating to the rectangle in 64x64 tiles coded as
//! TRLE codes its tiles (raw, solid, packed palette, plain RLE, palette RLE; no palette
//! reuse). The tile coder is shared with TRLE (see `rle_tiles`).

use super::rle_tiles::{Cpixels, Flavour, TileEncoder, tiles, walk};
use super::zstream::{Deflater, Inflater};
use super::{Decoded, zlib};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// The most colours a tile's palette may hold.
pub use super::rle_tiles::MAX_PALETTE_SIZE;

/// The most compressed bytes one rectangle may carry (the u32 length field allows 4 GiB).
pub const MAX_COMPRESSED_LEN: usize = zlib::MAX_COMPRESSED_LEN;

/// The zlib level a connection starts with. On real desktop frames (terminals, browsers,
/// office documents) zlib-rs's level 1 is a quick mode that compresses tile streams 26 %
/// worse than level 2; level 3 is 5 % smaller than 2 for 20 % more deflate time; level 6
/// is another 5 % smaller for 50 % more time than 3.
pub const DEFAULT_LEVEL: u32 = 6;

#[derive(Debug)]
pub struct ZrleEncoder {
    tiles: TileEncoder,
    stream: Deflater,
    /// The uncompressed tile stream of one rectangle.
    scratch: Vec<u8>,
}

impl Default for ZrleEncoder {
    fn default() -> Self {
        Self {
            tiles: TileEncoder::default(),
            stream: Deflater::new(DEFAULT_LEVEL),
            scratch: Vec::new(),
        }
    }
}

impl ZrleEncoder {
    /// Changes the zlib level (0 to 9, as the CompressLevel pseudo-encodings ask) for the
    /// rectangles that follow; the stream carries on.
    pub fn set_level(&mut self, level: u32) {
        self.stream.set_level(level);
    }

    pub fn level(&self) -> u32 {
        self.stream.level()
    }

    /// Appends the body of a ZRLE rectangle: `rect` (inside `framebuffer`) in `format`.
    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        self.scratch.clear();
        self.tiles
            .encode(framebuffer, rect, format, Flavour::Zrle, &mut self.scratch);
        self.stream.compress_with_length(&self.scratch, out);
    }
}

/// The framing pass: the bytes a ZRLE body takes (the length field and the zlib data),
/// `None` if the length field is not all there.
pub fn body_len(body: &[u8]) -> Result<Option<usize>, String> {
    let Some(length) = body.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) else {
        return Ok(None);
    };
    let length = length as usize;
    if length > MAX_COMPRESSED_LEN {
        return Err(format!(
            "compressed length {length} exceeds {MAX_COMPRESSED_LEN}"
        ));
    }
    Ok(Some(4 + length))
}

/// The most bytes the tile stream of `rect` can take: per tile, a subencoding byte and
/// either a full palette with one byte per pixel (palette RLE) or a CPIXEL and a length
/// byte per pixel (plain RLE), whichever is more. More inflated data is an error.
pub fn max_tile_stream_len(rect: &Rect, format: &PixelFormat) -> usize {
    let pixel_bytes = Cpixels::new(format).bytes();
    tiles(rect, Flavour::Zrle.tile_size())
        .map(|tile| {
            let area = tile.area();
            1 + (MAX_PALETTE_SIZE * pixel_bytes + area).max((pixel_bytes + 1) * area)
        })
        .sum()
}

#[derive(Debug, Default)]
pub struct ZrleDecoder {
    stream: Inflater,
    /// The inflated tile stream of one rectangle.
    scratch: Vec<u8>,
}

impl ZrleDecoder {
    /// Decodes one rectangle; the zlib stream is touched only once the whole body is there.
    pub fn decode(
        &mut self,
        body: &[u8],
        rect: &Rect,
        format: &PixelFormat,
        framebuffer: &mut Framebuffer,
    ) -> Decoded {
        let Some(length) = body_len(body)? else {
            return Ok(None);
        };
        let Some(compressed) = body.get(4..length) else {
            return Ok(None);
        };
        self.scratch.clear();
        let limit = max_tile_stream_len(rect, format);
        self.stream
            .inflate_into(compressed, limit, &mut self.scratch)?;
        let used = walk(
            &self.scratch,
            rect,
            format,
            Flavour::Zrle,
            Some(framebuffer),
        )?
        .ok_or_else(|| format!("the tile data ends early ({} bytes)", self.scratch.len()))?;
        if used != self.scratch.len() {
            return Err(format!(
                "{} bytes of tile data left over after the last tile",
                self.scratch.len() - used
            ));
        }
        Ok(Some(length))
    }
}

#[cfg(test)]
mod tests;
