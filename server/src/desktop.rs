//! The desktop a server shares: the framebuffer a [`crate::Source`] draws into, a bounded log
//! of what changed (for viewers to catch up from), and the channel input goes back through.
//!
//! Latest state wins: viewers read pixels from the framebuffer as it is when they encode, and
//! only learn *where* things changed from the log. A viewer that falls behind the whole log
//! just repaints everything; nothing queues up for it. The same holds for the cursor shape and
//! the name: the log says that they changed, viewers read the latest when they send.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use farview_protocol::Framebuffer;
use farview_protocol::Rect;
use farview_protocol::diff::TileDiff;
use farview_protocol::encode::CopyOperation;
use farview_protocol::encodings::cursor::Cursor;
use farview_protocol::encodings::extended_desktop_size::{DesktopLayout, ResizeStatus, Screen};
use farview_protocol::moves;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::warn;

/// How many change events the log keeps for viewers that are behind.
pub const MAX_EVENT_LOG: usize = 4096;
/// How many input events may wait for the source before viewers' input waits.
pub const INPUT_QUEUE: usize = 256;

/// Something that happened on the desktop, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesktopEvent {
    Changed(Rect),
    /// A block moved. `differs` is where the destination's pixels differ from before the
    /// move, for viewers whose copy cannot be sent: they get those pixels instead.
    /// `unmoved` is for viewers that take no CopyRect: what changed, found as if nothing
    /// had moved (on the first copy of a picture replaced, all it changed; on the copies
    /// after it, nothing more). Their damage is then the same, rectangle for rectangle, as
    /// without moves: pieces cut at each destination's edge cost them bytes.
    Copied {
        copy: CopyOperation,
        differs: Vec<Rect>,
        unmoved: Vec<Rect>,
    },
    /// The desktop has a new size (and layout: read it with [`Desktop::layout`]);
    /// `requested_by` is the viewer whose SetDesktopSize it carries out, if any.
    Resized {
        width: u16,
        height: u16,
        requested_by: Option<ViewerId>,
    },
    Bell,
    /// The clipboard changed: read it with [`Desktop::clipboard`].
    ClipboardChanged,
    /// The pointer's shape changed: read it with [`Desktop::cursor`].
    CursorChanged,
    /// The desktop was renamed: read it with [`Desktop::name`].
    NameChanged,
    /// The pointer moved: read where with [`Desktop::pointer_position`].
    PointerMoved,
}

/// The number a server gives each viewer connection, as its log names it.
pub type ViewerId = u64;

/// Input from a viewer, for the source.
#[derive(Debug)]
pub enum InputEvent {
    /// A key; `scancode` is the XT scancode of the physical key when the viewer sent one
    /// (QEMU Extended Key Event).
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
    /// A viewer asks for a new desktop size; the source must answer it.
    SetDesktopSize(ResizeRequest),
}

/// A viewer's SetDesktopSize, with the way back for the answer. The layout has passed
/// [`DesktopLayout::validate`]. A source that cannot resize refuses it
/// ([`ResizeStatus::PROHIBITED`]); dropping the request unanswered means the same.
#[derive(Debug)]
pub struct ResizeRequest {
    pub viewer: ViewerId,
    pub layout: DesktopLayout,
    reply: oneshot::Sender<ResizeStatus>,
}

impl ResizeRequest {
    /// A request and the receiver its answer arrives on.
    pub fn new(
        viewer: ViewerId,
        layout: DesktopLayout,
    ) -> (ResizeRequest, oneshot::Receiver<ResizeStatus>) {
        let (reply, answer) = oneshot::channel();
        (
            ResizeRequest {
                viewer,
                layout,
                reply,
            },
            answer,
        )
    }

    /// Answers the viewer. On success, the source has already resized the desktop with
    /// [`Canvas::resize_to`] naming this viewer, so other viewers learn who asked.
    pub fn answer(self, status: ResizeStatus) {
        // A viewer that has gone no longer waits for the answer.
        let _ = self.reply.send(status);
    }
}

/// Events since a viewer's last look, or the news that it fell behind the log.
#[derive(Debug)]
pub enum Catchup {
    Events(Vec<DesktopEvent>),
    Lagged,
}

struct State {
    framebuffer: Framebuffer,
    layout: DesktopLayout,
    pointer: Option<(u16, u16)>,
    name: String,
    clipboard: Arc<str>,
    cursor: Option<Arc<Cursor>>,
    log: VecDeque<DesktopEvent>,
    /// The sequence number of the first event in `log`.
    log_start: u64,
}

impl State {
    fn next_sequence(&self) -> u64 {
        self.log_start + self.log.len() as u64
    }

    fn push(&mut self, event: DesktopEvent) {
        if self.log.len() == MAX_EVENT_LOG {
            self.log.pop_front();
            self.log_start += 1;
        }
        self.log.push_back(event);
    }
}

