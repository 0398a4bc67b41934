//! Tight's GradientFilter (community RFB spec, "Tight Encoding", BasicCompression): each
//! colour channel is sent as its difference from the prediction `left + above - above-left`
//! clamped to the channel's range, modulo the channel's size. Pixels outside the rectangle
//! count as zero. The channels are those of the TPIXEL: 8-bit red, green, blue for the
//! three-byte form, the format's own channel fields (with its maxima) otherwise.

use super::tpixel;
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// Where the channels sit and how big they are.
#[derive(Debug, Clone, Copy)]
struct Layout {
    rgb: bool,
    shift: [u32; 3],
    max: [u32; 3],
}

impl Layout {
    fn of(format: &PixelFormat) -> Self {
        if tpixel::is_rgb(format) {
            Self {
                rgb: true,
                shift: [16, 8, 0],
                max: [255; 3],
            }
        } else {
            Self {
                rgb: false,
                shift: [
                    u32::from(format.red_shift),
                    u32::from(format.green_shift),
                    u32::from(format.blue_shift),
                ],
                max: [
                    u32::from(format.red_max),
                    u32::from(format.green_max),
                    u32::from(format.blue_max),
                ],
            }
        }
    }

    #[inline]
    fn split(&self, value: u32) -> [u32; 3] {
        let channel = |c: usize| value.checked_shr(self.shift[c]).unwrap_or(0) & self.max[c];
        [channel(0), channel(1), channel(2)]
    }

    #[inline]
    fn join(&self, channels: [u32; 3]) -> u32 {
        let field = |c: usize| {
            (channels[c] & self.max[c])
                .checked_shl(self.shift[c])
                .unwrap_or(0)
        };
        field(0) | field(1) | field(2)
    }

    #[inline]
    fn predict(&self, left: [u32; 3], above: [u32; 3], above_left: [u32; 3]) -> [u32; 3] {
        let one = |c: usize| {
            let guess = i64::from(left[c]) + i64::from(above[c]) - i64::from(above_left[c]);
            guess.clamp(0, i64::from(self.max[c])) as u32
        };
        [one(0), one(1), one(2)]
    }
}

/// Whether the filter may be used in `format`: the spec allows it at 16 and 32 bits per
/// pixel, and the per-channel arithmetic needs channel fields that do not overlap.
pub fn suits(format: &PixelFormat) -> bool {
    if format.bits_per_pixel < 16 {
        return false;
    }
    if tpixel::is_rgb(format) {
        return true;
    }
    let layout = Layout::of(format);
    let field = |c: usize| u64::from(layout.max[c]) << layout.shift[c].min(32);
    let (red, green, blue) = (field(0), field(1), field(2));
    red & green == 0 && red & blue == 0 && green & blue == 0
}

/// Appends the gradient-filtered TPIXELs of `rect`. `rows` is scratch space.
pub fn encode(
    framebuffer: &Framebuffer,
    rect: &Rect,
    format: &PixelFormat,
    rows: &mut Vec<[u32; 3]>,
    out: &mut Vec<u8>,
) {
    let layout = Layout::of(format);
    let width = usize::from(rect.width);
    rows.clear();
    rows.resize(width * 2, [0; 3]);
    let (mut above_row, mut this_row) = rows.split_at_mut(width);
    out.reserve(rect.area() * tpixel::size(format));
    for row in 0..rect.height {
        let (mut left, mut above_left) = ([0u32; 3], [0u32; 3]);
        for (x, &pixel) in framebuffer.row(rect, row).iter().enumerate() {
            let value = if layout.rgb {
                layout.split(pixel)
            } else {
                layout.split(format.pixel_value(pixel))
            };
            let above = above_row[x];
            let guess = layout.predict(left, above, above_left);
            let difference = [
                value[0].wrapping_sub(guess[0]) & layout.max[0],
                value[1].wrapping_sub(guess[1]) & layout.max[1],
                value[2].wrapping_sub(guess[2]) & layout.max[2],
            ];
            if layout.rgb {
                out.extend_from_slice(&[
                    difference[0] as u8,
                    difference[1] as u8,
                    difference[2] as u8,
                ]);
            } else {
                tpixel::write_value(layout.join(difference), format, out);
            }
            this_row[x] = value;
            left = value;
            above_left = above;
        }
        std::mem::swap(&mut above_row, &mut this_row);
    }
}

/// Undoes the filter: `data` holds exactly `out.len()` TPIXELs of differences, `width` per
/// row; `out` gets native pixels. `rows` is scratch space.
pub fn decode(
    data: &[u8],
    width: usize,
    format: &PixelFormat,
    rows: &mut Vec<[u32; 3]>,
    out: &mut [u32],
) {
    if width == 0 {
        return;
    }
    let layout = Layout::of(format);
    let size = tpixel::size(format);
    rows.clear();
    rows.resize(width * 2, [0; 3]);
    let (mut above_row, mut this_row) = rows.split_at_mut(width);
    for (pixels, differences) in out.chunks_mut(width).zip(data.chunks(width * size)) {
        let (mut left, mut above_left) = ([0u32; 3], [0u32; 3]);
        for (x, (pixel, bytes)) in pixels
            .iter_mut()
            .zip(differences.chunks_exact(size))
            .enumerate()
        {
            let difference = if layout.rgb {
                [
                    u32::from(bytes[0]),
                    u32::from(bytes[1]),
                    u32::from(bytes[2]),
                ]
            } else {
                layout.split(tpixel::read_value(bytes, format))
            };
            let above = above_row[x];
            let guess = layout.predict(left, above, above_left);
            let value = [
                difference[0].wrapping_add(guess[0]) & layout.max[0],
                difference[1].wrapping_add(guess[1]) & layout.max[1],
                difference[2].wrapping_add(guess[2]) & layout.max[2],
            ];
            *pixel = if layout.rgb {
                layout.join(value)
            } else {
                format.rgb_of_value(layout.join(value))
            };
            this_row[x] = value;
            left = value;
            above_left = above;
        }
        std::mem::swap(&mut above_row, &mut this_row);
    }
}

