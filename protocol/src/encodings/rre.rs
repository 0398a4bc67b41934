//! RRE encoding (number 2, RFC 6143 §7.7.3): a background colour for the whole rectangle,
//! then single-colour subrectangles drawn over it, each as a pixel and four U16s (x, y,
//! width, height relative to the rectangle). CoRRE (see `corre`) is the same with U8s, and
//! shares this module's code.
//!
//! The encoder takes the most frequent colour as the background and covers the rest with
//! the largest single-colour rectangles it finds greedily.

use super::Decoded;
use super::subrects::{ColourCounts, SubrectFinder, load_block};
use crate::framebuffer::{Framebuffer, MAX_FRAMEBUFFER_PIXELS, Rect};
use crate::pixel::PixelFormat;
use crate::wire::Writer;

/// The most subrectangles one rectangle may announce. A rectangle also may not announce more
/// than it has pixels, which bounds the bytes to wait for to nine times its Raw size.
pub const MAX_SUBRECTANGLES: usize = MAX_FRAMEBUFFER_PIXELS;

/// How wide the subrectangle coordinates are: RRE's U16s or CoRRE's U8s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Coordinates {
    U16,
    U8,
}

impl Coordinates {
    fn bytes(self) -> usize {
        match self {
            Coordinates::U16 => 2,
            Coordinates::U8 => 1,
        }
    }

    fn read(self, bytes: &[u8], index: usize) -> u16 {
        match self {
            Coordinates::U16 => u16::from_be_bytes([bytes[2 * index], bytes[2 * index + 1]]),
            Coordinates::U8 => u16::from(bytes[index]),
        }
    }

    fn write(self, value: usize, out: &mut Vec<u8>) {
        match self {
            Coordinates::U16 => out.put_u16(value as u16),
            Coordinates::U8 => out.put_u8(value as u8),
        }
    }
}

/// How many bytes the RRE body at the start of `body` takes; `None` if not all there yet.
pub fn body_len(body: &[u8], rect: &Rect, format: &PixelFormat) -> Result<Option<usize>, String> {
    framed_len(body, rect, format, Coordinates::U16)
}

