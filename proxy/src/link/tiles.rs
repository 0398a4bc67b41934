//! Updates as tiles. The far side turns the changed areas of its mirror into whole grid
//! tiles (so that the same content lands on the same tile boundaries and is found in the
//! cache again), each sent as a fill, a reference to a cached tile, or new pixels. The near
//! side applies them to its own framebuffer and keeps its cache in step.

use std::sync::Arc;

use farview_protocol::encode::CopyOperation;
use farview_protocol::{Framebuffer, Rect, Region};

use super::LinkError;
use super::message::{LinkUpdate, TileContent, TilePlacement};
use super::tile_cache::{InventoryEntry, TILE_SIDE, TileCache, TileHash, tile_cost};

/// What tiles an update carried, for the link's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TileCounts {
    pub fills: usize,
    pub cached: usize,
    pub new: usize,
}

/// The far side's half: which tiles the near side holds.
#[derive(Debug)]
pub struct TileSender {
    cache: TileCache<()>,
    /// New tiles since the last [`TileSender::take_arrivals`], in the order sent.
    arrivals: Vec<InventoryEntry>,
}

impl TileSender {
    /// A sender for a near side whose cache holds `inventory` (least recently used first)
    /// under a limit of `limit` bytes.
    pub fn new(limit: usize, inventory: &[InventoryEntry]) -> Self {
        let mut cache = TileCache::new(limit);
        for (hash, width, height) in inventory {
            cache.insert(*hash, tile_cost(*width, *height), ());
        }
        Self {
            cache,
            arrivals: Vec::new(),
        }
    }

    /// The new tiles sent since the last call, in order: what the near side's disk cache
    /// gains.
    pub fn take_arrivals(&mut self) -> Vec<InventoryEntry> {
        std::mem::take(&mut self.arrivals)
    }

    /// The tiles covering `changed` in `framebuffer`, in order, top to bottom.
    pub fn tiles(
        &mut self,
        framebuffer: &Framebuffer,
        changed: &Region,
    ) -> (Vec<TilePlacement>, TileCounts) {
        let mut counts = TileCounts::default();
        let tiles = grid_tiles(framebuffer, changed)
            .into_iter()
            .map(|rect| self.tile(rect, framebuffer.read_rect(&rect), &mut counts))
            .collect();
        (tiles, counts)
    }

    /// How the grid tile `rect`, now showing `pixels`, goes: a fill, a reference, or new
    /// pixels (which the near side holds from then on).
    pub fn tile(&mut self, rect: Rect, pixels: Vec<u32>, counts: &mut TileCounts) -> TilePlacement {
        let content = if pixels.iter().all(|&p| p == pixels[0]) {
            counts.fills += 1;
            TileContent::Fill(pixels[0])
        } else {
            let hash = TileHash::of(rect.width, rect.height, &pixels);
            if let Some((id, _)) = self.cache.touch(&hash) {
                counts.cached += 1;
                TileContent::Cached(id)
            } else {
                self.cache
                    .insert(hash, tile_cost(rect.width, rect.height), ());
                self.arrivals.push((hash, rect.width, rect.height));
                counts.new += 1;
                smallest_new(pixels)
            }
        };
        TilePlacement { rect, content }
    }
}

/// New pixels as runs, or as the pixels themselves when runs would take more bytes (photos),
/// whole even when only a little of the tile changed. Runs repeat the colours themselves, so
/// zstd matches them wherever they recur, the tile's earlier version included. Tried and
/// dropped: palette and indices per tile (its numbering differs from tile to tile, so zstd
/// finds fewer matches: always runs sent 12-22 % fewer bytes at zstd 9 and 18 on
/// terminal-scroll, browser-scroll and window-drag in `cargo bench --bench link_bytes`, 2 %
/// on office-typing), changes against what the near side shows (exclusive-or, or changed
/// pixels by colour), runs across a band of tiles (fewer bytes on browser-scroll and
/// window-drag, 13 % more on terminal-scroll) and a palette numbered for the whole link.
fn smallest_new(pixels: Vec<u32>) -> TileContent {
    if run_count(&pixels) * 4 < pixels.len() * 3 {
        TileContent::Runs(pixels)
    } else {
        TileContent::New(pixels)
    }
}