/// How a rectangle's pixels relate to their neighbours, from a sample of its rows: enough to
/// tell photographs (few exact repeats, smooth changes) from drawn content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Smoothness {
    /// Pixels looked at.
    pub samples: u64,
    /// Of those, how many equal their left or upper neighbour.
    pub repeats: u64,
    /// Sum over channels of |pixel - gradient prediction| for the pixels that do not repeat.
    pub gradient_error: u64,
    /// Sum over channels of |pixel - left neighbour| for the same pixels.
    pub left_error: u64,
}

impl Smoothness {
    /// Measures `rect` (at least 8x8 to say anything).
    pub fn of(framebuffer: &Framebuffer, rect: &Rect) -> Self {
        let mut measured = Self::default();
        if rect.width < 8 || rect.height < 8 {
            return measured;
        }
        let channels = |p: u32| [(p >> 16) & 0xff, (p >> 8) & 0xff, p & 0xff];
        let step = (rect.height / 16).max(1);
        for row in (1..rect.height).step_by(usize::from(step)) {
            let above = framebuffer.row(rect, row - 1);
            let this = framebuffer.row(rect, row);
            for x in 1..this.len() {
                let (value, left, up, up_left) = (this[x], this[x - 1], above[x], above[x - 1]);
                measured.samples += 1;
                if value == left || value == up {
                    measured.repeats += 1;
                    continue;
                }
                let (v, l, u, ul) = (
                    channels(value),
                    channels(left),
                    channels(up),
                    channels(up_left),
                );
                for c in 0..3 {
                    let guess =
                        (i64::from(l[c]) + i64::from(u[c]) - i64::from(ul[c])).clamp(0, 255);
                    measured.gradient_error += (i64::from(v[c]) - guess).unsigned_abs();
                    measured.left_error += (i64::from(v[c]) - i64::from(l[c])).unsigned_abs();
                }
            }
        }
        measured
    }

    /// Pixels that differ from both neighbours.
    fn changing(&self) -> u64 {
        self.samples - self.repeats
    }

    /// Photograph-like: the pixels that change do so smoothly (a small prediction error on
    /// average), and there are enough of them. Text and drawn edges change sharply; such
    /// content compresses better losslessly, and JPEG would blur it.
    pub fn photo_like(&self) -> bool {
        let changing = self.changing();
        changing > 0 && changing * 100 >= self.samples && self.gradient_error < 40 * changing
    }

    /// Whether the gradient filter should compress better than the plain pixels: on
    /// smooth content only (measured on real desktops, copy wins everywhere else).
    pub fn gradient_pays(&self) -> bool {
        let changing = self.changing();
        changing > 0 && self.gradient_error < 12 * changing && self.gradient_error < self.left_error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spec_prediction_on_a_known_block() {
        // 2x2 in the three-byte form, one channel shown: V = [[10, 20], [30, 35]].
        // Predictions: (0,0) -> 0; (1,0) -> left 10; (0,1) -> above 10;
        // (1,1) -> 30 + 20 - 10 = 40. Differences: 10, 10, 20, 35 - 40 = -5 = 251.
        let pixels = vec![0x0a0000, 0x140000, 0x1e0000, 0x230000];
        let framebuffer = Framebuffer::from_pixels(2, 2, pixels.clone()).unwrap();
        let mut rows = Vec::new();
        let mut out = Vec::new();
        encode(
            &framebuffer,
            &framebuffer.bounds(),
            &PixelFormat::NATIVE,
            &mut rows,
            &mut out,
        );
        assert_eq!(out, [10, 0, 0, 10, 0, 0, 20, 0, 0, 251, 0, 0]);
        let mut decoded = vec![0; 4];
        decode(&out, 2, &PixelFormat::NATIVE, &mut rows, &mut decoded);
        assert_eq!(decoded, pixels);
    }

    #[test]
    fn clamping_uses_the_channel_maximum_in_small_formats() {
        // RGB565, red channel max 31: left 31, above 31, above-left 0 predicts 62 -> 31.
        let format = PixelFormat::RGB565;
        let pixels = vec![0x000000, 0xff0000, 0xff0000, 0xff0000];
        let framebuffer = Framebuffer::from_pixels(2, 2, pixels.clone()).unwrap();
        let mut rows = Vec::new();
        let mut out = Vec::new();
        encode(
            &framebuffer,
            &framebuffer.bounds(),
            &format,
            &mut rows,
            &mut out,
        );
        // The last pixel is exactly its clamped prediction: a zero difference.
        assert_eq!(&out[6..], [0, 0]);
        let mut decoded = vec![0; 4];
        decode(&out, 2, &format, &mut rows, &mut decoded);
        assert_eq!(decoded, pixels);
    }
}
