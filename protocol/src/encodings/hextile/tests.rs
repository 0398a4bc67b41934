use super::*;
use crate::encodings::testing::{Content, any_picture_and_rect, picture, same_in_format};
use proptest::prelude::*;

const WHITE: u32 = 0xffffff;
const BLACK: u32 = 0x000000;
const RED: u32 = 0xff0000;
const GREEN: u32 = 0x00ff00;
const BLUE: u32 = 0x0000ff;

/// One byte per pixel: white 0xff, black 0x00, red 0x07, green 0x38, blue 0xc0.
const FORMAT: PixelFormat = PixelFormat::BGR233;

/// A 36x18 rectangle, six tiles, from the byte layout of RFC 6143 §7.7.4.
#[rustfmt::skip]
const KNOWN_BODY: &[u8] = &[
    // Tile 0, 16x16: background white, foreground black, two subrectangles.
    0x0e, 0xff, 0x00, 2, 0x00, 0xf0, 0x23, 0x03,
    // Tile 1, 16x16: solid, background carried over.
    0x00,
    // Tile 2, 4x16: one subrectangle in the foreground carried over through tile 1.
    0x08, 1, 0x12, 0x12,
    // Tile 3, 16x2: coloured subrectangles (red at 0,0 and blue at 15,1) on white.
    0x18, 2, 0x07, 0x00, 0x00, 0xc0, 0xf1, 0x00,
    // Tile 4, 16x2: the foreground must be given again after a coloured tile.
    0x0e, 0x38, 0x00, 1, 0x30, 0x31,
    // Tile 5, 4x2: raw.
    0x01, 0x07, 0x38, 0xc0, 0xff, 0x00, 0x07, 0x38, 0xc0,
];

fn known_picture(origin_x: u16, origin_y: u16) -> Framebuffer {
    let mut picture = Framebuffer::new(40, 24);
    let mut paint = |x: u16, y: u16, w: u16, h: u16, colour: u32| {
        picture.fill_rect(&Rect::new(origin_x + x, origin_y + y, w, h), colour);
    };
    paint(0, 0, 36, 18, WHITE);
    paint(0, 0, 16, 1, BLACK);
    paint(2, 3, 1, 4, BLACK);
    paint(33, 2, 2, 3, BLACK);
    paint(0, 16, 1, 1, RED);
    paint(15, 17, 1, 1, BLUE);
    paint(16, 16, 16, 2, GREEN);
    paint(19, 16, 4, 2, BLACK);
    for (i, colour) in [RED, GREEN, BLUE, WHITE, BLACK, RED, GREEN, BLUE]
        .into_iter()
        .enumerate()
    {
        paint(32 + i as u16 % 4, 16 + i as u16 / 4, 1, 1, colour);
    }
    picture
}

#[test]
fn known_answer_decodes() {
    let rect = Rect::new(1, 2, 36, 18);
    let mut framebuffer = Framebuffer::new(40, 24);
    let result = decode(KNOWN_BODY, &rect, &FORMAT, &mut framebuffer);
    assert_eq!(result, Ok(Some(KNOWN_BODY.len())));
    assert_eq!(framebuffer, known_picture(1, 2));
}

#[test]
fn every_prefix_needs_more_and_draws_nothing() {
    let rect = Rect::new(1, 2, 36, 18);
    let mut framebuffer = Framebuffer::new(40, 24);
    for cut in 0..KNOWN_BODY.len() {
        let result = decode(&KNOWN_BODY[..cut], &rect, &FORMAT, &mut framebuffer);
        assert_eq!(result, Ok(None), "prefix {cut}");
        assert_eq!(framebuffer, Framebuffer::new(40, 24), "prefix {cut} drew");
    }
    let mut longer = KNOWN_BODY.to_vec();
    longer.extend_from_slice(&[0xde, 0xad]);
    let result = decode(&longer, &rect, &FORMAT, &mut framebuffer);
    assert_eq!(result, Ok(Some(KNOWN_BODY.len())));
}

#[test]
fn known_answer_encodes() {
    let mut picture = Framebuffer::new(20, 16);
    picture.fill_rect(&picture.bounds(), WHITE);
    picture.fill_rect(&Rect::new(0, 0, 16, 1), BLACK);
    picture.fill_rect(&Rect::new(2, 3, 1, 4), BLACK);
    let mut body = Vec::new();
    HextileEncoder::default().encode(&picture, &picture.bounds(), &FORMAT, &mut body);
    assert_eq!(body, [0x0e, 0xff, 0x00, 2, 0x00, 0xf0, 0x23, 0x03, 0x00]);
}

fn decode_error(body: &[u8], width: u16, height: u16) -> String {
    let mut framebuffer = Framebuffer::new(width, height);
    let rect = framebuffer.bounds();
    decode(body, &rect, &FORMAT, &mut framebuffer).unwrap_err()
}

