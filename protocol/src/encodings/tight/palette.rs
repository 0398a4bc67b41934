//! Colour analysis for the encoders: the distinct colours of a rectangle (up to 256) with a
//! small open-addressing table from colour to index, and the packing of a rectangle into
//! palette indices of 1, 2, 4 or 8 bits, leftmost pixel in the most significant bits, each
//! row padded to a byte (Tight's PaletteFilter and PNG share this layout).

use crate::framebuffer::{Framebuffer, Rect};

/// Slots in the colour table: a power of two, at least four times the largest palette so
/// that probe chains stay short.
const SLOTS: usize = 1024;
/// No native pixel has its top byte set, so this never collides with a colour.
const EMPTY: u32 = u32::MAX;

/// The distinct colours of one rectangle, in order of first appearance until sorted.
#[derive(Clone)]
pub struct Palette {
    colours: Vec<u32>,
    keys: Box<[u32; SLOTS]>,
    indices: Box<[u8; SLOTS]>,
}

impl std::fmt::Debug for Palette {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Palette({} colours)", self.colours.len())
    }
}

impl Default for Palette {
    fn default() -> Self {
        Self {
            colours: Vec::with_capacity(256),
            keys: Box::new([EMPTY; SLOTS]),
            indices: Box::new([0; SLOTS]),
        }
    }
}

#[inline]
fn slot_of(colour: u32) -> usize {
    (colour.wrapping_mul(0x9e37_79b1) >> 22) as usize
}

impl Palette {
    pub fn colours(&self) -> &[u32] {
        &self.colours
    }

    fn clear(&mut self) {
        for &colour in &self.colours {
            let mut slot = slot_of(colour);
            while self.keys[slot] != colour {
                slot = (slot + 1) & (SLOTS - 1);
            }
            self.keys[slot] = EMPTY;
        }
        // Removing keys may break probe chains of the others, but all of them go.
        self.colours.clear();
    }

    /// Adds `colour` if it is new; false if that would make more than `limit` colours.
    #[inline]
    fn insert(&mut self, colour: u32, limit: usize) -> bool {
        let mut slot = slot_of(colour);
        loop {
            let key = self.keys[slot];
            if key == colour {
                return true;
            }
            if key == EMPTY {
                if self.colours.len() >= limit {
                    return false;
                }
                self.keys[slot] = colour;
                self.indices[slot] = self.colours.len() as u8;
                self.colours.push(colour);
                return true;
            }
            slot = (slot + 1) & (SLOTS - 1);
        }
    }

    /// Collects the colours of `rect` (inside `framebuffer`); false as soon as there are more
    /// than `limit` (at most 256), leaving the palette unusable until the next collect.
    pub fn collect(&mut self, framebuffer: &Framebuffer, rect: &Rect, limit: usize) -> bool {
        self.clear();
        let limit = limit.min(256);
        let mut last = EMPTY;
        for row in 0..rect.height {
            for &pixel in framebuffer.row(rect, row) {
                if pixel != last {
                    last = pixel;
                    if !self.insert(pixel, limit) {
                        return false;
                    }
                }
            }
        }
        true
    }

    /// Numbers the colours in ascending order of value, so that a colour tends to keep its
    /// index from one rectangle to the next and zlib finds repeated index bytes.
    pub fn sort(&mut self) {
        self.colours.sort_unstable();
        for (index, &colour) in self.colours.iter().enumerate() {
            let mut slot = slot_of(colour);
            while self.keys[slot] != colour {
                slot = (slot + 1) & (SLOTS - 1);
            }
            self.indices[slot] = index as u8;
        }
    }

    /// The index of a colour that [`Palette::collect`] saw.
    #[inline]
    pub fn index_of(&self, colour: u32) -> u8 {
        let mut slot = slot_of(colour);
        // Bounded: a colour the table does not hold stops at the first empty slot.
        for _ in 0..SLOTS {
            let key = self.keys[slot];
            if key == colour {
                return self.indices[slot];
            }
            if key == EMPTY {
                break;
            }
            slot = (slot + 1) & (SLOTS - 1);
        }
        0
    }

    /// Bits per index that PNG needs for this many colours (Tight uses 1 or 8).
    pub fn png_bits(&self) -> u8 {
        match self.colours.len() {
            0..=2 => 1,
            3..=4 => 2,
            5..=16 => 4,
            _ => 8,
        }
    }

