//! Updates as tiles. The far side turns the changed areas of its mirror into whole grid
//! tiles (so that the same content lands on the same tile boundaries and is found in the
//! cache again), each sent as a fill, a reference to a cached tile, rows of cached tiles and
//! rows the near side shows already (content that moved up or down by a part of a tile: a
//! page scrolled to an offset not sent before; a tile whose other rows stayed; wallpaper
//! uncovered above a window that the update's moves brought down), runs of pixels from what
//! the near side shows and from held tiles shown at the place before (a tile at a window's
//! side edge: wallpaper uncovered beside the window the moves brought), or new pixels. The
//! near side applies them to its own framebuffer and keeps its cache in step.

use std::collections::HashMap;
use std::sync::Arc;

use farview_protocol::encode::CopyOperation;
use farview_protocol::{Framebuffer, Rect, Region};

use super::LinkError;
use super::message::{
    Composed, LinkUpdate, MAX_LAYERS, PixelRun, PixelSource, RowSource, RowSpan, Stitched,
    TileContent, TilePlacement,
};
use super::tile_cache::{
    InventoryEntry, RowHashes, TILE_SIDE, TileCache, TileHash, row_hashes, tile_cost,
};

/// What tiles an update carried, for the link's statistics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TileCounts {
    pub fills: usize,
    pub cached: usize,
    /// Tiles made of parts the near side has: rows of held tiles, what it shows, tiles
    /// shown at the place before (any new pixels among them included).
    pub stitched: usize,
    pub new: usize,
}

/// The row hashes the far side knows of the tiles a near cache holds.
pub type KnownRows = HashMap<TileHash, RowHashes>;

/// A tile sent to the near side's cache, with its rows: what the far side remembers.
pub type Arrival = (InventoryEntry, RowHashes);

/// The fewest rows found in held tiles that make stitching a tile worth its spans. Fewer
/// rows cost more than they save: zstd finds recent ones anyway (8 rows: office-typing
/// 1 % more bytes in `link_bytes`; 48 rows: window-drag's warm pass 10 % more).
const MIN_STITCHED_ROWS: usize = 24;
/// The most spans in a stitched tile; a tile that needs more goes new.
const MAX_SPANS: usize = 16;
/// The shortest run of a composed tile taken from a layer or from what is shown; shorter
/// matches (background between letters) go as new pixels, whose runs zstd matches better
/// (4: terminal-scroll 23 % more bytes in `link_bytes`; 64: window-drag gains nothing).
const MIN_LAYER_RUN: usize = 16;

/// The far side's half: which tiles the near side holds, and the rows in them.
#[derive(Debug)]
pub struct TileSender {
    cache: TileCache<RowHashes>,
    /// Where each row was last seen: a tile and its row. Checked against the cache when
    /// used (that tile may have gone since); rebuilt from the cache when it outgrows it.
    rows: HashMap<u64, (TileHash, u16)>,
    /// New tiles since the last [`TileSender::take_arrivals`], in the order sent.
    arrivals: Vec<Arrival>,
    /// The last tiles shown at each grid cell (by its corner), newest first, at most
    /// [`MAX_LAYERS`]: what a composed tile takes pixels from. Fills are left out. At
    /// most 32 KB a cell: 16 MB on a full-HD screen.
    layers: HashMap<(u16, u16), Vec<Layer>>,
}

/// A tile shown at a grid cell: its hash and its pixels.
type Layer = (TileHash, Arc<[u32]>);

impl TileSender {
    /// A sender for a near side whose cache holds `inventory` (least recently used first)
    /// under a limit of `limit` bytes; `known` gives the rows of such tiles as far as known.
    pub fn new(limit: usize, inventory: &[InventoryEntry], known: &KnownRows) -> Self {
        let mut sender = Self {
            cache: TileCache::new(limit),
            rows: HashMap::new(),
            arrivals: Vec::new(),
            layers: HashMap::new(),
        };
        for (hash, width, height) in inventory {
            let rows = known.get(hash).cloned().unwrap_or_else(|| Arc::new([]));
            sender.hold(*hash, *width, *height, rows);
        }
        sender
    }

    /// Forgets the tiles shown at each place: the desktop changed size, so the grid holds
    /// other cells now.
    pub fn forget_layers(&mut self) {
        self.layers.clear();
    }

    /// The new tiles sent since the last call, in order: what the near side's disk cache
    /// gains.
    pub fn take_arrivals(&mut self) -> Vec<Arrival> {
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
            .map(|rect| self.tile(rect, framebuffer.read_rect(&rect), None, &mut counts))
            .collect();
        (tiles, counts)
    }

