//! The far proxy: an RFB client of the real server that keeps a mirror of its screen, and
//! the far end of the link, which tells the near side what changed.
//!
//! The server session outlives link connections: when the link drops, the mirror keeps
//! following the server, and a near side that comes back naming this session gets the
//! updates it missed, then only what changed since.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use farview_client::{Target, Viewer, ViewerOptions};
use farview_protocol::encodings::cursor::Cursor;
use farview_protocol::{ClientEvent, Framebuffer, Region};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{debug, info, warn};

use crate::ProxyError;
use crate::history::{HistorySummary, LinkHistory};
use crate::link::LinkError;
use crate::link::auth::{self, LinkKey};
use crate::link::codec::LinkCodec;
use crate::link::compress::{self, PreparedEncoder};
use crate::link::message::{self, CACHE_ID_LEN, FarMessage, LINK_VERSION, LinkUpdate, NearMessage};
use crate::link::outgoing::Outgoing;
use crate::link::pacing::{Pacer, PingSchedule};
use crate::link::tile_cache::{InventoryEntry, inventory_digest};
use crate::link::tiles::KnownRows;
use crate::link_io::{self, LinkStream};
use crate::remembered::{RememberedCache, RememberedCaches};
use crate::stats::{LinkStats, STATUS_INTERVAL};

/// The largest tile cache a near side may ask the far side to mirror.
pub const MAX_CACHE_LIMIT: u64 = 4 * 1024 * 1024 * 1024;
/// The most tiles a near side's inventory may name.
pub const MAX_INVENTORY_TILES: usize = 1 << 20;
/// How long a near side has to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the far side measures the round trip while updates flow ([`PingSchedule`]:
/// five times as long on a quiet link): every two seconds keeps the estimate fresh for a
/// fraction of what a busy link sends.
const PING_INTERVAL: Duration = Duration::from_secs(2);
/// A link silent this long is taken for dead (pings go every ten seconds at the least).
const LINK_SILENCE_LIMIT: Duration = Duration::from_secs(15);
/// Plain bytes of new pixels per byte of window: what zstd usually makes of desktop pixels.
const PLAIN_PER_WIRE_BYTE: usize = 4;

#[derive(Debug, Clone)]
pub struct FarOptions {
    pub listen: SocketAddr,
    /// TLS for the link (the near side pins this certificate).
    pub tls: Arc<rustls::ServerConfig>,
    pub key: LinkKey,
    pub server: Target,
    pub server_password: Option<Vec<u8>>,
    pub stats_json: Option<PathBuf>,
    /// Where the far side remembers what it sent to each near proxy's disk cache
    /// ([`crate::remembered`]); `None` asks every near proxy for its inventory.
    pub state_dir: Option<PathBuf>,
}

/// The server's screen as the far side last saw it.
#[derive(Debug)]
struct Mirror {
    framebuffer: Framebuffer,
    /// Where `framebuffer` changed since a link task last took it.
    damage: Region,
    name: String,
    cursor: Option<Cursor>,
}

/// What the link tasks share with the server task.
#[derive(Debug)]
struct Shared {
    mirror: Mutex<Mirror>,
    /// Bumped after each complete update from the server.
    changed: watch::Sender<u64>,
    /// Bell, clipboard, cursor and name, as they happen.
    events: broadcast::Sender<FarMessage>,
    input: mpsc::Sender<NearMessage>,
}

impl Shared {
    fn mirror(&self) -> std::sync::MutexGuard<'_, Mirror> {
        self.mirror
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The session with the near side, kept across link connections.
#[derive(Debug)]
struct LinkSession {
    id: u64,
    outgoing: Outgoing,
    /// The record of what the near side's disk cache gains, if it has one.
    remembered: Option<RememberedCache>,
    /// The updates sent, shared with the near side ([`crate::history`]).
    sent: SentHistory,
    /// The near cache `sent` belongs to.
    history_of: Option<[u8; CACHE_ID_LEN]>,
}

/// The updates sent ([`crate::history`]), and how far the near side acknowledged them: a
/// link that ends may have lost the last ones on the way.
#[derive(Debug)]
struct SentHistory {
    history: LinkHistory,
    /// Where `history` ended after each update not yet acknowledged, oldest first.
    unacknowledged: VecDeque<(u64, u64)>,
    /// Where it ended after the last update acknowledged.
    acknowledged: u64,
}

impl SentHistory {
    fn new(history: LinkHistory) -> Self {
        let acknowledged = history.end();
        Self {
            history,
            unacknowledged: VecDeque::new(),
            acknowledged,
        }
    }

