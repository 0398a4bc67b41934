//! Pixel formats (RFC 6143 §7.4) and conversion between the server's native format and any
//! format a viewer asks for.
//!
//! Pixels inside farview are `u32` values `0x00RRGGBB` (8 bits per channel). A viewer may ask
//! for 8, 16 or 32 bits per pixel, any channel maxima and shifts, either byte order. A viewer
//! that asks for a colour map (true-colour flag off, 8 bits per pixel) is served: the server
//! sends a fixed 3-3-2 colour map once and then encodes pixels as indices into it (see
//! [`PixelFormat::colour_map_equivalent`]). Colour maps at 16 or 32 bits are refused.

use crate::error::ProtocolError;
use crate::wire::{Reader, Writer};

/// The 16-byte PIXEL_FORMAT structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PixelFormat {
    pub bits_per_pixel: u8,
    pub depth: u8,
    pub big_endian: bool,
    pub true_colour: bool,
    pub red_max: u16,
    pub green_max: u16,
    pub blue_max: u16,
    pub red_shift: u8,
    pub green_shift: u8,
    pub blue_shift: u8,
}

impl Default for PixelFormat {
    fn default() -> Self {
        Self::NATIVE
    }
}

impl PixelFormat {
    /// The wire size of the structure.
    pub const WIRE_SIZE: usize = 16;

    /// farview's own format: 32 bits, depth 24, little endian, `0x00RRGGBB`. This is what an
    /// X server at depth 24 holds, and what most viewers ask for.
    pub const NATIVE: PixelFormat = PixelFormat {
        bits_per_pixel: 32,
        depth: 24,
        big_endian: false,
        true_colour: true,
        red_max: 255,
        green_max: 255,
        blue_max: 255,
        red_shift: 16,
        green_shift: 8,
        blue_shift: 0,
    };

    /// 16 bits, depth 16, 5-6-5, little endian.
    pub const RGB565: PixelFormat = PixelFormat {
        bits_per_pixel: 16,
        depth: 16,
        big_endian: false,
        true_colour: true,
        red_max: 31,
        green_max: 63,
        blue_max: 31,
        red_shift: 11,
        green_shift: 5,
        blue_shift: 0,
    };

    /// 8 bits, true colour 3-3-2 (BGR233 ordering as in many old viewers: blue in the top bits).
    pub const BGR233: PixelFormat = PixelFormat {
        bits_per_pixel: 8,
        depth: 8,
        big_endian: false,
        true_colour: true,
        red_max: 7,
        green_max: 7,
        blue_max: 3,
        red_shift: 0,
        green_shift: 3,
        blue_shift: 6,
    };

    pub fn bytes_per_pixel(&self) -> usize {
        usize::from(self.bits_per_pixel / 8)
    }

