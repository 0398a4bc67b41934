//! TightPNG (encoding -260, from QEMU and noVNC; described beside Tight in the community RFB
//! spec): Tight's framing with BasicCompression replaced by PngCompression (control nibble
//! 0xA, a compact length, then a PNG image of the rectangle). Fill and JPEG stay as in Tight.
//! There are no zlib streams, so the rectangles are independent of each other.

use super::encoder::{jpeg_suits, palette_limit};
use super::frame::{FILL, JPEG, PNG};
use super::gradient::Smoothness;
use super::jpeg::JpegSettings;
use super::palette::Palette;
use super::{DEFAULT_COMPRESS_LEVEL, compact_length, jpeg, tpixel};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;
use ::png::{BitDepth, ColorType, DeflateCompression, Filter, Limits, Transformations};
use std::io::Cursor;

/// A connection's TightPNG encoder settings and scratch space.
#[derive(Debug)]
pub struct TightPngEncoder {
    compress_level: u8,
    jpeg: Option<JpegSettings>,
    palette: Palette,
    plain: Vec<u8>,
    image: Vec<u8>,
}

impl Default for TightPngEncoder {
    fn default() -> Self {
        Self {
            compress_level: DEFAULT_COMPRESS_LEVEL,
            jpeg: None,
            palette: Palette::default(),
            plain: Vec::new(),
            image: Vec::new(),
        }
    }
}

impl TightPngEncoder {
    /// Sets the compression level 0-9 (larger is clamped).
    pub fn set_compress_level(&mut self, level: u8) {
        self.compress_level = level.min(9);
    }

    /// `None` keeps every rectangle lossless; `Some` allows JPEG with those settings.
    pub fn set_jpeg(&mut self, jpeg: Option<JpegSettings>) {
        self.jpeg = jpeg;
    }

    /// Appends the body of a TightPNG rectangle: a fill for one colour, JPEG for many
    /// colours when allowed and the rectangle is large enough, PNG otherwise; true if it
    /// went as JPEG. The size limits are Tight's ([`super::MAX_RECT_WIDTH`],
    /// [`super::MAX_RECT_PIXELS`]).
    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) -> bool {
        let jpeg_allowed = self.jpeg.is_some();
        self.encode_choosing(framebuffer, rect, format, jpeg_allowed, out)
    }

    /// Like [`TightPngEncoder::encode`], but never JPEG.
    pub fn encode_lossless(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        self.encode_choosing(framebuffer, rect, format, false, out);
    }

    /// Fill, JPEG (photo-like content, when allowed) or PNG; true if JPEG.
    fn encode_choosing(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        jpeg_allowed: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        if rect.is_empty() {
            self.encode_fill(0, format, out);
            return false;
        }
        let few = self
            .palette
            .collect(framebuffer, rect, palette_limit(rect.area()));
        if !few
            && jpeg_allowed
            && jpeg_suits(rect, format)
            && Smoothness::of(framebuffer, rect).photo_like()
        {
            return self.encode_jpeg(framebuffer, rect, format, out);
        }
        self.write_collected(framebuffer, rect, few, format, out);
        false
    }

    /// A fill or a PNG, after the colours were collected (`few`: they fit a palette).
    fn write_collected(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        few: bool,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        if few && self.palette.colours().len() == 1 {
            return self.encode_fill(self.palette.colours()[0], format, out);
        }
        self.write_png(framebuffer, rect, few, format, out);
    }

    /// Appends a FillCompression body: the whole rectangle is `colour`.
    pub fn encode_fill(&mut self, colour: u32, format: &PixelFormat, out: &mut Vec<u8>) {
        out.push(FILL << 4);
        tpixel::write_all(&[colour], format, out);
    }

    /// Appends a JpegCompression body with the settings set (quality level 8's if none
    /// are); true if it did. Formats below 16 bits per pixel, and images JPEG fails on, get
    /// PNG instead.
    pub fn encode_jpeg(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) -> bool {
        let usable = jpeg::encode_for_tight(
            framebuffer,
            rect,
            format,
            self.jpeg,
            &mut self.plain,
            &mut self.image,
        );
        if !usable {
            self.encode_lossless(framebuffer, rect, format, out);
            return false;
        }
        out.push(JPEG << 4);
        compact_length::write(self.image.len(), out);
        out.extend_from_slice(&self.image);
        true
    }

    /// A PNG of `rect`, indexed when the colours just collected fit a palette.
    fn write_png(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        indexed: bool,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        self.plain.clear();
        let mut rgb_palette = Vec::new();
        let depth = if indexed {
            let bits = self.palette.png_bits();
            self.palette.pack(framebuffer, rect, bits, &mut self.plain);
            tpixel::write_rgb(self.palette.colours(), &mut rgb_palette);
            match bits {
                1 => BitDepth::One,
                2 => BitDepth::Two,
                4 => BitDepth::Four,
                _ => BitDepth::Eight,
            }
        } else {
            self.plain.reserve(rect.area() * 3);
            for row in 0..rect.height {
                tpixel::write_rgb(framebuffer.row(rect, row), &mut self.plain);
            }
            BitDepth::Eight
        };
        self.image.clear();
        let written = write_png_image(
            &mut self.image,
            rect,
            depth,
            &rgb_palette,
            &self.plain,
            self.compress_level,
        );
        if written.is_err() || self.image.len() > compact_length::MAX_COMPACT_LENGTH {
            // Only a rectangle far past the size limits gets here: one colour of it at
            // least keeps the framing intact.
            return self.encode_fill(framebuffer.pixel(rect.x, rect.y), format, out);
        }
        out.push(PNG << 4);
        compact_length::write(self.image.len(), out);
        out.extend_from_slice(&self.image);
    }
}

