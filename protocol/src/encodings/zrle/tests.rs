use super::*;
use crate::encodings::rle_tiles::samples::{Content, any_content, picture};
use flate2::{Compress, Compression, FlushCompress};
use proptest::prelude::*;

const RED: u32 = 0x00ff_0000;
const BLUE: u32 = 0x0000_00ff;

/// A NATIVE CPIXEL, written out by hand: the low three bytes of 0x00RRGGBB, little endian.
fn native(rgb: u32) -> [u8; 3] {
    [rgb as u8, (rgb >> 8) as u8, (rgb >> 16) as u8]
}

/// Deflates `tiles` as a peer would (one stream, a sync flush per rectangle) into a body.
fn peer_body(stream: &mut Compress, tiles: &[u8]) -> Vec<u8> {
    let mut compressed = Vec::with_capacity(tiles.len() * 2 + 1024);
    let before = stream.total_in();
    stream
        .compress_vec(tiles, &mut compressed, FlushCompress::Sync)
        .unwrap();
    assert_eq!((stream.total_in() - before) as usize, tiles.len());
    assert!(
        compressed.len() < compressed.capacity(),
        "the flush completed"
    );
    let mut body = (compressed.len() as u32).to_be_bytes().to_vec();
    body.extend(compressed);
    body
}

fn same_pixels(format: &PixelFormat, a: &Framebuffer, b: &Framebuffer, rect: &Rect) -> bool {
    a.read_rect(rect)
        .iter()
        .zip(b.read_rect(rect))
        .all(|(&p, q)| format.pixel_value(p) == format.pixel_value(q))
}

#[test]
fn known_answer_from_the_spec_layout() {
    let format = PixelFormat::NATIVE;
    let mut peer = Compress::new(Compression::new(6), true);
    let mut decoder = ZrleDecoder::default();
    let mut framebuffer = Framebuffer::new(80, 8);

    // 70x3: a 64x3 tile of palette RLE (red, blue: runs of 100, 1 and 91) and a 6x3 tile
    // with a packed palette of three (two bits per pixel, rows padded to two bytes).
    let mut tiles = vec![128 + 2];
    tiles.extend(native(RED));
    tiles.extend(native(BLUE));
    tiles.extend([0x80, 99, 0x01, 0x80, 90]);
    tiles.push(3);
    for colour in [RED, BLUE, 0x0000_ff00] {
        tiles.extend(native(colour));
    }
    tiles.extend([0b0001_1000, 0b0100_0000]); // 0 1 2 0 | 1 0
    tiles.extend([0b1010_1010, 0b1010_0000]); // 2 2 2 2 | 2 2
    tiles.extend([0b0000_0000, 0b0000_0000]); // 0 0 0 0 | 0 0
    let rect = Rect::new(1, 2, 70, 3);
    let body = peer_body(&mut peer, &tiles);
    assert_eq!(
        decoder.decode(&body, &rect, &format, &mut framebuffer),
        Ok(Some(body.len()))
    );
    let pixels = framebuffer.read_rect(&Rect::new(1, 2, 64, 3));
    let expected = [[RED; 100].as_slice(), &[BLUE], &[RED; 91]].concat();
    assert_eq!(pixels, expected);
    let small = framebuffer.read_rect(&Rect::new(65, 2, 6, 3));
    let (r, b, g) = (RED, BLUE, 0x0000_ff00);
    assert_eq!(
        small,
        [r, b, g, r, b, r, g, g, g, g, g, g, r, r, r, r, r, r]
    );

    // The stream carries on: a second rectangle, 2x2 raw, then a 1x1 plain RLE.
    let mut tiles = vec![0];
    for colour in [1, 2, 3, 4] {
        tiles.extend(native(colour));
    }
    let body = peer_body(&mut peer, &tiles);
    let rect = Rect::new(0, 6, 2, 2);
    assert_eq!(
        decoder.decode(&body, &rect, &format, &mut framebuffer),
        Ok(Some(body.len()))
    );
    assert_eq!(framebuffer.read_rect(&rect), [1, 2, 3, 4]);
    let body = peer_body(&mut peer, &[&[128][..], &native(9), &[0]].concat());
    let rect = Rect::new(79, 7, 1, 1);
    assert_eq!(
        decoder.decode(&body, &rect, &format, &mut framebuffer),
        Ok(Some(body.len()))
    );
    assert_eq!(framebuffer.pixel(79, 7), 9);
}

