//! The messages of the link, each carried in one frame (kind byte = message kind). Integers
//! are big-endian; text is UTF-8 with a 32-bit length; every count and length from the peer
//! is checked against a named limit before anything is allocated.
//!
//! Near to far: the hello (protocol version, cache limit, the session to resume, a digest of
//! the near side's cache inventory, what it holds of the link's history), the inventory if the far side asks, the viewers' input,
//! acknowledgements and pings. Far to near: the welcome (after asking for the inventory, if
//! it must; which of the history's bytes start the compression, if any), updates (moves, then tiles: fills, references by number to tiles both caches
//! hold, tiles stitched from rows of such tiles and rows the near side shows already, tiles
//! composed of runs of what it shows and of tiles shown at the place before, or new pixels
//! as runs or plain), the cursor, the bell, clipboard text, the
//! desktop's name, pings and pongs.

use farview_protocol::Rect;
use farview_protocol::encode::CopyOperation;
use farview_protocol::encodings::cursor::Cursor;
use farview_protocol::encodings::put_run_length;

use super::LinkError;
use super::auth::{NONCE_LEN, PROOF_LEN};
use super::tile_cache::{TILE_HASH_LEN, TILE_SIDE, TileHash, TileId};
use crate::history::{HISTORY_LEN, HistorySummary, HistoryWindow};

/// The link protocol's version; both ends must speak the same one.
pub const LINK_VERSION: u16 = 9;
/// The longest text (clipboard, desktop name) a message may carry.
pub const MAX_TEXT_LEN: usize = 8 * 1024 * 1024;
/// The most moves in one update.
pub const MAX_MOVES: usize = 4096;
/// The most tiles in one update: a whole 16384x16384 desktop.
pub const MAX_TILES: usize = 256 * 256;
/// The most hashes in one inventory message.
pub const MAX_INVENTORY_HASHES: usize = 64 * 1024;
/// Bytes of a disk cache's identity.
pub const CACHE_ID_LEN: usize = 16;
/// Bytes of an inventory's digest ([`super::tile_cache::inventory_digest`]).
pub const INVENTORY_DIGEST_LEN: usize = 32;
/// The largest cursor side.
pub const MAX_CURSOR_SIDE: u16 = 256;

/// What the near side asks for when the link starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    /// The byte limit of the near side's tile cache; the far side mirrors it.
    pub cache_limit: u64,
    /// The far session this near side was attached to, and the last update it applied.
    pub resume: Option<Resume>,
    /// What the near side's cache holds; the inventory itself follows only if the far side
    /// asks for it.
    pub inventory: InventorySummary,
    /// What the near side holds of the link's history ([`crate::history`]).
    pub history: Option<HistorySummary>,
}

/// The near side's inventory in brief: when the far side remembers what this cache was sent
/// and the digest agrees, the inventory need not cross.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InventorySummary {
    /// The near side's disk cache, if it has one.
    pub cache_id: Option<[u8; CACHE_ID_LEN]>,
    pub tiles: u32,
    pub digest: [u8; INVENTORY_DIGEST_LEN],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resume {
    pub session: u64,
    pub sequence: u64,
}

/// How one tile of an update is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileContent {
    /// One colour.
    Fill(u32),
    /// A tile the near side holds, by its number in both caches.
    Cached(TileId),
    /// Pixels the near side has not seen, native `0x00RRGGBB`, row-major.
    New(Vec<u32>),
    /// New pixels as runs: each run's colour, then its length less one in bytes of up to
    /// 255 (a byte under 255 ends it), row-major across the tile. Held expanded.
    Runs(Vec<u32>),
    /// Rows the near side has, top to bottom: rows of tiles both caches hold (content that
    /// moved up or down since it was sent: a page scrolled to an offset not seen before),
    /// and rows it shows at this place already (a window moved in by the update's moves).
    /// Rows found in neither follow as runs.
    Stitched(Stitched),
    /// Pixels from what the near side has at the tile's place: what it shows there now and
    /// held tiles shown there before (wallpaper a dragged window uncovered, next to the
    /// window's part that the update's moves brought), the rest new.
    Composed(Composed),
}

/// A tile made of runs of pixels, each run from one source at the same place in the tile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Composed {
    /// Held tiles of the tile's size that runs take pixels from, at most [`MAX_LAYERS`].
    pub layers: Vec<TileId>,
    /// Row-major across the tile; their lengths add up to its area.
    pub runs: Vec<PixelRun>,
    /// The pixels of the new runs, in order. Held expanded.
    pub new_pixels: Vec<u32>,
}

/// The most held tiles a composed tile takes pixels from.
pub const MAX_LAYERS: usize = 2;

/// `length` pixels from `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PixelRun {
    pub source: PixelSource,
    pub length: u16,
}

/// Where a [`PixelRun`]'s pixels come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelSource {
    /// [`Composed::new_pixels`].
    New,
    /// What the near side shows there, after the update's moves and earlier tiles.
    Shown,
    /// The held tile [`Composed::layers`]`[i]`.
    Layer(u8),
}

/// A tile made of rows: spans of held tiles' rows, of rows shown, and of new rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stitched {
    /// Top to bottom; their rows add up to the tile's height.
    pub spans: Vec<RowSpan>,
    /// The pixels of the new spans, in order, row-major. Held expanded.
    pub new_rows: Vec<u32>,
}

/// `rows` rows of a tile, from `source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowSpan {
    pub source: RowSource,
    pub rows: u16,
}

/// Where the rows of a [`RowSpan`] come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSource {
    /// A held tile's rows, from `first_row` on.
    Held { id: TileId, first_row: u16 },
    /// The rows the near side shows at this place now: after the update's moves and the
    /// tiles before this one.
    Shown,
    /// New rows, in [`Stitched::new_rows`].
    New,
}

impl TileContent {
    /// The bytes of new pixel data this tile carries before compression (none for a fill
    /// or a reference): what an update's budget counts.
    pub fn pixel_bytes(&self) -> usize {
        match self {
            TileContent::New(pixels) => Self::plain_bytes(pixels),
            TileContent::Runs(pixels) => Self::runs_bytes(pixels),
            TileContent::Stitched(stitched) => {
                Self::stitched_bytes(stitched.spans.len(), &stitched.new_rows)
            }
            TileContent::Composed(composed) => Self::composed_bytes(
                composed.layers.len(),
                composed.runs.len(),
                &composed.new_pixels,
            ),
            TileContent::Fill(_) | TileContent::Cached(_) => 0,
        }
    }

