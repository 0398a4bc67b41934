//! The tile cache both ends of the link keep. The desktop is cut into tiles of
//! [`TILE_SIDE`] pixels; a tile is named by a hash of its size and pixels. The far side sends a
//! tile's pixels only when the near side does not hold it, and otherwise just its hash.
//!
//! Nothing is said about what either end evicts: both apply the same operations in the same
//! order (each tile an update names is looked up, or inserted when new, in the order the
//! update names them; the tiles a stitched tile takes rows from are looked up before it is
//! inserted) to caches of the same byte limit, so they evict the same tiles. The far side
//! keeps only the hashes and each tile's [`RowHashes`], the near side the pixels.

use std::collections::{BTreeMap, HashMap};

/// The side of a tile, in pixels; tiles at the right and bottom edges are smaller.
pub const TILE_SIDE: u16 = 64;
/// Bytes a hash takes on the link.
pub const TILE_HASH_LEN: usize = 16;

/// A tile's name: the first 128 bits of BLAKE3 over its size and pixels. A keyed-free
/// cryptographic hash, so that a server cannot make its tile stand for another server's in a
/// shared persistent cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileHash(pub [u8; TILE_HASH_LEN]);

impl TileHash {
    /// The hash of a `width` x `height` tile whose pixels are `pixels`, row-major.
    pub fn of(width: u16, height: u16, pixels: &[u32]) -> TileHash {
        // One update of all the bytes, not one a pixel: BLAKE3 then hashes whole chunks
        // side by side (SIMD), several times faster, to the same value.
        let mut bytes = Vec::with_capacity(4 + pixels.len() * 4);
        bytes.extend_from_slice(&width.to_be_bytes());
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend(pixels.iter().flat_map(|pixel| pixel.to_le_bytes()));
        let mut hasher = blake3::Hasher::new();
        hasher.update(&bytes);
        let mut hash = [0; TILE_HASH_LEN];
        hash.copy_from_slice(&hasher.finalize().as_bytes()[..TILE_HASH_LEN]);
        TileHash(hash)
    }
}

/// A hash of each row of a tile, top to bottom ([`row_hash`]): how the far side finds
/// content that moved up or down by whole rows in the tiles it sent before. Empty when
/// unknown.
pub type RowHashes = std::sync::Arc<[u64]>;

/// The [`RowHashes`] of a `width`-wide tile whose pixels are `pixels`, row-major.
pub fn row_hashes(width: u16, pixels: &[u32]) -> RowHashes {
    pixels
        .chunks_exact(usize::from(width.max(1)))
        .map(|row| row_hash(width, row))
        .collect()
}

/// Multipliers of the row hash: odd, with bits spread evenly.
const ROW_PRIMES: [u64; 4] = [
    0x9e37_79b1_85eb_ca87,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0x85eb_ca77_c2b2_ae63,
];