/// Decodes hand-written tile data of a 4x2 NATIVE rectangle, deflated as a peer would.
fn decode_tiles(tiles: &[u8]) -> Decoded {
    let mut peer = Compress::new(Compression::new(1), true);
    let body = peer_body(&mut peer, tiles);
    let mut framebuffer = Framebuffer::new(4, 2);
    let rect = framebuffer.bounds();
    ZrleDecoder::default().decode(&body, &rect, &PixelFormat::NATIVE, &mut framebuffer)
}

#[test]
fn malformed_bodies_are_errors() {
    let c = native(RED);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (vec![127], "subencoding 127"),
        (vec![129], "subencoding 129"),
        (vec![17], "subencoding 17"),
        ([&[128][..], &c, &[8]].concat(), "overruns"),
        (
            [&[130][..], &c, &c, &[0x05]].concat(),
            "palette index 5 >= palette size 2",
        ),
        (
            [&[1][..], &c, &[0]].concat(),
            "1 bytes of tile data left over",
        ),
        ([&[0][..], &c].concat(), "ends early"),
    ];
    for (tiles, why) in cases {
        let error = decode_tiles(&tiles).unwrap_err();
        assert!(error.contains(why), "{tiles:?}: {error}");
    }
    assert!(decode_tiles(&[&[1][..], &c].concat()).is_ok());

    let mut framebuffer = Framebuffer::new(4, 2);
    let rect = framebuffer.bounds();
    let format = PixelFormat::NATIVE;
    let mut decoder = ZrleDecoder::default();
    let bad_zlib = [0, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef];
    assert!(
        decoder
            .decode(&bad_zlib, &rect, &format, &mut framebuffer)
            .is_err()
    );
    let huge = (MAX_COMPRESSED_LEN as u32 + 1).to_be_bytes();
    let error = decoder
        .decode(&huge, &rect, &format, &mut framebuffer)
        .unwrap_err();
    assert!(error.contains("exceeds"), "{error}");
}

#[test]
fn inflating_past_the_bound_is_an_error_before_allocating() {
    // A 1x1 rectangle can take at most 1 + 127 * 3 + 1 bytes; send a megabyte of zeros.
    let rect = Rect::new(0, 0, 1, 1);
    let format = PixelFormat::NATIVE;
    assert_eq!(max_tile_stream_len(&rect, &format), 1 + 127 * 3 + 1);
    let mut peer = Compress::new(Compression::new(9), true);
    let body = peer_body(&mut peer, &vec![0u8; 1 << 20]);
    let mut framebuffer = Framebuffer::new(1, 1);
    let error = ZrleDecoder::default()
        .decode(&body, &rect, &format, &mut framebuffer)
        .unwrap_err();
    assert!(error.contains("more than"), "{error}");
}

#[test]
fn every_prefix_needs_more_and_leaves_the_stream_alone() {
    let format = PixelFormat::NATIVE;
    let source = picture(150, 70, Content::Text, 3);
    let mut encoder = ZrleEncoder::default();
    let mut decoder = ZrleDecoder::default();
    let mut framebuffer = Framebuffer::new(150, 70);
    for rect in [Rect::new(0, 0, 150, 70), Rect::new(10, 4, 70, 66)] {
        let mut body = Vec::new();
        encoder.encode(&source, &rect, &format, &mut body);
        for cut in 0..body.len() {
            let decoded = decoder.decode(&body[..cut], &rect, &format, &mut framebuffer);
            assert_eq!(decoded, Ok(None), "cut at {cut}");
        }
        assert_eq!(
            decoder.decode(&body, &rect, &format, &mut framebuffer),
            Ok(Some(body.len()))
        );
        assert_eq!(framebuffer.read_rect(&rect), source.read_rect(&rect));
    }
}

