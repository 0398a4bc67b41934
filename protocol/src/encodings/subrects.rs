//! What the encoders of the RRE family (RRE, CoRRE, RFC 6143 §7.7.3) and Hextile (§7.7.4)
//! share: copying a block of the framebuffer into a scratch buffer with colours reduced to
//! what the viewer's format can tell apart, and covering a block greedily with single-colour
//! rectangles drawn over a background.

use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// One single-colour rectangle, relative to the block's top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Subrect {
    pub colour: u32,
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// Copies `rect` (inside `framebuffer`) into `block`, row-major. In a format with fewer than
/// eight bits per channel, each pixel becomes the native colour of its value, so that colours
/// the viewer cannot tell apart compare equal and merge into the same rectangles.
pub(crate) fn load_block(
    framebuffer: &Framebuffer,
    rect: &Rect,
    format: &PixelFormat,
    block: &mut Vec<u32>,
) {
    block.clear();
    block.reserve(rect.area());
    for row in 0..rect.height {
        block.extend_from_slice(framebuffer.row(rect, row));
    }
    let exact = format.red_max == 255 && format.green_max == 255 && format.blue_max == 255;
    if exact {
        return;
    }
    // Screen content comes in runs: convert each distinct neighbour once.
    let (mut last_in, mut last_out) = (u32::MAX, 0);
    for pixel in block.iter_mut() {
        if *pixel != last_in {
            last_in = *pixel;
            last_out = format.rgb_of_value(format.pixel_value(*pixel));
        }
        *pixel = last_out;
    }
}

/// Finds rectangles for a block; keeps its bitmap of covered pixels between calls.
#[derive(Debug, Default)]
pub(crate) struct SubrectFinder {
    covered: Vec<u64>,
}

impl SubrectFinder {
    /// Calls `emit` with rectangles that, drawn in order over a fill of `background`, give
    /// back `pixels` (row-major, `width` wide, `height` rows). Each rectangle starts at the
    /// first pixel (in row order) not yet covered and not background, and is the largest
    /// one of that pixel's colour with that corner. Rectangles may overlap, but only on
    /// pixels of their own colour, which lets crossing strokes go as two rectangles.
    ///
    /// Stops as soon as `emit` returns false; returns whether it got to the end.
    pub(crate) fn find(
        &mut self,
        pixels: &[u32],
        width: usize,
        height: usize,
        background: u32,
        mut emit: impl FnMut(Subrect) -> bool,
    ) -> bool {
        let area = width * height;
        debug_assert_eq!(pixels.len(), area);
        self.covered.clear();
        self.covered.resize(area.div_ceil(64), 0);
        for y in 0..height {
            let row_start = y * width;
            let row = &pixels[row_start..row_start + width];
            let mut x = 0;
            while x < width {
                let colour = row[x];
                let index = row_start + x;
                if colour == background || self.covered[index / 64] & (1 << (index % 64)) != 0 {
                    x += 1;
                    continue;
                }
                let (rect_width, rect_height) = largest_from(pixels, width, height, x, y);
                for covered_row in y..y + rect_height {
                    set_bits(&mut self.covered, covered_row * width + x, rect_width);
                }
                let subrect = Subrect {
                    colour,
                    x,
                    y,
                    width: rect_width,
                    height: rect_height,
                };
                if !emit(subrect) {
                    return false;
                }
                x += rect_width;
            }
        }
        true
    }
}

/// The width and height of the largest rectangle of the colour at (`x`, `y`) whose top-left
/// corner is that pixel: walks down, narrowing to the run of the colour in each row.
fn largest_from(pixels: &[u32], width: usize, height: usize, x: usize, y: usize) -> (usize, usize) {
    let colour = pixels[y * width + x];
    let run_in_row = |row: usize, limit: usize| {
        let start = row * width + x;
        pixels[start..start + limit]
            .iter()
            .position(|&p| p != colour)
            .unwrap_or(limit)
    };
    let mut run = run_in_row(y, width - x);
    let (mut best_width, mut best_height) = (run, 1);
    let mut rows = 1;
    while y + rows < height {
        run = run_in_row(y + rows, run);
        if run == 0 {
            break;
        }
        rows += 1;
        if run * rows > best_width * best_height {
            (best_width, best_height) = (run, rows);
        }
    }
    (best_width, best_height)
}

/// Sets `count` bits starting at bit `start`.
fn set_bits(bits: &mut [u64], start: usize, count: usize) {
    let mut bit = start;
    let end = start + count;
    while bit < end {
        let offset = bit % 64;
        let span = (64 - offset).min(end - bit);
        let mask = if span == 64 {
            u64::MAX
        } else {
            ((1u64 << span) - 1) << offset
        };
        bits[bit / 64] |= mask;
        bit += span;
    }
}

