//! The near proxy: an RFB server for any viewer whose desktop is a mirror fed by the link.
//! Viewers are answered from that mirror at once (farview's own server does the serving);
//! the link brings its changes and takes the viewers' input to the far side.
//!
//! When the link drops, viewers stay connected and keep the last picture; the near side
//! reconnects with backoff, naming its session and the last update it applied, so that only
//! what it missed crosses again.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use farview_protocol::Rect;
use farview_protocol::encode::CopyOperation;
use farview_protocol::encodings::extended_desktop_size::ResizeStatus;
use farview_server::source::SourceFuture;
use farview_server::{Canvas, Desktop, InputEvent, Server, ServerOptions, Source};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::ProxyError;
use crate::disk_cache::{DiskCache, WrittenOrder};
use crate::history::LinkHistory;
use crate::link::LinkError;
use crate::link::acks::AckPolicy;
use crate::link::auth::{self, LinkKey};
use crate::link::codec::LinkCodec;
use crate::link::compress;
use crate::link::message::{
    CACHE_ID_LEN, FarMessage, Hello, InventorySummary, LINK_VERSION, MAX_INVENTORY_HASHES,
    NearMessage, Resume,
};
use crate::link::tile_cache::{InventoryEntry, inventory_digest};
use crate::link::tiles::{StoredTile, TileReceiver, UpdateTarget};
use crate::link_io;
use crate::stats::{LinkStats, STATUS_INTERVAL};
use farview_client::Target;
use farview_client::tls::TlsTrust;
use farview_client::viewer::ServerStream;

/// The link's history ([`crate::history`]), next to the tile cache on disk.
const HISTORY_FILE_NAME: &str = "link-history";
/// The first wait before reconnecting a dropped link; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// The longest the link's TCP connection and TLS handshake may take. A slow link with a
/// long round trip needs a few round trips; a link that swallows packets must not keep us
/// waiting until TCP gives up on its own, minutes later, long after it works again.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the far side has to welcome us.
const WELCOME_TIMEOUT: Duration = Duration::from_secs(15);
/// A link silent this long is taken for dead (the far side pings every ten seconds at the least).
const LINK_SILENCE_LIMIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct NearOptions {
    /// Where viewers connect.
    pub server: ServerOptions,
    /// The far proxy.
    pub link: Target,
    pub key: LinkKey,
    /// How the far proxy's certificate is checked (pinned, or known from first use).
    pub trust: TlsTrust,
    /// The tile cache's size in bytes.
    pub cache_size: usize,
    /// Where the tile cache is kept between runs, if anywhere.
    pub cache_dir: Option<PathBuf>,
    pub stats_json: Option<PathBuf>,
}

/// An established link, welcomed by the far side.
struct Link {
    stream: Box<dyn ServerStream>,
    codec: LinkCodec,
    session: u64,
    resumed: bool,
}

/// Connects the link, then serves viewers until the far side's server goes away.
pub async fn run(options: NearOptions) -> Result<(), ProxyError> {
    let mut receiver = TileReceiver::new(options.cache_size);
    let (disk, cache_id, written) = match &options.cache_dir {
        Some(dir) => {
            let (disk, id, written) = open_disk_cache(dir, &mut receiver, options.cache_size)?;
            (Some(disk), Some(id), Some(written))
        }
        None => (None, None, None),
    };
    let mut history = match &options.cache_dir {
        Some(dir) => {
            LinkHistory::open(&dir.join(HISTORY_FILE_NAME)).map_err(|cause| ProxyError::Cache {
                dir: dir.to_path_buf(),
                cause,
            })?
        }
        None => LinkHistory::in_memory(),
    };
    let (link, width, height, name) = connect(
        &options,
        None,
        &mut receiver,
        (cache_id, written.as_ref()),
        &mut history,
    )
    .await?;
    info!(
        "near: linked to {} (session {:016x})",
        options.link, link.session
    );
    let server = Server::bind(options.server.clone()).await?;
    let source = LinkSource {
        options,
        width,
        height,
        name,
        link: Some(link),
        receiver,
        disk,
        cache_id,
        written,
        history,
    };
    server.run(Box::new(source)).await?;
    Ok(())
}

