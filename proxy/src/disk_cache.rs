//! The near side's tile cache on disk (`--cache-dir`), so that a restarted near proxy, or a
//! new session, starts warm: the far side is told at link start what it holds and sends
//! references instead of pixels.
//!
//! One append-only file: a header, then one record per tile as it arrives (width, height,
//! length, the pixels compressed with zstd). Appending as tiles come keeps it safe against a
//! kill at any moment: a torn last record is dropped on load. Loading gives the tiles oldest
//! first, which is the order the cache is rebuilt in; when the file has grown well past what
//! the cache keeps, it is rewritten with just those.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::link::message::CACHE_ID_LEN;
use crate::link::tile_cache::{
    InventoryEntry, TILE_SIDE, cut_back, oldest_beyond_limit, reloaded_inventory, tile_cost,
};
use crate::link::tiles::StoredTile;

const MAGIC: &[u8; 8] = b"FVTILES1";
const FILE_NAME: &str = "tiles.bin";
/// The cache's identity, made when the cache is: the far side remembers what it sent to it.
const ID_FILE_NAME: &str = "cache-id";
/// The file is rewritten when it holds more than this many times the cache's limit.
const COMPACT_FACTOR: u64 = 2;
/// zstd's level for tiles on disk: quick, since it runs as tiles arrive.
const DISK_LEVEL: i32 = 1;

pub struct DiskCache {
    path: PathBuf,
    id: [u8; CACHE_ID_LEN],
    writer: BufWriter<File>,
    /// Kept from tile to tile: making a zstd context for each tile cost more than
    /// compressing it.
    compressor: zstd::bulk::Compressor<'static>,
}

impl std::fmt::Debug for DiskCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskCache")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DiskCache {
    /// Opens (or creates) the cache in `dir` and returns the tiles it holds, oldest first,
    /// at most `limit` bytes of them.
    pub fn open(dir: &Path, limit: usize) -> io::Result<(DiskCache, Vec<StoredTile>)> {
        std::fs::create_dir_all(dir)?;
        let id = read_or_make_id(&dir.join(ID_FILE_NAME))?;
        let path = dir.join(FILE_NAME);
        let (mut tiles, file_bytes) = match File::open(&path) {
            Ok(file) => read_tiles(file)?,
            Err(error) if error.kind() == io::ErrorKind::NotFound => (Vec::new(), 0),
            Err(error) => return Err(error),
        };
        // Only the newest tiles fit; older ones would be evicted at once.
        let costs: Vec<usize> = tiles.iter().map(|t| tile_cost(t.width, t.height)).collect();
        tiles.drain(..oldest_beyond_limit(&costs, limit));
        let mut compressor = zstd::bulk::Compressor::new(DISK_LEVEL)?;
        let writer = if file_bytes == 0 || file_bytes > COMPACT_FACTOR * limit as u64 {
            rewrite(&path, &tiles, &mut compressor)?
        } else {
            BufWriter::new(OpenOptions::new().append(true).open(&path)?)
        };
        let cache = DiskCache {
            path,
            id,
            writer,
            compressor,
        };
        Ok((cache, tiles))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn id(&self) -> [u8; CACHE_ID_LEN] {
        self.id
    }

    /// Appends tiles; they are on disk once this returns.
    pub fn append(&mut self, tiles: &[StoredTile]) -> io::Result<()> {
        for tile in tiles {
            write_record(&mut self.writer, &mut self.compressor, tile)?;
        }
        self.writer.flush()
    }
}

/// The tiles a restart would load from the disk cache, kept as they are sent to it (hash,
/// width, height, in the order written, cut back as the file is). A near proxy that runs on
/// into a new link session starts it from this order: the far side predicts the same one
/// from its record of what it sent, so the inventory need not cross.
#[derive(Debug)]
pub struct WrittenOrder {
    entries: Vec<InventoryEntry>,
    limit: usize,
}

impl WrittenOrder {
    /// The order of a cache of `limit` bytes just loaded with `loaded`, oldest first.
    pub fn new(loaded: Vec<InventoryEntry>, limit: usize) -> Self {
        Self {
            entries: loaded,
            limit,
        }
    }

    /// Tiles written after the others, in order.
    pub fn push(&mut self, written: impl IntoIterator<Item = InventoryEntry>) {
        self.entries.extend(written);
        cut_back(
            &mut self.entries,
            |&(_, width, height)| (width, height),
            self.limit,
            COMPACT_FACTOR as usize,
        );
    }

    /// What a cache loaded from the disk now holds, least recently used first.
    pub fn reloaded(&self) -> Vec<InventoryEntry> {
        reloaded_inventory(&self.entries, self.limit)
    }
}

/// The identity in `path`, or a new random one written there. An unreadable one is replaced:
/// the far side then just asks for the inventory once.
fn read_or_make_id(path: &Path) -> io::Result<[u8; CACHE_ID_LEN]> {
    if let Ok(bytes) = std::fs::read(path)
        && let Ok(id) = <[u8; CACHE_ID_LEN]>::try_from(bytes.as_slice())
    {
        return Ok(id);
    }
    let mut id = [0u8; CACHE_ID_LEN];
    getrandom::fill(&mut id).map_err(|error| io::Error::other(error.to_string()))?;
    std::fs::write(path, id)?;
    Ok(id)
}

