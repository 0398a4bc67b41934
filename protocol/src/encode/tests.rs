//! The manager's choices, checked through a real client connection.

use super::*;
use crate::loopback;

/// A desktop-like picture: a flat background, a "window" of text-like strokes, and a
/// photo-like gradient block.
fn desktop(width: u16, height: u16) -> Framebuffer {
    let mut framebuffer = Framebuffer::new(width, height);
    framebuffer.fill_rect(&framebuffer.bounds(), 0x2d4f6f);
    framebuffer.fill_rect(&Rect::new(20, 20, 200, 120), 0xffffff);
    for line in 0..10u16 {
        for glyph in 0..30u16 {
            if (line * 7 + glyph * 3) % 5 != 0 {
                framebuffer.fill_rect(&Rect::new(26 + glyph * 6, 26 + line * 11, 4, 7), 0x101010);
            }
        }
    }
    for y in 0..100u16 {
        for x in 0..100u16 {
            let (xf, yf) = (u32::from(x), u32::from(y));
            let colour = ((xf * 2 + yf) << 16) | ((yf * 2 + (xf ^ yf) % 7) << 8) | (xf + yf * 2);
            framebuffer.fill_rect(&Rect::new(240 + x, 30 + y, 1, 1), colour & 0xffffff);
        }
    }
    framebuffer
}

fn send(
    manager: &mut EncodeManager,
    picture: &Framebuffer,
    update: &Update,
    viewer: &ViewerEncodings,
) -> (Vec<u8>, UpdateStats) {
    let mut out = Vec::new();
    let stats = manager.encode_update(picture, update, &PixelFormat::NATIVE, viewer, &mut out);
    (out, stats)
}

fn full(picture: &Framebuffer) -> Update {
    Update {
        changed: vec![picture.bounds()],
        ..Update::default()
    }
}

#[test]
fn every_encoding_round_trips_through_the_client() {
    let picture = desktop(400, 200);
    for &encoding in ENCODABLE {
        let list = vec![encoding];
        let (_, mut client) = loopback::connected_pair(400, 200, PixelFormat::NATIVE, list.clone());
        let mut manager = EncodeManager::new();
        let viewer = ViewerEncodings::new(list);
        let (bytes, stats) = send(&mut manager, &picture, &full(&picture), &viewer);
        assert_eq!(stats.bytes, bytes.len());
        assert!(
            loopback::deliver(&mut client, &bytes) == &picture,
            "{encoding}"
        );
        assert_eq!(stats.pixels, 400 * 200, "{encoding}: every pixel once");
    }
}

#[test]
fn solid_areas_go_as_fills_for_tight() {
    let mut picture = desktop(640, 480);
    // Without the photo block: background and a text window.
    picture.fill_rect(&Rect::new(240, 30, 100, 100), 0x2d4f6f);
    let viewer = ViewerEncodings::new(vec![EncodingType::TIGHT]);
    let (bytes, stats) = send(
        &mut EncodeManager::new(),
        &picture,
        &full(&picture),
        &viewer,
    );
    // Mostly background: far below 1% of raw.
    assert!(bytes.len() < 640 * 480 * 4 / 100, "{} bytes", bytes.len());
    assert!(stats.rectangles > 1);
}

#[test]
fn tight_halves_many_coloured_areas_until_their_palettes_fit() {
    // 256x128: each half has 200 shades of its own, 400 together, too many for a palette.
    let mut picture = Framebuffer::new(256, 128);
    for y in 0..128u16 {
        for x in 0..256u16 {
            let shade = u32::from((x % 128 + y * 3) % 200);
            let colour = if x < 128 {
                shade
            } else {
                0xff0000 | shade << 8
            };
            picture.fill_rect(&Rect::new(x, y, 1, 1), colour);
        }
    }
    let list = vec![EncodingType::TIGHT];
    let (_, mut client) = loopback::connected_pair(256, 128, PixelFormat::NATIVE, list.clone());
    let (bytes, stats) = send(
        &mut EncodeManager::new(),
        &picture,
        &full(&picture),
        &ViewerEncodings::new(list),
    );
    assert!(loopback::deliver(&mut client, &bytes) == &picture);
    assert_eq!(stats.rectangles, 2, "one piece per half");
    // Both go with a palette: control byte "explicit filter", then filter 1 (palette).
    let first_body = 4 + 12;
    assert_eq!(bytes[first_body] >> 4 & 0x4, 0x4);
    assert_eq!(bytes[first_body + 1], 1);
}

#[test]
fn busy_content_avoids_subrectangle_encodings() {
    let picture = desktop(400, 200);
    let viewer = ViewerEncodings::new(vec![EncodingType::RRE, EncodingType::HEXTILE]);
    let (_, stats) = send(
        &mut EncodeManager::new(),
        &picture,
        &full(&picture),
        &viewer,
    );
    let hextile = stats
        .by_encoding
        .iter()
        .find(|e| e.encoding == EncodingType::HEXTILE);
    assert!(hextile.is_some_and(|e| e.pixels > 0), "{stats:?}");
    let only_rre = ViewerEncodings::new(vec![EncodingType::RRE]);
    let (_, stats) = send(
        &mut EncodeManager::new(),
        &picture,
        &full(&picture),
        &only_rre,
    );
    assert!(
        stats
            .by_encoding
            .iter()
            .any(|e| e.encoding == EncodingType::RAW),
        "{stats:?}"
    );
}