    /// Parses the 16 bytes of a PIXEL_FORMAT; `None` if fewer are available.
    pub(crate) fn read(reader: &mut Reader<'_>) -> Option<PixelFormat> {
        let b = reader.take(Self::WIRE_SIZE)?;
        Some(PixelFormat {
            bits_per_pixel: b[0],
            depth: b[1],
            big_endian: b[2] != 0,
            true_colour: b[3] != 0,
            red_max: u16::from_be_bytes([b[4], b[5]]),
            green_max: u16::from_be_bytes([b[6], b[7]]),
            blue_max: u16::from_be_bytes([b[8], b[9]]),
            red_shift: b[10],
            green_shift: b[11],
            blue_shift: b[12],
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u8(self.bits_per_pixel);
        out.put_u8(self.depth);
        out.put_u8(u8::from(self.big_endian));
        out.put_u8(u8::from(self.true_colour));
        out.put_u16(self.red_max);
        out.put_u16(self.green_max);
        out.put_u16(self.blue_max);
        out.put_u8(self.red_shift);
        out.put_u8(self.green_shift);
        out.put_u8(self.blue_shift);
        out.extend_from_slice(&[0, 0, 0]);
    }

    /// Checks that pixels in this format can be produced and read. Colour-map formats are
    /// accepted only at 8 bits per pixel (see the module documentation).
    pub fn validate(&self) -> Result<(), ProtocolError> {
        let bad = |why: String| Err(ProtocolError::BadPixelFormat(why));
        if !matches!(self.bits_per_pixel, 8 | 16 | 32) {
            return bad(format!(
                "bits-per-pixel {} (must be 8, 16 or 32)",
                self.bits_per_pixel
            ));
        }
        if !self.true_colour {
            if self.bits_per_pixel != 8 {
                return bad(format!(
                    "colour map at {} bits per pixel (only 8 is served)",
                    self.bits_per_pixel
                ));
            }
            return Ok(());
        }
        for (name, max, shift) in [
            ("red", self.red_max, self.red_shift),
            ("green", self.green_max, self.green_shift),
            ("blue", self.blue_max, self.blue_shift),
        ] {
            if max == 0 || !(u32::from(max) + 1).is_power_of_two() {
                return bad(format!("{name}-max {max} is not 2^n - 1"));
            }
            let bits = 16 - max.leading_zeros();
            if u32::from(shift) + bits > u32::from(self.bits_per_pixel) {
                return bad(format!(
                    "{name} channel (max {max}, shift {shift}) does not fit in {} bits",
                    self.bits_per_pixel
                ));
            }
        }
        Ok(())
    }

    /// For a colour-map request, the true-colour format whose pixel values are indices into
    /// [`colour_map_332`]; for a true-colour format, itself.
    pub fn colour_map_equivalent(&self) -> PixelFormat {
        if self.true_colour {
            return *self;
        }
        PixelFormat {
            bits_per_pixel: 8,
            depth: 8,
            big_endian: false,
            true_colour: true,
            red_max: 7,
            green_max: 7,
            blue_max: 3,
            red_shift: 5,
            green_shift: 2,
            blue_shift: 0,
        }
    }

    /// True when pixels are 32-bit with 8-bit channels on byte boundaries: the fast path.
    fn is_32bit_bytewise(&self) -> bool {
        self.bits_per_pixel == 32
            && self.true_colour
            && self.red_max == 255
            && self.green_max == 255
            && self.blue_max == 255
            && self.red_shift.is_multiple_of(8)
            && self.green_shift.is_multiple_of(8)
            && self.blue_shift.is_multiple_of(8)
    }

    /// The pixel value (before byte ordering) of a native `0x00RRGGBB` pixel.
    #[inline]
    pub fn pixel_value(&self, rgb: u32) -> u32 {
        let r = scale_from_8(rgb >> 16, self.red_max);
        let g = scale_from_8(rgb >> 8, self.green_max);
        let b = scale_from_8(rgb, self.blue_max);
        (r << self.red_shift) | (g << self.green_shift) | (b << self.blue_shift)
    }

    /// The native `0x00RRGGBB` pixel of a pixel value in this format.
    #[inline]
    pub fn rgb_of_value(&self, value: u32) -> u32 {
        let channel = |shift: u8, max: u16| {
            let raw = value.checked_shr(u32::from(shift)).unwrap_or(0) & u32::from(max);
            scale_to_8(raw, max)
        };
        (channel(self.red_shift, self.red_max) << 16)
            | (channel(self.green_shift, self.green_max) << 8)
            | channel(self.blue_shift, self.blue_max)
    }

    /// Appends one native pixel in this format.
    #[inline]
    pub fn write_pixel(&self, rgb: u32, out: &mut Vec<u8>) {
        let value = self.pixel_value(rgb);
        self.write_value(value, out);
    }

    #[inline]
    fn write_value(&self, value: u32, out: &mut Vec<u8>) {
        match (self.bits_per_pixel, self.big_endian) {
            (8, _) => out.push(value as u8),
            (16, false) => out.extend_from_slice(&(value as u16).to_le_bytes()),
            (16, true) => out.extend_from_slice(&(value as u16).to_be_bytes()),
            (_, false) => out.extend_from_slice(&value.to_le_bytes()),
            (_, true) => out.extend_from_slice(&value.to_be_bytes()),
        }
    }

    /// Appends a run of native pixels in this format.
    pub fn write_pixels(&self, pixels: &[u32], out: &mut Vec<u8>) {
        if self.is_32bit_bytewise() {
            let (rs, gs, bs) = (self.red_shift, self.green_shift, self.blue_shift);
            out.reserve(pixels.len() * 4);
            for &p in pixels {
                let v = (((p >> 16) & 0xff) << rs) | (((p >> 8) & 0xff) << gs) | ((p & 0xff) << bs);
                let bytes = if self.big_endian {
                    v.to_be_bytes()
                } else {
                    v.to_le_bytes()
                };
                out.extend_from_slice(&bytes);
            }
            return;
        }
        out.reserve(pixels.len() * self.bytes_per_pixel());
        for &p in pixels {
            self.write_pixel(p, out);
        }
    }

    /// Reads one pixel from exactly `bytes_per_pixel` bytes and returns it as native.
    #[inline]
    pub fn read_pixel(&self, bytes: &[u8]) -> u32 {
        let value = match (self.bits_per_pixel, self.big_endian) {
            (8, _) => u32::from(bytes[0]),
            (16, false) => u32::from(u16::from_le_bytes([bytes[0], bytes[1]])),
            (16, true) => u32::from(u16::from_be_bytes([bytes[0], bytes[1]])),
            (_, false) => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            (_, true) => u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
        };
        self.rgb_of_value(value)
    }

    /// Reads `out.len()` pixels from `bytes` (which holds exactly that many).
    pub fn read_pixels(&self, bytes: &[u8], out: &mut [u32]) {
        let bpp = self.bytes_per_pixel();
        for (pixel, chunk) in out.iter_mut().zip(bytes.chunks_exact(bpp)) {
            *pixel = self.read_pixel(chunk);
        }
    }
}

/// How ZRLE and TRLE pack pixels (CPIXEL): 32-bit true-colour pixels whose channels all fit
/// in the low or the high three bytes travel as those three bytes; other formats as PIXEL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactPixel {
    /// Same as the pixel format's own bytes.
    Whole,
    /// The three least significant bytes of the value, in the format's byte order.
    Low3,
    /// The three most significant bytes of the value, in the format's byte order.
    High3,
}

impl PixelFormat {
    pub fn compact_pixel(&self) -> CompactPixel {
        if !self.true_colour || self.bits_per_pixel != 32 || self.depth > 24 {
            return CompactPixel::Whole;
        }
        let mask = self.pixel_value(0x00ff_ffff);
        if mask & 0xff00_0000 == 0 {
            CompactPixel::Low3
        } else if mask & 0x0000_00ff == 0 {
            CompactPixel::High3
        } else {
            CompactPixel::Whole
        }
    }

