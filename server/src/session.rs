//! One viewer's session: the handshake, then a loop that reads the viewer's messages, follows
//! the desktop's changes and sends updates.
//!
//! Flow control is latest-state-wins. Damage accumulates in a [`Region`]; an update is encoded
//! only when the viewer has asked for one and everything sent before has left our buffer. The
//! kernel's share is bounded too (TCP_NOTSENT_LOWAT), so a slow viewer gets fewer, fresher
//! updates, and one that stops reading costs one update's bytes and no more. A viewer with
//! continuous updates on needs no request: what changes in its area goes as soon as the
//! congestion window allows (see [`crate::pacing`]), which keeps about one bandwidth-delay
//! product in flight.
//!
//! The cursor shape and the desktop name follow the same rule: a change only sets a flag, and
//! the latest shape or name is read when it is sent. Each goes as its own one-rectangle update
//! in answer to a request, once the first picture has gone out (so the viewer has one to draw
//! the pointer over); the current shape is sent that way once to every new viewer. The pointer
//! position (PointerPos) goes the same way, unless it is where this viewer put it.
//!
//! Size changes reach a viewer that takes ExtendedDesktopSize as that rectangle alone in its
//! own update (as the spec requires), the pixels following on its next request; it is also
//! sent in answer to every full (non-incremental) request, which tells a viewer on connect that
//! it may ask for a size. A viewer's SetDesktopSize goes to the source as
//! [`InputEvent::SetDesktopSize`]; the answers are sent in order, as soon as they come, and
//! while any is outstanding no pixels go out (they could be of a size the viewer has not been
//! told). Once [`MAX_PENDING_RESIZES`] requests wait for an answer, the viewer's socket is not
//! read until fewer do (what one read brought, at most 64 KiB of messages, is still handled).
//!
//! At ClientInit the [`SessionPolicy`] admits the viewer, sends the others away, or refuses it
//! (see [`crate::policy`]). A view-only viewer (the server's `--view-only`, or the view-only
//! password) has its keys, pointer and clipboard dropped and its resize requests refused.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use farview_protocol::encode::{CopyOperation, Update, UpdateStats};
use farview_protocol::encodings::extended_desktop_size::{
    DesktopLayout, DesktopSizeChange, ResizeReason, ResizeStatus,
};
use farview_protocol::{EncodingType, Rect, Region, ServerConnection, ServerEvent};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

use crate::access::{Access, Transport};
use crate::desktop::{Catchup, Desktop, DesktopEvent, InputEvent, ResizeRequest, ViewerId};
use crate::pacing::Pacing;
use crate::policy::{Admission, SessionPolicy};

/// Unsent bytes the kernel may hold for one viewer before the socket stops being writable.
pub const KERNEL_UNSENT_LIMIT: u32 = 128 * 1024;
/// How much to read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;
/// How long the screen must stay still before lossy areas are sent again losslessly.
const QUIET_BEFORE_REFRESH: Duration = Duration::from_millis(300);
/// SetDesktopSize requests of one viewer that may wait for their answer at once.
pub const MAX_PENDING_RESIZES: usize = 8;

/// What the viewer has yet to be sent.
#[derive(Debug, Default)]
struct Pending {
    /// The viewer asked for an update and has not had it yet.
    requested: bool,
    changed: Region,
    copies: Vec<CopyOperation>,
    /// The size the viewer believes the desktop has.
    viewer_size: (u16, u16),
    resized: bool,
    bell: bool,
    clipboard: bool,
    /// When the lossy areas get their lossless refresh, if any are left.
    refresh_at: Option<tokio::time::Instant>,
    /// The cursor shape changed (or the viewer has not had it yet).
    cursor: bool,
    /// The desktop was renamed.
    name: bool,
    /// A picture has been sent: pseudo-encoding updates may follow.
    first_update_sent: bool,
    /// Why the size last changed, for the ExtendedDesktopSize rectangle that announces it.
    size_reason: ResizeReason,
    /// The viewer sent a full update request: it is owed an ExtendedDesktopSize rectangle.
    announce_layout: bool,
    /// The viewer's SetDesktopSize requests, in order, waiting for the source's answer.
    resize_answers: VecDeque<(DesktopLayout, oneshot::Receiver<ResizeStatus>)>,
    /// The pointer moved on the desktop.
    pointer: bool,
    /// Where this viewer last put the pointer, or was told it is.
    pointer_known: Option<(u16, u16)>,
    /// A key came with its scancode (QEMU Extended Key Event); logged once.
    scancodes_seen: bool,
}

