//! The viewer's side of Tight and TightPNG: framing first (nothing changes until the whole
//! rectangle is there), then stream resets, then the pixels.
//!
//! Rectangles wider than [`super::MAX_RECT_WIDTH`] are accepted: every allocation is bounded
//! by the rectangle, which lies inside the framebuffer, and some servers send wide ones.

use super::frame::{self, Filter, Method, Variant};
use super::{Decoded, gradient, jpeg, palette, tightpng, tpixel};
use crate::encodings::Inflater;
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// A connection's Tight decoder state: the four zlib streams and scratch space.
#[derive(Debug, Default)]
pub struct TightDecoder {
    streams: [Inflater; 4],
    plain: Vec<u8>,
    pixels: Vec<u32>,
    rows: Vec<[u32; 3]>,
}

impl TightDecoder {
    /// Decodes one Tight rectangle.
    pub fn decode(
        &mut self,
        body: &[u8],
        rect: &Rect,
        format: &PixelFormat,
        framebuffer: &mut Framebuffer,
    ) -> Decoded {
        let Some(frame) = frame::parse(body, rect, format, Variant::Tight)? else {
            return Ok(None);
        };
        // The spec has the streams reset whatever the compression type.
        for (stream, inflater) in self.streams.iter_mut().enumerate() {
            if frame.resets & (1 << stream) != 0 {
                *inflater = Inflater::default();
            }
        }
        match frame.method {
            Method::Fill(pixel) => framebuffer.fill_rect(rect, tpixel::read(pixel, format)),
            Method::Jpeg(data) => {
                jpeg::decode(data, rect, &mut self.pixels)?;
                framebuffer.put_pixels(rect, &self.pixels);
            }
            Method::Png(_) => return Err("PNG data in a Tight rectangle".into()),
            Method::Basic {
                stream,
                filter,
                data,
                compressed,
                plain_len,
            } => {
                let plain = if compressed {
                    self.streams[stream]
                        .inflate_exact(data, plain_len, &mut self.plain)
                        .map_err(|error| format!("stream {stream}: {error}"))?;
                    &self.plain[..]
                } else {
                    data
                };
                self.pixels.clear();
                self.pixels.resize(rect.area(), 0);
                unfilter(
                    plain,
                    &filter,
                    rect,
                    format,
                    &mut self.rows,
                    &mut self.pixels,
                )?;
                framebuffer.put_pixels(rect, &self.pixels);
            }
        }
        Ok(Some(frame.len))
    }
}

/// Turns filtered data (exactly the filter's size for `rect`) into native pixels.
fn unfilter(
    plain: &[u8],
    filter: &Filter<'_>,
    rect: &Rect,
    format: &PixelFormat,
    rows: &mut Vec<[u32; 3]>,
    out: &mut [u32],
) -> Result<(), String> {
    let width = usize::from(rect.width);
    match *filter {
        Filter::Copy => tpixel::read_all(plain, format, out),
        Filter::Gradient => gradient::decode(plain, width, format, rows, out),
        Filter::Palette { count, colours } => {
            let mut palette = [0u32; 256];
            let size = tpixel::size(format);
            for (entry, bytes) in palette.iter_mut().zip(colours.chunks_exact(size)) {
                *entry = tpixel::read(bytes, format);
            }
            let bits = if count <= 2 { 1 } else { 8 };
            palette::unpack(plain, width, bits, &palette[..count], out)?;
        }
    }
    Ok(())
}

/// Decodes one TightPNG rectangle. TightPNG keeps no state across rectangles (it has no
/// zlib streams: the reset bits have nothing to reset), so this can run anywhere.
pub fn decode_tight_png(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Decoded {
    let Some(frame) = frame::parse(body, rect, format, Variant::TightPng)? else {
        return Ok(None);
    };
    match frame.method {
        Method::Fill(pixel) => framebuffer.fill_rect(rect, tpixel::read(pixel, format)),
        Method::Jpeg(data) => {
            let mut pixels = Vec::new();
            jpeg::decode(data, rect, &mut pixels)?;
            framebuffer.put_pixels(rect, &pixels);
        }
        Method::Png(data) => {
            let mut pixels = Vec::new();
            tightpng::decode(data, rect, &mut pixels)?;
            framebuffer.put_pixels(rect, &pixels);
        }
        Method::Basic { .. } => return Err("BasicCompression in a TightPNG rectangle".into()),
    }
    Ok(Some(frame.len))
}
