//! The x11 source: shares a running X display, as x11vnc does, at the cost of the changes
//! only.
//!
//! - [`capture`]: MIT-SHM GetImage into a shared segment when local, plain GetImage otherwise;
//! - [`damage`]: the DAMAGE extension says where the screen changed, so an idle desktop costs
//!   nothing; without it, the screen is polled and compared tile by tile;
//! - [`apply`]: captured areas reach viewers as scrolls and the boxes that really changed;
//! - [`windows`]: top-level window moves, sent as CopyRect;
//! - [`cursor`]: XFIXES cursor images, for the Cursor pseudo-encodings;
//! - [`input`]: XTEST keys (through the keyboard map) and pointer;
//! - [`clipboard`]: CLIPBOARD and PRIMARY both ways;
//! - [`randr`]: screen size changes, and viewers' requests for a size;
//! - [`pointer`]: the pointer's position, for PointerPos.
//!
//! X requests block, so the source runs on threads of its own: one reads X events, one
//! forwards viewers' input, and a worker owns the state and does all the rest, woken by
//! either. The X server going away ends the source with an error naming the display.

pub mod apply;
pub mod capture;
pub mod clipboard;
pub mod cursor;
pub mod damage;
pub mod input;
pub mod pointer;
pub mod randr;
mod shm;
pub mod windows;

use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use farview_protocol::Framebuffer;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::errors::{ConnectionError, ReplyError, ReplyOrIdError};
use x11rb::protocol::Event;
use x11rb::protocol::xproto::{self, ConnectionExt as _, Mapping};
use x11rb::rust_connection::RustConnection;

use super::{Source, SourceError, SourceFuture};
use crate::desktop::{Desktop, InputEvent, ResizeRequest, ViewerId};
use capture::Capture;
use clipboard::Clipboard;
use damage::DamageTracker;
use farview_protocol::encodings::extended_desktop_size::{DesktopLayout, ResizeStatus, Screen};
use input::Input;
use pointer::PointerTracker;
use randr::Resizer;
use windows::WindowTracker;

/// The shortest time between two captures: changes coming faster are merged (at most about
/// 30 captures a second while the screen keeps changing; a change after a quiet moment is
/// captured at once).
pub const MIN_CAPTURE_INTERVAL: Duration = Duration::from_millis(30);
/// How long to wait after the first damage before capturing, so that one drawing operation
/// split over several requests is captured whole.
pub const DAMAGE_SETTLE: Duration = Duration::from_millis(2);
/// How often the screen is compared without DAMAGE.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Messages (X events, input) waiting for the worker; the readers wait beyond that.
const MESSAGE_QUEUE: usize = 512;

/// What went wrong talking to X.
#[derive(Debug, thiserror::Error)]
pub enum XError {
    #[error("connection lost: {0}")]
    Connection(#[from] ConnectionError),
    #[error("X error: {0}")]
    Protocol(String),
    #[error("{0}")]
    Unsupported(String),
}

impl From<ReplyError> for XError {
    fn from(error: ReplyError) -> Self {
        match error {
            ReplyError::ConnectionError(error) => XError::Connection(error),
            ReplyError::X11Error(error) => XError::Protocol(format!(
                "{:?} from request {}.{}",
                error.error_kind, error.major_opcode, error.minor_opcode
            )),
        }
    }
}

impl From<ReplyOrIdError> for XError {
    fn from(error: ReplyOrIdError) -> Self {
        match error {
            ReplyOrIdError::ConnectionError(error) => XError::Connection(error),
            ReplyOrIdError::X11Error(error) => ReplyError::X11Error(error).into(),
            ReplyOrIdError::IdsExhausted => XError::Unsupported("out of X resource ids".into()),
        }
    }
}

/// A connection to an X display, ready to share the screen its name picks (usually 0).
#[derive(Debug)]
pub struct X11Source {
    display: String,
    connection: Arc<RustConnection>,
    screen: xproto::Screen,
}

impl X11Source {
    /// Connects to `display` (`None`: $DISPLAY).
    pub fn connect(display: Option<&str>) -> Result<X11Source, SourceError> {
        let display = display
            .map(str::to_string)
            .or_else(|| std::env::var("DISPLAY").ok())
            .unwrap_or_default();
        let (connection, screen_number) =
            x11rb::connect(Some(&display)).map_err(|error| SourceError::X11 {
                display: display.clone(),
                message: format!("cannot connect: {error}"),
            })?;
        Self::from_connection(display, connection, screen_number)
    }

