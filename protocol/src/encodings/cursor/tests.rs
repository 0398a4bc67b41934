use super::*;
use crate::encodings::testing::Noise;
use crate::pixel::tests::any_true_colour_format;
use proptest::prelude::*;

/// Header and body of `cursor` in `encoding`, as a server writes them.
fn wire(cursor: &Cursor, encoding: EncodingType, format: &PixelFormat) -> Vec<u8> {
    let mut out = Vec::new();
    header(cursor, encoding).write(&mut out);
    encode(cursor, encoding, format, &mut out).unwrap();
    out
}

/// Parses what [`wire`] wrote, checking that every shorter prefix asks for more.
fn parse(bytes: &[u8], format: &PixelFormat) -> Cursor {
    let header = RectangleHeader::parse(bytes).unwrap();
    let body = &bytes[RectangleHeader::WIRE_SIZE..];
    for len in 0..body.len() {
        let partial = decode(header.encoding, &body[..len], &header.rect, format).unwrap();
        assert_eq!(partial, Ok(None), "a {len}-byte prefix is incomplete");
    }
    let mut longer = body.to_vec();
    longer.extend_from_slice(&[0xaa; 9]);
    let (cursor, used) = decode(header.encoding, &longer, &header.rect, format)
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(used, body.len(), "the body ends where the encoder stopped");
    cursor
}

const RED: [u8; 4] = [255, 0, 0, 255];
const BLUE: [u8; 4] = [0, 0, 255, 255];
const WHITE: [u8; 4] = [255, 255, 255, 255];
const BLACK: [u8; 4] = [0, 0, 0, 255];
const CLEAR: [u8; 4] = [0, 0, 0, 0];

fn cursor_of(width: u16, height: u16, hotspot: (u16, u16), pixels: &[[u8; 4]]) -> Cursor {
    Cursor::new(width, height, hotspot.0, hotspot.1, pixels.concat()).unwrap()
}

#[test]
fn rich_cursor_known_answer() {
    // RFC 6143 §7.8.1: hotspot in x,y; pixels in the client's format (here 32-bit
    // little-endian, red at bit 16: B G R X in memory); then one mask row per line.
    let cursor = cursor_of(3, 2, (1, 0), &[RED, CLEAR, BLUE, CLEAR, WHITE, BLACK]);
    let expected: &[u8] = &[
        0,
        1,
        0,
        0,
        0,
        3,
        0,
        2,
        0xff,
        0xff,
        0xff,
        0x11, // header, encoding -239
        0,
        0,
        0xff,
        0,
        0,
        0,
        0,
        0,
        0xff,
        0,
        0,
        0, // red, (hidden), blue
        0,
        0,
        0,
        0,
        0xff,
        0xff,
        0xff,
        0,
        0,
        0,
        0,
        0,           // (hidden), white, black
        0b1010_0000, // row 0: visible, hidden, visible
        0b0110_0000, // row 1: hidden, visible, visible
    ];
    let bytes = wire(&cursor, EncodingType::CURSOR, &PixelFormat::NATIVE);
    assert_eq!(bytes, expected);
    assert_eq!(parse(expected, &PixelFormat::NATIVE), cursor);
}

#[test]
fn rich_cursor_pixels_follow_the_viewer_format() {
    // RGB565 big-endian: pure red is 0xf800.
    let cursor = cursor_of(1, 1, (0, 0), &[RED]);
    let bytes = wire(&cursor, EncodingType::CURSOR, &PixelFormat::RGB565);
    let mut big_endian = PixelFormat::RGB565;
    big_endian.big_endian = true;
    let bytes_be = wire(&cursor, EncodingType::CURSOR, &big_endian);
    assert_eq!(&bytes[12..], &[0x00, 0xf8, 0x80]);
    assert_eq!(&bytes_be[12..], &[0xf8, 0x00, 0x80]);
    assert_eq!(parse(&bytes_be, &big_endian), cursor);
}

#[test]
fn x_cursor_known_answer() {
    // 9 pixels wide: each bitmap row takes 2 bytes, the second padded.
    let cursor = cursor_of(
        9,
        1,
        (4, 0),
        &[
            BLACK, WHITE, BLACK, CLEAR, CLEAR, CLEAR, CLEAR, CLEAR, WHITE,
        ],
    );
    let expected: &[u8] = &[
        0,
        4,
        0,
        0,
        0,
        9,
        0,
        1,
        0xff,
        0xff,
        0xff,
        0x10, // header, encoding -240
        0,
        0,
        0, // primary: black (the darker colour)
        0xff,
        0xff,
        0xff, // secondary: white
        0b1010_0000,
        0b0000_0000, // bitmap: 1 = primary
        0b1110_0000,
        0b1000_0000, // mask: 1 = visible
    ];
    let bytes = wire(&cursor, EncodingType::X_CURSOR, &PixelFormat::NATIVE);
    assert_eq!(bytes, expected);
    assert_eq!(parse(expected, &PixelFormat::NATIVE), cursor);

    // Bit 1 of the bitmap picks the primary colour, whatever the colours are.
    let mut coloured = expected.to_vec();
    coloured[12..18].copy_from_slice(&[255, 0, 0, 0, 0, 255]);
    let decoded = parse(&coloured, &PixelFormat::NATIVE);
    assert_eq!(decoded.pixel(0, 0), RED);
    assert_eq!(decoded.pixel(1, 0), BLUE);
    assert_eq!(decoded.pixel(3, 0), CLEAR);
    assert_eq!(decoded.pixel(8, 0), BLUE);
}