#[test]
fn carry_over_rules_are_enforced() {
    let error = decode_error(&[0x00], 16, 16);
    assert!(error.starts_with("tile 0: no background"), "{error}");
    // A raw tile leaves no background to carry over.
    let mut after_raw = vec![0x01];
    after_raw.extend([0x38; 256]);
    after_raw.push(0x00);
    let error = decode_error(&after_raw, 32, 16);
    assert!(error.starts_with("tile 1: no background"), "{error}");
    // ... nor a foreground.
    after_raw.pop();
    after_raw.extend([0x0a, 0xff, 1, 0x00, 0x00]);
    let error = decode_error(&after_raw, 32, 16);
    assert!(
        error.starts_with("tile 1: subrectangles in a foreground"),
        "{error}"
    );
    // Subrectangles without any foreground yet.
    let error = decode_error(&[0x0a, 0xff, 1, 0x00, 0x00], 16, 16);
    assert!(
        error.starts_with("tile 0: subrectangles in a foreground"),
        "{error}"
    );
    // A coloured tile leaves no foreground, even one specified before it.
    let body = [
        0x0e, 0xff, 0x00, 1, 0x00, 0x00, // tile 0: foreground black
        0x18, 1, 0x07, 0x11, 0x00, // tile 1: coloured
        0x08, 1, 0x00, 0x00, // tile 2: foreground?
    ];
    let error = decode_error(&body, 48, 16);
    assert!(
        error.starts_with("tile 2: subrectangles in a foreground"),
        "{error}"
    );
    let error = decode_error(&[0x1e, 0xff, 0x00, 0], 16, 16);
    assert!(
        error.contains("ForegroundSpecified with SubrectsColoured"),
        "{error}"
    );
    let error = decode_error(&[0x22, 0xff], 16, 16);
    assert!(error.contains("bits Hextile does not define"), "{error}");
}

#[test]
fn what_the_rules_allow_decodes() {
    let mut framebuffer = Framebuffer::new(48, 16);
    let rect = framebuffer.bounds();
    let body = [
        0x06, 0xff, 0x00, // tile 0: solid white, foreground black given for later
        0x10, // tile 1: SubrectsColoured without subrectangles: white again
        0x0c, 0x00, 1, 0x00, 0x00, // tile 2: foreground given, background carried
    ];
    assert_eq!(
        decode(&body, &rect, &FORMAT, &mut framebuffer),
        Ok(Some(body.len()))
    );
    assert_eq!(framebuffer.pixel(40, 3), WHITE);
    assert_eq!(framebuffer.pixel(32, 0), BLACK);
    // With the Raw bit set the other bits do not matter.
    let mut raw = vec![0xff];
    raw.extend([0x07; 256]);
    let mut framebuffer = Framebuffer::new(16, 16);
    assert_eq!(
        decode(&raw, &rect_of(&framebuffer), &FORMAT, &mut framebuffer),
        Ok(Some(257))
    );
    assert!(framebuffer.pixels().iter().all(|&p| p == RED));
}

fn rect_of(framebuffer: &Framebuffer) -> Rect {
    framebuffer.bounds()
}

#[test]
fn subrectangles_must_lie_inside_their_tile() {
    // The second tile of a 20x16 rectangle is 4 wide.
    let error = decode_error(&[0x02, 0xff, 0x0c, 0x00, 1, 0x40, 0x00], 20, 16);
    assert_eq!(
        error,
        "tile 1: subrectangle 0 at 4,0 1x1 lies outside the 4x16 tile"
    );
    let error = decode_error(&[0x0e, 0xff, 0x00, 2, 0x00, 0x00, 0xe2, 0x1f], 16, 16);
    assert!(
        error.starts_with("tile 0: subrectangle 1 at 14,2 2x16"),
        "{error}"
    );
}

#[test]
fn solid_areas_take_a_byte_per_tile() {
    let mut picture = Framebuffer::new(64, 64);
    picture.fill_rect(&picture.bounds(), 0x123456);
    let mut body = Vec::new();
    let format = PixelFormat::NATIVE;
    HextileEncoder::default().encode(&picture, &picture.bounds(), &format, &mut body);
    assert_eq!(body.len(), 1 + 4 + 15);
}

#[test]
fn noise_goes_raw() {
    let picture = picture(16, 16, Content::Noise, 7);
    let mut body = Vec::new();
    let format = PixelFormat::NATIVE;
    HextileEncoder::default().encode(&picture, &picture.bounds(), &format, &mut body);
    assert_eq!(body.len(), 1 + 256 * 4);
    assert_eq!(body[0], RAW);
}