    /// Shares screen `screen_number` of an established connection.
    pub fn from_connection(
        display: String,
        connection: RustConnection,
        screen_number: usize,
    ) -> Result<X11Source, SourceError> {
        let screen = connection
            .setup()
            .roots
            .get(screen_number)
            .cloned()
            .ok_or_else(|| SourceError::X11 {
                display: display.clone(),
                message: format!("no screen {screen_number}"),
            })?;
        check_size(screen.width_in_pixels, screen.height_in_pixels).map_err(|error| {
            SourceError::X11 {
                display: display.clone(),
                message: error.to_string(),
            }
        })?;
        Ok(X11Source {
            display,
            connection: Arc::new(connection),
            screen,
        })
    }

    pub fn display(&self) -> &str {
        &self.display
    }
}

impl Source for X11Source {
    fn size(&self) -> (u16, u16) {
        (self.screen.width_in_pixels, self.screen.height_in_pixels)
    }

    fn name(&self) -> String {
        format!("X display {}", self.display)
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(async move {
            let display = self.display.clone();
            let (messages, inbox) = std::sync::mpsc::sync_channel(MESSAGE_QUEUE);
            let (result_sender, result) = oneshot::channel();
            let (finished_sender, finished) = std::sync::mpsc::channel::<()>();
            let connection = self.connection.clone();
            std::thread::Builder::new()
                .name("x11-source".into())
                .spawn(move || {
                    let result = Worker::start(*self, desktop)
                        .and_then(|worker| worker.run(inbox))
                        .map_err(|error| into_source_error(error, &display));
                    let _ = result_sender.send(result);
                    drop(finished_sender);
                })
                .map_err(|error| SourceError::X11 {
                    display: String::new(),
                    message: format!("cannot start the source thread: {error}"),
                })?;
            spawn_event_reader(connection, messages.clone());
            spawn_input_forwarder(input, messages.clone());
            // Dropping this future (the server shutting down) stops the worker, which
            // releases keys and gives back the keycodes it bound.
            let _stop = StopOnDrop { messages, finished };
            result.await.unwrap_or(Ok(()))
        })
    }
}

/// What the worker is woken by.
#[derive(Debug)]
enum Message {
    Event(Event),
    Input(InputEvent),
    /// The X connection failed while waiting for events.
    Lost(ConnectionError),
    Stop,
}

struct StopOnDrop {
    messages: SyncSender<Message>,
    finished: Receiver<()>,
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.messages.try_send(Message::Stop).is_ok() {
            // Give the worker a moment to clean up before the process may exit.
            let _ = self.finished.recv_timeout(Duration::from_secs(1));
        }
    }
}

fn spawn_event_reader(connection: Arc<RustConnection>, messages: SyncSender<Message>) {
    let _ = std::thread::Builder::new()
        .name("x11-events".into())
        .spawn(move || {
            loop {
                let message = match connection.wait_for_event() {
                    Ok(event) => Message::Event(event),
                    Err(error) => {
                        let _ = messages.send(Message::Lost(error));
                        return;
                    }
                };
                if messages.send(message).is_err() {
                    return;
                }
            }
        });
}

fn spawn_input_forwarder(mut input: mpsc::Receiver<InputEvent>, messages: SyncSender<Message>) {
    let _ = std::thread::Builder::new()
        .name("x11-input".into())
        .spawn(move || {
            while let Some(event) = input.blocking_recv() {
                if messages.send(Message::Input(event)).is_err() {
                    return;
                }
            }
        });
}

/// Refuses screens whose framebuffer would exceed what viewers are allowed to allocate.
fn check_size(width: u16, height: u16) -> Result<(), XError> {
    if width > 0 && height > 0 && Framebuffer::size_is_acceptable(width, height) {
        Ok(())
    } else {
        Err(XError::Unsupported(format!(
            "a {width}x{height} screen is larger than RFB viewers accept"
        )))
    }
}

fn into_source_error(error: XError, display: &str) -> SourceError {
    match error {
        XError::Connection(error) => SourceError::X11Gone {
            display: display.to_string(),
            message: error.to_string(),
        },
        error => SourceError::X11 {
            display: display.to_string(),
            message: error.to_string(),
        },
    }
}

