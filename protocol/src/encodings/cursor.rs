//! Cursor shape pseudo-encodings: instead of drawing the pointer into the framebuffer, the
//! server sends its image and the viewer draws it wherever the local pointer is, so pointer
//! motion costs no round trip.
//!
//! - Cursor (-239, RFC 6143 §7.8.1): `width * height` pixels in the viewer's pixel format,
//!   then a bitmask of `((width + 7) / 8) * height` bytes (rows padded to whole bytes, most
//!   significant bit leftmost, 1 = visible).
//! - X Cursor (-240, community spec): a primary and a secondary colour as 3 bytes of RGB each,
//!   a bitmap choosing between them (1 = primary), then a bitmask as above. A cursor without
//!   pixels has no body at all.
//! - Cursor With Alpha (-314, community spec): an S32 encoding type, then the image as a
//!   rectangle of that encoding in a fixed 32-bit format whose bytes are red, green, blue,
//!   alpha, alpha premultiplied. Only Raw is implemented: it is what we send and what
//!   TigerVNC's server sends. Another inner encoding is an error: its length cannot be known
//!   without decoding it in that format, which our pixel decoders (RGB only) cannot do.
//!
//! In all three the rectangle's x and y are the hotspot, its width and height the image's
//! size. A cursor without pixels hides the pointer.

use crate::framebuffer::Rect;
use crate::messages::{EncodingType, RectangleHeader};
use crate::pixel::PixelFormat;
use crate::wire::{Reader, Writer};

/// The widest and tallest cursor we send or accept; larger ones are refused before anything
/// is allocated.
pub const MAX_CURSOR_SIDE: u16 = 256;

/// The cursor encodings, best first: the order a server picks among those a viewer accepts.
pub const CURSOR_ENCODINGS: [EncodingType; 3] = [
    EncodingType::CURSOR_WITH_ALPHA,
    EncodingType::CURSOR,
    EncodingType::X_CURSOR,
];

/// The alpha from which a pixel counts as visible when a 1-bit mask has to stand in for it.
pub const MASK_THRESHOLD: u8 = 128;

/// A pointer image and its hotspot (the pixel that is "the" pointer position).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    pub hotspot_x: u16,
    pub hotspot_y: u16,
    pub width: u16,
    pub height: u16,
    /// `width * height` pixels, row-major, 4 bytes each: red, green, blue, alpha. Alpha is
    /// premultiplied: no colour byte exceeds its pixel's alpha, and a fully transparent pixel
    /// is all zero. This is the form Cursor With Alpha carries, so it crosses losslessly, and
    /// it blends with one multiplication per channel.
    pub rgba: Vec<u8>,
}

/// What a cursor decoder returns: the cursor and the bytes it took once the body is complete,
/// `None` before.
pub type DecodedCursor = Result<Option<(Cursor, usize)>, String>;

impl Cursor {
    /// The cursor that hides the pointer.
    pub fn hidden() -> Cursor {
        Cursor::default()
    }

    /// A cursor from premultiplied RGBA pixels, checked with [`Cursor::validate`].
    pub fn new(
        width: u16,
        height: u16,
        hotspot_x: u16,
        hotspot_y: u16,
        rgba: Vec<u8>,
    ) -> Result<Cursor, String> {
        let cursor = Cursor {
            hotspot_x,
            hotspot_y,
            width,
            height,
            rgba,
        };
        cursor.validate()?;
        Ok(cursor)
    }

    /// Checks the size limit, the pixel count, the hotspot and the premultiplication.
    pub fn validate(&self) -> Result<(), String> {
        check_side(self.width, self.height)?;
        let expected = self.area() * 4;
        if self.rgba.len() != expected {
            return Err(format!(
                "{} bytes of pixels for a {}x{} cursor (expected {expected})",
                self.rgba.len(),
                self.width,
                self.height
            ));
        }
        if !self.is_hidden() && (self.hotspot_x >= self.width || self.hotspot_y >= self.height) {
            return Err(format!(
                "hotspot {},{} lies outside the {}x{} image",
                self.hotspot_x, self.hotspot_y, self.width, self.height
            ));
        }
        if let Some(index) = self
            .rgba
            .chunks_exact(4)
            .position(|p| p[0] > p[3] || p[1] > p[3] || p[2] > p[3])
        {
            return Err(format!(
                "pixel {index}: a colour exceeds its alpha (not premultiplied)"
            ));
        }
        Ok(())
    }