/// The way to the thread that appends new tiles to the disk cache.
type DiskWriter = std::sync::mpsc::Sender<Vec<StoredTile>>;

/// Loads the disk cache in `dir` into `receiver` and starts the thread that appends new
/// tiles to it; returns the way to that thread, the cache's identity and what it holds.
fn open_disk_cache(
    dir: &std::path::Path,
    receiver: &mut TileReceiver,
    limit: usize,
) -> Result<(DiskWriter, [u8; CACHE_ID_LEN], WrittenOrder), ProxyError> {
    let (mut cache, tiles) = DiskCache::open(dir, limit).map_err(|cause| ProxyError::Cache {
        dir: dir.to_path_buf(),
        cause,
    })?;
    info!(
        "near: {} tile(s) in the cache at {}",
        tiles.len(),
        cache.path().display()
    );
    let loaded = tiles
        .into_iter()
        .map(|tile| {
            let (width, height) = (tile.width, tile.height);
            (receiver.preload(tile), width, height)
        })
        .collect();
    receiver.keep_new_tiles();
    let id = cache.id();
    let (sender, tiles) = std::sync::mpsc::channel::<Vec<StoredTile>>();
    std::thread::spawn(move || {
        for batch in tiles {
            if batch.is_empty() {
                continue;
            }
            if let Err(error) = cache.append(&batch) {
                warn!("near: the tile cache on disk stops here: {error}");
                return;
            }
        }
    });
    Ok((sender, id, WrittenOrder::new(loaded, limit)))
}

/// Connects to the far side and says hello: a resume of `resume`, or a new session with
/// our cache's inventory. Returns the link and the desktop's size and name. With a disk
/// cache (`written`), a new session starts from the tiles in the order a restart would
/// load them, which the far side may remember; otherwise from the cache as it is. When
/// the far side holds the same `history`, the link's compression starts from it.
async fn connect(
    options: &NearOptions,
    resume: Option<Resume>,
    receiver: &mut TileReceiver,
    (cache_id, written): (Option<[u8; CACHE_ID_LEN]>, Option<&WrittenOrder>),
    history: &mut LinkHistory,
) -> Result<(Link, u16, u16, String), ProxyError> {
    let address = &options.link;
    let (mut stream, binding) = tokio::time::timeout(CONNECT_TIMEOUT, async {
        let tcp = address
            .dial(CONNECT_TIMEOUT)
            .await
            .map_err(|cause| ProxyError::Connect {
                address: address.to_string(),
                cause,
            })?;
        let (stream, binding) = farview_client::tls::connect_bound(
            Box::new(tcp),
            address,
            &options.trust,
            auth::BINDING_LABEL,
        )
        .await?;
        Ok::<_, ProxyError>((stream, binding))
    })
    .await
    .map_err(|_| ProxyError::Timeout("the far proxy's connection and TLS handshake"))??;
    // The near side sends only small messages (acks, input): the default level will do.
    let mut codec = LinkCodec::new(compress::DEFAULT_LEVEL)?;
    let mut output = Vec::new();
    // The proof goes at once, with the hello: it is bound to this TLS session.
    let nonce = auth::nonce();
    let proof = options.key.near_proof(&binding, &nonce);
    codec.encode(NearMessage::Auth { nonce, proof }.encode(), &mut output)?;
    let tiles = written
        .map(WrittenOrder::reloaded)
        .filter(|reloaded| {
            reloaded
                .iter()
                .all(|(hash, ..)| receiver.cache().contains(hash))
        })
        .unwrap_or_else(|| receiver.inventory());
    let hello = Hello {
        version: LINK_VERSION,
        cache_limit: receiver.cache().limit() as u64,
        resume,
        inventory: InventorySummary {
            cache_id,
            tiles: tiles.len() as u32,
            digest: inventory_digest(&tiles),
        },
        history: history.summary(),
    };
    codec.encode(NearMessage::Hello(hello).encode(), &mut output)?;
    link_io::send(&mut stream, &mut output).await?;
    let welcome = tokio::time::timeout(WELCOME_TIMEOUT, async {
        // The far side closes a link whose key it does not share.
        let (kind, payload) = link_io::read_message(&mut stream, &mut codec)
            .await
            .map_err(|_| ProxyError::WrongKey("the far proxy closed the link at the key check"))?;
        match FarMessage::decode(kind, &payload)? {
            FarMessage::Auth { proof: theirs }
                if auth::proofs_match(&theirs, &options.key.far_proof(&binding, &nonce)) => {}
            FarMessage::Auth { .. } => {
                return Err(ProxyError::WrongKey("the far proxy holds another link key"));
            }
            _ => return Err(ProxyError::WrongKey("the far proxy did not prove the key")),
        }
        loop {
            let (kind, payload) = link_io::read_message(&mut stream, &mut codec).await?;
            match FarMessage::decode(kind, &payload)? {
                // It does not know our cache (or cannot resume and has not remembered it).
                FarMessage::InventoryWanted => {
                    send_inventory(&tiles, &mut codec, &mut output)?;
                    link_io::send(&mut stream, &mut output).await?;
                }
                other => return Ok::<_, ProxyError>(other),
            }
        }
    })
    .await
    .map_err(|_| ProxyError::Timeout("the far proxy's welcome"))??;
    let FarMessage::Welcome {
        version,
        session,
        resumed,
        history: shared,
        width,
        height,
        name,
    } = welcome
    else {
        return Err(ProxyError::Link(LinkError::malformed(
            "welcome",
            format!("expected a welcome, got {welcome:?}"),
        )));
    };
    if version != LINK_VERSION {
        return Err(ProxyError::VersionMismatch {
            ours: LINK_VERSION,
            theirs: version,
        });
    }
    match shared {
        Some(window) => {
            // The far side names only bytes among those our hello named.
            let dictionary = history.dictionary(window).ok_or_else(|| {
                ProxyError::Link(LinkError::malformed(
                    "welcome",
                    format!(
                        "history of {} bytes ending at {}, not all held here",
                        window.len, window.end
                    ),
                ))
            })?;
            debug!(
                "near: the far side holds our last {} kB of updates",
                dictionary.len() / 1000
            );
            codec.receive_with_history(dictionary);
        }
        // Neither side uses what it held: both start afresh.
        None => history.restart(),
    }
    if !resumed {
        // The far side numbered our inventory in the order we gave it; so do we.
        receiver.reorder(&tiles);
        receiver.renumber();
    }
    Ok((
        Link {
            stream,
            codec,
            session,
            resumed,
        },
        width,
        height,
        name,
    ))
}

