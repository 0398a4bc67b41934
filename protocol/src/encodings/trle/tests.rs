use super::*;
use crate::encodings::rle_tiles::samples::{Content, any_content, picture};
use proptest::prelude::*;

const RED: u32 = 0x00ff_0000;
const WHITE: u32 = 0x00ff_ffff;
const BLACK: u32 = 0;

/// A NATIVE CPIXEL, written out by hand: the low three bytes of 0x00RRGGBB, little endian.
fn native(rgb: u32) -> [u8; 3] {
    [rgb as u8, (rgb >> 8) as u8, (rgb >> 16) as u8]
}

fn same_pixels(format: &PixelFormat, a: &Framebuffer, b: &Framebuffer, rect: &Rect) -> bool {
    a.read_rect(rect)
        .iter()
        .zip(b.read_rect(rect))
        .all(|(&p, q)| format.pixel_value(p) == format.pixel_value(q))
}

#[test]
fn known_answer_from_the_spec_layout() {
    // 20x18: tiles 16x16, 4x16, 16x2, 4x2.
    let mut body = vec![1];
    body.extend(native(RED)); // Solid red.
    body.extend([2]); // Packed palette of two, one bit per pixel.
    body.extend(native(BLACK));
    body.extend(native(WHITE));
    for y in 0..16 {
        body.push(if y % 2 == 0 { 0b1010_0000 } else { 0b0101_0000 });
    }
    body.extend([127, 0xff, 0xff, 0x00, 0xff]); // The same palette, packed.
    body.extend([129, 0x81, 2, 0x00, 0x81, 3]); // The same palette, runs 3, 1, 4.
    let rect = Rect::new(2, 1, 20, 18);
    let format = PixelFormat::NATIVE;
    assert_eq!(body_len(&body, &rect, &format), Ok(Some(body.len())));
    let mut framebuffer = Framebuffer::new(24, 20);
    assert_eq!(
        decode(&body, &rect, &format, &mut framebuffer),
        Ok(Some(body.len()))
    );
    let at = |x: u16, y: u16| framebuffer.pixel(2 + x, 1 + y);
    assert!((0..16).all(|y| (0..16).all(|x| at(x, y) == RED)));
    for y in 0..16 {
        for x in 16..20 {
            assert_eq!(at(x, y), if (x + y) % 2 == 0 { WHITE } else { BLACK });
        }
    }
    let row_16: Vec<u32> = (0..20).map(|x| at(x, 16)).collect();
    let row_17: Vec<u32> = (0..20).map(|x| at(x, 17)).collect();
    let expected_16 = [[WHITE; 16].as_slice(), &[WHITE, WHITE, WHITE, BLACK]].concat();
    let expected_17 = [[BLACK; 8].as_slice(), &[WHITE; 8], &[WHITE; 4]].concat();
    assert_eq!(row_16, expected_16);
    assert_eq!(row_17, expected_17);
    assert_eq!(framebuffer.pixel(0, 0), 0, "outside the rectangle");
}

#[test]
fn known_answer_runs_raw_and_sixteen_bit_pixels() {
    let format = PixelFormat::RGB565; // CPIXEL = PIXEL: two bytes, little endian.
    let red = 0xf800u16.to_le_bytes();
    let blue = 0x001fu16.to_le_bytes();
    let green = 0x07e0u16.to_le_bytes();
    // 16x17: a 16x16 tile of plain RLE with a 256-pixel run, then a 16x1 tile of palette
    // RLE (three colours, runs crossing nothing), then the same again raw in a 3x1 rect.
    let mut body = vec![128];
    body.extend(red);
    body.extend([255, 0]);
    body.extend([128 + 3]);
    body.extend(red);
    body.extend(blue);
    body.extend(green);
    body.extend([0x82, 4, 0x01, 0x80, 9]); // green x5, blue x1, red x10
    let rect = Rect::new(0, 0, 16, 17);
    let mut framebuffer = Framebuffer::new(16, 17);
    assert_eq!(
        decode(&body, &rect, &format, &mut framebuffer),
        Ok(Some(body.len()))
    );
    assert!((0..16).all(|y| (0..16).all(|x| framebuffer.pixel(x, y) == RED)));
    let last: Vec<u32> = (0..16).map(|x| framebuffer.pixel(x, 16)).collect();
    let expected = [[0x0000_ff00u32; 5].as_slice(), &[0x0000_00ff], &[RED; 10]].concat();
    assert_eq!(last, expected);

    let raw = [&[0u8][..], &blue, &green, &red].concat();
    let rect = Rect::new(1, 2, 3, 1);
    assert_eq!(
        decode(&raw, &rect, &format, &mut framebuffer),
        Ok(Some(raw.len()))
    );
    assert_eq!(
        [1, 2, 3].map(|x| framebuffer.pixel(x, 2)),
        [0x0000_00ff, 0x0000_ff00, RED]
    );
}