#[test]
fn carried_colours_can_swap_background_and_foreground() {
    // Tile 0: black marks on white. Tile 1: black with one white pixel; as the colours carry
    // over, black subrectangles on white cost less than specifying both colours again.
    let mut picture = Framebuffer::new(32, 16);
    picture.fill_rect(&Rect::new(0, 0, 16, 16), WHITE);
    picture.fill_rect(&Rect::new(3, 3, 2, 8), BLACK);
    picture.fill_rect(&Rect::new(16, 0, 16, 16), BLACK);
    picture.fill_rect(&Rect::new(21, 5, 1, 1), WHITE);
    let format = PixelFormat::NATIVE;
    let mut body = Vec::new();
    HextileEncoder::default().encode(&picture, &picture.bounds(), &format, &mut body);
    let tile_1 = 1 + 4 + 4 + 1 + 2;
    assert_eq!(body[tile_1], ANY_SUBRECTS, "{body:?}");
    assert_eq!(body.len(), tile_1 + 2 + 4 * 2);
    let mut decoded = Framebuffer::new(32, 16);
    decode(&body, &picture.bounds(), &format, &mut decoded).unwrap();
    assert_eq!(decoded, picture);
}

#[test]
fn text_is_much_smaller_than_raw() {
    let picture = picture(128, 64, Content::Text, 3);
    let format = PixelFormat::NATIVE;
    let mut body = Vec::new();
    HextileEncoder::default().encode(&picture, &picture.bounds(), &format, &mut body);
    let raw = picture.bounds().area() * 4;
    assert!(body.len() * 4 < raw, "{} bytes, raw {raw}", body.len());
    let mut decoded = Framebuffer::new(128, 64);
    decode(&body, &picture.bounds(), &format, &mut decoded).unwrap();
    assert_eq!(decoded, picture);
}

#[test]
fn every_prefix_of_encoded_content_needs_more() {
    let picture = picture(40, 35, Content::Text, 11);
    let rect = Rect::new(3, 1, 37, 34);
    let format = PixelFormat::RGB565;
    let mut body = Vec::new();
    HextileEncoder::default().encode(&picture, &rect, &format, &mut body);
    let mut decoded = Framebuffer::new(40, 35);
    for cut in 0..body.len() {
        assert_eq!(decode(&body[..cut], &rect, &format, &mut decoded), Ok(None));
    }
    assert_eq!(decoded, Framebuffer::new(40, 35));
    assert_eq!(
        decode(&body, &rect, &format, &mut decoded),
        Ok(Some(body.len()))
    );
    assert!(same_in_format(&format, &rect, &picture, &decoded));
}

proptest! {
    #[test]
    fn round_trip(
        format in crate::pixel::tests::any_true_colour_format(),
        (picture, rect) in any_picture_and_rect(70),
        second_seed: u64,
    ) {
        let mut encoder = HextileEncoder::default();
        let mut decoded = Framebuffer::new(picture.width(), picture.height());
        // Two rectangles through the same encoder: nothing may carry over between them.
        let other = crate::encodings::testing::picture(
            picture.width(), picture.height(), Content::FewColours, second_seed,
        );
        for (source, rect) in [(&picture, rect), (&other, other.bounds()), (&picture, rect)] {
            let mut body = Vec::new();
            encoder.encode(source, &rect, &format, &mut body);
            prop_assert_eq!(body_len(&body, &rect, &format), Ok(Some(body.len())));
            for cut in [0, 1, body.len() / 3, body.len() - 1] {
                prop_assert_eq!(decode(&body[..cut], &rect, &format, &mut decoded), Ok(None));
            }
            prop_assert_eq!(decode(&body, &rect, &format, &mut decoded), Ok(Some(body.len())));
            prop_assert!(same_in_format(&format, &rect, source, &decoded));
            prop_assert!(body.len() <= rect.area() * format.bytes_per_pixel() + tiles(&rect).count());
        }
    }

    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        width in 0u16..40, height in 0u16..40,
        format in crate::pixel::tests::any_true_colour_format(),
    ) {
        let mut framebuffer = Framebuffer::new(40, 40);
        let rect = Rect::new(0, 0, width, height);
        if let Ok(Some(len)) = decode(&body, &rect, &format, &mut framebuffer) {
            prop_assert!(len <= body.len());
        }
    }

    #[test]
    fn damaged_bodies_never_panic(
        (picture, rect) in any_picture_and_rect(40),
        damage in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut: prop::sample::Index,
    ) {
        let format = PixelFormat::BGR233;
        let mut body = Vec::new();
        HextileEncoder::default().encode(&picture, &rect, &format, &mut body);
        for (at, value) in damage {
            let at = at.index(body.len());
            body[at] = value;
        }
        let mut framebuffer = Framebuffer::new(picture.width(), picture.height());
        let body = &body[..cut.index(body.len() + 1)];
        if let Ok(Some(len)) = decode(body, &rect, &format, &mut framebuffer) {
            prop_assert!(len <= body.len());
        }
    }
}