/// Our cache's inventory, least recently used first, in as many messages as it takes.
fn send_inventory(
    tiles: &[InventoryEntry],
    codec: &mut LinkCodec,
    output: &mut Vec<u8>,
) -> Result<(), ProxyError> {
    let mut chunks = tiles.chunks(MAX_INVENTORY_HASHES).peekable();
    if chunks.peek().is_none() {
        let empty = NearMessage::Inventory {
            tiles: Vec::new(),
            last: true,
        };
        codec.encode(empty.encode(), output)?;
    }
    while let Some(chunk) = chunks.next() {
        let last = chunks.peek().is_none();
        let message = NearMessage::Inventory {
            tiles: chunk.to_vec(),
            last,
        };
        codec.encode(message.encode(), output)?;
    }
    Ok(())
}

/// The desktop the near side serves: what the link brings.
struct LinkSource {
    options: NearOptions,
    width: u16,
    height: u16,
    name: String,
    link: Option<Link>,
    receiver: TileReceiver,
    /// New tiles go here, to be written to the disk cache by its own thread.
    disk: Option<DiskWriter>,
    cache_id: Option<[u8; CACHE_ID_LEN]>,
    /// What the disk cache holds, as a restart would load it.
    written: Option<WrittenOrder>,
    /// The updates received, shared with the far side ([`crate::history`]).
    history: LinkHistory,
}

impl Source for LinkSource {
    fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn run(
        self: Box<Self>,
        desktop: Arc<Desktop>,
        input: mpsc::Receiver<InputEvent>,
    ) -> SourceFuture {
        Box::pin(self.follow(desktop, input))
    }
}

/// Where the link session stands: the session and the last update applied.
#[derive(Debug, Clone, Copy)]
struct Position {
    session: u64,
    applied: u64,
}