/// A colour histogram: an open-addressing table that grows with the number of distinct
/// colours and is reused from block to block without reallocating.
#[derive(Debug)]
pub(crate) struct ColourCounts {
    colours: Vec<u32>,
    counts: Vec<u32>,
    used: Vec<usize>,
}

impl Default for ColourCounts {
    fn default() -> Self {
        Self::with_slots(512)
    }
}

impl ColourCounts {
    /// The largest table kept between blocks.
    const KEPT_SLOTS: usize = 1 << 16;

    fn with_slots(slots: usize) -> Self {
        Self {
            colours: vec![0; slots],
            counts: vec![0; slots],
            used: Vec::new(),
        }
    }

    fn slot_of(&self, colour: u32) -> usize {
        let mask = self.colours.len() - 1;
        let mut slot = (colour.wrapping_mul(0x9e37_79b1) >> 7) as usize & mask;
        while self.counts[slot] != 0 && self.colours[slot] != colour {
            slot = (slot + 1) & mask;
        }
        slot
    }

    fn add(&mut self, colour: u32, count: u32) {
        if self.used.len() * 2 >= self.colours.len() {
            self.grow();
        }
        let slot = self.slot_of(colour);
        if self.counts[slot] == 0 {
            self.colours[slot] = colour;
            self.used.push(slot);
        }
        self.counts[slot] += count;
    }

    fn grow(&mut self) {
        let mut larger = Self::with_slots(self.colours.len() * 2);
        for &slot in &self.used {
            larger.add(self.colours[slot], self.counts[slot]);
        }
        *self = larger;
    }

    /// Counts the colours of `pixels`; returns the most frequent one (the first seen among
    /// equals, or `None` for no pixels) and how many distinct colours there are.
    pub(crate) fn most_frequent(&mut self, pixels: &[u32]) -> (Option<u32>, usize) {
        for &slot in &self.used {
            self.counts[slot] = 0;
        }
        self.used.clear();
        let mut runs = pixels.chunk_by(|a, b| a == b);
        for run in &mut runs {
            self.add(run[0], run.len() as u32);
        }
        let mut best: Option<(u32, u32)> = None;
        for &slot in &self.used {
            let count = self.counts[slot];
            if best.is_none_or(|(_, best_count)| count > best_count) {
                best = Some((self.colours[slot], count));
            }
        }
        let distinct = self.used.len();
        // A large rectangle of noise may have grown the table a lot: do not keep that.
        if self.colours.len() > Self::KEPT_SLOTS {
            *self = Self::default();
        }
        (best.map(|(colour, _)| colour), distinct)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn paint(width: usize, height: usize, background: u32, rects: &[Subrect]) -> Vec<u32> {
        let mut out = vec![background; width * height];
        for r in rects {
            for y in r.y..r.y + r.height {
                out[y * width + r.x..y * width + r.x + r.width].fill(r.colour);
            }
        }
        out
    }

    proptest! {
        #[test]
        fn rectangles_redraw_the_block(
            width in 1usize..40, height in 1usize..40, colours in 1u32..5, seed: u64,
        ) {
            let mut state = seed | 1;
            let pixels: Vec<u32> = (0..width * height)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % u64::from(colours)) as u32
                })
                .collect();
            let mut counts = ColourCounts::default();
            let (background, _) = counts.most_frequent(&pixels);
            let background = background.unwrap();
            let mut found = Vec::new();
            let finished = SubrectFinder::default().find(&pixels, width, height, background, |r| {
                found.push(r);
                true
            });
            prop_assert!(finished);
            prop_assert_eq!(paint(width, height, background, &found), pixels);
        }
    }

    #[test]
    fn a_cross_is_two_rectangles() {
        let mut pixels = vec![0u32; 7 * 7];
        for i in 0..7 {
            pixels[3 * 7 + i] = 1;
            pixels[i * 7 + 3] = 1;
        }
        let mut found = Vec::new();
        SubrectFinder::default().find(&pixels, 7, 7, 0, |r| {
            found.push(r);
            true
        });
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(paint(7, 7, 0, &found), pixels);
    }

    #[test]
    fn histogram_grows_past_its_first_table() {
        let pixels: Vec<u32> = (0..5000).map(|i| i % 1000).chain([7, 7]).collect();
        let mut counts = ColourCounts::default();
        assert_eq!(counts.most_frequent(&pixels), (Some(7), 1000));
        assert_eq!(counts.most_frequent(&[3, 3, 4]), (Some(3), 2));
        assert_eq!(counts.most_frequent(&[]), (None, 0));
    }
}