#[test]
fn an_empty_rectangle_still_flushes_the_stream() {
    let source = picture(8, 8, Content::Text, 1);
    let mut encoder = ZrleEncoder::default();
    let mut decoder = ZrleDecoder::default();
    let mut decoded = Framebuffer::new(8, 8);
    for rect in [Rect::new(3, 3, 0, 2), source.bounds()] {
        let mut body = Vec::new();
        encoder.encode(&source, &rect, &PixelFormat::NATIVE, &mut body);
        let result = decoder.decode(&body, &rect, &PixelFormat::NATIVE, &mut decoded);
        assert_eq!(result, Ok(Some(body.len())));
    }
    assert_eq!(decoded, source);
}

#[test]
fn the_level_can_change_mid_stream() {
    let source = picture(200, 100, Content::Text, 5);
    let mut encoder = ZrleEncoder::default();
    assert_eq!(encoder.level(), DEFAULT_LEVEL);
    let mut decoder = ZrleDecoder::default();
    let mut framebuffer = Framebuffer::new(200, 100);
    let mut sizes = Vec::new();
    for level in [0, 9, 1, 6] {
        encoder.set_level(level);
        let mut body = Vec::new();
        encoder.encode(&source, &source.bounds(), &PixelFormat::NATIVE, &mut body);
        sizes.push(body.len());
        let decoded = decoder.decode(
            &body,
            &source.bounds(),
            &PixelFormat::NATIVE,
            &mut framebuffer,
        );
        assert_eq!(decoded, Ok(Some(body.len())), "level {level}");
        assert_eq!(framebuffer, source);
    }
    // Each level took effect: level 0 stores, level 9 finds the repeats of the rectangle
    // sent just before.
    assert!(
        sizes[0] > 4 * sizes[1],
        "bytes at levels 0 and 9: {sizes:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trip(
        format in crate::pixel::tests::any_true_colour_format(),
        contents in proptest::collection::vec(any_content(), 1..4),
        width in 1u16..150, height in 1u16..140, seed: u32,
    ) {
        let mut encoder = ZrleEncoder::default();
        let mut decoder = ZrleDecoder::default();
        let mut decoded = Framebuffer::new(width, height);
        // Several rectangles through the same streams.
        for (round, &content) in contents.iter().enumerate() {
            let source = picture(width, height, content, seed ^ round as u32);
            let rect = if round % 2 == 0 {
                source.bounds()
            } else {
                Rect::new(width / 3, height / 2, width - width / 3, height - height / 2)
            };
            let mut body = Vec::new();
            encoder.encode(&source, &rect, &format, &mut body);
            prop_assert_eq!(body_len(&body), Ok(Some(body.len())));
            body.extend([1, 2, 3]);
            prop_assert_eq!(
                decoder.decode(&body, &rect, &format, &mut decoded),
                Ok(Some(body.len() - 3))
            );
            prop_assert!(same_pixels(&format, &source, &decoded, &rect), "{:?}", content);
        }
    }

    #[test]
    fn random_tile_data_never_panics(
        tiles in proptest::collection::vec(any::<u8>(), 0..600),
        format in crate::pixel::tests::any_true_colour_format(),
        width in 1u16..80, height in 1u16..80,
    ) {
        let mut peer = Compress::new(Compression::new(1), true);
        let body = peer_body(&mut peer, &tiles);
        let mut framebuffer = Framebuffer::new(width, height);
        let rect = framebuffer.bounds();
        let _ = ZrleDecoder::default().decode(&body, &rect, &format, &mut framebuffer);
    }

    #[test]
    fn random_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        width in 1u16..80, height in 1u16..80,
    ) {
        let mut framebuffer = Framebuffer::new(width, height);
        let rect = framebuffer.bounds();
        let format = PixelFormat::NATIVE;
        let _ = ZrleDecoder::default().decode(&body, &rect, &format, &mut framebuffer);
    }
}
