//! Writing a tile stream. Each tile is analysed in one pass (its runs, and its palette until
//! it passes 127 colours), the byte cost of every sub-encoding that applies is computed from
//! that, and the smallest is written (ZRLE leaves palette RLE out, see
//! [`Flavour::palette_rle_pays`]). The scratch space lives in the encoder: no allocation
//! per tile.

use super::{
    Cpixels, Flavour, MAX_PACKED_PALETTE, MAX_PALETTE_SIZE, MAX_TILE_PIXELS, PALETTE_RLE,
    PLAIN_RLE, RAW, REUSE_PACKED, REUSE_RLE, SOLID, packed_bits, packed_row_bytes, tiles,
};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// The tile coder's scratch space, kept across rectangles.
#[derive(Debug)]
pub(crate) struct TileEncoder {
    /// The tile's pixel values, row-major.
    values: Vec<u32>,
    /// The tile's palette index of each pixel (while the palette lasts).
    indices: Vec<u8>,
    /// Where each run of equal values ends, row-major, crossing row ends.
    run_ends: Vec<u16>,
    /// Two palettes: the one being built for this tile and the last one sent (TRLE reuse).
    palettes: [Palette; 2],
    /// Which of `palettes` holds the last palette sent.
    previous: usize,
}

impl Default for TileEncoder {
    fn default() -> Self {
        Self {
            values: Vec::with_capacity(MAX_TILE_PIXELS),
            indices: vec![0; MAX_TILE_PIXELS],
            run_ends: Vec::with_capacity(MAX_TILE_PIXELS),
            palettes: [Palette::default(), Palette::default()],
            previous: 0,
        }
    }
}

/// What one pass over a tile found.
#[derive(Debug, Default)]
struct Analysis {
    /// Maximal runs of equal values.
    runs: usize,
    /// Runs of a single pixel.
    single_runs: usize,
    /// Bytes beyond the first that run lengths take (one per 255 pixels).
    long_run_bytes: usize,
    /// False once the tile has more than 127 colours.
    palette_fits: bool,
}

/// The sub-encodings the encoder chooses among.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Choice {
    Raw,
    Solid,
    Packed,
    PlainRle,
    PaletteRle,
    ReusePacked,
    ReuseRle,
}