    /// A new link agreed on (or restarted) the history: the near side holds all of it.
    fn link_started(&mut self) {
        self.unacknowledged.clear();
        self.acknowledged = self.history.end();
    }

    fn sent(&mut self, sequence: u64, payload: &[u8]) {
        self.history.append(payload);
        self.unacknowledged
            .push_back((sequence, self.history.end()));
    }

    /// The near side acknowledged the updates up to `sequence`.
    fn acknowledge(&mut self, sequence: u64) {
        while let Some(&(sent, end)) = self.unacknowledged.front()
            && sent <= sequence
        {
            self.acknowledged = end;
            self.unacknowledged.pop_front();
        }
    }

    /// What the next link's dictionary can be: all that was sent if the near side got it,
    /// else what it surely holds, whatever it got of the updates unacknowledged.
    fn likely_held(&self) -> Vec<HistorySummary> {
        let mut summaries: Vec<HistorySummary> = self.history.summary().into_iter().collect();
        if let Some(surely) = self.history.summary_acknowledged(self.acknowledged)
            && !summaries.contains(&surely)
        {
            summaries.push(surely);
        }
        summaries
    }
}

/// An encoder with a near side's history as its dictionary, made ready before that near
/// side's link asks for it: when the far side starts (for the near cache it served last)
/// and when a link ends (for all it sent, and for what the near side acknowledged if
/// that is less). Loading a dictionary takes about a second, and a link's first update,
/// often its largest, should not go without it.
struct Speculation {
    summary: HistorySummary,
    encoder: PreparedEncoder,
}

type SpeculationSlot = Arc<Mutex<Vec<Speculation>>>;

impl Speculation {
    /// Makes ready the encoders for the bytes of `history` that `summaries` name, keeping
    /// those already made for them and dropping the rest.
    fn renew(slot: &SpeculationSlot, history: &LinkHistory, summaries: &[HistorySummary]) {
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.retain(|made| summaries.contains(&made.summary));
        for summary in summaries {
            if slot.iter().any(|made| made.summary == *summary) {
                continue;
            }
            if let Some(dictionary) = history.dictionary(summary.window) {
                slot.push(Speculation {
                    summary: *summary,
                    encoder: PreparedEncoder::with_history(
                        compress::level_for(None),
                        dictionary.into(),
                    ),
                });
            }
        }
    }
}

/// Connects to the server, then serves near proxies until the server goes away.
pub async fn run(options: FarOptions) -> Result<(), ProxyError> {
    let viewer_options = ViewerOptions {
        password: options.server_password.clone(),
        ..ViewerOptions::default()
    };
    let viewer = Viewer::connect(&options.server, &viewer_options).await?;
    let (width, height) = (viewer.framebuffer().width(), viewer.framebuffer().height());
    info!(
        "far: connected to {} ({width}x{height}, {:?})",
        options.server,
        viewer.name()
    );
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|cause| ProxyError::Listen {
            addr: options.listen,
            cause,
        })?;
    let listening = listener.local_addr().unwrap_or(options.listen);
    info!("far: waiting for the near proxy on {listening}");
    let (input, input_receiver) = mpsc::channel(256);
    let shared = Arc::new(Shared {
        mirror: Mutex::new(Mirror {
            framebuffer: viewer.framebuffer().clone(),
            damage: Region::new(),
            name: viewer.name().to_string(),
            cursor: viewer.cursor().cloned(),
        }),
        changed: watch::channel(0).0,
        events: broadcast::channel(64).0,
        input,
    });
    let mut server_task = tokio::spawn(follow_server(viewer, shared.clone(), input_receiver));
    let session: Arc<tokio::sync::Mutex<Option<LinkSession>>> = Arc::default();
    // Each new link connection takes over from the one before it.
    let takeover = Arc::new(watch::channel(0u64).0);
    let stats = Arc::new(Mutex::new(LinkStats::new("far")));
    let remembered = RememberedCaches::new(options.state_dir.as_deref());
    let speculation: SpeculationSlot = Arc::default();
    if let Some(history) = remembered.latest_history() {
        let summaries: Vec<HistorySummary> = history.summary().into_iter().collect();
        Speculation::renew(&speculation, &history, &summaries);
    }
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(connection) => connection,
                    Err(error) => {
                        warn!("far: accept failed: {error}");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let link = LinkTask {
                    shared: shared.clone(),
                    session: session.clone(),
                    takeover: takeover.clone(),
                    stats: stats.clone(),
                    stats_json: options.stats_json.clone(),
                    key: options.key.clone(),
                    remembered: remembered.clone(),
                    speculation: speculation.clone(),
                };
                let (session, speculation) = (session.clone(), speculation.clone());
                let acceptor = tokio_rustls::TlsAcceptor::from(options.tls.clone());
                tokio::spawn(async move {
                    let tls = tokio::time::timeout(HELLO_TIMEOUT, acceptor.accept(stream)).await;
                    let stream = match tls {
                        Ok(Ok(stream)) => stream,
                        Ok(Err(error)) => {
                            return warn!("far: link from {peer} refused: TLS: {error}");
                        }
                        Err(_) => return warn!("far: link from {peer} refused: TLS timed out"),
                    };
                    let mut binding = [0u8; auth::BINDING_LEN];
                    if let Err(error) = stream.get_ref().1.export_keying_material(
                        &mut binding,
                        auth::BINDING_LABEL,
                        None,
                    ) {
                        return warn!("far: link from {peer} refused: TLS: {error}");
                    }
                    match link.run(stream, binding).await {
                        Ok(()) => info!("far: link from {peer} replaced by a newer one"),
                        Err(error @ ProxyError::WrongKey(_)) => {
                            warn!("far: link from {peer} refused: {error}");
                        }
                        Err(error) => {
                            warn!("far: link from {peer} ended: {error}");
                            // The near side will be back: have its dictionary ready.
                            if let Some(ended) = session.lock().await.as_ref() {
                                let sent = &ended.sent;
                                Speculation::renew(&speculation, &sent.history, &sent.likely_held());
                            }
                        }
                    }
                });
            }
            ended = &mut server_task => {
                return match ended {
                    Ok(result) => result,
                    Err(join) => Err(ProxyError::Task(join.to_string())),
                };
            }
        }
    }
}

