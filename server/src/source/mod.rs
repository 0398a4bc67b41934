//! Desktop sources: what a server shares. A source draws into a [`Desktop`] and receives the
//! viewers' input; the server does the rest.

pub mod demo;
pub mod replay;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::desktop::{Desktop, InputEvent};
use crate::frame_log::FrameLog;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("unknown source {0:?} (expected demo or replay:DIR)")]
    UnknownSource(String),
    #[error("{path}: {message}")]
    Frames { path: PathBuf, message: String },
    #[error("frame log: {0}")]
    FrameLog(std::io::Error),
}

pub type SourceFuture = Pin<Box<dyn Future<Output = Result<(), SourceError>> + Send>>;

/// Something that can be shared as a desktop.
pub trait Source: Send + 'static {
    /// The desktop's size when it starts.
    fn size(&self) -> (u16, u16);
    /// The desktop name viewers are told.
    fn name(&self) -> String;
    /// Draws into `desktop` and handles `input` until the source ends (most never do).
    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture;
}

/// Which source to run, as given on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    Demo,
    Replay(PathBuf),
}

impl std::str::FromStr for SourceSpec {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.split_once(':') {
            None if text == "demo" => Ok(SourceSpec::Demo),
            Some(("replay", dir)) if !dir.is_empty() => Ok(SourceSpec::Replay(dir.into())),
            _ => Err(SourceError::UnknownSource(text.to_string())),
        }
    }
}

/// Options that some sources use.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Frames per second of the replay source.
    pub fps: f64,
    /// Replay: start again after the last frame.
    pub looping: bool,
    /// Replay: decode and hash every frame before serving.
    pub preload: bool,
    /// Replay: where to log each frame shown.
    pub frame_log: Option<PathBuf>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            fps: 10.0,
            looping: false,
            preload: false,
            frame_log: None,
        }
    }
}

/// Opens the source `spec` names.
pub fn open(spec: &SourceSpec, options: &SourceOptions) -> Result<Box<dyn Source>, SourceError> {
    Ok(match spec {
        SourceSpec::Demo => Box::new(demo::DemoSource::new()),
        SourceSpec::Replay(dir) => {
            let frame_log = options
                .frame_log
                .as_deref()
                .map(FrameLog::create)
                .transpose()
                .map_err(SourceError::FrameLog)?;
            Box::new(replay::ReplaySource::open(
                dir,
                options.fps,
                options.looping,
                options.preload,
                frame_log,
            )?)
        }
    })
}