    /// How the grid tile `rect`, now showing `pixels`, goes: a fill, a reference, parts the
    /// near side has (rows of held tiles and of what it shows there, `shown` if known, or
    /// pixels of tiles shown there before), or new pixels, whichever costs fewest bytes.
    /// The near side holds every tile but fills from then on.
    pub fn tile(
        &mut self,
        rect: Rect,
        pixels: Vec<u32>,
        shown: Option<&[u32]>,
        counts: &mut TileCounts,
    ) -> TilePlacement {
        if pixels.iter().all(|&p| p == pixels[0]) {
            counts.fills += 1;
            let content = TileContent::Fill(pixels[0]);
            return TilePlacement { rect, content };
        }
        let hash = TileHash::of(rect.width, rect.height, &pixels);
        let content = if let Some((id, _)) = self.cache.touch(&hash) {
            counts.cached += 1;
            TileContent::Cached(id)
        } else {
            let rows = row_hashes(rect.width, &pixels);
            let mut best = (Plan::New, new_cost(&pixels));
            if let Some((plan, cost)) = self.plan_stitch(rect.width, &rows, &pixels, shown) {
                best = (Plan::Stitch(plan), cost);
            }
            if let Some((plan, cost)) = self.plan_compose(rect, &pixels, shown) {
                // Spans of whole rows compress better than their count says: composing
                // must halve a stitched tile's cost (less: terminal-scroll and
                // browser-scroll 3-5 % more bytes in `link_bytes`).
                let factor = if matches!(best.0, Plan::New) { 1 } else { 2 };
                if cost * factor < best.1 {
                    best = (Plan::Compose(plan), cost);
                }
            }
            let content = match best.0 {
                Plan::New => {
                    counts.new += 1;
                    smallest_new(pixels.clone())
                }
                Plan::Stitch(plan) => {
                    counts.stitched += 1;
                    TileContent::Stitched(self.stitched(plan))
                }
                Plan::Compose(plan) => {
                    counts.stitched += 1;
                    TileContent::Composed(self.composed(plan))
                }
            };
            self.hold(hash, rect.width, rect.height, rows.clone());
            self.arrivals.push(((hash, rect.width, rect.height), rows));
            content
        };
        let layers = self.layers.entry((rect.x, rect.y)).or_default();
        layers.retain(|(held, _)| *held != hash);
        layers.insert(0, (hash, pixels.into()));
        layers.truncate(MAX_LAYERS);
        TilePlacement { rect, content }
    }

    /// Adds a tile to the cache and its rows to the index.
    fn hold(&mut self, hash: TileHash, width: u16, height: u16, rows: RowHashes) {
        for (row, row_hash) in rows.iter().enumerate() {
            self.rows.insert(*row_hash, (hash, row as u16));
        }
        self.cache.insert(hash, tile_cost(width, height), rows);
        if self.rows.len() > 2 * usize::from(TILE_SIDE) * self.cache.len() + 4096 {
            self.rows.clear();
            for hash in self.cache.hashes_by_use() {
                for (row, row_hash) in self
                    .cache
                    .peek(hash)
                    .into_iter()
                    .flat_map(|r| r.iter().enumerate())
                {
                    self.rows.insert(*row_hash, (*hash, row as u16));
                }
            }
        }
    }