fn write_png_image(
    image: &mut Vec<u8>,
    rect: &Rect,
    depth: BitDepth,
    rgb_palette: &[u8],
    data: &[u8],
    compress_level: u8,
) -> Result<(), ::png::EncodingError> {
    let mut encoder = ::png::Encoder::new(image, u32::from(rect.width), u32::from(rect.height));
    encoder.set_depth(depth);
    if rgb_palette.is_empty() {
        encoder.set_color(ColorType::Rgb);
        encoder.set_filter(if compress_level == 0 {
            Filter::NoFilter
        } else {
            Filter::Adaptive
        });
    } else {
        encoder.set_color(ColorType::Indexed);
        encoder.set_palette(rgb_palette.to_vec());
        encoder.set_filter(Filter::NoFilter);
    }
    encoder.set_deflate_compression(match compress_level {
        0 | 1 => DeflateCompression::FdeflateUltraFast,
        level => DeflateCompression::Level(level),
    });
    let mut writer = encoder.write_header()?;
    writer.write_image_data(data)?;
    writer.finish()
}

/// Decodes a PNG image that must be exactly `rect`'s size into native pixels in `out`. The
/// size is checked from the header before anything is allocated for the image.
pub fn decode(data: &[u8], rect: &Rect, out: &mut Vec<u32>) -> Result<(), String> {
    let (width, height) = (usize::from(rect.width), usize::from(rect.height));
    let limits = Limits {
        bytes: width * height * 8 + (1 << 16),
    };
    let mut decoder = ::png::Decoder::new_with_limits(Cursor::new(data), limits);
    decoder.set_transformations(Transformations::normalize_to_color8());
    // The decoder is third-party code fed by the peer: a panic in it is just bad data.
    let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> Result<(Vec<u8>, usize, usize), String> {
            let bad = |error: ::png::DecodingError| format!("bad PNG data: {error}");
            let info = decoder.read_header_info().map_err(bad)?;
            let size = (info.width as usize, info.height as usize);
            if size != (width, height) {
                return Err(format!(
                    "PNG image is {}x{}, the rectangle {width}x{height}",
                    size.0, size.1
                ));
            }
            let mut reader = decoder.read_info().map_err(bad)?;
            let (colour, depth) = reader.output_color_type();
            let channels = match colour {
                ColorType::Grayscale => 1,
                ColorType::GrayscaleAlpha => 2,
                ColorType::Rgb => 3,
                ColorType::Rgba => 4,
                ColorType::Indexed => return Err("PNG palette was not expanded".into()),
            };
            if depth != BitDepth::Eight {
                return Err(format!("PNG output depth {depth:?}"));
            }
            let mut bytes = vec![0u8; width * height * channels];
            let frame = reader.next_frame(&mut bytes).map_err(bad)?;
            Ok((bytes, channels, frame.line_size))
        },
    ))
    .map_err(|_| "bad PNG data (the decoder gave up)".to_string())??;
    let (bytes, channels, line_size) = decoded;
    out.clear();
    for line in bytes.chunks(line_size.max(1)).take(height) {
        out.extend(line.chunks_exact(channels).take(width).map(|p| match p {
            [grey] | [grey, _] => u32::from(*grey) * 0x01_0101,
            [r, g, b, ..] => (u32::from(*r) << 16) | (u32::from(*g) << 8) | u32::from(*b),
            [] => 0,
        }));
    }
    if out.len() != width * height {
        return Err("PNG image data is short".into());
    }
    Ok(())
}