impl Pending {
    /// Takes in a desktop event; `copy_rect` says whether the viewer takes CopyRect.
    fn apply(
        &mut self,
        id: ViewerId,
        event: DesktopEvent,
        desktop_size: (u16, u16),
        copy_rect: bool,
    ) {
        match event {
            DesktopEvent::Changed(rect) => self.changed.add(rect),
            DesktopEvent::Copied {
                copy,
                differs,
                unmoved,
            } => {
                let source = copy.source();
                // A copy is only valid from pixels the viewer already has: with changes
                // pending at the source, send the pixels that differ instead. Queued copies
                // are replayed in order, so a copy may read what an earlier one wrote.
                if !copy_rect {
                    for rect in unmoved {
                        self.changed.add(rect);
                    }
                } else if self.resized || self.changed.intersects(&source) {
                    for rect in differs {
                        self.changed.add(rect);
                    }
                } else {
                    self.changed.subtract(&copy.destination);
                    self.copies.push(copy);
                }
            }
            DesktopEvent::Resized { requested_by, .. } => {
                self.repaint_all(desktop_size);
                // This viewer's own request is answered as such (reason 1), not announced.
                self.size_reason = match requested_by {
                    Some(viewer) if viewer != id => ResizeReason::OTHER_CLIENT,
                    _ => ResizeReason::SERVER,
                };
            }
            DesktopEvent::Bell => self.bell = true,
            DesktopEvent::ClipboardChanged => self.clipboard = true,
            DesktopEvent::CursorChanged => self.cursor = true,
            DesktopEvent::NameChanged => self.name = true,
            DesktopEvent::PointerMoved => self.pointer = true,
        }
    }

    /// The viewer fell behind the change log: anything may have changed.
    fn lagged(&mut self, desktop_size: (u16, u16)) {
        self.repaint_all(desktop_size);
        self.size_reason = ResizeReason::SERVER;
        self.cursor = true;
        self.name = true;
        self.pointer = true;
    }

    fn repaint_all(&mut self, (width, height): (u16, u16)) {
        self.copies.clear();
        self.changed = Region::from_rect(Rect::new(0, 0, width, height));
        self.resized = (width, height) != self.viewer_size;
    }

    fn has_pixels(&self) -> bool {
        self.resized || !self.copies.is_empty() || !self.changed.is_empty()
    }

    /// Whether pixels inside `area` wait to be sent. Damage outside it sends nothing by
    /// itself, but goes along with the next update.
    fn has_pixels_in(&self, area: &Rect) -> bool {
        self.resized
            || self.copies.iter().any(|c| c.destination.intersects(area))
            || self.changed.intersects(area)
    }
}

pub(crate) async fn run<S: ViewerStream>(
    id: ViewerId,
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    access: Arc<Access>,
    policy: SessionPolicy,
    desktop: Arc<Desktop>,
) {
    match serve(id, stream, peer, transport, &access, policy, &desktop).await {
        Ok(reason) => info!("viewer {id} ({peer}) disconnected: {reason}"),
        Err(reason) => warn!("viewer {id} ({peer}) dropped: {reason}"),
    }
}

/// A viewer's byte stream: plain TCP, or TLS or WebSocket over it.
pub(crate) trait ViewerStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> ViewerStream for S {}

