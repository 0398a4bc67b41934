//! zstd over the link, one stream per direction that lives as long as the link connection:
//! each frame's payload is compressed and flushed on its own, so it can be decoded at once,
//! but against everything sent before it in the window. With a window of
//! [`WINDOW_LOG`] bits, pixels that crossed a few seconds ago (a tile that changed back, a
//! window shown again) compress to references even when the tile cache does not hold them.

use std::io;

use zstd::stream::raw::{CParameter, DParameter, Decoder, Encoder, InBuffer, Operation, OutBuffer};

use super::LinkError;
use super::frame::MAX_FRAME_PAYLOAD;

/// log2 of the bytes each side remembers: 16 MiB.
pub const WINDOW_LOG: u32 = 24;
/// zstd's level for the link. On the corpus's terminal-scroll over 8 Mbit/s, levels 3, 9
/// and 19 sent 98, 80 and 63 kB: 9 compresses a full-HD frame of new pixels in well under
/// a frame's time on one core; higher levels pay only on links slow enough to wait for them.
pub const DEFAULT_LEVEL: i32 = 9;
/// The level on a slow link ([`SLOW_LINK`]): in `cargo bench --bench link_bytes` it sends
/// 9-12 % fewer bytes than level 9 for 2.5-3.5 times its CPU (19 sends a few % fewer again
/// for twice 18's CPU), a few ms a frame, less than the bytes saved take on such a link.
pub const SLOW_LINK_LEVEL: i32 = 18;
/// Links measured slower than this many bytes a second (2 Mbit/s) get [`SLOW_LINK_LEVEL`].
pub const SLOW_LINK: f64 = 250_000.0;

/// The level for a link measured at `bandwidth` bytes a second. A link not yet measured
/// counts as slow: its first screen, most of what a session sends over a slow link, goes at
/// the slow link's level (office-typing in `cargo bench --bench link_bytes`: 0.85 instead of
/// 1.0 times direct ZRLE's bytes), which costs a fast link a few tens of ms of CPU once.
pub fn level_for(bandwidth: Option<f64>) -> i32 {
    match bandwidth {
        Some(rate) if rate >= SLOW_LINK => DEFAULT_LEVEL,
        _ => SLOW_LINK_LEVEL,
    }
}

const CHUNK: usize = 64 * 1024;

pub struct LinkCompressor {
    encoder: Encoder<'static>,
    level: i32,
    /// The level changed since the last payload: end the frame before the next one.
    new_level: bool,
}

impl std::fmt::Debug for LinkCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkCompressor")
    }
}

impl LinkCompressor {
    pub fn new(level: i32) -> io::Result<Self> {
        let mut encoder = Encoder::new(level)?;
        encoder.set_parameter(CParameter::WindowLog(WINDOW_LOG))?;
        Ok(Self {
            encoder,
            level,
            new_level: false,
        })
    }

    /// Compresses what follows at `level`. zstd takes a new level only at the start of a
    /// frame, so the next payload first ends the frame running and starts another: its
    /// window starts empty (the tile cache is not affected), so levels should change
    /// rarely.
    pub fn set_level(&mut self, level: i32) {
        if level != self.level {
            self.level = level;
            self.new_level = true;
        }
    }

    /// Appends `payload` compressed and flushed to `out`.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut chunk = vec![0u8; CHUNK];
        if std::mem::take(&mut self.new_level) {
            loop {
                let mut output = OutBuffer::around(&mut chunk[..]);
                let remaining = self.encoder.finish(&mut output, true)?;
                let written = output.pos();
                out.extend_from_slice(&chunk[..written]);
                if remaining == 0 {
                    break;
                }
            }
            self.encoder.reinit()?;
            self.encoder
                .set_parameter(CParameter::CompressionLevel(self.level))?;
        }
        let mut input = InBuffer::around(payload);
        while input.pos < payload.len() {
            let mut output = OutBuffer::around(&mut chunk[..]);
            self.encoder.run(&mut input, &mut output)?;
            let written = output.pos();
            out.extend_from_slice(&chunk[..written]);
        }
        loop {
            let mut output = OutBuffer::around(&mut chunk[..]);
            let remaining = self.encoder.flush(&mut output)?;
            let written = output.pos();
            out.extend_from_slice(&chunk[..written]);
            if remaining == 0 {
                return Ok(());
            }
        }
    }
}