/// How many runs of equal pixels `pixels` holds.
pub fn run_count(pixels: &[u32]) -> usize {
    usize::from(!pixels.is_empty()) + pixels.windows(2).filter(|w| w[0] != w[1]).count()
}

/// The grid tiles that `changed` touches, clipped to the framebuffer, row by row.
pub fn grid_tiles(framebuffer: &Framebuffer, changed: &Region) -> Vec<Rect> {
    let side = u32::from(TILE_SIDE);
    let (width, height) = (
        u32::from(framebuffer.width()),
        u32::from(framebuffer.height()),
    );
    let mut cells = std::collections::BTreeSet::new();
    for rect in changed.rects() {
        let Some(rect) = rect.clip(framebuffer.width(), framebuffer.height()) else {
            continue;
        };
        for row in u32::from(rect.y) / side..rect.bottom().div_ceil(side) {
            for column in u32::from(rect.x) / side..rect.right().div_ceil(side) {
                cells.insert((row, column));
            }
        }
    }
    cells
        .into_iter()
        .map(|(row, column)| {
            let (x, y) = (column * side, row * side);
            Rect::new(
                x as u16,
                y as u16,
                (width - x).min(side) as u16,
                (height - y).min(side) as u16,
            )
        })
        .collect()
}

/// A tile as the near side keeps it.
#[derive(Debug, Clone)]
pub struct StoredTile {
    pub width: u16,
    pub height: u16,
    pub pixels: Arc<[u32]>,
}

/// The near side's half: the tiles themselves.
#[derive(Debug)]
pub struct TileReceiver {
    cache: TileCache<StoredTile>,
    /// New tiles since the last [`TileReceiver::take_new_tiles`], for the disk cache.
    new_tiles: Option<Vec<StoredTile>>,
}

impl TileReceiver {
    pub fn new(limit: usize) -> Self {
        Self {
            cache: TileCache::new(limit),
            new_tiles: None,
        }
    }

    /// Keeps the new tiles that arrive from now on for [`TileReceiver::take_new_tiles`].
    pub fn keep_new_tiles(&mut self) {
        self.new_tiles.get_or_insert_with(Vec::new);
    }