#[test]
fn cursor_with_alpha_known_answer() {
    // An S32 encoding (Raw), then R G B A per pixel, alpha premultiplied.
    let half_white = [128, 128, 128, 128];
    let green = [0, 255, 0, 255];
    let cursor = cursor_of(2, 1, (1, 0), &[half_white, green]);
    let expected: &[u8] = &[
        0, 1, 0, 0, 0, 2, 0, 1, 0xff, 0xff, 0xfe, 0xc6, // header, encoding -314
        0, 0, 0, 0, // inner encoding: Raw
        128, 128, 128, 128, 0, 255, 0, 255,
    ];
    let bytes = wire(
        &cursor,
        EncodingType::CURSOR_WITH_ALPHA,
        &PixelFormat::NATIVE,
    );
    assert_eq!(bytes, expected);
    assert_eq!(parse(expected, &PixelFormat::NATIVE), cursor);
}

#[test]
fn hidden_cursors_in_every_encoding() {
    let hidden = Cursor::hidden();
    for encoding in CURSOR_ENCODINGS {
        let bytes = wire(&hidden, encoding, &PixelFormat::NATIVE);
        assert_eq!(&bytes[..8], &[0; 8], "{encoding}: all-zero rectangle");
        let body_len = if encoding == EncodingType::CURSOR_WITH_ALPHA {
            4
        } else {
            0
        };
        assert_eq!(bytes.len(), 12 + body_len, "{encoding}");
        assert!(parse(&bytes, &PixelFormat::NATIVE).is_hidden());
    }
}

#[test]
fn partly_transparent_pixels_are_cut_at_the_mask_threshold() {
    let faint = [40, 40, 40, 100];
    let strong = [150, 0, 0, 200];
    let cursor = cursor_of(2, 1, (0, 0), &[faint, strong]);
    let rich = parse(
        &wire(&cursor, EncodingType::CURSOR, &PixelFormat::NATIVE),
        &PixelFormat::NATIVE,
    );
    // Straight colour of the strong pixel: 150 * 255 / 200 = 191.
    assert_eq!(rich.rgba, [[0, 0, 0, 0], [191, 0, 0, 255]].concat());
    let x = parse(
        &wire(&cursor, EncodingType::X_CURSOR, &PixelFormat::NATIVE),
        &PixelFormat::NATIVE,
    );
    assert_eq!(x.rgba, rich.rgba);
}

#[test]
fn many_coloured_cursors_become_their_dark_and_light_means() {
    let grey = [100, 100, 100, 255];
    let light = [220, 220, 220, 255];
    let lighter = [240, 240, 240, 255];
    let cursor = cursor_of(4, 1, (0, 0), &[BLACK, grey, light, lighter]);
    let x = parse(
        &wire(&cursor, EncodingType::X_CURSOR, &PixelFormat::NATIVE),
        &PixelFormat::NATIVE,
    );
    let dark = [50, 50, 50, 255];
    let bright = [230, 230, 230, 255];
    assert_eq!(x.rgba, [dark, dark, bright, bright].concat());
}

#[test]
fn oversized_cursors_are_refused_before_anything_is_read() {
    for encoding in CURSOR_ENCODINGS {
        let rect = Rect::new(0, 0, MAX_CURSOR_SIDE + 1, 1);
        let error = decode(encoding, &[], &rect, &PixelFormat::NATIVE)
            .unwrap()
            .unwrap_err();
        assert!(error.contains("exceeds the limit of 256"), "{error}");
        let tall = Rect::new(0, 0, 1, u16::MAX);
        assert!(
            decode(encoding, &[], &tall, &PixelFormat::NATIVE)
                .unwrap()
                .is_err()
        );
    }
    let big = Cursor {
        width: 300,
        height: 1,
        rgba: vec![0; 1200],
        ..Cursor::default()
    };
    assert!(
        encode(
            &big,
            EncodingType::CURSOR,
            &PixelFormat::NATIVE,
            &mut Vec::new()
        )
        .is_err()
    );
}

