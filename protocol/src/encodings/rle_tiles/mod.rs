//! The tile coder shared by TRLE (RFC 6143 §7.7.5) and ZRLE (§7.7.6): a rectangle cut into
//! square tiles, left to right and top to bottom, each tile a subencoding byte and its data
//! in CPIXELs. The sub-encodings are the same in both: raw, solid, packed palette (2 to 16
//! colours at 1, 2 or 4 bits per index, rows padded to a byte), plain RLE and palette RLE.
//! TRLE's tiles are 16x16 and it adds palette reuse (127 and 129: the palette of the last
//! tile that had one); ZRLE's tiles are 64x64, and it deflates the whole tile stream.

mod decode;
mod encode;
#[cfg(test)]
pub(crate) mod samples;

pub(crate) use decode::walk;
pub(crate) use encode::TileEncoder;
pub use encode::put_run_length;

use crate::framebuffer::Rect;
use crate::pixel::{CompactPixel, PixelFormat};

/// The largest palette a tile may carry.
pub const MAX_PALETTE_SIZE: usize = 127;

/// The largest tile (ZRLE's), in pixels.
pub(crate) const MAX_TILE_PIXELS: usize = 64 * 64;

pub(crate) const RAW: u8 = 0;
pub(crate) const SOLID: u8 = 1;
pub(crate) const MAX_PACKED_PALETTE: u8 = 16;
/// TRLE: packed pixels with the palette of the last tile that had one.
pub(crate) const REUSE_PACKED: u8 = 127;
pub(crate) const PLAIN_RLE: u8 = 128;
/// TRLE: palette RLE with the palette of the last tile that had one.
pub(crate) const REUSE_RLE: u8 = 129;
/// Palette RLE is this plus the palette size (2 to 127).
pub(crate) const PALETTE_RLE: u8 = 128;

/// Which of the two encodings a tile stream belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavour {
    Trle,
    Zrle,
}

impl Flavour {
    pub(crate) fn tile_size(self) -> u16 {
        match self {
            Flavour::Trle => 16,
            Flavour::Zrle => 64,
        }
    }

    fn reuses_palettes(self) -> bool {
        self == Flavour::Trle
    }

    /// Whether palette RLE is worth writing. Under ZRLE's zlib it is not, although it is
    /// often the fewest bytes before compression: a palette is the tile's own, so the same
    /// glyph in two tiles gives different index bytes that zlib cannot match, while plain
    /// RLE repeats the pixel values themselves. Leaving it out cut ZRLE's bytes on the
    /// corpus by 14-25 % (benches/README.md).
    fn palette_rle_pays(self) -> bool {
        self == Flavour::Trle
    }
}

/// The tiles of `rect`, in wire order. `rect` lies inside a framebuffer, so no coordinate
/// passes `u16::MAX`.
pub(crate) fn tiles(rect: &Rect, size: u16) -> impl Iterator<Item = Rect> {
    let (x, y, width, height) = (rect.x, rect.y, rect.width, rect.height);
    let size = usize::from(size);
    (0..height).step_by(size).flat_map(move |top| {
        (0..width).step_by(size).map(move |left| {
            Rect::new(
                x.saturating_add(left),
                y.saturating_add(top),
                (width - left).min(size as u16),
                (height - top).min(size as u16),
            )
        })
    })
}

/// Bits per index of a packed palette of `size` colours (2 to 16).
pub(crate) fn packed_bits(size: usize) -> usize {
    match size {
        0..=2 => 1,
        3..=4 => 2,
        _ => 4,
    }
}

/// Bytes of one packed row of `width` pixels at `bits` per index.
pub(crate) fn packed_row_bytes(width: usize, bits: usize) -> usize {
    (width * bits).div_ceil(8)
}

/// The byte layout of a CPIXEL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    One,
    TwoLittle,
    TwoBig,
    FourLittle,
    FourBig,
    Low3Little,
    Low3Big,
    High3Little,
    High3Big,
}

/// Converts between native pixels and CPIXELs of one pixel format, with the per-format
/// decisions taken once rather than per pixel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cpixels {
    format: PixelFormat,
    layout: Layout,
    bytes: usize,
    /// Shifts of a 32-bit format with 8-bit channels: values are the channels moved.
    bytewise: Option<(u32, u32, u32)>,
}

impl Cpixels {
    pub(crate) fn new(format: &PixelFormat) -> Self {
        let big = format.big_endian;
        let layout = match (format.compact_pixel(), format.bits_per_pixel) {
            (CompactPixel::Low3, _) if big => Layout::Low3Big,
            (CompactPixel::Low3, _) => Layout::Low3Little,
            (CompactPixel::High3, _) if big => Layout::High3Big,
            (CompactPixel::High3, _) => Layout::High3Little,
            (CompactPixel::Whole, 8) => Layout::One,
            (CompactPixel::Whole, 16) if big => Layout::TwoBig,
            (CompactPixel::Whole, 16) => Layout::TwoLittle,
            (CompactPixel::Whole, _) if big => Layout::FourBig,
            (CompactPixel::Whole, _) => Layout::FourLittle,
        };
        let bytes = match layout {
            Layout::One => 1,
            Layout::TwoLittle | Layout::TwoBig => 2,
            Layout::FourLittle | Layout::FourBig => 4,
            _ => 3,
        };
        let byte_channels = format.bits_per_pixel == 32
            && format.true_colour
            && [format.red_max, format.green_max, format.blue_max] == [255; 3]
            && [format.red_shift, format.green_shift, format.blue_shift]
                .iter()
                .all(|&shift| shift <= 24);
        Self {
            format: *format,
            layout,
            bytes,
            bytewise: byte_channels.then(|| {
                (
                    u32::from(format.red_shift),
                    u32::from(format.green_shift),
                    u32::from(format.blue_shift),
                )
            }),
        }
    }

