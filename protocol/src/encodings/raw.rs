//! Raw encoding (RFC 6143 §7.7.1): the rectangle's pixels in the viewer's format, row-major.

use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// The most bytes one Raw rectangle carries when we send it. Larger areas are cut into bands:
/// the 12-byte rectangle header is noise at this size, and noVNC draws only the first 64 KiB
/// of a larger Raw rectangle.
pub const MAX_RAW_RECT_BYTES: usize = 64 * 1024;

/// The bytes a Raw rectangle's body takes.
pub fn body_len(rect: &Rect, format: &PixelFormat) -> usize {
    rect.area() * format.bytes_per_pixel()
}

/// Cuts `rect` into horizontal bands of at most [`MAX_RAW_RECT_BYTES`] each.
pub fn bands(rect: Rect, format: &PixelFormat) -> impl Iterator<Item = Rect> {
    let row_bytes = (usize::from(rect.width) * format.bytes_per_pixel()).max(1);
    let rows_per_band = (MAX_RAW_RECT_BYTES / row_bytes).clamp(1, usize::from(u16::MAX)) as u16;
    (0..rect.height)
        .step_by(usize::from(rows_per_band))
        .map(move |top| {
            Rect::new(
                rect.x,
                rect.y + top,
                rect.width,
                rows_per_band.min(rect.height - top),
            )
        })
}

/// Appends the body of a Raw rectangle: `rect` (inside `framebuffer`) in `format`.
pub fn encode(framebuffer: &Framebuffer, rect: &Rect, format: &PixelFormat, out: &mut Vec<u8>) {
    out.reserve(body_len(rect, format));
    for row in 0..rect.height {
        format.write_pixels(framebuffer.row(rect, row), out);
    }
}

/// Draws a Raw body (exactly [`body_len`] bytes) into `framebuffer` at `rect`, which the
/// caller has checked lies inside it.
pub fn decode(body: &[u8], rect: &Rect, format: &PixelFormat, framebuffer: &mut Framebuffer) {
    let mut pixels = vec![0u32; rect.area()];
    format.read_pixels(body, &mut pixels);
    framebuffer.put_pixels(rect, &pixels);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip_in_any_format(
            format in crate::pixel::tests::any_true_colour_format(),
            width in 1u16..40, height in 1u16..40, seed: u32,
        ) {
            let pixels: Vec<u32> = (0..u32::from(width) * u32::from(height))
                .map(|i| (i ^ seed).wrapping_mul(0x9e37_79b9) >> 8)
                .collect();
            let source = Framebuffer::from_pixels(width, height, pixels).unwrap();
            let rect = source.bounds();
            let mut body = Vec::new();
            encode(&source, &rect, &format, &mut body);
            prop_assert_eq!(body.len(), body_len(&rect, &format));
            let mut decoded = Framebuffer::new(width, height);
            decode(&body, &rect, &format, &mut decoded);
            for (&a, &b) in source.pixels().iter().zip(decoded.pixels()) {
                prop_assert_eq!(format.pixel_value(a), format.pixel_value(b));
            }
        }
    }

    #[test]
    fn bands_cover_the_rectangle_within_the_size_limit() {
        let rect = Rect::new(3, 5, 1280, 800);
        let bands: Vec<Rect> = bands(rect, &PixelFormat::NATIVE).collect();
        assert_eq!(bands.iter().map(Rect::area).sum::<usize>(), rect.area());
        assert!(
            bands
                .iter()
                .all(|b| body_len(b, &PixelFormat::NATIVE) <= MAX_RAW_RECT_BYTES)
        );
        assert_eq!(bands.last().unwrap().bottom(), rect.bottom());
        // A row wider than the limit still makes progress, one row at a time.
        let wide = Rect::new(0, 0, 20000, 2);
        assert_eq!(super::bands(wide, &PixelFormat::NATIVE).count(), 2);
    }
}