/// Sets the TCP options every viewer's socket gets, before any transport goes over it.
pub(crate) fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let socket = socket2::SockRef::from(stream);
    if let Err(error) = socket.set_tcp_notsent_lowat(KERNEL_UNSENT_LIMIT) {
        debug!("TCP_NOTSENT_LOWAT unavailable: {error}");
    }
}

async fn serve<S: ViewerStream>(
    id: u64,
    stream: S,
    peer: SocketAddr,
    transport: Transport,
    access: &Access,
    policy: SessionPolicy,
    desktop: &Desktop,
) -> Result<&'static str, String> {
    debug!("viewer {id} ({peer}) connecting");
    // Boxed: VeNCrypt replaces the stream with TLS over it during the handshake.
    let stream: Box<dyn ViewerStream> = Box::new(stream);
    let (mut reader, mut writer) = tokio::io::split(stream);
    let mut connection = ServerConnection::new(access.config_for(peer, transport));
    let mut changes = desktop.subscribe();
    let mut claims = desktop.sole_access_claims();
    let mut sequence = 0u64;
    let mut pending = Pending::default();
    let mut input = Vec::with_capacity(READ_CHUNK);
    let mut output: Vec<u8> = Vec::new();
    let mut written = 0usize;
    // Written but maybe still held by a transport that buffers (TLS keeps records until
    // flushed).
    let mut unflushed = false;
    // Held while connected: other viewers' admissions count it.
    let mut _place = None;
    // Input and clipboard from this viewer are dropped (server option or view-only password).
    let mut view_only = policy.view_only;
    let mut pacing = Pacing::new();

    loop {
        let produced = connection.take_output();
        pacing.sent(produced.len());
        output.extend_from_slice(&produced);
        if written == output.len() {
            output.clear();
            written = 0;
            if connection.is_closed() {
                return Ok("connection closed by the protocol");
            }
        }
        tokio::select! {
            // While too many resize answers are outstanding, the viewer waits.
            read = reader.read_buf(&mut input),
                if pending.resize_answers.len() < MAX_PENDING_RESIZES => {
                match read {
                    // Past the version exchange (port probes end there), a viewer that leaves
                    // mid-handshake is worth a warning naming where.
                    Ok(0) if connection.version().is_some()
                        && !connection.is_normal()
                        && !connection.is_closed() => {
                        return Err(format!(
                            "the viewer went away during the {}",
                            connection.stage()
                        ));
                    }
                    Ok(0) => return Ok("viewer closed the connection"),
                    Ok(_) => {}
                    // TLS viewers often just close the socket (no close_notify).
                    Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                        return Ok("viewer closed the connection");
                    }
                    Err(error) => return Err(format!("read failed: {error}")),
                }
                let used = connection.handle_input(&input).map_err(|e| e.to_string())?;
                input.drain(..used);
                while let Some(event) = connection.poll_event() {
                    match event {
                        ServerEvent::AuthenticationFailed { reason } => {
                            access.failed(id, peer, &reason);
                        }
                        ServerEvent::SecurityRefused { reason } => {
                            warn!("viewer {id} ({peer}): {reason}");
                        }
                        ServerEvent::StartTls(subtype) => {
                            debug!("viewer {id}: VeNCrypt {subtype}, starting TLS");
                            // What the protocol said so far goes in the clear; anything the
                            // viewer sent past it would be TLS bytes we have already read.
                            output.extend_from_slice(&connection.take_output());
                            writer.write_all(&output[written..]).await
                                .map_err(|error| format!("write failed: {error}"))?;
                            output.clear();
                            written = 0;
                            if !input.is_empty() {
                                return Err("the viewer sent data before the TLS handshake".into());
                            }
                            let stream = access.start_tls(reader.unsplit(writer)).await?;
                            (reader, writer) = tokio::io::split(stream);
                            connection.tls_started();
                        }
                        ServerEvent::CheckCredentials(credentials) => {
                            let username = credentials.username.clone();
                            let accepted = access.check(credentials).await;
                            if accepted {
                                info!("viewer {id} ({peer}): signed in as {username:?}");
                            }
                            connection.credentials_checked(accepted);
                        }
                        ServerEvent::ClientInit { shared } => {
                            access.succeeded(peer);
                            let (place, others) = desktop.admit_viewer();
                            let admission = policy.exclusive.admit(shared, others);
                            if admission == Admission::Refuse {
                                return Ok("refused: it asked for sole access and other viewers \
                                           are connected (--exclusive-policy refuse)");
                            }
                            _place = Some(place);
                            view_only |= connection.is_view_only();
                            let (width, height) = desktop.size();
                            sequence = desktop.sequence();
                            connection.send_server_init(width, height, &desktop.name());
                            pending.viewer_size = (width, height);
                            pending.cursor = true;
                            info!("viewer {id} ({peer}) connected (shared: {shared}, protocol {}{})",
                                connection.version().map(|v| v.to_string()).unwrap_or_default(),
                                if view_only { ", view only" } else { "" });
                            // RFB: a viewer that does not share asks for the others to go.
                            if admission == Admission::SendOthersAway {
                                desktop.claim_sole_access(id);
                            }
                        }
                        ServerEvent::SetPixelFormat(format) => {
                            debug!("viewer {id}: pixel format {format:?}");
                        }
                        ServerEvent::SetEncodings(encodings) => {
                            let names: Vec<String> = encodings.iter().map(EncodingType::to_string).collect();
                            debug!("viewer {id}: encodings {}", names.join(", "));
                        }
                        ServerEvent::UpdateRequest { incremental, rect } => {
                            pending.requested = true;
                            if !incremental {
                                pending.announce_layout =
                                    connection.accepts_extended_desktop_size();
                                let (width, height) = pending.viewer_size;
                                if let Some(rect) = rect.clip(width, height) {
                                    pending.changed.add(rect);
                                }
                            }
                        }
                        ServerEvent::Key { .. }
                        | ServerEvent::Pointer { .. }
                        | ServerEvent::CutText(_)
                            if view_only =>
                        {
                            debug!("viewer {id}: view only: input dropped");
                        }
                        ServerEvent::Key { down, keysym, scancode } => {
                            if scancode.is_some() && !std::mem::replace(&mut pending.scancodes_seen, true) {
                                debug!("viewer {id}: keys come with scancodes (QEMU Extended Key Events)");
                            }
                            desktop.send_input(InputEvent::Key { down, keysym, scancode }).await;
                        }
                        ServerEvent::Pointer { buttons, x, y } => {
                            pending.pointer_known = Some((x, y));
                            desktop.send_input(InputEvent::Pointer { buttons, x, y }).await;
                        }
                        ServerEvent::CutText(text) => {
                            desktop.send_input(InputEvent::CutText(text)).await;
                        }
                        ServerEvent::SetDesktopSize(layout) => {
                            request_resize(id, layout, &connection, &mut pending, desktop, view_only).await;
                        }
                        ServerEvent::ContinuousUpdates(Some(area)) => {
                            let paced = if connection.accepts_fence() { "" } else { " (no fences)" };
                            info!(
                                "viewer {id}: continuous updates on for {}x{} at {},{}{paced}",
                                area.width, area.height, area.x, area.y
                            );
                        }
                        ServerEvent::ContinuousUpdates(None) => {
                            info!("viewer {id}: continuous updates off");
                        }
                        ServerEvent::FenceResponse(fence) => {
                            pacing.pong(&fence);
                            debug!("viewer {id}: fence answered: {}", pacing.describe());
                        }
                    }
                }
            }
            status = next_resize_answer(&mut pending.resize_answers) => {
                if let Some((layout, _)) = pending.resize_answers.pop_front() {
                    answer_resize(id, &mut connection, &mut pending, layout, status);
                }
            }
            () = sleep_until(pending.refresh_at) => {
                pending.refresh_at = None;
                send_lossless_refresh(
                    id, &mut connection, &mut pending, &mut pacing, desktop, written == output.len(),
                );
            }
            // The congestion window opens as what is in flight arrives: look again then.
            () = sleep_until(pacing.wake_at(&connection)) => {}
            Ok(()) = claims.changed() => {
                let claimed_by = *claims.borrow_and_update();
                if claimed_by.is_some_and(|other| other != id) {
                    return Ok("another viewer asked for sole access");
                }
            }
            changed = changes.changed() => {
                if changed.is_err() {
                    return Ok("the desktop went away");
                }
                // Activity postpones the refresh: it would be wasted on a changing screen.
                if pending.refresh_at.is_some() {
                    pending.refresh_at = Some(tokio::time::Instant::now() + QUIET_BEFORE_REFRESH);
                }
                if connection.is_normal() {
                    let (catchup, next) = desktop.catch_up(sequence);
                    sequence = next;
                    let size = desktop.size();
                    match catchup {
                        Catchup::Events(events) => {
                            let copy_rect =
                                connection.encodings().accepts(EncodingType::COPY_RECT);
                            for event in events {
                                pending.apply(id, event, size, copy_rect);
                            }
                        }
                        Catchup::Lagged => pending.lagged(size),
                    }
                }
            }
            sent = write_or_flush(&mut writer, &output[written..]),
                if written < output.len() || unflushed => {
                match sent {
                    Ok(Some(0)) => return Err("the viewer's socket closed".into()),
                    Ok(Some(n)) => {
                        written += n;
                        unflushed = true;
                    }
                    Ok(None) => unflushed = false,
                    Err(error) => return Err(format!("write failed: {error}")),
                }
            }
        }
        if connection.is_normal() && written == output.len() {
            send_pending(id, &mut connection, &mut pending, &mut pacing, desktop);
        }
    }
}