#[test]
fn other_inner_encodings_of_cursor_with_alpha_are_a_clear_error() {
    let rect = Rect::new(0, 0, 4, 4);
    let mut body = Vec::new();
    body.put_i32(EncodingType::ZRLE.0);
    let error = decode_with_alpha(&body, &rect).unwrap_err();
    assert!(error.contains("inner encoding zrle"), "{error}");
    assert_eq!(decode_with_alpha(&body[..3], &rect), Ok(None));
}

#[test]
fn decoding_is_tolerant_of_odd_but_harmless_input() {
    // A hotspot outside the image moves to its edge.
    let mut bytes = Vec::new();
    RectangleHeader {
        rect: Rect::new(9, 1, 2, 2),
        encoding: EncodingType::CURSOR_WITH_ALPHA,
    }
    .write(&mut bytes);
    bytes.extend_from_slice(&[0, 0, 0, 0]);
    // A colour above its alpha is clamped to it.
    bytes.extend_from_slice(&[200, 10, 10, 100]);
    bytes.extend_from_slice(&[0; 12]);
    let cursor = parse(&bytes, &PixelFormat::NATIVE);
    assert_eq!((cursor.hotspot_x, cursor.hotspot_y), (1, 1));
    assert_eq!(cursor.pixel(0, 0), [100, 10, 10, 100]);
    assert_eq!(cursor.validate(), Ok(()));
}

#[test]
fn invalid_cursors_are_not_encoded() {
    let mut out = Vec::new();
    let short = Cursor {
        width: 2,
        height: 2,
        rgba: vec![0; 4],
        ..Cursor::default()
    };
    assert!(encode(&short, EncodingType::CURSOR, &PixelFormat::NATIVE, &mut out).is_err());
    let outside = Cursor {
        hotspot_x: 2,
        width: 2,
        height: 1,
        rgba: vec![0; 8],
        ..Cursor::default()
    };
    assert!(outside.validate().unwrap_err().contains("hotspot"));
    let straight = Cursor::new(1, 1, 0, 0, vec![255, 0, 0, 128]);
    assert!(straight.unwrap_err().contains("premultiplied"));
    assert!(
        encode(
            &Cursor::hidden(),
            EncodingType::RAW,
            &PixelFormat::NATIVE,
            &mut out
        )
        .is_err()
    );
    assert!(out.is_empty());
}

#[test]
fn the_best_encoding_prefers_alpha_then_rich_then_x() {
    use EncodingType as E;
    assert_eq!(best_encoding(&[E::RAW]), None);
    assert_eq!(best_encoding(&[E::X_CURSOR, E::RAW]), Some(E::X_CURSOR));
    assert_eq!(best_encoding(&[E::X_CURSOR, E::CURSOR]), Some(E::CURSOR));
    assert_eq!(
        best_encoding(&[E::X_CURSOR, E::CURSOR, E::CURSOR_WITH_ALPHA]),
        Some(E::CURSOR_WITH_ALPHA)
    );
}

#[test]
fn premultiplication_rounds_to_nearest() {
    assert_eq!(premultiply(255, 128), 128);
    assert_eq!(premultiply(100, 255), 100);
    assert_eq!(premultiply(200, 0), 0);
    assert_eq!(unpremultiply(128, 128), 255);
    assert_eq!(unpremultiply(64, 128), 128);
    assert_eq!(unpremultiply(9, 0), 0);
    for alpha in 1..=255u8 {
        for channel in 0..=255u8 {
            let there_and_back =
                premultiply(unpremultiply(premultiply(channel, alpha), alpha), alpha);
            assert_eq!(there_and_back, premultiply(channel, alpha));
        }
    }
}

/// Which pixels a generated cursor has.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Any alpha, premultiplied colours.
    Alpha,
    /// Opaque or transparent, any colours.
    Masked,
    /// Opaque pixels of two colours, and transparent ones.
    TwoColours,
}

fn generated(width: u16, height: u16, hotspot: (u16, u16), kind: Kind, seed: u64) -> Cursor {
    let mut noise = Noise::new(seed);
    let colours = [noise.next(), noise.next()];
    let pixels: Vec<u8> = (0..usize::from(width) * usize::from(height))
        .flat_map(|_| {
            let [_, r, g, b] = noise.next().to_be_bytes();
            match kind {
                Kind::Alpha => {
                    let alpha = [0, 255, noise.below(256) as u8][noise.below(3) as usize];
                    [r, g, b]
                        .map(|c| premultiply(c, alpha))
                        .into_iter()
                        .chain([alpha])
                }
                Kind::Masked if noise.below(3) == 0 => [0, 0, 0].into_iter().chain([0]),
                Kind::Masked => [r, g, b].into_iter().chain([255]),
                Kind::TwoColours => match noise.below(3) {
                    0 => [0, 0, 0].into_iter().chain([0]),
                    pick => {
                        let [_, r, g, b] = colours[pick as usize - 1].to_be_bytes();
                        [r, g, b].into_iter().chain([255])
                    }
                },
            }
            .collect::<Vec<u8>>()
        })
        .collect();
    let hotspot = (
        hotspot.0.min(width.saturating_sub(1)),
        hotspot.1.min(height.saturating_sub(1)),
    );
    Cursor::new(width, height, hotspot.0, hotspot.1, pixels).unwrap()
}

