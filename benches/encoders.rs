//! Encoders and decoders on real desktop frames (../shared/corpus): each sequence is turned
//! into the incremental updates a server would send, then encoded per encoding and decoded
//! back. Prints bytes per frame and compression against 32-bpp raw, and lets criterion time
//! the encode and decode passes (throughput in changed pixels).
//!
//! `cargo bench --bench encoders`; FARVIEW_FRAMES=N limits the frames per sequence.

mod corpus;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use farview_protocol::encode::{EncodeManager, Update, ViewerEncodings};
use farview_protocol::{EncodingType, PixelFormat, loopback};

/// The encodings measured, each alone (plus CopyRect for the scrolls).
const ENCODINGS: &[EncodingType] = &[
    EncodingType::ZRLE,
    EncodingType::TIGHT,
    EncodingType::TRLE,
    EncodingType::HEXTILE,
    EncodingType::ZLIB,
    EncodingType::RRE,
    EncodingType::RAW,
];

fn frame_limit() -> Option<usize> {
    std::env::var("FARVIEW_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
}

/// Encodes every update with `encoding`; returns the messages and the pixels they cover.
fn encode_all(
    updates: &[(Update, farview_protocol::Framebuffer)],
    encoding: EncodingType,
) -> (Vec<Vec<u8>>, usize) {
    let mut manager = EncodeManager::new();
    let viewer = ViewerEncodings::new(vec![EncodingType::COPY_RECT, encoding]);
    let mut pixels = 0;
    let messages = updates
        .iter()
        .map(|(update, frame)| {
            let mut out = Vec::new();
            let stats =
                manager.encode_update(frame, update, &PixelFormat::NATIVE, &viewer, &mut out);
            // Pixels actually encoded: moves cost no encoding work.
            pixels += stats
                .by_encoding
                .iter()
                .filter(|e| e.encoding != EncodingType::COPY_RECT)
                .map(|e| e.pixels)
                .sum::<usize>();
            out
        })
        .collect();
    (messages, pixels)
}

fn encoders(c: &mut Criterion) {
    for sequence in corpus::SEQUENCES {
        let frames = corpus::load(sequence, frame_limit());
        if frames.is_empty() {
            return;
        }
        let (width, height) = (frames[0].width(), frames[0].height());
        let updates = corpus::incremental_updates(&frames);
        let mut group = c.benchmark_group(*sequence);
        group.sample_size(10);
        for &encoding in ENCODINGS {
            let (messages, pixels) = encode_all(&updates, encoding);
            let bytes: usize = messages.iter().map(Vec::len).sum();
            println!(
                "{sequence:>16} {encoding:>8}: {} frames, {:.0} bytes/frame, {:.1}:1 against raw 32 bpp",
                frames.len(),
                bytes as f64 / frames.len() as f64,
                (pixels * 4) as f64 / bytes.max(1) as f64,
            );
            group.throughput(Throughput::Elements(pixels as u64));
            group.bench_function(format!("encode {encoding}"), |b| {
                b.iter(|| encode_all(&updates, encoding))
            });
            group.bench_function(format!("decode {encoding}"), |b| {
                b.iter(|| {
                    let (_, mut client) = loopback::connected_pair(
                        width,
                        height,
                        PixelFormat::NATIVE,
                        vec![EncodingType::COPY_RECT, encoding],
                    );
                    for message in &messages {
                        loopback::deliver(&mut client, message);
                    }
                })
            });
            // Decoding what was encoded gives every frame back, pixel for pixel.
            let (_, mut client) = loopback::connected_pair(
                width,
                height,
                PixelFormat::NATIVE,
                vec![EncodingType::COPY_RECT, encoding],
            );
            for (index, (message, (_, frame))) in messages.iter().zip(&updates).enumerate() {
                let decoded = loopback::deliver(&mut client, message);
                assert!(
                    decoded == frame,
                    "{sequence} {encoding}: update {index} decodes wrong"
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, encoders);
criterion_main!(benches);
