//! Tight and TightPNG both ways: round trips in any format, streams across rectangles,
//! prefixes, and hostile input.

use super::*;
use crate::framebuffer::Framebuffer;
use proptest::prelude::*;

/// Pictures of the kinds a desktop shows.
#[derive(Debug, Clone)]
pub(super) enum Content {
    Solid(u32),
    Few(Vec<u32>, u64),
    Noise(u64),
    Smooth(u32),
    Text(u64),
}

fn next(seed: &mut u64) -> u32 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 33) as u32
}

pub(super) fn picture(width: u16, height: u16, content: &Content) -> Framebuffer {
    let (w, h) = (u32::from(width), u32::from(height));
    let pixels = match content {
        Content::Solid(colour) => vec![*colour & 0xff_ffff; (w * h) as usize],
        Content::Few(colours, seed) => {
            let mut seed = *seed;
            (0..w * h)
                .map(|_| colours[next(&mut seed) as usize % colours.len()] & 0xff_ffff)
                .collect()
        }
        Content::Noise(seed) => {
            let mut seed = *seed;
            (0..w * h).map(|_| next(&mut seed) & 0xff_ffff).collect()
        }
        Content::Smooth(base) => (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let r = (base >> 16).wrapping_add(x * 3) & 0xff;
                let g = (base >> 8).wrapping_add(y * 2) & 0xff;
                let b = base.wrapping_add(x + y) & 0xff;
                (r << 16) | (g << 8) | b
            })
            .collect(),
        Content::Text(seed) => {
            // Dark glyph strokes with anti-aliased edges on a light background.
            let mut seed = *seed;
            (0..w * h)
                .map(|i| match (i % w % 7, next(&mut seed) % 5) {
                    (0..=1, _) => 0x202020,
                    (2, 0) => 0x8a8a8a,
                    (2, 1) => 0x5a5a6a,
                    _ => 0xf0f0f0,
                })
                .collect()
        }
    };
    Framebuffer::from_pixels(width, height, pixels).unwrap()
}

fn any_content() -> impl Strategy<Value = Content> {
    prop_oneof![
        any::<u32>().prop_map(Content::Solid),
        (
            proptest::collection::vec(any::<u32>(), 2..300),
            any::<u64>()
        )
            .prop_map(|(colours, seed)| Content::Few(colours, seed)),
        any::<u64>().prop_map(Content::Noise),
        any::<u32>().prop_map(Content::Smooth),
        any::<u64>().prop_map(Content::Text),
    ]
}

fn assert_same(a: &Framebuffer, b: &Framebuffer, rect: &Rect, format: &PixelFormat) {
    for (i, (&x, &y)) in a.read_rect(rect).iter().zip(&b.read_rect(rect)).enumerate() {
        assert_eq!(
            format.pixel_value(x),
            format.pixel_value(y),
            "pixel {i} of {rect:?} in {format:?}: {x:06x} vs {y:06x}"
        );
    }
}

/// Mean absolute difference per channel over `rect`.
fn mean_error(a: &Framebuffer, b: &Framebuffer, rect: &Rect) -> f64 {
    let total: u64 = a
        .read_rect(rect)
        .iter()
        .zip(&b.read_rect(rect))
        .map(|(&x, &y)| {
            (0..3)
                .map(|c| u64::from(((x >> (8 * c)) & 0xff).abs_diff((y >> (8 * c)) & 0xff)))
                .sum::<u64>()
        })
        .sum();
    total as f64 / (rect.area() * 3) as f64
}

// ---- Round trips ----

