//! Bytes across the proxies' link against direct RFB, in process, on real desktop frames
//! (../shared/corpus): every frame of a sequence crosses as the far proxy would send it if
//! the link took everything (no frames skipped), and the same frames go as ZRLE and Tight
//! updates from the encode manager. A warm pass sends them again to a near side whose cache
//! is kept, the link's compression starting from the history of the first pass (as the two
//! ends' histories give it). Prints a table with ratios and the encode CPU time of each.
//!
//! `cargo bench --bench link_bytes` (FARVIEW_FRAMES=N limits the frames per sequence,
//! FARVIEW_LINK_LEVELS=9,19 chooses the zstd levels measured).

mod corpus;

use std::time::{Duration, Instant};

use farview_protocol::encode::{EncodeManager, Update, ViewerEncodings};
use farview_protocol::{EncodingType, Framebuffer, PixelFormat, Region};
use farview_proxy::history::LinkHistory;
use farview_proxy::link::compress::LinkCompressor;
use farview_proxy::link::frame::write_frame;
use farview_proxy::link::message::{TileContent, encode_update};
use farview_proxy::link::outgoing::Outgoing;
use farview_proxy::link::tile_cache::{TileHash, row_hashes};
use farview_proxy::link::tiles::{KnownRows, TileReceiver};

const CACHE: usize = 256 * 1024 * 1024;

/// Bytes and time of every update in `encodings`, each message through zstd at `level`
/// if given.
fn direct(
    updates: &[(Update, Framebuffer)],
    encodings: Vec<EncodingType>,
    level: Option<i32>,
) -> (usize, Duration) {
    let mut manager = EncodeManager::new();
    let viewer = ViewerEncodings::new(encodings);
    let mut compressor = level.map(|level| LinkCompressor::new(level).expect("zstd"));
    let started = Instant::now();
    let mut bytes = 0;
    for (update, frame) in updates {
        let mut out = Vec::new();
        manager.encode_update(frame, update, &PixelFormat::NATIVE, &viewer, &mut out);
        if let Some(compressor) = &mut compressor {
            let mut wire = Vec::new();
            compressor.compress(&out, &mut wire).expect("zstd");
            out = wire;
        }
        bytes += out.len();
    }
    (bytes, started.elapsed())
}

#[derive(Default)]
struct LinkRun {
    wire: usize,
    plain: usize,
    by_kind: [usize; 3],
    time: Duration,
}

impl LinkRun {
    /// Bytes before zstd by kind of tile, in kB: new/runs/stitched.
    fn kinds(&self) -> String {
        self.by_kind
            .map(|b| format!("{:.0}", b as f64 / 1e3))
            .join("/")
    }
}

/// `first` across the link to a near side, then `second` in a new session to the same
/// near side, its cache and the link's history kept.
fn two_sessions(first: &[&Framebuffer], second: &[&Framebuffer], level: i32) -> (LinkRun, LinkRun) {
    let mut receiver = TileReceiver::new(CACHE);
    let mut history = LinkHistory::in_memory();
    let cold = through_link(first, level, &mut receiver, &[], &mut history);
    receiver.renumber();
    let inventory = receiver.inventory();
    let warm = through_link(second, level, &mut receiver, &inventory, &mut history);
    (cold, warm)
}