    /// The tile `pixels`, whose rows hash to `rows`, as spans of rows shown, of held tiles'
    /// rows (the longest found at each point) and of new rows (`None`), if enough of it is
    /// found in few enough spans; with its cost in bytes as [`TileContent::pixel_bytes`]
    /// counts them.
    fn plan_stitch(
        &self,
        width: u16,
        rows: &[u64],
        pixels: &[u32],
        shown: Option<&[u32]>,
    ) -> Option<(StitchPlan, usize)> {
        // Runs of rows the near side shows already: (first row, end, where).
        let mut found: Vec<(usize, usize, Found)> = Vec::new();
        if let Some(shown) = shown {
            let mut row = 0;
            while row < rows.len() {
                let end = (row..rows.len())
                    .find(|&r| row_slice(shown, width, r) != row_slice(pixels, width, r))
                    .unwrap_or(rows.len());
                if end > row {
                    found.push((row, end, Found::Shown));
                    row = end;
                } else {
                    row += 1;
                }
            }
        }
        // Each row found in a held tile of the same width, grown up and down as far as
        // that tile's rows go on matching.
        for (index, row_hash) in rows.iter().enumerate() {
            if found
                .iter()
                .any(|&(first, end, ..)| (first..end).contains(&index))
            {
                continue;
            }
            let Some(&(hash, row)) = self.rows.get(row_hash) else {
                continue;
            };
            let Some(source) = self.cache.peek(&hash) else {
                continue;
            };
            let row = usize::from(row);
            // A row's hash covers its width too, so a match is a tile of this width.
            if source.get(row) != Some(row_hash) {
                continue;
            }
            let above = (1..=index.min(row))
                .take_while(|k| source[row - k] == rows[index - k])
                .count();
            let below = (1..(rows.len() - index).min(source.len() - row))
                .take_while(|k| source[row + k] == rows[index + k])
                .count();
            found.push((
                index - above,
                index + below + 1,
                Found::Held(hash, row - above),
            ));
        }
        // Cover the rows top to bottom, each time with the span reaching furthest (rows
        // shown first among equals: they need no reference); `None` for new rows.
        let mut spans: Vec<(Option<Found>, usize)> = Vec::new();
        let mut new_rows = Vec::new();
        let (mut at, mut covered) = (0, 0);
        while at < rows.len() {
            let best = found
                .iter()
                .filter(|&&(first, end, _)| first <= at && at < end)
                .max_by_key(|&&(_, end, found)| (end, found == Found::Shown));
            match best {
                Some(&(first, end, found)) => {
                    let from = match found {
                        Found::Held(hash, row) => Found::Held(hash, row + (at - first)),
                        Found::Shown => Found::Shown,
                    };
                    spans.push((Some(from), end - at));
                    covered += end - at;
                    at = end;
                }
                None => {
                    new_rows.extend_from_slice(row_slice(pixels, width, at));
                    match spans.last_mut() {
                        Some((None, count)) => *count += 1,
                        _ => spans.push((None, 1)),
                    }
                    at += 1;
                }
            }
        }
        if covered < MIN_STITCHED_ROWS.min(rows.len()) || spans.len() > MAX_SPANS {
            return None;
        }
        let cost = TileContent::stitched_bytes(spans.len(), &new_rows);
        Some((StitchPlan { spans, new_rows }, cost))
    }

    /// The stitched tile as planned, its held tiles marked used in span order as the near
    /// side will.
    fn stitched(&mut self, plan: StitchPlan) -> Stitched {
        let spans = plan
            .spans
            .into_iter()
            .map(|(from, rows)| RowSpan {
                source: match from {
                    None => RowSource::New,
                    Some(Found::Shown) => RowSource::Shown,
                    Some(Found::Held(hash, first_row)) => RowSource::Held {
                        id: self.touch(&hash),
                        first_row: first_row as u16,
                    },
                },
                rows: rows as u16,
            })
            .collect();
        Stitched {
            spans,
            new_rows: plan.new_rows,
        }
    }

    /// The tile `pixels` at `rect` as runs of what the near side shows there (`shown`) and
    /// of the tiles shown there before, the longest match at each point, and new pixels,
    /// if anything is found; with its cost as [`TileContent::pixel_bytes`] counts it.
    fn plan_compose(
        &self,
        rect: Rect,
        pixels: &[u32],
        shown: Option<&[u32]>,
    ) -> Option<(ComposePlan, usize)> {
        let layers: Vec<&Layer> = self
            .layers
            .get(&(rect.x, rect.y))
            .into_iter()
            .flatten()
            .filter(|(hash, layer)| layer.len() == pixels.len() && self.cache.contains(hash))
            .collect();
        let sources: Vec<(PixelSource, &[u32])> = shown
            .map(|shown| (PixelSource::Shown, shown))
            .into_iter()
            .chain(
                (0u8..)
                    .zip(&layers)
                    .map(|(i, (_, layer))| (PixelSource::Layer(i), &layer[..])),
            )
            .collect();
        let mut runs: Vec<PixelRun> = Vec::new();
        let mut new_pixels = Vec::new();
        // Where each source's match from `at` ends, found again only once `at` passes it:
        // one pass over the tile for each source.
        let mut ends = vec![0; sources.len()];
        let mut at = 0;
        while at < pixels.len() {
            // The longest match here; what is shown first among equals (no reference).
            let mut best = (PixelSource::New, 0);
            for (&(source, from), end) in sources.iter().zip(&mut ends) {
                if *end <= at {
                    *end = at
                        + from[at..]
                            .iter()
                            .zip(&pixels[at..])
                            .take_while(|(a, b)| a == b)
                            .count();
                }
                if *end - at > best.1 {
                    best = (source, *end - at);
                }
            }
            let (source, length) = best;
            // A short match is taken at the tile's end: nothing follows to run on with.
            let (source, length) = if length >= MIN_LAYER_RUN.min(pixels.len() - at) {
                (source, length)
            } else {
                new_pixels.push(pixels[at]);
                (PixelSource::New, 1)
            };
            match runs.last_mut() {
                Some(last) if last.source == source => last.length += length as u16,
                _ => runs.push(PixelRun {
                    source,
                    length: length as u16,
                }),
            }
            at += length;
        }
        if runs.iter().all(|run| run.source == PixelSource::New) {
            return None;
        }
        // Only the layers used, numbered again in order.
        let mut used: Vec<TileHash> = Vec::new();
        let mut number = [None; MAX_LAYERS];
        for run in &mut runs {
            if let PixelSource::Layer(i) = run.source {
                let slot = &mut number[usize::from(i)];
                let n = *slot.get_or_insert_with(|| {
                    used.push(layers[usize::from(i)].0);
                    used.len() as u8 - 1
                });
                run.source = PixelSource::Layer(n);
            }
        }
        let cost = TileContent::composed_bytes(used.len(), runs.len(), &new_pixels);
        Some((
            ComposePlan {
                layers: used,
                runs,
                new_pixels,
            },
            cost,
        ))
    }

