//! Known answers: rectangle bodies laid out by hand from the spec's byte tables (community
//! RFB spec, "Tight Encoding"), not produced by our encoder, so that a misreading shared by
//! both of our sides cannot pass.

use super::tests::{Content, picture};
use super::*;
use crate::encodings::Deflater;
use crate::framebuffer::Framebuffer;

#[test]
fn fill_rectangle_by_hand() {
    let mut framebuffer = Framebuffer::new(8, 8);
    let rect = Rect::new(2, 3, 4, 2);
    // 0x80: FillCompression, no resets; TPIXEL R, G, B.
    let body = [0x80, 0x12, 0x34, 0x56, 0xee];
    let mut decoder = TightDecoder::default();
    let decoded = decoder.decode(&body, &rect, &PixelFormat::NATIVE, &mut framebuffer);
    assert_eq!(decoded, Ok(Some(4)));
    assert!(framebuffer.read_rect(&rect).iter().all(|&p| p == 0x123456));
    assert_eq!(framebuffer.pixel(0, 0), 0);
    // In a 16-bit format the TPIXEL is a PIXEL: 0xf800 little-endian is pure red.
    let body = [0x80, 0x00, 0xf8];
    let decoded = decoder.decode(&body, &rect, &PixelFormat::RGB565, &mut framebuffer);
    assert_eq!(decoded, Ok(Some(3)));
    assert!(framebuffer.read_rect(&rect).iter().all(|&p| p == 0xff0000));
    // TightPNG frames fills the same way.
    let body = [0x80, 0x00, 0x00, 0xff];
    let decoded = decode_tight_png(&body, &rect, &PixelFormat::NATIVE, &mut framebuffer);
    assert_eq!(decoded, Ok(Some(4)));
    assert!(framebuffer.read_rect(&rect).iter().all(|&p| p == 0x0000ff));
    // Our encoder says the same.
    let mut encoded = Vec::new();
    TightEncoder::default().encode(&framebuffer, &rect, &PixelFormat::NATIVE, &mut encoded);
    assert_eq!(encoded, [0x80, 0x00, 0x00, 0xff]);
}

#[test]
fn two_colour_palette_under_twelve_bytes_by_hand() {
    // A 4x3 rectangle: 1 bit per pixel, rows padded to a byte, 3 bytes of data in all,
    // under 12 so sent as they are, without a length.
    let body = [
        0x50, // BasicCompression, stream 1, explicit filter
        0x01, // PaletteFilter
        0x01, // two colours
        0x00,
        0x00,
        0x00, // colour 0: black
        0xff,
        0xff,
        0xff,        // colour 1: white
        0b0101_0000, // row 0: black white black white
        0b1010_0000, // row 1: white black white black
        0b0001_0000, // row 2: black black black white
    ];
    let (b, w) = (0x000000, 0xffffff);
    let expected = vec![b, w, b, w, w, b, w, b, b, b, b, w];
    let mut framebuffer = Framebuffer::new(4, 3);
    let rect = framebuffer.bounds();
    let mut decoder = TightDecoder::default();
    assert_eq!(
        decoder.decode(&body, &rect, &PixelFormat::NATIVE, &mut framebuffer),
        Ok(Some(body.len()))
    );
    assert_eq!(framebuffer.pixels(), expected);
    for cut in 0..body.len() {
        assert_eq!(
            decoder.decode(&body[..cut], &rect, &PixelFormat::NATIVE, &mut framebuffer),
            Ok(None)
        );
    }
    let mut encoded = Vec::new();
    let source = Framebuffer::from_pixels(4, 3, expected).unwrap();
    TightEncoder::default().encode(&source, &rect, &PixelFormat::NATIVE, &mut encoded);
    assert_eq!(encoded, body);
}

#[test]
fn three_byte_compact_length_by_hand() {
    // 100x60 pixels of noise with the copy filter: 18000 bytes of TPIXELs, stored
    // uncompressed inside the zlib stream, so the length needs the three-byte form.
    let source = picture(100, 60, &Content::Noise(7));
    let mut plain = Vec::new();
    for &p in source.pixels() {
        plain.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
    }
    let mut zlib = Vec::new();
    Deflater::new(0).compress(&plain, &mut zlib);
    assert!(zlib.len() >= 16384 && zlib.len() < 1 << 22);
    let n = zlib.len();
    let mut body = vec![
        0x00,
        (n & 0x7f) as u8 | 0x80,
        ((n >> 7) & 0x7f) as u8 | 0x80,
        (n >> 14) as u8,
    ];
    body.extend_from_slice(&zlib);
    let mut framebuffer = Framebuffer::new(100, 60);
    let rect = framebuffer.bounds();
    let mut decoder = TightDecoder::default();
    assert_eq!(
        body_len(&body, &rect, &PixelFormat::NATIVE),
        Ok(Some(body.len()))
    );
    assert_eq!(
        decoder.decode(&body, &rect, &PixelFormat::NATIVE, &mut framebuffer),
        Ok(Some(body.len()))
    );
    assert_eq!(framebuffer.pixels(), source.pixels());
}

