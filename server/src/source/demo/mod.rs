//! The demo source: farview's built-in desktop, drawn entirely by this module, that reacts
//! visibly to viewers' input. It exercises what the protocol can carry:
//!
//! - a clock in the top bar, redrawn once a second, where only its own cells change;
//! - *Notes*, a text box: typed keys appear, BackSpace deletes, Return starts a line, long
//!   text wraps and scrolls. Every change puts the whole text on the clipboard (viewers get
//!   ServerCutText). Escape and Ctrl+G ring the bell;
//! - *Sketch*: dragging with button 1 draws, button 3 clears;
//! - *List*: 100 items that the wheel scrolls with CopyRect, drawing only the exposed rows;
//! - text from a viewer's clipboard (ClientCutText) is shown, clipped, in the "About" window
//!   rather than typed into Notes, so pasting never floods the clipboard loop;
//! - a status bar with the pointer position, buttons, last key and bell count;
//! - viewers may resize it (SetDesktopSize) from 1024x768 up to 4096x4096, one screen
//!   covering the desktop: the bars stretch, the windows and their content stay
//!   ([`scene::Demo::resize`]);
//! - its own pointer shape, an arrow ([`arrow_cursor`]), for viewers that draw the pointer.
//!
//! The text is drawn with [`font`], a bitmap font made for farview.

pub mod font;
mod keys;
mod paint;
mod pointer;
mod scene;
mod text;
mod widgets;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use super::{Source, SourceError, SourceFuture};
use crate::desktop::{Desktop, InputEvent};
use scene::Demo;

pub use pointer::{ARROW_HEIGHT, ARROW_HOTSPOT, ARROW_WIDTH, arrow_cursor};
pub use scene::clock_area;

#[derive(Debug, Default)]
pub struct DemoSource {}

impl DemoSource {
    pub fn new() -> Self {
        Self {}
    }
}

impl Source for DemoSource {
    fn size(&self) -> (u16, u16) {
        (scene::MIN_WIDTH, scene::MIN_HEIGHT)
    }

    fn name(&self) -> String {
        "farview demo".into()
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(run(desktop, input))
    }
}

/// Draws the desktop, then handles input and ticks the clock until the input channel closes.
async fn run(
    desktop: Arc<Desktop>,
    mut input: mpsc::Receiver<InputEvent>,
) -> Result<(), SourceError> {
    let mut demo = Demo::new();
    desktop.set_cursor(arrow_cursor());
    desktop.draw(|c| demo.draw_all(c, unix_seconds()));
    // Tick just after each whole second so the clock turns over when the seconds do.
    let subsecond = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let first = Duration::from_nanos(1_000_000_000 - u64::from(subsecond) + 5_000_000);
    let mut ticks = tokio::time::interval_at(Instant::now() + first, Duration::from_secs(1));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            event = input.recv() => match event {
                Some(InputEvent::SetDesktopSize(request)) => {
                    let status = desktop.draw(|c| {
                        demo.resize(c, &request.layout, request.viewer, unix_seconds())
                    });
                    request.answer(status);
                }
                Some(event) => apply(&desktop, &mut demo, &event),
                None => return Ok(()),
            },
            _ = ticks.tick() => desktop.draw(|c| demo.tick(c, unix_seconds())),
        }
    }
}

/// Handles one input event: draws its effect, then rings the bell or sets the clipboard.
fn apply(desktop: &Desktop, demo: &mut Demo, event: &InputEvent) {
    let effects = desktop.draw(|c| demo.handle(c, event));
    if let Some(text) = effects.clipboard {
        desktop.set_clipboard(&text);
    }
    if effects.bell {
        desktop.bell();
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