    /// Bytes per CPIXEL.
    pub fn compact_pixel_bytes(&self) -> usize {
        match self.compact_pixel() {
            CompactPixel::Whole => self.bytes_per_pixel(),
            CompactPixel::Low3 | CompactPixel::High3 => 3,
        }
    }

    /// Appends one native pixel as a CPIXEL.
    #[inline]
    pub fn write_compact_pixel(&self, rgb: u32, out: &mut Vec<u8>) {
        let value = self.pixel_value(rgb);
        match (self.compact_pixel(), self.big_endian) {
            (CompactPixel::Whole, _) => self.write_value(value, out),
            (CompactPixel::Low3, false) => out.extend_from_slice(&value.to_le_bytes()[..3]),
            (CompactPixel::Low3, true) => out.extend_from_slice(&value.to_be_bytes()[1..]),
            (CompactPixel::High3, false) => out.extend_from_slice(&value.to_le_bytes()[1..]),
            (CompactPixel::High3, true) => out.extend_from_slice(&value.to_be_bytes()[..3]),
        }
    }

    /// Reads one CPIXEL (exactly [`PixelFormat::compact_pixel_bytes`] bytes) as native.
    #[inline]
    pub fn read_compact_pixel(&self, bytes: &[u8]) -> u32 {
        let value = match (self.compact_pixel(), self.big_endian) {
            (CompactPixel::Whole, _) => return self.read_pixel(bytes),
            (CompactPixel::Low3, false) => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], 0]),
            (CompactPixel::Low3, true) => u32::from_be_bytes([0, bytes[0], bytes[1], bytes[2]]),
            (CompactPixel::High3, false) => u32::from_le_bytes([0, bytes[0], bytes[1], bytes[2]]),
            (CompactPixel::High3, true) => u32::from_be_bytes([bytes[0], bytes[1], bytes[2], 0]),
        };
        self.rgb_of_value(value)
    }
}