#[test]
fn malformed_bodies_are_errors() {
    let format = PixelFormat::NATIVE;
    let rect = Rect::new(0, 0, 4, 2);
    let mut framebuffer = Framebuffer::new(4, 2);
    let c = native(WHITE);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![17], "subencoding 17"),
        (vec![126], "subencoding 126"),
        (vec![127, 0x00], "no earlier tile"),
        (vec![129, 0x00], "no earlier tile"),
        ([&[128][..], &c, &[8]].concat(), "overruns"),
        ([&[128][..], &c, &[255, 255]].concat(), "overruns"),
        (
            [&[130][..], &c, &c, &[2]].concat(),
            "palette index 2 >= palette size 2",
        ),
        (
            [&[3][..], &c, &c, &c, &[0xff, 0xff]].concat(),
            "palette index 3 >= palette size 3",
        ),
    ];
    for (body, why) in cases {
        let error = decode(&body, &rect, &format, &mut framebuffer).unwrap_err();
        assert!(error.contains(why), "{body:?}: {error}");
        assert!(error.starts_with("tile 0 at 0,0: "), "{error}");
    }
    // Reusing a palette of more than 16 colours for packed pixels.
    let mut body = vec![128 + 17];
    for i in 0..17u32 {
        body.extend(native(i));
    }
    body.extend([0x80, 15, 127, 0]);
    let rect = Rect::new(0, 0, 20, 1);
    let mut framebuffer = Framebuffer::new(20, 1);
    let error = decode(&body, &rect, &format, &mut framebuffer).unwrap_err();
    assert!(
        error.contains("tile 1 at 16,0") && error.contains("17 colours"),
        "{error}"
    );
}

#[test]
fn every_prefix_needs_more_and_draws_nothing() {
    for content in [
        Content::Text,
        Content::FewColours(5),
        Content::Runs,
        Content::Noise,
    ] {
        let source = picture(37, 21, content, 7);
        let rect = Rect::new(2, 3, 33, 17);
        let mut body = Vec::new();
        TrleEncoder::default().encode(&source, &rect, &PixelFormat::NATIVE, &mut body);
        let mut framebuffer = Framebuffer::new(37, 21);
        for cut in 0..body.len() {
            let decoded = decode(&body[..cut], &rect, &PixelFormat::NATIVE, &mut framebuffer);
            assert_eq!(decoded, Ok(None), "{content:?} cut at {cut}");
            assert!(framebuffer.pixels().iter().all(|&p| p == 0));
        }
        let decoded = decode(&body, &rect, &PixelFormat::NATIVE, &mut framebuffer);
        assert_eq!(decoded, Ok(Some(body.len())));
        assert_eq!(framebuffer.read_rect(&rect), source.read_rect(&rect));
    }
}

#[test]
fn the_encoder_reuses_the_previous_palette() {
    // Two identical two-colour tiles side by side: the second needs no palette.
    let source = picture(32, 16, Content::FewColours(2), 1);
    let mut twin = source.clone();
    let left = source.read_rect(&Rect::new(0, 0, 16, 16));
    twin.put_pixels(&Rect::new(16, 0, 16, 16), &left);
    let mut body = Vec::new();
    TrleEncoder::default().encode(&twin, &twin.bounds(), &PixelFormat::NATIVE, &mut body);
    // Packed palette of two (1 + 2 * 3 + 16 * 2 bytes), then the same palette reused.
    assert_eq!(body[0], 2);
    assert_eq!(body[39], 127);
    assert_eq!(body.len(), 39 + 33);
    let mut decoded = Framebuffer::new(32, 16);
    assert_eq!(
        decode(&body, &twin.bounds(), &PixelFormat::NATIVE, &mut decoded),
        Ok(Some(body.len()))
    );
    assert_eq!(decoded, twin);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn round_trip(
        format in crate::pixel::tests::any_true_colour_format(),
        contents in proptest::collection::vec(any_content(), 1..4),
        width in 1u16..70, height in 1u16..50, seed: u32,
    ) {
        let mut encoder = TrleEncoder::default();
        let mut decoded = Framebuffer::new(width, height);
        // Several rectangles through the same encoder: a whole one, then a corner.
        for (round, &content) in contents.iter().enumerate() {
            let source = picture(width, height, content, seed ^ round as u32);
            let rect = if round % 2 == 0 {
                source.bounds()
            } else {
                Rect::new(width / 3, height / 2, width - width / 3, height - height / 2)
            };
            let mut body = Vec::new();
            encoder.encode(&source, &rect, &format, &mut body);
            prop_assert_eq!(body_len(&body, &rect, &format), Ok(Some(body.len())));
            body.extend([1, 2, 3]); // The next rectangle's bytes are not ours.
            prop_assert_eq!(
                decode(&body, &rect, &format, &mut decoded),
                Ok(Some(body.len() - 3))
            );
            prop_assert!(same_pixels(&format, &source, &decoded, &rect), "{:?}", content);
        }
    }

    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..600),
        format in crate::pixel::tests::any_true_colour_format(),
        width in 1u16..40, height in 1u16..40,
    ) {
        let mut framebuffer = Framebuffer::new(width, height);
        let _ = decode(&body, &framebuffer.bounds(), &format, &mut framebuffer);
    }
}
