//! One viewer's session: the handshake, then a loop that reads the viewer's messages, follows
//! the desktop's changes and sends updates.
//!
//! Flow control is latest-state-wins. Damage accumulates in a [`Region`]; an update is encoded
//! only when the viewer has asked for one and everything sent before has left our buffer. The
//! kernel's share is bounded too (TCP_NOTSENT_LOWAT), so a slow viewer gets fewer, fresher
//! updates, and one that stops reading costs one update's bytes and no more.
//!
//! The cursor shape and the desktop name follow the same rule: a change only sets a flag, and
//! the latest shape or name is read when it is sent. Each goes as its own one-rectangle update
//! in answer to a request, once the first picture has gone out (so the viewer has one to draw
//! the pointer over); the current shape is sent that way once to every new viewer.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use farview_protocol::encode::{CopyOperation, Update, UpdateStats};
use farview_protocol::{EncodingType, Rect, Region, ServerConfig, ServerConnection, ServerEvent};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use crate::desktop::{Catchup, Desktop, DesktopEvent, InputEvent};

/// Unsent bytes the kernel may hold for one viewer before the socket stops being writable.
pub const KERNEL_UNSENT_LIMIT: u32 = 128 * 1024;
/// How much to read from the socket at a time.
const READ_CHUNK: usize = 64 * 1024;
/// How long the screen must stay still before lossy areas are sent again losslessly.
const QUIET_BEFORE_REFRESH: Duration = Duration::from_millis(300);

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
}

impl Pending {
    /// Takes in a desktop event; `copy_rect` says whether the viewer takes CopyRect.
    fn apply(&mut self, event: DesktopEvent, desktop_size: (u16, u16), copy_rect: bool) {
        match event {
            DesktopEvent::Changed(rect) => self.changed.add(rect),
            DesktopEvent::Copied { copy, differs } => {
                let source = Rect::new(
                    copy.source_x,
                    copy.source_y,
                    copy.destination.width,
                    copy.destination.height,
                );
                // A copy is only valid from pixels the viewer already has: with changes
                // pending at the source, send the pixels that differ instead. Queued copies
                // are replayed in order, so a copy may read what an earlier one wrote.
                if !copy_rect || self.resized || self.changed.intersects(&source) {
                    for rect in differs {
                        self.changed.add(rect);
                    }
                } else {
                    self.changed.subtract(&copy.destination);
                    self.copies.push(copy);
                }
            }
            DesktopEvent::Resized { .. } => self.repaint_all(desktop_size),
            DesktopEvent::Bell => self.bell = true,
            DesktopEvent::ClipboardChanged => self.clipboard = true,
            DesktopEvent::CursorChanged => self.cursor = true,
            DesktopEvent::NameChanged => self.name = true,
        }
    }

    /// The viewer fell behind the change log: anything may have changed.
    fn lagged(&mut self, desktop_size: (u16, u16)) {
        self.repaint_all(desktop_size);
        self.cursor = true;
        self.name = true;
    }

    fn repaint_all(&mut self, (width, height): (u16, u16)) {
        self.copies.clear();
        self.changed = Region::from_rect(Rect::new(0, 0, width, height));
        self.resized = (width, height) != self.viewer_size;
    }

    fn has_pixels(&self) -> bool {
        self.resized || !self.copies.is_empty() || !self.changed.is_empty()
    }
}

pub(crate) async fn run(
    id: u64,
    stream: TcpStream,
    peer: SocketAddr,
    config: ServerConfig,
    desktop: Arc<Desktop>,
) {
    match serve(id, stream, peer, config, &desktop).await {
        Ok(reason) => info!("viewer {id} ({peer}) disconnected: {reason}"),
        Err(reason) => warn!("viewer {id} ({peer}) dropped: {reason}"),
    }
}

fn tune_socket(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let socket = socket2::SockRef::from(stream);
    if let Err(error) = socket.set_tcp_notsent_lowat(KERNEL_UNSENT_LIMIT) {
        debug!("TCP_NOTSENT_LOWAT unavailable: {error}");
    }
}

