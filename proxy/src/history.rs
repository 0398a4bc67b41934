//! The link's shared history: the updates the far side sent a near side, kept by both ends
//! (the near side next to its disk cache, the far side in its state directory, or in memory
//! only), so that a later link starts its zstd stream with them as a dictionary instead of
//! an empty window. A new session then finds the pixels of the last one (a window's rows at
//! a place no tile of the cache holds them, the same glyphs in new text) as if the stream
//! had never stopped.
//!
//! Both ends count the bytes of every update payload ever exchanged, across sessions, and
//! keep the last ones. The near side names what it holds (where it ends, how long it is, its
//! BLAKE3 digest) in its hello; the far side uses it when it holds the same bytes, and
//! forgets what it sent after them (updates the near side never received); when it holds
//! other bytes, both ends start their histories afresh. The welcome names the bytes the
//! dictionary is made of: those the near side named, or fewer of them that the far side
//! made an encoder ready for while the link was down (all it sent, or only what was
//! acknowledged, not knowing which arrived). A file is a
//! header (magic, the position of its first byte) and the bytes; a torn last write is just
//! fewer bytes, which the far side still finds.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// The most bytes a dictionary takes: in `cargo bench --bench link_bytes`, a whole first
/// session of every corpus sequence fits; the far side takes about 0.2 s a megabyte to
/// prepare it at the slow link's zstd level, off the link's task.
pub const HISTORY_LEN: usize = 4 * 1024 * 1024;
/// Bytes kept before the history is cut back to [`HISTORY_LEN`].
const KEPT_LEN: usize = 2 * HISTORY_LEN;
const MAGIC: &[u8; 8] = b"FVLHIST1";
const HEADER_LEN: usize = MAGIC.len() + 8;
pub const HISTORY_DIGEST_LEN: usize = 32;

/// The bytes `end - len .. end` of the stream of updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryWindow {
    pub end: u64,
    pub len: u32,
}

impl HistoryWindow {
    fn contains(&self, other: &HistoryWindow) -> bool {
        other.end <= self.end
            && other.end.saturating_sub(u64::from(other.len))
                >= self.end.saturating_sub(u64::from(self.len))
    }
}

/// Bytes a history holds, with their digest: what a near side names in its hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySummary {
    pub window: HistoryWindow,
    pub digest: [u8; HISTORY_DIGEST_LEN],
}

#[derive(Debug)]
pub struct LinkHistory {
    /// The position of `bytes[0]` in the stream of updates.
    start: u64,
    bytes: Vec<u8>,
    /// Where the history is kept, if anywhere; dropped after a write fails.
    file: Option<(PathBuf, File)>,
}

impl LinkHistory {
    pub fn in_memory() -> Self {
        Self {
            start: 0,
            bytes: Vec::new(),
            file: None,
        }
    }

    /// The history kept at `path`, or a new one there. A file that is not a history is
    /// replaced; one that is is appended to as it is.
    pub fn open(path: &Path) -> io::Result<Self> {
        let (mut history, as_kept) = Self::load(path)?;
        let file = if as_kept {
            OpenOptions::new().append(true).open(path)?
        } else {
            history.rewrite(path)?
        };
        history.file = Some((path.to_path_buf(), file));
        Ok(history)
    }

    /// The history kept at `path`, in memory only: empty if there is none.
    pub fn read(path: &Path) -> io::Result<Self> {
        Ok(Self::load(path)?.0)
    }

