//! CoRRE encoding (number 4, community RFB spec "CoRRE Encoding"; RFC 6143 lists only the
//! number): RRE (§7.7.3) with subrectangle positions and sizes as U8s, so one rectangle
//! covers at most 255x255 pixels and larger areas go as several (see [`pieces`]). The code
//! is RRE's.

use super::Decoded;
use super::rre::{self, Coordinates, RreEncoder};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// The widest and tallest rectangle CoRRE can describe.
pub const MAX_SIDE: u16 = 255;

/// Cuts `rect` into rectangles of at most [`MAX_SIDE`] on each side, row by row.
pub fn pieces(rect: Rect) -> impl Iterator<Item = Rect> {
    let side = usize::from(MAX_SIDE);
    (0..rect.height).step_by(side).flat_map(move |top| {
        (0..rect.width).step_by(side).map(move |left| {
            Rect::new(
                rect.x + left,
                rect.y + top,
                (rect.width - left).min(MAX_SIDE),
                (rect.height - top).min(MAX_SIDE),
            )
        })
    })
}

/// How many bytes the CoRRE body at the start of `body` takes; `None` if not all there yet.
pub fn body_len(body: &[u8], rect: &Rect, format: &PixelFormat) -> Result<Option<usize>, String> {
    rre::framed_len(body, rect, format, Coordinates::U8)
}

/// Draws a CoRRE rectangle (framing and pixels).
pub fn decode(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Decoded {
    rre::decode_with(body, rect, format, framebuffer, Coordinates::U8)
}

/// Draws a CoRRE body of exactly the length [`body_len`] gave.
pub fn draw(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Result<(), String> {
    rre::draw_with(body, rect, format, framebuffer, Coordinates::U8)
}

/// The CoRRE encoder (RRE's, with narrower coordinates).
#[derive(Debug, Default)]
pub struct CorreEncoder {
    rre: RreEncoder,
}

impl CorreEncoder {
    /// Appends the CoRRE body of `rect` (inside `framebuffer`).
    ///
    /// # Panics
    /// If `rect` is wider or taller than [`MAX_SIDE`]: cut it with [`pieces`] first.
    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        assert!(
            rect.width <= MAX_SIDE && rect.height <= MAX_SIDE,
            "CoRRE rectangle {rect:?} is larger than {MAX_SIDE}x{MAX_SIDE}"
        );
        self.rre
            .encode_with(framebuffer, rect, format, out, Coordinates::U8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encodings::testing::{any_picture_and_rect, same_in_format};
    use proptest::prelude::*;

    /// From the community spec's layout, 8 bits per pixel (BGR233): a 300x2 rectangle cut
    /// into a 255x2 piece, white with a red 200x1 band at 40,1.
    const KNOWN_BODY: [u8; 4 + 1 + 1 + 4] = [0, 0, 0, 1, 0xff, 0x07, 40, 1, 200, 1];

    #[test]
    fn known_answer_both_ways() {
        let format = PixelFormat::BGR233;
        let mut picture = Framebuffer::new(300, 2);
        picture.fill_rect(&picture.bounds(), 0xffffff);
        picture.fill_rect(&Rect::new(40, 1, 200, 1), 0xff0000);
        let first = pieces(picture.bounds()).next().unwrap();
        assert_eq!(first, Rect::new(0, 0, 255, 2));
        let mut body = Vec::new();
        CorreEncoder::default().encode(&picture, &first, &format, &mut body);
        assert_eq!(body, KNOWN_BODY);
        let mut decoded = Framebuffer::new(300, 2);
        let result = decode(&KNOWN_BODY, &first, &format, &mut decoded);
        assert_eq!(result, Ok(Some(KNOWN_BODY.len())));
        assert_eq!(decoded.read_rect(&first), picture.read_rect(&first));
        for cut in 0..KNOWN_BODY.len() {
            assert_eq!(
                decode(&KNOWN_BODY[..cut], &first, &format, &mut decoded),
                Ok(None)
            );
        }
        let mut outside = KNOWN_BODY;
        outside[8] = 220; // 40 + 220 > 255
        let error = decode(&outside, &first, &format, &mut decoded).unwrap_err();
        assert!(
            error.contains("subrectangle 0 at 40,1 220x1 lies outside"),
            "{error}"
        );
    }

    #[test]
    fn pieces_cover_large_rectangles() {
        let rect = Rect::new(7, 9, 600, 256);
        let pieces: Vec<Rect> = pieces(rect).collect();
        assert_eq!(pieces.len(), 6);
        assert_eq!(pieces.iter().map(Rect::area).sum::<usize>(), rect.area());
        assert!(
            pieces
                .iter()
                .all(|p| p.width <= MAX_SIDE && p.height <= MAX_SIDE)
        );
        assert!(pieces.iter().all(|p| rect.contains(p)));
    }

    proptest! {
        #[test]
        fn round_trip(
            format in crate::pixel::tests::any_true_colour_format(),
            (picture, rect) in any_picture_and_rect(70),
        ) {
            let mut encoder = CorreEncoder::default();
            let mut decoded = Framebuffer::new(picture.width(), picture.height());
            for rect in [rect, picture.bounds()] {
                let mut body = Vec::new();
                encoder.encode(&picture, &rect, &format, &mut body);
                prop_assert_eq!(body_len(&body, &rect, &format), Ok(Some(body.len())));
                prop_assert_eq!(decode(&body[..body.len() - 1], &rect, &format, &mut decoded), Ok(None));
                prop_assert_eq!(decode(&body, &rect, &format, &mut decoded), Ok(Some(body.len())));
                prop_assert!(same_in_format(&format, &rect, &picture, &decoded));
            }
        }

        #[test]
        fn random_bytes_never_panic(
            mut body in proptest::collection::vec(any::<u8>(), 4..200),
            width in 0u16..20, height in 0u16..20,
            format in crate::pixel::tests::any_true_colour_format(),
        ) {
            let mut framebuffer = Framebuffer::new(20, 20);
            let rect = Rect::new(0, 0, width, height);
            let count = u32::from(body[3]) % 8;
            body[..4].copy_from_slice(&count.to_be_bytes());
            if let Ok(Some(len)) = decode(&body, &rect, &format, &mut framebuffer) {
                prop_assert!(len <= body.len());
            }
        }
    }
}
