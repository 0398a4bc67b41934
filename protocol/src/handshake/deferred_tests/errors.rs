//! Failures inside deferred jobs: the same error, events and framebuffer as sequentially.

use super::support::*;
use crate::encodings::SequentialExecutor;
use crate::encodings::testing::Content;
use crate::error::ProtocolError;
use crate::framebuffer::Rect;
use crate::messages::{EncodingType, RectangleHeader, ServerMessage};
use crate::pixel::PixelFormat;

/// Bodies that frame correctly but fail when drawn, for a rectangle at `rect`.
fn failing_body(encoding: EncodingType, rect: Rect) -> Vec<u8> {
    let mut body = Vec::new();
    match encoding {
        EncodingType::RRE => {
            // One subrectangle, one pixel right of the rectangle.
            body.extend_from_slice(&1u32.to_be_bytes());
            body.extend_from_slice(&[0; 8]);
            for v in [rect.width, 0, 1, 1] {
                body.extend_from_slice(&v.to_be_bytes());
            }
        }
        EncodingType::HEXTILE => {
            // Background, foreground, one 2x2 subrectangle at 15,15 of a 16x16 tile.
            body.push(2 | 4 | 8);
            body.extend_from_slice(&[0; 8]);
            body.extend_from_slice(&[1, 0xff, 0x11]);
            let tiles =
                usize::from(rect.width.div_ceil(16)) * usize::from(rect.height.div_ceil(16));
            body.extend(std::iter::repeat_n(0, tiles - 1)); // the rest carry the background
        }
        EncodingType::TRLE => {
            // A three-colour packed palette with index 3 in every pixel of the first tile.
            body.push(3);
            body.extend_from_slice(&[0; 9]);
            body.extend(std::iter::repeat_n(0xff, 16 * 4));
            let tiles =
                usize::from(rect.width.div_ceil(16)) * usize::from(rect.height.div_ceil(16));
            for _ in 1..tiles {
                body.extend_from_slice(&[1, 0, 0, 0]);
            }
        }
        EncodingType::TIGHT_PNG => {
            body.extend_from_slice(&[0xa0, 5, b'n', b'o', b'p', b'n', b'g']);
        }
        other => panic!("no failing body for {other}"),
    }
    body
}

fn rectangle(out: &mut Vec<u8>, rect: Rect, encoding: EncodingType, body: &[u8]) {
    RectangleHeader { rect, encoding }.write(out);
    out.extend_from_slice(body);
}

#[test]
fn errors_in_jobs_are_the_sequential_errors() {
    let format = PixelFormat::NATIVE;
    let good = {
        let mut writer = StreamWriter::new(format);
        writer.op(&pixels(
            EncodingType::RAW,
            Rect::new(0, 0, 16, 16),
            Content::Noise,
            1,
        ));
        writer.out
    };
    let failing = [
        EncodingType::RRE,
        EncodingType::HEXTILE,
        EncodingType::TRLE,
        EncodingType::TIGHT_PNG,
    ];
    for encoding in failing {
        let bad_rect = Rect::new(19, 21, 40, 20);
        let bad = {
            let mut out = Vec::new();
            rectangle(
                &mut out,
                bad_rect,
                encoding,
                &failing_body(encoding, bad_rect),
            );
            out
        };
        // What follows the failing rectangle: more of the same update, a CopyRect, a
        // rectangle that fails its framing, or the end of the update.
        let copy = {
            let mut out = Vec::new();
            rectangle(
                &mut out,
                Rect::new(0, 40, 16, 16),
                EncodingType::COPY_RECT,
                &[0; 4],
            );
            out
        };
        let badly_framed = {
            let mut out = Vec::new();
            rectangle(
                &mut out,
                Rect::new(0, 0, 2, 2),
                EncodingType::RRE,
                &[0, 0, 0, 9],
            );
            out
        };
        let outside = {
            let mut out = Vec::new();
            rectangle(&mut out, Rect::new(90, 0, 16, 16), EncodingType::RAW, &[]);
            out
        };
        for after in [&good, &copy, &badly_framed, &outside] {
            let mut stream = Vec::new();
            ServerMessage::FramebufferUpdate { rect_count: 3 }.write(&mut stream);
            stream.extend_from_slice(&good);
            stream.extend_from_slice(&bad);
            stream.extend_from_slice(after);
            let whole = assert_same_as_sequential(format, &stream, 3);
            let Some(ProtocolError::BadRectangle {
                encoding: named,
                x,
                y,
                ..
            }) = &whole.error
            else {
                panic!("{encoding}: no BadRectangle but {:?}", whole.error);
            };
            assert_eq!(
                (named.as_str(), *x, *y),
                (encoding.to_string().as_str(), 19, 21)
            );
        }
        // The failing rectangle last: the error comes at the end of the update, before
        // any UpdateComplete.
        let mut stream = Vec::new();
        ServerMessage::FramebufferUpdate { rect_count: 2 }.write(&mut stream);
        stream.extend_from_slice(&good);
        stream.extend_from_slice(&bad);
        let whole = assert_same_as_sequential(format, &stream, 4);
        assert!(whole.error.is_some());
        assert!(whole.events.is_empty(), "{:?}", whole.events);
    }
}

#[test]
fn a_closed_connection_stays_closed() {
    let bad_rect = Rect::new(0, 0, 16, 16);
    let mut stream = Vec::new();
    ServerMessage::FramebufferUpdate { rect_count: 1 }.write(&mut stream);
    rectangle(
        &mut stream,
        bad_rect,
        EncodingType::HEXTILE,
        &failing_body(EncodingType::HEXTILE, bad_rect),
    );
    let mut client = connected(PixelFormat::NATIVE, Some(Box::new(SequentialExecutor)));
    let error = client.handle_input(&stream).unwrap_err();
    assert!(error.to_string().contains("tile 0"), "{error}");
    assert_eq!(client.handle_input(&stream), Ok(0));
}
