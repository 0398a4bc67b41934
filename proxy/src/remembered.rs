//! The far side's memory of what it sent to each near proxy's disk cache, so that when a
//! near proxy comes back (restarted, or for a new session) its inventory need not cross the
//! link: the far side works out what that cache holds after reloading
//! ([`reloaded_inventory`]) and compares digests with the near side's hello. If they differ
//! (tiles lost in a crash, a cache shared or edited), the near side is asked for the
//! inventory, as without this memory.
//!
//! One file per near cache, named by its identity, in [`RECORDS_DIR`] of the far side's state
//! directory: the inventory the session started from, then every new tile sent, appended
//! as they go: hash, width, height, and the tile's row hashes when known (so that a far side
//! restarted can still stitch tiles from rows the near side holds; a record is 533 bytes,
//! a thirtieth of the tile it stands for). A torn last record is dropped on load.
//! At most [`MAX_REMEMBERED`] files are kept: starting another removes the least recently
//! written, so a near side that comes with a new cache each time cannot fill the disk. The
//! link histories shared with those caches ([`crate::history`], at most 8 MB each) are kept
//! the same way in `near-histories/`.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::warn;

use crate::history::LinkHistory;
use crate::link::message::CACHE_ID_LEN;
use crate::link::tile_cache::{
    InventoryEntry, TILE_HASH_LEN, TILE_SIDE, TileHash, cut_back, reloaded_inventory,
};
use crate::link::tiles::{Arrival, KnownRows};

/// Hash, width, height, how many row hashes are known, then room for a tile's row hashes.
const RECORD_LEN: usize = TILE_HASH_LEN + 4 + 1 + ROWS_LEN;
const ROWS_LEN: usize = 8 * TILE_SIDE as usize;
/// A record file is cut back to what its cache can hold when it has this many times as many
/// records as the cache has room for whole tiles: a record file stays near a fifteenth of
/// its cache's size (17 MB for the default 256 MB).
const COMPACT_FACTOR: usize = 2;
/// Where the records are, in the state directory; named after the row hash they use.
const RECORDS_DIR: &str = "near-caches-2";
/// Records of BLAKE3 row hashes, from before [`crate::link::tile_cache::row_hash`].
const OLD_RECORDS_DIR: &str = "near-caches";
/// The most near caches remembered.
pub const MAX_REMEMBERED: usize = 32;

/// The directory of remembered caches; `None` remembers nothing.
#[derive(Debug, Clone)]
pub struct RememberedCaches {
    dir: Option<PathBuf>,
}

impl RememberedCaches {
    pub fn new(state_dir: Option<&Path>) -> Self {
        Self {
            dir: state_dir.map(|dir| {
                // Records of an older row hash name rows no tile has now.
                let _ = std::fs::remove_dir_all(dir.join(OLD_RECORDS_DIR));
                dir.join(RECORDS_DIR)
            }),
        }
    }

    /// The link's history shared with near cache `id` ([`crate::history`]): kept in
    /// `near-histories/` of the state directory, or in memory without one (or without an
    /// `id`, or when the file cannot be had).
    pub fn history(&self, id: Option<&[u8; CACHE_ID_LEN]>) -> LinkHistory {
        let (Some(id), Some(dir)) = (id, &self.dir) else {
            return LinkHistory::in_memory();
        };
        let dir = dir.with_file_name("near-histories");
        let path = dir.join(hex(id));
        let opened = std::fs::create_dir_all(&dir)
            .and_then(|()| forget_all_but_newest(&dir, &path, MAX_REMEMBERED - 1))
            .and_then(|()| LinkHistory::open(&path));
        opened.unwrap_or_else(|error| {
            warn!(
                "far: the link history {}: {error}; kept in memory",
                path.display()
            );
            LinkHistory::in_memory()
        })
    }