/// Encodes each rectangle, checks every prefix of its body is incomplete and changes
/// nothing, decodes it and compares.
fn round_trip_tight(
    source: &Framebuffer,
    rects: &[Rect],
    format: &PixelFormat,
    encoder: &mut TightEncoder,
    decoder: &mut TightDecoder,
    check_prefixes: bool,
) {
    let mut decoded = Framebuffer::new(source.width(), source.height());
    for rect in rects {
        let mut body = Vec::new();
        encoder.encode(source, rect, format, &mut body);
        body.extend_from_slice(&[0xde, 0xad]);
        let len = body.len() - 2;
        assert_eq!(body_len(&body, rect, format), Ok(Some(len)));
        if check_prefixes {
            let before = decoded.clone();
            for cut in 0..len {
                assert_eq!(
                    decoder.decode(&body[..cut], rect, format, &mut decoded),
                    Ok(None),
                    "prefix {cut} of {len}"
                );
            }
            assert_eq!(decoded, before);
        }
        assert_eq!(
            decoder.decode(&body, rect, format, &mut decoded),
            Ok(Some(len))
        );
        assert_same(source, &decoded, rect, format);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lossless_tight_round_trips_in_any_format(
        format in crate::pixel::tests::any_true_colour_format(),
        width in 1u16..90, height in 1u16..70,
        contents in proptest::collection::vec(any_content(), 3),
        levels in proptest::collection::vec(0u8..=9, 1..4),
        check_prefixes: bool,
    ) {
        let mut encoder = TightEncoder::default();
        let mut decoder = TightDecoder::default();
        // Three rectangles, each with its own content, through the same streams.
        let mut pixels = Vec::new();
        let band = height.div_ceil(3).max(1);
        for (i, content) in contents.iter().enumerate() {
            let rows = band.min(height.saturating_sub(band * i as u16));
            pixels.extend_from_slice(picture(width, rows, content).pixels());
        }
        let source = Framebuffer::from_pixels(width, height, pixels).unwrap();
        let rects: Vec<Rect> = (0..height).step_by(usize::from(band))
            .map(|top| Rect::new(0, top, width, band.min(height - top)))
            .chain([source.bounds(), Rect::new(width / 2, height / 2, 1, 1)])
            .collect();
        // The level may change between rectangles (a viewer's new SetEncodings).
        for (rect, level) in rects.iter().zip(levels.iter().cycle()) {
            encoder.set_compress_level(*level);
            round_trip_tight(&source, &[*rect], &format, &mut encoder, &mut decoder, check_prefixes);
        }
    }

    #[test]
    fn tight_png_round_trips_in_any_format(
        format in crate::pixel::tests::any_true_colour_format(),
        width in 1u16..70, height in 1u16..50,
        content in any_content(),
        level in 0u8..=9,
    ) {
        let source = picture(width, height, &content);
        let mut encoder = TightPngEncoder::default();
        encoder.set_compress_level(level);
        let mut decoded = Framebuffer::new(width, height);
        for rect in [source.bounds(), Rect::new(0, 0, width, 1), Rect::new(width - 1, height - 1, 1, 1)] {
            let mut body = Vec::new();
            encoder.encode(&source, &rect, &format, &mut body);
            prop_assert_eq!(tight_png_body_len(&body, &rect, &format), Ok(Some(body.len())));
            let before = decoded.clone();
            for cut in 0..body.len() {
                prop_assert_eq!(decode_tight_png(&body[..cut], &rect, &format, &mut decoded), Ok(None));
            }
            prop_assert_eq!(&decoded, &before);
            prop_assert_eq!(decode_tight_png(&body, &rect, &format, &mut decoded), Ok(Some(body.len())));
            assert_same(&source, &decoded, &rect, &format);
        }
    }

    #[test]
    fn random_bytes_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..200),
        format in crate::pixel::tests::any_true_colour_format(),
        width in 0u16..40, height in 0u16..40,
    ) {
        let rect = Rect::new(0, 0, width, height);
        let mut framebuffer = Framebuffer::new(40, 40);
        let mut decoder = TightDecoder::default();
        let _ = decoder.decode(&body, &rect, &format, &mut framebuffer);
        let _ = decode_tight_png(&body, &rect, &format, &mut framebuffer);
        let _ = body_len(&body, &rect, &format);
    }

    #[test]
    fn corrupted_encoder_output_never_panics(
        content in any_content(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        quality in proptest::option::of(0u8..=9),
    ) {
        let source = picture(64, 48, &content);
        let rect = source.bounds();
        let format = PixelFormat::NATIVE;
        let mut encoder = TightEncoder::default();
        encoder.set_jpeg(quality.map(JpegSettings::from_level));
        let mut png = TightPngEncoder::default();
        png.set_jpeg(quality.map(JpegSettings::from_level));
        for tight in [true, false] {
            let mut body = Vec::new();
            if tight {
                encoder.encode(&source, &rect, &format, &mut body);
            } else {
                png.encode(&source, &rect, &format, &mut body);
            }
            for (index, value) in &flips {
                let at = index.index(body.len());
                body[at] ^= value | 1;
            }
            let mut framebuffer = Framebuffer::new(64, 48);
            let _ = TightDecoder::default().decode(&body, &rect, &format, &mut framebuffer);
            let _ = decode_tight_png(&body, &rect, &format, &mut framebuffer);
        }
    }
}

#[test]
fn the_encoder_picks_by_content() {
    let format = PixelFormat::NATIVE;
    let kind = |encoder: &mut TightEncoder, content: &Content, size: (u16, u16)| {
        let source = picture(size.0, size.1, content);
        let mut body = Vec::new();
        encoder.encode(&source, &source.bounds(), &format, &mut body);
        (body[0] >> 4, body.get(1).copied())
    };
    let mut encoder = TightEncoder::default();
    assert_eq!(kind(&mut encoder, &Content::Solid(9), (300, 200)).0, 0x8);
    assert_eq!(
        kind(&mut encoder, &Content::Few(vec![1, 2], 3), (64, 64)),
        (0x5, Some(1))
    );
    assert_eq!(
        kind(&mut encoder, &Content::Text(3), (64, 64)),
        (0x6, Some(1))
    );
    assert_eq!(kind(&mut encoder, &Content::Noise(3), (64, 64)).0, 0x0);
    assert_eq!(
        kind(&mut encoder, &Content::Smooth(3), (64, 64)),
        (0x7, Some(2))
    );
    encoder.set_jpeg(Some(JpegSettings::from_level(5)));
    assert_eq!(kind(&mut encoder, &Content::Smooth(3), (64, 64)).0, 0x9);
    assert_eq!(kind(&mut encoder, &Content::Text(3), (64, 64)).0, 0x6);
    // Never JPEG for a tiny rectangle, nor at 8 bits per pixel.
    assert_eq!(kind(&mut encoder, &Content::Smooth(3), (16, 16)).0, 0x7);
    let mut body = Vec::new();
    let source = picture(64, 64, &Content::Noise(1));
    encoder.encode_jpeg(&source, &source.bounds(), &PixelFormat::BGR233, &mut body);
    assert_ne!(body[0] >> 4, 0x9);
}

