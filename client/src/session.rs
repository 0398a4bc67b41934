//! Runs a viewer until it is told to stop: the loop shared by the headless mode and the
//! window. Input from the user goes to the server at once; each complete update is handed to
//! the display, if there is one.

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use farview_protocol::encodings::cursor::Cursor;
use farview_protocol::{ClientEvent, Framebuffer};
use tokio::sync::mpsc;
use tracing::{debug, info};

use crate::listen::Endpoint;
use crate::snapshot;
use crate::viewer::{ViewerError, ViewerOptions};

/// Input for the server, from a window or a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserInput {
    /// A key; `scancode` is the XT scancode of the physical key, when known.
    Key {
        down: bool,
        keysym: u32,
        scancode: Option<u32>,
    },
    Pointer {
        buttons: u8,
        x: u16,
        y: u16,
    },
    CutText(String),
}

/// The newest picture, for a window to show.
#[derive(Debug, Default)]
pub struct SharedFrame {
    inner: Mutex<FrameState>,
}

#[derive(Debug, Default)]
pub struct FrameState {
    pub framebuffer: Option<Framebuffer>,
    pub name: String,
    /// The pointer shape the server sent, for a window to draw at the local pointer; `None`
    /// until the server sends one (it then draws the pointer into the framebuffer itself).
    pub cursor: Option<Cursor>,
    /// Where the server last said the pointer is (PointerPos): the window draws the cursor
    /// there until the local mouse moves.
    pub pointer_position: Option<(u16, u16)>,
    /// Bumped on every update, so the window redraws only when something is new.
    pub generation: u64,
}

impl SharedFrame {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, FrameState> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn publish(
        &self,
        framebuffer: &Framebuffer,
        name: &str,
        cursor: Option<&Cursor>,
        pointer_position: Option<(u16, u16)>,
    ) {
        let mut state = self.lock();
        match &mut state.framebuffer {
            Some(shown)
                if shown.width() == framebuffer.width()
                    && shown.height() == framebuffer.height() =>
            {
                shown.pixels_mut().copy_from_slice(framebuffer.pixels());
            }
            slot => *slot = Some(framebuffer.clone()),
        }
        if state.name != name {
            state.name = name.to_string();
        }
        if state.cursor.as_ref() != cursor {
            state.cursor = cursor.cloned();
        }
        state.pointer_position = pointer_position;
        state.generation += 1;
    }
}

/// What a session ends with.
#[derive(Debug)]
pub struct SessionEnd {
    pub framebuffer: Framebuffer,
    pub updates: u64,
}

/// Reaches the server at `endpoint` and runs until `stop` completes or the connection ends.
pub async fn run(
    endpoint: &Endpoint,
    options: &ViewerOptions,
    mut input: Option<mpsc::UnboundedReceiver<UserInput>>,
    display: Option<Arc<SharedFrame>>,
    stop: impl Future<Output = ()>,
) -> Result<SessionEnd, ViewerError> {
    let mut viewer = endpoint.open(options).await?;
    tokio::pin!(stop);
    loop {
        while let Some(event) = viewer.poll_event()? {
            if let (
                ClientEvent::UpdateComplete { .. } | ClientEvent::Connected { .. },
                Some(display),
            ) = (&event, &display)
            {
                display.publish(
                    viewer.framebuffer(),
                    viewer.name(),
                    viewer.cursor(),
                    viewer.pointer_position(),
                );
            }
            if let ClientEvent::CutText(text) = &event {
                debug!("server clipboard: {} characters", text.chars().count());
            }
        }
        viewer.flush().await?;
        tokio::select! {
            received = viewer.receive() => received?,
            Some(event) = next_input(&mut input) => match event {
                UserInput::Key { down, keysym, scancode } => {
                    viewer.key_event_with_scancode(down, keysym, scancode);
                }
                UserInput::Pointer { buttons, x, y } => viewer.pointer_event(buttons, x, y),
                UserInput::CutText(text) => viewer.cut_text(&text),
            },
            () = &mut stop => break,
        }
    }
    Ok(SessionEnd {
        framebuffer: viewer.framebuffer().clone(),
        updates: viewer.updates(),
    })
}

async fn next_input(input: &mut Option<mpsc::UnboundedReceiver<UserInput>>) -> Option<UserInput> {
    match input {
        Some(receiver) => receiver.recv().await,
        None => std::future::pending().await,
    }
}

/// Writes the snapshot, if one was asked for.
pub fn write_snapshot(end: &SessionEnd, path: Option<&PathBuf>) -> Result<(), ViewerError> {
    if let Some(path) = path {
        snapshot::write_png(&end.framebuffer, path).map_err(|source| {
            ViewerError::Io(std::io::Error::new(
                source.kind(),
                format!("snapshot {}: {source}", path.display()),
            ))
        })?;
        info!("snapshot written to {}", path.display());
    }
    Ok(())
}