    /// The history at `path`, and whether the file holds exactly it (a history, not cut
    /// back on loading).
    fn load(path: &Path) -> io::Result<(Self, bool)> {
        let mut contents = Vec::new();
        match File::open(path) {
            Ok(mut file) => {
                file.read_to_end(&mut contents)?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        let mut history = Self::in_memory();
        if contents.len() < HEADER_LEN || !contents.starts_with(MAGIC) {
            return Ok((history, false));
        }
        let start = &contents[MAGIC.len()..HEADER_LEN];
        history.start = u64::from_be_bytes(start.try_into().expect("eight bytes"));
        history.bytes = contents.split_off(HEADER_LEN);
        let excess = history.bytes.len().saturating_sub(KEPT_LEN);
        history.drop_front(excess);
        Ok((history, excess == 0))
    }

    /// The stream position after the last byte held.
    pub fn end(&self) -> u64 {
        self.start + self.bytes.len() as u64
    }

    /// Adds an update's payload, as sent (far side) or as received (near side).
    pub fn append(&mut self, payload: &[u8]) {
        self.bytes.extend_from_slice(payload);
        if self.bytes.len() > KEPT_LEN {
            self.drop_front(self.bytes.len() - HISTORY_LEN);
            self.save_all();
        } else if let Some((path, file)) = &mut self.file
            && let Err(error) = file.write_all(payload)
        {
            tracing::warn!("link history {}: {error}; kept in memory", path.display());
            self.file = None;
        }
    }

    /// What the dictionary of the next link would be made of; `None` when empty.
    pub fn summary(&self) -> Option<HistorySummary> {
        self.summary_from(self.end().saturating_sub(HISTORY_LEN as u64), self.end())
    }

    /// The far side, when a link ends with updates unacknowledged: the bytes up to
    /// `acknowledged`, which the near side surely holds, from where its summary starts
    /// even if it got everything sent. Its summary then contains them, so an encoder made
    /// ready for them fits whatever it got.
    pub fn summary_acknowledged(&self, acknowledged: u64) -> Option<HistorySummary> {
        self.summary_from(self.end().saturating_sub(HISTORY_LEN as u64), acknowledged)
    }

    /// The bytes held from `from` (or the first held) up to `until`; `None` when none.
    fn summary_from(&self, from: u64, until: u64) -> Option<HistorySummary> {
        let until = until.min(self.end());
        let from = from.max(self.start);
        if from >= until {
            return None;
        }
        let window = HistoryWindow {
            end: until,
            len: (until - from) as u32,
        };
        Some(HistorySummary {
            window,
            digest: *blake3::hash(self.held(window)?).as_bytes(),
        })
    }

    /// The bytes of `window`, if all are held.
    fn held(&self, window: HistoryWindow) -> Option<&[u8]> {
        if window.len as usize > HISTORY_LEN {
            return None;
        }
        let until = usize::try_from(window.end.checked_sub(self.start)?).ok()?;
        let from = until.checked_sub(window.len as usize)?;
        self.bytes.get(from..until)
    }

    /// The dictionary of the bytes of `window`, if all are held.
    pub fn dictionary(&self, window: HistoryWindow) -> Option<Vec<u8>> {
        self.held(window).map(dictionary_of)
    }

    /// The far side: which of its bytes start the link's compression, when it holds the
    /// bytes a near side's summary names (else `None`). They are those bytes, or the
    /// latest of `prepared` (bytes an encoder is ready for) that it holds and that lie
    /// among them. What follows the near side's bytes, sent but never received, is
    /// forgotten, so that both histories go on alike.
    pub fn agree(
        &mut self,
        theirs: &HistorySummary,
        prepared: &[HistorySummary],
    ) -> Option<HistoryWindow> {
        let named = self.held(theirs.window)?;
        if blake3::hash(named).as_bytes() != &theirs.digest {
            return None;
        }
        let until = (theirs.window.end - self.start) as usize;
        if until < self.bytes.len() {
            self.bytes.truncate(until);
            self.save_all();
        }
        let usable = prepared
            .iter()
            .filter(|prepared| {
                theirs.window.contains(&prepared.window)
                    && self
                        .held(prepared.window)
                        .is_some_and(|bytes| blake3::hash(bytes).as_bytes() == &prepared.digest)
            })
            .max_by_key(|prepared| (prepared.window.end, prepared.window.len));
        Some(usable.map_or(theirs.window, |prepared| prepared.window))
    }

    /// Starts afresh, as both ends do when they did not agree: their histories then go on
    /// alike from here.
    pub fn restart(&mut self) {
        self.start = 0;
        self.bytes.clear();
        self.save_all();
    }

    fn drop_front(&mut self, count: usize) {
        self.bytes.drain(..count);
        self.start += count as u64;
    }

    fn save_all(&mut self) {
        let Some((path, _)) = self.file.take() else {
            return;
        };
        match self.rewrite(&path) {
            Ok(file) => self.file = Some((path, file)),
            Err(error) => {
                tracing::warn!("link history {}: {error}; kept in memory", path.display())
            }
        }
    }

    /// Writes the whole history to `path` (by way of a temporary file), open for appends.
    fn rewrite(&self, path: &Path) -> io::Result<File> {
        let temporary = path.with_extension("tmp");
        let mut file = File::create(&temporary)?;
        file.write_all(MAGIC)?;
        file.write_all(&self.start.to_be_bytes())?;
        file.write_all(&self.bytes)?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        OpenOptions::new().append(true).open(path)
    }
}

/// A zstd dictionary of raw content. It starts with a zero byte so that zstd never takes it
/// for a trained dictionary (which starts with a magic number).
pub(crate) fn dictionary_of(bytes: &[u8]) -> Vec<u8> {
    let mut dictionary = Vec::with_capacity(bytes.len() + 1);
    dictionary.push(0);
    dictionary.extend_from_slice(bytes);
    dictionary
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temporary(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("farview-history-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("history")
    }

    fn payload(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(seed) ^ seed)
            .collect()
    }

    #[test]
    fn both_ends_agree_on_what_both_hold() {
        let (mut far, mut near) = (LinkHistory::in_memory(), LinkHistory::in_memory());
        assert_eq!(near.summary(), None, "nothing to agree on yet");
        for seed in 1..5 {
            far.append(&payload(seed, 1000));
            near.append(&payload(seed, 1000));
        }
        // Sent, never received.
        far.append(&payload(9, 500));
        let summary = near.summary().unwrap();
        assert_eq!(
            summary.window,
            HistoryWindow {
                end: 4000,
                len: 4000
            }
        );
        let window = far
            .agree(&summary, &[])
            .expect("the far side holds those bytes");
        assert_eq!(window, summary.window);
        assert_eq!(far.dictionary(window), near.dictionary(window));
        assert_eq!(far.end(), 4000, "what the near side never got is forgotten");
        // Both go on alike.
        far.append(&payload(7, 300));
        near.append(&payload(7, 300));
        assert_eq!(far.summary(), near.summary());
        // Without agreement both start afresh, and agree next time.
        near.append(&payload(8, 300));
        assert_eq!(far.agree(&near.summary().unwrap(), &[]), None);
        far.restart();
        near.restart();
        far.append(&payload(6, 300));
        near.append(&payload(6, 300));
        assert!(far.agree(&near.summary().unwrap(), &[]).is_some());
    }

    #[test]
    fn what_was_acknowledged_fits_whatever_the_near_side_got_of_the_rest() {
        // Short, and longer than a dictionary.
        for (updates, size) in [(4, 1000), (20, HISTORY_LEN / 16)] {
            let (mut far, mut near) = (LinkHistory::in_memory(), LinkHistory::in_memory());
            for seed in 0..updates {
                far.append(&payload(seed + 1, size));
                near.append(&payload(seed + 1, size));
            }
            let acknowledged = far.end();
            // Two more sent; the near side got the first and had not acknowledged it.
            far.append(&payload(40, size));
            near.append(&payload(40, size));
            far.append(&payload(41, size));
            let prepared = far.summary_acknowledged(acknowledged).unwrap();
            assert_eq!(prepared.window.end, acknowledged);
            let theirs = near.summary().unwrap();
            assert_ne!(prepared.window, theirs.window, "{updates} updates");
            let everything = far.summary().unwrap();
            let window = far.agree(&theirs, &[everything, prepared]).unwrap();
            assert_eq!(
                window, prepared.window,
                "the bytes made ready that fit are used"
            );
            assert_eq!(far.dictionary(window), near.dictionary(window));
            assert_eq!(
                far.end(),
                near.end(),
                "both go on from what the near side got"
            );

            // Bytes made ready that the near side does not hold, or that differ, are not.
            let mut other = LinkHistory::in_memory();
            other.append(&payload(99, size));
            let foreign = other.summary().unwrap();
            assert_eq!(far.agree(&theirs, &[foreign]), Some(theirs.window));
            let past_theirs = HistorySummary {
                window: HistoryWindow {
                    end: theirs.window.end + 1,
                    len: 10,
                },
                ..prepared
            };
            assert_eq!(far.agree(&theirs, &[past_theirs]), Some(theirs.window));
            // When the near side got everything, the latest bytes made ready are used.
            assert_eq!(far.agree(&theirs, &[prepared, theirs]), Some(theirs.window));
        }
    }

    #[test]
    fn other_bytes_or_bytes_not_held_are_no_agreement() {
        let (mut far, mut near) = (LinkHistory::in_memory(), LinkHistory::in_memory());
        far.append(&payload(1, 1000));
        near.append(&payload(2, 1000));
        assert_eq!(
            far.agree(&near.summary().unwrap(), &[]),
            None,
            "other bytes"
        );
        near.append(&payload(3, 10));
        assert_eq!(
            far.agree(&near.summary().unwrap(), &[]),
            None,
            "past our end"
        );
        let mut summary = far.summary().unwrap();
        summary.window.len = HISTORY_LEN as u32 + 1;
        assert_eq!(far.agree(&summary, &[]), None, "longer than a dictionary");
        summary.window.len = 2000;
        assert_eq!(far.agree(&summary, &[]), None, "before our start");
        assert_eq!(far.end(), 1000, "nothing forgotten without agreement");
    }

    #[test]
    fn a_history_outlives_its_process_and_stays_bounded() {
        let path = temporary("reopen");
        let mut history = LinkHistory::open(&path).unwrap();
        let chunk = payload(5, 256 * 1024);
        for _ in 0..40 {
            history.append(&chunk);
        }
        assert_eq!(history.end(), 40 * chunk.len() as u64);
        let on_disk = std::fs::metadata(&path).unwrap().len() as usize;
        assert!(on_disk <= HEADER_LEN + KEPT_LEN, "{on_disk} bytes on disk");
        let summary = history.summary().unwrap();
        assert_eq!(summary.window.len as usize, HISTORY_LEN);
        let reopened = LinkHistory::open(&path).unwrap();
        assert_eq!(reopened.summary(), Some(summary));
        assert_eq!(
            reopened.dictionary(summary.window),
            history.dictionary(summary.window)
        );

        // A torn write leaves a history that ends earlier; the far side still finds it.
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(on_disk as u64 - 1000).unwrap();
        let torn = LinkHistory::open(&path).unwrap();
        assert_eq!(torn.end(), history.end() - 1000);
        assert!(history.agree(&torn.summary().unwrap(), &[]).is_some());

        std::fs::write(&path, b"not a history").unwrap();
        assert_eq!(LinkHistory::open(&path).unwrap().summary(), None);
    }
}
