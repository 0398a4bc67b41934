//! Desktop sources: what a server shares. A source draws into a [`Desktop`] and receives the
//! viewers' input; the server does the rest.

pub mod demo;
pub mod replay;
pub mod x11;
pub mod xvfb;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::desktop::{Desktop, InputEvent};
use crate::frame_log::FrameLog;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(
        "unknown source {0:?} (expected demo, x11[:DISPLAY], xvfb[:WIDTHxHEIGHT] or replay:DIR)"
    )]
    UnknownSource(String),
    #[error("X display {display}: {message}")]
    X11 { display: String, message: String },
    #[error("X display {display} went away ({message}): ending the session")]
    X11Gone { display: String, message: String },
    #[error("xvfb: {0}")]
    Xvfb(String),
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
    /// A running X display; `None` is $DISPLAY.
    X11(Option<String>),
    /// A new Xvfb of this size, running the session command.
    Xvfb {
        width: u16,
        height: u16,
    },
}

impl SourceSpec {
    /// The default: the X display the user sits at if $DISPLAY is set, else the demo.
    pub fn default_for_environment() -> SourceSpec {
        match std::env::var_os("DISPLAY") {
            Some(display) if !display.is_empty() => SourceSpec::X11(None),
            _ => SourceSpec::Demo,
        }
    }
}

impl std::str::FromStr for SourceSpec {
    type Err = SourceError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || SourceError::UnknownSource(text.to_string());
        match text.split_once(':') {
            None if text == "demo" => Ok(SourceSpec::Demo),
            None if text == "x11" => Ok(SourceSpec::X11(None)),
            None if text == "xvfb" => Ok(SourceSpec::Xvfb {
                width: xvfb::DEFAULT_SIZE.0,
                height: xvfb::DEFAULT_SIZE.1,
            }),
            Some(("replay", dir)) if !dir.is_empty() => Ok(SourceSpec::Replay(dir.into())),
            // x11::0 and x11:host:0 name the display after the first colon; x11:0 means :0.
            Some(("x11", display)) if !display.is_empty() => {
                Ok(SourceSpec::X11(Some(if display.contains(':') {
                    display.to_string()
                } else {
                    format!(":{display}")
                })))
            }
            Some(("xvfb", size)) => {
                let (width, height) = size.split_once('x').ok_or_else(unknown)?;
                let (width, height) = (
                    width.parse().map_err(|_| unknown())?,
                    height.parse().map_err(|_| unknown())?,
                );
                if width == 0
                    || height == 0
                    || !farview_protocol::Framebuffer::size_is_acceptable(width, height)
                {
                    return Err(unknown());
                }
                Ok(SourceSpec::Xvfb { width, height })
            }
            _ => Err(unknown()),
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
    /// Xvfb: the command run in the new display (`sh -c`); `None` starts a terminal.
    pub session: Option<String>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        Self {
            fps: 10.0,
            looping: false,
            preload: false,
            frame_log: None,
            session: None,
        }
    }
}

/// Opens the source `spec` names.
pub fn open(spec: &SourceSpec, options: &SourceOptions) -> Result<Box<dyn Source>, SourceError> {
    Ok(match spec {
        SourceSpec::Demo => Box::new(demo::DemoSource::new()),
        SourceSpec::X11(display) => Box::new(x11::X11Source::connect(display.as_deref())?),
        SourceSpec::Xvfb { width, height } => Box::new(xvfb::XvfbSource::start(
            *width,
            *height,
            options.session.as_deref(),
        )?),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_names_parse() {
        let parse = |text: &str| text.parse::<SourceSpec>().ok();
        assert_eq!(parse("demo"), Some(SourceSpec::Demo));
        assert_eq!(parse("x11"), Some(SourceSpec::X11(None)));
        assert_eq!(parse("x11:1"), Some(SourceSpec::X11(Some(":1".into()))));
        assert_eq!(parse("x11::1"), Some(SourceSpec::X11(Some(":1".into()))));
        assert_eq!(
            parse("x11:host:0.1"),
            Some(SourceSpec::X11(Some("host:0.1".into())))
        );
        assert_eq!(
            parse("xvfb"),
            Some(SourceSpec::Xvfb {
                width: xvfb::DEFAULT_SIZE.0,
                height: xvfb::DEFAULT_SIZE.1
            })
        );
        assert_eq!(
            parse("xvfb:800x600"),
            Some(SourceSpec::Xvfb {
                width: 800,
                height: 600
            })
        );
        for bad in [
            "xvfb:800",
            "xvfb:0x600",
            "xvfb:99999x10",
            "x11:",
            "vnc",
            "replay:",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