/// Writes some of `bytes` (`Some(n)`), or with nothing left to write, flushes (`None`).
async fn write_or_flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
) -> std::io::Result<Option<usize>> {
    if bytes.is_empty() {
        writer.flush().await.map(|()| None)
    } else {
        writer.write(bytes).await.map(Some)
    }
}

/// Encodes what is pending into the connection's output. Called only once everything sent
/// before has left our buffer, so bells and clipboard changes coalesce instead of queueing.
/// With continuous updates on and the congestion window open, the viewer counts as having
/// asked.
fn send_pending(
    id: u64,
    connection: &mut ServerConnection,
    pending: &mut Pending,
    pacing: &mut Pacing,
    desktop: &Desktop,
) {
    pacing.keep_measuring(connection);
    let continuous_area = pacing.continuous_area(connection);
    let asked = pending.requested || continuous_area.is_some();
    let extended = connection.accepts_extended_desktop_size();
    // Answers to come may change the size: pixels wait for them.
    let holding = extended && !pending.resize_answers.is_empty();
    if extended && !holding && asked {
        send_layout_if_due(id, connection, pending, desktop);
    }
    send_pseudo_updates(connection, pending, desktop, asked);
    let pixels_due =
        pending.requested || continuous_area.is_some_and(|area| pending.has_pixels_in(&area));
    if pixels_due && pending.has_pixels() && !holding {
        pacing.before_update(connection);
        desktop.with_framebuffer(|framebuffer| {
            let size = (framebuffer.width(), framebuffer.height());
            let mut update = Update::default();
            if size != pending.viewer_size {
                if connection.encodings().accepts(EncodingType::DESKTOP_SIZE) && !extended {
                    update.new_size = Some(size);
                    pending.viewer_size = size;
                    pending.changed = Region::from_rect(framebuffer.bounds());
                    pending.copies.clear();
                } else {
                    // The viewer cannot follow; keep drawing what fits its old size.
                    let (width, height) = pending.viewer_size;
                    pending.changed.clip(&Rect::new(0, 0, width, height));
                }
            }
            update.copies = std::mem::take(&mut pending.copies);
            update.changed = pending.changed.take().rects().to_vec();
            pending.resized = false;
            pending.requested = false;
            let stats = connection.send_update(framebuffer, &update);
            pending.first_update_sent = true;
            debug!("viewer {id}: update: {}", describe(&stats));
        });
        pacing.after_update(connection);
        if !connection.lossy_region().is_empty() {
            pending.refresh_at = Some(tokio::time::Instant::now() + QUIET_BEFORE_REFRESH);
        }
    }
    if std::mem::take(&mut pending.bell) {
        connection.send_bell();
    }
    if std::mem::take(&mut pending.clipboard) {
        connection.send_cut_text(&desktop.clipboard());
    }
}