#[test]
fn reset_bits_restart_the_stream_before_decoding() {
    let source = picture(20, 10, &Content::Noise(3));
    let rect = source.bounds();
    let mut plain = Vec::new();
    for &p in source.pixels() {
        plain.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
    }
    let rectangle = |deflater: &mut Deflater, control: u8| {
        let mut zlib = Vec::new();
        deflater.compress(&plain, &mut zlib);
        let mut body = vec![control];
        compact_length::write(zlib.len(), &mut body);
        body.extend_from_slice(&zlib);
        body
    };
    let mut decoder = TightDecoder::default();
    let mut framebuffer = Framebuffer::new(20, 10);
    let format = PixelFormat::NATIVE;
    // Stream 2, copy filter (0x20), then a fresh stream 2 announced with bit 2 (0x24).
    let first = rectangle(&mut Deflater::new(6), 0x20);
    assert!(
        decoder
            .decode(&first, &rect, &format, &mut framebuffer)
            .is_ok()
    );
    let second = rectangle(&mut Deflater::new(6), 0x24);
    assert_eq!(
        decoder.decode(&second, &rect, &format, &mut framebuffer),
        Ok(Some(second.len()))
    );
    assert_eq!(framebuffer.pixels(), source.pixels());
    // A reset on a fill rectangle counts too; without one a fresh stream is garbage.
    assert!(
        decoder
            .decode(&[0x84, 1, 2, 3], &rect, &format, &mut framebuffer)
            .is_ok()
    );
    let third = rectangle(&mut Deflater::new(6), 0x20);
    assert!(
        decoder
            .decode(&third, &rect, &format, &mut framebuffer)
            .is_ok()
    );
    let fourth = rectangle(&mut Deflater::new(6), 0x20);
    assert!(
        decoder
            .decode(&fourth, &rect, &format, &mut framebuffer)
            .is_err()
    );
}

#[test]
fn malformed_bodies_are_errors() {
    let format = PixelFormat::NATIVE;
    let rect = Rect::new(0, 0, 4, 4);
    let mut framebuffer = Framebuffer::new(4, 4);
    let mut decoder = TightDecoder::default();
    let mut decode = |body: &[u8]| decoder.decode(body, &rect, &format, &mut framebuffer);
    assert!(decode(&[0xb0]).is_err(), "unknown compression");
    assert!(decode(&[0xa0, 0]).is_err(), "PNG in Tight");
    assert!(decode(&[0x40, 7]).is_err(), "unknown filter");
    // Three colours, 8-bit indices: 16 bytes, compressed; index 3 is past the palette.
    let mut zlib = Vec::new();
    Deflater::new(6).compress(&[3u8; 16], &mut zlib);
    let mut body = vec![0x60, 1, 2, 0, 0, 0, 1, 1, 1, 2, 2, 2, zlib.len() as u8];
    body.extend_from_slice(&zlib);
    assert!(decode(&body).unwrap_err().contains("palette"));
    // One colour, 1-bit indices of 1.
    let one = Rect::new(0, 0, 8, 1);
    let body = [0x40, 1, 0, 9, 9, 9, 0b0000_0001];
    let mut wide = Framebuffer::new(8, 8);
    assert!(decoder.decode(&body, &one, &format, &mut wide).is_err());
    assert!(
        decoder
            .decode(&[0x00, 4, 1, 2, 3, 4], &rect, &format, &mut framebuffer)
            .is_err()
    );
    // JPEG whose image is not the rectangle's size, and garbage JPEG.
    let big = picture(8, 8, &Content::Smooth(5));
    let mut tight = TightEncoder::default();
    let mut jpeg_body = Vec::new();
    tight.encode_jpeg(&big, &big.bounds(), &format, &mut jpeg_body);
    assert_eq!(jpeg_body[0], 0x90);
    assert!(
        decoder
            .decode(&jpeg_body, &rect, &format, &mut framebuffer)
            .is_err()
    );
    assert!(
        decoder
            .decode(&[0x90, 3, 1, 2, 3], &rect, &format, &mut framebuffer)
            .is_err()
    );
    // TightPNG refuses BasicCompression and garbage PNG.
    let basic = [0x00; 60];
    assert!(decode_tight_png(&basic, &rect, &format, &mut framebuffer).is_err());
    assert!(decode_tight_png(&[0xa0, 2, 1, 2], &rect, &format, &mut framebuffer).is_err());
}