impl LinkSource {
    async fn follow(
        mut self: Box<Self>,
        desktop: Arc<Desktop>,
        mut input: mpsc::Receiver<InputEvent>,
    ) -> Result<(), farview_server::SourceError> {
        let mut stats = LinkStats::new("near");
        let Some(first) = self.link.take() else {
            return Ok(());
        };
        let mut position = Position {
            session: first.session,
            applied: 0,
        };
        let mut link = Some(first);
        loop {
            if let Some(current) = link.take() {
                match self
                    .serve(current, &desktop, &mut input, &mut position, &mut stats)
                    .await
                {
                    Ok(()) => return Ok(()),
                    Err(error) => warn!("near: link lost: {error}; reconnecting, viewers stay"),
                }
            }
            link = self.reconnect(&mut input, position).await;
            if let Some(current) = &link {
                if current.resumed {
                    info!(
                        "near: link resumed (session {:016x}, after update {})",
                        current.session, position.applied
                    );
                    stats.resumes += 1;
                } else {
                    info!(
                        "near: new link session {:016x}: the far side repaints from our cache",
                        current.session
                    );
                    position = Position {
                        session: current.session,
                        applied: 0,
                    };
                }
            }
        }
    }

    /// Reconnects with growing waits; input that comes meanwhile is dropped (the viewers
    /// see the last picture and nothing they do can reach the desktop).
    async fn reconnect(
        &mut self,
        input: &mut mpsc::Receiver<InputEvent>,
        position: Position,
    ) -> Option<Link> {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let wait = tokio::time::sleep(backoff);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    () = &mut wait => break,
                    event = input.recv() => match event {
                        Some(InputEvent::SetDesktopSize(request)) => request.answer(ResizeStatus::OUT_OF_RESOURCES),
                        Some(_) => debug!("near: input dropped while the link is down"),
                        None => return None,
                    },
                }
            }
            let resume = Resume {
                session: position.session,
                sequence: position.applied,
            };
            match connect(
                &self.options,
                Some(resume),
                &mut self.receiver,
                (self.cache_id, self.written.as_ref()),
                &mut self.history,
            )
            .await
            {
                Ok((link, ..)) => return Some(link),
                Err(error) => debug!("near: reconnecting failed: {error}"),
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn serve(
        &mut self,
        link: Link,
        desktop: &Desktop,
        input: &mut mpsc::Receiver<InputEvent>,
        position: &mut Position,
        stats: &mut LinkStats,
    ) -> Result<(), ProxyError> {
        let Link {
            stream, mut codec, ..
        } = link;
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut buffer = vec![0u8; 256 * 1024];
        let mut output = Vec::new();
        let mut written = 0;
        // Pointer motion waits here while the link is busy; only the newest position goes.
        let mut pending_pointer: Option<(u8, u16, u16)> = None;
        let mut last_buttons = 0u8;
        let mut status = tokio::time::interval(STATUS_INTERVAL);
        let mut silence = tokio::time::interval(LINK_SILENCE_LIMIT);
        let mut last_heard = Instant::now();
        let mut acks = AckPolicy::default();
        loop {
            if written == output.len() {
                output.clear();
                written = 0;
                if let Some((buttons, x, y)) = pending_pointer.take() {
                    codec.encode(NearMessage::Pointer { buttons, x, y }.encode(), &mut output)?;
                }
            }
            tokio::select! {
                read = reader.read(&mut buffer) => {
                    let read = read?;
                    if read == 0 {
                        return Err(ProxyError::LinkClosed);
                    }
                    last_heard = Instant::now();
                    codec.feed(&buffer[..read]);
                    let mut ack_now = false;
                    while let Some((kind, payload)) = codec.next_message()? {
                        let message = FarMessage::decode(kind, &payload)?;
                        if let FarMessage::Update(_) = &message {
                            self.history.append(&payload);
                        }
                        match message {
                            FarMessage::Update(update) => {
                                let started = Instant::now();
                                let counts = desktop.draw(|canvas| {
                                    self.receiver.apply(&update, &mut CanvasTarget(canvas))
                                })?;
                                debug!(
                                    "near: update {} applied ({} tile(s)) in {:.1} ms",
                                    update.sequence,
                                    update.tiles.len(),
                                    started.elapsed().as_secs_f64() * 1e3
                                );
                                stats.add_tiles(counts);
                                if let Some(disk) = &self.disk {
                                    let new_tiles = self.receiver.take_new_tiles();
                                    if let Some(written) = &mut self.written {
                                        written.push(new_tiles.iter().map(|(hash, tile)| (*hash, tile.width, tile.height)));
                                    }
                                    let _ = disk.send(new_tiles.into_iter().map(|(_, tile)| tile).collect());
                                }
                                position.applied = update.sequence;
                                stats.updates += 1;
                                ack_now |= acks.applied(codec.last_frame_size(), Instant::now());
                            }
                            FarMessage::Cursor(cursor) => desktop.set_cursor(cursor),
                            FarMessage::Bell => desktop.bell(),
                            FarMessage::CutText(text) => desktop.set_clipboard(&text),
                            FarMessage::DesktopName(name) => desktop.set_name(&name),
                            FarMessage::Ping { id } => {
                                codec.encode(NearMessage::Pong { id }.encode(), &mut output)?;
                            }
                            FarMessage::Pong { .. } => {}
                            FarMessage::Welcome { .. }
                            | FarMessage::Auth { .. }
                            | FarMessage::InventoryWanted => {
                                return Err(ProxyError::Link(LinkError::malformed(
                                    "link",
                                    "a second start of the link",
                                )));
                            }
                        }
                    }
                    // One acknowledgement covers every update applied before it.
                    if ack_now {
                        acknowledge(&mut codec, &mut output, &mut acks, position.applied)?;
                    }
                }
                () = ack_due(acks.due()), if acks.due().is_some() => {
                    acknowledge(&mut codec, &mut output, &mut acks, position.applied)?;
                }
                sent = writer.write(&output[written..]), if written < output.len() => {
                    written += sent?;
                    if written == output.len() {
                        // TLS may hold the last record until flushed.
                        writer.flush().await?;
                    }
                }
                event = input.recv() => {
                    let Some(event) = event else { return Ok(()) };
                    // Events already waiting go with it: one write, one TLS record.
                    let mut next = Some(event);
                    while let Some(event) = next.take() {
                        let message = match event {
                            // The link carries keysyms only: scancodes stay on the near side.
                            InputEvent::Key { down, keysym, .. } => {
                                Some(NearMessage::Key { down, keysym })
                            }
                            InputEvent::Pointer { buttons, x, y } => {
                                let busy = written < output.len();
                                if busy && buttons == last_buttons {
                                    pending_pointer = Some((buttons, x, y));
                                    None
                                } else {
                                    pending_pointer = None;
                                    last_buttons = buttons;
                                    Some(NearMessage::Pointer { buttons, x, y })
                                }
                            }
                            InputEvent::CutText(text) => Some(NearMessage::CutText(text)),
                            InputEvent::SetDesktopSize(request) => {
                                // Not carried over the link yet: the viewer is told the size
                                // cannot change.
                                request.answer(ResizeStatus::PROHIBITED);
                                None
                            }
                        };
                        if let Some(message) = message {
                            // Motion held back goes first: input keeps its order.
                            if !matches!(message, NearMessage::Pointer { .. })
                                && let Some((buttons, x, y)) = pending_pointer.take()
                            {
                                codec.encode(NearMessage::Pointer { buttons, x, y }.encode(), &mut output)?;
                            }
                            codec.encode(message.encode(), &mut output)?;
                        }
                        next = input.try_recv().ok();
                    }
                }
                _ = status.tick() => {
                    stats.link = codec.counts();
                    info!("{}", stats.status_line());
                    if let Some(path) = &self.options.stats_json
                        && let Err(error) = stats.write_json(path)
                    {
                        warn!("near: --stats-json {}: {error}", path.display());
                    }
                }
                _ = silence.tick() => {
                    if last_heard.elapsed() > LINK_SILENCE_LIMIT {
                        return Err(ProxyError::Timeout("the far proxy (silent link)"));
                    }
                }
            }
        }
    }
}

