//! One end of a link connection without I/O: messages become compressed frames and back,
//! with the byte counts the status line reports.

use super::LinkError;
use super::compress::{
    DEFAULT_LEVEL, LinkCompressor, LinkDecompressor, PreparedEncoder, level_for,
};
use super::frame::{read_frame, write_frame};

/// The kind of the link frame that ends a zstd frame: the compressor moved to a new level
/// or took up the shared history, and the other end's decompressor must follow before the
/// next frame. Message kinds stay below it.
const END_OF_ZSTD_FRAME: u8 = 0xff;

/// Bytes each way, before and after compression.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounts {
    pub sent: u64,
    pub sent_plain: u64,
    pub received: u64,
    pub received_plain: u64,
}

#[derive(Debug)]
pub struct LinkCodec {
    compressor: LinkCompressor,
    decompressor: LinkDecompressor,
    input: Vec<u8>,
    compressed: Vec<u8>,
    counts: LinkCounts,
    /// The size on the wire of the frame [`LinkCodec::next_message`] returned last.
    last_frame: usize,
}

impl LinkCodec {
    /// A codec compressing at zstd `level` until told otherwise.
    pub fn new(level: i32) -> std::io::Result<Self> {
        Ok(Self {
            compressor: LinkCompressor::new(level)?,
            decompressor: LinkDecompressor::new()?,
            input: Vec::new(),
            compressed: Vec::new(),
            counts: LinkCounts::default(),
            last_frame: 0,
        })
    }

    /// Compresses with the shared history ([`crate::history`]) as zstd's dictionary, once
    /// it is ready, or once the encoder `prepared` for it is.
    pub fn send_with_history(&mut self, dictionary: Vec<u8>, prepared: Option<PreparedEncoder>) {
        self.compressor.use_history(dictionary.into(), prepared);
    }

    /// Decompresses with the shared history once the other end has taken it up.
    pub fn receive_with_history(&mut self, dictionary: Vec<u8>) {
        self.decompressor.use_history(dictionary);
    }

    /// Follows the link's measured `bandwidth` ([`level_for`]) one way only: from the slow
    /// link's level down to the default once the link is measured fast, never back, since
    /// each change of level restarts zstd's window.
    pub fn follow_bandwidth(&mut self, bandwidth: Option<f64>) {
        if level_for(bandwidth) == DEFAULT_LEVEL {
            self.compressor.set_level(DEFAULT_LEVEL);
        }
    }

    /// Appends the frame for a message (its kind and plain payload) to `out`; returns the
    /// frame's size on the wire.
    pub fn encode(
        &mut self,
        (kind, payload): (u8, Vec<u8>),
        out: &mut Vec<u8>,
    ) -> std::io::Result<usize> {
        let before = out.len();
        self.compressed.clear();
        if self.compressor.switch_if_ready(&mut self.compressed)? {
            tracing::debug!("link: zstd starts a new frame ({:?})", self.compressor);
            write_frame(END_OF_ZSTD_FRAME, &self.compressed, out);
            self.compressed.clear();
        }
        self.compressor.compress(&payload, &mut self.compressed)?;
        write_frame(kind, &self.compressed, out);
        let size = out.len() - before;
        self.counts.sent += size as u64;
        self.counts.sent_plain += payload.len() as u64;
        Ok(size)
    }

    /// Takes in bytes read from the link.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
        self.counts.received += bytes.len() as u64;
    }

    /// The next whole message's kind and plain payload, if one has arrived.
    pub fn next_message(&mut self) -> Result<Option<(u8, Vec<u8>)>, LinkError> {
        let Some((mut frame, mut used)) = read_frame(&self.input)? else {
            return Ok(None);
        };
        if frame.kind == END_OF_ZSTD_FRAME {
            let Some((next, next_used)) = read_frame(&self.input[used..])? else {
                return Ok(None);
            };
            self.decompressor.end_frame(&frame.payload)?;
            self.input.drain(..used);
            (frame, used) = (next, next_used);
        }
        self.input.drain(..used);
        self.last_frame = used;
        let mut plain = Vec::new();
        self.decompressor.decompress(&frame.payload, &mut plain)?;
        self.counts.received_plain += plain.len() as u64;
        Ok(Some((frame.kind, plain)))
    }

    /// The size on the wire of the last message read.
    pub fn last_frame_size(&self) -> usize {
        self.last_frame
    }

    pub fn counts(&self) -> LinkCounts {
        self.counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::message::NearMessage;

    #[test]
    fn messages_cross_byte_by_byte() {
        let mut near = LinkCodec::new(DEFAULT_LEVEL).unwrap();
        let mut far = LinkCodec::new(level_for(None)).unwrap();
        let messages = [
            NearMessage::Key {
                down: true,
                keysym: 0x61,
            },
            NearMessage::CutText("héllo ✓".repeat(100)),
            NearMessage::Ack { sequence: 9 },
        ];
        let mut wire = Vec::new();
        for message in &messages {
            near.encode(message.encode(), &mut wire).unwrap();
        }
        let mut received = Vec::new();
        let mut frame_sizes = 0;
        for byte in &wire {
            far.feed(std::slice::from_ref(byte));
            while let Some((kind, payload)) = far.next_message().unwrap() {
                received.push(NearMessage::decode(kind, &payload).unwrap());
                frame_sizes += far.last_frame_size();
            }
        }
        assert_eq!(received, messages);
        assert_eq!(frame_sizes, wire.len(), "every frame's size on the wire");
        assert_eq!(far.counts().received, wire.len() as u64);
        assert!(
            near.counts().sent < near.counts().sent_plain,
            "{:?}",
            near.counts()
        );
    }
}
