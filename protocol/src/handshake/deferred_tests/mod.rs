//! Deferred decoding against the sequential path: the same update streams, fed in any split,
//! must give the same consumed counts, events, framebuffers and errors.

mod errors;
mod random;
mod support;

use super::client::ClientEvent;
use crate::encodings::batch::{MAX_BATCH_RECTANGLES, is_independent};
use crate::encodings::testing::{Content, picture};
use crate::framebuffer::{Framebuffer, Rect};
use crate::messages::EncodingType;
use crate::pixel::PixelFormat;
use support::*;

/// Every kind of rectangle, with overlaps, a CopyRect from a rectangle decoded earlier in
/// the same update, stateful encodings between stateless ones and a resize mid-update.
fn mixed_updates() -> Vec<Vec<Op>> {
    use EncodingType as E;
    let r = Rect::new;
    vec![
        vec![
            pixels(E::RAW, r(0, 0, WIDTH, HEIGHT), Content::Noise, 1),
            pixels(E::HEXTILE, r(3, 5, 40, 30), Content::Text, 2),
            pixels(E::TRLE, r(20, 10, 50, 40), Content::FewColours, 3),
            pixels(E::RRE, r(10, 40, 30, 20), Content::FewColours, 4),
            pixels(E::CORRE, r(60, 0, 36, 64), Content::Text, 5),
            pixels(E::TIGHT_PNG, r(0, 50, 80, 14), Content::Noise, 6),
        ],
        vec![
            pixels(E::HEXTILE, r(0, 0, 32, 32), Content::Text, 7),
            // The source is the Hextile rectangle just above, not yet drawn if deferred.
            Op::Copy {
                rect: r(40, 8, 32, 32),
                source_x: 0,
                source_y: 0,
            },
            pixels(E::RAW, r(44, 12, 8, 8), Content::Solid, 8),
            pixels(E::ZRLE, r(8, 8, 30, 30), Content::FewColours, 9),
            pixels(E::TRLE, r(16, 16, 64, 40), Content::Text, 10),
            pixels(E::ZLIB, r(50, 30, 20, 20), Content::Noise, 11),
            pixels(E::RRE, r(52, 32, 30, 30), Content::Text, 12),
            pixels(E::TIGHT, r(0, 0, 20, 60), Content::Text, 13),
            pixels(E::TIGHT_PNG, r(5, 5, 10, 50), Content::FewColours, 14),
            // Overlapping copy: source and destination share rows.
            Op::Copy {
                rect: r(0, 4, 90, 50),
                source_x: 2,
                source_y: 0,
            },
            pixels(E::HEXTILE, r(0, 0, 0, 10), Content::Noise, 15),
            pixels(E::TIGHT_PNG, r(7, 3, 0, 0), Content::Noise, 16),
        ],
        vec![],
        vec![
            pixels(E::HEXTILE, r(0, 0, 48, 48), Content::FewColours, 17),
            Op::Resize {
                width: 120,
                height: 80,
            },
            pixels(E::RAW, r(90, 60, 30, 20), Content::Noise, 18),
            pixels(E::TRLE, r(0, 0, 120, 80), Content::Text, 19),
            Op::Copy {
                rect: r(60, 40, 60, 40),
                source_x: 0,
                source_y: 0,
            },
            Op::Resize {
                width: 40,
                height: 30,
            },
            pixels(E::RRE, r(0, 0, 40, 30), Content::FewColours, 20),
        ],
        vec![
            pixels(E::CORRE, r(0, 0, 40, 30), Content::Text, 21),
            pixels(E::RAW, r(1, 1, 5, 5), Content::Noise, 22),
        ],
    ]
}

fn mixed_stream(format: PixelFormat, last_rect: bool) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut writer = StreamWriter::new(format);
    let mut updates = Vec::new();
    for (index, ops) in mixed_updates().iter().enumerate() {
        let start = writer.out.len();
        writer.update(ops, last_rect && index % 2 == 0);
        if index == 1 {
            writer.bell();
        }
        updates.push(writer.out[start..].to_vec());
    }
    (writer.out, updates)
}

#[test]
fn mixed_updates_decode_the_same_in_any_split() {
    for format in [
        PixelFormat::NATIVE,
        PixelFormat::RGB565,
        PixelFormat::BGR233,
    ] {
        for last_rect in [false, true] {
            let (stream, updates) = mixed_stream(format, last_rect);
            let whole = assert_same_as_sequential(format, &stream, 42);
            assert_eq!(whole.error, None);
            let completed = whole
                .events
                .iter()
                .filter(|e| matches!(e, ClientEvent::UpdateComplete { .. }))
                .count();
            assert_eq!(completed, updates.len());
            assert!(whole.events.contains(&ClientEvent::Bell));
            assert_complete_after_each_update(format, &updates, 7);
        }
    }
}

#[test]
fn a_copy_reads_a_rectangle_deferred_in_the_same_update() {
    // In NATIVE every encoding is exact, so the framebuffer can be predicted.
    let (stream, _) = mixed_stream(PixelFormat::NATIVE, false);
    let recorder = RecordingExecutor::default();
    let whole = feed(
        &mut connected(PixelFormat::NATIVE, Some(Box::new(recorder.clone()))),
        &stream,
        &[],
    );
    assert_eq!(whole.error, None);
    let mut expected = Framebuffer::new(WIDTH, HEIGHT);
    for ops in mixed_updates() {
        for op in ops {
            match op {
                Op::Pixels {
                    rect,
                    content,
                    seed,
                    ..
                } => {
                    let source = picture(rect.right() as u16, rect.bottom() as u16, content, seed);
                    expected.put_pixels(&rect, &source.read_rect(&rect));
                }
                Op::Copy {
                    rect,
                    source_x,
                    source_y,
                } => expected.copy_rect(&rect, source_x, source_y),
                Op::Resize { width, height } => expected.resize(width, height),
            }
        }
    }
    assert!(whole.framebuffer == expected);
    let batches = recorder.batches.lock().unwrap();
    // The first update is one batch of its six rectangles; the Hextile rectangle the copy
    // reads makes a batch of its own.
    assert_eq!(batches[0].len(), 6);
    assert_eq!(
        batches[1],
        vec![(EncodingType::HEXTILE, Rect::new(0, 0, 32, 32))]
    );
    for batch in batches.iter() {
        assert!(batch.iter().all(|(encoding, _)| is_independent(*encoding)));
    }
}

#[test]
fn batches_stay_within_the_rectangle_limit() {
    let format = PixelFormat::NATIVE;
    let mut writer = StreamWriter::new(format);
    let count = MAX_BATCH_RECTANGLES + 100;
    let ops: Vec<Op> = (0..count)
        .map(|i| {
            let rect = Rect::new((i % 96) as u16, (i / 96 % 64) as u16, 1, 1);
            pixels(EncodingType::RAW, rect, Content::Noise, i as u64)
        })
        .collect();
    writer.update(&ops, false);
    let recorder = RecordingExecutor::default();
    let deferred = feed(
        &mut connected(format, Some(Box::new(recorder.clone()))),
        &writer.out,
        &[],
    );
    let sequential = feed(&mut connected(format, None), &writer.out, &[]);
    assert_eq!(deferred, sequential);
    let sizes: Vec<usize> = recorder
        .batches
        .lock()
        .unwrap()
        .iter()
        .map(Vec::len)
        .collect();
    assert_eq!(sizes, vec![MAX_BATCH_RECTANGLES, 100]);
}
