//! Loading the desktop corpus for benchmarks. The corpus lives beside the project, in
//! ../shared/corpus (override with FARVIEW_CORPUS=DIR); a clone without it skips the
//! benchmarks that need it, saying so.

use std::path::PathBuf;

use farview_protocol::Framebuffer;
use farview_protocol::diff::TileDiff;
use farview_protocol::encode::Update;
use farview_protocol::moves;

pub const SEQUENCES: &[&str] = &[
    "terminal-scroll",
    "browser-scroll",
    "window-drag",
    "office-typing",
];

pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("FARVIEW_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: no corpus at {} (set FARVIEW_CORPUS)",
            dir.display()
        );
        None
    }
}

/// The first `limit` frames of a sequence (all with `None`).
pub fn load(sequence: &str, limit: Option<usize>) -> Vec<Framebuffer> {
    let Some(dir) = corpus_dir() else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join(sequence))
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "png"));
    paths.sort();
    paths.truncate(limit.unwrap_or(usize::MAX));
    paths
        .iter()
        .map(|path| farview_server::source::replay::decode_png(path).expect("corpus frame"))
        .collect()
}

/// The updates a server sends for consecutive frames: scrolls as copies, then changed tiles.
/// The first update is the whole first frame.
pub fn incremental_updates(frames: &[Framebuffer]) -> Vec<(Update, Framebuffer)> {
    let mut updates = Vec::new();
    let Some(first) = frames.first() else {
        return updates;
    };
    updates.push((
        Update {
            changed: vec![first.bounds()],
            ..Update::default()
        },
        first.clone(),
    ));
    let mut shown = first.clone();
    for next in &frames[1..] {
        let mut update = Update::default();
        for area in TileDiff::compare(&shown, next).areas() {
            if let Some(copy) = moves::detect_move(&shown, next, &area) {
                shown.copy_rect(&copy.destination, copy.source_x, copy.source_y);
                update.copies.push(copy);
            }
        }
        update.changed = TileDiff::compare(&shown, next).runs();
        shown.pixels_mut().copy_from_slice(next.pixels());
        if !update.is_empty() {
            updates.push((update, next.clone()));
        }
    }
    updates
}