    /// Appends the indices of `rect`'s pixels, `bits` (1, 2, 4 or 8) per pixel, rows padded
    /// to whole bytes.
    pub fn pack(&self, framebuffer: &Framebuffer, rect: &Rect, bits: u8, out: &mut Vec<u8>) {
        let bits = u32::from(bits);
        let width = usize::from(rect.width);
        out.reserve((width * bits as usize).div_ceil(8) * usize::from(rect.height));
        let mut last_colour = EMPTY;
        let mut last_index = 0u8;
        for row in 0..rect.height {
            let pixels = framebuffer.row(rect, row);
            if bits == 8 {
                for &pixel in pixels {
                    if pixel != last_colour {
                        last_colour = pixel;
                        last_index = self.index_of(pixel);
                    }
                    out.push(last_index);
                }
                continue;
            }
            let per_byte = (8 / bits) as usize;
            for group in pixels.chunks(per_byte) {
                let mut byte = 0u8;
                let mut shift = 8;
                for &pixel in group {
                    if pixel != last_colour {
                        last_colour = pixel;
                        last_index = self.index_of(pixel);
                    }
                    shift -= bits;
                    byte |= last_index << shift;
                }
                out.push(byte);
            }
        }
    }
}

/// Turns palette indices (`bits` per pixel, rows padded to bytes) back into pixels: `width`
/// per row, as many rows as `out` holds. `data` must hold exactly the packed size; an index
/// past the palette is an error.
pub fn unpack(
    data: &[u8],
    width: usize,
    bits: u8,
    palette: &[u32],
    out: &mut [u32],
) -> Result<(), String> {
    if width == 0 {
        return Ok(());
    }
    let mut table = [0u32; 256];
    table[..palette.len().min(256)].copy_from_slice(&palette[..palette.len().min(256)]);
    if bits == 8 {
        let highest = data.iter().copied().max().unwrap_or(0);
        if usize::from(highest) >= palette.len() {
            return Err(format!(
                "palette index {highest} but the palette has {} colours",
                palette.len()
            ));
        }
        for (pixel, &index) in out.iter_mut().zip(data) {
            *pixel = table[usize::from(index)];
        }
        return Ok(());
    }
    let row_bytes = (width * usize::from(bits)).div_ceil(8);
    let mask = (1u8 << bits) - 1;
    let per_byte = usize::from(8 / bits);
    for (row, (pixels, packed)) in out
        .chunks_mut(width)
        .zip(data.chunks(row_bytes))
        .enumerate()
    {
        for (group, &byte) in pixels.chunks_mut(per_byte).zip(packed) {
            let mut shift = 8;
            for pixel in group {
                shift -= bits;
                let index = usize::from((byte >> shift) & mask);
                if index >= palette.len() {
                    return Err(format!(
                        "row {row}: palette index {index} but the palette has {} colours",
                        palette.len()
                    ));
                }
                *pixel = table[index];
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_pack_and_unpack_at_every_depth() {
        let colours = [0x000000, 0xffffff, 0x123456, 0xabcdef, 0x00ff00];
        let pixels: Vec<u32> = (0..11 * 3).map(|i| colours[(i * 7 / 3) % 5]).collect();
        let framebuffer = Framebuffer::from_pixels(11, 3, pixels.clone()).unwrap();
        let rect = framebuffer.bounds();
        let mut palette = Palette::default();
        assert!(!palette.collect(&framebuffer, &rect, 4));
        assert!(palette.collect(&framebuffer, &rect, 5));
        assert_eq!(palette.colours().len(), 5);
        for bits in [4u8, 8] {
            let mut packed = Vec::new();
            palette.pack(&framebuffer, &rect, bits, &mut packed);
            assert_eq!(packed.len(), (11 * usize::from(bits)).div_ceil(8) * 3);
            let mut decoded = vec![0; pixels.len()];
            unpack(&packed, 11, bits, palette.colours(), &mut decoded).unwrap();
            assert_eq!(decoded, pixels, "{bits} bits");
            assert!(unpack(&packed, 11, bits, &palette.colours()[..4], &mut decoded).is_err());
        }
        palette.sort();
        assert_eq!(
            palette.colours(),
            [0x000000, 0x00ff00, 0x123456, 0xabcdef, 0xffffff]
        );
        let mut packed = Vec::new();
        palette.pack(&framebuffer, &rect, 8, &mut packed);
        let mut decoded = vec![0; pixels.len()];
        unpack(&packed, 11, 8, palette.colours(), &mut decoded).unwrap();
        assert_eq!(decoded, pixels, "sorted");
        // Collecting again forgets the old colours.
        let two = Framebuffer::from_pixels(2, 1, vec![7, 9]).unwrap();
        assert!(palette.collect(&two, &two.bounds(), 256));
        assert_eq!(palette.colours(), [7, 9]);
        assert_eq!(palette.index_of(9), 1);
        assert_eq!(palette.png_bits(), 1);
    }
}