pub struct Desktop {
    /// Viewers encode under the read lock, all at once; the source draws under the write lock.
    state: RwLock<State>,
    sequence: watch::Sender<u64>,
    /// The last viewer that asked for sole access (ClientInit with the shared flag off).
    sole_viewer: watch::Sender<Option<ViewerId>>,
    input: mpsc::Sender<InputEvent>,
    /// The last viewer id handed out.
    last_viewer_id: AtomicU64,
    /// Viewers past ClientInit (see [`Desktop::admit_viewer`]).
    viewers: Arc<AtomicUsize>,
}

/// A viewer's place among those connected; dropping it leaves.
#[derive(Debug)]
pub struct ViewerPlace {
    viewers: Arc<AtomicUsize>,
}

impl Drop for ViewerPlace {
    fn drop(&mut self) {
        self.viewers.fetch_sub(1, Ordering::SeqCst);
    }
}

impl std::fmt::Debug for Desktop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desktop").finish_non_exhaustive()
    }
}

/// Drawing access to the framebuffer that records what changed.
#[derive(Debug)]
pub struct Canvas<'a> {
    framebuffer: &'a mut Framebuffer,
    layout: &'a mut DesktopLayout,
    events: Vec<DesktopEvent>,
}

impl Canvas<'_> {
    pub fn framebuffer(&self) -> &Framebuffer {
        self.framebuffer
    }

    /// Direct access to the pixels; say what changed with [`Canvas::mark_changed`].
    pub fn framebuffer_mut(&mut self) -> &mut Framebuffer {
        self.framebuffer
    }

    pub fn width(&self) -> u16 {
        self.framebuffer.width()
    }

    pub fn height(&self) -> u16 {
        self.framebuffer.height()
    }

    pub fn mark_changed(&mut self, rect: Rect) {
        if let Some(rect) = rect.clip(self.framebuffer.width(), self.framebuffer.height()) {
            self.events.push(DesktopEvent::Changed(rect));
        }
    }

    pub fn fill_rect(&mut self, rect: Rect, rgb: u32) {
        self.framebuffer.fill_rect(&rect, rgb);
        self.mark_changed(rect);
    }

    /// Writes `pixels` (row-major) into `rect`, which must lie inside the framebuffer.
    pub fn put_pixels(&mut self, rect: Rect, pixels: &[u32]) {
        self.framebuffer.put_pixels(&rect, pixels);
        self.mark_changed(rect);
    }

    /// Moves a block, as a scroll or a window move does; viewers get it as CopyRect.
    pub fn copy_rect(&mut self, copy: CopyOperation) {
        self.record_copy(copy, vec![copy.destination], vec![copy.destination]);
    }

    fn record_copy(&mut self, copy: CopyOperation, differs: Vec<Rect>, unmoved: Vec<Rect>) {
        let bounds = self.framebuffer.bounds();
        let source = copy.source();
        if !bounds.contains(&copy.destination) || !bounds.contains(&source) {
            return;
        }
        self.framebuffer
            .copy_rect(&copy.destination, copy.source_x, copy.source_y);
        self.events.push(DesktopEvent::Copied {
            copy,
            differs,
            unmoved,
        });
    }

    /// Replaces the whole picture with `next`, recording only what differs: areas that
    /// scrolled as moves, the rest as changed tiles.
    pub fn replace_with(&mut self, next: &Framebuffer) {
        if next.width() != self.width() || next.height() != self.height() {
            self.resize(next.width(), next.height());
            self.framebuffer.pixels_mut().copy_from_slice(next.pixels());
            return;
        }
        let mut diff = TileDiff::compare(self.framebuffer, next);
        let mut changed_before_moves: Option<Vec<Rect>> = None;
        for area in diff.areas() {
            if let Some(copy) = moves::detect_move(self.framebuffer, next, &area) {
                let first = changed_before_moves.is_none();
                let runs = changed_before_moves.get_or_insert_with(|| diff.runs());
                let differs = runs
                    .iter()
                    .filter_map(|run| run.intersect(&copy.destination))
                    .collect();
                let unmoved = if first { runs.clone() } else { Vec::new() };
                self.record_copy(copy, differs, unmoved);
            }
        }
        if changed_before_moves.is_some() {
            diff = TileDiff::compare(self.framebuffer, next);
        }
        for rect in diff.runs() {
            self.events.push(DesktopEvent::Changed(rect));
        }
        self.framebuffer.pixels_mut().copy_from_slice(next.pixels());
    }

    /// Resizes the desktop from the server side: one screen over all of it, keeping the id
    /// of the first screen there was.
    pub fn resize(&mut self, width: u16, height: u16) {
        let id = self.layout.screens.first().map_or(0, |screen| screen.id);
        let layout = DesktopLayout {
            width,
            height,
            screens: vec![Screen::whole(id, width, height)],
        };
        self.resize_to(layout, None);
    }

    /// Resizes the desktop to `layout`, which `requested_by` asked for (if a viewer did).
    pub fn resize_to(&mut self, layout: DesktopLayout, requested_by: Option<ViewerId>) {
        let (width, height) = (layout.width, layout.height);
        self.framebuffer.resize(width, height);
        *self.layout = layout;
        self.events.push(DesktopEvent::Resized {
            width,
            height,
            requested_by,
        });
    }
}