/// Reads the server's updates into the mirror and sends it the near side's input.
async fn follow_server(
    mut viewer: Viewer,
    shared: Arc<Shared>,
    mut input: mpsc::Receiver<NearMessage>,
) -> Result<(), ProxyError> {
    let mut updates = 0u64;
    loop {
        while let Some(event) = viewer.poll_event()? {
            match event {
                ClientEvent::UpdateComplete { .. } | ClientEvent::Resized { .. } => {
                    // Only what the server drew is copied (a full-HD copy costs about a
                    // millisecond an update), and the link tasks compare only that.
                    let damage = viewer.take_damage();
                    let mut mirror = shared.mirror();
                    let framebuffer = viewer.framebuffer();
                    let (width, height) = (framebuffer.width(), framebuffer.height());
                    if (mirror.framebuffer.width(), mirror.framebuffer.height()) == (width, height)
                    {
                        for rect in damage.rects() {
                            if let Some(rect) = rect.clip(width, height) {
                                mirror.framebuffer.copy_from(framebuffer, &rect);
                            }
                        }
                        mirror.damage.add_region(&damage);
                    } else {
                        mirror.framebuffer = framebuffer.clone();
                        mirror.damage = Region::from_rect(framebuffer.bounds());
                    }
                    drop(mirror);
                    updates += 1;
                    shared.changed.send_replace(updates);
                }
                ClientEvent::Bell => {
                    let _ = shared.events.send(FarMessage::Bell);
                }
                ClientEvent::CutText(text) => {
                    let _ = shared.events.send(FarMessage::CutText(text));
                }
                ClientEvent::Cursor(cursor) => {
                    shared.mirror().cursor = Some(cursor.clone());
                    let _ = shared.events.send(FarMessage::Cursor(cursor));
                }
                ClientEvent::DesktopName(name) => {
                    shared.mirror().name = name.clone();
                    let _ = shared.events.send(FarMessage::DesktopName(name));
                }
                // The viewer turns continuous updates on by itself.
                ClientEvent::Connected { .. }
                | ClientEvent::DesktopSizeChange(_)
                | ClientEvent::PointerPosition { .. }
                | ClientEvent::EndOfContinuousUpdates => {}
            }
        }
        viewer.flush().await?;
        tokio::select! {
            received = viewer.receive() => received?,
            Some(message) = input.recv() => match message {
                NearMessage::Key { down, keysym } => viewer.key_event(down, keysym),
                NearMessage::Pointer { buttons, x, y } => viewer.pointer_event(buttons, x, y),
                NearMessage::CutText(text) => viewer.cut_text(&text),
                NearMessage::SetDesktopSize { width, height } => {
                    viewer.request_desktop_size(width, height);
                }
                _ => {}
            },
        }
    }
}