async fn serve(
    id: u64,
    mut stream: TcpStream,
    peer: SocketAddr,
    config: ServerConfig,
    desktop: &Desktop,
) -> Result<&'static str, String> {
    tune_socket(&stream);
    debug!("viewer {id} ({peer}) connecting");
    let (mut reader, mut writer) = stream.split();
    let mut connection = ServerConnection::new(config);
    let mut changes = desktop.subscribe();
    let mut sequence = 0u64;
    let mut pending = Pending::default();
    let mut input = Vec::with_capacity(READ_CHUNK);
    let mut output: Vec<u8> = Vec::new();
    let mut written = 0usize;

    loop {
        output.extend_from_slice(&connection.take_output());
        if written == output.len() {
            output.clear();
            written = 0;
            if connection.is_closed() {
                return Ok("connection closed by the protocol");
            }
        }
        tokio::select! {
            read = reader.read_buf(&mut input) => {
                match read {
                    Ok(0) => return Ok("viewer closed the connection"),
                    Ok(_) => {}
                    Err(error) => return Err(format!("read failed: {error}")),
                }
                let used = connection.handle_input(&input).map_err(|e| e.to_string())?;
                input.drain(..used);
                while let Some(event) = connection.poll_event() {
                    match event {
                        ServerEvent::AuthenticationFailed { reason } => {
                            warn!("viewer {id} ({peer}): {reason}");
                        }
                        ServerEvent::ClientInit { shared } => {
                            let (width, height) = desktop.size();
                            sequence = desktop.sequence();
                            connection.send_server_init(width, height, &desktop.name());
                            pending.viewer_size = (width, height);
                            pending.cursor = true;
                            info!("viewer {id} ({peer}) connected (shared: {shared}, protocol {})",
                                connection.version().map(|v| v.to_string()).unwrap_or_default());
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
                                let (width, height) = pending.viewer_size;
                                if let Some(rect) = rect.clip(width, height) {
                                    pending.changed.add(rect);
                                }
                            }
                        }
                        ServerEvent::Key { down, keysym } => {
                            desktop.send_input(InputEvent::Key { down, keysym }).await;
                        }
                        ServerEvent::Pointer { buttons, x, y } => {
                            desktop.send_input(InputEvent::Pointer { buttons, x, y }).await;
                        }
                        ServerEvent::CutText(text) => {
                            desktop.send_input(InputEvent::CutText(text)).await;
                        }
                    }
                }
            }
            () = sleep_until(pending.refresh_at) => {
                pending.refresh_at = None;
                send_lossless_refresh(id, &mut connection, &mut pending, desktop, written == output.len());
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
                                pending.apply(event, size, copy_rect);
                            }
                        }
                        Catchup::Lagged => pending.lagged(size),
                    }
                }
            }
            sent = writer.write(&output[written..]), if written < output.len() => {
                match sent {
                    Ok(0) => return Err("the viewer's socket closed".into()),
                    Ok(n) => written += n,
                    Err(error) => return Err(format!("write failed: {error}")),
                }
            }
        }
        if connection.is_normal() && written == output.len() {
            send_pending(id, &mut connection, &mut pending, desktop);
        }
    }
}

/// Encodes what is pending into the connection's output. Called only once everything sent
/// before has left our buffer, so bells and clipboard changes coalesce instead of queueing.
fn send_pending(
    id: u64,
    connection: &mut ServerConnection,
    pending: &mut Pending,
    desktop: &Desktop,
) {
    send_pseudo_updates(connection, pending, desktop);
    if pending.requested && pending.has_pixels() {
        desktop.with_framebuffer(|framebuffer| {
            let size = (framebuffer.width(), framebuffer.height());
            let mut update = Update::default();
            if size != pending.viewer_size {
                if connection.encodings().accepts(EncodingType::DESKTOP_SIZE) {
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

/// Sends the lossy areas again, losslessly, if the viewer is waiting for an update.
fn send_lossless_refresh(
    id: u64,
    connection: &mut ServerConnection,
    pending: &mut Pending,
    desktop: &Desktop,
    output_drained: bool,
) {
    if connection.lossy_region().is_empty() {
        return;
    }
    if !pending.requested || !output_drained {
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

/// Answers a pending request with the cursor shape and the name, if they changed, each as a
/// one-rectangle update ahead of any pixels. A viewer that takes neither pseudo-encoding gets
/// nothing and its request stays for the pixels.
fn send_pseudo_updates(
    connection: &mut ServerConnection,
    pending: &mut Pending,
    desktop: &Desktop,
) {
    if !pending.requested || !pending.first_update_sent {
        return;
    }
    let mut answered = false;
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
    if answered && !pending.has_pixels() {
        pending.requested = false;
    }
}