    pub fn take_new_tiles(&mut self) -> Vec<StoredTile> {
        self.new_tiles
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// Adds a tile known from before (the persistent cache), as the most recently used.
    pub fn preload(&mut self, tile: StoredTile) -> TileHash {
        let hash = TileHash::of(tile.width, tile.height, &tile.pixels);
        self.cache
            .insert(hash, tile_cost(tile.width, tile.height), tile);
        hash
    }

    pub fn cache(&self) -> &TileCache<StoredTile> {
        &self.cache
    }

    /// A new link session starts from our inventory: number the tiles as the far side does.
    pub fn renumber(&mut self) {
        self.cache.renumber();
    }

    /// The tiles held (hash, width, height), least recently used first: what the far side
    /// is told at the start of a new link session.
    pub fn inventory(&self) -> Vec<InventoryEntry> {
        self.cache
            .hashes_by_use()
            .filter_map(|hash| {
                let tile = self.cache.peek(hash)?;
                Some((*hash, tile.width, tile.height))
            })
            .collect()
    }

    /// Applies `update` to `target` (resizing it first if the update says so) and returns
    /// how its tiles came. Anything out of bounds, or a reference to a tile not held, is
    /// an error: the two ends disagree and the link must start over.
    pub fn apply(
        &mut self,
        update: &LinkUpdate,
        target: &mut impl UpdateTarget,
    ) -> Result<TileCounts, LinkError> {
        let mut counts = TileCounts::default();
        if let Some((width, height)) = update.size {
            if !Framebuffer::size_is_acceptable(width, height) {
                return Err(LinkError::malformed(
                    "update",
                    format!("desktop size {width}x{height}"),
                ));
            }
            target.resize(width, height);
        }
        let bounds = target.bounds();
        for copy in &update.moves {
            let source = copy.source();
            if !bounds.contains(&copy.destination) || !bounds.contains(&source) {
                return Err(LinkError::malformed(
                    "update",
                    format!("move {copy:?} outside the desktop"),
                ));
            }
            target.copy(*copy);
        }
        for (index, tile) in update.tiles.iter().enumerate() {
            let rect = tile.rect;
            if !bounds.contains(&rect) {
                return Err(LinkError::malformed(
                    "update",
                    format!("tile {index} {rect:?} outside the desktop"),
                ));
            }
            match &tile.content {
                TileContent::Fill(colour) => {
                    counts.fills += 1;
                    target.fill(rect, *colour);
                }
                TileContent::Cached(id) => {
                    let Some(tile) = self.cache.touch_id(*id) else {
                        return Err(LinkError::malformed(
                            "update",
                            format!("tile {index} refers to a tile not held"),
                        ));
                    };
                    if (tile.width, tile.height) != (rect.width, rect.height) {
                        return Err(LinkError::malformed(
                            "update",
                            format!("tile {index}: cached tile of another size"),
                        ));
                    }
                    counts.cached += 1;
                    target.put(rect, &tile.pixels);
                }
                TileContent::New(pixels) | TileContent::Runs(pixels) => {
                    if pixels.len() != rect.area() {
                        return Err(LinkError::malformed(
                            "update",
                            format!("tile {index}: {} pixels for {rect:?}", pixels.len()),
                        ));
                    }
                    target.put(rect, pixels);
                    let hash = TileHash::of(rect.width, rect.height, pixels);
                    let tile = StoredTile {
                        width: rect.width,
                        height: rect.height,
                        pixels: pixels.as_slice().into(),
                    };
                    if let Some(new_tiles) = &mut self.new_tiles {
                        new_tiles.push(tile.clone());
                    }
                    self.cache
                        .insert(hash, tile_cost(rect.width, rect.height), tile);
                    counts.new += 1;
                }
            }
        }
        Ok(counts)
    }
}

/// Where the near side draws an update: its desktop, or a plain framebuffer in tests.
/// [`TileReceiver::apply`] checks every rectangle against `bounds` first.
pub trait UpdateTarget {
    fn bounds(&self) -> Rect;
    fn resize(&mut self, width: u16, height: u16);
    fn copy(&mut self, copy: CopyOperation);
    fn fill(&mut self, rect: Rect, colour: u32);
    fn put(&mut self, rect: Rect, pixels: &[u32]);
}

impl UpdateTarget for Framebuffer {
    fn bounds(&self) -> Rect {
        Framebuffer::bounds(self)
    }

    fn resize(&mut self, width: u16, height: u16) {
        Framebuffer::resize(self, width, height);
    }

    fn copy(&mut self, copy: CopyOperation) {
        self.copy_rect(&copy.destination, copy.source_x, copy.source_y);
    }

    fn fill(&mut self, rect: Rect, colour: u32) {
        self.fill_rect(&rect, colour);
    }

