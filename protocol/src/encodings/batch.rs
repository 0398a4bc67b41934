//! Deferred decoding: the pixel work of rectangles whose encoding keeps no state from one
//! rectangle to the next (Raw, RRE, CoRRE, Hextile, TRLE, TightPNG) set aside as jobs and
//! run as a batch, possibly on other threads, through an executor the caller provides.
//!
//! A rectangle is first framed (its body's length found without decoding pixels) and its
//! body copied into the batch. When the batch runs, each job decodes into a buffer of its
//! own, the size of its rectangle, so jobs share nothing and may run in any order; the
//! results are then copied into the framebuffer in wire order, which matters when rectangles
//! overlap. This crate has no threads: [`SequentialExecutor`] runs the jobs one after the
//! other, and a caller that has threads supplies its own [`DecodeExecutor`]. An executor may
//! refuse a batch too small to share out; it is then drawn in place, in order, as if it had
//! never been deferred.
//!
//! Zlib, ZRLE and Tight share zlib streams across rectangles and are never deferred. Neither
//! is CopyRect, which reads the framebuffer: the caller runs the batch before either.

use super::{Decoded, corre, hextile, raw, rre, tight, trle};
use crate::error::ProtocolError;
use crate::framebuffer::{Framebuffer, Rect};
use crate::messages::EncodingType;
use crate::pixel::PixelFormat;

/// The most rectangles one batch holds; more are decoded in a further batch.
pub const MAX_BATCH_RECTANGLES: usize = 4096;
/// The most body bytes one batch holds (a larger single rectangle makes a batch of its own).
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// The most pixels the rectangles of one batch cover: each job decodes into its own buffer,
/// so this bounds the memory the decoded pixels take before they are copied into place.
pub const MAX_BATCH_PIXELS: usize = 16 * 1024 * 1024;

/// Whether rectangles of `encoding` decode independently of every other rectangle and of
/// the framebuffer's contents, so that their pixel work may be deferred.
pub fn is_independent(encoding: EncodingType) -> bool {
    matches!(
        encoding,
        EncodingType::RAW
            | EncodingType::RRE
            | EncodingType::CORRE
            | EncodingType::HEXTILE
            | EncodingType::TRLE
            | EncodingType::TIGHT_PNG
    )
}

/// The framing step of an independent encoding: the bytes the body at the start of `body`
/// takes, `Ok(None)` while it is incomplete, without decoding any pixels. `None` if
/// `encoding` is not [`is_independent`].
pub fn body_len(
    encoding: EncodingType,
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
) -> Option<Result<Option<usize>, String>> {
    Some(match encoding {
        EncodingType::RAW => {
            let len = raw::body_len(rect, format);
            Ok((body.len() >= len).then_some(len))
        }
        EncodingType::RRE => rre::body_len(body, rect, format),
        EncodingType::CORRE => corre::body_len(body, rect, format),
        EncodingType::HEXTILE => hextile::body_len(body, rect, format),
        EncodingType::TRLE => trle::body_len(body, rect, format),
        EncodingType::TIGHT_PNG => tight::tight_png_body_len(body, rect, format),
        _ => return None,
    })
}

/// Frames and draws one rectangle of an independent encoding straight into `framebuffer`
/// (the sequential path); `None` if `encoding` is not [`is_independent`].
pub fn decode_in_place(
    encoding: EncodingType,
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Option<Decoded> {
    Some(match encoding {
        EncodingType::RAW => {
            let len = raw::body_len(rect, format);
            match body.get(..len) {
                Some(body) => {
                    raw::decode(body, rect, format, framebuffer);
                    Ok(Some(len))
                }
                None => Ok(None),
            }
        }
        EncodingType::RRE => rre::decode(body, rect, format, framebuffer),
        EncodingType::HEXTILE => hextile::decode(body, rect, format, framebuffer),
        EncodingType::CORRE => corre::decode(body, rect, format, framebuffer),
        EncodingType::TIGHT_PNG => tight::decode_tight_png(body, rect, format, framebuffer),
        EncodingType::TRLE => trle::decode(body, rect, format, framebuffer),
        _ => return None,
    })
}

/// Draws a framed body (exactly the length [`body_len`] gave) into `target` at `rect`, which
/// lies inside it. The reasons are those of the sequential path, which frames then draws.
fn draw(
    encoding: EncodingType,
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    target: &mut Framebuffer,
) -> Result<(), String> {
    match encoding {
        // A job's own buffer is exactly the rectangle: convert straight into it.
        EncodingType::RAW if *rect == target.bounds() => {
            format.read_pixels(body, target.pixels_mut());
            Ok(())
        }
        EncodingType::RAW => {
            raw::decode(body, rect, format, target);
            Ok(())
        }
        EncodingType::RRE => rre::draw(body, rect, format, target),
        EncodingType::CORRE => corre::draw(body, rect, format, target),
        EncodingType::HEXTILE => hextile::draw(body, rect, format, target),
        EncodingType::TRLE => trle::draw(body, rect, format, target).map(drop),
        EncodingType::TIGHT_PNG => match tight::decode_tight_png(body, rect, format, target) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => Err("the body ends early".into()),
            Err(reason) => Err(reason),
        },
        other => Err(format!("{other} is not decoded in batches")),
    }
}

