//! What the deferred-decoding tests share: test executors, a client past its handshake, a
//! feeder that cuts a stream anywhere, and a writer of update streams.

use std::sync::{Arc, Mutex};

use crate::encodings::testing::{Content, Noise, picture};
use crate::encodings::{DecodeExecutor, DecodeJob, Encoders, SequentialExecutor, copyrect, raw};
use crate::error::ProtocolError;
use crate::framebuffer::{Framebuffer, Rect};
use crate::handshake::client::{ClientConfig, ClientConnection, ClientEvent};
use crate::messages::{EncodingType, RectangleHeader, ServerMessage};
use crate::pixel::PixelFormat;

pub(super) const WIDTH: u16 = 96;
pub(super) const HEIGHT: u16 = 64;

/// Runs the jobs last to first: results must not depend on the order jobs run in.
#[derive(Debug)]
pub(super) struct ReverseExecutor;

impl DecodeExecutor for ReverseExecutor {
    fn execute(&self, jobs: &mut [DecodeJob<'_>]) {
        jobs.iter_mut().rev().for_each(DecodeJob::run);
    }
}

/// Runs nothing: the batch must run what an executor left.
#[derive(Debug)]
pub(super) struct IdleExecutor;

impl DecodeExecutor for IdleExecutor {
    fn execute(&self, _jobs: &mut [DecodeJob<'_>]) {}
}

/// Accepts no batch: every batch is drawn in place.
#[derive(Debug)]
pub(super) struct RefusingExecutor;

impl DecodeExecutor for RefusingExecutor {
    fn accepts(&self, _jobs: &[DecodeJob<'_>]) -> bool {
        false
    }

    fn execute(&self, _jobs: &mut [DecodeJob<'_>]) {
        unreachable!("a batch refused is not executed");
    }
}

/// The rectangles of one batch, in order.
pub(super) type Batch = Vec<(EncodingType, Rect)>;

/// Records each batch's rectangles, then runs them.
#[derive(Debug, Default, Clone)]
pub(super) struct RecordingExecutor {
    pub(super) batches: Arc<Mutex<Vec<Batch>>>,
}

impl DecodeExecutor for RecordingExecutor {
    fn execute(&self, jobs: &mut [DecodeJob<'_>]) {
        let batch = jobs
            .iter()
            .map(|job| (job.encoding(), job.rect()))
            .collect();
        self.batches.lock().unwrap().push(batch);
        SequentialExecutor.execute(jobs);
    }
}

pub(super) fn executors() -> Vec<Box<dyn DecodeExecutor>> {
    vec![
        Box::new(SequentialExecutor),
        Box::new(ReverseExecutor),
        Box::new(IdleExecutor),
        Box::new(RefusingExecutor),
    ]
}

/// A client past its handshake with a `WIDTH` x `HEIGHT` framebuffer in `format`.
pub(super) fn connected(
    format: PixelFormat,
    executor: Option<Box<dyn DecodeExecutor>>,
) -> ClientConnection {
    let mut client = ClientConnection::new(ClientConfig {
        pixel_format: format,
        ..ClientConfig::default()
    });
    if let Some(executor) = executor {
        client.set_decode_executor(executor);
    }
    let mut init = Vec::new();
    init.extend_from_slice(b"RFB 003.008\n");
    init.extend_from_slice(&[1, 1, 0, 0, 0, 0]);
    init.extend_from_slice(&WIDTH.to_be_bytes());
    init.extend_from_slice(&HEIGHT.to_be_bytes());
    PixelFormat::NATIVE.write(&mut init);
    init.extend_from_slice(&[0, 0, 0, 4]);
    init.extend_from_slice(b"test");
    assert_eq!(client.handle_input(&init), Ok(init.len()));
    while client.poll_event().is_some() {}
    client.take_output();
    client
}

/// What a client made of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) consumed: Vec<usize>,
    pub(super) events: Vec<ClientEvent>,
    pub(super) framebuffer: Framebuffer,
    pub(super) error: Option<ProtocolError>,
}

/// Feeds `stream` cut at `cuts` (sorted positions), keeping unconsumed bytes as a socket
/// reader would, until the end or the first error.
pub(super) fn feed(client: &mut ClientConnection, stream: &[u8], cuts: &[usize]) -> Outcome {
    let mut outcome = Outcome {
        consumed: Vec::new(),
        events: Vec::new(),
        framebuffer: Framebuffer::new(0, 0),
        error: None,
    };
    let mut pending = Vec::new();
    let mut start = 0;
    for end in cuts.iter().copied().chain([stream.len()]) {
        pending.extend_from_slice(&stream[start..end.max(start)]);
        start = end.max(start);
        match client.handle_input(&pending) {
            Ok(used) => {
                outcome.consumed.push(used);
                pending.drain(..used);
            }
            Err(error) => {
                outcome.error = Some(error);
                break;
            }
        }
        outcome
            .events
            .extend(std::iter::from_fn(|| client.poll_event()));
    }
    outcome
        .events
        .extend(std::iter::from_fn(|| client.poll_event()));
    outcome.framebuffer = client.framebuffer().clone();
    outcome
}

/// Random cut positions in a stream of `len` bytes.
pub(super) fn random_cuts(len: usize, seed: u64, count: usize) -> Vec<usize> {
    let mut noise = Noise::new(seed);
    let mut cuts: Vec<usize> = (0..count)
        .map(|_| noise.below(len as u32 + 1) as usize)
        .collect();
    cuts.sort_unstable();
    cuts
}

/// The splits every stream is fed in: whole, byte by byte, and at random cuts.
pub(super) fn splits(len: usize, seed: u64) -> Vec<Vec<usize>> {
    vec![
        Vec::new(),
        (1..len).collect(),
        random_cuts(len, seed, 7),
        random_cuts(len, seed ^ 0x5eed, len / 50 + 1),
    ]
}

/// One thing an update does.
#[derive(Debug, Clone)]
pub(super) enum Op {
    /// `rect` drawn from a picture of `content` with `encoding`.
    Pixels {
        encoding: EncodingType,
        rect: Rect,
        content: Content,
        seed: u64,
    },
    Copy {
        rect: Rect,
        source_x: u16,
        source_y: u16,
    },
    Resize {
        width: u16,
        height: u16,
    },
}

/// Writes updates as a server would: the server side's stream state lives in `encoders`.
pub(super) struct StreamWriter {
    encoders: Encoders,
    format: PixelFormat,
    pub(super) out: Vec<u8>,
}

impl StreamWriter {
    pub(super) fn new(format: PixelFormat) -> Self {
        Self {
            encoders: Encoders::default(),
            format,
            out: Vec::new(),
        }
    }

    /// One FramebufferUpdate; with `last_rect`, its count is open and a LastRect ends it.
    pub(super) fn update(&mut self, ops: &[Op], last_rect: bool) {
        let count = if last_rect {
            u16::MAX
        } else {
            ops.len() as u16
        };
        ServerMessage::FramebufferUpdate { rect_count: count }.write(&mut self.out);
        for op in ops {
            self.op(op);
        }
        if last_rect {
            self.header(Rect::default(), EncodingType::LAST_RECT);
        }
    }

    fn header(&mut self, rect: Rect, encoding: EncodingType) {
        RectangleHeader { rect, encoding }.write(&mut self.out);
    }

    pub(super) fn op(&mut self, op: &Op) {
        match *op {
            Op::Pixels {
                encoding,
                rect,
                content,
                seed,
            } => {
                self.header(rect, encoding);
                let source = picture(rect.right() as u16, rect.bottom() as u16, content, seed);
                let (format, out, encoders) = (&self.format, &mut self.out, &mut self.encoders);
                match encoding {
                    EncodingType::RAW => raw::encode(&source, &rect, format, out),
                    EncodingType::RRE => encoders.rre.encode(&source, &rect, format, out),
                    EncodingType::CORRE => encoders.corre.encode(&source, &rect, format, out),
                    EncodingType::HEXTILE => encoders.hextile.encode(&source, &rect, format, out),
                    EncodingType::TRLE => encoders.trle.encode(&source, &rect, format, out),
                    EncodingType::TIGHT_PNG => {
                        encoders.tight_png.encode(&source, &rect, format, out);
                    }
                    EncodingType::ZLIB => encoders.zlib.encode(&source, &rect, format, out),
                    EncodingType::ZRLE => encoders.zrle.encode(&source, &rect, format, out),
                    EncodingType::TIGHT => {
                        encoders.tight.encode(&source, &rect, format, out);
                    }
                    other => panic!("no encoder for {other}"),
                }
            }
            Op::Copy {
                rect,
                source_x,
                source_y,
            } => {
                self.header(rect, EncodingType::COPY_RECT);
                copyrect::encode(source_x, source_y, &mut self.out);
            }
            Op::Resize { width, height } => {
                self.header(Rect::new(0, 0, width, height), EncodingType::DESKTOP_SIZE);
            }
        }
    }

    pub(super) fn bell(&mut self) {
        ServerMessage::Bell.write(&mut self.out);
    }
}

/// Whether a deferred client's outcome is the sequential one's. An error inside a deferred
/// job surfaces when its batch runs (at the next rectangle that depends on it, at the end of
/// the update), which may be in a later `handle_input` call than on the sequential path; all
/// else is the same.
pub(super) fn agrees(deferred: &Outcome, sequential: &Outcome) -> bool {
    let consumed = match sequential.error {
        None => deferred.consumed == sequential.consumed,
        Some(_) => deferred.consumed.starts_with(&sequential.consumed),
    };
    consumed
        && deferred.events == sequential.events
        && deferred.framebuffer == sequential.framebuffer
        && deferred.error == sequential.error
}

/// Feeds `stream` to a sequential client and to deferred ones (every test executor), in
/// every split, and checks they agree; returns the sequential outcome of the whole stream.
pub(super) fn assert_same_as_sequential(format: PixelFormat, stream: &[u8], seed: u64) -> Outcome {
    let whole = feed(&mut connected(format, None), stream, &[]);
    for cuts in splits(stream.len(), seed) {
        let sequential = feed(&mut connected(format, None), stream, &cuts);
        assert_eq!(sequential.events, whole.events, "{} cuts", cuts.len());
        assert_eq!(sequential.error, whole.error, "{} cuts", cuts.len());
        for executor in executors() {
            let name = format!("{executor:?}");
            let deferred = feed(&mut connected(format, Some(executor)), stream, &cuts);
            assert!(
                agrees(&deferred, &sequential),
                "{name}, {} cuts: deferred {:?} / {:?} vs sequential {:?} / {:?}",
                cuts.len(),
                deferred.events,
                deferred.error,
                sequential.events,
                sequential.error,
            );
        }
    }
    whole
}

/// Feeds updates one at a time (each cut at random inside) and checks that the framebuffer
/// is complete whenever an update is: UpdateComplete comes after all its pixels.
pub(super) fn assert_complete_after_each_update(
    format: PixelFormat,
    updates: &[Vec<u8>],
    seed: u64,
) {
    let mut sequential = connected(format, None);
    let mut deferred = connected(format, Some(Box::new(ReverseExecutor)));
    for (index, update) in updates.iter().enumerate() {
        let cuts = random_cuts(update.len(), seed + index as u64, 5);
        let expected = feed(&mut sequential, update, &cuts);
        let actual = feed(&mut deferred, update, &cuts);
        assert!(agrees(&actual, &expected), "update {index}");
        if expected.error.is_none() {
            let complete = |e: &ClientEvent| matches!(e, ClientEvent::UpdateComplete { .. });
            assert!(expected.events.iter().any(complete), "update {index}");
        }
    }
}

pub(super) fn pixels(encoding: EncodingType, rect: Rect, content: Content, seed: u64) -> Op {
    Op::Pixels {
        encoding,
        rect,
        content,
        seed,
    }
}
