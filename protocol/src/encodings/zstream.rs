//! Persistent zlib streams, as Zlib, ZRLE and Tight use them: one stream per connection (per
//! stream id for Tight), each rectangle's data ending with a sync flush so that the peer can
//! decode it at once, the dictionary carrying over to the next rectangle.

use std::collections::VecDeque;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// zlib's window: how far back a match may reach.
const WINDOW: usize = 32 * 1024;

/// The sending side of a stream.
#[derive(Debug)]
pub struct Deflater {
    stream: Compress,
    /// The level the stream runs at.
    running: u32,
    /// The level asked for, taken up at the next rectangle.
    level: u32,
    /// The last [`WINDOW`] bytes compressed: the peer's window, for a stream that must
    /// carry on at another level.
    recent: VecDeque<u8>,
}

impl Deflater {
    pub fn new(level: u32) -> Self {
        let level = level.min(9);
        Self {
            stream: Compress::new(Compression::new(level), true),
            running: level,
            level,
            recent: VecDeque::new(),
        }
    }

    /// The level asked for last (in effect from the next rectangle).
    pub fn level(&self) -> u32 {
        self.level
    }

    /// Changes the level for the data that follows (the stream carries on).
    pub fn set_level(&mut self, level: u32) {
        self.level = level.min(9);
    }

    /// Puts the level asked for in effect. zlib-rs cannot change between its families of
    /// levels once a stream has begun (its deflateParams fails), so the stream goes on from
    /// a new compressor: raw deflate blocks, which the peer's inflater takes as more of the
    /// same stream, with the peer's window as their dictionary.
    fn take_up_level(&mut self) {
        if self.running == self.level {
            return;
        }
        let level = Compression::new(self.level);
        if self.stream.set_level(level).is_err() {
            let mut carried_on = Compress::new(level, false);
            if carried_on
                .set_dictionary(self.recent.make_contiguous())
                .is_err()
            {
                return; // Keeps the level it has: still a valid stream.
            }
            self.stream = carried_on;
        }
        self.running = self.level;
    }

    /// Keeps the last [`WINDOW`] bytes of what was compressed.
    fn remember(&mut self, input: &[u8]) {
        let input = &input[input.len().saturating_sub(WINDOW)..];
        let keep = WINDOW - input.len();
        let drop = self.recent.len().saturating_sub(keep);
        self.recent.drain(..drop);
        self.recent.extend(input);
    }

    /// Appends a 4-byte big-endian length and then `input` compressed (Zlib and ZRLE bodies).
    pub fn compress_with_length(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let length_at = out.len();
        out.extend_from_slice(&[0; 4]);
        self.compress(input, out);
        let length = (out.len() - length_at - 4) as u32;
        out[length_at..length_at + 4].copy_from_slice(&length.to_be_bytes());
    }

    /// Compresses `input` and appends it to `out`, ending with a sync flush.
    pub fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.take_up_level();
        self.remember(input);
        let mut consumed = 0usize;
        loop {
            out.reserve(input.len() / 2 + 64);
            let before_in = self.stream.total_in();
            let status = self
                .stream
                .compress_vec(&input[consumed..], out, FlushCompress::Sync);
            consumed += (self.stream.total_in() - before_in) as usize;
            // The flush is complete when all input is taken and zlib left room in the output.
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
            if status.is_err() {
                break;
            }
        }
    }
}

/// The receiving side of a stream.
#[derive(Debug)]
pub struct Inflater {
    stream: Decompress,
}

impl Default for Inflater {
    fn default() -> Self {
        Self {
            stream: Decompress::new(true),
        }
    }
}

impl Inflater {
    /// Decompresses all of `input` (one rectangle's worth) into `out`, which must end up
    /// exactly `expected` bytes long: more is an error before it is allocated, less too.
    pub fn inflate_exact(
        &mut self,
        input: &[u8],
        expected: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        out.clear();
        out.reserve_exact(expected);
        self.inflate_into(input, expected, out)?;
        if out.len() != expected {
            return Err(format!(
                "zlib data gave {} bytes, expected {expected}",
                out.len()
            ));
        }
        Ok(())
    }