#[inline]
fn scale_from_8(channel: u32, max: u16) -> u32 {
    let c = channel & 0xff;
    if max == 255 {
        return c;
    }
    (c * u32::from(max) + 127) / 255
}

#[inline]
fn scale_to_8(value: u32, max: u16) -> u32 {
    if max == 255 {
        return value;
    }
    if max == 0 {
        return 0;
    }
    (value * 255 + u32::from(max) / 2) / u32::from(max)
}

/// The fixed colour map served to colour-map viewers: entry `r << 5 | g << 2 | b` with 3 bits
/// of red, 3 of green and 2 of blue, as 16-bit RGB triples.
pub fn colour_map_332() -> Vec<[u16; 3]> {
    (0u32..256)
        .map(|index| {
            let r = scale_to_8((index >> 5) & 7, 7);
            let g = scale_to_8((index >> 2) & 7, 7);
            let b = scale_to_8(index & 3, 3);
            [(r * 257) as u16, (g * 257) as u16, (b * 257) as u16]
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn any_true_colour_format() -> impl Strategy<Value = PixelFormat> {
        (
            prop_oneof![Just(8u8), Just(16u8), Just(32u8)],
            any::<bool>(),
            1u32..=8,
            1u32..=8,
            1u32..=8,
        )
            .prop_flat_map(|(bpp, big_endian, rb, gb, bb)| {
                let bits = u32::from(bpp);
                let (rb, gb, bb) = (rb.min(bits), gb.min(bits), bb.min(bits));
                (
                    Just((bpp, big_endian, rb, gb, bb)),
                    0..=(bits - rb),
                    0..=(bits - gb),
                    0..=(bits - bb),
                )
            })
            .prop_map(|((bpp, big_endian, rb, gb, bb), rs, gs, bs)| PixelFormat {
                bits_per_pixel: bpp,
                depth: bpp.min(24),
                big_endian,
                true_colour: true,
                red_max: ((1u32 << rb) - 1) as u16,
                green_max: ((1u32 << gb) - 1) as u16,
                blue_max: ((1u32 << bb) - 1) as u16,
                red_shift: rs as u8,
                green_shift: gs as u8,
                blue_shift: bs as u8,
            })
    }

    #[test]
    fn native_is_bgrx_in_memory() {
        let mut out = Vec::new();
        PixelFormat::NATIVE.write_pixel(0x00112233, &mut out);
        assert_eq!(out, [0x33, 0x22, 0x11, 0x00]);
        assert_eq!(PixelFormat::NATIVE.read_pixel(&out), 0x00112233);
    }

    #[test]
    fn rgb565_extremes() {
        let f = PixelFormat::RGB565;
        assert_eq!(f.pixel_value(0x00ffffff), 0xffff);
        assert_eq!(f.pixel_value(0x00ff0000), 0xf800);
        assert_eq!(f.rgb_of_value(0xf800), 0x00ff0000);
    }

    #[test]
    fn validation_rejects_nonsense() {
        let mut f = PixelFormat::NATIVE;
        f.bits_per_pixel = 24;
        assert!(f.validate().is_err());
        let mut f = PixelFormat::NATIVE;
        f.red_max = 100;
        assert!(f.validate().is_err());
        let mut f = PixelFormat::RGB565;
        f.red_shift = 12;
        assert!(f.validate().is_err());
        let mut f = PixelFormat::NATIVE;
        f.true_colour = false;
        assert!(f.validate().is_err());
        f.bits_per_pixel = 8;
        assert!(f.validate().is_ok());
    }

    #[test]
    fn colour_map_indices_match_the_map() {
        let format = PixelFormat {
            true_colour: false,
            ..PixelFormat::BGR233
        };
        let equivalent = format.colour_map_equivalent();
        let map = colour_map_332();
        for rgb in [
            0x00ff0000u32,
            0x0000ff00,
            0x000000ff,
            0x00ffffff,
            0x00808080,
        ] {
            let index = equivalent.pixel_value(rgb) as usize;
            let [r, g, b] = map[index];
            let back = (u32::from(r >> 8) << 16) | (u32::from(g >> 8) << 8) | u32::from(b >> 8);
            assert_eq!(back, equivalent.rgb_of_value(index as u32));
        }
    }

    proptest! {
        #[test]
        fn wire_round_trip(format in any_true_colour_format()) {
            let mut out = Vec::new();
            format.write(&mut out);
            prop_assert_eq!(out.len(), PixelFormat::WIRE_SIZE);
            let parsed = PixelFormat::read(&mut Reader::new(&out)).unwrap();
            prop_assert_eq!(parsed, format);
            prop_assert!(format.validate().is_ok());
        }

        #[test]
        fn pixels_round_trip_to_the_formats_precision(
            format in any_true_colour_format(),
            pixels in proptest::collection::vec(0u32..0x0100_0000, 1..64),
        ) {
            let mut bytes = Vec::new();
            format.write_pixels(&pixels, &mut bytes);
            prop_assert_eq!(bytes.len(), pixels.len() * format.bytes_per_pixel());
            let mut decoded = vec![0u32; pixels.len()];
            format.read_pixels(&bytes, &mut decoded);
            // Decoding then re-encoding is exact: no drift through a second conversion.
            for (&original, &back) in pixels.iter().zip(&decoded) {
                prop_assert_eq!(format.pixel_value(original), format.pixel_value(back));
            }
        }
    }

    #[test]
    fn compact_pixels() {
        let native = PixelFormat::NATIVE;
        assert_eq!(native.compact_pixel(), CompactPixel::Low3);
        let mut out = Vec::new();
        native.write_compact_pixel(0x00112233, &mut out);
        assert_eq!(out, [0x33, 0x22, 0x11]);
        assert_eq!(native.read_compact_pixel(&out), 0x00112233);
        let high = PixelFormat {
            red_shift: 24,
            green_shift: 16,
            blue_shift: 8,
            big_endian: true,
            ..native
        };
        assert_eq!(high.compact_pixel(), CompactPixel::High3);
        out.clear();
        high.write_compact_pixel(0x00112233, &mut out);
        assert_eq!(out, [0x11, 0x22, 0x33]);
        assert_eq!(high.read_compact_pixel(&out), 0x00112233);
        assert_eq!(PixelFormat::RGB565.compact_pixel_bytes(), 2);
    }

    #[test]
    fn full_depth_formats_are_lossless() {
        let pixels: Vec<u32> = (0..4096u32)
            .map(|i| i.wrapping_mul(2_654_435_761) & 0xffffff)
            .collect();
        for format in [
            PixelFormat::NATIVE,
            PixelFormat {
                big_endian: true,
                ..PixelFormat::NATIVE
            },
            PixelFormat {
                red_shift: 0,
                blue_shift: 16,
                ..PixelFormat::NATIVE
            },
            PixelFormat {
                red_shift: 24,
                green_shift: 16,
                blue_shift: 8,
                ..PixelFormat::NATIVE
            },
        ] {
            let mut bytes = Vec::new();
            format.write_pixels(&pixels, &mut bytes);
            let mut decoded = vec![0; pixels.len()];
            format.read_pixels(&bytes, &mut decoded);
            assert_eq!(decoded, pixels, "{format:?}");
        }
    }
}