/// One deferred rectangle: its framed body, and once run, its pixels or why it failed.
/// Running a job touches nothing but the job, so jobs may run on any thread, in any order.
#[derive(Debug)]
pub struct DecodeJob<'a> {
    encoding: EncodingType,
    rect: Rect,
    format: PixelFormat,
    body: &'a [u8],
    /// Storage for the pixels, reused from earlier batches.
    buffer: Vec<u32>,
    /// The rectangle's pixels, moved to 0,0; empty until the job has run.
    pixels: Framebuffer,
    outcome: Option<Result<(), String>>,
}

impl DecodeJob<'_> {
    /// Decodes the rectangle into the job's own buffer. Running a job twice changes nothing.
    pub fn run(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        let (width, height) = (self.rect.width, self.rect.height);
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        buffer.resize(self.rect.area(), 0);
        let mut pixels = Framebuffer::from_pixels(width, height, buffer)
            .expect("the buffer has the rectangle's size");
        let at_origin = Rect::new(0, 0, width, height);
        self.outcome = Some(draw(
            self.encoding,
            self.body,
            &at_origin,
            &self.format,
            &mut pixels,
        ));
        self.pixels = pixels;
    }

    pub fn encoding(&self) -> EncodingType {
        self.encoding
    }

    /// Where the rectangle goes in the framebuffer.
    pub fn rect(&self) -> Rect {
        self.rect
    }

    /// The pixels the job produces: with [`DecodeJob::body_len`], a measure of its work.
    pub fn area(&self) -> usize {
        self.rect.area()
    }

    pub fn body_len(&self) -> usize {
        self.body.len()
    }
}