fn rewrite(
    path: &Path,
    tiles: &[StoredTile],
    compressor: &mut zstd::bulk::Compressor<'static>,
) -> io::Result<BufWriter<File>> {
    let temporary = path.with_extension("tmp");
    let mut writer = BufWriter::new(File::create(&temporary)?);
    writer.write_all(MAGIC)?;
    for tile in tiles {
        write_record(&mut writer, compressor, tile)?;
    }
    writer.flush()?;
    std::fs::rename(&temporary, path)?;
    Ok(BufWriter::new(OpenOptions::new().append(true).open(path)?))
}

fn write_record(
    writer: &mut impl Write,
    compressor: &mut zstd::bulk::Compressor<'static>,
    tile: &StoredTile,
) -> io::Result<()> {
    let bytes: Vec<u8> = tile.pixels.iter().flat_map(|p| p.to_le_bytes()).collect();
    let compressed = compressor.compress(&bytes)?;
    writer.write_all(&tile.width.to_be_bytes())?;
    writer.write_all(&tile.height.to_be_bytes())?;
    writer.write_all(&(compressed.len() as u32).to_be_bytes())?;
    writer.write_all(&compressed)
}

/// The tiles of a cache file, and the file's size. A bad header is an error (not our file);
/// a damaged or torn record ends the reading there.
fn read_tiles(file: File) -> io::Result<(Vec<StoredTile>, u64)> {
    let size = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let mut magic = [0u8; 8];
    if reader.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "not a farview tile cache (bad header)",
        ));
    }
    let mut decompressor = zstd::bulk::Decompressor::new()?;
    let mut tiles = Vec::new();
    while let Some(tile) = read_record(&mut reader, &mut decompressor) {
        tiles.push(tile);
    }
    Ok((tiles, size))
}

fn read_record(
    reader: &mut impl Read,
    decompressor: &mut zstd::bulk::Decompressor<'static>,
) -> Option<StoredTile> {
    let mut header = [0u8; 8];
    reader.read_exact(&mut header).ok()?;
    let width = u16::from_be_bytes([header[0], header[1]]);
    let height = u16::from_be_bytes([header[2], header[3]]);
    let length = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    let expected = tile_cost(width, height);
    if width == 0 || height == 0 || width > TILE_SIDE || height > TILE_SIDE {
        return None;
    }
    // zstd never needs much more than the plain size.
    if length > expected + 1024 {
        return None;
    }
    let mut compressed = vec![0u8; length];
    reader.read_exact(&mut compressed).ok()?;
    let bytes = decompressor.decompress(&compressed, expected).ok()?;
    if bytes.len() != expected {
        return None;
    }
    let pixels: Arc<[u32]> = bytes
        .chunks_exact(4)
        .map(|p| u32::from_le_bytes([p[0], p[1], p[2], p[3]]))
        .collect();
    Some(StoredTile {
        width,
        height,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(seed: u32) -> StoredTile {
        StoredTile {
            width: 64,
            height: 32,
            pixels: (0..64 * 32).map(|i| i * seed).collect(),
        }
    }

    fn temporary_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("farview-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn tiles_come_back_oldest_first_and_a_torn_record_is_dropped() {
        let dir = temporary_dir("disk-cache");
        let limit = 1 << 20;
        let (mut cache, loaded) = DiskCache::open(&dir, limit).unwrap();
        assert!(loaded.is_empty());
        cache.append(&[tile(1), tile(2), tile(3)]).unwrap();
        let id = cache.id();
        drop(cache);
        // A kill in the middle of a write leaves half a record.
        let path = dir.join(FILE_NAME);
        let mut file = OpenOptions::new().append(true).open(&path).unwrap();
        file.write_all(&[0, 64, 0, 32, 0, 0]).unwrap();
        drop(file);
        let (cache, loaded) = DiskCache::open(&dir, limit).unwrap();
        let seeds: Vec<u32> = loaded.iter().map(|t| t.pixels[1]).collect();
        assert_eq!(seeds, [1, 2, 3]);
        assert_eq!(cache.id(), id, "the cache keeps its identity");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_the_newest_tiles_that_fit_are_kept_and_the_file_shrinks() {
        let dir = temporary_dir("disk-cache-limit");
        let limit = 2 * tile_cost(64, 32);
        let (mut cache, _) = DiskCache::open(&dir, limit).unwrap();
        for seed in 1..=10 {
            cache.append(&[tile(seed)]).unwrap();
        }
        drop(cache);
        let before = std::fs::metadata(dir.join(FILE_NAME)).unwrap().len();
        let (_, loaded) = DiskCache::open(&dir, limit).unwrap();
        let seeds: Vec<u32> = loaded.iter().map(|t| t.pixels[1]).collect();
        assert_eq!(seeds, [9, 10]);
        let after = std::fs::metadata(dir.join(FILE_NAME)).unwrap().len();
        assert!(after < before, "rewritten: {before} -> {after} bytes");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_that_is_not_a_cache_is_refused() {
        let dir = temporary_dir("disk-cache-foreign");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(FILE_NAME), b"something else").unwrap();
        assert!(DiskCache::open(&dir, 1 << 20).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