/// Tells a viewer that takes ExtendedDesktopSize of a new size, or of the layout it asked for
/// with a full update request: the rectangle alone answers the request.
fn send_layout_if_due(
    id: u64,
    connection: &mut ServerConnection,
    pending: &mut Pending,
    desktop: &Desktop,
) {
    let layout = desktop.layout();
    let size = (layout.width, layout.height);
    let resized = size != pending.viewer_size;
    if !resized && !pending.announce_layout {
        return;
    }
    let reason = if resized {
        pending.size_reason
    } else {
        ResizeReason::SERVER
    };
    debug!(
        "viewer {id}: desktop size {}x{} ({} screens, reason {})",
        layout.width,
        layout.height,
        layout.screens.len(),
        reason.0
    );
    connection.send_desktop_size_change(&DesktopSizeChange {
        reason,
        status: ResizeStatus::SUCCESS,
        layout,
    });
    if resized {
        pending.viewer_size = size;
        pending.copies.clear();
        pending.changed = Region::from_rect(Rect::new(0, 0, size.0, size.1));
    }
    pending.resized = false;
    pending.announce_layout = false;
    pending.size_reason = ResizeReason::SERVER;
    pending.requested = false;
}

/// Passes a viewer's SetDesktopSize to the source, or refuses a layout no source could carry
/// out; either way its answer joins the queue, so that answers keep the requests' order.
async fn request_resize(
    id: u64,
    layout: DesktopLayout,
    connection: &ServerConnection,
    pending: &mut Pending,
    desktop: &Desktop,
    view_only: bool,
) {
    if !connection.accepts_extended_desktop_size() {
        // The spec allows SetDesktopSize only after an ExtendedDesktopSize rectangle.
        debug!("viewer {id}: SetDesktopSize without ExtendedDesktopSize ignored");
        return;
    }
    let (request, answer) = ResizeRequest::new(id, layout.clone());
    match layout.validate() {
        Ok(()) if view_only => {
            info!("viewer {id}: SetDesktopSize refused: the viewer is view only");
            request.answer(ResizeStatus::PROHIBITED);
        }
        Ok(()) => {
            info!(
                "viewer {id}: asks for a {}x{} desktop",
                layout.width, layout.height
            );
            // A source that takes no input drops the request: that refuses it.
            desktop
                .send_input(InputEvent::SetDesktopSize(request))
                .await;
        }
        Err(reason) => {
            info!("viewer {id}: SetDesktopSize refused: invalid layout: {reason}");
            request.answer(ResizeStatus::INVALID_LAYOUT);
        }
    }
    pending.resize_answers.push_back((layout, answer));
}

