//! Hextile encoding (number 5, RFC 6143 §7.7.4): the rectangle cut into 16x16 tiles, left
//! to right and top to bottom, each either Raw or a background with small subrectangles,
//! positions and sizes in a nibble each.
//!
//! The background and foreground colours carry over from tile to tile within a rectangle.
//! RFC 6143 pins down when: the first non-Raw tile must specify its background; a Raw tile
//! leaves neither colour to carry over; a tile with SubrectsColoured leaves no foreground;
//! a tile without subrectangles passes on the foreground it had. The decoder enforces
//! exactly that, and the encoder relies on nothing more.
//!
//! The encoder picks per tile the smallest of: solid (one byte when the background carries
//! over), background plus one foreground colour with subrectangles, background plus
//! coloured subrectangles, and Raw.

use super::Decoded;
use super::subrects::{ColourCounts, SubrectFinder, load_block};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

pub const TILE_SIZE: u16 = 16;

/// Bits of the subencoding mask.
const RAW: u8 = 1;
const BACKGROUND_SPECIFIED: u8 = 2;
const FOREGROUND_SPECIFIED: u8 = 4;
const ANY_SUBRECTS: u8 = 8;
const SUBRECTS_COLOURED: u8 = 16;
const DEFINED_BITS: u8 = 31;

/// The tiles of `rect` in wire order (`rect` lies inside the framebuffer, so no overflow).
fn tiles(rect: &Rect) -> impl Iterator<Item = Rect> + use<> {
    let rect = *rect;
    (0..rect.height)
        .step_by(usize::from(TILE_SIZE))
        .flat_map(move |top| {
            (0..rect.width)
                .step_by(usize::from(TILE_SIZE))
                .map(move |left| {
                    Rect::new(
                        rect.x + left,
                        rect.y + top,
                        (rect.width - left).min(TILE_SIZE),
                        (rect.height - top).min(TILE_SIZE),
                    )
                })
        })
}

/// Checks a non-Raw tile's mask against what carries over into it.
fn check_mask(index: usize, mask: u8, background: bool, foreground: bool) -> Result<(), String> {
    let fail = |why: &str| Err(format!("tile {index}: {why} (subencoding {mask:#04x})"));
    if mask & !DEFINED_BITS != 0 {
        return fail("bits Hextile does not define");
    }
    if mask & BACKGROUND_SPECIFIED == 0 && !background {
        return fail("no background specified and none carried over");
    }
    if mask & FOREGROUND_SPECIFIED != 0 && mask & SUBRECTS_COLOURED != 0 {
        return fail("ForegroundSpecified with SubrectsColoured");
    }
    let needs_foreground = mask & (ANY_SUBRECTS | SUBRECTS_COLOURED) == ANY_SUBRECTS;
    if needs_foreground && mask & FOREGROUND_SPECIFIED == 0 && !foreground {
        return fail("subrectangles in a foreground neither specified nor carried over");
    }
    Ok(())
}

/// How many bytes the Hextile body at the start of `body` takes; `None` if not all there
/// yet. Also checks the colour carry-over, which needs only the masks.
pub fn body_len(body: &[u8], rect: &Rect, format: &PixelFormat) -> Result<Option<usize>, String> {
    let bpp = format.bytes_per_pixel();
    let mut at = 0;
    let (mut background, mut foreground) = (false, false);
    for (index, tile) in tiles(rect).enumerate() {
        let Some(&mask) = body.get(at) else {
            return Ok(None);
        };
        at += 1;
        if mask & RAW != 0 {
            at += tile.area() * bpp;
            (background, foreground) = (false, false);
            continue;
        }
        check_mask(index, mask, background, foreground)?;
        if mask & BACKGROUND_SPECIFIED != 0 {
            at += bpp;
            background = true;
        }
        if mask & FOREGROUND_SPECIFIED != 0 {
            at += bpp;
            foreground = true;
        }
        if mask & ANY_SUBRECTS != 0 {
            let Some(&count) = body.get(at) else {
                return Ok(None);
            };
            let each = if mask & SUBRECTS_COLOURED != 0 {
                bpp + 2
            } else {
                2
            };
            at += 1 + usize::from(count) * each;
        }
        if mask & SUBRECTS_COLOURED != 0 {
            foreground = false;
        }
    }
    Ok((at <= body.len()).then_some(at))
}

