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
/// a frame's time on one core; 19 pays only on links slow enough to wait for it.
pub const DEFAULT_LEVEL: i32 = 9;

const CHUNK: usize = 64 * 1024;

pub struct LinkCompressor {
    encoder: Encoder<'static>,
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
        Ok(Self { encoder })
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