    /// [`TileContent::pixel_bytes`] of `pixels` as [`TileContent::New`].
    pub fn plain_bytes(pixels: &[u32]) -> usize {
        pixels.len() * 3
    }

    /// [`TileContent::pixel_bytes`] of `pixels` as [`TileContent::Runs`].
    pub fn runs_bytes(pixels: &[u32]) -> usize {
        super::tiles::run_count(pixels) * 4
    }

    /// [`TileContent::pixel_bytes`] of a stitched tile of `spans` spans and `new_rows`.
    pub fn stitched_bytes(spans: usize, new_rows: &[u32]) -> usize {
        spans * 4 + Self::runs_bytes(new_rows)
    }

    /// [`TileContent::pixel_bytes`] of a composed tile of `layers` layers, `runs` runs and
    /// `new_pixels`.
    pub fn composed_bytes(layers: usize, runs: usize, new_pixels: &[u32]) -> usize {
        layers * 3 + runs * 2 + Self::runs_bytes(new_pixels)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TilePlacement {
    pub rect: Rect,
    pub content: TileContent,
}

/// A change of the far side's mirror, applied in order: the new size, the moves, the tiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkUpdate {
    pub sequence: u64,
    pub size: Option<(u16, u16)>,
    pub moves: Vec<CopyOperation>,
    pub tiles: Vec<TilePlacement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NearMessage {
    /// The near side's nonce and its proof of the link key ([`super::auth`]).
    Auth {
        nonce: [u8; NONCE_LEN],
        proof: [u8; PROOF_LEN],
    },
    Hello(Hello),
    /// Tiles the near side holds (hash, width, height), least recently used first; `last`
    /// ends the inventory.
    Inventory {
        tiles: Vec<(TileHash, u16, u16)>,
        last: bool,
    },
    Key {
        down: bool,
        keysym: u32,
    },
    Pointer {
        buttons: u8,
        x: u16,
        y: u16,
    },
    CutText(String),
    SetDesktopSize {
        width: u16,
        height: u16,
    },
    /// Every update up to `sequence` has been applied.
    Ack {
        sequence: u64,
    },
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FarMessage {
    /// The far side's proof of the link key.
    Auth {
        proof: [u8; PROOF_LEN],
    },
    Welcome {
        version: u16,
        session: u64,
        /// The session asked for was still there: updates continue after the last one
        /// acknowledged, and the cache is as the near side left it.
        resumed: bool,
        /// The far side holds the history the hello named: the link's compression takes
        /// these bytes of it (all of them, or fewer) as its dictionary.
        history: Option<HistoryWindow>,
        width: u16,
        height: u16,
        name: String,
    },
    /// The far side does not know the near side's cache: send the inventory.
    InventoryWanted,
    Update(LinkUpdate),
    Cursor(Cursor),
    Bell,
    CutText(String),
    DesktopName(String),
    Ping {
        id: u64,
    },
    Pong {
        id: u64,
    },
}

mod kind {
    pub const HELLO: u8 = 1;
    pub const INVENTORY: u8 = 2;
    pub const KEY: u8 = 3;
    pub const POINTER: u8 = 4;
    pub const NEAR_CUT_TEXT: u8 = 5;
    pub const SET_DESKTOP_SIZE: u8 = 6;
    pub const ACK: u8 = 7;
    pub const NEAR_PING: u8 = 8;
    pub const NEAR_PONG: u8 = 9;
    pub const NEAR_AUTH: u8 = 10;

    pub const WELCOME: u8 = 64;
    pub const UPDATE: u8 = 65;
    pub const CURSOR: u8 = 66;
    pub const BELL: u8 = 67;
    pub const FAR_CUT_TEXT: u8 = 68;
    pub const DESKTOP_NAME: u8 = 69;
    pub const FAR_PING: u8 = 70;
    pub const FAR_PONG: u8 = 71;
    /// The far side's first message before link version 9: its challenge.
    pub const OLD_CHALLENGE: u8 = 72;
    pub const FAR_AUTH: u8 = 73;
    pub const INVENTORY_WANTED: u8 = 74;
}

mod tile_tag {
    pub const FILL: u8 = 0;
    pub const CACHED: u8 = 1;
    pub const NEW: u8 = 2;
    pub const RUNS: u8 = 4;
    pub const STITCHED: u8 = 5;
    pub const COMPOSED: u8 = 6;
    /// Set on the tag when the tile is a whole grid cell, given by its column and row
    /// (two varints, two bytes on any screen up to 8128 pixels) instead of a rectangle
    /// (eight bytes): most tiles of an update are.
    pub const GRID_CELL: u8 = 0x80;
    /// Set on the tag when the tile is the grid cell right of the previous tile's, which
    /// was a grid cell: no coordinates follow. A whole screen's tiles go in one byte each.
    pub const NEXT_CELL: u8 = 0x40;
}

impl NearMessage {
    /// The frame kind and payload of this message.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut out = Vec::new();
        let kind = match self {
            NearMessage::Auth { nonce, proof } => {
                out.extend_from_slice(nonce);
                out.extend_from_slice(proof);
                kind::NEAR_AUTH
            }
            NearMessage::Hello(hello) => {
                out.extend_from_slice(&hello.version.to_be_bytes());
                out.extend_from_slice(&hello.cache_limit.to_be_bytes());
                match hello.resume {
                    None => out.push(0),
                    Some(resume) => {
                        out.push(1);
                        out.extend_from_slice(&resume.session.to_be_bytes());
                        out.extend_from_slice(&resume.sequence.to_be_bytes());
                    }
                }
                let summary = &hello.inventory;
                match summary.cache_id {
                    None => out.push(0),
                    Some(id) => {
                        out.push(1);
                        out.extend_from_slice(&id);
                    }
                }
                out.extend_from_slice(&summary.tiles.to_be_bytes());
                out.extend_from_slice(&summary.digest);
                match &hello.history {
                    None => out.push(0),
                    Some(history) => {
                        out.push(1);
                        write_history_window(&history.window, &mut out);
                        out.extend_from_slice(&history.digest);
                    }
                }
                kind::HELLO
            }
            NearMessage::Inventory { tiles, last } => {
                out.push(u8::from(*last));
                out.extend_from_slice(&(tiles.len() as u32).to_be_bytes());
                for (hash, width, height) in tiles {
                    out.extend_from_slice(&hash.0);
                    out.extend_from_slice(&width.to_be_bytes());
                    out.extend_from_slice(&height.to_be_bytes());
                }
                kind::INVENTORY
            }
            NearMessage::Key { down, keysym } => {
                out.push(u8::from(*down));
                out.extend_from_slice(&keysym.to_be_bytes());
                kind::KEY
            }
            NearMessage::Pointer { buttons, x, y } => {
                out.push(*buttons);
                out.extend_from_slice(&x.to_be_bytes());
                out.extend_from_slice(&y.to_be_bytes());
                kind::POINTER
            }
            NearMessage::CutText(text) => {
                write_text(text, &mut out);
                kind::NEAR_CUT_TEXT
            }
            NearMessage::SetDesktopSize { width, height } => {
                out.extend_from_slice(&width.to_be_bytes());
                out.extend_from_slice(&height.to_be_bytes());
                kind::SET_DESKTOP_SIZE
            }
            NearMessage::Ack { sequence } => {
                write_varint(*sequence, &mut out);
                kind::ACK
            }
            NearMessage::Ping { id } => {
                write_varint(*id, &mut out);
                kind::NEAR_PING
            }
            NearMessage::Pong { id } => {
                write_varint(*id, &mut out);
                kind::NEAR_PONG
            }
        };
        (kind, out)
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<NearMessage, LinkError> {
        let mut r = Reader::new(payload);
        let message = match kind {
            kind::NEAR_AUTH => NearMessage::Auth {
                nonce: r.array("auth")?,
                proof: r.array("auth")?,
            },
            kind::HELLO => {
                let what = "hello";
                let version = r.u16(what)?;
                let cache_limit = r.u64(what)?;
                let resume = match r.u8(what)? {
                    0 => None,
                    1 => Some(Resume {
                        session: r.u64(what)?,
                        sequence: r.u64(what)?,
                    }),
                    other => {
                        return Err(LinkError::malformed(what, format!("resume flag {other}")));
                    }
                };
                let cache_id = match r.flag(what)? {
                    false => None,
                    true => Some(r.array(what)?),
                };
                let inventory = InventorySummary {
                    cache_id,
                    tiles: r.u32(what)?,
                    digest: r.array(what)?,
                };
                let history = match r.flag(what)? {
                    false => None,
                    true => Some(HistorySummary {
                        window: read_history_window(&mut r, what)?,
                        digest: r.array(what)?,
                    }),
                };
                NearMessage::Hello(Hello {
                    version,
                    cache_limit,
                    resume,
                    inventory,
                    history,
                })
            }
            kind::INVENTORY => {
                let what = "inventory";
                let last = r.flag(what)?;
                let count = r.count(what, MAX_INVENTORY_HASHES)?;
                let mut tiles = Vec::with_capacity(count);
                for _ in 0..count {
                    let hash = r.hash(what)?;
                    let (width, height) = (r.u16(what)?, r.u16(what)?);
                    if width > TILE_SIDE || height > TILE_SIDE {
                        return Err(LinkError::malformed(
                            what,
                            format!("a {width}x{height} tile"),
                        ));
                    }
                    tiles.push((hash, width, height));
                }
                NearMessage::Inventory { tiles, last }
            }
            kind::KEY => NearMessage::Key {
                down: r.flag("key")?,
                keysym: r.u32("key")?,
            },
            kind::POINTER => NearMessage::Pointer {
                buttons: r.u8("pointer")?,
                x: r.u16("pointer")?,
                y: r.u16("pointer")?,
            },
            kind::NEAR_CUT_TEXT => NearMessage::CutText(r.text("clipboard text")?),
            kind::SET_DESKTOP_SIZE => NearMessage::SetDesktopSize {
                width: r.u16("desktop size")?,
                height: r.u16("desktop size")?,
            },
            kind::ACK => NearMessage::Ack {
                sequence: r.varint("ack")?,
            },
            kind::NEAR_PING => NearMessage::Ping {
                id: r.varint("ping")?,
            },
            kind::NEAR_PONG => NearMessage::Pong {
                id: r.varint("pong")?,
            },
            kind => return Err(LinkError::UnknownKind { kind }),
        };
        r.finish(kind)?;
        Ok(message)
    }
}

impl FarMessage {
    /// The frame kind and payload of this message.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut out = Vec::new();
        let kind = match self {
            FarMessage::Auth { proof } => {
                out.extend_from_slice(proof);
                kind::FAR_AUTH
            }
            FarMessage::Welcome {
                version,
                session,
                resumed,
                history,
                width,
                height,
                name,
            } => {
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(&session.to_be_bytes());
                out.push(u8::from(*resumed));
                match history {
                    None => out.push(0),
                    Some(window) => {
                        out.push(1);
                        write_history_window(window, &mut out);
                    }
                }
                out.extend_from_slice(&width.to_be_bytes());
                out.extend_from_slice(&height.to_be_bytes());
                write_text(name, &mut out);
                kind::WELCOME
            }
            FarMessage::InventoryWanted => kind::INVENTORY_WANTED,
            FarMessage::Update(update) => return encode_update(update),
            FarMessage::Cursor(cursor) => {
                for value in [
                    cursor.hotspot_x,
                    cursor.hotspot_y,
                    cursor.width,
                    cursor.height,
                ] {
                    out.extend_from_slice(&value.to_be_bytes());
                }
                out.extend_from_slice(&cursor.rgba);
                kind::CURSOR
            }
            FarMessage::Bell => kind::BELL,
            FarMessage::CutText(text) => {
                write_text(text, &mut out);
                kind::FAR_CUT_TEXT
            }
            FarMessage::DesktopName(name) => {
                write_text(name, &mut out);
                kind::DESKTOP_NAME
            }
            FarMessage::Ping { id } => {
                write_varint(*id, &mut out);
                kind::FAR_PING
            }
            FarMessage::Pong { id } => {
                write_varint(*id, &mut out);
                kind::FAR_PONG
            }
        };
        (kind, out)
    }

    pub fn decode(kind: u8, payload: &[u8]) -> Result<FarMessage, LinkError> {
        let mut r = Reader::new(payload);
        let message = match kind {
            kind::OLD_CHALLENGE => return Err(LinkError::OlderFarSide),
            kind::FAR_AUTH => FarMessage::Auth {
                proof: r.array("auth")?,
            },
            kind::WELCOME => {
                let what = "welcome";
                FarMessage::Welcome {
                    version: r.u16(what)?,
                    session: r.u64(what)?,
                    resumed: r.flag(what)?,
                    history: match r.flag(what)? {
                        false => None,
                        true => Some(read_history_window(&mut r, what)?),
                    },
                    width: r.u16(what)?,
                    height: r.u16(what)?,
                    name: r.text(what)?,
                }
            }
            kind::INVENTORY_WANTED => FarMessage::InventoryWanted,
            kind::UPDATE => FarMessage::Update(read_update(&mut r)?),
            kind::CURSOR => {
                let what = "cursor";
                let hotspot_x = r.u16(what)?;
                let hotspot_y = r.u16(what)?;
                let width = r.u16(what)?;
                let height = r.u16(what)?;
                if width > MAX_CURSOR_SIDE || height > MAX_CURSOR_SIDE {
                    return Err(LinkError::malformed(
                        what,
                        format!("{width}x{height} is larger than {MAX_CURSOR_SIDE} a side"),
                    ));
                }
                let rgba = r.bytes(what, usize::from(width) * usize::from(height) * 4)?;
                FarMessage::Cursor(Cursor {
                    hotspot_x,
                    hotspot_y,
                    width,
                    height,
                    rgba: rgba.to_vec(),
                })
            }
            kind::BELL => FarMessage::Bell,
            kind::FAR_CUT_TEXT => FarMessage::CutText(r.text("clipboard text")?),
            kind::DESKTOP_NAME => FarMessage::DesktopName(r.text("desktop name")?),
            kind::FAR_PING => FarMessage::Ping {
                id: r.varint("ping")?,
            },
            kind::FAR_PONG => FarMessage::Pong {
                id: r.varint("pong")?,
            },
            kind => return Err(LinkError::UnknownKind { kind }),
        };
        r.finish(kind)?;
        Ok(message)
    }
}

fn write_text(text: &str, out: &mut Vec<u8>) {
    debug_assert!(text.len() <= MAX_TEXT_LEN, "link text over the limit");
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// The frame kind and payload of [`FarMessage::Update`] with `update`, from a reference.
pub fn encode_update(update: &LinkUpdate) -> (u8, Vec<u8>) {
    let mut out = Vec::new();
    write_update(update, &mut out);
    (kind::UPDATE, out)
}

fn write_history_window(window: &HistoryWindow, out: &mut Vec<u8>) {
    out.extend_from_slice(&window.end.to_be_bytes());
    out.extend_from_slice(&window.len.to_be_bytes());
}

/// Bytes of the link's history: at most a dictionary's worth, none before the first.
fn read_history_window(r: &mut Reader<'_>, what: &'static str) -> Result<HistoryWindow, LinkError> {
    let window = HistoryWindow {
        end: r.u64(what)?,
        len: r.u32(what)?,
    };
    if window.len as usize > HISTORY_LEN || u64::from(window.len) > window.end {
        return Err(LinkError::malformed(
            what,
            format!("history of {} bytes ending at {}", window.len, window.end),
        ));
    }
    Ok(window)
}

fn write_rect(rect: &Rect, out: &mut Vec<u8>) {
    for value in [rect.x, rect.y, rect.width, rect.height] {
        out.extend_from_slice(&value.to_be_bytes());
    }
}

fn write_update(update: &LinkUpdate, out: &mut Vec<u8>) {
    write_varint(update.sequence, out);
    match update.size {
        None => out.push(0),
        Some((width, height)) => {
            out.push(1);
            out.extend_from_slice(&width.to_be_bytes());
            out.extend_from_slice(&height.to_be_bytes());
        }
    }
    write_varint(update.moves.len() as u64, out);
    for copy in &update.moves {
        write_rect(&copy.destination, out);
        out.extend_from_slice(&copy.source_x.to_be_bytes());
        out.extend_from_slice(&copy.source_y.to_be_bytes());
    }
    write_varint(update.tiles.len() as u64, out);
    let mut previous_cell = None;
    let mut next_id = 0;
    for tile in &update.tiles {
        let tag = match &tile.content {
            TileContent::Fill(_) => tile_tag::FILL,
            TileContent::Cached(_) => tile_tag::CACHED,
            TileContent::New(_) => tile_tag::NEW,
            TileContent::Runs(_) => tile_tag::RUNS,
            TileContent::Stitched(_) => tile_tag::STITCHED,
            TileContent::Composed(_) => tile_tag::COMPOSED,
        };
        let rect = tile.rect;
        let side = TILE_SIDE;
        let cell =
            (rect.x % side == 0 && rect.y % side == 0 && (rect.width, rect.height) == (side, side))
                .then(|| (u64::from(rect.x / side), u64::from(rect.y / side)));
        match cell {
            Some((column, row)) if previous_cell == Some((column.wrapping_sub(1), row)) => {
                out.push(tag | tile_tag::NEXT_CELL);
            }
            Some((column, row)) => {
                out.push(tag | tile_tag::GRID_CELL);
                write_varint(column, out);
                write_varint(row, out);
            }
            None => {
                out.push(tag);
                write_rect(&rect, out);
            }
        }
        previous_cell = cell;
        match &tile.content {
            TileContent::Fill(colour) => out.extend_from_slice(&colour.to_be_bytes()),
            // The difference from the number after the update's previous reference: tiles
            // cached together are numbered in a row, so most of these are a zero byte.
            TileContent::Cached(id) => write_reference(*id, &mut next_id, out),
            TileContent::New(pixels) => write_rgb(pixels, out),
            TileContent::Runs(pixels) => write_runs(pixels, out),
            TileContent::Stitched(stitched) => write_stitched(stitched, &mut next_id, out),
            TileContent::Composed(composed) => write_composed(composed, &mut next_id, out),
        }
    }
}

/// A held tile's number as the difference from the number after the update's previous
/// reference: tiles cached together are numbered in a row, so most of these are a zero byte.
fn write_reference(id: TileId, next_id: &mut TileId, out: &mut Vec<u8>) {
    write_varint(zigzag(id.wrapping_sub(*next_id) as i64), out);
    *next_id = id.wrapping_add(1);
}

fn read_reference(r: &mut Reader<'_>, next_id: &mut TileId) -> Result<TileId, LinkError> {
    let id = next_id.wrapping_add(unzigzag(r.varint("update tile")?) as u64);
    *next_id = id.wrapping_add(1);
    Ok(id)
}

/// Each span: a byte of its kind ([`span_kind`]) and its row count less one, then for rows
/// of a held tile a reference and the first row; after the spans, the new rows' runs.
fn write_stitched(stitched: &Stitched, next_id: &mut TileId, out: &mut Vec<u8>) {
    for span in &stitched.spans {
        let count = (span.rows - 1) as u8;
        match span.source {
            RowSource::Held { id, first_row } => {
                out.push(span_kind::HELD | count);
                write_reference(id, next_id, out);
                out.push(first_row as u8);
            }
            RowSource::Shown => out.push(span_kind::SHOWN | count),
            RowSource::New => out.push(span_kind::NEW | count),
        }
    }
    write_runs(&stitched.new_rows, out);
}

/// The top two bits of a span's first byte; the other six are its row count less one.
mod span_kind {
    pub const NEW: u8 = 0x00;
    pub const SHOWN: u8 = 0x40;
    pub const HELD: u8 = 0x80;
    pub const MASK: u8 = 0xc0;
}

/// The spans of a `width` x `height` stitched tile and its new rows; spans must fit the
/// tile and a held tile's rows.
fn read_stitched(
    r: &mut Reader<'_>,
    width: u16,
    height: u16,
    next_id: &mut TileId,
) -> Result<Stitched, LinkError> {
    let what = "stitched tile";
    let mut spans = Vec::new();
    let (mut rows_seen, mut new_rows) = (0u16, 0u16);
    while rows_seen < height {
        let byte = r.u8(what)?;
        let rows = u16::from(byte & !span_kind::MASK) + 1;
        if rows_seen + rows > height {
            return Err(LinkError::malformed(
                what,
                format!("a span of {rows} row(s) after {rows_seen} of {height}"),
            ));
        }
        let source = match byte & span_kind::MASK {
            span_kind::HELD => {
                let id = read_reference(r, next_id)?;
                let first_row = u16::from(r.u8(what)?);
                if first_row + rows > TILE_SIDE {
                    return Err(LinkError::malformed(
                        what,
                        format!("rows {first_row}.. of a held tile"),
                    ));
                }
                RowSource::Held { id, first_row }
            }
            span_kind::SHOWN => RowSource::Shown,
            span_kind::NEW => {
                new_rows += rows;
                RowSource::New
            }
            other => {
                return Err(LinkError::malformed(what, format!("span kind {other:#x}")));
            }
        };
        spans.push(RowSpan { source, rows });
        rows_seen += rows;
    }
    let area = usize::from(width) * usize::from(new_rows);
    let new_rows = if area == 0 {
        Vec::new()
    } else {
        read_runs(r, area, what)?
    };
    Ok(Stitched { spans, new_rows })
}

/// The layer count and references, then each run's source (0 new, 1 shown, 2 and up a
/// layer) and length, then the new pixels' runs.
fn write_composed(composed: &Composed, next_id: &mut TileId, out: &mut Vec<u8>) {
    out.push(composed.layers.len() as u8);
    for &id in &composed.layers {
        write_reference(id, next_id, out);
    }
    for run in &composed.runs {
        out.push(match run.source {
            PixelSource::New => 0,
            PixelSource::Shown => 1,
            PixelSource::Layer(layer) => 2 + layer,
        });
        put_run_length(usize::from(run.length), out);
    }
    write_runs(&composed.new_pixels, out);
}

/// The layers, runs and new pixels of a composed tile of `area` pixels; the runs must fill
/// it exactly and name only its layers.
fn read_composed(
    r: &mut Reader<'_>,
    area: usize,
    next_id: &mut TileId,
) -> Result<Composed, LinkError> {
    let what = "composed tile";
    let layer_count = usize::from(r.u8(what)?);
    if layer_count > MAX_LAYERS {
        return Err(LinkError::malformed(what, format!("{layer_count} layers")));
    }
    let layers = (0..layer_count)
        .map(|_| read_reference(r, next_id))
        .collect::<Result<Vec<_>, _>>()?;
    let (mut runs, mut covered, mut new) = (Vec::new(), 0, 0);
    while covered < area {
        let source = match r.u8(what)? {
            0 => PixelSource::New,
            1 => PixelSource::Shown,
            code if usize::from(code - 2) < layer_count => PixelSource::Layer(code - 2),
            code => return Err(LinkError::malformed(what, format!("source {code}"))),
        };
        let length = read_run_length(r, area - covered, what)?;
        covered += length;
        if source == PixelSource::New {
            new += length;
        }
        runs.push(PixelRun {
            source,
            length: length as u16,
        });
    }
    let new_pixels = if new == 0 {
        Vec::new()
    } else {
        read_runs(r, new, what)?
    };
    Ok(Composed {
        layers,
        runs,
        new_pixels,
    })
}

/// A signed number as an unsigned one, small either way: 0, -1, 1, -2, ... become 0, 1, 2, 3.
fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1) as i64 ^ -((value & 1) as i64)
}

/// An unsigned number in 7-bit groups, low first (LEB128): tile numbers take 2-3 bytes.
fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Pixels as red, green and blue bytes: the fourth byte of a native pixel is always zero.
fn write_rgb(pixels: &[u32], out: &mut Vec<u8>) {
    out.reserve(pixels.len() * 3);
    for pixel in pixels {
        out.extend_from_slice(&pixel.to_be_bytes()[1..]);
    }
}

/// Runs of equal pixels: the colour, then the length less one in bytes of up to 255.
fn write_runs(pixels: &[u32], out: &mut Vec<u8>) {
    let mut rest = pixels;
    while let Some(&colour) = rest.first() {
        let length = rest.iter().position(|&p| p != colour).unwrap_or(rest.len());
        out.extend_from_slice(&colour.to_be_bytes()[1..]);
        put_run_length(length, out);
        rest = &rest[length..];
    }
}

/// The runs of a tile of `area` pixels, expanded; an error if they run past it or stop short.
fn read_runs(r: &mut Reader<'_>, area: usize, what: &'static str) -> Result<Vec<u32>, LinkError> {
    let mut pixels = Vec::with_capacity(area);
    while pixels.len() < area {
        let rgb = r.bytes(what, 3)?;
        let colour = u32::from_be_bytes([0, rgb[0], rgb[1], rgb[2]]);
        let length = read_run_length(r, area - pixels.len(), what)?;
        pixels.resize(pixels.len() + length, colour);
    }
    Ok(pixels)
}

/// A run length as [`put_run_length`] writes it; an error if it passes `left`.
fn read_run_length(
    r: &mut Reader<'_>,
    left: usize,
    what: &'static str,
) -> Result<usize, LinkError> {
    let mut length = 1usize;
    loop {
        let byte = r.u8(what)?;
        length += usize::from(byte);
        if length > left {
            return Err(LinkError::malformed(what, "a run past the end of its tile"));
        }
        if byte < 255 {
            return Ok(length);
        }
    }
}

fn read_rgb(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks_exact(3)
        .map(|p| u32::from_be_bytes([0, p[0], p[1], p[2]]))
        .collect()
}

fn read_update(r: &mut Reader<'_>) -> Result<LinkUpdate, LinkError> {
    let what = "update";
    let sequence = r.varint(what)?;
    let size = match r.u8(what)? {
        0 => None,
        1 => Some((r.u16(what)?, r.u16(what)?)),
        other => return Err(LinkError::malformed(what, format!("size flag {other}"))),
    };
    let count = r.varint_count("update moves", MAX_MOVES)?;
    let mut moves = Vec::with_capacity(count);
    for _ in 0..count {
        moves.push(CopyOperation {
            destination: r.rect("update move")?,
            source_x: r.u16("update move")?,
            source_y: r.u16("update move")?,
        });
    }
    let count = r.varint_count("update tiles", MAX_TILES)?;
    let mut tiles = Vec::with_capacity(count);
    let mut previous_cell = None;
    let mut next_id: u64 = 0;
    for index in 0..count {
        let what = "update tile";
        let tag = r.u8(what)?;
        let cell = if tag & tile_tag::NEXT_CELL != 0 {
            let Some((column, row)) = previous_cell else {
                return Err(LinkError::malformed(
                    what,
                    format!("tile {index}: the next grid cell, but no grid cell before it"),
                ));
            };
            Some((column + 1, row))
        } else if tag & tile_tag::GRID_CELL != 0 {
            Some((r.varint(what)?, r.varint(what)?))
        } else {
            None
        };
        previous_cell = cell;
        let rect = match cell {
            Some((column, row)) => {
                let side = u64::from(TILE_SIDE);
                let limit = u64::from(u16::MAX) / side;
                if column > limit || row > limit {
                    return Err(LinkError::malformed(
                        what,
                        format!("tile {index}: grid cell {column},{row} off any screen"),
                    ));
                }
                Rect::new(
                    (column * side) as u16,
                    (row * side) as u16,
                    TILE_SIDE,
                    TILE_SIDE,
                )
            }
            None => r.rect(what)?,
        };
        if rect.width > TILE_SIDE || rect.height > TILE_SIDE {
            return Err(LinkError::malformed(
                what,
                format!(
                    "tile {index} is {}x{}, over {TILE_SIDE} a side",
                    rect.width, rect.height
                ),
            ));
        }
        let content = match tag & !(tile_tag::GRID_CELL | tile_tag::NEXT_CELL) {
            tile_tag::FILL => TileContent::Fill(r.u32(what)?),
            tile_tag::CACHED => TileContent::Cached(read_reference(r, &mut next_id)?),
            tile_tag::NEW => TileContent::New(read_rgb(r.bytes(what, rect.area() * 3)?)),
            tile_tag::RUNS => TileContent::Runs(read_runs(r, rect.area(), what)?),
            tile_tag::STITCHED => {
                TileContent::Stitched(read_stitched(r, rect.width, rect.height, &mut next_id)?)
            }
            tile_tag::COMPOSED => {
                TileContent::Composed(read_composed(r, rect.area(), &mut next_id)?)
            }
            other => {
                return Err(LinkError::malformed(
                    what,
                    format!("tile {index}: unknown content tag {other}"),
                ));
            }
        };
        tiles.push(TilePlacement { rect, content });
    }
    Ok(LinkUpdate {
        sequence,
        size,
        moves,
        tiles,
    })
}

/// Reads a payload front to back; running short is an error naming the message.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(payload: &'a [u8]) -> Self {
        Self { rest: payload }
    }

    fn bytes(&mut self, what: &'static str, len: usize) -> Result<&'a [u8], LinkError> {
        if self.rest.len() < len {
            return Err(LinkError::malformed(
                what,
                format!("{len} bytes needed, {} left", self.rest.len()),
            ));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], LinkError> {
        let mut array = [0; N];
        array.copy_from_slice(self.bytes(what, N)?);
        Ok(array)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, LinkError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, LinkError> {
        match self.u8(what)? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(LinkError::malformed(what, format!("flag byte {other}"))),
        }
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, LinkError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, LinkError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, LinkError> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    fn count(&mut self, what: &'static str, limit: usize) -> Result<usize, LinkError> {
        let count = self.u32(what)? as usize;
        if count > limit {
            return Err(LinkError::malformed(
                what,
                format!("count {count} over the limit of {limit}"),
            ));
        }
        Ok(count)
    }

    /// A count written as a varint, checked against `limit` before anything is allocated.
    fn varint_count(&mut self, what: &'static str, limit: usize) -> Result<usize, LinkError> {
        let count = self.varint(what)?;
        if count > limit as u64 {
            return Err(LinkError::malformed(
                what,
                format!("count {count} over the limit of {limit}"),
            ));
        }
        Ok(count as usize)
    }

    fn varint(&mut self, what: &'static str) -> Result<u64, LinkError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8(what)?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(LinkError::malformed(what, "a number longer than 64 bits"))
    }

    fn hash(&mut self, what: &'static str) -> Result<TileHash, LinkError> {
        Ok(TileHash(self.array::<TILE_HASH_LEN>(what)?))
    }

    fn rect(&mut self, what: &'static str) -> Result<Rect, LinkError> {
        Ok(Rect::new(
            self.u16(what)?,
            self.u16(what)?,
            self.u16(what)?,
            self.u16(what)?,
        ))
    }

    fn text(&mut self, what: &'static str) -> Result<String, LinkError> {
        let len = self.count(what, MAX_TEXT_LEN)?;
        let bytes = self.bytes(what, len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| LinkError::malformed(what, "text is not UTF-8"))
    }

    fn finish(&self, kind: u8) -> Result<(), LinkError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(LinkError::Malformed {
                what: "message",
                problem: format!("kind {kind}: {} bytes left over", self.rest.len()),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rect() -> impl Strategy<Value = Rect> {
        (any::<u16>(), any::<u16>(), 0..=TILE_SIDE, 0..=TILE_SIDE)
            .prop_map(|(x, y, w, h)| Rect::new(x, y, w, h))
    }

    fn tile() -> impl Strategy<Value = TilePlacement> {
        rect().prop_flat_map(|rect| {
            let area = rect.area();
            prop_oneof![
                any::<u32>().prop_map(TileContent::Fill),
                any::<u64>().prop_map(TileContent::Cached),
                proptest::collection::vec(0..=0x00ff_ffffu32, area).prop_map(TileContent::New),
                // Few colours, so that runs form.
                proptest::collection::vec(0..=2u32, area).prop_map(TileContent::Runs),
                stitched(rect.width, rect.height).prop_map(TileContent::Stitched),
                composed(area).prop_map(TileContent::Composed),
            ]
            .prop_map(move |content| TilePlacement { rect, content })
        })
    }

    /// Runs that add up to `area` pixels from up to two layers, what is shown and new
    /// pixels, and those new pixels.
    fn composed(area: usize) -> impl Strategy<Value = Composed> {
        let layers = proptest::collection::vec(any::<u64>(), 0..=MAX_LAYERS);
        let choices = proptest::collection::vec((0..4u8, any::<u16>()), 64);
        (layers, choices).prop_flat_map(move |(layers, choices)| {
            let mut runs = Vec::new();
            let mut left = area;
            for (kind, length) in choices {
                if left == 0 {
                    break;
                }
                let length = 1 + usize::from(length) % left;
                left -= length;
                let source = match kind {
                    0 => PixelSource::New,
                    1 => PixelSource::Shown,
                    layer if usize::from(layer - 2) < layers.len() => PixelSource::Layer(layer - 2),
                    _ => PixelSource::New,
                };
                runs.push(PixelRun {
                    source,
                    length: length as u16,
                });
            }
            if left > 0 {
                runs.push(PixelRun {
                    source: PixelSource::Shown,
                    length: left as u16,
                });
            }
            let new: usize = runs
                .iter()
                .filter(|run| run.source == PixelSource::New)
                .map(|run| usize::from(run.length))
                .sum();
            let layers = layers.clone();
            proptest::collection::vec(0..=2u32, new).prop_map(move |new_pixels| Composed {
                layers: layers.clone(),
                runs: runs.clone(),
                new_pixels,
            })
        })
    }

    /// Spans that add up to `height` rows, some from held tiles, and their new rows.
    fn stitched(width: u16, height: u16) -> impl Strategy<Value = Stitched> {
        proptest::collection::vec((0..3u8, any::<u64>(), any::<u16>(), any::<u16>()), 64)
            .prop_flat_map(move |choices| {
                let mut spans = Vec::new();
                let mut left = height;
                for (kind, id, rows, first_row) in choices {
                    if left == 0 {
                        break;
                    }
                    let rows = 1 + rows % left;
                    left -= rows;
                    let source = match kind {
                        0 => RowSource::New,
                        1 => RowSource::Shown,
                        _ => RowSource::Held {
                            id,
                            first_row: first_row % (TILE_SIDE - rows + 1),
                        },
                    };
                    spans.push(RowSpan { source, rows });
                }
                let new: u16 = spans
                    .iter()
                    .filter(|span| span.source == RowSource::New)
                    .map(|span| span.rows)
                    .sum();
                let area = usize::from(width) * usize::from(new);
                proptest::collection::vec(0..=2u32, area).prop_map(move |new_rows| Stitched {
                    spans: spans.clone(),
                    new_rows,
                })
            })
    }

    fn far_message() -> impl Strategy<Value = FarMessage> {
        let update = (
            any::<u64>(),
            proptest::option::of((any::<u16>(), any::<u16>())),
            proptest::collection::vec(
                (rect(), any::<u16>(), any::<u16>()).prop_map(
                    |(destination, source_x, source_y)| CopyOperation {
                        destination,
                        source_x,
                        source_y,
                    },
                ),
                0..4,
            ),
            proptest::collection::vec(tile(), 0..4),
        )
            .prop_map(|(sequence, size, moves, tiles)| {
                FarMessage::Update(LinkUpdate {
                    sequence,
                    size,
                    moves,
                    tiles,
                })
            });
        prop_oneof![
            update,
            (
                any::<u64>(),
                any::<bool>(),
                proptest::option::of(history_window()),
                any::<u16>(),
                any::<u16>(),
                ".{0,20}"
            )
                .prop_map(|(session, resumed, history, width, height, name)| {
                    FarMessage::Welcome {
                        version: LINK_VERSION,
                        session,
                        resumed,
                        history,
                        width,
                        height,
                        name,
                    }
                }),
            (0u16..8, 0u16..8, any::<u8>()).prop_map(|(width, height, shade)| {
                FarMessage::Cursor(Cursor {
                    hotspot_x: 0,
                    hotspot_y: 0,
                    width,
                    height,
                    rgba: vec![shade; usize::from(width) * usize::from(height) * 4],
                })
            }),
            Just(FarMessage::Bell),
            Just(FarMessage::InventoryWanted),
            any::<[u8; PROOF_LEN]>().prop_map(|proof| FarMessage::Auth { proof }),
            ".{0,40}".prop_map(FarMessage::CutText),
            ".{0,40}".prop_map(FarMessage::DesktopName),
            any::<u64>().prop_map(|id| FarMessage::Ping { id }),
            any::<u64>().prop_map(|id| FarMessage::Pong { id }),
        ]
    }

    fn history_window() -> impl Strategy<Value = HistoryWindow> {
        (0..=HISTORY_LEN as u32, any::<u32>()).prop_map(|(len, after)| HistoryWindow {
            end: u64::from(len) + u64::from(after),
            len,
        })
    }

    fn near_message() -> impl Strategy<Value = NearMessage> {
        prop_oneof![
            (
                any::<u64>(),
                proptest::option::of((any::<u64>(), any::<u64>())),
                proptest::option::of(any::<[u8; CACHE_ID_LEN]>()),
                any::<u32>(),
                any::<[u8; INVENTORY_DIGEST_LEN]>(),
                proptest::option::of((history_window(), any::<[u8; 32]>())),
            )
                .prop_map(|(cache_limit, resume, cache_id, tiles, digest, history)| {
                    NearMessage::Hello(Hello {
                        version: LINK_VERSION,
                        cache_limit,
                        resume: resume.map(|(session, sequence)| Resume { session, sequence }),
                        inventory: InventorySummary {
                            cache_id,
                            tiles,
                            digest,
                        },
                        history: history.map(|(window, digest)| HistorySummary { window, digest }),
                    })
                }),
            (
                proptest::collection::vec(
                    (any::<[u8; TILE_HASH_LEN]>(), 0..=TILE_SIDE, 0..=TILE_SIDE),
                    0..5
                ),
                any::<bool>()
            )
                .prop_map(|(tiles, last)| NearMessage::Inventory {
                    tiles: tiles
                        .into_iter()
                        .map(|(hash, width, height)| (TileHash(hash), width, height))
                        .collect(),
                    last
                }),
            (any::<bool>(), any::<u32>())
                .prop_map(|(down, keysym)| NearMessage::Key { down, keysym }),
            (any::<u8>(), any::<u16>(), any::<u16>())
                .prop_map(|(buttons, x, y)| NearMessage::Pointer { buttons, x, y }),
            ".{0,40}".prop_map(NearMessage::CutText),
            (any::<u16>(), any::<u16>())
                .prop_map(|(width, height)| NearMessage::SetDesktopSize { width, height }),
            any::<u64>().prop_map(|sequence| NearMessage::Ack { sequence }),
            (any::<[u8; NONCE_LEN]>(), any::<[u8; PROOF_LEN]>())
                .prop_map(|(nonce, proof)| NearMessage::Auth { nonce, proof }),
            any::<u64>().prop_map(|id| NearMessage::Ping { id }),
            any::<u64>().prop_map(|id| NearMessage::Pong { id }),
        ]
    }

    #[test]
    fn grid_cells_cross_in_a_few_bytes() {
        let tile = |x, y, w, h| TilePlacement {
            rect: Rect::new(x, y, w, h),
            content: TileContent::Cached(5),
        };
        let update = LinkUpdate {
            sequence: 3,
            tiles: vec![
                tile(128, 64, 64, 64),
                tile(1280, 768, 64, 32),
                tile(7, 0, 64, 64),
            ],
            ..LinkUpdate::default()
        };
        let (kind, payload) = FarMessage::Update(update.clone()).encode();
        let (_, one_cell) = FarMessage::Update(LinkUpdate {
            tiles: vec![tile(128, 64, 64, 64)],
            ..update.clone()
        })
        .encode();
        let (_, none) = FarMessage::Update(LinkUpdate {
            tiles: Vec::new(),
            ..update.clone()
        })
        .encode();
        // Tag, column, row, id (the count may take a byte more or less).
        assert!(
            one_cell.len() - none.len() <= 4 + 1,
            "{}",
            one_cell.len() - none.len()
        );
        assert_eq!(
            FarMessage::decode(kind, &payload).unwrap(),
            FarMessage::Update(update)
        );
        // A cell past any screen is refused.
        let mut far_off = one_cell.clone();
        let cell = far_off.len() - 3;
        far_off.splice(cell..cell + 1, [0xd0, 0x0f]);
        assert!(FarMessage::decode(kind, &far_off).is_err());
    }

    #[test]
    fn a_row_of_cached_cells_takes_two_bytes_a_tile() {
        let row = |ids: &[u64]| LinkUpdate {
            sequence: 1,
            tiles: ids
                .iter()
                .enumerate()
                .map(|(column, &id)| TilePlacement {
                    rect: Rect::new(column as u16 * TILE_SIDE, 128, TILE_SIDE, TILE_SIDE),
                    content: TileContent::Cached(id),
                })
                .collect(),
            ..LinkUpdate::default()
        };
        // Numbered in a row, then one out of order (a step back, then on from there).
        let update = row(&[700, 701, 702, 703, 704, 705, 706, 707, 708, 709, 3, 4]);
        let (kind, payload) = FarMessage::Update(update.clone()).encode();
        let (_, first) = FarMessage::Update(row(&[700])).encode();
        // After the first tile: a tag and a zero byte each, and a byte more for the step.
        assert_eq!(payload.len() - first.len(), 11 * 2 + 1);
        assert_eq!(
            FarMessage::decode(kind, &payload).unwrap(),
            FarMessage::Update(update)
        );
        // "The next cell" with no cell before it is refused.
        let mut orphan = first.clone();
        let tag = orphan.len() - 5; // tag, column, row, two bytes of number
        orphan.splice(tag..tag + 3, [tile_tag::CACHED | tile_tag::NEXT_CELL]);
        let error = FarMessage::decode(kind, &orphan).unwrap_err();
        assert!(error.to_string().contains("no grid cell before"), "{error}");
    }

    #[test]
    fn a_tile_over_the_side_limit_is_refused() {
        let update = LinkUpdate {
            tiles: vec![TilePlacement {
                rect: Rect::new(0, 0, TILE_SIDE + 1, 1),
                content: TileContent::Fill(0),
            }],
            ..LinkUpdate::default()
        };
        let (kind, payload) = FarMessage::Update(update).encode();
        let error = FarMessage::decode(kind, &payload).unwrap_err();
        assert!(error.to_string().contains("over 64 a side"), "{error}");
    }

    #[test]
    fn a_far_side_of_an_older_version_is_named() {
        // What a far side before link version 9 sent first: a 32-byte nonce.
        let error = FarMessage::decode(kind::OLD_CHALLENGE, &[7; 32]).unwrap_err();
        assert_eq!(error, LinkError::OlderFarSide);
        assert!(error.to_string().contains("older link protocol"), "{error}");
    }

    #[test]
    fn a_huge_count_is_refused_without_allocating() {
        // Sequence 0, no new size, then a move count of 2^32 - 1.
        let mut payload = vec![0u8, 0];
        write_varint(u64::from(u32::MAX), &mut payload);
        let error = FarMessage::decode(kind::UPDATE, &payload).unwrap_err();
        assert!(error.to_string().contains("over the limit"), "{error}");
    }

    proptest! {
        #[test]
        fn far_messages_round_trip(message in far_message()) {
            let (kind, payload) = message.encode();
            prop_assert_eq!(FarMessage::decode(kind, &payload).unwrap(), message);
        }

        #[test]
        fn near_messages_round_trip(message in near_message()) {
            let (kind, payload) = message.encode();
            prop_assert_eq!(NearMessage::decode(kind, &payload).unwrap(), message);
        }

        /// Whatever the bytes, decoding gives a message or an error, never a panic.
        #[test]
        fn arbitrary_payloads_never_panic(kind in any::<u8>(), payload in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = FarMessage::decode(kind, &payload);
            let _ = NearMessage::decode(kind, &payload);
        }

        /// A message cut short is an error, not a shorter message.
        #[test]
        fn truncated_messages_are_errors(message in far_message(), cut in any::<prop::sample::Index>()) {
            let (kind, payload) = message.encode();
            if !payload.is_empty() {
                let cut = cut.index(payload.len());
                prop_assert!(FarMessage::decode(kind, &payload[..cut]).is_err());
            }
        }
    }
}