/// Waits for the answer to the oldest outstanding SetDesktopSize (forever if there is none).
/// Cancel-safe: the receiver stays in the queue until its answer is taken.
async fn next_resize_answer(
    answers: &mut VecDeque<(DesktopLayout, oneshot::Receiver<ResizeStatus>)>,
) -> ResizeStatus {
    match answers.front_mut() {
        // An unanswered request (the source dropped it) is a refusal.
        Some((_, answer)) => answer.await.unwrap_or(ResizeStatus::PROHIBITED),
        None => std::future::pending().await,
    }
}

/// Sends the answer to the viewer's request at once, whether or not it has asked for an
/// update: the spec wants it as soon as possible. It echoes what the viewer asked for.
fn answer_resize(
    id: u64,
    connection: &mut ServerConnection,
    pending: &mut Pending,
    layout: DesktopLayout,
    status: ResizeStatus,
) {
    if status.is_success() {
        info!(
            "viewer {id}: desktop resized to {}x{} as asked",
            layout.width, layout.height
        );
        pending.viewer_size = (layout.width, layout.height);
        pending.copies.clear();
        pending.changed = Region::from_rect(Rect::new(0, 0, layout.width, layout.height));
        pending.resized = false;
    } else {
        info!(
            "viewer {id}: {}x{} desktop refused: {status}",
            layout.width, layout.height
        );
    }
    connection.send_desktop_size_change(&DesktopSizeChange {
        reason: ResizeReason::THIS_CLIENT,
        status,
        layout,
    });
    pending.requested = false;
}