fn any_cursor(kind: Kind) -> impl Strategy<Value = Cursor> {
    (1u16..=40, 1u16..=40, any::<(u16, u16)>(), any::<u64>())
        .prop_map(move |(w, h, (hx, hy), seed)| generated(w, h, (hx % w, hy % h), kind, seed))
}

/// Decodes `bytes` (a header and body) checking only the last incomplete prefix.
fn parse_quickly(bytes: &[u8], format: &PixelFormat) -> Cursor {
    let header = RectangleHeader::parse(bytes).unwrap();
    let body = &bytes[RectangleHeader::WIRE_SIZE..];
    let partial = decode(
        header.encoding,
        &body[..body.len() - 1],
        &header.rect,
        format,
    );
    assert_eq!(partial, Some(Ok(None)));
    let (cursor, used) = decode(header.encoding, body, &header.rect, format)
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(used, body.len());
    cursor
}

proptest! {
    #[test]
    fn cursor_with_alpha_round_trips_exactly(cursor in any_cursor(Kind::Alpha)) {
        let bytes = wire(&cursor, EncodingType::CURSOR_WITH_ALPHA, &PixelFormat::NATIVE);
        prop_assert_eq!(parse_quickly(&bytes, &PixelFormat::NATIVE), cursor);
    }

    #[test]
    fn rich_cursors_round_trip_in_any_format(
        cursor in any_cursor(Kind::Masked),
        format in any_true_colour_format(),
    ) {
        let decoded = parse_quickly(&wire(&cursor, EncodingType::CURSOR, &format), &format);
        prop_assert_eq!(
            (decoded.hotspot_x, decoded.hotspot_y, decoded.width, decoded.height),
            (cursor.hotspot_x, cursor.hotspot_y, cursor.width, cursor.height)
        );
        for (sent, got) in cursor.rgba.chunks_exact(4).zip(decoded.rgba.chunks_exact(4)) {
            prop_assert_eq!(sent[3], got[3]);
            let rgb = |p: &[u8]| u32::from(p[0]) << 16 | u32::from(p[1]) << 8 | u32::from(p[2]);
            if sent[3] == 0 {
                prop_assert_eq!(got, [0u8; 4].as_slice());
            } else {
                prop_assert_eq!(format.pixel_value(rgb(sent)), format.pixel_value(rgb(got)));
            }
        }
    }

    #[test]
    fn two_colour_cursors_round_trip_exactly_as_x_cursors(cursor in any_cursor(Kind::TwoColours)) {
        let bytes = wire(&cursor, EncodingType::X_CURSOR, &PixelFormat::NATIVE);
        prop_assert_eq!(parse_quickly(&bytes, &PixelFormat::NATIVE), cursor);
    }

    #[test]
    fn any_cursor_survives_the_mask_encodings_as_its_visible_shape(
        cursor in any_cursor(Kind::Alpha),
        format in any_true_colour_format(),
    ) {
        for encoding in [EncodingType::CURSOR, EncodingType::X_CURSOR] {
            let decoded = parse_quickly(&wire(&cursor, encoding, &format), &format);
            prop_assert_eq!(decoded.validate(), Ok(()));
            for (sent, got) in cursor.rgba.chunks_exact(4).zip(decoded.rgba.chunks_exact(4)) {
                let visible = sent[3] >= MASK_THRESHOLD;
                prop_assert_eq!(got[3], if visible { 255 } else { 0 });
            }
        }
    }

    #[test]
    fn arbitrary_bodies_never_panic_and_never_overrun(
        encoding in prop::sample::select(CURSOR_ENCODINGS.to_vec()),
        x in any::<u16>(), y in any::<u16>(), width in 0u16..300, height in 0u16..300,
        body in prop::collection::vec(any::<u8>(), 0..600),
        format in any_true_colour_format(),
    ) {
        let rect = Rect::new(x, y, width, height);
        if let Ok(Some((cursor, used))) = decode(encoding, &body, &rect, &format).unwrap() {
            prop_assert!(used <= body.len());
            prop_assert_eq!(cursor.validate(), Ok(()));
        }
    }
}