struct LinkTask {
    shared: Arc<Shared>,
    session: Arc<tokio::sync::Mutex<Option<LinkSession>>>,
    /// Bumped by each link that proves the key: the link before it then lets go.
    takeover: Arc<watch::Sender<u64>>,
    stats: Arc<Mutex<LinkStats>>,
    stats_json: Option<PathBuf>,
    key: LinkKey,
    remembered: RememberedCaches,
    speculation: SpeculationSlot,
}

impl LinkTask {
    /// Serves one link connection; `binding` is its TLS session's ([`auth`]).
    async fn run(
        self,
        mut stream: impl LinkStream,
        binding: [u8; auth::BINDING_LEN],
    ) -> Result<(), ProxyError> {
        let mut codec = LinkCodec::new(compress::level_for(None)).map_err(ProxyError::Io)?;
        let mut output = Vec::new();
        let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
            let (kind, payload) = link_io::read_message(&mut stream, &mut codec).await?;
            let NearMessage::Auth { nonce, proof } = NearMessage::decode(kind, &payload)? else {
                return Err(ProxyError::WrongKey("no proof of the link key"));
            };
            if !auth::proofs_match(&proof, &self.key.near_proof(&binding, &nonce)) {
                return Err(ProxyError::WrongKey(
                    "the near proxy holds another link key",
                ));
            }
            let proof = self.key.far_proof(&binding, &nonce);
            codec.encode(FarMessage::Auth { proof }.encode(), &mut output)?;
            let (kind, payload) = link_io::read_message(&mut stream, &mut codec).await?;
            match NearMessage::decode(kind, &payload)? {
                NearMessage::Hello(hello) => Ok(hello),
                other => Err(ProxyError::Link(LinkError::malformed(
                    "hello",
                    format!("expected a hello, got {other:?}"),
                ))),
            }
        })
        .await
        .map_err(|_| ProxyError::Timeout("the near proxy's hello"))??;
        if hello.version != LINK_VERSION {
            return Err(ProxyError::VersionMismatch {
                ours: LINK_VERSION,
                theirs: hello.version,
            });
        }
        let mut takeover = self.takeover.subscribe();
        let epoch = *takeover.borrow_and_update() + 1;
        self.takeover.send_replace(epoch);
        takeover.borrow_and_update();
        // The link before this one lets go of the session when it sees the takeover.
        let mut session = self.session.clone().lock_owned().await;
        if *takeover.borrow() != epoch {
            return Ok(());
        }
        let resumed = match (hello.resume, session.as_mut()) {
            (Some(resume), Some(current)) if resume.session == current.id => {
                current.outgoing.resume(resume.sequence)
            }
            _ => None,
        };
        let (width, height, name, cursor) = {
            let mirror = self.shared.mirror();
            (
                mirror.framebuffer.width(),
                mirror.framebuffer.height(),
                mirror.name.clone(),
                mirror.cursor.clone(),
            )
        };
        let resumed = match resumed {
            Some(missed) => {
                let current = session.as_ref().map_or(0, |s| s.id);
                info!(
                    "far: link resumed session {current:016x}: {} update(s) sent again",
                    missed.len()
                );
                self.stats.lock().unwrap_or_else(|p| p.into_inner()).resumes += 1;
                Some(missed)
            }
            None => {
                let limit = hello.cache_limit.min(MAX_CACHE_LIMIT) as usize;
                let summary = hello.inventory;
                let predicted = match summary.cache_id {
                    Some(cache) if summary.tiles > 0 => self.remembered.predicted(&cache, limit),
                    _ => None,
                };
                let remembered = predicted
                    .as_ref()
                    .is_some_and(|(tiles, _)| inventory_digest(tiles) == summary.digest);
                // Rows are known only of tiles remembered: an inventory that crosses names
                // tiles, not their rows.
                let (inventory, known) = match predicted {
                    Some(predicted) if remembered => predicted,
                    _ if summary.tiles == 0 => (Vec::new(), KnownRows::new()),
                    predicted => {
                        codec.encode(FarMessage::InventoryWanted.encode(), &mut output)?;
                        link_io::send(&mut stream, &mut output).await?;
                        let inventory = tokio::time::timeout(
                            HELLO_TIMEOUT,
                            read_inventory(&mut stream, &mut codec),
                        )
                        .await
                        .map_err(|_| ProxyError::Timeout("the near proxy's inventory"))??;
                        (
                            inventory,
                            predicted.map(|(_, known)| known).unwrap_or_default(),
                        )
                    }
                };
                let id = random_session_id();
                info!(
                    "far: new link session {id:016x}; the near side holds {} tile(s){}",
                    inventory.len(),
                    if remembered { " (as remembered)" } else { "" }
                );
                let remembered = summary.cache_id.and_then(|cache| {
                    self.remembered
                        .start(&cache, &inventory, &known, limit)
                        .inspect_err(|error| warn!("far: cannot remember the near cache: {error}"))
                        .ok()
                });
                // The same near side again keeps its history; another's comes from disk.
                let sent = match session.take() {
                    Some(previous) if previous.history_of == summary.cache_id => previous.sent,
                    _ => SentHistory::new(self.remembered.history(summary.cache_id.as_ref())),
                };
                *session = Some(LinkSession {
                    id,
                    outgoing: Outgoing::new(width, height, limit, &inventory, &known),
                    remembered,
                    sent,
                    history_of: summary.cache_id,
                });
                None
            }
        };
        let Some(current) = session.as_mut() else {
            return Err(ProxyError::Task("no link session".into()));
        };
        let speculations =
            std::mem::take(&mut *self.speculation.lock().unwrap_or_else(|p| p.into_inner()));
        let history = &mut current.sent.history;
        let shared = hello.history.and_then(|theirs| {
            let made: Vec<HistorySummary> = speculations.iter().map(|s| s.summary).collect();
            let window = history.agree(&theirs, &made)?;
            let dictionary = history.dictionary(window)?;
            let prepared = speculations
                .into_iter()
                .find(|speculation| speculation.summary.window == window)
                .map(|speculation| speculation.encoder);
            info!(
                "far: the near side holds the last {} kB sent: they start the compression{}",
                dictionary.len() / 1000,
                if prepared.is_some() {
                    " (made ready ahead)"
                } else {
                    ""
                }
            );
            Some((window, dictionary, prepared))
        });
        if shared.is_none() {
            history.restart();
        }
        current.sent.link_started();
        let welcome = FarMessage::Welcome {
            version: LINK_VERSION,
            session: current.id,
            resumed: resumed.is_some(),
            history: shared.as_ref().map(|(window, ..)| *window),
            width,
            height,
            name,
        };
        codec.encode(welcome.encode(), &mut output)?;
        if let Some((_, dictionary, prepared)) = shared {
            codec.send_with_history(dictionary, prepared);
        }
        let mut pacer = Pacer::default();
        let now = Instant::now();
        match resumed {
            Some(missed) => {
                for update in missed {
                    let sequence = update.sequence;
                    let size = send_update(&mut codec, &mut current.sent, &update, &mut output)?;
                    pacer.on_sent(sequence, size, now);
                }
            }
            None => {
                if let Some(cursor) = cursor {
                    codec.encode(FarMessage::Cursor(cursor).encode(), &mut output)?;
                }
            }
        }
        let mut task = self;
        task.serve(stream, codec, output, pacer, takeover, current)
            .await
    }

    /// The link's main loop: updates out as the window allows, input and acks in.
    async fn serve(
        &mut self,
        stream: impl LinkStream,
        mut codec: LinkCodec,
        mut output: Vec<u8>,
        mut pacer: Pacer,
        mut takeover: watch::Receiver<u64>,
        session: &mut LinkSession,
    ) -> Result<(), ProxyError> {
        let outgoing = &mut session.outgoing;
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut changes = self.shared.changed.subscribe();
        let mut events = self.shared.events.subscribe();
        let started = Instant::now();
        let mut ping = tokio::time::interval(PING_INTERVAL);
        let mut pings = PingSchedule::default();
        let mut status = tokio::time::interval(STATUS_INTERVAL);
        let mut input = vec![0u8; 64 * 1024];
        let mut written = 0;
        let mut last_heard = Instant::now();
        // The mirror may have changed before this link came.
        let mut dirty = true;
        loop {
            if dirty && written == output.len() && pacer.can_send() {
                output.clear();
                written = 0;
                let budget = pacer.room() * PLAIN_PER_WIRE_BYTE;
                let making = Instant::now();
                let next = {
                    let mut mirror = self.shared.mirror();
                    let damage = mirror.damage.take();
                    outgoing.next_update(&mirror.framebuffer, &damage, budget)
                };
                let arrivals = outgoing.take_arrivals();
                if let Some(record) = &mut session.remembered
                    && let Err(error) = record.append(&arrivals)
                {
                    warn!("far: cannot remember the near cache: {error}");
                    session.remembered = None;
                }
                match next {
                    Some((update, counts)) => {
                        let sequence = update.sequence;
                        codec.follow_bandwidth(pacer.bandwidth());
                        let tiles = update.tiles.len();
                        let size =
                            send_update(&mut codec, &mut session.sent, &update, &mut output)?;
                        debug!(
                            "far: update {sequence}: {tiles} tile(s) ({} new, {} stitched, {} cached, {} filled), {size} bytes, made in {:.1} ms",
                            counts.new,
                            counts.stitched,
                            counts.cached,
                            counts.fills,
                            making.elapsed().as_secs_f64() * 1e3
                        );
                        pacer.on_sent(sequence, size, Instant::now());
                        pings.update_sent();
                        let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                        stats.add_tiles(counts);
                        stats.updates += 1;
                    }
                    // Nothing differs, or too much awaits acknowledgement (an ack wakes us).
                    None => dirty = false,
                }
            }
            tokio::select! {
                read = reader.read(&mut input) => {
                    let read = read?;
                    if read == 0 {
                        return Err(ProxyError::LinkClosed);
                    }
                    last_heard = Instant::now();
                    codec.feed(&input[..read]);
                    while let Some((kind, payload)) = codec.next_message()? {
                        match NearMessage::decode(kind, &payload)? {
                            NearMessage::Ack { sequence } => {
                                outgoing.acknowledge(sequence);
                                session.sent.acknowledge(sequence);
                                pacer.on_ack(sequence, Instant::now());
                                dirty = true;
                            }
                            NearMessage::Ping { id } => {
                                codec.encode(FarMessage::Pong { id }.encode(), &mut output)?;
                            }
                            NearMessage::Pong { id } => {
                                let sent = started + Duration::from_micros(id);
                                let rtt = Instant::now().saturating_duration_since(sent);
                                pacer.on_rtt_sample(rtt);
                                self.stats.lock().unwrap_or_else(|p| p.into_inner()).rtt = pacer.rtt();
                            }
                            message @ (NearMessage::Key { .. }
                            | NearMessage::Pointer { .. }
                            | NearMessage::CutText(_)
                            | NearMessage::SetDesktopSize { .. }) => {
                                if self.shared.input.send(message).await.is_err() {
                                    return Err(ProxyError::Task("the server session ended".into()));
                                }
                            }
                            other => {
                                return Err(ProxyError::Link(LinkError::malformed(
                                    "link",
                                    format!("unexpected {other:?} after the hello"),
                                )));
                            }
                        }
                    }
                }
                sent = writer.write(&output[written..]), if written < output.len() => {
                    written += sent?;
                    if written == output.len() {
                        // TLS may hold the last record until flushed.
                        writer.flush().await?;
                        output.clear();
                        written = 0;
                    }
                }
                _ = changes.changed() => dirty = true,
                event = events.recv() => match event {
                    Ok(message) => {
                        codec.encode(message.encode(), &mut output)?;
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        debug!("far: {missed} event(s) dropped on a busy link");
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(ProxyError::Task("the server session ended".into()));
                    }
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > LINK_SILENCE_LIMIT {
                        return Err(ProxyError::Timeout("the near proxy (silent link)"));
                    }
                    if pings.tick() {
                        let id = started.elapsed().as_micros() as u64;
                        codec.encode(FarMessage::Ping { id }.encode(), &mut output)?;
                    }
                }
                _ = status.tick() => {
                    let mut stats = self.stats.lock().unwrap_or_else(|p| p.into_inner());
                    stats.link = codec.counts();
                    info!("{}", stats.status_line());
                    if let Some(path) = &self.stats_json
                        && let Err(error) = stats.write_json(path)
                    {
                        warn!("far: --stats-json {}: {error}", path.display());
                    }
                }
                _ = takeover.changed() => return Ok(()),
            }
        }
    }
}

