//! Decoding on several cores: a [`DecodeExecutor`] that runs a batch of deferred rectangles
//! (see `farview_protocol::encodings::batch`) on scoped threads, one per core, when the
//! batch has enough work to pay for starting them and for copying the results into place.

use std::cmp::Reverse;
use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};

use farview_protocol::EncodingType;
use farview_protocol::encodings::{DecodeExecutor, DecodeJob};

/// Runs batches of decode jobs on up to `threads` threads (the calling one included).
#[derive(Debug, Clone)]
pub struct ThreadedExecutor {
    threads: usize,
    sharing: Sharing,
}

/// When a batch goes to the threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// When its estimated work reaches [`ThreadedExecutor::MIN_SHARED_WORK`].
    WhenWorthIt,
    /// Every batch of two rectangles or more (for tests and measurements).
    Always,
}

/// A job's work in pixel-sized units: its pixels plus half its body bytes, or eight times
/// them for TightPNG, whose every byte goes through zlib and the PNG filters. In the
/// "decode batch" figures of `benches/encoders.rs` (release, 2 cores), decoding Raw costs
/// about 2.2 ns a pixel (4 bytes), TRLE 0.7 and TightPNG 1.8 (0.17 bytes).
pub fn estimated_work(job: &DecodeJob<'_>) -> usize {
    let bytes = job.body_len();
    let weighted = if job.encoding() == EncodingType::TIGHT_PNG {
        bytes.saturating_mul(8)
    } else {
        bytes / 2
    };
    job.area().saturating_add(weighted)
}

impl ThreadedExecutor {
    /// The least work (see [`estimated_work`]) worth sharing: about 150 us of decoding.
    /// Starting and joining a thread costs some 45 us, and zeroing each job's buffer and
    /// copying it into place stays on the calling thread; measured ("decode batch"), Raw
    /// gains from 64 Ki pixels (1.17x at 128 Ki, 1.43x at 256 Ki), TightPNG from 64 Ki
    /// (1.25x), and Raw at 32 Ki or TightPNG at 32 Ki lose.
    pub const MIN_SHARED_WORK: usize = 192 * 1024;

    /// One thread per core, sharing batches when it pays.
    pub fn new() -> Self {
        let threads = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Self::with_threads(threads, Sharing::WhenWorthIt)
    }

    /// Up to `threads` threads (at least one: the caller's; with one, no batch is shared).
    pub fn with_threads(threads: usize, sharing: Sharing) -> Self {
        Self {
            threads: threads.max(1),
            sharing,
        }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }
}