    /// The history written last, of the near cache served last: read, not kept open.
    pub fn latest_history(&self) -> Option<LinkHistory> {
        let dir = self.dir.as_ref()?.with_file_name("near-histories");
        let newest = std::fs::read_dir(dir)
            .ok()?
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let written = entry.metadata().ok()?.modified().ok()?;
                let rewriting = entry.path().extension().is_some_and(|e| e == "tmp");
                (!rewriting).then(|| (written, entry.path()))
            })
            .max()?;
        LinkHistory::read(&newest.1).ok()
    }

    fn path(&self, id: &[u8; CACHE_ID_LEN]) -> Option<PathBuf> {
        Some(self.dir.as_ref()?.join(hex(id)))
    }

    /// What near cache `id`, of `limit` bytes, holds after reloading, if it kept everything
    /// sent to it, and the rows of those tiles as far as known.
    pub fn predicted(
        &self,
        id: &[u8; CACHE_ID_LEN],
        limit: usize,
    ) -> Option<(Vec<InventoryEntry>, KnownRows)> {
        let bytes = std::fs::read(self.path(id)?).ok()?;
        let arrivals: Vec<Arrival> = bytes.chunks_exact(RECORD_LEN).filter_map(parse).collect();
        let entries: Vec<InventoryEntry> = arrivals.iter().map(|(entry, _)| *entry).collect();
        let inventory = reloaded_inventory(&entries, limit);
        let mut known: KnownRows = arrivals
            .into_iter()
            .filter(|(_, rows)| !rows.is_empty())
            .map(|((hash, ..), rows)| (hash, rows))
            .collect();
        let held: std::collections::HashSet<&TileHash> =
            inventory.iter().map(|(hash, ..)| hash).collect();
        known.retain(|hash, _| held.contains(hash));
        Some((inventory, known))
    }

    /// Starts the record of near cache `id` afresh from the inventory a session starts with
    /// and the rows known of its tiles.
    pub fn start(
        &self,
        id: &[u8; CACHE_ID_LEN],
        inventory: &[InventoryEntry],
        known: &KnownRows,
        limit: usize,
    ) -> io::Result<RememberedCache> {
        let Some(path) = self.path(id) else {
            return Err(io::Error::other("no state directory"));
        };
        if let Some(dir) = &self.dir {
            std::fs::create_dir_all(dir)?;
            forget_all_but_newest(dir, &path, MAX_REMEMBERED - 1)?;
        }
        let arrivals: Vec<Arrival> = inventory
            .iter()
            .map(|entry| {
                let rows = known.get(&entry.0).cloned().unwrap_or_else(|| Arc::new([]));
                (*entry, rows)
            })
            .collect();
        let mut cache = RememberedCache {
            writer: rewrite(&path, &arrivals)?,
            path,
            arrivals,
            limit,
        };
        cache.writer.flush()?;
        Ok(cache)
    }
}

/// The record of one near cache during a session.
#[derive(Debug)]
pub struct RememberedCache {
    path: PathBuf,
    writer: BufWriter<File>,
    arrivals: Vec<Arrival>,
    limit: usize,
}

impl RememberedCache {
    /// New tiles sent, in the order sent.
    pub fn append(&mut self, tiles: &[Arrival]) -> io::Result<()> {
        if tiles.is_empty() {
            return Ok(());
        }
        self.arrivals.extend_from_slice(tiles);
        let size = |&((_, width, height), _): &Arrival| (width, height);
        if cut_back(&mut self.arrivals, size, self.limit, COMPACT_FACTOR) {
            self.writer = rewrite(&self.path, &self.arrivals)?;
        } else {
            for tile in tiles {
                write_record(&mut self.writer, tile)?;
            }
        }
        self.writer.flush()
    }
}

fn hex(id: &[u8; CACHE_ID_LEN]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// Removes the records in `dir` other than `keep`, least recently written first, until at
/// most `newest` others are left.
fn forget_all_but_newest(dir: &Path, keep: &Path, newest: usize) -> io::Result<()> {
    let mut records = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        // A record being rewritten (".tmp") belongs to a session still running.
        let rewriting = entry.path().extension().is_some_and(|e| e == "tmp");
        if entry.path() != keep && !rewriting {
            let written = entry.metadata()?.modified()?;
            records.push((written, entry.path()));
        }
    }
    if records.len() > newest {
        records.sort();
        for (_, path) in &records[..records.len() - newest] {
            std::fs::remove_file(path)?;
        }
    }
    Ok(())
}

fn rewrite(path: &Path, arrivals: &[Arrival]) -> io::Result<BufWriter<File>> {
    let temporary = path.with_extension("tmp");
    let mut writer = BufWriter::new(File::create(&temporary)?);
    for tile in arrivals {
        write_record(&mut writer, tile)?;
    }
    writer.flush()?;
    std::fs::rename(&temporary, path)?;
    Ok(BufWriter::new(OpenOptions::new().append(true).open(path)?))
}