    /// The composed tile as planned, its layers marked used in order as the near side will.
    fn composed(&mut self, plan: ComposePlan) -> Composed {
        Composed {
            layers: plan.layers.iter().map(|hash| self.touch(hash)).collect(),
            runs: plan.runs,
            new_pixels: plan.new_pixels,
        }
    }

    /// The number of a tile found held a moment ago, marked used.
    fn touch(&mut self, hash: &TileHash) -> u64 {
        self.cache
            .touch(hash)
            .map(|(id, _)| id)
            .expect("a tile just found in the cache")
    }
}

/// How a tile not held goes.
enum Plan {
    New,
    Stitch(StitchPlan),
    Compose(ComposePlan),
}

/// A stitched tile before its held tiles are numbered: spans of rows (`None` for new ones)
/// and the new rows' pixels.
struct StitchPlan {
    spans: Vec<(Option<Found>, usize)>,
    new_rows: Vec<u32>,
}

/// A composed tile before its layers are numbered.
struct ComposePlan {
    layers: Vec<TileHash>,
    runs: Vec<PixelRun>,
    new_pixels: Vec<u32>,
}

/// Where rows of a tile about to be sent were found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// The near side shows them at the tile's place already.
    Shown,
    /// In a held tile, from this row on.
    Held(TileHash, usize),
}

/// Row `row` of a `width`-wide tile's `pixels`.
fn row_slice(pixels: &[u32], width: u16, row: usize) -> &[u32] {
    let width = usize::from(width);
    &pixels[row * width..(row + 1) * width]
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
    if TileContent::runs_bytes(&pixels) < TileContent::plain_bytes(&pixels) {
        TileContent::Runs(pixels)
    } else {
        TileContent::New(pixels)
    }
}

