//! Zlib encoding (number 6, from TightVNC's family; described in the community RFB spec):
//! a 4-byte length, then that many bytes of one persistent zlib stream that inflate to the
//! rectangle's pixels exactly as Raw would send them.

use super::zstream::{Deflater, Inflater};
use super::{Decoded, raw};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// The most compressed bytes one rectangle may carry (the u32 length field allows 4 GiB).
pub const MAX_COMPRESSED_LEN: usize = 64 * 1024 * 1024;

#[derive(Debug)]
pub struct ZlibEncoder {
    stream: Deflater,
    scratch: Vec<u8>,
}

impl Default for ZlibEncoder {
    fn default() -> Self {
        Self {
            stream: Deflater::new(6),
            scratch: Vec::new(),
        }
    }
}

impl ZlibEncoder {
    pub fn set_level(&mut self, level: u32) {
        self.stream.set_level(level);
    }

    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        self.scratch.clear();
        raw::encode(framebuffer, rect, format, &mut self.scratch);
        self.stream.compress_with_length(&self.scratch, out);
    }
}

#[derive(Debug, Default)]
pub struct ZlibDecoder {
    stream: Inflater,
    scratch: Vec<u8>,
}

impl ZlibDecoder {
    pub fn decode(
        &mut self,
        body: &[u8],
        rect: &Rect,
        format: &PixelFormat,
        framebuffer: &mut Framebuffer,
    ) -> Decoded {
        let Some(length) = body
            .first_chunk::<4>()
            .map(|b| u32::from_be_bytes(*b) as usize)
        else {
            return Ok(None);
        };
        if length > MAX_COMPRESSED_LEN {
            return Err(format!(
                "compressed length {length} exceeds {MAX_COMPRESSED_LEN}"
            ));
        }
        let Some(compressed) = body.get(4..4 + length) else {
            return Ok(None);
        };
        let expected = raw::body_len(rect, format);
        self.stream
            .inflate_exact(compressed, expected, &mut self.scratch)?;
        raw::decode(&self.scratch, rect, format, framebuffer);
        Ok(Some(4 + length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_over_several_rectangles_and_formats() {
        let pixels: Vec<u32> = (0..64 * 64u32)
            .map(|i| (i / 7).wrapping_mul(0x010203) & 0xff_ffff)
            .collect();
        let picture = Framebuffer::from_pixels(64, 64, pixels).unwrap();
        let mut encoder = ZlibEncoder::default();
        let mut decoder = ZlibDecoder::default();
        let mut decoded = Framebuffer::new(64, 64);
        for rect in [
            Rect::new(0, 0, 64, 20),
            Rect::new(0, 20, 64, 44),
            Rect::new(5, 5, 1, 1),
        ] {
            for format in [PixelFormat::RGB565, PixelFormat::NATIVE] {
                let mut body = Vec::new();
                encoder.encode(&picture, &rect, &format, &mut body);
                // A prefix needs more and leaves the stream untouched.
                let prefix = &body[..body.len() - 1];
                assert_eq!(
                    decoder.decode(prefix, &rect, &format, &mut decoded),
                    Ok(None)
                );
                assert_eq!(
                    decoder.decode(&body, &rect, &format, &mut decoded),
                    Ok(Some(body.len()))
                );
                let same = decoded
                    .read_rect(&rect)
                    .iter()
                    .zip(picture.read_rect(&rect))
                    .all(|(&a, b)| format.pixel_value(a) == format.pixel_value(b));
                assert!(same, "{rect:?} {format:?}");
            }
        }
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let mut decoder = ZlibDecoder::default();
        let mut framebuffer = Framebuffer::new(4, 4);
        let body = [0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef];
        let result = decoder.decode(
            &body,
            &Rect::new(0, 0, 4, 4),
            &PixelFormat::NATIVE,
            &mut framebuffer,
        );
        assert!(result.is_err());
    }
}