struct Worker {
    connection: Arc<RustConnection>,
    root: xproto::Window,
    screen: xproto::Screen,
    resizer: Resizer,
    /// The viewer whose request the next size change carries out, and its layout.
    resize_cause: Option<(ViewerId, DesktopLayout)>,
    pointer: Option<PointerTracker>,
    desktop: Arc<Desktop>,
    capture: Capture,
    damage: Option<DamageTracker>,
    input: Input,
    clipboard: Option<Clipboard>,
    windows: WindowTracker,
    /// The screen as last captured: what the desktop shows.
    captured: Framebuffer,
    /// When the first damage not yet captured arrived.
    damaged_since: Option<Instant>,
    last_capture: Instant,
}

impl Worker {
    fn start(source: X11Source, desktop: Arc<Desktop>) -> Result<Worker, XError> {
        let X11Source {
            display: name,
            connection,
            screen,
        } = source;
        let conn = &*connection;
        let root = screen.root;
        if conn
            .extension_information(x11rb::protocol::xtest::X11_EXTENSION_NAME)?
            .is_none()
        {
            warn!("{name}: no XTEST extension: viewers' input is ignored");
        }
        let capture = Capture::new(conn, &screen, true)?;
        let damage = DamageTracker::start(conn, root)?;
        let cursor_watched = cursor::watch(conn, root)?;
        let resizes = randr::watch(conn, root)?;
        let clipboard = Clipboard::new(conn, &screen, cursor_watched)?;
        let input = Input::new(conn, root)?;
        let windows = WindowTracker::start(conn, root)?;
        let pointer = PointerTracker::start(conn, root)?;
        info!(
            "x11 display {name}: {}x{}; capture: {}; changes: {}; cursor: {}; \
             clipboard: {}; resize: {}; pointer: {}",
            screen.width_in_pixels,
            screen.height_in_pixels,
            if capture.shared_memory() {
                "MIT-SHM"
            } else {
                "GetImage"
            },
            if damage.is_some() {
                "DAMAGE"
            } else {
                "polling"
            },
            if cursor_watched { "XFIXES" } else { "none" },
            if clipboard.is_some() { "yes" } else { "no" },
            if resizes { "RandR" } else { "no" },
            if pointer.is_some() { "XInput2" } else { "no" },
        );
        let (width, height) = (screen.width_in_pixels, screen.height_in_pixels);
        let mut worker = Worker {
            connection: connection.clone(),
            root,
            screen,
            resizer: Resizer::default(),
            resize_cause: None,
            pointer,
            desktop,
            capture,
            damage,
            input,
            clipboard,
            windows,
            captured: Framebuffer::new(width, height),
            damaged_since: None,
            last_capture: Instant::now(),
        };
        worker.capture_all()?;
        if cursor_watched {
            worker.update_cursor()?;
        }
        worker.fetch_initial_clipboard()?;
        conn.flush()?;
        Ok(worker)
    }

    fn run(mut self, inbox: Receiver<Message>) -> Result<(), XError> {
        let result = self.serve(&inbox);
        self.input.release_all(&self.connection);
        if let Some(damage) = &self.damage {
            damage.stop(&self.connection);
        }
        if let Some(clipboard) = &self.clipboard {
            clipboard.close(&self.connection);
        }
        self.capture.close(&self.connection);
        let _ = self.connection.flush();
        result
    }