    pub fn area(&self) -> usize {
        usize::from(self.width) * usize::from(self.height)
    }

    /// Whether this cursor hides the pointer (it has no pixels).
    pub fn is_hidden(&self) -> bool {
        self.area() == 0
    }

    /// The premultiplied RGBA pixel at `(x, y)`; transparent outside the image.
    pub fn pixel(&self, x: u16, y: u16) -> [u8; 4] {
        if x >= self.width || y >= self.height {
            return [0; 4];
        }
        let at = (usize::from(y) * usize::from(self.width) + usize::from(x)) * 4;
        self.rgba
            .get(at..at + 4)
            .and_then(|p| p.try_into().ok())
            .unwrap_or([0; 4])
    }

    /// The straight (not premultiplied) `0x00RRGGBB` colour of a premultiplied pixel.
    fn straight_rgb(pixel: [u8; 4]) -> u32 {
        let [r, g, b, a] = pixel;
        (u32::from(unpremultiply(r, a)) << 16)
            | (u32::from(unpremultiply(g, a)) << 8)
            | u32::from(unpremultiply(b, a))
    }
}

/// `channel * 255 / alpha`, rounded: the straight value of a premultiplied channel.
pub fn unpremultiply(channel: u8, alpha: u8) -> u8 {
    if alpha == 0 {
        return 0;
    }
    let value = (u32::from(channel) * 255 + u32::from(alpha) / 2) / u32::from(alpha);
    value.min(255) as u8
}

/// `channel * alpha / 255`, rounded: the premultiplied value of a straight channel.
pub fn premultiply(channel: u8, alpha: u8) -> u8 {
    ((u32::from(channel) * u32::from(alpha) + 127) / 255) as u8
}

fn check_side(width: u16, height: u16) -> Result<(), String> {
    if width > MAX_CURSOR_SIDE || height > MAX_CURSOR_SIDE {
        return Err(format!(
            "cursor {width}x{height} exceeds the limit of {MAX_CURSOR_SIDE} on a side"
        ));
    }
    Ok(())
}

/// The bytes of one bitmap or bitmask: rows padded to whole bytes.
pub fn mask_len(width: u16, height: u16) -> usize {
    usize::from(width).div_ceil(8) * usize::from(height)
}

/// The best cursor encoding among those a viewer listed; `None` if it listed none.
pub fn best_encoding(accepted: &[EncodingType]) -> Option<EncodingType> {
    CURSOR_ENCODINGS
        .into_iter()
        .find(|encoding| accepted.contains(encoding))
}

/// The rectangle header that carries `cursor` in `encoding`.
pub fn header(cursor: &Cursor, encoding: EncodingType) -> RectangleHeader {
    let rect = if cursor.is_hidden() {
        Rect::default()
    } else {
        Rect::new(
            cursor.hotspot_x,
            cursor.hotspot_y,
            cursor.width,
            cursor.height,
        )
    };
    RectangleHeader { rect, encoding }
}

/// Appends the body of `cursor` in `encoding` (one of [`CURSOR_ENCODINGS`]); the Cursor
/// encoding's pixels go in `format`. Nothing is written for an invalid cursor or an encoding
/// that is not a cursor encoding.
pub fn encode(
    cursor: &Cursor,
    encoding: EncodingType,
    format: &PixelFormat,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    cursor.validate()?;
    match encoding {
        EncodingType::CURSOR => encode_rich(cursor, format, out),
        EncodingType::X_CURSOR => encode_x(cursor, out),
        EncodingType::CURSOR_WITH_ALPHA => encode_with_alpha(cursor, out),
        other => return Err(format!("{other} is not a cursor encoding")),
    }
    Ok(())
}

/// Cursor: pixels in the viewer's format (straight colour where the mask shows them), then
/// the mask, visible where alpha reaches [`MASK_THRESHOLD`].
fn encode_rich(cursor: &Cursor, format: &PixelFormat, out: &mut Vec<u8>) {
    if cursor.is_hidden() {
        return;
    }
    out.reserve(cursor.area() * format.bytes_per_pixel() + mask_len(cursor.width, cursor.height));
    for pixel in cursor.rgba.chunks_exact(4) {
        let pixel = [pixel[0], pixel[1], pixel[2], pixel[3]];
        let rgb = if pixel[3] >= MASK_THRESHOLD {
            Cursor::straight_rgb(pixel)
        } else {
            0
        };
        format.write_pixel(rgb, out);
    }
    write_bits(cursor, out, |pixel| pixel[3] >= MASK_THRESHOLD);
}