impl TileEncoder {
    /// Appends the tile stream of `rect` (inside `framebuffer`) in `format`.
    pub(crate) fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        flavour: Flavour,
        out: &mut Vec<u8>,
    ) {
        let cpixels = Cpixels::new(format);
        // The peer forgets palettes between rectangles.
        self.palettes[self.previous].clear();
        for tile in tiles(rect, flavour.tile_size()) {
            // Solid tiles are the most common by far: find them before anything else.
            let first = framebuffer.row(&tile, 0)[0];
            let solid = (0..tile.height).all(|row| {
                framebuffer
                    .row(&tile, row)
                    .iter()
                    .all(|&pixel| pixel == first)
            });
            if solid {
                self.solid(cpixels.value(first), &cpixels, out);
                continue;
            }
            self.values.clear();
            for row in 0..tile.height {
                cpixels.values_of(framebuffer.row(&tile, row), &mut self.values);
            }
            self.tile(&tile, &cpixels, flavour, out);
        }
    }

    fn solid(&mut self, value: u32, cpixels: &Cpixels, out: &mut Vec<u8>) {
        let building = 1 - self.previous;
        self.palettes[building].clear();
        self.palettes[building].insert(value);
        self.previous = building;
        out.push(SOLID);
        cpixels.put(value, out);
    }

    fn tile(&mut self, tile: &Rect, cpixels: &Cpixels, flavour: Flavour, out: &mut Vec<u8>) {
        let building = 1 - self.previous;
        let analysis = self.analyse(building);
        let palette = &self.palettes[building];
        let previous = &self.palettes[self.previous];
        let pixel_bytes = cpixels.bytes();
        let (width, height) = (usize::from(tile.width), usize::from(tile.height));
        let packed_bytes = |size: usize| packed_row_bytes(width, packed_bits(size)) * height;

        let mut best = (Choice::Raw, self.values.len() * pixel_bytes);
        let mut consider = |choice: Choice, cost: usize| {
            if cost < best.1 {
                best = (choice, cost);
            }
        };
        let run_bytes = 2 * analysis.runs - analysis.single_runs + analysis.long_run_bytes;
        consider(
            Choice::PlainRle,
            analysis.runs * (pixel_bytes + 1) + analysis.long_run_bytes,
        );
        if analysis.palette_fits {
            let palette_bytes = palette.len * pixel_bytes;
            if palette.len == 1 {
                consider(Choice::Solid, 0);
            } else if palette.len <= usize::from(MAX_PACKED_PALETTE) {
                consider(Choice::Packed, palette_bytes + packed_bytes(palette.len));
            }
            if flavour.palette_rle_pays() {
                consider(Choice::PaletteRle, palette_bytes + run_bytes);
            }
            let reusable = flavour.reuses_palettes()
                && palette.len > 1
                && previous.len >= palette.len
                && palette
                    .colours()
                    .iter()
                    .all(|&c| previous.find(c).is_some());
            if reusable {
                if previous.len <= usize::from(MAX_PACKED_PALETTE) {
                    consider(Choice::ReusePacked, packed_bytes(previous.len));
                }
                consider(Choice::ReuseRle, run_bytes);
            }
        }

        let values = &self.values;
        let indices = &self.indices[..values.len()];
        match best.0 {
            Choice::Raw => {
                out.push(RAW);
                cpixels.put_all(values, out);
            }
            Choice::PlainRle => {
                out.push(PLAIN_RLE);
                for (start, length) in runs(&self.run_ends) {
                    cpixels.put(values[start], out);
                    put_run_length(length, out);
                }
            }
            Choice::Solid => {
                out.push(SOLID);
                cpixels.put(palette.colours[0], out);
            }
            Choice::Packed => {
                out.push(palette.len as u8);
                cpixels.put_all(palette.colours(), out);
                put_packed(indices, width, packed_bits(palette.len), |i| i, out);
            }
            Choice::PaletteRle => {
                out.push(PALETTE_RLE + palette.len as u8);
                cpixels.put_all(palette.colours(), out);
                put_palette_runs(&self.run_ends, indices, |i| i, out);
            }
            Choice::ReusePacked | Choice::ReuseRle => {
                // This tile's indices, renumbered into the previous palette.
                let mut renumber = [0u8; MAX_PALETTE_SIZE];
                for (slot, &colour) in renumber.iter_mut().zip(palette.colours()) {
                    *slot = previous.find(colour).unwrap_or(0);
                }
                let renumbered = |i: u8| renumber[usize::from(i)];
                if best.0 == Choice::ReusePacked {
                    out.push(REUSE_PACKED);
                    let bits = packed_bits(previous.len);
                    put_packed(indices, width, bits, renumbered, out);
                } else {
                    out.push(REUSE_RLE);
                    put_palette_runs(&self.run_ends, indices, renumbered, out);
                }
            }
        }
        // The peer's "last palette" is now this tile's if it sent one; otherwise unchanged.
        if matches!(best.0, Choice::Solid | Choice::Packed | Choice::PaletteRle) {
            self.previous = building;
        }
    }

    /// One pass over the tile's values: runs, and the palette (into `palettes[building]`)
    /// with each pixel's index, until the colours pass 127.
    fn analyse(&mut self, building: usize) -> Analysis {
        let palette = &mut self.palettes[building];
        palette.clear();
        let values = &self.values[..];
        let indices = &mut self.indices[..values.len()];
        self.run_ends.clear();
        let mut analysis = Analysis {
            palette_fits: true,
            ..Analysis::default()
        };
        let mut start = 0;
        while let Some((&value, rest)) = values[start..].split_first() {
            let length = 1 + rest.iter().position(|&v| v != value).unwrap_or(rest.len());
            let end = start + length;
            if analysis.palette_fits {
                match palette.insert(value) {
                    Some(index) => indices[start..end].fill(index),
                    None => analysis.palette_fits = false,
                }
            }
            self.run_ends.push(end as u16);
            analysis.single_runs += usize::from(length == 1);
            if length > 255 {
                analysis.long_run_bytes += (length - 1) / 255;
            }
            start = end;
        }
        analysis.runs = self.run_ends.len();
        analysis
    }
}

