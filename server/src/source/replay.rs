//! The replay source: plays the PNG files of a folder in name order at a fixed rate, then
//! holds the last frame (or starts again with `--loop`). Tests and benchmarks use it with
//! recorded desktop sequences; with a frame log, every frame shown is logged with its hash.

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use farview_protocol::Framebuffer;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Source, SourceError, SourceFuture};
use crate::desktop::{Desktop, InputEvent};
use crate::frame_log::FrameLog;

#[derive(Debug)]
pub struct ReplaySource {
    frames: Vec<PathBuf>,
    first: Framebuffer,
    /// With `--preload`: every frame decoded and hashed before the server starts.
    preloaded: Option<Vec<(Framebuffer, String)>>,
    interval: Duration,
    looping: bool,
    frame_log: Option<FrameLog>,
}

impl ReplaySource {
    /// Lists the PNG files of `dir` and decodes the first (it gives the desktop's size), or
    /// with `preload` all of them (benchmarks use that to keep PNG decoding and hashing out
    /// of the serving time; it holds every frame in memory).
    pub fn open(
        dir: &Path,
        fps: f64,
        looping: bool,
        preload: bool,
        frame_log: Option<FrameLog>,
    ) -> Result<ReplaySource, SourceError> {
        let error = |message: String| SourceError::Frames {
            path: dir.to_path_buf(),
            message,
        };
        let mut frames: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| error(e.to_string()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| {
                path.extension()
                    .is_some_and(|ext| ext.eq_ignore_ascii_case("png"))
            })
            .collect();
        frames.sort();
        let Some(first_path) = frames.first() else {
            return Err(error("no .png files".into()));
        };
        let first = decode_png(first_path)?;
        if !(fps.is_finite() && fps > 0.0) {
            return Err(error(format!("--fps must be positive, got {fps}")));
        }
        let preloaded = if preload {
            let decoded = frames.iter().map(|path| {
                let frame = decode_png(path)?;
                if (frame.width(), frame.height()) != (first.width(), first.height()) {
                    return Err(error(format!(
                        "{} is {}x{}, the first frame {}x{}",
                        path.display(),
                        frame.width(),
                        frame.height(),
                        first.width(),
                        first.height()
                    )));
                }
                let hash = frame.sha256_hex();
                Ok((frame, hash))
            });
            Some(decoded.collect::<Result<Vec<_>, _>>()?)
        } else {
            None
        };
        Ok(ReplaySource {
            frames,
            first,
            preloaded,
            interval: Duration::from_secs_f64(1.0 / fps),
            looping,
            frame_log,
        })
    }

    async fn play(mut self, desktop: Arc<Desktop>) -> Result<(), SourceError> {
        let mut ticks = tokio::time::interval_at(Instant::now(), self.interval);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            let mut next = Some(self.first.clone());
            for index in 0..self.frames.len() {
                let decoded;
                let (frame, hash) = match &self.preloaded {
                    Some(frames) => (&frames[index].0, Some(frames[index].1.as_str())),
                    None => {
                        // Decode the following frame while this one waits for its tick.
                        decoded = match next.take() {
                            Some(frame) => frame,
                            None => {
                                let path = self.frames[index].clone();
                                tokio::task::spawn_blocking(move || decode_png(&path))
                                    .await
                                    .map_err(|e| SourceError::Frames {
                                        path: self.frames[index].clone(),
                                        message: e.to_string(),
                                    })??
                            }
                        };
                        (&decoded, None)
                    }
                };
                ticks.tick().await;
                desktop.draw(|canvas| canvas.replace_with(frame));
                if let Some(log) = &mut self.frame_log {
                    let hash = hash.map_or_else(|| frame.sha256_hex(), str::to_string);
                    log.frame(index, &hash).map_err(SourceError::FrameLog)?;
                }
            }
            if !self.looping {
                return Ok(());
            }
        }
    }
}

impl Source for ReplaySource {
    fn size(&self) -> (u16, u16) {
        (self.first.width(), self.first.height())
    }

    fn name(&self) -> String {
        let folder = self.frames[0].parent().and_then(Path::file_name);
        format!(
            "farview replay {}",
            folder.unwrap_or_default().to_string_lossy()
        )
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        // Recorded frames take no input: a viewer's resize request, dropped with the channel,
        // is refused as prohibited.
        drop(input);
        Box::pin(async move {
            self.play(desktop).await?;
            // Hold the last frame for as long as the server runs.
            std::future::pending::<()>().await;
            Ok(())
        })
    }
}

/// Reads a PNG of any colour type and bit depth into a framebuffer.
pub fn decode_png(path: &Path) -> Result<Framebuffer, SourceError> {
    let error = |message: String| SourceError::Frames {
        path: path.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let mut decoder = png::Decoder::new(BufReader::new(file));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| error(e.to_string()))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| error("image too large".into()))?;
    let mut buffer = vec![0; size];
    let info = reader
        .next_frame(&mut buffer)
        .map_err(|e| error(e.to_string()))?;
    let (width, height) = (info.width, info.height);
    let (Ok(w), Ok(h)) = (u16::try_from(width), u16::try_from(height)) else {
        return Err(error(format!("{width}x{height} is larger than RFB allows")));
    };
    let channels = info.color_type.samples();
    let pixels = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| match channels {
            1 | 2 => u32::from(p[0]) * 0x010101,
            _ => (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]),
        })
        .collect();
    Framebuffer::from_pixels(w, h, pixels).ok_or_else(|| error("pixel count mismatch".into()))
}