/// Sends the lossy areas again, losslessly, if the viewer is waiting for an update (or has
/// continuous updates on and the window is open).
fn send_lossless_refresh(
    id: u64,
    connection: &mut ServerConnection,
    pending: &mut Pending,
    pacing: &mut Pacing,
    desktop: &Desktop,
    output_drained: bool,
) {
    if connection.lossy_region().is_empty() {
        return;
    }
    let asked = pending.requested || pacing.continuous_area(connection).is_some();
    if !asked || !output_drained {
        // Not now: try again a little later.
        pending.refresh_at = Some(tokio::time::Instant::now() + QUIET_BEFORE_REFRESH);
        return;
    }
    let update = Update {
        changed: connection.lossy_region().rects().to_vec(),
        lossless: true,
        ..Update::default()
    };
    let stats =
        desktop.with_framebuffer(|framebuffer| connection.send_update(framebuffer, &update));
    debug!("viewer {id}: lossless refresh update: {}", describe(&stats));
    pending.requested = false;
    pacing.after_update(connection);
}

/// One update's cost for the debug log, with the share of each encoding in brackets as
/// `name=rectangles/pixels px/bytes B`, e.g.
/// `81234 bytes, 3 rects, 1024000 px [copyrect=1/391104px/16B zrle=2/632896px/81194B]`.
fn describe(stats: &UpdateStats) -> String {
    let by_encoding: Vec<String> = stats
        .by_encoding
        .iter()
        .map(|e| {
            format!(
                "{}={}/{}px/{}B",
                e.encoding, e.rectangles, e.pixels, e.bytes
            )
        })
        .collect();
    format!(
        "{} bytes, {} rects, {} px [{}]",
        stats.bytes,
        stats.rectangles,
        stats.pixels,
        by_encoding.join(" ")
    )
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Answers a pending request (`asked`: one is pending, or continuous updates stand for one)
/// with the QEMU Extended Key Event acknowledgement, the cursor shape and the name, if due,
/// each as a one-rectangle update ahead of any pixels. A viewer that takes none of these
/// pseudo-encodings gets nothing and its request stays for the pixels.
fn send_pseudo_updates(
    connection: &mut ServerConnection,
    pending: &mut Pending,
    desktop: &Desktop,
    asked: bool,
) {
    if !asked || !pending.first_update_sent {
        return;
    }
    let mut answered = connection.send_key_event_acknowledgement();
    if std::mem::take(&mut pending.cursor)
        && let Some(cursor) = desktop.cursor()
    {
        match connection.send_cursor(&cursor) {
            Ok(sent) => answered |= sent.is_some(),
            Err(error) => warn!("cursor not sent: {error}"),
        }
    }
    if std::mem::take(&mut pending.name) {
        answered |= connection.send_desktop_name(&desktop.name());
    }
    if std::mem::take(&mut pending.pointer)
        && let Some(position) = desktop.pointer_position()
        && pending.pointer_known != Some(position)
        && connection.send_pointer_position(position.0, position.1)
    {
        pending.pointer_known = Some(position);
        answered = true;
    }
    if answered && !pending.has_pixels() {
        pending.requested = false;
    }
}
