//! zstd over the link, one stream per direction that lives as long as the link connection:
//! each frame's payload is compressed and flushed on its own, so it can be decoded at once,
//! but against everything sent before it in the window. With a window of
//! [`WINDOW_LOG`] bits, pixels that crossed a few seconds ago (a tile that changed back, a
//! window shown again) compress to references even when the tile cache does not hold them.
//! Once both ends agree on their shared history ([`crate::history`]), the far side's stream
//! takes it as a dictionary: what crossed in an earlier link is in reach as well.

use std::io;
use std::sync::Arc;

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

/// What an encoder is made for: a level, and whether the shared history is its dictionary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Setting {
    level: i32,
    history: bool,
}

/// An encoder being made ready on a thread of its own: loading a dictionary of megabytes
/// takes zstd about a second at the slow link's level, which the link must not wait for.
#[derive(Debug)]
pub struct PreparedEncoder {
    setting: Setting,
    ready: std::sync::mpsc::Receiver<io::Result<Encoder<'static>>>,
}

impl PreparedEncoder {
    fn start(setting: Setting, dictionary: Option<Arc<[u8]>>) -> Self {
        let (done, ready) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let made =
                make_encoder(setting.level, dictionary.as_deref()).and_then(|mut encoder| {
                    build_tables(&mut encoder)?;
                    Ok(encoder)
                });
            let _ = done.send(made);
        });
        Self { setting, ready }
    }

    /// An encoder at `level` with the shared history's `dictionary`, made ready before the
    /// link that takes it up ([`LinkCompressor::use_history`]) starts.
    pub fn with_history(level: i32, dictionary: Arc<[u8]>) -> Self {
        let setting = Setting {
            level,
            history: true,
        };
        Self::start(setting, Some(dictionary))
    }
}

pub struct LinkCompressor {
    encoder: Encoder<'static>,
    running: Setting,
    wanted: Setting,
    /// The shared history ([`crate::history`]), once both ends agreed on it.
    dictionary: Option<Arc<[u8]>>,
    preparing: Option<PreparedEncoder>,
}

impl std::fmt::Debug for LinkCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "level {}{}",
            self.running.level,
            if self.running.history {
                ", with the shared history"
            } else {
                ""
            }
        )
    }
}

impl LinkCompressor {
    pub fn new(level: i32) -> io::Result<Self> {
        let setting = Setting {
            level,
            history: false,
        };
        Ok(Self {
            encoder: make_encoder(level, None)?,
            running: setting,
            wanted: setting,
            dictionary: None,
            preparing: None,
        })
    }

    /// Compresses at `level` from the next switch ([`LinkCompressor::switch_if_ready`]) on.
    /// zstd takes a new level only at the start of a frame, and the new frame's window
    /// starts empty (but for the shared history), so levels should change rarely.
    pub fn set_level(&mut self, level: i32) {
        self.wanted.level = level;
        self.prepare();
    }

    /// Compresses with the shared history as a dictionary from the next switch on; with
    /// the encoder `prepared` for it, if it is one for this level.
    pub fn use_history(&mut self, dictionary: Arc<[u8]>, prepared: Option<PreparedEncoder>) {
        self.dictionary = Some(dictionary);
        self.wanted.history = true;
        if self.preparing.is_none() {
            self.preparing = prepared.filter(|prepared| prepared.setting == self.wanted);
        }
        self.prepare();
    }

    fn prepare(&mut self) {
        if self.preparing.is_some() || self.wanted == self.running {
            return;
        }
        let dictionary = self.dictionary.clone().filter(|_| self.wanted.history);
        self.preparing = Some(PreparedEncoder::start(self.wanted, dictionary));
    }

    /// Moves to the encoder made ready meanwhile, if there is one: appends the end of the
    /// frame running (to go on the link in a frame of its own, so that the other end can
    /// take up the dictionary before the next one) and returns true.
    pub fn switch_if_ready(&mut self, end_of_frame: &mut Vec<u8>) -> io::Result<bool> {
        let Some(PreparedEncoder { setting, ready }) = &self.preparing else {
            return Ok(false);
        };
        let encoder = match ready.try_recv() {
            Ok(made) => made?,
            Err(std::sync::mpsc::TryRecvError::Empty) => return Ok(false),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(io::Error::other("preparing the link's compressor failed"));
            }
        };
        self.running = *setting;
        self.preparing = None;
        let mut chunk = vec![0u8; CHUNK];
        loop {
            let mut output = OutBuffer::around(&mut chunk[..]);
            let remaining = self.encoder.finish(&mut output, true)?;
            let written = output.pos();
            end_of_frame.extend_from_slice(&chunk[..written]);
            if remaining == 0 {
                break;
            }
        }
        self.encoder = encoder;
        // The level may have changed again while this one was being made.
        self.prepare();
        Ok(true)
    }

    /// Appends `payload` compressed and flushed to `out`.
    pub fn compress(&mut self, payload: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        let mut chunk = vec![0u8; CHUNK];
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

fn make_encoder(level: i32, dictionary: Option<&[u8]>) -> io::Result<Encoder<'static>> {
    let mut encoder = match dictionary {
        Some(dictionary) => Encoder::with_dictionary(level, dictionary)?,
        None => Encoder::new(level)?,
    };
    encoder.set_parameter(CParameter::WindowLog(WINDOW_LOG))?;
    Ok(encoder)
}