/// Queues an update for the link, kept in the history both ends share.
fn send_update(
    codec: &mut LinkCodec,
    sent: &mut SentHistory,
    update: &LinkUpdate,
    output: &mut Vec<u8>,
) -> std::io::Result<usize> {
    let message = message::encode_update(update);
    sent.sent(update.sequence, &message.1);
    codec.encode(message, output)
}

/// Reads the near side's inventory: the tiles its cache holds, least recently used first.
async fn read_inventory(
    stream: &mut impl LinkStream,
    codec: &mut LinkCodec,
) -> Result<Vec<InventoryEntry>, ProxyError> {
    let mut tiles = Vec::new();
    loop {
        let (kind, payload) = link_io::read_message(stream, codec).await?;
        match NearMessage::decode(kind, &payload)? {
            NearMessage::Inventory { tiles: more, last } => {
                if tiles.len() + more.len() > MAX_INVENTORY_TILES {
                    return Err(ProxyError::Link(LinkError::malformed(
                        "inventory",
                        format!("more than {MAX_INVENTORY_TILES} tiles"),
                    )));
                }
                tiles.extend(more);
                if last {
                    return Ok(tiles);
                }
            }
            other => {
                return Err(ProxyError::Link(LinkError::malformed(
                    "inventory",
                    format!("expected the inventory, got {other:?}"),
                )));
            }
        }
    }
}