/// The runs recorded by the analysis: (start, length).
fn runs(run_ends: &[u16]) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut start = 0;
    run_ends.iter().map(move |&end| {
        let run = (start, usize::from(end) - start);
        start = usize::from(end);
        run
    })
}

/// Appends a run length: 255 for every full 255 of `length - 1`, then the remainder. The
/// proxies' link codes its runs the same way.
pub fn put_run_length(length: usize, out: &mut Vec<u8>) {
    let extra = length - 1;
    out.extend(std::iter::repeat_n(255u8, extra / 255));
    out.push((extra % 255) as u8);
}

/// Appends palette RLE runs, indices mapped through `renumber`.
fn put_palette_runs(
    run_ends: &[u16],
    indices: &[u8],
    renumber: impl Fn(u8) -> u8,
    out: &mut Vec<u8>,
) {
    for (start, length) in runs(run_ends) {
        let index = renumber(indices[start]);
        if length == 1 {
            out.push(index);
        } else {
            out.push(index | 0x80);
            put_run_length(length, out);
        }
    }
}

/// Appends indices mapped through `renumber`, packed `bits` to a byte most significant
/// first, each row of `width` padded to a byte.
fn put_packed(
    indices: &[u8],
    width: usize,
    bits: usize,
    renumber: impl Fn(u8) -> u8,
    out: &mut Vec<u8>,
) {
    let per_byte = 8 / bits;
    for row in indices.chunks_exact(width) {
        for group in row.chunks(per_byte) {
            let mut byte = 0u8;
            for &index in group {
                byte = (byte << bits) | renumber(index);
            }
            out.push(byte << (bits * (per_byte - group.len())));
        }
    }
}

/// A palette of at most 127 colours with a small open-addressing hash index.
#[derive(Debug)]
struct Palette {
    colours: [u32; MAX_PALETTE_SIZE],
    len: usize,
    /// Index + 1 of the colour hashed to each slot; 0 is empty.
    slots: [u8; Palette::SLOTS],
    /// The slot of each colour, to empty them again cheaply.
    slot_of: [u8; MAX_PALETTE_SIZE],
}

impl Default for Palette {
    fn default() -> Self {
        Self {
            colours: [0; MAX_PALETTE_SIZE],
            len: 0,
            slots: [0; Palette::SLOTS],
            slot_of: [0; MAX_PALETTE_SIZE],
        }
    }
}

impl Palette {
    const SLOTS: usize = 256;

    fn colours(&self) -> &[u32] {
        &self.colours[..self.len]
    }

    fn clear(&mut self) {
        for &slot in &self.slot_of[..self.len] {
            self.slots[usize::from(slot)] = 0;
        }
        self.len = 0;
    }

    #[inline]
    fn home(colour: u32) -> usize {
        (colour.wrapping_mul(0x9e37_79b1) >> 24) as usize
    }

    /// The index of `colour`, if present.
    fn find(&self, colour: u32) -> Option<u8> {
        let mut slot = Self::home(colour);
        loop {
            match self.slots[slot] {
                0 => return None,
                entry if self.colours[usize::from(entry - 1)] == colour => return Some(entry - 1),
                _ => slot = (slot + 1) % Self::SLOTS,
            }
        }
    }