/// Draws a Hextile rectangle (framing and pixels).
pub fn decode(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Decoded {
    let Some(len) = body_len(body, rect, format)? else {
        return Ok(None);
    };
    draw(&body[..len], rect, format, framebuffer)?;
    Ok(Some(len))
}

/// Draws a Hextile body of exactly the length [`body_len`] gave.
pub fn draw(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Result<(), String> {
    let bpp = format.bytes_per_pixel();
    let mut at = 0;
    let mut take = |index: usize, n: usize| {
        let bytes = body.get(at..at + n);
        at += n;
        bytes.ok_or_else(|| format!("tile {index}: body ends inside the tile"))
    };
    let (mut background, mut foreground) = (None, None);
    let mut pixels = [0u32; (TILE_SIZE * TILE_SIZE) as usize];
    for (index, tile) in tiles(rect).enumerate() {
        let pixels = &mut pixels[..tile.area()];
        let mask = take(index, 1)?[0];
        if mask & RAW != 0 {
            format.read_pixels(take(index, pixels.len() * bpp)?, pixels);
            framebuffer.put_pixels(&tile, pixels);
            (background, foreground) = (None, None);
            continue;
        }
        check_mask(index, mask, background.is_some(), foreground.is_some())?;
        if mask & BACKGROUND_SPECIFIED != 0 {
            background = Some(format.read_pixel(take(index, bpp)?));
        }
        if mask & FOREGROUND_SPECIFIED != 0 {
            foreground = Some(format.read_pixel(take(index, bpp)?));
        }
        let background_colour = background.unwrap_or_default();
        if mask & ANY_SUBRECTS == 0 {
            framebuffer.fill_rect(&tile, background_colour);
        } else {
            pixels.fill(background_colour);
            let count = take(index, 1)?[0];
            let (tile_width, tile_height) = (usize::from(tile.width), usize::from(tile.height));
            for subrect in 0..count {
                let colour = if mask & SUBRECTS_COLOURED != 0 {
                    format.read_pixel(take(index, bpp)?)
                } else {
                    foreground.unwrap_or_default()
                };
                let position = take(index, 2)?;
                let (x, y) = (usize::from(position[0] >> 4), usize::from(position[0] & 15));
                let (w, h) = (
                    usize::from(position[1] >> 4) + 1,
                    usize::from(position[1] & 15) + 1,
                );
                if x + w > tile_width || y + h > tile_height {
                    return Err(format!(
                        "tile {index}: subrectangle {subrect} at {x},{y} {w}x{h} lies outside \
                         the {tile_width}x{tile_height} tile"
                    ));
                }
                for row in pixels.chunks_exact_mut(tile_width).skip(y).take(h) {
                    row[x..x + w].fill(colour);
                }
            }
            framebuffer.put_pixels(&tile, pixels);
        }
        if mask & SUBRECTS_COLOURED != 0 {
            foreground = None;
        }
    }
    Ok(())
}

/// The Hextile encoder's scratch buffers, kept from rectangle to rectangle.
#[derive(Debug, Default)]
pub struct HextileEncoder {
    tile: Vec<u32>,
    counts: ColourCounts,
    finder: SubrectFinder,
    subrects: Vec<u8>,
    alternative: Vec<u8>,
}

/// The colours the viewer will carry into the next tile.
#[derive(Debug, Default, Clone, Copy)]
struct Carried {
    background: Option<u32>,
    foreground: Option<u32>,
}

impl HextileEncoder {
    /// Appends the Hextile body of `rect` (inside `framebuffer`).
    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        let mut carried = Carried::default();
        for tile in tiles(rect) {
            load_block(framebuffer, &tile, format, &mut self.tile);
            self.encode_tile(&tile, format, &mut carried, out);
        }
    }

    fn encode_tile(
        &mut self,
        tile: &Rect,
        format: &PixelFormat,
        carried: &mut Carried,
        out: &mut Vec<u8>,
    ) {
        let bpp = format.bytes_per_pixel();
        let raw_len = 1 + bpp * self.tile.len();
        let (first, second, first_count, many) = first_two_colours(&self.tile);
        let Some(second) = second else {
            // Solid: never larger than Raw, and it keeps the colours carried over.
            let specify = carried.background != Some(first);
            out.push(if specify { BACKGROUND_SPECIFIED } else { 0 });
            if specify {
                format.write_pixel(first, out);
            }
            carried.background = Some(first);
            return;
        };
        let header_len = |background: u32, foreground: Option<u32>| {
            let mut len = 2; // mask, count
            if carried.background != Some(background) {
                len += bpp;
            }
            if foreground.is_some() && carried.foreground != foreground {
                len += bpp;
            }
            len
        };
        let (width, height) = (usize::from(tile.width), usize::from(tile.height));
        if !many {
            // Two colours: the more frequent (or, on a tie, the carried one) is background.
            let second_count = self.tile.len() - first_count;
            let first_is_background = first_count > second_count
                || (first_count == second_count && carried.background != Some(second));
            let (mut background, mut foreground) = if first_is_background {
                (first, second)
            } else {
                (second, first)
            };
            let header = header_len(background, Some(foreground));
            let budget = raw_len.saturating_sub(header);
            let mut best = self
                .subrects_within(budget, background, None, width, height)
                .map(|len| header + len);
            // The other way round may be smaller when its colours carry over.
            let swapped_header = header_len(foreground, Some(background));
            if swapped_header < header {
                let limit = best.map_or(raw_len, |len| len - 1);
                std::mem::swap(&mut self.subrects, &mut self.alternative);
                let budget = limit.saturating_sub(swapped_header);
                match self.subrects_within(budget, foreground, None, width, height) {
                    Some(len) => {
                        best = Some(swapped_header + len);
                        std::mem::swap(&mut background, &mut foreground);
                    }
                    None => std::mem::swap(&mut self.subrects, &mut self.alternative),
                }
            }
            if best.is_some() {
                let mask = ANY_SUBRECTS;
                self.put_tile(mask, background, Some(foreground), carried, format, out);
                return;
            }
        } else {
            let (background, distinct) = self.counts.most_frequent(&self.tile);
            let background = background.unwrap_or(first);
            let header = header_len(background, None);
            // Each other colour needs one subrectangle at least.
            if header + (distinct - 1) * (bpp + 2) <= raw_len {
                let budget = raw_len - header;
                if self
                    .subrects_within(budget, background, Some(format), width, height)
                    .is_some()
                {
                    let mask = ANY_SUBRECTS | SUBRECTS_COLOURED;
                    self.put_tile(mask, background, None, carried, format, out);
                    return;
                }
            }
        }
        out.push(RAW);
        format.write_pixels(&self.tile, out);
        *carried = Carried::default();
    }

    /// Writes the subrectangles of the tile over `background` into `self.subrects` (with
    /// their colours when `coloured` gives the format) and returns their length, or `None`
    /// when that would exceed `budget` bytes or 255 subrectangles.
    fn subrects_within(
        &mut self,
        budget: usize,
        background: u32,
        coloured: Option<&PixelFormat>,
        width: usize,
        height: usize,
    ) -> Option<usize> {
        let bytes = &mut self.subrects;
        bytes.clear();
        let mut count = 0;
        let finished = self
            .finder
            .find(&self.tile, width, height, background, |r| {
                if let Some(format) = coloured {
                    format.write_pixel(r.colour, bytes);
                }
                bytes.push(((r.x as u8) << 4) | r.y as u8);
                bytes.push((((r.width - 1) as u8) << 4) | (r.height - 1) as u8);
                count += 1;
                count <= 255 && bytes.len() <= budget
            });
        finished.then_some(bytes.len())
    }

    /// Appends a tile of subrectangles from `self.subrects`, specifying what does not carry
    /// over, and records what the viewer carries into the next tile.
    fn put_tile(
        &self,
        mut mask: u8,
        background: u32,
        foreground: Option<u32>,
        carried: &mut Carried,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        let mask_at = out.len();
        out.push(0);
        if carried.background != Some(background) {
            mask |= BACKGROUND_SPECIFIED;
            format.write_pixel(background, out);
        }
        if let Some(foreground) = foreground.filter(|&f| carried.foreground != Some(f)) {
            mask |= FOREGROUND_SPECIFIED;
            format.write_pixel(foreground, out);
        }
        out[mask_at] = mask;
        let count = self.subrects.len()
            / if foreground.is_some() {
                2
            } else {
                2 + format.bytes_per_pixel()
            };
        out.push(count as u8);
        out.extend_from_slice(&self.subrects);
        carried.background = Some(background);
        carried.foreground = foreground;
    }
}

/// The first colour of `pixels`, the second one if any, how many pixels have the first, and
/// whether there is a third colour (in which case the count is not complete).
fn first_two_colours(pixels: &[u32]) -> (u32, Option<u32>, usize, bool) {
    let first = pixels.first().copied().unwrap_or_default();
    let mut second = None;
    let mut first_count = 0;
    for &pixel in pixels {
        if pixel == first {
            first_count += 1;
        } else if second.is_none() {
            second = Some(pixel);
        } else if second != Some(pixel) {
            return (first, second, first_count, true);
        }
    }
    (first, second, first_count, false)
}

#[cfg(test)]
mod tests;
