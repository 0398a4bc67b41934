//! JpegCompression for Tight and TightPNG (community RFB spec, "Tight Encoding"): a JFIF
//! stream of the rectangle. Quality levels 0-9 (the JPEG Quality Level pseudo-encoding) map
//! to a JPEG quality and chroma subsampling, low levels trading colour detail for size.

use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use zune_jpeg::JpegDecoder;
use zune_jpeg::zune_core::bytestream::ZCursor;
use zune_jpeg::zune_core::colorspace::ColorSpace;
use zune_jpeg::zune_core::options::DecoderOptions;

/// JPEG quality and subsampling per quality level: 4:2:0 up to level 2, 4:2:2 up to 5, full
/// chroma above (the steps VirtualGL measured and TigerVNC uses, topped at 95 because 100
/// costs much more for no visible gain).
const LEVELS: [(u8, Subsampling); 10] = [
    (15, Subsampling::Quarter),
    (29, Subsampling::Quarter),
    (41, Subsampling::Quarter),
    (42, Subsampling::Half),
    (62, Subsampling::Half),
    (77, Subsampling::Half),
    (79, Subsampling::Full),
    (86, Subsampling::Full),
    (92, Subsampling::Full),
    (95, Subsampling::Full),
];

/// How much colour detail JPEG keeps: the Subsampling pseudo-encodings (-768..-763).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsampling {
    /// 1X: chroma for every pixel (4:4:4).
    Full,
    /// 2X: chroma for every pair of columns (4:2:2).
    Half,
    /// 4X: chroma for every 2x2 block (4:2:0).
    Quarter,
    /// 8X: chroma for every 4x2 block (4:1:0).
    Eighth,
    /// 16X: asked for by TurboVNC viewers; sent as 8X, the coarsest our JPEG encoder makes.
    Sixteenth,
    /// No chroma at all: a greyscale image.
    Grey,
}

impl Subsampling {
    /// The subsampling a pseudo-encoding offset (0-5 above -768) stands for, in TurboVNC's
    /// order: 1X, 4X, 2X, grey, 8X, 16X.
    pub fn from_pseudo_offset(offset: u8) -> Option<Self> {
        Some(match offset {
            0 => Self::Full,
            1 => Self::Quarter,
            2 => Self::Half,
            3 => Self::Grey,
            4 => Self::Eighth,
            5 => Self::Sixteenth,
            _ => return None,
        })
    }

    fn sampling_factor(self) -> SamplingFactor {
        match self {
            Self::Full | Self::Grey => SamplingFactor::R_4_4_4,
            Self::Half => SamplingFactor::R_4_2_2,
            Self::Quarter => SamplingFactor::R_4_2_0,
            Self::Eighth | Self::Sixteenth => SamplingFactor::R_4_1_0,
        }
    }
}

/// What a viewer allows lossy rectangles to be: JPEG quality 1-100 and chroma subsampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegSettings {
    pub quality: u8,
    pub subsampling: Subsampling,
}

impl JpegSettings {
    /// The settings a quality level 0-9 (larger clamped) stands for.
    pub fn from_level(level: u8) -> Self {
        let (quality, subsampling) = LEVELS[usize::from(level.min(9))];
        Self {
            quality,
            subsampling,
        }
    }
}