#[test]
fn jpeg_only_when_allowed_and_refreshed_losslessly() {
    let mut picture = Framebuffer::new(256, 256);
    for (i, pixel) in picture.pixels_mut().iter_mut().enumerate() {
        let (x, y) = ((i % 256) as u32, (i / 256) as u32);
        *pixel =
            (((x + y / 3) & 0xff) << 16) | (((y + x / 5) & 0xff) << 8) | ((x * y / 256) & 0xff);
    }
    let mut manager = EncodeManager::new();
    let (_, mut client) =
        loopback::connected_pair(256, 256, PixelFormat::NATIVE, vec![EncodingType::TIGHT]);
    let lossless = ViewerEncodings::new(vec![EncodingType::TIGHT]);
    let (bytes, _) = send(&mut manager, &picture, &full(&picture), &lossless);
    assert!(manager.lossy_region().is_empty());
    assert!(loopback::deliver(&mut client, &bytes) == &picture);

    // The same connection, once the viewer allows JPEG.
    let lossy = ViewerEncodings::new(vec![EncodingType::TIGHT, EncodingType(-32 + 6)]);
    assert_eq!(lossy.quality_level(), Some(6));
    let (bytes, _) = send(&mut manager, &picture, &full(&picture), &lossy);
    assert!(
        !manager.lossy_region().is_empty(),
        "a photo-like picture goes JPEG"
    );
    assert!(loopback::deliver(&mut client, &bytes) != &picture);

    let refresh = Update {
        changed: manager.lossy_region().rects().to_vec(),
        lossless: true,
        ..Update::default()
    };
    let (bytes, _) = send(&mut manager, &picture, &refresh, &lossy);
    assert!(manager.lossy_region().is_empty());
    assert!(
        loopback::deliver(&mut client, &bytes) == &picture,
        "the refresh restores every pixel"
    );
}

#[test]
fn a_typed_character_costs_at_most_64_bytes() {
    let mut picture = desktop(640, 480);
    for encoding in [
        EncodingType::TIGHT,
        EncodingType::ZRLE,
        EncodingType::HEXTILE,
    ] {
        let viewer = ViewerEncodings::new(vec![encoding]);
        let mut manager = EncodeManager::new();
        send(&mut manager, &picture, &full(&picture), &viewer);
        // One glyph drawn in the text window; the damage is its character cell, as X DAMAGE
        // reports it.
        picture.fill_rect(&Rect::new(207, 125, 1, 8), 0x101010);
        picture.fill_rect(&Rect::new(208, 125, 4, 1), 0x101010);
        let glyph = Update {
            changed: vec![Rect::new(206, 124, 8, 12)],
            ..Update::default()
        };
        let (bytes, _) = send(&mut manager, &picture, &glyph, &viewer);
        assert!(bytes.len() <= 64, "{encoding}: {} bytes", bytes.len());
    }
}

#[test]
fn levels_come_from_pseudo_encodings() {
    let viewer = ViewerEncodings::new(vec![
        EncodingType::ZRLE,
        EncodingType(-256 + 4),
        EncodingType(-512 + 80),
    ]);
    assert_eq!(viewer.compress_level(), Some(4));
    assert_eq!(viewer.quality_level(), Some(7));
    assert_eq!(
        viewer.jpeg_settings(),
        Some(JpegSettings {
            quality: 80,
            subsampling: Subsampling::Full
        })
    );
    let subsampled = ViewerEncodings::new(vec![EncodingType(-32 + 9), EncodingType(-768 + 3)]);
    assert_eq!(
        subsampled.jpeg_settings(),
        Some(JpegSettings {
            quality: 95,
            subsampling: Subsampling::Grey
        })
    );
    // Subsampling alone allows no JPEG.
    assert_eq!(
        ViewerEncodings::new(vec![EncodingType(-768 + 1)]).jpeg_settings(),
        None
    );
    assert_eq!(
        ViewerEncodings::new(vec![EncodingType::ZRLE]).quality_level(),
        None
    );
    assert!(ViewerEncodings::new(vec![]).accepts(EncodingType::RAW));
}

#[test]
fn classification() {
    let picture = desktop(400, 200);
    assert_eq!(
        classify(&picture, &Rect::new(0, 0, 10, 10)),
        ContentClass::Solid(0x2d4f6f)
    );
    assert_eq!(
        classify(&picture, &Rect::new(20, 20, 60, 40)),
        ContentClass::FewColours
    );
    assert_eq!(
        classify(&picture, &Rect::new(240, 30, 50, 50)),
        ContentClass::ManyColours
    );
}