/// Builds `encoder`'s tables (and loads its dictionary into them) now rather than with the
/// first payload: zstd does it when a frame starts, which a call with nothing to compress
/// does without writing anything.
fn build_tables(encoder: &mut Encoder<'static>) -> io::Result<()> {
    let mut nothing = [0u8; 0];
    let mut output = OutBuffer::around(&mut nothing[..]);
    encoder.run(&mut InBuffer::around(&[]), &mut output)?;
    Ok(())
}

pub struct LinkDecompressor {
    decoder: Decoder<'static>,
    /// The shared history, once both ends agreed on it: taken up at the next new frame.
    dictionary: Option<Vec<u8>>,
}

impl std::fmt::Debug for LinkDecompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkDecompressor")
    }
}

impl LinkDecompressor {
    pub fn new() -> io::Result<Self> {
        Ok(Self {
            decoder: make_decoder(None)?,
            dictionary: None,
        })
    }

    /// Decodes with the shared history as a dictionary from the next frame on.
    pub fn use_history(&mut self, dictionary: Vec<u8>) {
        self.dictionary = Some(dictionary);
    }

    /// Reads the end of the frame running ([`LinkCompressor::switch_if_ready`]): what
    /// follows is a new frame, which may use the shared history.
    pub fn end_frame(&mut self, compressed: &[u8]) -> Result<(), LinkError> {
        let mut rest = Vec::new();
        self.decompress(compressed, &mut rest)?;
        if !rest.is_empty() {
            return Err(LinkError::malformed(
                "end of a compressed frame",
                format!("{} bytes of data in it", rest.len()),
            ));
        }
        self.decoder = make_decoder(self.dictionary.as_deref()).map_err(|error| {
            LinkError::malformed("end of a compressed frame", error.to_string())
        })?;
        Ok(())
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

fn make_decoder(dictionary: Option<&[u8]>) -> io::Result<Decoder<'static>> {
    let mut decoder = match dictionary {
        Some(dictionary) => Decoder::with_dictionary(dictionary)?,
        None => Decoder::new()?,
    };
    decoder.set_parameter(DParameter::WindowLogMax(WINDOW_LOG))?;
    Ok(decoder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_payload_decodes_at_once_and_repeats_cost_little() {
        let mut compressor = LinkCompressor::new(DEFAULT_LEVEL).unwrap();
        let mut decompressor = LinkDecompressor::new().unwrap();
        let noise = noise(200_000);
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

    fn noise(len: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn words(count: usize, seed: u32) -> Vec<u8> {
        let mut state = seed;
        let words = [
            "pixel", "tile", "link", "zstd", "frame", "glyph", "window", "scroll",
        ];
        (0..count)
            .flat_map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                words[(state >> 16) as usize % words.len()].bytes()
            })
            .collect()
    }

    /// Waits for the compressor's next encoder and passes the end of the frame across.
    fn switch(compressor: &mut LinkCompressor, decompressor: &mut LinkDecompressor) {
        let started = std::time::Instant::now();
        let mut end = Vec::new();
        while !compressor.switch_if_ready(&mut end).unwrap() {
            assert!(started.elapsed().as_secs() < 30, "no encoder made ready");
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        decompressor.end_frame(&end).unwrap();
    }

    fn cross(
        compressor: &mut LinkCompressor,
        decompressor: &mut LinkDecompressor,
        part: &[u8],
    ) -> usize {
        let mut wire = Vec::new();
        compressor.compress(part, &mut wire).unwrap();
        let mut plain = Vec::new();
        decompressor.decompress(&wire, &mut plain).unwrap();
        assert_eq!(plain, part);
        wire.len()
    }

    #[test]
    fn the_level_changes_mid_stream() {
        let text = words(100_000, 12345);
        // Half the text at level 1, then the other half at `then`: what the second half costs.
        let (first, second) = text.split_at(text.len() / 2);
        let mut sizes = Vec::new();
        for then in [1, SLOW_LINK_LEVEL] {
            let mut compressor = LinkCompressor::new(1).unwrap();
            let mut decompressor = LinkDecompressor::new().unwrap();
            cross(&mut compressor, &mut decompressor, first);
            compressor.set_level(then);
            if then != 1 {
                switch(&mut compressor, &mut decompressor);
            }
            sizes.push(cross(&mut compressor, &mut decompressor, second));
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
    fn a_stream_with_the_shared_history_starts_warm() {
        let earlier = noise(200_000);
        let dictionary = crate::history::dictionary_of(&earlier);
        let mut sizes = Vec::new();
        for history in [false, true] {
            let mut compressor = LinkCompressor::new(SLOW_LINK_LEVEL).unwrap();
            let mut decompressor = LinkDecompressor::new().unwrap();
            // Sent before the ends agree on the history, and while it is made ready.
            cross(&mut compressor, &mut decompressor, b"welcome");
            if history {
                // A change of level on the way does not confuse the two ends.
                compressor.set_level(DEFAULT_LEVEL);
                compressor.use_history(dictionary.clone().into(), None);
                decompressor.use_history(dictionary.clone());
                cross(&mut compressor, &mut decompressor, &words(1000, 3));
                switch(&mut compressor, &mut decompressor);
                cross(
                    &mut compressor,
                    &mut decompressor,
                    b"a payload between switches",
                );
                switch(&mut compressor, &mut decompressor);
                let mut end = Vec::new();
                assert!(!compressor.switch_if_ready(&mut end).unwrap(), "settled");
            }
            sizes.push(cross(&mut compressor, &mut decompressor, &earlier));
        }
        assert!(
            sizes[1] * 20 < sizes[0],
            "what the history holds costs next to nothing: {sizes:?}"
        );
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