/// Compresses `rect` of `framebuffer` to a JFIF stream in `out` (cleared first); `pixels`
/// is scratch space.
pub fn encode(
    framebuffer: &Framebuffer,
    rect: &Rect,
    settings: JpegSettings,
    pixels: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let grey = settings.subsampling == Subsampling::Grey;
    let bytes_per_pixel = if grey { 1 } else { 4 };
    pixels.clear();
    pixels.resize(rect.area() * bytes_per_pixel, 0);
    let row_bytes = usize::from(rect.width) * bytes_per_pixel;
    for (row, bytes) in (0..rect.height).zip(pixels.chunks_exact_mut(row_bytes.max(1))) {
        let source = framebuffer.row(rect, row);
        if grey {
            for (luma, &pixel) in bytes.iter_mut().zip(source) {
                *luma = luma_of(pixel);
            }
        } else {
            // Native pixels 0x00RRGGBB are B, G, R, X in little-endian memory.
            for (bgrx, pixel) in bytes.chunks_exact_mut(4).zip(source) {
                bgrx.copy_from_slice(&pixel.to_le_bytes());
            }
        }
    }
    out.clear();
    let mut encoder = Encoder::new(&mut *out, settings.quality.clamp(1, 100));
    encoder.set_sampling_factor(settings.subsampling.sampling_factor());
    let colour_type = if grey {
        ColorType::Luma
    } else {
        ColorType::Bgra
    };
    encoder
        .encode(pixels, rect.width, rect.height, colour_type)
        .map_err(|error| format!("JPEG compression failed: {error}"))
}

/// Compresses `rect` for a Tight or TightPNG JpegCompression body, into `out`; false when
/// it cannot go as one (fewer than 16 bits per pixel, an empty rectangle, a JPEG failure or
/// a stream too long for the length field), and the caller sends it losslessly.
pub(super) fn encode_for_tight(
    framebuffer: &Framebuffer,
    rect: &Rect,
    format: &PixelFormat,
    settings: Option<JpegSettings>,
    pixels: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> bool {
    if format.bits_per_pixel < 16 || rect.is_empty() {
        return false;
    }
    let settings = settings.unwrap_or(JpegSettings::from_level(8));
    encode(framebuffer, rect, settings, pixels, out).is_ok()
        && out.len() <= super::compact_length::MAX_COMPACT_LENGTH
}

/// ITU-R BT.601 luma of a native 0x00RRGGBB pixel, as JPEG's colour transform computes it.
fn luma_of(pixel: u32) -> u8 {
    let [b, g, r, _] = pixel.to_le_bytes();
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
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
        encode(
            &framebuffer,
            &rect,
            JpegSettings::from_level(9),
            &mut scratch,
            &mut jpeg,
        )
        .unwrap();
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

    #[test]
    fn every_subsampling_decodes_and_coarser_costs_fewer_bytes() {
        let pixels: Vec<u32> = (0..64u32 * 48)
            .map(|i| {
                let (x, y) = (i % 64, i / 64);
                (((x * 37) & 0xff) << 16) | (((y * 53) & 0xff) << 8) | ((x * y) & 0xff)
            })
            .collect();
        let framebuffer = Framebuffer::from_pixels(64, 48, pixels).unwrap();
        let rect = framebuffer.bounds();
        let (mut scratch, mut jpeg, mut decoded) = (Vec::new(), Vec::new(), Vec::new());
        let mut size = |subsampling| {
            let settings = JpegSettings {
                quality: 80,
                subsampling,
            };
            encode(&framebuffer, &rect, settings, &mut scratch, &mut jpeg).unwrap();
            decode(&jpeg, &rect, &mut decoded).unwrap();
            if subsampling == Subsampling::Grey {
                assert!(decoded.iter().all(|p| p & 0xff == (p >> 8) & 0xff));
                assert!(decoded.iter().all(|p| p & 0xff == (p >> 16) & 0xff));
            }
            jpeg.len()
        };
        let full = size(Subsampling::Full);
        let half = size(Subsampling::Half);
        let quarter = size(Subsampling::Quarter);
        let eighth = size(Subsampling::Eighth);
        assert_eq!(size(Subsampling::Sixteenth), eighth);
        let grey = size(Subsampling::Grey);
        assert!(full > half && half > quarter && quarter > eighth && eighth > grey);
        for offset in 0..6 {
            assert!(Subsampling::from_pseudo_offset(offset).is_some());
        }
        assert_eq!(Subsampling::from_pseudo_offset(6), None);
    }
}
