//! TPIXEL, Tight's pixel (community RFB spec, "Tight Encoding"): three bytes red, green,
//! blue when the format is 32-bit true colour of depth 24 with 8-bit channels, otherwise the
//! format's own PIXEL. Also raw pixel values, which the gradient filter works on.

use crate::pixel::PixelFormat;

/// Whether TPIXELs in `format` are the three bytes R, G, B. The spec asks for 8-bit
/// channels, not for byte-aligned shifts, so the shifts do not matter.
pub fn is_rgb(format: &PixelFormat) -> bool {
    format.true_colour
        && format.bits_per_pixel == 32
        && format.depth == 24
        && format.red_max == 255
        && format.green_max == 255
        && format.blue_max == 255
}

/// Bytes per TPIXEL.
pub fn size(format: &PixelFormat) -> usize {
    if is_rgb(format) {
        3
    } else {
        format.bytes_per_pixel()
    }
}

/// Appends native pixels as TPIXELs.
pub fn write_all(pixels: &[u32], format: &PixelFormat, out: &mut Vec<u8>) {
    if is_rgb(format) {
        write_rgb(pixels, out);
    } else {
        format.write_pixels(pixels, out);
    }
}

/// Appends native pixels as bytes R, G, B.
pub fn write_rgb(pixels: &[u32], out: &mut Vec<u8>) {
    let start = out.len();
    out.resize(start + pixels.len() * 3, 0);
    for (rgb, &p) in out[start..].chunks_exact_mut(3).zip(pixels) {
        rgb[0] = (p >> 16) as u8;
        rgb[1] = (p >> 8) as u8;
        rgb[2] = p as u8;
    }
}

/// Reads one TPIXEL (exactly [`size`] bytes) as a native pixel.
pub fn read(bytes: &[u8], format: &PixelFormat) -> u32 {
    match bytes {
        [r, g, b] if is_rgb(format) => (u32::from(*r) << 16) | (u32::from(*g) << 8) | u32::from(*b),
        _ => format.read_pixel(bytes),
    }
}

/// Reads TPIXELs into native pixels: `out.len()` of them from `bytes`, which holds exactly
/// that many.
pub fn read_all(bytes: &[u8], format: &PixelFormat, out: &mut [u32]) {
    if is_rgb(format) {
        for (pixel, rgb) in out.iter_mut().zip(bytes.chunks_exact(3)) {
            *pixel = (u32::from(rgb[0]) << 16) | (u32::from(rgb[1]) << 8) | u32::from(rgb[2]);
        }
    } else {
        format.read_pixels(bytes, out);
    }
}

/// Appends a raw pixel value (already packed with the format's shifts) in the format's size
/// and byte order.
pub fn write_value(value: u32, format: &PixelFormat, out: &mut Vec<u8>) {
    match (format.bits_per_pixel, format.big_endian) {
        (8, _) => out.push(value as u8),
        (16, false) => out.extend_from_slice(&(value as u16).to_le_bytes()),
        (16, true) => out.extend_from_slice(&(value as u16).to_be_bytes()),
        (_, false) => out.extend_from_slice(&value.to_le_bytes()),
        (_, true) => out.extend_from_slice(&value.to_be_bytes()),
    }
}

/// Reads a raw pixel value from exactly `bytes_per_pixel` bytes.
pub fn read_value(bytes: &[u8], format: &PixelFormat) -> u32 {
    match (bytes, format.big_endian) {
        ([v], _) => u32::from(*v),
        ([a, b], false) => u32::from(u16::from_le_bytes([*a, *b])),
        ([a, b], true) => u32::from(u16::from_be_bytes([*a, *b])),
        ([a, b, c, d], false) => u32::from_le_bytes([*a, *b, *c, *d]),
        ([a, b, c, d], true) => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rgb_whatever_the_shifts_and_byte_order() {
        let mut format = PixelFormat::NATIVE;
        format.big_endian = true;
        format.red_shift = 0;
        format.blue_shift = 16;
        assert!(is_rgb(&format));
        let mut out = Vec::new();
        write_all(&[0x00123456], &format, &mut out);
        assert_eq!(out, [0x12, 0x34, 0x56]);
        assert_eq!(read(&out, &format), 0x00123456);
        let mut deep = PixelFormat::NATIVE;
        deep.depth = 32;
        assert!(!is_rgb(&deep));
        assert_eq!(size(&deep), 4);
        assert_eq!(size(&PixelFormat::RGB565), 2);
    }
}