/// A 64-bit hash of a row of `width` pixels: pairs of pixels taken as 64-bit words into
/// four lanes of multiply, add and rotate (so that a row's words go in parallel), then
/// folded and mixed. Not cryptographic, and it need not be: the far side's index holds
/// only rows of tiles it sent itself, so a server that crafted two equal hashes could put
/// its own content in place of its own content; by chance, two rows share a hash once in
/// 2^64. A tenth of BLAKE3's time on a tile's rows (the far side's largest cost at 4K).
pub fn row_hash(width: u16, row: &[u32]) -> u64 {
    let round = |lane: u64, word: u64| {
        lane.wrapping_add(word.wrapping_mul(ROW_PRIMES[1]))
            .rotate_left(31)
            .wrapping_mul(ROW_PRIMES[0])
    };
    let seed = u64::from(width).wrapping_mul(ROW_PRIMES[2]);
    let mut lanes = [
        seed.wrapping_add(ROW_PRIMES[0]).wrapping_add(ROW_PRIMES[1]),
        seed.wrapping_add(ROW_PRIMES[1]),
        seed,
        seed.wrapping_sub(ROW_PRIMES[0]),
    ];
    let word = |pair: &[u32]| u64::from(pair[0]) | u64::from(pair[1]) << 32;
    let mut quads = row.chunks_exact(8);
    for quad in &mut quads {
        for (lane, pair) in lanes.iter_mut().zip(quad.chunks_exact(2)) {
            *lane = round(*lane, word(pair));
        }
    }
    let mut hash = lanes[0]
        .rotate_left(1)
        .wrapping_add(lanes[1].rotate_left(7))
        .wrapping_add(lanes[2].rotate_left(12))
        .wrapping_add(lanes[3].rotate_left(18))
        ^ (row.len() as u64);
    let rest = quads.remainder();
    let mut pairs = rest.chunks_exact(2);
    for pair in &mut pairs {
        hash = round(hash, word(pair)).rotate_left(27);
    }
    if let [last] = pairs.remainder() {
        hash = round(hash, u64::from(*last)).rotate_left(23);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(ROW_PRIMES[1]);
    hash ^= hash >> 29;
    hash = hash.wrapping_mul(ROW_PRIMES[2]);
    hash ^ (hash >> 32)
}

/// What a tile counts against the cache's limit: its pixels at 4 bytes each.
pub fn tile_cost(width: u16, height: u16) -> usize {
    usize::from(width) * usize::from(height) * 4
}

/// A tile as an inventory lists it: hash, width, height.
pub type InventoryEntry = (TileHash, u16, u16);

/// How many of the oldest of `costs` (oldest first) must go so that the rest fit in `limit`:
/// a cache rebuilt from a list of arrivals keeps only the newest that fit.
pub fn oldest_beyond_limit(costs: &[usize], limit: usize) -> usize {
    let mut kept = 0;
    let mut first_kept = costs.len();
    while first_kept > 0 && kept + costs[first_kept - 1] <= limit {
        kept += costs[first_kept - 1];
        first_kept -= 1;
    }
    first_kept
}

/// Cuts a list of arrivals (oldest first) back to the newest that fit in `limit` once it
/// holds more than `factor` times as many as `limit` has room for whole tiles: what
/// reloading keeps is the same from those as from all. `size` gives an arrival's width and
/// height. True if it cut.
pub fn cut_back<T>(
    arrivals: &mut Vec<T>,
    size: impl Fn(&T) -> (u16, u16),
    limit: usize,
    factor: usize,
) -> bool {
    let room = limit / tile_cost(TILE_SIDE, TILE_SIDE) + 1;
    if arrivals.len() <= factor * room {
        return false;
    }
    let costs: Vec<usize> = arrivals
        .iter()
        .map(|arrival| {
            let (width, height) = size(arrival);
            tile_cost(width, height)
        })
        .collect();
    arrivals.drain(..oldest_beyond_limit(&costs, limit));
    true
}

/// The inventory of a cache of `limit` bytes rebuilt from the tiles that arrived in it,
/// oldest first, as the near side rebuilds its disk cache: the newest that fit, inserted in
/// order. The far side works out the same from what it sent, so the inventory need not cross.
pub fn reloaded_inventory(arrivals: &[InventoryEntry], limit: usize) -> Vec<InventoryEntry> {
    let costs: Vec<usize> = arrivals.iter().map(|&(_, w, h)| tile_cost(w, h)).collect();
    let mut cache = TileCache::new(limit);
    for &(hash, width, height) in &arrivals[oldest_beyond_limit(&costs, limit)..] {
        cache.insert(hash, tile_cost(width, height), (width, height));
    }
    cache
        .hashes_by_use()
        .filter_map(|hash| cache.peek(hash).map(|&(w, h)| (*hash, w, h)))
        .collect()
}

/// A digest of an inventory, order included: equal digests, equal inventories.
pub fn inventory_digest(inventory: &[InventoryEntry]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new();
    for (hash, width, height) in inventory {
        hasher.update(&hash.0);
        hasher.update(&width.to_be_bytes());
        hasher.update(&height.to_be_bytes());
    }
    *hasher.finalize().as_bytes()
}

/// A tile's number in a cache: both ends give the same tile the same number.
pub type TileId = u64;

#[derive(Debug)]
struct Entry<T> {
    id: TileId,
    last_used: u64,
    cost: usize,
    value: T,
}

/// Tiles held, evicted least recently used first to stay within a byte limit.
#[derive(Debug)]
pub struct TileCache<T> {
    entries: HashMap<TileHash, Entry<T>>,
    by_use: BTreeMap<u64, TileHash>,
    by_id: HashMap<TileId, TileHash>,
    next_id: TileId,
    clock: u64,
    bytes: usize,
    limit: usize,
}

impl<T> TileCache<T> {
    pub fn new(limit: usize) -> Self {
        Self {
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            by_id: HashMap::new(),
            next_id: 0,
            clock: 0,
            bytes: 0,
            limit,
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn contains(&self, hash: &TileHash) -> bool {
        self.entries.contains_key(hash)
    }

    /// Looks a tile up and marks it as just used; returns its number too.
    pub fn touch(&mut self, hash: &TileHash) -> Option<(TileId, &T)> {
        let entry = self.entries.get_mut(hash)?;
        self.by_use.remove(&entry.last_used);
        self.clock += 1;
        entry.last_used = self.clock;
        self.by_use.insert(self.clock, *hash);
        Some((entry.id, &entry.value))
    }

    /// Looks a tile up by its number and marks it as just used.
    pub fn touch_id(&mut self, id: TileId) -> Option<&T> {
        let hash = *self.by_id.get(&id)?;
        self.touch(&hash).map(|(_, value)| value)
    }

    /// Numbers the tiles afresh, least recently used first, as a cache built from the
    /// inventory ([`TileCache::hashes_by_use`]) numbers them.
    pub fn renumber(&mut self) {
        self.by_id.clear();
        self.next_id = 0;
        for hash in self.by_use.values() {
            if let Some(entry) = self.entries.get_mut(hash) {
                entry.id = self.next_id;
                self.by_id.insert(self.next_id, *hash);
                self.next_id += 1;
            }
        }
    }

    /// Adds a tile as just used, evicting the least recently used ones to make room. A tile
    /// already held is only touched; one larger than the whole cache is not kept (false).
    pub fn insert(&mut self, hash: TileHash, cost: usize, value: T) -> bool {
        if self.touch(&hash).is_some() {
            return true;
        }
        if cost > self.limit {
            return false;
        }
        while self.bytes + cost > self.limit {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            if let Some(evicted) = self.entries.remove(&oldest) {
                self.bytes -= evicted.cost;
                self.by_id.remove(&evicted.id);
            }
        }
        self.clock += 1;
        self.by_use.insert(self.clock, hash);
        let id = self.next_id;
        self.next_id += 1;
        self.by_id.insert(id, hash);
        self.entries.insert(
            hash,
            Entry {
                id,
                last_used: self.clock,
                cost,
                value,
            },
        );
        self.bytes += cost;
        true
    }

    /// The hashes held, least recently used first: inserted in this order into an empty
    /// cache of the same limit, they give a cache that evicts the same way.
    pub fn hashes_by_use(&self) -> impl Iterator<Item = &TileHash> {
        self.by_use.values()
    }

    /// A tile held, without marking it used.
    pub fn peek(&self, hash: &TileHash) -> Option<&T> {
        self.entries.get(hash).map(|entry| &entry.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hash(n: u8) -> TileHash {
        TileHash([n; TILE_HASH_LEN])
    }

    #[test]
    fn the_least_recently_used_tile_goes_first() {
        let mut cache = TileCache::new(3 * 100);
        for n in 0..3 {
            cache.insert(hash(n), 100, n);
        }
        cache.touch(&hash(0));
        cache.insert(hash(3), 100, 3);
        assert!(!cache.contains(&hash(1)), "1 was the least recently used");
        assert!(cache.contains(&hash(0)) && cache.contains(&hash(2)) && cache.contains(&hash(3)));
        assert_eq!(cache.bytes(), 300);
    }

    #[test]
    fn a_reloaded_inventory_keeps_the_newest_that_fit_once_each() {
        let entry = |n: u8| (hash(n), 64, 64);
        let limit = 3 * tile_cost(64, 64);
        // 1 arrived twice (evicted, then sent again); 0 no longer fits.
        let arrivals = [entry(0), entry(1), entry(2), entry(1), entry(3)];
        assert_eq!(
            reloaded_inventory(&arrivals, limit),
            [entry(2), entry(1), entry(3)]
        );
        assert_ne!(
            inventory_digest(&[entry(1), entry(2)]),
            inventory_digest(&[entry(2), entry(1)]),
            "the order counts"
        );
    }

    #[test]
    fn a_tile_larger_than_the_cache_is_not_kept() {
        let mut cache = TileCache::new(100);
        cache.insert(hash(0), 60, ());
        assert!(!cache.insert(hash(1), 101, ()));
        assert!(cache.contains(&hash(0)), "nothing was evicted for it");
    }

    #[test]
    fn hashes_depend_on_size_and_every_pixel() {
        let pixels = vec![0x00ff_0000; 64];
        let base = TileHash::of(8, 8, &pixels);
        assert_ne!(base, TileHash::of(16, 4, &pixels));
        let mut changed = pixels.clone();
        changed[63] = 0x00ff_0001;
        assert_ne!(base, TileHash::of(8, 8, &changed));
        assert_eq!(base, TileHash::of(8, 8, &pixels));
    }

    #[test]
    fn hashes_stay_what_caches_on_disk_were_named_with() {
        let pixels: Vec<u32> = (0..64 * 64u32)
            .map(|i| i.wrapping_mul(2_654_435_761))
            .collect();
        let hex: String = TileHash::of(64, 64, &pixels)
            .0
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(hex, "906d3359a8d4033b23c89e0fa7c5d7fb");
        // Row hashes are kept on disk too (the far side's remembered records, whose
        // directory's name changes with them).
        let rows = row_hashes(64, &pixels);
        assert_eq!(
            (rows.len(), rows[0], rows[63]),
            (64, 11_193_234_404_845_974_882, 7_545_989_008_991_514_438)
        );
    }

    #[test]
    fn a_row_hash_depends_on_the_width_and_every_pixel() {
        let mut seen = std::collections::HashSet::new();
        let mut distinct = 0;
        for len in 1..=64usize {
            let row: Vec<u32> = (0..len as u32)
                .map(|i| i.wrapping_mul(0x0101_0101))
                .collect();
            let base = row_hash(len as u16, &row);
            assert_ne!(base, row_hash(len as u16 + 1, &row), "width {len}");
            for at in 0..len {
                for flip in [1, 1 << 8, 1 << 23, 1 << 31] {
                    let mut changed = row.clone();
                    changed[at] ^= flip;
                    let hash = row_hash(len as u16, &changed);
                    assert_ne!(base, hash, "{len} pixels, pixel {at} ^ {flip:#x}");
                    distinct += 1;
                    seen.insert(hash);
                }
            }
        }
        assert_eq!(seen.len(), distinct, "no two of these rows share a hash");
    }

    proptest! {
        /// The far side's hash-only cache and the near side's full one, fed the same
        /// lookups and inserts, hold the same tiles; and a cache rebuilt from the near
        /// side's inventory keeps agreeing with it afterwards.
        #[test]
        fn two_ends_fed_the_same_operations_agree(
            operations in proptest::collection::vec((0u8..40, 1usize..5, any::<bool>()), 0..300),
            limit in 1usize..20,
        ) {
            let mut far: TileCache<()> = TileCache::new(limit * 10);
            let mut near: TileCache<Vec<u8>> = TileCache::new(limit * 10);
            let mut rebuilt: Option<TileCache<()>> = None;
            for (index, (n, cost, lookup_first)) in operations.into_iter().enumerate() {
                let cost = cost * 10;
                if index == 150 {
                    let mut copy = TileCache::new(limit * 10);
                    for hash in near.hashes_by_use() {
                        copy.insert(*hash, near.entries[hash].cost, ());
                    }
                    rebuilt = Some(copy);
                    // A new link session: both ends number from the inventory.
                    near.renumber();
                    far.renumber();
                }
                let caches: Vec<&mut TileCache<()>> =
                    std::iter::once(&mut far).chain(rebuilt.as_mut()).collect();
                let mut held = Vec::new();
                for cache in caches {
                    held.push(lookup_first && cache.touch(&hash(n)).is_some()
                        || cache.insert(hash(n), cost, ()));
                }
                let near_held = lookup_first && near.touch(&hash(n)).is_some()
                    || near.insert(hash(n), cost, vec![n]);
                prop_assert!(held.iter().all(|&h| h == near_held));
                let near_hashes: Vec<_> = near.hashes_by_use().collect();
                prop_assert_eq!(far.hashes_by_use().collect::<Vec<_>>(), near_hashes.clone());
                for hash in &near_hashes {
                    prop_assert_eq!(far.entries[*hash].id, near.entries[*hash].id);
                }
                if let Some(copy) = &rebuilt {
                    prop_assert_eq!(copy.hashes_by_use().collect::<Vec<_>>(), near_hashes.clone());
                    for hash in &near_hashes {
                        prop_assert_eq!(copy.entries[*hash].id, near.entries[*hash].id);
                    }
                }
            }
        }
    }
}