/// X Cursor: the image reduced to two colours and a mask.
fn encode_x(cursor: &Cursor, out: &mut Vec<u8>) {
    if cursor.is_hidden() {
        return;
    }
    let (primary, secondary) = two_colours(cursor);
    for colour in [primary, secondary] {
        out.extend_from_slice(&colour.to_be_bytes()[1..]);
    }
    write_bits(cursor, out, |pixel| {
        if pixel[3] < MASK_THRESHOLD {
            return false;
        }
        let rgb = Cursor::straight_rgb(pixel);
        if rgb == primary || rgb == secondary {
            return rgb == primary;
        }
        // Any other colour takes the one nearer in brightness.
        let brightness = luminance(rgb);
        brightness.abs_diff(luminance(primary)) <= brightness.abs_diff(luminance(secondary))
    });
    write_bits(cursor, out, |pixel| pixel[3] >= MASK_THRESHOLD);
}

/// The two colours that stand in for a cursor's visible pixels, the darker first: the
/// colours themselves when there are at most two, otherwise the mean colour of the darker
/// and of the lighter pixels.
fn two_colours(cursor: &Cursor) -> (u32, u32) {
    let visible: Vec<u32> = cursor
        .rgba
        .chunks_exact(4)
        .filter(|p| p[3] >= MASK_THRESHOLD)
        .map(|p| Cursor::straight_rgb([p[0], p[1], p[2], p[3]]))
        .collect();
    let Some(&first) = visible.first() else {
        return (0x000000, 0xffffff);
    };
    let second = visible.iter().copied().find(|&c| c != first);
    let darker_first = |a: u32, b: u32| {
        if luminance(b) < luminance(a) {
            (b, a)
        } else {
            (a, b)
        }
    };
    let Some(second) = second else {
        return (first, first);
    };
    if visible.iter().all(|&c| c == first || c == second) {
        return darker_first(first, second);
    }
    let lightest = visible.iter().map(|&c| luminance(c)).max().unwrap_or(0);
    let darkest = visible.iter().map(|&c| luminance(c)).min().unwrap_or(0);
    let split = (lightest + darkest).div_ceil(2);
    let mean = |dark: bool| {
        let (mut sums, mut count) = ([0u32; 3], 0u32);
        for &c in visible.iter().filter(|&&c| (luminance(c) < split) == dark) {
            sums[0] += c >> 16 & 0xff;
            sums[1] += c >> 8 & 0xff;
            sums[2] += c & 0xff;
            count += 1;
        }
        let count = count.max(1);
        let channel = |sum: u32| (sum + count / 2) / count;
        (channel(sums[0]) << 16) | (channel(sums[1]) << 8) | channel(sums[2])
    };
    (mean(true), mean(false))
}

/// Perceived brightness, 0..=255000 (ITU-R BT.601 weights).
fn luminance(rgb: u32) -> u32 {
    299 * (rgb >> 16 & 0xff) + 587 * (rgb >> 8 & 0xff) + 114 * (rgb & 0xff)
}

/// Appends one bit per pixel, rows padded to whole bytes, most significant bit leftmost.
fn write_bits(cursor: &Cursor, out: &mut Vec<u8>, bit: impl Fn([u8; 4]) -> bool) {
    for y in 0..cursor.height {
        for first in (0..cursor.width).step_by(8) {
            let mut byte = 0u8;
            for x in first..(first + 8).min(cursor.width) {
                if bit(cursor.pixel(x, y)) {
                    byte |= 0x80 >> (x - first);
                }
            }
            out.push(byte);
        }
    }
}

/// Cursor With Alpha, inner encoding Raw: the premultiplied RGBA bytes as they are.
fn encode_with_alpha(cursor: &Cursor, out: &mut Vec<u8>) {
    out.put_i32(EncodingType::RAW.0);
    out.extend_from_slice(&cursor.rgba);
}

/// Decodes the body of a cursor rectangle whose header gave `encoding` and `rect`; `None` if
/// `encoding` is not a cursor encoding. The Cursor encoding's pixels are read in `format`.
pub fn decode(
    encoding: EncodingType,
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
) -> Option<DecodedCursor> {
    Some(match encoding {
        EncodingType::CURSOR => decode_rich(body, rect, format),
        EncodingType::X_CURSOR => decode_x(body, rect),
        EncodingType::CURSOR_WITH_ALPHA => decode_with_alpha(body, rect),
        _ => return None,
    })
}