impl Default for ThreadedExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl DecodeExecutor for ThreadedExecutor {
    /// Takes a batch of two rectangles or more when it has enough work to share; a batch
    /// refused is drawn in place, which costs nothing over not deferring but the copy of
    /// its bodies.
    fn accepts(&self, jobs: &[DecodeJob<'_>]) -> bool {
        self.threads > 1
            && jobs.len() > 1
            && (self.sharing == Sharing::Always
                || jobs.iter().map(estimated_work).sum::<usize>() >= Self::MIN_SHARED_WORK)
    }

    fn execute(&self, jobs: &mut [DecodeJob<'_>]) {
        let threads = self.threads.min(jobs.len());
        // Largest first, each thread taking the next job when done with one: the last jobs
        // to start are the small ones, so the threads finish close together.
        let mut queue: Vec<&mut DecodeJob<'_>> = jobs.iter_mut().collect();
        queue.sort_by_key(|job| Reverse(estimated_work(job)));
        let queue = Mutex::new(queue.into_iter());
        let work = || {
            loop {
                // Taken in a statement of its own, so the lock is not held while decoding.
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).next();
                let Some(job) = next else { break };
                job.run();
            }
        };
        std::thread::scope(|scope| {
            for _ in 1..threads {
                scope.spawn(work);
            }
            work();
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use farview_protocol::encodings::hextile::HextileEncoder;
    use farview_protocol::encodings::trle::TrleEncoder;
    use farview_protocol::encodings::{copyrect, raw};
    use farview_protocol::messages::RectangleHeader;
    use farview_protocol::{
        ClientConnection, ClientEvent, EncodingType, Framebuffer, PixelFormat, Rect, ServerMessage,
        loopback,
    };

    fn picture(width: u16, height: u16, seed: u32) -> Framebuffer {
        let pixels = (0..u32::from(width) * u32::from(height))
            .map(|i| {
                let (x, y) = (i % u32::from(width), i / u32::from(width));
                // Blocks of flat colour with noisy ones between: every subencoding gets used.
                if (x / 16 + y / 16 + seed).is_multiple_of(3) {
                    (i ^ seed).wrapping_mul(0x9e37_79b9) >> 8
                } else {
                    ((x / 16) * 0x1f_3b00 + (y / 16) * 0x47 + seed) & 0xff_ffff
                }
            })
            .collect();
        Framebuffer::from_pixels(width, height, pixels).unwrap()
    }

    /// Two updates of many rectangles: Hextile, TRLE and Raw over each other, a CopyRect
    /// reading one of them, and the end of the update.
    fn stream(width: u16, height: u16) -> Vec<u8> {
        let format = PixelFormat::NATIVE;
        let (mut hextile, mut trle) = (HextileEncoder::default(), TrleEncoder::default());
        let mut out = Vec::new();
        for seed in 0..2u32 {
            let source = picture(width, height, seed);
            let mut rects: Vec<(Rect, EncodingType)> = Vec::new();
            for (index, y) in (0..height).step_by(40).enumerate() {
                let band = Rect::new(0, y, width, 40.min(height - y));
                let encoding = [EncodingType::HEXTILE, EncodingType::TRLE, EncodingType::RAW]
                    [(index + seed as usize) % 3];
                rects.push((band, encoding));
            }
            rects.push((Rect::new(10, 10, 200, 150), EncodingType::TRLE));
            rects.push((Rect::new(300, 5, 64, 64), EncodingType::COPY_RECT));
            rects.push((Rect::new(100, 100, 300, 200), EncodingType::HEXTILE));
            ServerMessage::FramebufferUpdate {
                rect_count: rects.len() as u16,
            }
            .write(&mut out);
            for (rect, encoding) in rects {
                RectangleHeader { rect, encoding }.write(&mut out);
                match encoding {
                    EncodingType::HEXTILE => hextile.encode(&source, &rect, &format, &mut out),
                    EncodingType::TRLE => trle.encode(&source, &rect, &format, &mut out),
                    EncodingType::COPY_RECT => copyrect::encode(20, 20, &mut out),
                    _ => raw::encode(&source, &rect, &format, &mut out),
                }
            }
        }
        out
    }

    fn decode(client: &mut ClientConnection, stream: &[u8]) -> Vec<ClientEvent> {
        let mut pending = Vec::new();
        let mut events = Vec::new();
        for piece in stream.chunks(7919) {
            pending.extend_from_slice(piece);
            let used = client.handle_input(&pending).expect("decodes");
            pending.drain(..used);
            events.extend(std::iter::from_fn(|| client.poll_event()));
        }
        assert!(pending.is_empty());
        events
    }

    #[test]
    fn threads_decode_what_one_thread_decodes() {
        let (width, height) = (640, 480);
        let stream = stream(width, height);
        let connect = || {
            let (_, client) = loopback::connected_pair(
                width,
                height,
                PixelFormat::NATIVE,
                vec![EncodingType::HEXTILE],
            );
            client
        };
        let mut sequential = connect();
        let expected_events = decode(&mut sequential, &stream);
        assert_eq!(
            expected_events
                .iter()
                .filter(|e| matches!(e, ClientEvent::UpdateComplete { .. }))
                .count(),
            2
        );
        for executor in [
            ThreadedExecutor::with_threads(4, Sharing::Always),
            ThreadedExecutor::with_threads(2, Sharing::Always),
            ThreadedExecutor::new(),
            ThreadedExecutor::with_threads(2, Sharing::WhenWorthIt),
            ThreadedExecutor::with_threads(1, Sharing::Always),
        ] {
            let mut threaded = connect();
            threaded.set_decode_executor(Box::new(executor.clone()));
            let events = decode(&mut threaded, &stream);
            assert_eq!(events, expected_events, "{executor:?}");
            assert!(
                threaded.framebuffer() == sequential.framebuffer(),
                "{executor:?}"
            );
        }
    }

    #[test]
    fn a_failing_job_on_another_thread_fails_the_connection() {
        let (width, height) = (64, 64);
        let mut out = Vec::new();
        ServerMessage::FramebufferUpdate { rect_count: 3 }.write(&mut out);
        let format = PixelFormat::NATIVE;
        let source = picture(width, height, 1);
        for rect in [Rect::new(0, 0, 64, 32), Rect::new(0, 32, 64, 32)] {
            RectangleHeader {
                rect,
                encoding: EncodingType::RAW,
            }
            .write(&mut out);
            raw::encode(&source, &rect, &format, &mut out);
        }
        // A Hextile tile whose subrectangle leaves the tile.
        let rect = Rect::new(16, 16, 16, 16);
        RectangleHeader {
            rect,
            encoding: EncodingType::HEXTILE,
        }
        .write(&mut out);
        out.extend_from_slice(&[2 | 4 | 8, 0, 0, 0, 0, 1, 1, 1, 0, 1, 0xff, 0x11]);
        let (_, mut client) =
            loopback::connected_pair(width, height, format, vec![EncodingType::HEXTILE]);
        client.set_decode_executor(Box::new(ThreadedExecutor::with_threads(4, Sharing::Always)));
        let error = client.handle_input(&out).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("hextile rectangle at 16,16 16x16: tile 0: subrectangle 0"),
            "{error}"
        );
        assert_eq!(client.poll_event(), None);
    }
}