fn random_session_id() -> u64 {
    let mut bytes = [0u8; 8];
    // Without the OS's randomness a session id could repeat; not recoverable.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    u64::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_may_start_from_all_sent_or_from_what_was_acknowledged() {
        let mut sent = SentHistory::new(LinkHistory::in_memory());
        assert!(sent.likely_held().is_empty());
        for sequence in 1..=5 {
            sent.sent(sequence, &[sequence as u8; 100]);
        }
        let ends = |sent: &SentHistory| -> Vec<u64> {
            sent.likely_held().iter().map(|s| s.window.end).collect()
        };
        assert_eq!(ends(&sent), [500], "all sent: nothing acknowledged yet");
        sent.acknowledge(3);
        assert_eq!(
            ends(&sent),
            [500, 300],
            "all sent, or what was acknowledged"
        );
        sent.acknowledge(2);
        assert_eq!(
            sent.acknowledged, 300,
            "an older acknowledgement changes nothing"
        );
        sent.acknowledge(5);
        assert_eq!(ends(&sent), [500], "all of it acknowledged");
        sent.sent(6, &[6; 100]);
        sent.link_started();
        assert_eq!(sent.acknowledged, 600, "a new link agreed on all of it");
        assert!(sent.unacknowledged.is_empty());
    }
}