    fn serve(&mut self, inbox: &Receiver<Message>) -> Result<(), XError> {
        loop {
            let message = match self.next_deadline() {
                Some(deadline) => {
                    inbox.recv_timeout(deadline.saturating_duration_since(Instant::now()))
                }
                None => inbox.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let message = match message {
                Ok(Message::Lost(error)) => return Err(XError::Connection(error)),
                Ok(Message::Stop) | Err(RecvTimeoutError::Disconnected) => return Ok(()),
                Ok(message) => Some(message),
                Err(RecvTimeoutError::Timeout) => None,
            };
            match self.step(message) {
                Ok(()) => {}
                Err(XError::Connection(error)) => return Err(XError::Connection(error)),
                // One request refused (a window gone, a size in flux) is no reason to stop
                // sharing the display.
                Err(error) => warn!("X: {error}"),
            }
        }
    }

    /// Handles one message, then whatever is due.
    fn step(&mut self, message: Option<Message>) -> Result<(), XError> {
        match message {
            Some(Message::Event(event)) => self.handle_event(event)?,
            Some(Message::Input(event)) => self.handle_input(event)?,
            _ => {}
        }
        let now = Instant::now();
        if self.capture_due().is_some_and(|due| due <= now) {
            self.capture_damage()?;
        }
        if self.input.next_unbind().is_some_and(|due| due <= now) {
            self.input.unbind_idle(&self.connection)?;
        }
        if let Some(pointer) = &mut self.pointer
            && let Some((x, y)) = pointer.query_if_due(&self.connection, now)?
        {
            self.desktop.set_pointer_position(x, y);
        }
        self.connection.flush()?;
        Ok(())
    }

    fn capture_due(&self) -> Option<Instant> {
        let settled = match (&self.damage, self.damaged_since) {
            (Some(_), Some(since)) => since + DAMAGE_SETTLE,
            (Some(_), None) => return None,
            (None, _) => self.last_capture + POLL_INTERVAL,
        };
        Some(settled.max(self.last_capture + MIN_CAPTURE_INTERVAL))
    }

    fn next_deadline(&self) -> Option<Instant> {
        [
            self.capture_due(),
            self.input.next_unbind(),
            self.pointer.as_ref().map(PointerTracker::next_query),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn handle_event(&mut self, event: Event) -> Result<(), XError> {
        let conn = &*self.connection;
        match event {
            Event::DamageNotify(_) => {
                self.damaged_since.get_or_insert_with(Instant::now);
            }
            Event::XfixesCursorNotify(_) => self.update_cursor()?,
            Event::XfixesSelectionNotify(event) => {
                if let Some(clipboard) = &mut self.clipboard {
                    clipboard.owner_changed(conn, &event)?;
                }
            }
            Event::SelectionNotify(event) => {
                if let Some(clipboard) = &mut self.clipboard
                    && let Some(text) = clipboard.converted(conn, &event)?
                {
                    debug!("X clipboard: {} characters", text.chars().count());
                    self.desktop.set_clipboard(&text);
                }
            }
            Event::SelectionRequest(request) => {
                if let Some(clipboard) = &self.clipboard {
                    clipboard.requested(conn, &request)?;
                }
            }
            Event::RandrScreenChangeNotify(_) => self.follow_screen_size()?,
            Event::XinputRawMotion(_) => {
                if let Some(pointer) = &mut self.pointer {
                    pointer.moved();
                }
            }
            Event::ConfigureNotify(event) => self.windows.configured(&event),
            Event::DestroyNotify(event) => self.windows.forget(event.window),
            Event::ReparentNotify(event) if event.parent != self.root => {
                self.windows.forget(event.window);
            }
            Event::MappingNotify(event) if event.request == Mapping::KEYBOARD => {
                self.input.reload_keymap(conn)?;
            }
            Event::Error(error) => debug!("X error: {error:?}"),
            _ => {}
        }
        Ok(())
    }

    fn handle_input(&mut self, event: InputEvent) -> Result<(), XError> {
        let conn = &*self.connection;
        match event {
            InputEvent::Key {
                down,
                keysym,
                scancode,
            } => self.input.key_event(conn, down, keysym, scancode)?,
            InputEvent::Pointer { buttons, x, y } => {
                self.input.pointer_event(conn, buttons, x, y)?;
            }
            InputEvent::CutText(text) => {
                if let Some(clipboard) = &mut self.clipboard {
                    clipboard.set_from_viewer(conn, text)?;
                }
            }
            InputEvent::SetDesktopSize(request) => self.resize_for_viewer(request)?,
        }
        Ok(())
    }

    /// Carries out a viewer's SetDesktopSize with RandR, follows the new size at once (so
    /// other viewers learn that this viewer asked), then answers.
    fn resize_for_viewer(&mut self, request: ResizeRequest) -> Result<(), XError> {
        let layout = request.layout.clone();
        let whole = [Screen {
            id: layout.screens.first().map_or(0, |screen| screen.id),
            flags: layout.screens.first().map_or(0, |screen| screen.flags),
            ..Screen::whole(0, layout.width, layout.height)
        }];
        if layout.screens != whole {
            info!(
                "viewer {}: a layout of {} screens refused: the X screen is resized as one \
                 monitor covering all of it",
                request.viewer,
                layout.screens.len()
            );
            request.answer(ResizeStatus::INVALID_LAYOUT);
            return Ok(());
        }
        let status =
            self.resizer
                .resize(&self.connection, &self.screen, layout.width, layout.height)?;
        if status.is_success() {
            self.resize_cause = Some((request.viewer, layout));
            let followed = self.follow_screen_size();
            self.resize_cause = None;
            followed?;
        }
        request.answer(status);
        Ok(())
    }

    /// Captures what DAMAGE reported (or, without it, the whole screen) and publishes it.
    fn capture_damage(&mut self) -> Result<(), XError> {
        self.damaged_since = None;
        self.last_capture = Instant::now();
        let (width, height) = (self.captured.width(), self.captured.height());
        let Some(damage) = &self.damage else {
            return self.capture_all();
        };
        let rects = damage.take(&self.connection, width, height)?;
        if rects.is_empty() {
            return Ok(());
        }
        match self
            .capture
            .read(&self.connection, &rects, &mut self.captured)
        {
            Ok(()) => {}
            // A screen that shrank under us: the RandR event is on its way.
            Err(XError::Protocol(error)) => {
                debug!("capture failed ({error}); checking the screen size");
                return self.follow_screen_size();
            }
            Err(error) => return Err(error),
        }
        let moves = self.windows.take_moves();
        let captured = &self.captured;
        self.desktop
            .draw(|canvas| apply::apply_captured(canvas, captured, &rects, &moves));
        Ok(())
    }

    /// Captures the whole screen; the desktop records only what differs.
    fn capture_all(&mut self) -> Result<(), XError> {
        self.last_capture = Instant::now();
        let bounds = self.captured.bounds();
        if let Some(damage) = &self.damage {
            // What is damaged now is in this capture.
            damage.take(&self.connection, bounds.width, bounds.height)?;
        }
        match self
            .capture
            .read(&self.connection, &[bounds], &mut self.captured)
        {
            Ok(()) => {}
            Err(XError::Protocol(error)) => {
                debug!("capture failed ({error}); checking the screen size");
                return self.follow_screen_size();
            }
            Err(error) => return Err(error),
        }
        self.windows.take_moves();
        let captured = &self.captured;
        let cause = self.resize_cause.take();
        self.desktop.draw(|canvas| {
            let size = (captured.width(), captured.height());
            if let Some((viewer, layout)) = cause
                && (layout.width, layout.height) == size
                && (canvas.width(), canvas.height()) != size
            {
                canvas.resize_to(layout, Some(viewer));
            }
            canvas.replace_with(captured);
        });
        Ok(())
    }

    fn follow_screen_size(&mut self) -> Result<(), XError> {
        let (width, height) = randr::screen_size(&self.connection, self.root)?;
        if (width, height) == (self.captured.width(), self.captured.height()) {
            return Ok(());
        }
        check_size(width, height)?;
        info!("X screen resized to {width}x{height}");
        self.capture.resize(&self.connection, width, height)?;
        self.captured = Framebuffer::new(width, height);
        self.capture_all()
    }

    fn update_cursor(&mut self) -> Result<(), XError> {
        let cursor = match cursor::current(&self.connection) {
            Ok(cursor) => cursor,
            // The X server refuses the image of a cursor whose client has gone (xsetroot
            // sets one and exits): viewers keep the shape they have.
            Err(XError::Protocol(error)) => {
                debug!("cursor image refused: {error}");
                return Ok(());
            }
            Err(error) => return Err(error),
        };
        if self.desktop.cursor().as_deref() != Some(&cursor) {
            self.desktop.set_cursor(cursor);
        }
        Ok(())
    }

    /// Asks the CLIPBOARD owner at start, so viewers get what is already there.
    fn fetch_initial_clipboard(&mut self) -> Result<(), XError> {
        let Some(clipboard) = &mut self.clipboard else {
            return Ok(());
        };
        let conn = &*self.connection;
        let selection = conn.intern_atom(true, b"CLIPBOARD")?.reply()?.atom;
        if selection == x11rb::NONE {
            return Ok(());
        }
        let owner = conn.get_selection_owner(selection)?.reply()?.owner;
        let event = x11rb::protocol::xfixes::SelectionNotifyEvent {
            response_type: 0,
            subtype: x11rb::protocol::xfixes::SelectionEvent::SET_SELECTION_OWNER,
            sequence: 0,
            window: self.root,
            owner,
            selection,
            timestamp: x11rb::CURRENT_TIME,
            selection_timestamp: x11rb::CURRENT_TIME,
        };
        clipboard.owner_changed(conn, &event)?;
        Ok(())
    }
}