#[test]
fn jpeg_round_trips_within_tolerance() {
    let source = picture(120, 90, &Content::Smooth(0x405060));
    let rect = source.bounds();
    for format in [PixelFormat::NATIVE, PixelFormat::RGB565] {
        for quality in [0u8, 5, 9] {
            let mut encoder = TightEncoder::default();
            encoder.set_jpeg(Some(JpegSettings::from_level(quality)));
            let mut body = Vec::new();
            encoder.encode_jpeg(&source, &rect, &format, &mut body);
            assert_eq!(body[0], 0x90);
            let mut decoded = Framebuffer::new(120, 90);
            let mut decoder = TightDecoder::default();
            assert_eq!(
                decoder.decode(&body, &rect, &format, &mut decoded),
                Ok(Some(body.len()))
            );
            let error = mean_error(&source, &decoded, &rect);
            let bound = if quality == 9 { 8.0 } else { 24.0 };
            assert!(error < bound, "quality {quality}: mean error {error}");
            // The same through TightPNG.
            let mut png = TightPngEncoder::default();
            png.set_jpeg(Some(JpegSettings::from_level(quality)));
            let mut body = Vec::new();
            png.encode(&source, &rect, &format, &mut body);
            assert_eq!(body[0], 0x90);
            assert_eq!(
                decode_tight_png(&body, &rect, &format, &mut decoded),
                Ok(Some(body.len()))
            );
            assert!(mean_error(&source, &decoded, &rect) < bound);
        }
    }
}

#[test]
fn streams_reset_by_the_encoder_round_trip() {
    let source = picture(64, 64, &Content::Text(9));
    let format = PixelFormat::NATIVE;
    let mut encoder = TightEncoder::default();
    let mut decoder = TightDecoder::default();
    let rects = [Rect::new(0, 0, 64, 32), Rect::new(0, 32, 64, 32)];
    round_trip_tight(&source, &rects, &format, &mut encoder, &mut decoder, false);
    encoder.reset_streams();
    let mut body = Vec::new();
    encoder.encode(&source, &rects[0], &format, &mut body);
    assert_eq!(body[0] & 0x0f, 0x0f);
    let mut decoded = Framebuffer::new(64, 64);
    assert!(
        decoder
            .decode(&body, &rects[0], &format, &mut decoded)
            .is_ok()
    );
    round_trip_tight(&source, &rects, &format, &mut encoder, &mut decoder, false);
}

#[test]
fn a_compress_level_asked_for_mid_stream_takes_effect() {
    let source = picture(64, 64, &Content::Smooth(0x204060));
    let format = PixelFormat::NATIVE;
    let rect = source.bounds();
    let mut encoder = TightEncoder::default();
    let mut decoder = TightDecoder::default();
    let mut sizes = Vec::new();
    for level in [9, 0, 9] {
        encoder.set_compress_level(level);
        let mut body = Vec::new();
        encoder.encode_lossless(&source, &rect, &format, &mut body);
        let mut decoded = Framebuffer::new(64, 64);
        assert_eq!(
            decoder.decode(&body, &rect, &format, &mut decoded),
            Ok(Some(body.len()))
        );
        assert_same(&source, &decoded, &rect, &format);
        sizes.push(body.len());
    }
    // Level 0 stores the filtered pixels; level 9 finds them again in the stream.
    assert!(sizes[1] > rect.area() * 3, "{sizes:?}");
    assert!(sizes[2] * 10 < sizes[1], "{sizes:?}");
}

#[test]
fn empty_rectangles() {
    let source = Framebuffer::new(4, 4);
    let rect = Rect::new(1, 1, 0, 3);
    let format = PixelFormat::NATIVE;
    let mut decoded = Framebuffer::new(4, 4);
    let mut body = Vec::new();
    TightEncoder::default().encode(&source, &rect, &format, &mut body);
    assert_eq!(
        TightDecoder::default().decode(&body, &rect, &format, &mut decoded),
        Ok(Some(body.len()))
    );
    let mut body = Vec::new();
    TightPngEncoder::default().encode(&source, &rect, &format, &mut body);
    assert_eq!(
        decode_tight_png(&body, &rect, &format, &mut decoded),
        Ok(Some(body.len()))
    );
}