/// Draws an RRE rectangle (framing and pixels).
pub fn decode(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Decoded {
    decode_with(body, rect, format, framebuffer, Coordinates::U16)
}

/// Draws an RRE body of exactly the length [`body_len`] gave.
pub fn draw(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Result<(), String> {
    draw_with(body, rect, format, framebuffer, Coordinates::U16)
}

pub(super) fn framed_len(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    coordinates: Coordinates,
) -> Result<Option<usize>, String> {
    let Some(count) = body.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) else {
        return Ok(None);
    };
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > rect.area() || count > MAX_SUBRECTANGLES {
        return Err(format!(
            "{count} subrectangles for a {}x{} rectangle (at most one per pixel, {MAX_SUBRECTANGLES} in all)",
            rect.width, rect.height
        ));
    }
    let bpp = format.bytes_per_pixel();
    let len = count
        .checked_mul(bpp + 4 * coordinates.bytes())
        .and_then(|subrects| subrects.checked_add(4 + bpp))
        .ok_or_else(|| format!("{count} subrectangles overflow the body length"))?;
    Ok((body.len() >= len).then_some(len))
}

pub(super) fn decode_with(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
    coordinates: Coordinates,
) -> Decoded {
    let Some(len) = framed_len(body, rect, format, coordinates)? else {
        return Ok(None);
    };
    draw_with(&body[..len], rect, format, framebuffer, coordinates)?;
    Ok(Some(len))
}

pub(super) fn draw_with(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
    coordinates: Coordinates,
) -> Result<(), String> {
    let bpp = format.bytes_per_pixel();
    let (Some(background), Some(subrects)) = (body.get(4..4 + bpp), body.get(4 + bpp..)) else {
        return Err("body shorter than its header".to_string());
    };
    framebuffer.fill_rect(rect, format.read_pixel(background));
    let stride = bpp + 4 * coordinates.bytes();
    for (index, subrect) in subrects.chunks_exact(stride).enumerate() {
        let (pixel, position) = subrect.split_at(bpp);
        let [x, y, width, height] = [0, 1, 2, 3].map(|i| coordinates.read(position, i));
        if u32::from(x) + u32::from(width) > u32::from(rect.width)
            || u32::from(y) + u32::from(height) > u32::from(rect.height)
        {
            return Err(format!(
                "subrectangle {index} at {x},{y} {width}x{height} lies outside the {}x{} rectangle",
                rect.width, rect.height
            ));
        }
        // Inside the rectangle, which lies inside the framebuffer: no overflow.
        let target = Rect::new(rect.x + x, rect.y + y, width, height);
        framebuffer.fill_rect(&target, format.read_pixel(pixel));
    }
    Ok(())
}

/// The RRE encoder's scratch buffers, kept from rectangle to rectangle.
#[derive(Debug, Default)]
pub struct RreEncoder {
    block: Vec<u32>,
    counts: ColourCounts,
    finder: SubrectFinder,
}

impl RreEncoder {
    /// Appends the RRE body of `rect` (inside `framebuffer`).
    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        self.encode_with(framebuffer, rect, format, out, Coordinates::U16);
    }

    pub(super) fn encode_with(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
        coordinates: Coordinates,
    ) {
        load_block(framebuffer, rect, format, &mut self.block);
        let (background, _) = self.counts.most_frequent(&self.block);
        let background = background.unwrap_or(0);
        let count_at = out.len();
        out.put_u32(0);
        format.write_pixel(background, out);
        let mut count = 0u32;
        let (width, height) = (usize::from(rect.width), usize::from(rect.height));
        self.finder
            .find(&self.block, width, height, background, |subrect| {
                format.write_pixel(subrect.colour, out);
                for value in [subrect.x, subrect.y, subrect.width, subrect.height] {
                    coordinates.write(value, out);
                }
                count += 1;
                true
            });
        out[count_at..count_at + 4].copy_from_slice(&count.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encodings::testing::{any_picture_and_rect, same_in_format};
    use proptest::prelude::*;

    const WHITE: u32 = 0xffffff;
    const RED: u32 = 0xff0000;
    const BLUE: u32 = 0x0000ff;

    /// From the layout in RFC 6143 §7.7.3, in big-endian RGB565: a 4x3 rectangle, white
    /// background, a blue pixel at 3,0 and a red 2x2 square at 1,1.
    const KNOWN_BODY: [u8; 4 + 2 + 2 * (2 + 8)] = [
        0, 0, 0, 2, // number-of-subrectangles
        0xff, 0xff, // background: white
        0x00, 0x1f, 0, 3, 0, 0, 0, 1, 0, 1, // blue at 3,0 1x1
        0xf8, 0x00, 0, 1, 0, 1, 0, 2, 0, 2, // red at 1,1 2x2
    ];

    fn rgb565_big_endian() -> PixelFormat {
        PixelFormat {
            big_endian: true,
            ..PixelFormat::RGB565
        }
    }

    #[rustfmt::skip]
    const KNOWN_PIXELS: [u32; 12] = [
        WHITE, WHITE, WHITE, BLUE,
        WHITE, RED, RED, WHITE,
        WHITE, RED, RED, WHITE,
    ];

    #[test]
    fn known_answer_decodes() {
        let format = rgb565_big_endian();
        let rect = Rect::new(2, 1, 4, 3);
        let mut framebuffer = Framebuffer::new(8, 5);
        let result = decode(&KNOWN_BODY, &rect, &format, &mut framebuffer);
        assert_eq!(result, Ok(Some(KNOWN_BODY.len())));
        assert_eq!(framebuffer.read_rect(&rect), KNOWN_PIXELS);
        assert_eq!(framebuffer.pixel(0, 0), 0, "nothing drawn outside");
    }

    #[test]
    fn known_answer_encodes() {
        let picture = Framebuffer::from_pixels(4, 3, KNOWN_PIXELS.to_vec()).unwrap();
        let mut body = Vec::new();
        RreEncoder::default().encode(&picture, &picture.bounds(), &rgb565_big_endian(), &mut body);
        assert_eq!(body, KNOWN_BODY);
    }

    #[test]
    fn malformed_bodies_are_errors() {
        let format = rgb565_big_endian();
        let rect = Rect::new(0, 0, 4, 3);
        let mut framebuffer = Framebuffer::new(4, 3);
        let mut outside = KNOWN_BODY;
        outside[21] = 3; // the red square at 1,3: partly below the rectangle
        let error = decode(&outside, &rect, &format, &mut framebuffer).unwrap_err();
        assert!(
            error.contains("subrectangle 1 at 1,3 2x2 lies outside"),
            "{error}"
        );
        let too_many = [0, 0, 0, 13, 0, 0];
        assert!(decode(&too_many, &rect, &format, &mut framebuffer).is_err());
        let huge = [0xff, 0xff, 0xff, 0xff];
        assert!(
            decode(
                &huge,
                &Rect::new(0, 0, 4000, 4000),
                &format,
                &mut Framebuffer::new(1, 1)
            )
            .is_err()
        );
    }

    #[test]
    fn every_prefix_needs_more() {
        let format = rgb565_big_endian();
        let rect = Rect::new(0, 0, 4, 3);
        let mut framebuffer = Framebuffer::new(4, 3);
        for cut in 0..KNOWN_BODY.len() {
            assert_eq!(
                decode(&KNOWN_BODY[..cut], &rect, &format, &mut framebuffer),
                Ok(None)
            );
            assert_eq!(framebuffer.pixels(), &[0; 12], "prefix {cut} drew");
        }
    }

    proptest! {
        #[test]
        fn round_trip(
            format in crate::pixel::tests::any_true_colour_format(),
            (picture, rect) in any_picture_and_rect(70),
        ) {
            let mut encoder = RreEncoder::default();
            let mut body = Vec::new();
            encoder.encode(&picture, &rect, &format, &mut body);
            prop_assert_eq!(body_len(&body, &rect, &format), Ok(Some(body.len())));
            let mut decoded = Framebuffer::new(picture.width(), picture.height());
            for cut in [0, 3, 4, body.len() / 2, body.len() - 1] {
                prop_assert_eq!(decode(&body[..cut], &rect, &format, &mut decoded), Ok(None));
            }
            prop_assert_eq!(decode(&body, &rect, &format, &mut decoded), Ok(Some(body.len())));
            prop_assert!(same_in_format(&format, &rect, &picture, &decoded));
            // The same encoder again, on another rectangle of the picture.
            let whole = picture.bounds();
            body.clear();
            encoder.encode(&picture, &whole, &format, &mut body);
            prop_assert_eq!(decode(&body, &whole, &format, &mut decoded), Ok(Some(body.len())));
            prop_assert!(same_in_format(&format, &whole, &picture, &decoded));
        }

        #[test]
        fn random_bytes_never_panic(
            body in proptest::collection::vec(any::<u8>(), 0..200),
            width in 0u16..20, height in 0u16..20,
            format in crate::pixel::tests::any_true_colour_format(),
        ) {
            let mut framebuffer = Framebuffer::new(20, 20);
            let rect = Rect::new(0, 0, width, height);
            let _ = decode(&body, &rect, &format, &mut framebuffer);
            // Bodies with a plausible count, so that subrectangles get parsed.
            let mut plausible = body.clone();
            if plausible.len() >= 4 {
                let count = u32::from(plausible[3]) % 8;
                plausible[..4].copy_from_slice(&count.to_be_bytes());
            }
            if let Ok(Some(len)) = decode(&plausible, &rect, &format, &mut framebuffer) {
                prop_assert!(len <= plausible.len());
            }
        }
    }
}