/// The bytes [`smallest_new`] takes before compression, as [`TileContent::pixel_bytes`]
/// counts them.
fn new_cost(pixels: &[u32]) -> usize {
    TileContent::runs_bytes(pixels).min(TileContent::plain_bytes(pixels))
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
    new_tiles: Option<Vec<(TileHash, StoredTile)>>,
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

    pub fn take_new_tiles(&mut self) -> Vec<(TileHash, StoredTile)> {
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

    /// Holds exactly the tiles of `order` (hash, width, height), least recently used first,
    /// as a cache loaded in that order would; false, and nothing changed, if one of them is
    /// not held.
    pub fn reorder(&mut self, order: &[InventoryEntry]) -> bool {
        if !order.iter().all(|(hash, ..)| self.cache.contains(hash)) {
            return false;
        }
        let mut cache = TileCache::new(self.cache.limit());
        for (hash, width, height) in order {
            if let Some(tile) = self.cache.peek(hash) {
                cache.insert(*hash, tile_cost(*width, *height), tile.clone());
            }
        }
        self.cache = cache;
        true
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
            let malformed =
                |what: String| LinkError::malformed("update", format!("tile {index}{what}"));
            match &tile.content {
                TileContent::Fill(colour) => {
                    counts.fills += 1;
                    target.fill(rect, *colour);
                }
                TileContent::Cached(id) => {
                    let Some(tile) = self.cache.touch_id(*id) else {
                        return Err(malformed(" refers to a tile not held".into()));
                    };
                    if (tile.width, tile.height) != (rect.width, rect.height) {
                        return Err(malformed(": cached tile of another size".into()));
                    }
                    counts.cached += 1;
                    target.put(rect, &tile.pixels);
                }
                TileContent::New(pixels) | TileContent::Runs(pixels) => {
                    if pixels.len() != rect.area() {
                        return Err(malformed(format!(": {} pixels for {rect:?}", pixels.len())));
                    }
                    self.hold_new(rect, pixels, target);
                    counts.new += 1;
                }
                TileContent::Stitched(stitched) => {
                    let pixels = self
                        .stitch(rect, stitched, target)
                        .map_err(|error| malformed(format!(": {error}")))?;
                    self.hold_new(rect, &pixels, target);
                    counts.stitched += 1;
                }
                TileContent::Composed(composed) => {
                    let pixels = self
                        .compose(rect, composed, target)
                        .map_err(|error| malformed(format!(": {error}")))?;
                    self.hold_new(rect, &pixels, target);
                    counts.stitched += 1;
                }
            }
        }
        Ok(counts)
    }

    /// Shows the new tile `rect` and holds it from now on.
    fn hold_new(&mut self, rect: Rect, pixels: &[u32], target: &mut impl UpdateTarget) {
        target.put(rect, pixels);
        let hash = TileHash::of(rect.width, rect.height, pixels);
        let tile = StoredTile {
            width: rect.width,
            height: rect.height,
            pixels: pixels.into(),
        };
        if let Some(new_tiles) = &mut self.new_tiles {
            new_tiles.push((hash, tile.clone()));
        }
        self.cache
            .insert(hash, tile_cost(rect.width, rect.height), tile);
    }

    /// The pixels of a composed tile at `rect` of `target`, its layers marked used in order
    /// as the far side marked them.
    fn compose(
        &mut self,
        rect: Rect,
        composed: &Composed,
        target: &impl UpdateTarget,
    ) -> Result<Vec<u32>, String> {
        let mut layers = Vec::with_capacity(composed.layers.len());
        for &id in &composed.layers {
            let Some(tile) = self.cache.touch_id(id) else {
                return Err("a layer not held".into());
            };
            if (tile.width, tile.height) != (rect.width, rect.height) {
                return Err(format!("a {}x{} layer", tile.width, tile.height));
            }
            layers.push(Arc::clone(&tile.pixels));
        }
        let shown = composed
            .runs
            .iter()
            .any(|run| run.source == PixelSource::Shown)
            .then(|| target.read(rect));
        let mut pixels = Vec::with_capacity(rect.area());
        let mut new_pixels = composed.new_pixels.iter();
        for run in &composed.runs {
            let (at, length) = (pixels.len(), usize::from(run.length));
            if at + length > rect.area() {
                return Err(format!("runs past the end of a {rect:?}"));
            }
            let from = match run.source {
                PixelSource::New => {
                    for _ in 0..length {
                        let Some(&pixel) = new_pixels.next() else {
                            return Err("fewer new pixels than its runs name".into());
                        };
                        pixels.push(pixel);
                    }
                    continue;
                }
                PixelSource::Shown => shown.as_deref(),
                PixelSource::Layer(layer) => layers.get(usize::from(layer)).map(|l| &l[..]),
            };
            let Some(from) = from else {
                return Err(format!("a run from {:?}, not given", run.source));
            };
            pixels.extend_from_slice(&from[at..at + length]);
        }
        if pixels.len() != rect.area() || new_pixels.next().is_some() {
            return Err(format!("runs that do not make a {rect:?}"));
        }
        Ok(pixels)
    }

    /// The pixels of a stitched tile at `rect` of `target`, its held tiles marked used in
    /// span order as the far side marked them.
    fn stitch(
        &mut self,
        rect: Rect,
        stitched: &Stitched,
        target: &impl UpdateTarget,
    ) -> Result<Vec<u32>, String> {
        let width = usize::from(rect.width);
        let mut pixels = Vec::with_capacity(rect.area());
        let mut new_rows = stitched.new_rows.chunks_exact(width.max(1));
        for span in &stitched.spans {
            let rows = usize::from(span.rows);
            match span.source {
                RowSource::Shown => {
                    let done = (pixels.len() / width.max(1)) as u16;
                    if usize::from(done) + rows > usize::from(rect.height) {
                        return Err(format!("rows past the end of a {rect:?}"));
                    }
                    let part = Rect::new(rect.x, rect.y + done, rect.width, span.rows);
                    pixels.extend_from_slice(&target.read(part));
                }
                RowSource::Held { id, first_row } => {
                    let Some(tile) = self.cache.touch_id(id) else {
                        return Err("rows of a tile not held".into());
                    };
                    let first = usize::from(first_row);
                    if tile.width != rect.width || first + rows > usize::from(tile.height) {
                        return Err(format!(
                            "rows {first}..{} of a {}x{} tile",
                            first + rows,
                            tile.width,
                            tile.height
                        ));
                    }
                    pixels.extend_from_slice(&tile.pixels[first * width..(first + rows) * width]);
                }
                RowSource::New => {
                    for _ in 0..rows {
                        let Some(row) = new_rows.next() else {
                            return Err("fewer new rows than its spans name".into());
                        };
                        pixels.extend_from_slice(row);
                    }
                }
            }
        }
        if pixels.len() != rect.area() || new_rows.next().is_some() {
            return Err(format!("spans that do not make a {rect:?}"));
        }
        Ok(pixels)
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
    /// The pixels shown in `rect`, which is inside [`UpdateTarget::bounds`].
    fn read(&self, rect: Rect) -> Vec<u32>;
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

    fn read(&self, rect: Rect) -> Vec<u32> {
        self.read_rect(&rect)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::message::{RowSource, RowSpan, Stitched};
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
        let mut sender = TileSender::new(limit, &[], &KnownRows::new());
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
        assert!(matches!(
            smallest_new(checkers.clone()),
            TileContent::New(_)
        ));
        assert!(matches!(smallest_new(noise.clone()), TileContent::New(_)));
        for pixels in [&runs, &checkers, &noise] {
            assert_eq!(new_cost(pixels), smallest_new(pixels.clone()).pixel_bytes());
        }

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

    /// `frame` with its rows moved down by `by` (up when negative), rows that come in
    /// from outside made anew from `seed`.
    fn scrolled(frame: &Framebuffer, by: i32, seed: u32) -> Framebuffer {
        let (width, height) = (frame.width(), frame.height());
        let fresh = picture(width, height, seed);
        let mut out = Framebuffer::new(width, height);
        for y in 0..i32::from(height) {
            let from = y - by;
            let source = if (0..i32::from(height)).contains(&from) {
                frame
            } else {
                &fresh
            };
            let row = Rect::new(0, y as u16, width, 1);
            let from_row = Rect::new(0, from.rem_euclid(i32::from(height)) as u16, width, 1);
            out.put_pixels(&row, &source.read_rect(&from_row));
        }
        out
    }

    /// Sends `frame` whole from `sender` to `receiver` and checks the near side shows it.
    fn send_whole(
        sender: &mut TileSender,
        receiver: &mut TileReceiver,
        near: &mut Framebuffer,
        frame: &Framebuffer,
    ) -> (LinkUpdate, TileCounts) {
        let (tiles, counts) = sender.tiles(frame, &Region::from_rect(frame.bounds()));
        let update = LinkUpdate {
            tiles,
            ..LinkUpdate::default()
        };
        receiver.apply(&update, near).unwrap();
        assert!(*near == *frame, "the near side shows the frame");
        (update, counts)
    }

    #[test]
    fn content_moved_up_or_down_crosses_as_rows_of_held_tiles() {
        use crate::link::message::FarMessage;
        let limit = 64 * 1024 * 1024;
        let mut sender = TileSender::new(limit, &[], &KnownRows::new());
        let mut receiver = TileReceiver::new(limit);
        let mut near = Framebuffer::new(256, 192);
        let first = picture(256, 192, 1);
        send_whole(&mut sender, &mut receiver, &mut near, &first);
        // Scrolled by a part of a tile: every tile is new, made of rows already held but
        // for the 24 rows that came in at the bottom.
        let second = scrolled(&first, -24, 2);
        let (update, counts) = send_whole(&mut sender, &mut receiver, &mut near, &second);
        assert_eq!((counts.stitched, counts.new), (12, 0), "{counts:?}");
        let (_, payload) = FarMessage::Update(update.clone()).encode();
        let whole: usize = update.tiles.iter().map(|tile| tile.rect.area() * 3).sum();
        assert!(
            payload.len() * 4 < whole,
            "{} bytes for {whole} bytes of pixels",
            payload.len()
        );
        // Down again past where it started: the top rows were never sent.
        let third = scrolled(&second, 40, 3);
        let (_, counts) = send_whole(&mut sender, &mut receiver, &mut near, &third);
        assert_eq!(counts.new + counts.stitched, 12, "{counts:?}");

        // A far side started again from the near side's inventory stitches as well when it
        // knows the rows of those tiles, as one that remembers what it sent does.
        receiver.renumber();
        let inventory = receiver.inventory();
        let known: KnownRows = inventory
            .iter()
            .map(|(hash, width, _)| {
                let tile = receiver.cache().peek(hash).unwrap();
                (*hash, row_hashes(*width, &tile.pixels))
            })
            .collect();
        let fourth = scrolled(&third, -8, 4);
        let mut restarted = TileSender::new(limit, &inventory, &known);
        let (_, counts) = send_whole(&mut restarted, &mut receiver, &mut near, &fourth);
        assert_eq!((counts.stitched, counts.new), (12, 0), "{counts:?}");
        // Without the rows it can only send the tiles new.
        receiver.renumber();
        let mut forgetful = TileSender::new(limit, &receiver.inventory(), &KnownRows::new());
        let fifth = scrolled(&fourth, -16, 5);
        let (_, counts) = send_whole(&mut forgetful, &mut receiver, &mut near, &fifth);
        assert_eq!((counts.stitched, counts.new), (0, 12), "{counts:?}");
    }

    /// A near side holding the 64x64 `tile`, shown at the top left of `near`.
    fn holding(tile: &Framebuffer, near: &mut Framebuffer) -> TileReceiver {
        let mut receiver = TileReceiver::new(1 << 20);
        let put = LinkUpdate {
            tiles: vec![TilePlacement {
                rect: Rect::new(0, 0, 64, 64),
                content: TileContent::New(tile.pixels().to_vec()),
            }],
            ..LinkUpdate::default()
        };
        receiver.apply(&put, near).unwrap();
        receiver
    }

    #[test]
    fn stitched_tiles_that_do_not_fit_are_errors() {
        let mut near = Framebuffer::new(64, 64);
        let held = picture(64, 64, 1);
        let mut receiver = holding(&held, &mut near);
        let stitched = |rect: Rect, spans: Vec<RowSpan>, new_rows: Vec<u32>| LinkUpdate {
            tiles: vec![TilePlacement {
                rect,
                content: TileContent::Stitched(Stitched { spans, new_rows }),
            }],
            ..LinkUpdate::default()
        };
        let held_rows = |first_row, rows| RowSpan {
            source: RowSource::Held { id: 0, first_row },
            rows,
        };
        let other_tile = RowSpan {
            source: RowSource::Held {
                id: 9,
                first_row: 0,
            },
            rows: 8,
        };
        let new = |rows| RowSpan {
            source: RowSource::New,
            rows,
        };
        let shown = |rows| RowSpan {
            source: RowSource::Shown,
            rows,
        };
        // Rows 10.. of the held tile, then 8 new rows, then 2 rows as shown.
        let good = stitched(
            Rect::new(0, 0, 64, 64),
            vec![held_rows(10, 54), new(8), shown(2)],
            vec![7; 64 * 8],
        );
        let shown_before = near.read_rect(&Rect::new(0, 62, 64, 2));
        receiver.apply(&good, &mut near).unwrap();
        assert_eq!(
            near.read_rect(&Rect::new(0, 0, 64, 54)),
            held.read_rect(&Rect::new(0, 10, 64, 54))
        );
        assert_eq!(near.read_rect(&Rect::new(0, 54, 64, 8)), vec![7; 64 * 8]);
        assert_eq!(near.read_rect(&Rect::new(0, 62, 64, 2)), shown_before);
        let small = Rect::new(0, 0, 64, 8);
        for (why, update) in [
            ("not held", stitched(small, vec![other_tile], vec![])),
            (
                "past its rows",
                stitched(small, vec![held_rows(60, 8)], vec![]),
            ),
            (
                "another width",
                stitched(Rect::new(0, 0, 32, 8), vec![held_rows(0, 8)], vec![]),
            ),
            (
                "too few rows",
                stitched(small, vec![held_rows(0, 4)], vec![]),
            ),
            (
                "new rows missing",
                stitched(small, vec![new(8)], vec![1; 64]),
            ),
            (
                "new rows over",
                stitched(Rect::new(0, 0, 64, 1), vec![new(1)], vec![1; 128]),
            ),
            (
                "shown past the tile",
                stitched(small, vec![shown(4), shown(5)], vec![]),
            ),
        ] {
            assert!(receiver.apply(&update, &mut near).is_err(), "{why}");
        }
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

    #[test]
    fn the_tiles_kept_for_composing_stay_bounded() {
        let limit = 64 * 1024 * 1024;
        let mut sender = TileSender::new(limit, &[], &KnownRows::new());
        for seed in 1..6 {
            let frame = picture(200, 130, seed);
            sender.tiles(&frame, &Region::from_rect(frame.bounds()));
        }
        // 4 x 3 cells, the last two tiles of each.
        assert_eq!(sender.layers.len(), 12);
        assert!(
            sender
                .layers
                .values()
                .all(|layers| layers.len() == MAX_LAYERS)
        );
        sender.forget_layers();
        assert!(sender.layers.is_empty());
    }

    #[test]
    fn composed_tiles_that_do_not_fit_are_errors() {
        use crate::link::message::{Composed, FarMessage, PixelRun, PixelSource};
        let mut near = Framebuffer::new(128, 64);
        let held = picture(64, 64, 1);
        let mut receiver = holding(&held, &mut near);
        let composed = |rect: Rect, layers: Vec<u64>, runs: &[(PixelSource, u16)], new_pixels| {
            let runs = runs
                .iter()
                .map(|&(source, length)| PixelRun { source, length })
                .collect();
            LinkUpdate {
                tiles: vec![TilePlacement {
                    rect,
                    content: TileContent::Composed(Composed {
                        layers,
                        runs,
                        new_pixels,
                    }),
                }],
                ..LinkUpdate::default()
            }
        };
        let (layer, shown, new) = (PixelSource::Layer(0), PixelSource::Shown, PixelSource::New);
        // At the second cell: the held tile's first 100 pixels, 4 new, the rest as shown.
        let right = Rect::new(64, 0, 64, 64);
        let shown_before = near.read_rect(&right);
        let good = composed(
            right,
            vec![0],
            &[(layer, 100), (new, 4), (shown, 64 * 64 - 104)],
            vec![7; 4],
        );
        receiver.apply(&good, &mut near).unwrap();
        let now = near.read_rect(&right);
        assert_eq!(now[..100], held.pixels()[..100]);
        assert_eq!(now[100..104], [7; 4]);
        assert_eq!(now[104..], shown_before[104..]);

        let small = Rect::new(0, 0, 8, 8);
        for (why, update) in [
            ("not held", composed(small, vec![9], &[(layer, 64)], vec![])),
            (
                "another size",
                composed(small, vec![0], &[(layer, 64)], vec![]),
            ),
            (
                "no such layer",
                composed(small, vec![], &[(layer, 64)], vec![]),
            ),
            (
                "too few pixels",
                composed(small, vec![], &[(shown, 63)], vec![]),
            ),
            (
                "past the tile",
                composed(small, vec![], &[(shown, 60), (shown, 5)], vec![]),
            ),
            (
                "new pixels missing",
                composed(small, vec![], &[(new, 64)], vec![1]),
            ),
            (
                "new pixels over",
                composed(small, vec![], &[(new, 1), (shown, 63)], vec![1, 2]),
            ),
        ] {
            assert!(receiver.apply(&update, &mut near).is_err(), "{why}");
        }

        // On the wire: a run from a layer not named, and too many layers, are refused.
        let (kind, payload) = FarMessage::Update(good).encode();
        assert!(FarMessage::decode(kind, &payload).is_ok());
        let at = payload
            .windows(3)
            .rposition(|w| w == [2, 99, 0])
            .expect("the first run: layer 0, 100 pixels");
        for (offset, error) in [(0, "source 3"), (-2, "3 layers")] {
            let mut bad = payload.clone();
            bad[(at as isize + offset) as usize] = 3;
            let refused = FarMessage::decode(kind, &bad).unwrap_err().to_string();
            assert!(refused.contains(error), "{refused}");
        }
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
            let mut sender = TileSender::new(limit, &[], &KnownRows::new());
            let mut receiver = TileReceiver::new(limit);
            let mut far = Framebuffer::new(150, 100);
            let mut near = Framebuffer::new(150, 100);
            for (sequence, (x, y, width, height, seed)) in changes.into_iter().enumerate() {
                let Some(rect) = Rect::new(x, y, width, height).clip(150, 100) else { continue };
                if seed == 0 {
                    // Scrolled, so that tiles are stitched from rows held (or evicted).
                    far = scrolled(&far, i32::from(y) - 50, u32::from(x));
                } else {
                    let patch = picture(rect.width, rect.height, seed);
                    far.put_pixels(&rect, patch.pixels());
                }
                let changed = if seed == 0 { far.bounds() } else { rect };
                let (tiles, _) = sender.tiles(&far, &Region::from_rect(changed));
                let update = LinkUpdate { sequence: sequence as u64, tiles, ..LinkUpdate::default() };
                receiver.apply(&update, &mut near).unwrap();
                prop_assert!(near == far);
            }
        }
    }
}