/// Queues the acknowledgement of every update up to `applied`.
fn acknowledge(
    codec: &mut LinkCodec,
    output: &mut Vec<u8>,
    acks: &mut AckPolicy,
    applied: u64,
) -> Result<(), ProxyError> {
    codec.encode(NearMessage::Ack { sequence: applied }.encode(), output)?;
    acks.sent();
    Ok(())
}

/// Sleeps until `due` (never when there is none).
async fn ack_due(due: Option<Instant>) {
    match due {
        Some(due) => tokio::time::sleep_until(due.into()).await,
        None => std::future::pending().await,
    }
}

/// Draws link updates into the served desktop, so viewers hear of every change (moves as
/// CopyRect).
struct CanvasTarget<'a, 'b>(&'a mut Canvas<'b>);

impl UpdateTarget for CanvasTarget<'_, '_> {
    fn bounds(&self) -> Rect {
        self.0.framebuffer().bounds()
    }

    fn resize(&mut self, width: u16, height: u16) {
        if (width, height) != (self.0.width(), self.0.height()) {
            self.0.resize(width, height);
        }
    }

    fn copy(&mut self, copy: CopyOperation) {
        self.0.copy_rect(copy);
    }

    // Tiles cross whole even when a line of one changed; viewers are told of the part
    // that differs only, so that the near side and they encode and decode no more than a
    // direct connection would.
    fn fill(&mut self, rect: Rect, colour: u32) {
        if let Some(part) = changed_part(self.0.framebuffer(), &rect, |_, _| colour) {
            self.0.framebuffer_mut().fill_rect(&rect, colour);
            self.0.mark_changed(part);
        }
    }