/// Cursor (-239): pixels in `format`, then the mask.
pub fn decode_rich(body: &[u8], rect: &Rect, format: &PixelFormat) -> DecodedCursor {
    check_side(rect.width, rect.height)?;
    let bytes_per_pixel = format.bytes_per_pixel();
    let pixels_len = rect.area() * bytes_per_pixel;
    let total = pixels_len + mask_len(rect.width, rect.height);
    let Some(body) = body.get(..total) else {
        return Ok(None);
    };
    let (pixels, mask) = body.split_at(pixels_len);
    let rgba = unpack(rect, |x, y, index| {
        if !bit_at(mask, rect.width, x, y) {
            return [0; 4];
        }
        let at = index * bytes_per_pixel;
        let rgb = format.read_pixel(&pixels[at..at + bytes_per_pixel]);
        [(rgb >> 16) as u8, (rgb >> 8) as u8, rgb as u8, 255]
    });
    Ok(Some((finish(rect, rgba), total)))
}

/// X Cursor (-240): two colours, the bitmap choosing between them, the mask.
pub fn decode_x(body: &[u8], rect: &Rect) -> DecodedCursor {
    check_side(rect.width, rect.height)?;
    if rect.area() == 0 {
        return Ok(Some((Cursor::hidden(), 0)));
    }
    let bits_len = mask_len(rect.width, rect.height);
    let total = 6 + 2 * bits_len;
    let Some(body) = body.get(..total) else {
        return Ok(None);
    };
    let (colours, bits) = body.split_at(6);
    let (bitmap, mask) = bits.split_at(bits_len);
    let rgba = unpack(rect, |x, y, _| {
        if !bit_at(mask, rect.width, x, y) {
            return [0; 4];
        }
        let colour = if bit_at(bitmap, rect.width, x, y) {
            &colours[..3]
        } else {
            &colours[3..]
        };
        [colour[0], colour[1], colour[2], 255]
    });
    Ok(Some((finish(rect, rgba), total)))
}

/// Cursor With Alpha (-314): the inner encoding (only Raw), then premultiplied RGBA.
pub fn decode_with_alpha(body: &[u8], rect: &Rect) -> DecodedCursor {
    check_side(rect.width, rect.height)?;
    let mut reader = Reader::new(body);
    let Some(inner) = reader.i32().map(EncodingType) else {
        return Ok(None);
    };
    if inner != EncodingType::RAW {
        return Err(format!(
            "cursor with alpha: inner encoding {inner} is not supported (only raw is)"
        ));
    }
    let Some(pixels) = reader.take(rect.area() * 4) else {
        return Ok(None);
    };
    // A colour above its alpha is not premultiplied data; clamp rather than overflow later.
    let rgba = pixels
        .chunks_exact(4)
        .flat_map(|p| [p[0].min(p[3]), p[1].min(p[3]), p[2].min(p[3]), p[3]])
        .collect();
    Ok(Some((finish(rect, rgba), reader.consumed())))
}

/// Builds the RGBA pixels of `rect`'s area, row-major, from `pixel(x, y, index)`.
fn unpack(rect: &Rect, pixel: impl Fn(u16, u16, usize) -> [u8; 4]) -> Vec<u8> {
    let mut rgba = Vec::with_capacity(rect.area() * 4);
    let mut index = 0;
    for y in 0..rect.height {
        for x in 0..rect.width {
            rgba.extend_from_slice(&pixel(x, y, index));
            index += 1;
        }
    }
    rgba
}

fn bit_at(bits: &[u8], width: u16, x: u16, y: u16) -> bool {
    let row_bytes = usize::from(width).div_ceil(8);
    let byte = bits[usize::from(y) * row_bytes + usize::from(x / 8)];
    byte & (0x80 >> (x % 8)) != 0
}

/// The cursor a decoded rectangle describes. A hotspot outside the image (which the spec does
/// not forbid, but no drawing can use) is moved to the image's nearest edge.
fn finish(rect: &Rect, rgba: Vec<u8>) -> Cursor {
    if rect.area() == 0 {
        return Cursor::hidden();
    }
    Cursor {
        hotspot_x: rect.x.min(rect.width - 1),
        hotspot_y: rect.y.min(rect.height - 1),
        width: rect.width,
        height: rect.height,
        rgba,
    }
}

#[cfg(test)]
mod tests;