impl Desktop {
    /// A black desktop and the receiving end of its input channel, for the source.
    pub fn new(width: u16, height: u16, name: &str) -> (Arc<Desktop>, mpsc::Receiver<InputEvent>) {
        let (input, input_receiver) = mpsc::channel(INPUT_QUEUE);
        let desktop = Desktop {
            state: RwLock::new(State {
                framebuffer: Framebuffer::new(width, height),
                layout: DesktopLayout::single(width, height),
                pointer: None,
                name: name.to_string(),
                clipboard: Arc::from(""),
                cursor: None,
                log: VecDeque::new(),
                log_start: 0,
            }),
            sequence: watch::channel(0).0,
            sole_viewer: watch::channel(None).0,
            input,
            last_viewer_id: AtomicU64::new(0),
            viewers: Arc::new(AtomicUsize::new(0)),
        };
        (Arc::new(desktop), input_receiver)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        // A panic while drawing leaves pixels half drawn, never inconsistent bookkeeping.
        self.state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Draws with `draw`; what it changed reaches viewers afterwards.
    pub fn draw<R>(&self, draw: impl FnOnce(&mut Canvas<'_>) -> R) -> R {
        let mut state = self.write();
        let state_fields = &mut *state;
        let mut canvas = Canvas {
            framebuffer: &mut state_fields.framebuffer,
            layout: &mut state_fields.layout,
            events: Vec::new(),
        };
        let result = draw(&mut canvas);
        let events = canvas.events;
        self.publish(state, events);
        result
    }

    fn publish(&self, mut state: RwLockWriteGuard<'_, State>, events: Vec<DesktopEvent>) {
        if events.is_empty() {
            return;
        }
        for event in events {
            state.push(event);
        }
        let sequence = state.next_sequence();
        drop(state);
        self.sequence.send_replace(sequence);
    }

    pub fn bell(&self) {
        let state = self.write();
        self.publish(state, vec![DesktopEvent::Bell]);
    }

    pub fn set_clipboard(&self, text: &str) {
        let mut state = self.write();
        state.clipboard = Arc::from(text);
        self.publish(state, vec![DesktopEvent::ClipboardChanged]);
    }

    pub fn clipboard(&self) -> Arc<str> {
        self.read().clipboard.clone()
    }

    /// Sets the pointer's shape, for viewers that draw the pointer themselves. A cursor that
    /// fails [`Cursor::validate`] is refused with a warning.
    pub fn set_cursor(&self, cursor: Cursor) {
        if let Err(reason) = cursor.validate() {
            warn!("cursor shape refused: {reason}");
            return;
        }
        let mut state = self.write();
        state.cursor = Some(Arc::new(cursor));
        self.publish(state, vec![DesktopEvent::CursorChanged]);
    }

    /// The pointer's shape, if the source has set one.
    pub fn cursor(&self) -> Option<Arc<Cursor>> {
        self.read().cursor.clone()
    }

    /// Renames the desktop; viewers that accept DesktopName are told.
    pub fn set_name(&self, name: &str) {
        let mut state = self.write();
        if state.name == name {
            return;
        }
        state.name = name.to_string();
        self.publish(state, vec![DesktopEvent::NameChanged]);
    }

    pub fn name(&self) -> String {
        self.read().name.clone()
    }

    /// The framebuffer's size and the screens on it.
    pub fn layout(&self) -> DesktopLayout {
        self.read().layout.clone()
    }

    /// Where the pointer is, as the source follows it; viewers that take PointerPos are told.
    pub fn set_pointer_position(&self, x: u16, y: u16) {
        let mut state = self.write();
        if state.pointer == Some((x, y)) {
            return;
        }
        state.pointer = Some((x, y));
        self.publish(state, vec![DesktopEvent::PointerMoved]);
    }

    /// The pointer's position, if the source follows it.
    pub fn pointer_position(&self) -> Option<(u16, u16)> {
        self.read().pointer
    }

    pub fn size(&self) -> (u16, u16) {
        let state = self.read();
        (state.framebuffer.width(), state.framebuffer.height())
    }

    /// The sequence number the next event will get: a new viewer starts from here.
    pub fn sequence(&self) -> u64 {
        self.read().next_sequence()
    }

    /// Events from `since` on, and the sequence to ask from next time.
    pub fn catch_up(&self, since: u64) -> (Catchup, u64) {
        let state = self.read();
        let next = state.next_sequence();
        if since < state.log_start {
            return (Catchup::Lagged, next);
        }
        let skip = (since - state.log_start) as usize;
        (
            Catchup::Events(state.log.iter().skip(skip).cloned().collect()),
            next,
        )
    }

    /// Runs `read` on the framebuffer as it is now.
    pub fn with_framebuffer<R>(&self, read: impl FnOnce(&Framebuffer) -> R) -> R {
        read(&self.read().framebuffer)
    }

    /// A receiver that wakes when something new is in the log; it errors once the desktop is
    /// gone.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.sequence.subscribe()
    }

    /// A new number for a viewer connection, unique for the desktop's life.
    pub fn next_viewer_id(&self) -> ViewerId {
        self.last_viewer_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Counts a viewer in until the place is dropped; also says how many were connected
    /// before it.
    pub fn admit_viewer(&self) -> (ViewerPlace, usize) {
        let before = self.viewers.fetch_add(1, Ordering::SeqCst);
        let place = ViewerPlace {
            viewers: self.viewers.clone(),
        };
        (place, before)
    }

    /// `viewer` asked for sole access: every viewer connected before it is to leave.
    pub fn claim_sole_access(&self, viewer: ViewerId) {
        self.sole_viewer.send_replace(Some(viewer));
    }

    /// A receiver that wakes when a viewer claims sole access (see
    /// [`Desktop::claim_sole_access`]); claims made before the call are not seen.
    pub fn sole_access_claims(&self) -> watch::Receiver<Option<ViewerId>> {
        self.sole_viewer.subscribe()
    }

    /// Passes input to the source; waits while the source is behind.
    pub async fn send_input(&self, event: InputEvent) {
        // A source that has stopped reading input just drops it.
        let _ = self.input.send(event).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_frame_that_scrolled_becomes_a_move_and_new_lines() {
        let (desktop, _input) = Desktop::new(200, 100, "t");
        let lines: Vec<u32> = (0..200 * 100u32)
            .map(|i| (i / 200).wrapping_mul(0x9e37_79b9) >> 8 ^ (i % 200))
            .collect();
        let first = Framebuffer::from_pixels(200, 100, lines).unwrap();
        desktop.draw(|canvas| canvas.replace_with(&first));
        let start = desktop.sequence();
        let mut scrolled = first.clone();
        scrolled.copy_rect(&Rect::new(0, 0, 200, 80), 0, 20);
        scrolled.fill_rect(&Rect::new(0, 80, 200, 20), 0);
        desktop.draw(|canvas| canvas.replace_with(&scrolled));
        let (Catchup::Events(events), _) = desktop.catch_up(start) else {
            panic!("lagged")
        };
        let copy = CopyOperation {
            destination: Rect::new(0, 0, 200, 80),
            source_x: 0,
            source_y: 20,
        };
        let DesktopEvent::Copied {
            copy: moved,
            differs,
            unmoved,
        } = &events[0]
        else {
            panic!("{:?} is not a move", events[0])
        };
        assert_eq!(*moved, copy);
        // When its copy cannot go, a viewer gets the destination's changed pixels: all of
        // them here, as every line differs from the one 20 rows below.
        assert_eq!(differs.iter().map(Rect::area).sum::<usize>(), 200 * 80);
        // Without CopyRect, it gets what changed as if nothing had moved, in the same
        // rectangles; what changed after the move lies inside them.
        assert_eq!(*unmoved, TileDiff::compare(&first, &scrolled).runs());
        for event in &events[1..] {
            let DesktopEvent::Changed(rect) = event else {
                continue;
            };
            assert!(
                unmoved.iter().any(|run| run.contains(rect)),
                "{rect:?} outside {unmoved:?}"
            );
        }
        assert!(
            events[1..]
                .iter()
                .all(|e| matches!(e, DesktopEvent::Changed(r) if r.y >= 80))
        );
        assert!(desktop.with_framebuffer(|fb| fb == &scrolled));
    }

    #[test]
    fn a_viewer_behind_the_log_is_told_it_lagged() {
        let (desktop, _input) = Desktop::new(10, 10, "t");
        let start = desktop.sequence();
        for _ in 0..MAX_EVENT_LOG + 1 {
            desktop.bell();
        }
        assert!(matches!(desktop.catch_up(start).0, Catchup::Lagged));
        let (events, next) = desktop.catch_up(desktop.sequence() - 2);
        assert!(matches!(events, Catchup::Events(e) if e.len() == 2));
        assert_eq!(next, desktop.sequence());
    }
}