pub struct LinkDecompressor {
    decoder: Decoder<'static>,
}

impl std::fmt::Debug for LinkDecompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkDecompressor")
    }
}

impl LinkDecompressor {
    pub fn new() -> io::Result<Self> {
        let mut decoder = Decoder::new()?;
        decoder.set_parameter(DParameter::WindowLogMax(WINDOW_LOG))?;
        Ok(Self { decoder })
    }

    /// Decompresses one frame's payload into `out` (cleared first). More than
    /// [`MAX_FRAME_PAYLOAD`] bytes out, or data zstd rejects, is an error.
    pub fn decompress(&mut self, compressed: &[u8], out: &mut Vec<u8>) -> Result<(), LinkError> {
        out.clear();
        let mut chunk = vec![0u8; CHUNK];
        let mut input = InBuffer::around(compressed);
        loop {
            let mut output = OutBuffer::around(&mut chunk[..]);
            self.decoder
                .run(&mut input, &mut output)
                .map_err(|error| LinkError::malformed("compressed frame", error.to_string()))?;
            let written = output.pos();
            out.extend_from_slice(&chunk[..written]);
            if out.len() > MAX_FRAME_PAYLOAD {
                return Err(LinkError::FrameTooLarge {
                    length: out.len(),
                    limit: MAX_FRAME_PAYLOAD,
                });
            }
            // A flushed frame has been read whole once the input is used up and zstd no
            // longer fills the output.
            if input.pos == compressed.len() && written < chunk.len() {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_payload_decodes_at_once_and_repeats_cost_little() {
        let mut compressor = LinkCompressor::new(DEFAULT_LEVEL).unwrap();
        let mut decompressor = LinkDecompressor::new().unwrap();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut sizes = Vec::new();
        for payload in [&noise[..], b"key", &noise[..]] {
            let mut wire = Vec::new();
            compressor.compress(payload, &mut wire).unwrap();
            let mut plain = Vec::new();
            decompressor.decompress(&wire, &mut plain).unwrap();
            assert_eq!(plain, payload);
            sizes.push(wire.len());
        }
        assert!(sizes[0] > 150_000, "noise does not compress: {sizes:?}");
        assert!(
            sizes[2] < 1_000,
            "the second copy is a reference: {sizes:?}"
        );
    }

    #[test]
    fn the_level_changes_mid_stream() {
        let mut state = 12345u32;
        let words = [
            "pixel", "tile", "link", "zstd", "frame", "glyph", "window", "scroll",
        ];
        let text: Vec<u8> = (0..100_000)
            .flat_map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                words[(state >> 16) as usize % words.len()].bytes()
            })
            .collect();
        // Half the text at level 1, then the other half at `then`: what the second half costs.
        let (first, second) = text.split_at(text.len() / 2);
        let mut sizes = Vec::new();
        for then in [1, SLOW_LINK_LEVEL] {
            let mut compressor = LinkCompressor::new(1).unwrap();
            let mut decompressor = LinkDecompressor::new().unwrap();
            let mut size = 0;
            for (level, part) in [(1, first), (then, second)] {
                compressor.set_level(level);
                let mut wire = Vec::new();
                compressor.compress(part, &mut wire).unwrap();
                let mut plain = Vec::new();
                decompressor.decompress(&wire, &mut plain).unwrap();
                assert_eq!(plain, part);
                size = wire.len();
            }
            sizes.push(size);
        }
        assert!(
            sizes[1] < sizes[0] * 9 / 10,
            "the new level applies: {sizes:?}"
        );
        assert_eq!(level_for(None), SLOW_LINK_LEVEL);
        assert_eq!(level_for(Some(125_000.0)), SLOW_LINK_LEVEL);
        assert_eq!(level_for(Some(1_000_000.0)), DEFAULT_LEVEL);
    }

    #[test]
    fn garbage_is_an_error() {
        let mut decompressor = LinkDecompressor::new().unwrap();
        let mut out = Vec::new();
        assert!(
            decompressor
                .decompress(b"not zstd at all", &mut out)
                .is_err()
        );
    }
}