    fn put(&mut self, rect: Rect, pixels: &[u32]) {
        self.put_pixels(&rect, pixels);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn picture(width: u16, height: u16, seed: u32) -> Framebuffer {
        let pixels = (0..u32::from(width) * u32::from(height))
            .map(|i| (i / 7).wrapping_mul(2_654_435_761).wrapping_add(seed) & 0x00ff_ffff)
            .collect();
        Framebuffer::from_pixels(width, height, pixels).unwrap()
    }

    #[test]
    fn content_seen_before_crosses_as_references() {
        let limit = 64 * 1024 * 1024;
        let mut sender = TileSender::new(limit, &[]);
        let mut receiver = TileReceiver::new(limit);
        let first = picture(200, 130, 1);
        let second = picture(200, 130, 2);
        let mut near = Framebuffer::new(200, 130);
        for (sequence, frame) in [&first, &second, &first].into_iter().enumerate() {
            let (tiles, counts) = sender.tiles(frame, &Region::from_rect(frame.bounds()));
            let update = LinkUpdate {
                sequence: sequence as u64,
                tiles,
                ..LinkUpdate::default()
            };
            receiver.apply(&update, &mut near).unwrap();
            assert!(near == *frame, "update {sequence} shows the frame");
            let expected_new = if sequence < 2 { 4 * 3 } else { 0 };
            assert_eq!(counts.new, expected_new, "update {sequence}: {counts:?}");
        }
    }

    #[test]
    fn new_pixels_go_in_their_smallest_form_and_cross_intact() {
        use crate::link::message::FarMessage;
        // 300 colours in runs of 13; two colours in a checkerboard (runs of one); noise.
        let runs: Vec<u32> = (0..64 * 64)
            .map(|i| (i / 13) * 0x010101 % 0x00ff_ffff)
            .collect();
        let checkers: Vec<u32> = (0..64 * 64).map(|i| (i + i / 64) % 2 * 0xffffff).collect();
        let noise: Vec<u32> = (0..64 * 64)
            .map(|i: u32| i.wrapping_mul(2_654_435_761) & 0x00ff_ffff)
            .collect();
        assert!(matches!(smallest_new(runs.clone()), TileContent::Runs(_)));
        assert!(matches!(smallest_new(checkers), TileContent::New(_)));
        assert!(matches!(smallest_new(noise), TileContent::New(_)));

        let rect = Rect::new(0, 0, 64, 64);
        let update = LinkUpdate {
            sequence: 1,
            tiles: vec![TilePlacement {
                rect,
                content: TileContent::Runs(runs.clone()),
            }],
            ..LinkUpdate::default()
        };
        let (kind, payload) = FarMessage::Update(update.clone()).encode();
        assert!(
            payload.len() < runs.len(),
            "runs are compact: {}",
            payload.len()
        );
        let FarMessage::Update(decoded) = FarMessage::decode(kind, &payload).unwrap() else {
            panic!("not an update");
        };
        assert_eq!(decoded, update);
        let mut near = Framebuffer::new(64, 64);
        TileReceiver::new(1 << 20)
            .apply(&decoded, &mut near)
            .unwrap();
        assert_eq!(near.read_rect(&rect), runs);
        // A run past the tile's end is refused.
        let mut overlong = payload.clone();
        let last = overlong.len() - 1;
        overlong[last] = 200;
        assert!(FarMessage::decode(kind, &overlong).is_err());
    }

    #[test]
    fn references_to_unknown_tiles_and_moves_outside_are_errors() {
        let mut receiver = TileReceiver::new(1 << 20);
        let mut near = Framebuffer::new(64, 64);
        let unknown = LinkUpdate {
            tiles: vec![TilePlacement {
                rect: Rect::new(0, 0, 64, 64),
                content: TileContent::Cached(7),
            }],
            ..LinkUpdate::default()
        };
        assert!(receiver.apply(&unknown, &mut near).is_err());
        let outside = LinkUpdate {
            moves: vec![CopyOperation {
                destination: Rect::new(10, 10, 60, 10),
                source_x: 0,
                source_y: 0,
            }],
            ..LinkUpdate::default()
        };
        assert!(receiver.apply(&outside, &mut near).is_err());
        let wrong_size = LinkUpdate {
            tiles: vec![TilePlacement {
                rect: Rect::new(0, 0, 8, 8),
                content: TileContent::New(vec![0; 3]),
            }],
            ..LinkUpdate::default()
        };
        assert!(receiver.apply(&wrong_size, &mut near).is_err());
    }

    proptest! {
        /// Whatever changes, with caches small enough to evict, the near side ends with the
        /// far side's picture.
        #[test]
        fn the_near_side_follows_the_far_side(
            changes in proptest::collection::vec((0u16..150, 0u16..100, 1u16..80, 1u16..80, 0u32..4), 1..12),
            limit_tiles in 1usize..20,
        ) {
            let limit = limit_tiles * tile_cost(TILE_SIDE, TILE_SIDE);
            let mut sender = TileSender::new(limit, &[]);
            let mut receiver = TileReceiver::new(limit);
            let mut far = Framebuffer::new(150, 100);
            let mut near = Framebuffer::new(150, 100);
            for (sequence, (x, y, width, height, seed)) in changes.into_iter().enumerate() {
                let Some(rect) = Rect::new(x, y, width, height).clip(150, 100) else { continue };
                let patch = picture(rect.width, rect.height, seed);
                far.put_pixels(&rect, patch.pixels());
                let (tiles, _) = sender.tiles(&far, &Region::from_rect(rect));
                let update = LinkUpdate { sequence: sequence as u64, tiles, ..LinkUpdate::default() };
                receiver.apply(&update, &mut near).unwrap();
                prop_assert!(near == far);
            }
        }
    }
}