    /// Decompresses all of `input`, appending at most `limit` bytes to `out`. Anything
    /// beyond the limit is an error, found without allocating for it.
    pub fn inflate_into(
        &mut self,
        input: &[u8],
        limit: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let start = out.len();
        // Grow the output as it fills rather than zeroing the whole limit up front: the limit
        // is a worst case, typically many times the real size.
        let mut room = limit.min(input.len().saturating_mul(4).max(64 * 1024));
        out.resize(start + room, 0);
        let (mut read, mut written) = (0usize, start);
        let result = loop {
            if written == out.len() && room < limit {
                room = limit.min(room.saturating_mul(2));
                out.resize(start + room, 0);
            }
            let (before_in, before_out) = (self.stream.total_in(), self.stream.total_out());
            let full = written == out.len();
            let mut probe = [0u8; 1];
            // With the output full, only a flush marker may be left: probe for real data.
            let target: &mut [u8] = if full {
                &mut probe
            } else {
                &mut out[written..]
            };
            let status = match self
                .stream
                .decompress(&input[read..], target, FlushDecompress::Sync)
            {
                Ok(status) => status,
                Err(error) => break Err(format!("bad zlib data: {error}")),
            };
            let produced = (self.stream.total_out() - before_out) as usize;
            read += (self.stream.total_in() - before_in) as usize;
            if full && produced > 0 {
                break Err(format!("zlib data decompresses to more than {limit} bytes"));
            }
            written += produced;
            if status == Status::StreamEnd {
                break Err("the zlib stream ended (it must stay open)".into());
            }
            let progressed = produced > 0 || self.stream.total_in() != before_in;
            if read == input.len() && (!progressed || written < out.len()) {
                break Ok(());
            }
            if !progressed {
                break Err("zlib data is truncated".into());
            }
        };
        out.truncate(written);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_carries_over_rectangles() {
        let mut deflater = Deflater::new(6);
        let mut inflater = Inflater::default();
        let text: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        for round in 0..3 {
            let mut compressed = Vec::new();
            deflater.compress(&text, &mut compressed);
            let mut plain = Vec::new();
            inflater
                .inflate_exact(&compressed, text.len(), &mut plain)
                .unwrap();
            assert_eq!(plain, text, "round {round}");
        }
    }

    #[test]
    fn too_much_output_is_an_error() {
        let mut deflater = Deflater::new(6);
        let mut compressed = Vec::new();
        deflater.compress(&[7u8; 1000], &mut compressed);
        let mut plain = Vec::new();
        assert!(
            Inflater::default()
                .inflate_exact(&compressed, 999, &mut plain)
                .is_err()
        );
        assert!(
            Inflater::default()
                .inflate_exact(&compressed, 1001, &mut plain)
                .is_err()
        );
        assert!(
            Inflater::default()
                .inflate_exact(&[1, 2, 3, 4], 10, &mut plain)
                .is_err()
        );
    }

    #[test]
    fn the_level_changes_mid_stream_and_the_stream_carries_on() {
        let mut deflater = Deflater::new(6);
        let mut inflater = Inflater::default();
        let text: Vec<u8> = (0..40_000u32).map(|i| (i * 7 % 13) as u8).collect();
        let mut sizes = Vec::new();
        // Every family of zlib-rs's levels, in turn: stored, quick, fast, medium, slow.
        for level in [6, 0, 1, 9, 2, 0, 5, 7, 3] {
            deflater.set_level(level);
            let mut compressed = Vec::new();
            deflater.compress(&text, &mut compressed);
            assert_eq!(deflater.level(), level);
            let mut plain = Vec::new();
            inflater
                .inflate_exact(&compressed, text.len(), &mut plain)
                .unwrap_or_else(|e| panic!("level {level}: {e}"));
            assert_eq!(plain, text, "level {level}");
            sizes.push((level, compressed.len()));
        }
        // Level 0 stores; the others find the repeats.
        for (level, size) in sizes {
            if level == 0 {
                assert!(size > text.len(), "level 0 sent {size}");
            } else {
                assert!(size < text.len() / 10, "level {level} sent {size}");
            }
        }
    }
}
