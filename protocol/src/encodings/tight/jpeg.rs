//! JpegCompression for Tight and TightPNG (community RFB spec, "Tight Encoding"): a JFIF
//! stream of the rectangle. Quality levels 0-9 (the JPEG Quality Level pseudo-encoding) map
//! to a JPEG quality and chroma subsampling, low levels trading colour detail for size.

use crate::framebuffer::{Framebuffer, Rect};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// JPEG quality and subsampling per quality level: 4:2:0 up to level 2, 4:2:2 up to 5, full
/// chroma above (the steps VirtualGL measured and TigerVNC uses, topped at 95 because 100
/// costs much more for no visible gain).
const LEVELS: [(u8, SamplingFactor); 10] = [
    (15, SamplingFactor::R_4_2_0),
    (29, SamplingFactor::R_4_2_0),
    (41, SamplingFactor::R_4_2_0),
    (42, SamplingFactor::R_4_2_2),
    (62, SamplingFactor::R_4_2_2),
    (77, SamplingFactor::R_4_2_2),
    (79, SamplingFactor::R_4_4_4),
    (86, SamplingFactor::R_4_4_4),
    (92, SamplingFactor::R_4_4_4),
    (95, SamplingFactor::R_4_4_4),
];

/// The JPEG quality (1-100) a quality level (0-9, larger clamped) stands for.
pub fn jpeg_quality(level: u8) -> u8 {
    LEVELS[usize::from(level.min(9))].0
}

/// Compresses `rect` of `framebuffer` to a JFIF stream in `out` (cleared first); `pixels`
/// is scratch space.
pub fn encode(
    framebuffer: &Framebuffer,
    rect: &Rect,
    level: u8,
    pixels: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    // Native pixels 0x00RRGGBB are B, G, R, X in little-endian memory.
    pixels.clear();
    pixels.resize(rect.area() * 4, 0);
    let row_bytes = usize::from(rect.width) * 4;
    for (row, bytes) in (0..rect.height).zip(pixels.chunks_exact_mut(row_bytes.max(1))) {
        for (bgrx, pixel) in bytes.chunks_exact_mut(4).zip(framebuffer.row(rect, row)) {
            bgrx.copy_from_slice(&pixel.to_le_bytes());
        }
    }
    out.clear();
    let (quality, sampling) = LEVELS[usize::from(level.min(9))];
    let mut encoder = Encoder::new(&mut *out, quality);
    encoder.set_sampling_factor(sampling);
    encoder
        .encode(pixels, rect.width, rect.height, ColorType::Bgra)
        .map_err(|error| format!("JPEG compression failed: {error}"))
}

/// Decodes a JFIF stream that must be exactly `rect`'s size into native pixels in `out`.
/// The size is checked from the headers before anything is allocated for the image.
pub fn decode(data: &[u8], rect: &Rect, out: &mut Vec<u32>) -> Result<(), String> {
    let (width, height) = (usize::from(rect.width), usize::from(rect.height));
    let options = DecoderOptions::default()
        .set_max_width(width.max(1))
        .set_max_height(height.max(1))
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = JpegDecoder::new_with_options(ZCursor::new(data), options);
    // The decoder is third-party code fed by the peer: a panic in it must not take the
    // connection's thread down, it is just bad data.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> Result<(Vec<u8>, usize), String> {
            decoder
                .decode_headers()
                .map_err(|error| format!("bad JPEG data: {error}"))?;
            let (image_width, image_height) =
                decoder.dimensions().ok_or("JPEG data without dimensions")?;
            if (image_width, image_height) != (width, height) {
                return Err(format!(
                    "JPEG image is {image_width}x{image_height}, the rectangle {width}x{height}"
                ));
            }
            let components = decoder
                .output_colorspace()
                .map_or(3, |space| space.num_components());
            if !matches!(components, 1 | 3 | 4) {
                return Err(format!("JPEG image with {components} components"));
            }
            let mut bytes = vec![0u8; width * height * components];
            decoder
                .decode_into(&mut bytes)
                .map_err(|error| format!("bad JPEG data: {error}"))?;
            Ok((bytes, components))
        },
    ))
    .map_err(|_| "bad JPEG data (the decoder gave up)".to_string())??;
    let (bytes, components) = decoded;
    out.clear();
    out.extend(bytes.chunks_exact(components).map(|p| match p {
        [r, g, b, ..] => (u32::from(*r) << 16) | (u32::from(*g) << 8) | u32::from(*b),
        [grey, ..] => u32::from(*grey) * 0x01_0101,
        [] => 0,
    }));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_photo_survives_within_tolerance_and_the_size_is_checked() {
        let pixels: Vec<u32> = (0..48u32 * 40)
            .map(|i| {
                let (x, y) = (i % 48, i / 48);
                ((x * 5) << 16) | ((y * 6) << 8) | ((x + y) * 2)
            })
            .collect();
        let framebuffer = Framebuffer::from_pixels(48, 40, pixels.clone()).unwrap();
        let rect = framebuffer.bounds();
        let (mut scratch, mut jpeg) = (Vec::new(), Vec::new());
        encode(&framebuffer, &rect, 9, &mut scratch, &mut jpeg).unwrap();
        assert_eq!(&jpeg[..2], [0xff, 0xd8]);
        let mut decoded = Vec::new();
        decode(&jpeg, &rect, &mut decoded).unwrap();
        let error: u32 = pixels
            .iter()
            .zip(&decoded)
            .map(|(&a, &b)| {
                (0..3)
                    .map(|c| ((a >> (8 * c)) & 0xff).abs_diff((b >> (8 * c)) & 0xff))
                    .sum::<u32>()
            })
            .sum();
        assert!(
            error / (48 * 40 * 3) < 4,
            "mean error {}",
            error / (48 * 40 * 3)
        );
        assert!(decode(&jpeg, &Rect::new(0, 0, 48, 39), &mut decoded).is_err());
        assert!(decode(&jpeg, &Rect::new(0, 0, 49, 40), &mut decoded).is_err());
        assert!(decode(&jpeg[..jpeg.len() / 2], &rect, &mut decoded).is_err());
        assert!(decode(&[1, 2, 3], &rect, &mut decoded).is_err());
    }
}