    fn put(&mut self, rect: Rect, pixels: &[u32]) {
        let width = usize::from(rect.width);
        let new = |x: usize, row: usize| pixels[row * width + x];
        if let Some(part) = changed_part(self.0.framebuffer(), &rect, new) {
            self.0.framebuffer_mut().put_pixels(&rect, pixels);
            self.0.mark_changed(part);
        }
    }

    fn read(&self, rect: Rect) -> Vec<u32> {
        self.0.framebuffer().read_rect(&rect)
    }
}

/// The smallest rectangle holding every pixel of `rect` in `framebuffer` that differs from
/// `new(x, row)` (both counted from the rectangle's corner); `None` when none does.
fn changed_part(
    framebuffer: &farview_protocol::Framebuffer,
    rect: &Rect,
    new: impl Fn(usize, usize) -> u32,
) -> Option<Rect> {
    let mut columns = (usize::MAX, 0);
    let mut rows = (usize::MAX, 0);
    for row in 0..rect.height {
        let old = framebuffer.row(rect, row);
        let row = usize::from(row);
        let differs = |&(x, &pixel): &(usize, &u32)| pixel != new(x, row);
        let Some((first, _)) = old.iter().enumerate().find(differs) else {
            continue;
        };
        let (last, _) = old.iter().enumerate().rfind(differs).unwrap_or((first, &0));
        columns = (columns.0.min(first), columns.1.max(last));
        rows = (rows.0.min(row), row);
    }
    (rows.0 != usize::MAX).then(|| {
        Rect::new(
            rect.x + columns.0 as u16,
            rect.y + rows.0 as u16,
            (columns.1 - columns.0 + 1) as u16,
            (rows.1 - rows.0 + 1) as u16,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use farview_protocol::Framebuffer;

    #[test]
    fn viewers_hear_of_the_part_of_a_tile_that_changed() {
        let framebuffer = Framebuffer::new(128, 128);
        let tile = Rect::new(64, 0, 64, 64);
        let mut pixels = framebuffer.read_rect(&tile);
        let at = |pixels: &[u32]| {
            let pixels = pixels.to_vec();
            move |x: usize, row: usize| pixels[row * 64 + x]
        };
        assert_eq!(changed_part(&framebuffer, &tile, at(&pixels)), None);
        pixels[10 * 64 + 3] = 0xff;
        pixels[12 * 64 + 40] = 0xff;
        assert_eq!(
            changed_part(&framebuffer, &tile, at(&pixels)),
            Some(Rect::new(64 + 3, 10, 38, 3))
        );
        assert_eq!(changed_part(&framebuffer, &tile, |_, _| 0), None);
        assert_eq!(changed_part(&framebuffer, &tile, |_, _| 1), Some(tile));
    }
}