/// Runs a batch of jobs. An executor may use threads; it must have run every job when
/// `execute` returns (a job it skipped is run afterwards, on the caller's thread).
pub trait DecodeExecutor: Send + std::fmt::Debug {
    /// Whether to hand this batch to [`DecodeExecutor::execute`]. A batch refused is drawn
    /// straight into the framebuffer, in order, on the calling thread, as if it had not been
    /// deferred: that saves each job's buffer and the copy out of it, which is what a batch
    /// too small to share out should do.
    fn accepts(&self, jobs: &[DecodeJob<'_>]) -> bool {
        let _ = jobs;
        true
    }

    fn execute(&self, jobs: &mut [DecodeJob<'_>]);
}

/// Runs the jobs one after the other on the calling thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct SequentialExecutor;

impl DecodeExecutor for SequentialExecutor {
    fn execute(&self, jobs: &mut [DecodeJob<'_>]) {
        jobs.iter_mut().for_each(DecodeJob::run);
    }
}

/// A rectangle waiting in the batch: its body is `bodies[start..end]`.
#[derive(Debug)]
struct Pending {
    encoding: EncodingType,
    rect: Rect,
    start: usize,
    end: usize,
}

/// The rectangles set aside since the batch last ran, within the `MAX_BATCH_*` limits.
#[derive(Debug, Default)]
pub struct DecodeBatch {
    bodies: Vec<u8>,
    pending: Vec<Pending>,
    pixels: usize,
    /// Pixel buffers of jobs that have run, for the next batch's jobs: fresh memory for
    /// every batch would cost a page fault per 4 KiB.
    spare: Vec<Vec<u32>>,
}

impl DecodeBatch {
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether a rectangle of `rect` with a body of `body_len` bytes fits within the limits.
    /// An empty batch takes any one rectangle: a single rectangle is bounded by the
    /// framebuffer, as on the sequential path.
    pub fn has_room_for(&self, rect: &Rect, body_len: usize) -> bool {
        self.pending.is_empty()
            || (self.pending.len() < MAX_BATCH_RECTANGLES
                && self.pixels + rect.area() <= MAX_BATCH_PIXELS
                && self.bodies.len() + body_len <= MAX_BATCH_BYTES)
    }

    /// Sets aside a framed rectangle of an independent encoding (`body` is exactly its body).
    pub fn push(&mut self, encoding: EncodingType, rect: Rect, body: &[u8]) {
        let start = self.bodies.len();
        self.bodies.extend_from_slice(body);
        self.pending.push(Pending {
            encoding,
            rect,
            start,
            end: self.bodies.len(),
        });
        self.pixels += rect.area();
    }

    /// Runs every pending job through `executor` and copies the results into
    /// `framebuffer` in the order the rectangles came (or, if the executor does not accept
    /// the batch, draws them there in that order). A job that failed stops the copying
    /// there: it is drawn again in place, as the sequential path would have, so the error
    /// and the framebuffer are exactly what the sequential path leaves. The batch is empty
    /// afterwards either way.
    pub fn run(
        &mut self,
        executor: &dyn DecodeExecutor,
        format: &PixelFormat,
        framebuffer: &mut Framebuffer,
    ) -> Result<(), ProtocolError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut jobs: Vec<DecodeJob<'_>> = self
            .pending
            .iter()
            .map(|pending| DecodeJob {
                encoding: pending.encoding,
                rect: pending.rect,
                format: *format,
                body: &self.bodies[pending.start..pending.end],
                buffer: Vec::new(),
                pixels: Framebuffer::new(0, 0),
                outcome: None,
            })
            .collect();
        let result = if executor.accepts(&jobs) {
            for (job, buffer) in jobs.iter_mut().zip(self.spare.drain(..)) {
                job.buffer = buffer;
            }
            executor.execute(&mut jobs);
            let result = jobs
                .iter_mut()
                .try_for_each(|job| apply(job, format, framebuffer));
            keep_buffers(&mut self.spare, jobs);
            result
        } else {
            jobs.iter()
                .try_for_each(|job| draw_in_place(job, format, framebuffer))
        };
        self.clear();
        result
    }

    fn clear(&mut self) {
        self.pending.clear();
        self.bodies.clear();
        self.pixels = 0;
        // One huge rectangle may have grown the buffers past the limits; do not keep that.
        if self.bodies.capacity() > MAX_BATCH_BYTES {
            self.bodies = Vec::new();
        }
        if self.pending.capacity() > MAX_BATCH_RECTANGLES {
            self.pending = Vec::new();
        }
    }
}

/// Keeps the jobs' pixel buffers for the next batch, up to [`MAX_BATCH_PIXELS`] in all.
fn keep_buffers(spare: &mut Vec<Vec<u32>>, jobs: Vec<DecodeJob<'_>>) {
    let mut kept = spare.iter().map(Vec::capacity).sum::<usize>();
    for job in jobs {
        let buffer = job.pixels.into_pixels();
        if buffer.capacity() > 0 && kept + buffer.capacity() <= MAX_BATCH_PIXELS {
            kept += buffer.capacity();
            spare.push(buffer);
        }
    }
}

/// Copies one job's pixels into place, or turns its failure into the sequential path's error.
fn apply(
    job: &mut DecodeJob<'_>,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Result<(), ProtocolError> {
    job.run();
    match job.outcome.take() {
        Some(Ok(())) => {
            framebuffer.put_pixels(&job.rect, job.pixels.pixels());
            Ok(())
        }
        // Drawing in place draws what the sequential path would have drawn before failing
        // and gives its exact reason (reasons may name positions in framebuffer coordinates).
        _ => draw_in_place(job, format, framebuffer),
    }
}

/// Draws a job straight into the framebuffer, as the sequential path does.
fn draw_in_place(
    job: &DecodeJob<'_>,
    format: &PixelFormat,
    framebuffer: &mut Framebuffer,
) -> Result<(), ProtocolError> {
    let rect = job.rect;
    draw(job.encoding, job.body, &rect, format, framebuffer).map_err(|reason| {
        ProtocolError::BadRectangle {
            encoding: job.encoding.to_string(),
            x: rect.x,
            y: rect.y,
            w: rect.width,
            h: rect.height,
            reason,
        }
    })
}