/// Every frame across the link to `receiver`, whose cache holds `inventory` at the start;
/// the far side knows the rows of its tiles, as when it remembers what it sent.
fn through_link(
    frames: &[&Framebuffer],
    level: i32,
    receiver: &mut TileReceiver,
    inventory: &[(TileHash, u16, u16)],
    history: &mut LinkHistory,
) -> LinkRun {
    let (width, height) = (frames[0].width(), frames[0].height());
    let known: KnownRows = inventory
        .iter()
        .filter_map(|(hash, width, _)| {
            let tile = receiver.cache().peek(hash)?;
            Some((*hash, row_hashes(*width, &tile.pixels)))
        })
        .collect();
    let mut outgoing = Outgoing::new(width, height, CACHE, inventory, &known);
    let mut compressor = LinkCompressor::new(level).expect("zstd");
    let mut run = LinkRun::default();
    let all_of_it = history.summary().map(|summary| summary.window);
    if let Some(dictionary) = all_of_it.and_then(|window| history.dictionary(window)) {
        // Made ready on another thread while the link starts: not counted as encode time.
        compressor.use_history(dictionary.into(), None);
        let mut end = Vec::new();
        while !compressor.switch_if_ready(&mut end).expect("zstd") {
            std::thread::sleep(Duration::from_millis(1));
        }
        run.wire += end.len();
    }
    let mut near = Framebuffer::new(width, height);
    for frame in frames {
        let started = Instant::now();
        let mut sent = Vec::new();
        let damage = Region::from_rect(frame.bounds());
        while let Some((update, _)) = outgoing.next_update(frame, &damage, usize::MAX) {
            for tile in &update.tiles {
                let kind = match &tile.content {
                    TileContent::Fill(_) | TileContent::Cached(_) => continue,
                    TileContent::New(_) => 0,
                    TileContent::Runs(_) => 1,
                    TileContent::Stitched(_) | TileContent::Composed(_) => 2,
                };
                run.by_kind[kind] += tile.content.pixel_bytes();
            }
            let (_, payload) = encode_update(&update);
            let mut compressed = Vec::new();
            compressor
                .compress(&payload, &mut compressed)
                .expect("zstd");
            let mut wire = Vec::new();
            write_frame(0, &compressed, &mut wire);
            run.plain += payload.len();
            history.append(&payload);
            run.wire += wire.len();
            outgoing.acknowledge(update.sequence);
            sent.push(update);
        }
        run.time += started.elapsed();
        for update in &sent {
            receiver.apply(update, &mut near).expect("applies");
        }
        assert!(near == **frame, "the near side shows the frame");
    }
    run
}

fn main() {
    // `cargo test --all-targets` runs this without --bench: a smoke test on a few frames.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let limit = std::env::var("FARVIEW_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .or(smoke.then_some(3));
    let levels: Vec<i32> = std::env::var("FARVIEW_LINK_LEVELS")
        .unwrap_or_else(|_| "9".into())
        .split(',')
        .filter_map(|l| l.parse().ok())
        .collect();
    println!(
        "| sequence | frames | what | bytes | vs best direct | encode ms | vs ZRLE time | plain kB | new/runs/stitched kB |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for sequence in corpus::SEQUENCES {
        let frames = corpus::load(sequence, limit);
        if frames.is_empty() {
            return;
        }
        let updates = corpus::incremental_updates(&frames);
        let zrle = direct(&updates, vec![EncodingType::ZRLE], None);
        let tight = direct(&updates, vec![EncodingType::TIGHT], None);
        let best = zrle.0.min(tight.0) as f64;
        let row = |what: &str, bytes: usize, time: Duration, extra: String| {
            println!(
                "| {sequence} | {} | {what} | {bytes} | {:.3} | {:.0} | {:.2} | {extra}",
                frames.len(),
                bytes as f64 / best,
                time.as_secs_f64() * 1e3,
                time.as_secs_f64() / zrle.1.as_secs_f64(),
            )
        };
        row("direct ZRLE", zrle.0, zrle.1, "| |".into());
        row("direct Tight", tight.0, tight.1, "| |".into());
        for &level in &levels {
            let trle = direct(
                &updates,
                vec![EncodingType::COPY_RECT, EncodingType::TRLE],
                Some(level),
            );
            row(
                &format!("CopyRect+TRLE, zstd {level}"),
                trle.0,
                trle.1,
                "| |".into(),
            );
            let all: Vec<&Framebuffer> = frames.iter().collect();
            let (cold, warm) = two_sessions(&all, &all, level);
            row(
                &format!("link zstd {level}"),
                cold.wire,
                cold.time,
                format!("{:.0} | {} |", cold.plain as f64 / 1e3, cold.kinds()),
            );
            row(
                &format!("link zstd {level} warm"),
                warm.wire,
                warm.time,
                format!("{:.0} | |", warm.plain as f64 / 1e3),
            );
            if all.len() < 2 {
                continue;
            }
            // A slow link skips frames, and which ones differs between sessions: the even
            // frames first, then the odd ones with a warm cache (scrolled to offsets the
            // first session never showed).
            let (even, odd): (Vec<_>, Vec<_>) =
                all.iter().enumerate().partition(|(i, _)| i % 2 == 0);
            let even: Vec<&Framebuffer> = even.into_iter().map(|(_, frame)| *frame).collect();
            let odd: Vec<&Framebuffer> = odd.into_iter().map(|(_, frame)| *frame).collect();
            let (first, second) = two_sessions(&even, &odd, level);
            for (what, run) in [("even frames", first), ("then odd frames, warm", second)] {
                row(
                    &format!("link zstd {level}, {what}"),
                    run.wire,
                    run.time,
                    format!("{:.0} | {} |", run.plain as f64 / 1e3, run.kinds()),
                );
            }
        }
    }
}