    /// Bytes per CPIXEL.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The pixel value of one native pixel.
    #[inline]
    pub(crate) fn value(&self, pixel: u32) -> u32 {
        match self.bytewise {
            Some((rs, gs, bs)) => {
                (((pixel >> 16) & 0xff) << rs)
                    | (((pixel >> 8) & 0xff) << gs)
                    | ((pixel & 0xff) << bs)
            }
            None => self.format.pixel_value(pixel),
        }
    }

    /// Converts a row of native pixels to pixel values, appending them to `values`.
    #[inline]
    pub(crate) fn values_of(&self, pixels: &[u32], values: &mut Vec<u32>) {
        match self.bytewise {
            Some((16, 8, 0)) => values.extend(pixels.iter().map(|&p| p & 0x00ff_ffff)),
            Some((rs, gs, bs)) => values.extend(pixels.iter().map(|&p| {
                (((p >> 16) & 0xff) << rs) | (((p >> 8) & 0xff) << gs) | ((p & 0xff) << bs)
            })),
            None => values.extend(pixels.iter().map(|&p| self.format.pixel_value(p))),
        }
    }

    /// Appends one pixel value as a CPIXEL.
    #[inline]
    pub(crate) fn put(&self, value: u32, out: &mut Vec<u8>) {
        match self.layout {
            Layout::One => out.push(value as u8),
            Layout::TwoLittle => out.extend_from_slice(&(value as u16).to_le_bytes()),
            Layout::TwoBig => out.extend_from_slice(&(value as u16).to_be_bytes()),
            Layout::FourLittle => out.extend_from_slice(&value.to_le_bytes()),
            Layout::FourBig => out.extend_from_slice(&value.to_be_bytes()),
            Layout::Low3Little => out.extend_from_slice(&value.to_le_bytes()[..3]),
            Layout::Low3Big => out.extend_from_slice(&value.to_be_bytes()[1..]),
            Layout::High3Little => out.extend_from_slice(&value.to_le_bytes()[1..]),
            Layout::High3Big => out.extend_from_slice(&value.to_be_bytes()[..3]),
        }
    }

    /// Appends pixel values as CPIXELs, with the common layout's loop on its own.
    pub(crate) fn put_all(&self, values: &[u32], out: &mut Vec<u8>) {
        out.reserve(values.len() * self.bytes);
        if self.layout == Layout::Low3Little {
            for &value in values {
                out.extend_from_slice(&value.to_le_bytes()[..3]);
            }
        } else {
            for &value in values {
                self.put(value, out);
            }
        }
    }

    /// Reads one CPIXEL from the first [`Cpixels::bytes`] bytes of `bytes` as a native pixel.
    #[inline]
    pub(crate) fn read(&self, bytes: &[u8]) -> u32 {
        let byte = |i: usize| bytes.get(i).copied().unwrap_or(0);
        let value = match self.layout {
            Layout::One => u32::from(byte(0)),
            Layout::TwoLittle => u32::from(u16::from_le_bytes([byte(0), byte(1)])),
            Layout::TwoBig => u32::from(u16::from_be_bytes([byte(0), byte(1)])),
            Layout::FourLittle => u32::from_le_bytes([byte(0), byte(1), byte(2), byte(3)]),
            Layout::FourBig => u32::from_be_bytes([byte(0), byte(1), byte(2), byte(3)]),
            Layout::Low3Little => u32::from_le_bytes([byte(0), byte(1), byte(2), 0]),
            Layout::Low3Big => u32::from_be_bytes([0, byte(0), byte(1), byte(2)]),
            Layout::High3Little => u32::from_le_bytes([0, byte(0), byte(1), byte(2)]),
            Layout::High3Big => u32::from_be_bytes([byte(0), byte(1), byte(2), 0]),
        };
        self.format.rgb_of_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tiles_cover_the_rectangle_in_wire_order() {
        let tiles: Vec<Rect> = tiles(&Rect::new(10, 20, 40, 17), 16).collect();
        assert_eq!(
            tiles,
            [
                Rect::new(10, 20, 16, 16),
                Rect::new(26, 20, 16, 16),
                Rect::new(42, 20, 8, 16),
                Rect::new(10, 36, 16, 1),
                Rect::new(26, 36, 16, 1),
                Rect::new(42, 36, 8, 1),
            ]
        );
        assert_eq!(super::tiles(&Rect::new(0, 0, 0, 5), 64).count(), 0);
    }

    proptest! {
        #[test]
        fn cpixels_agree_with_the_pixel_format(
            format in crate::pixel::tests::any_true_colour_format(),
            pixels in proptest::collection::vec(0u32..0x0100_0000, 1..32),
        ) {
            let cpixels = Cpixels::new(&format);
            prop_assert_eq!(cpixels.bytes(), format.compact_pixel_bytes());
            let mut values = Vec::new();
            cpixels.values_of(&pixels, &mut values);
            let mut ours = Vec::new();
            cpixels.put_all(&values, &mut ours);
            let mut theirs = Vec::new();
            for (&pixel, &value) in pixels.iter().zip(&values) {
                prop_assert_eq!(value, format.pixel_value(pixel));
                format.write_compact_pixel(pixel, &mut theirs);
            }
            prop_assert_eq!(&ours, &theirs);
            for (chunk, &pixel) in ours.chunks_exact(cpixels.bytes()).zip(&pixels) {
                prop_assert_eq!(cpixels.read(chunk), format.read_compact_pixel(chunk));
                prop_assert_eq!(format.pixel_value(cpixels.read(chunk)), format.pixel_value(pixel));
            }
        }
    }
}
