//! Encoders and decoders on real desktop frames (../shared/corpus): each sequence is turned
//! into the incremental updates a server would send, then encoded per encoding and decoded
//! back. Prints bytes per frame and compression against 32-bpp raw, and lets criterion time
//! the encode and decode passes (throughput in changed pixels). For encodings whose
//! rectangles decode independently, "decode parallel" decodes on every core through the
//! viewer's threaded executor; the "decode batch" group times one update of N 64x64
//! rectangles decoded directly, deferred on one thread and threaded, which is where the
//! threaded executor's threshold comes from.
//!
//! `cargo bench --bench encoders`; FARVIEW_FRAMES=N limits the frames per sequence.

mod corpus;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use farview_client::parallel_decode::{Sharing, ThreadedExecutor};
use farview_protocol::encode::{EncodeManager, Update, ViewerEncodings};
use farview_protocol::encodings::batch;
use farview_protocol::encodings::{DecodeExecutor, SequentialExecutor};
use farview_protocol::{ClientConnection, EncodingType, Framebuffer, PixelFormat, Rect, loopback};

/// The encodings measured, each alone (plus CopyRect for the scrolls).
const ENCODINGS: &[EncodingType] = &[
    EncodingType::ZRLE,
    EncodingType::TIGHT,
    EncodingType::TRLE,
    EncodingType::TIGHT_PNG,
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
            if batch::is_independent(encoding) {
                group.bench_function(format!("decode parallel {encoding}"), |b| {
                    b.iter(|| {
                        let (_, mut client) = loopback::connected_pair(
                            width,
                            height,
                            PixelFormat::NATIVE,
                            vec![EncodingType::COPY_RECT, encoding],
                        );
                        client.set_decode_executor(Box::new(ThreadedExecutor::new()));
                        for message in &messages {
                            loopback::deliver(&mut client, message);
                        }
                    })
                });
            }
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

/// One update of `count` 64x64 rectangles of `picture`, left to right, top to bottom.
fn tile_update(picture: &Framebuffer, encoding: EncodingType, count: usize) -> Vec<u8> {
    let side = 64u16;
    let columns = usize::from(picture.width() / side);
    let rects = (0..count).map(|i| {
        let (column, row) = ((i % columns) as u16, (i / columns) as u16);
        Rect::new(column * side, row * side, side, side)
    });
    let mut manager = EncodeManager::new();
    let viewer = ViewerEncodings::new(vec![encoding]);
    let update = Update {
        changed: rects.collect(),
        ..Update::default()
    };
    let mut out = Vec::new();
    manager.encode_update(picture, &update, &PixelFormat::NATIVE, &viewer, &mut out);
    out
}

/// Where threads start to pay: the same update decoded directly, deferred on the calling
/// thread, and on every core whatever its size. The threaded executor's cost model comes
/// from these figures.
fn batch_threshold(c: &mut Criterion) {
    let frames = corpus::load("browser-scroll", Some(1));
    let Some(picture) = frames.first() else {
        return;
    };
    let mut group = c.benchmark_group("decode batch");
    group.sample_size(20);
    group.warm_up_time(Duration::from_millis(500));
    group.measurement_time(Duration::from_secs(2));
    let threads = ThreadedExecutor::new().threads();
    for encoding in [
        EncodingType::RAW,
        EncodingType::TRLE,
        EncodingType::TIGHT_PNG,
    ] {
        for count in [2usize, 4, 8, 16, 32, 64] {
            let message = tile_update(picture, encoding, count);
            group.throughput(Throughput::Elements((count * 64 * 64) as u64));
            let executors: [(&str, Option<Box<dyn DecodeExecutor>>); 3] = [
                ("direct", None),
                ("deferred", Some(Box::new(SequentialExecutor))),
                (
                    "threaded",
                    Some(Box::new(ThreadedExecutor::with_threads(
                        threads,
                        Sharing::Always,
                    ))),
                ),
            ];
            for (name, executor) in executors {
                let mut client: ClientConnection = loopback::connected_pair(
                    picture.width(),
                    picture.height(),
                    PixelFormat::NATIVE,
                    vec![encoding],
                )
                .1;
                if let Some(executor) = executor {
                    client.set_decode_executor(executor);
                }
                let id = BenchmarkId::new(format!("{encoding} {name}"), count * 64 * 64);
                group.bench_function(id, |b| {
                    b.iter(|| loopback::deliver(&mut client, &message).pixel(0, 0))
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, encoders, batch_threshold);
criterion_main!(benches);