    /// The index of `colour`, added if new; `None` if the palette is full.
    #[inline]
    fn insert(&mut self, colour: u32) -> Option<u8> {
        let mut slot = Self::home(colour);
        loop {
            match self.slots[slot] {
                0 => break,
                entry if self.colours[usize::from(entry - 1)] == colour => return Some(entry - 1),
                _ => slot = (slot + 1) % Self::SLOTS,
            }
        }
        if self.len == MAX_PALETTE_SIZE {
            return None;
        }
        let index = self.len;
        self.colours[index] = colour;
        self.slot_of[index] = slot as u8;
        self.slots[slot] = index as u8 + 1;
        self.len += 1;
        Some(index as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tile stream of one tile (64x64 for ZRLE, 16x16 for TRLE) of `colour(x, y)` in
    /// NATIVE (3-byte CPIXELs).
    fn one_tile(flavour: Flavour, colour: impl Fn(u32, u32) -> u32) -> Vec<u8> {
        let size = u32::from(flavour.tile_size());
        let pixels = (0..size)
            .flat_map(|y| (0..size).map(move |x| (x, y)))
            .map(|(x, y)| colour(x, y))
            .collect();
        let picture = Framebuffer::from_pixels(size as u16, size as u16, pixels).unwrap();
        let mut out = Vec::new();
        TileEncoder::default().encode(
            &picture,
            &picture.bounds(),
            &PixelFormat::NATIVE,
            flavour,
            &mut out,
        );
        out
    }

    #[test]
    fn each_tile_gets_its_smallest_subencoding() {
        fn zrle(colour: impl Fn(u32, u32) -> u32) -> Vec<u8> {
            one_tile(Flavour::Zrle, colour)
        }
        assert_eq!(zrle(|_, _| 0x0012_3456), [SOLID, 0x56, 0x34, 0x12]);

        let noise = zrle(|x, y| (x * 7919 + y * 104_729).wrapping_mul(2_654_435_761) >> 8);
        assert_eq!((noise[0], noise.len()), (RAW, 1 + 64 * 64 * 3));

        // A checkerboard: two colours, one bit per pixel.
        let checkers = zrle(|x, y| if (x + y) % 2 == 0 { 0 } else { 0x00ff_ffff });
        assert_eq!((checkers[0], checkers.len()), (2, 1 + 2 * 3 + 64 * 8));

        // Stripes a row high: 64 runs of 64 with three colours. TRLE writes the fewest
        // bytes, palette RLE; ZRLE never uses palette RLE, plain RLE is next.
        let stripes = |_: u32, y: u32| y % 3;
        let trle = one_tile(Flavour::Trle, stripes);
        assert_eq!(trle[0], PALETTE_RLE + 3);
        assert_eq!(trle.len(), 1 + 3 * 3 + 16 * 2);
        assert_eq!(&trle[10..14], [0x80, 15, 0x81, 15]);
        let plain = zrle(stripes);
        assert_eq!((plain[0], plain.len()), (PLAIN_RLE, 1 + 64 * (3 + 1)));
        assert_eq!(&plain[1..6], [0, 0, 0, 63, 1]);
    }

    #[test]
    fn long_runs_take_extra_length_bytes() {
        let mut out = Vec::new();
        for length in [1, 255, 256, 257, 510, 511] {
            put_run_length(length, &mut out);
        }
        assert_eq!(out, [0, 254, 255, 0, 255, 1, 255, 254, 255, 255, 0]);
    }

    #[test]
    fn a_palette_holds_127_colours() {
        let mut palette = Palette::default();
        for round in 0..3u32 {
            palette.clear();
            for colour in 0..127u32 {
                assert_eq!(palette.insert(colour * 256 + round), Some(colour as u8));
            }
            assert_eq!(palette.insert(5 * 256 + round), Some(5));
            assert_eq!(palette.insert(0x00ab_cdef), None);
            assert_eq!(palette.find(126 * 256 + round), Some(126));
            assert_eq!(palette.find(0x00ab_cdef), None);
        }
    }
}