fn write_record(
    writer: &mut impl Write,
    ((hash, width, height), rows): &Arrival,
) -> io::Result<()> {
    let mut record = [0; RECORD_LEN];
    record[..TILE_HASH_LEN].copy_from_slice(&hash.0);
    record[TILE_HASH_LEN..TILE_HASH_LEN + 2].copy_from_slice(&width.to_be_bytes());
    record[TILE_HASH_LEN + 2..TILE_HASH_LEN + 4].copy_from_slice(&height.to_be_bytes());
    let rows = &rows[..rows.len().min(usize::from(TILE_SIDE))];
    record[TILE_HASH_LEN + 4] = rows.len() as u8;
    for (slot, row) in record[TILE_HASH_LEN + 5..].chunks_exact_mut(8).zip(rows) {
        slot.copy_from_slice(&row.to_le_bytes());
    }
    writer.write_all(&record)
}

fn parse(record: &[u8]) -> Option<Arrival> {
    let hash = TileHash(record[..TILE_HASH_LEN].try_into().ok()?);
    let width = u16::from_be_bytes([record[TILE_HASH_LEN], record[TILE_HASH_LEN + 1]]);
    let height = u16::from_be_bytes([record[TILE_HASH_LEN + 2], record[TILE_HASH_LEN + 3]]);
    let known = usize::from(record[TILE_HASH_LEN + 4]);
    if width > TILE_SIDE || height > TILE_SIDE || (known != 0 && known != usize::from(height)) {
        return None;
    }
    let rows = record[TILE_HASH_LEN + 5..]
        .chunks_exact(8)
        .take(known)
        .map(|bytes| u64::from_le_bytes(bytes.try_into().expect("eight bytes")))
        .collect();
    Some(((hash, width, height), rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk_cache::{DiskCache, WrittenOrder};
    use crate::link::tile_cache::{row_hashes, tile_cost};
    use crate::link::tiles::{StoredTile, TileReceiver};

    fn tile(seed: u32) -> StoredTile {
        StoredTile {
            width: 64,
            height: 64,
            pixels: (0..64 * 64)
                .map(|i| i ^ seed.wrapping_mul(2_654_435_761))
                .collect(),
        }
    }

    fn entry(tile: &StoredTile) -> InventoryEntry {
        (
            TileHash::of(tile.width, tile.height, &tile.pixels),
            tile.width,
            tile.height,
        )
    }

    fn arrival(tile: &StoredTile) -> Arrival {
        (entry(tile), row_hashes(tile.width, &tile.pixels))
    }

    /// The inventory `remembered` predicts for `id`, without the rows.
    fn predicted(
        remembered: &RememberedCaches,
        id: &[u8; CACHE_ID_LEN],
        limit: usize,
    ) -> Option<Vec<InventoryEntry>> {
        remembered
            .predicted(id, limit)
            .map(|(inventory, _)| inventory)
    }

    /// An empty directory of this test's own.
    fn fresh_dir(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("farview-remembered-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    /// The near side's inventory after a restart, as `near::run` makes it.
    fn near_inventory(dir: &Path, limit: usize) -> Vec<InventoryEntry> {
        let (_, tiles) = DiskCache::open(dir, limit).unwrap();
        let mut receiver = TileReceiver::new(limit);
        for tile in tiles {
            receiver.preload(tile);
        }
        receiver.inventory()
    }

    #[test]
    fn the_far_side_predicts_the_inventory_of_a_restarted_near_side() {
        let base = fresh_dir("restart");
        let (near_dir, far_dir) = (base.join("near"), base.join("far"));
        let limit = 5 * tile_cost(64, 64);
        let remembered = RememberedCaches::new(Some(&far_dir));
        let (mut disk, _) = DiskCache::open(&near_dir, limit).unwrap();
        let id = disk.id();
        assert!(remembered.predicted(&id, limit).is_none(), "never seen");
        // Two sessions: 1 comes again after being evicted, 0 and 2 no longer fit.
        let (mut inventory, mut known) = (Vec::new(), KnownRows::new());
        for session in [vec![0, 1, 2, 3], vec![4, 5, 1, 6]] {
            let mut record = remembered.start(&id, &inventory, &known, limit).unwrap();
            for seed in session {
                disk.append(&[tile(seed)]).unwrap();
                record.append(&[arrival(&tile(seed))]).unwrap();
            }
            drop(record);
            inventory = near_inventory(&near_dir, limit);
            let (predicted, rows) = remembered.predicted(&id, limit).unwrap();
            assert_eq!(predicted, inventory);
            known = rows;
        }
        let expected: Vec<_> = [3, 4, 5, 1, 6].iter().map(|&s| entry(&tile(s))).collect();
        assert_eq!(inventory, expected);
        // The rows of every tile held are remembered, across the restart of the record too.
        for seed in [3, 4, 5, 1, 6] {
            let (hash, ..) = entry(&tile(seed));
            assert_eq!(
                known.get(&hash),
                Some(&arrival(&tile(seed)).1),
                "tile {seed}"
            );
        }
        assert_eq!(known.len(), 5, "only the rows of tiles held");
        // A tile the near side lost (a crash before it was written) shows in the digest.
        let mut record = remembered.start(&id, &inventory, &known, limit).unwrap();
        record.append(&[arrival(&tile(7))]).unwrap();
        assert_ne!(
            predicted(&remembered, &id, limit),
            Some(near_inventory(&near_dir, limit))
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_near_side_that_runs_on_starts_a_new_session_as_a_restart_would() {
        let dir = fresh_dir("runs-on");
        let limit = 3 * tile_cost(64, 64);
        let (mut disk, _) = DiskCache::open(&dir, limit).unwrap();
        let mut written = WrittenOrder::new(Vec::new(), limit);
        let mut receiver = TileReceiver::new(limit);
        for seed in [0, 1, 2, 3, 4, 1] {
            disk.append(&[tile(seed)]).unwrap();
            written.push([entry(&tile(seed))]);
        }
        // The tiles in memory were used in another order since.
        for seed in [4, 1, 3] {
            receiver.preload(tile(seed));
        }
        let reloaded = written.reloaded();
        assert_eq!(
            reloaded,
            near_inventory(&dir, limit),
            "what a restart loads"
        );
        assert_ne!(receiver.inventory(), reloaded);
        assert!(receiver.reorder(&reloaded));
        assert_eq!(receiver.inventory(), reloaded);
        // A tile it does not hold cannot be put in order: nothing changes.
        assert!(!receiver.reorder(&[entry(&tile(9))]));
        assert_eq!(receiver.inventory(), reloaded);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_the_most_recent_caches_are_remembered() {
        let dir = fresh_dir("many");
        let limit = 3 * tile_cost(64, 64);
        let remembered = RememberedCaches::new(Some(&dir));
        let ids: Vec<[u8; CACHE_ID_LEN]> = (0..MAX_REMEMBERED as u8 + 3)
            .map(|i| [i; CACHE_ID_LEN])
            .collect();
        for id in &ids {
            remembered
                .start(id, &[entry(&tile(1))], &KnownRows::new(), limit)
                .unwrap();
            // Modification times are coarse on some file systems.
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(
            std::fs::read_dir(dir.join(RECORDS_DIR)).unwrap().count(),
            MAX_REMEMBERED,
            "bounded"
        );
        assert!(
            remembered.predicted(&ids[2], limit).is_none(),
            "oldest forgotten"
        );
        assert!(remembered.predicted(&ids[3], limit).is_some());
        assert!(remembered.predicted(ids.last().unwrap(), limit).is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_long_session_keeps_the_record_bounded() {
        let dir = fresh_dir("long");
        let limit = 3 * tile_cost(64, 64);
        let remembered = RememberedCaches::new(Some(&dir));
        let id = [7; CACHE_ID_LEN];
        let mut record = remembered
            .start(&id, &[], &KnownRows::new(), limit)
            .unwrap();
        let arrivals: Vec<_> = (0..100).map(|s| arrival(&tile(s))).collect();
        for arrival in &arrivals {
            record.append(std::slice::from_ref(arrival)).unwrap();
        }
        let entries: Vec<_> = arrivals.iter().map(|(entry, _)| *entry).collect();
        let size = std::fs::metadata(remembered.path(&id).unwrap())
            .unwrap()
            .len() as usize;
        assert!(
            size <= (COMPACT_FACTOR * 4 + 1) * RECORD_LEN,
            "{size} bytes"
        );
        assert_eq!(
            predicted(&remembered, &id, limit),
            Some(entries[97..].to_vec())
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
