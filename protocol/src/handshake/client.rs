//! The viewer side of a connection: handshake (RFC 6143 §7.1-7.3), then the normal phase in
//! which server messages are decoded into the connection's own [`Framebuffer`].
//!
//! A FramebufferUpdate is consumed one rectangle at a time, each only once all its bytes are
//! there, so feeding a stream in any split gives the same events and pixels.
//!
//! With a decode executor set ([`ClientConnection::set_decode_executor`]), the pixel work of
//! rectangles whose encoding keeps no state is deferred into a batch (see
//! [`crate::encodings::batch`]) that runs before anything depending on it: a rectangle of any
//! other kind (CopyRect, Zlib, ZRLE, Tight, pseudo-encodings) and the end of the update.

use std::collections::VecDeque;

use super::{MAX_NAME_LEN, ProtocolVersion, read_reason};
use crate::encodings::batch::{self, DecodeBatch, DecodeExecutor};
use crate::encodings::cursor::{self, Cursor};
use crate::encodings::extended_desktop_size::{
    self, DesktopLayout, DesktopSizeChange, ResizeReason, Screen,
};
use crate::encodings::{Decoders, desktop_name};
use crate::error::ProtocolError;
use crate::extended_clipboard::sync::ClipboardSync;
use crate::framebuffer::{Framebuffer, Rect, Region};
use crate::messages::{
    ClientMessage, EnableContinuousUpdates, EncodingType, RectangleHeader, ServerMessage,
    from_latin1, to_latin1,
};
use crate::pixel::PixelFormat;
use crate::qemu_key_event::ExtendedKeyEvent;
use crate::security::plain::PlainCredentials;
use crate::security::vencrypt::{self, SubType, ViewerCredentials};
use crate::security::{SecurityType, vnc_auth};
use crate::wire::Reader;

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub password: Option<Vec<u8>>,
    /// The username for VeNCrypt's X509Plain (with `password`).
    pub username: Option<String>,
    /// The caller can run TLS: VeNCrypt is chosen whenever the server offers it (without,
    /// VeNCrypt is never chosen).
    pub tls: bool,
    /// Refuse a server that does not offer VeNCrypt (one whose certificate is expected).
    pub require_tls: bool,
    /// The ClientInit shared flag: leave other viewers connected.
    pub shared: bool,
    /// Encodings to ask for, in preference order, sent right after ServerInit.
    pub encodings: Vec<EncodingType>,
    /// The pixel format to ask for right after ServerInit.
    pub pixel_format: PixelFormat,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            password: None,
            username: None,
            tls: false,
            require_tls: false,
            shared: true,
            encodings: vec![
                EncodingType::COPY_RECT,
                EncodingType::RAW,
                EncodingType::DESKTOP_SIZE,
                EncodingType::LAST_RECT,
            ],
            pixel_format: PixelFormat::NATIVE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// The handshake is done; the framebuffer has the server's size.
    Connected {
        width: u16,
        height: u16,
        name: String,
        version: ProtocolVersion,
    },
    /// A whole FramebufferUpdate was applied to the framebuffer.
    UpdateComplete {
        bytes: usize,
        rectangles: usize,
    },
    /// The desktop changed size (DesktopSize, or ExtendedDesktopSize with a new size); the
    /// framebuffer follows.
    Resized {
        width: u16,
        height: u16,
    },
    Bell,
    CutText(String),
    /// The server set the pointer's shape (Cursor, X Cursor or Cursor With Alpha); a hidden
    /// cursor ([`Cursor::is_hidden`]) means no pointer is to be drawn.
    Cursor(Cursor),
    /// The server renamed the desktop (DesktopName).
    DesktopName(String),
    /// An ExtendedDesktopSize rectangle: the layout now, or the answer to our SetDesktopSize
    /// (reason [`ResizeReason::THIS_CLIENT`], with its status). When it brings a new size, a
    /// [`ClientEvent::Resized`] comes first.
    DesktopSizeChange(DesktopSizeChange),
    /// The server moved the pointer (PointerPos), e.g. someone else moved it.
    PointerPosition {
        x: u16,
        y: u16,
    },
    /// EndOfContinuousUpdates: the server takes EnableContinuousUpdates (the first one), or
    /// the updates we turned off have all arrived.
    EndOfContinuousUpdates,
}

#[derive(Debug)]
enum State {
    ExpectVersion,
    ExpectSecurityTypes {
        version: ProtocolVersion,
    },
    ExpectSecurityType33,
    Vencrypt {
        version: ProtocolVersion,
        negotiation: vencrypt::ClientNegotiation,
    },
    AwaitTls {
        version: ProtocolVersion,
        subtype: SubType,
    },
    ExpectChallenge {
        version: ProtocolVersion,
    },
    ExpectSecurityResult {
        version: ProtocolVersion,
    },
    ExpectServerInit,
    Normal,
    InUpdate {
        remaining: u16,
        bytes: usize,
        rectangles: usize,
    },
    Closed,
}

#[derive(Debug)]
pub struct ClientConnection {
    config: ClientConfig,
    state: State,
    output: Vec<u8>,
    events: VecDeque<ClientEvent>,
    framebuffer: Framebuffer,
    pixel_format: PixelFormat,
    name: String,
    version: ProtocolVersion,
    decoders: Decoders,
    cursor: Option<Cursor>,
    /// The server's screen layout, once it has sent an ExtendedDesktopSize rectangle (which
    /// also says it takes SetDesktopSize).
    layout: Option<DesktopLayout>,
    /// Set when decoding is deferred into batches.
    deferred: Option<DeferredDecoding>,
    /// The server acknowledged QEMU Extended Key Events: keys with a scancode go that way.
    extended_key_events: bool,
    /// The Extended Clipboard conversation, once the server has sent its caps.
    clipboard: Option<ClipboardSync>,
    /// The server has said it takes EnableContinuousUpdates.
    server_continuous_updates: bool,
    /// We asked for continuous updates and have not turned them off.
    continuous_updates: bool,
    /// What rectangles have drawn since [`ClientConnection::take_damage`].
    damage: Region,
}

/// The executor deferred decoding runs through, and the rectangles waiting for it.
#[derive(Debug)]
struct DeferredDecoding {
    executor: Box<dyn DecodeExecutor>,
    batch: DecodeBatch,
}

impl ClientConnection {
    pub fn new(config: ClientConfig) -> Self {
        Self {
            config,
            state: State::ExpectVersion,
            output: Vec::new(),
            events: VecDeque::new(),
            framebuffer: Framebuffer::new(0, 0),
            pixel_format: PixelFormat::NATIVE,
            name: String::new(),
            version: ProtocolVersion::V3_8,
            decoders: Decoders::default(),
            cursor: None,
            layout: None,
            deferred: None,
            extended_key_events: false,
            clipboard: None,
            server_continuous_updates: false,
            continuous_updates: false,
            damage: Region::new(),
        }
    }

    /// Defers the pixel work of rectangles whose encoding keeps no state across rectangles
    /// (Raw, RRE, CoRRE, Hextile, TRLE, TightPNG) and runs it in batches through `executor`,
    /// which may use threads. Events and pixels are the same as without: every
    /// `UpdateComplete` comes after all its pixels are in the framebuffer; only in the middle
    /// of an update may [`ClientConnection::framebuffer`] lag behind the rectangles read.
    /// Rectangles already set aside run through the new executor.
    pub fn set_decode_executor(&mut self, executor: Box<dyn DecodeExecutor>) {
        match &mut self.deferred {
            Some(deferred) => deferred.executor = executor,
            None => {
                self.deferred = Some(DeferredDecoding {
                    executor,
                    batch: DecodeBatch::default(),
                });
            }
        }
    }

    /// Feeds bytes from the server. Returns how many were consumed; the rest (a partial
    /// message or rectangle) must be offered again with more bytes after it.
    pub fn handle_input(&mut self, input: &[u8]) -> Result<usize, ProtocolError> {
        let mut consumed = 0;
        loop {
            match self.step(&input[consumed..]) {
                Ok(Some(n)) => consumed += n,
                Ok(None) => return Ok(consumed),
                Err(error) => {
                    self.state = State::Closed;
                    return Err(error);
                }
            }
        }
    }

    fn step(&mut self, input: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let mut reader = Reader::new(input);
        match &mut self.state {
            State::ExpectVersion => {
                let Some(bytes) = input.first_chunk::<12>() else {
                    return Ok(None);
                };
                let version = ProtocolVersion::parse(bytes)?;
                self.output.extend_from_slice(version.wire());
                self.version = version;
                self.state = if version == ProtocolVersion::V3_3 {
                    State::ExpectSecurityType33
                } else {
                    State::ExpectSecurityTypes { version }
                };
                Ok(Some(12))
            }
            &mut State::ExpectSecurityTypes { version } => {
                let Some(count) = reader.u8() else {
                    return Ok(None);
                };
                if count == 0 {
                    let Some(reason) = read_reason(&mut reader)? else {
                        return Ok(None);
                    };
                    return Err(ProtocolError::ConnectionRefused(reason));
                }
                let Some(offered) = reader.take(usize::from(count)) else {
                    return Ok(None);
                };
                let chosen = self.choose_security(offered)?;
                self.output.push(chosen.0);
                self.state = self.after_security_type(chosen, version);
                Ok(Some(reader.consumed()))
            }
            State::ExpectSecurityType33 => {
                let Some(kind) = reader.u32() else {
                    return Ok(None);
                };
                if kind == 0 {
                    let Some(reason) = read_reason(&mut reader)? else {
                        return Ok(None);
                    };
                    return Err(ProtocolError::ConnectionRefused(reason));
                }
                let kind = u8::try_from(kind).unwrap_or(0);
                let chosen = self.choose_security(&[kind])?;
                self.state = self.after_security_type(chosen, ProtocolVersion::V3_3);
                Ok(Some(4))
            }
            State::Vencrypt {
                version,
                negotiation,
            } => {
                let version = *version;
                let Some(step) = negotiation.step(input, &mut self.output)? else {
                    return Ok(None);
                };
                if let Some(subtype) = step.agreed {
                    self.state = State::AwaitTls { version, subtype };
                }
                Ok(Some(step.consumed))
            }
            &mut State::ExpectChallenge { version } => {
                let Some(challenge) = input.first_chunk::<16>() else {
                    return Ok(None);
                };
                let password = self.config.password.as_deref().unwrap_or_default();
                self.output
                    .extend_from_slice(&vnc_auth::response(password, challenge));
                self.state = State::ExpectSecurityResult { version };
                Ok(Some(16))
            }
            &mut State::ExpectSecurityResult { version } => {
                let Some(result) = reader.u32() else {
                    return Ok(None);
                };
                if result == 0 {
                    self.output.push(u8::from(self.config.shared));
                    self.state = State::ExpectServerInit;
                    return Ok(Some(4));
                }
                if version < ProtocolVersion::V3_8 {
                    return Err(ProtocolError::AuthenticationFailed(
                        "no reason given".into(),
                    ));
                }
                let Some(reason) = read_reason(&mut reader)? else {
                    return Ok(None);
                };
                Err(ProtocolError::AuthenticationFailed(reason))
            }
            State::ExpectServerInit => self.read_server_init(&mut reader),
            State::Normal => {
                let Some((message, n)) = ServerMessage::parse(input)? else {
                    return Ok(None);
                };
                match message {
                    ServerMessage::FramebufferUpdate { rect_count } => {
                        self.state = State::InUpdate {
                            remaining: rect_count,
                            bytes: n,
                            rectangles: 0,
                        };
                        self.finish_update_if_done();
                    }
                    // We always ask for true colour, so a colour map has nothing to act on.
                    ServerMessage::SetColourMapEntries { .. } => {}
                    ServerMessage::Bell => self.events.push_back(ClientEvent::Bell),
                    ServerMessage::ServerCutText(text) => {
                        self.events
                            .push_back(ClientEvent::CutText(from_latin1(&text)));
                    }
                    ServerMessage::ExtendedCutText(message) => {
                        let handled = self
                            .clipboard
                            .get_or_insert_with(ClipboardSync::for_viewer)
                            .handle(message);
                        if let Some(reply) = handled.reply {
                            ClientMessage::ExtendedCutText(reply).write(&mut self.output);
                        }
                        if let Some(text) = handled.text {
                            self.events.push_back(ClientEvent::CutText(text));
                        }
                    }
                    ServerMessage::EndOfContinuousUpdates => {
                        self.server_continuous_updates = true;
                        self.events.push_back(ClientEvent::EndOfContinuousUpdates);
                    }
                    // Every message before a fence has been handled by the time it is read,
                    // and the answer goes out before anything after it is: BlockBefore,
                    // BlockAfter and SyncNext all hold by answering at once.
                    ServerMessage::Fence(fence) if fence.is_request() => {
                        ClientMessage::Fence(fence.response()).write(&mut self.output);
                    }
                    // We send no fences, so there is nothing to match an answer with.
                    ServerMessage::Fence(_) => {}
                }
                Ok(Some(n))
            }
            State::InUpdate { .. } if self.deferred.is_some() => {
                self.read_rectangle_deferred(input)
            }
            State::InUpdate { .. } => self.read_rectangle(input),
            State::AwaitTls { .. } | State::Closed => Ok(None),
        }
    }

    fn choose_security(&self, offered: &[u8]) -> Result<SecurityType, ProtocolError> {
        if self.config.tls && offered.contains(&SecurityType::VENCRYPT.0) {
            return Ok(SecurityType::VENCRYPT);
        }
        if self.config.require_tls {
            return Err(ProtocolError::TlsRequired(offered.to_vec()));
        }
        if offered.contains(&SecurityType::NONE.0) {
            return Ok(SecurityType::NONE);
        }
        if offered.contains(&SecurityType::VNC_AUTH.0) {
            if self.config.password.is_none() {
                return Err(ProtocolError::PasswordRequired);
            }
            return Ok(SecurityType::VNC_AUTH);
        }
        Err(ProtocolError::NoCommonSecurityType(offered.to_vec()))
    }

    fn after_security_type(&mut self, chosen: SecurityType, version: ProtocolVersion) -> State {
        if chosen == SecurityType::VENCRYPT {
            return State::Vencrypt {
                version,
                negotiation: vencrypt::ClientNegotiation::new(ViewerCredentials {
                    password: self.config.password.is_some(),
                    username: self.config.username.is_some(),
                }),
            };
        }
        if chosen == SecurityType::VNC_AUTH {
            return State::ExpectChallenge { version };
        }
        if version == ProtocolVersion::V3_8 {
            return State::ExpectSecurityResult { version };
        }
        self.output.push(u8::from(self.config.shared));
        State::ExpectServerInit
    }

    fn read_server_init(
        &mut self,
        reader: &mut Reader<'_>,
    ) -> Result<Option<usize>, ProtocolError> {
        let (Some(width), Some(height)) = (reader.u16(), reader.u16()) else {
            return Ok(None);
        };
        let Some(server_format) = PixelFormat::read(reader) else {
            return Ok(None);
        };
        let Some(name_len) = reader.u32() else {
            return Ok(None);
        };
        let name_len = name_len as usize;
        if name_len > MAX_NAME_LEN {
            return Err(ProtocolError::TooLong {
                what: "desktop name",
                len: name_len,
                limit: MAX_NAME_LEN,
            });
        }
        let Some(name) = reader.take(name_len) else {
            return Ok(None);
        };
        if !Framebuffer::size_is_acceptable(width, height) {
            return Err(ProtocolError::TooLong {
                what: "ServerInit framebuffer",
                len: usize::from(width) * usize::from(height),
                limit: crate::framebuffer::MAX_FRAMEBUFFER_PIXELS,
            });
        }
        // The server's own format matters only if we kept it; we always ask for ours.
        let _ = server_format;
        self.name = String::from_utf8_lossy(name).into_owned();
        self.framebuffer = Framebuffer::new(width, height);
        self.damage = Region::from_rect(self.framebuffer.bounds());
        self.config.pixel_format.validate()?;
        self.pixel_format = self.config.pixel_format;
        ClientMessage::SetPixelFormat(self.pixel_format).write(&mut self.output);
        ClientMessage::SetEncodings(self.config.encodings.clone()).write(&mut self.output);
        self.state = State::Normal;
        self.events.push_back(ClientEvent::Connected {
            width,
            height,
            name: self.name.clone(),
            version: self.version,
        });
        Ok(Some(reader.consumed()))
    }

    fn read_rectangle(&mut self, input: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let Some(header) = RectangleHeader::parse(input) else {
            return Ok(None);
        };
        let body = &input[RectangleHeader::WIRE_SIZE..];
        let rect = header.rect;
        let bad = |reason: String| ProtocolError::BadRectangle {
            encoding: header.encoding.to_string(),
            x: rect.x,
            y: rect.y,
            w: rect.width,
            h: rect.height,
            reason,
        };
        let body_len = match header.encoding {
            EncodingType::DESKTOP_SIZE => {
                if !Framebuffer::size_is_acceptable(rect.width, rect.height) {
                    return Err(bad("desktop size exceeds the limit".into()));
                }
                self.framebuffer.resize(rect.width, rect.height);
                self.damage = Region::from_rect(self.framebuffer.bounds());
                self.events.push_back(ClientEvent::Resized {
                    width: rect.width,
                    height: rect.height,
                });
                0
            }
            EncodingType::EXTENDED_DESKTOP_SIZE => {
                let Some((change, len)) =
                    extended_desktop_size::decode(body, &rect).map_err(bad)?
                else {
                    return Ok(None);
                };
                self.apply_desktop_size_change(change);
                len
            }
            EncodingType::POINTER_POS => {
                self.events.push_back(ClientEvent::PointerPosition {
                    x: rect.x,
                    y: rect.y,
                });
                0
            }
            EncodingType::LAST_RECT => {
                if let State::InUpdate { remaining, .. } = &mut self.state {
                    *remaining = 1;
                }
                0
            }
            EncodingType::QEMU_EXTENDED_KEY_EVENT => {
                self.extended_key_events = true;
                0
            }
            EncodingType::CURSOR | EncodingType::X_CURSOR | EncodingType::CURSOR_WITH_ALPHA => {
                let decoded = cursor::decode(header.encoding, body, &rect, &self.pixel_format)
                    .ok_or_else(|| bad("not a cursor encoding".into()))?;
                let Some((cursor, len)) = decoded.map_err(bad)? else {
                    return Ok(None);
                };
                self.cursor = Some(cursor.clone());
                self.events.push_back(ClientEvent::Cursor(cursor));
                len
            }
            EncodingType::DESKTOP_NAME => {
                let Some((name, len)) = desktop_name::decode(body).map_err(bad)? else {
                    return Ok(None);
                };
                self.name.clone_from(&name);
                self.events.push_back(ClientEvent::DesktopName(name));
                len
            }
            encoding => {
                if !self.framebuffer.bounds().contains(&rect) {
                    return Err(bad("lies outside the framebuffer".into()));
                }
                let decoded = self
                    .decoders
                    .decode(
                        encoding,
                        body,
                        &rect,
                        &self.pixel_format,
                        &mut self.framebuffer,
                    )
                    .ok_or_else(|| bad("this encoding is not supported".into()))?;
                match decoded.map_err(bad)? {
                    Some(len) => {
                        self.damage.add(rect);
                        len
                    }
                    None => return Ok(None),
                }
            }
        };
        let consumed = RectangleHeader::WIRE_SIZE + body_len;
        if let State::InUpdate {
            remaining,
            bytes,
            rectangles,
        } = &mut self.state
        {
            *remaining = remaining.saturating_sub(1);
            *bytes += consumed;
            *rectangles += 1;
        }
        self.finish_update_if_done();
        Ok(Some(consumed))
    }

    /// Follows an ExtendedDesktopSize rectangle. A refusal of our request changes nothing
    /// (its size fields are undefined); anything else is the layout now.
    fn apply_desktop_size_change(&mut self, change: DesktopSizeChange) {
        let refused = change.reason == ResizeReason::THIS_CLIENT && !change.status.is_success();
        if !refused {
            let layout = &change.layout;
            if (layout.width, layout.height)
                != (self.framebuffer.width(), self.framebuffer.height())
            {
                self.framebuffer.resize(layout.width, layout.height);
                self.damage = Region::from_rect(self.framebuffer.bounds());
                self.events.push_back(ClientEvent::Resized {
                    width: layout.width,
                    height: layout.height,
                });
            }
            self.layout = Some(change.layout.clone());
        } else if self.layout.is_none() {
            self.layout = Some(DesktopLayout::single(
                self.framebuffer.width(),
                self.framebuffer.height(),
            ));
        }
        self.events
            .push_back(ClientEvent::DesktopSizeChange(change));
    }

    fn finish_update_if_done(&mut self) {
        if let State::InUpdate {
            remaining: 0,
            bytes,
            rectangles,
        } = self.state
        {
            self.events
                .push_back(ClientEvent::UpdateComplete { bytes, rectangles });
            self.state = State::Normal;
        }
    }

    /// [`ClientConnection::read_rectangle`] with the pixel work of independent encodings set
    /// aside in the batch; everything else runs the batch first, then goes the usual way.
    fn read_rectangle_deferred(&mut self, input: &[u8]) -> Result<Option<usize>, ProtocolError> {
        let Some(header) = RectangleHeader::parse(input) else {
            return Ok(None);
        };
        if !batch::is_independent(header.encoding) {
            self.run_deferred_decoding()?;
            return self.read_rectangle(input);
        }
        let body = &input[RectangleHeader::WIRE_SIZE..];
        let rect = header.rect;
        let framed = if self.framebuffer.bounds().contains(&rect) {
            batch::body_len(header.encoding, body, &rect, &self.pixel_format)
                .expect("independent encodings have a framing step")
        } else {
            Err("lies outside the framebuffer".into())
        };
        let body_len = match framed {
            Ok(Some(len)) => len,
            Ok(None) => return Ok(None),
            Err(reason) => {
                // What came before fails first, as it would have on the sequential path.
                self.run_deferred_decoding()?;
                return Err(ProtocolError::BadRectangle {
                    encoding: header.encoding.to_string(),
                    x: rect.x,
                    y: rect.y,
                    w: rect.width,
                    h: rect.height,
                    reason,
                });
            }
        };
        if let Some(deferred) = &self.deferred
            && !deferred.batch.has_room_for(&rect, body_len)
        {
            self.run_deferred_decoding()?;
        }
        if let Some(deferred) = &mut self.deferred {
            deferred
                .batch
                .push(header.encoding, rect, &body[..body_len]);
        }
        self.damage.add(rect);
        let consumed = RectangleHeader::WIRE_SIZE + body_len;
        if let State::InUpdate {
            remaining,
            bytes,
            rectangles,
        } = &mut self.state
        {
            *remaining = remaining.saturating_sub(1);
            *bytes += consumed;
            *rectangles += 1;
            if *remaining == 0 {
                self.run_deferred_decoding()?;
            }
        }
        self.finish_update_if_done();
        Ok(Some(consumed))
    }

    /// Runs the rectangles set aside, if any, and draws them.
    fn run_deferred_decoding(&mut self) -> Result<(), ProtocolError> {
        match &mut self.deferred {
            Some(deferred) => deferred.batch.run(
                deferred.executor.as_ref(),
                &self.pixel_format,
                &mut self.framebuffer,
            ),
            None => Ok(()),
        }
    }

    /// Asks for an update of `rect` (the whole screen if `None`).
    pub fn request_update(&mut self, incremental: bool, rect: Option<Rect>) {
        let rect = rect.unwrap_or(self.framebuffer.bounds());
        ClientMessage::FramebufferUpdateRequest { incremental, rect }.write(&mut self.output);
    }

    /// Sends a key: with its XT scancode as a QEMU Extended Key Event when there is one and
    /// the server has acknowledged them, else as a plain KeyEvent.
    pub fn key_event(&mut self, down: bool, keysym: u32, scancode: Option<u32>) {
        let message = match scancode {
            Some(scancode) if self.extended_key_events => {
                ClientMessage::QemuKeyEvent(ExtendedKeyEvent {
                    down,
                    keysym,
                    scancode,
                })
            }
            _ => ClientMessage::KeyEvent { down, keysym },
        };
        message.write(&mut self.output);
    }

    /// Whether the server takes QEMU Extended Key Events (it acknowledged them).
    pub fn takes_extended_key_events(&self) -> bool {
        self.extended_key_events
    }

    /// Turns continuous updates on for `area` (the whole screen if `None`), or off. Returns
    /// false, sending nothing, until the server has said it takes them
    /// (EndOfContinuousUpdates). Turning them off is confirmed by an EndOfContinuousUpdates.
    pub fn enable_continuous_updates(&mut self, enable: bool, area: Option<Rect>) -> bool {
        if !self.server_continuous_updates {
            return false;
        }
        let area = area.unwrap_or(self.framebuffer.bounds());
        ClientMessage::EnableContinuousUpdates(EnableContinuousUpdates { enable, area })
            .write(&mut self.output);
        self.continuous_updates = enable;
        true
    }

    /// Whether we have continuous updates on.
    pub fn continuous_updates(&self) -> bool {
        self.continuous_updates
    }

    pub fn pointer_event(&mut self, buttons: u8, x: u16, y: u16) {
        ClientMessage::PointerEvent { buttons, x, y }.write(&mut self.output);
    }

    /// Asks the server for a `width` x `height` desktop (SetDesktopSize). The layout keeps
    /// the server's first screen (its id and flags), stretched over the whole new size. Returns
    /// false, sending nothing, until the server has sent an ExtendedDesktopSize rectangle:
    /// only then is it known to take the message.
    pub fn request_desktop_size(&mut self, width: u16, height: u16) -> bool {
        let Some(layout) = &self.layout else {
            return false;
        };
        let screen = match layout.screens.first() {
            Some(first) => Screen {
                x: 0,
                y: 0,
                width,
                height,
                ..*first
            },
            None => Screen::whole(0, width, height),
        };
        self.request_desktop_layout(DesktopLayout {
            width,
            height,
            screens: vec![screen],
        })
    }

    /// Asks the server for `layout` (SetDesktopSize), screens as given; false, sending
    /// nothing, until the server has sent an ExtendedDesktopSize rectangle.
    pub fn request_desktop_layout(&mut self, layout: DesktopLayout) -> bool {
        if self.layout.is_none() {
            return false;
        }
        ClientMessage::SetDesktopSize(layout).write(&mut self.output);
        true
    }

    /// The server's screen layout, if it has sent one (ExtendedDesktopSize).
    pub fn desktop_layout(&self) -> Option<&DesktopLayout> {
        self.layout.as_ref()
    }

    /// Sends our clipboard: as UTF-8 with Extended Clipboard once the server has sent its
    /// caps (the text itself or a notify, as they ask), else as Latin-1.
    pub fn cut_text(&mut self, text: &str) {
        match &mut self.clipboard {
            Some(clipboard) => {
                if let Some(message) = clipboard.announce(text) {
                    ClientMessage::ExtendedCutText(message).write(&mut self.output);
                }
            }
            None => ClientMessage::ClientCutText(to_latin1(text)).write(&mut self.output),
        }
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    pub fn framebuffer(&self) -> &Framebuffer {
        &self.framebuffer
    }

    /// The parts of the framebuffer drawn since the last call (a new size counts as all of
    /// it), as a bounded [`Region`]: a mirror of the framebuffer need copy only these.
    pub fn take_damage(&mut self) -> Region {
        self.damage.take()
    }

    /// The desktop's name: from ServerInit, then from the latest DesktopName.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The latest cursor shape the server sent, if it sent one.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.cursor.as_ref()
    }

    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    /// Whether the connection waits for the TLS handshake (VeNCrypt agreed on a subtype): send
    /// the output so far in the clear, run TLS as the client, then call
    /// [`ClientConnection::tls_started`]. Nothing more is consumed until then.
    pub fn is_awaiting_tls(&self) -> bool {
        matches!(self.state, State::AwaitTls { .. })
    }

    /// Says the TLS handshake is done: the subtype's authentication goes on inside TLS.
    pub fn tls_started(&mut self) {
        let State::AwaitTls { version, subtype } = self.state else {
            return;
        };
        self.state = match subtype {
            SubType::X509_VNC => State::ExpectChallenge { version },
            SubType::X509_PLAIN => {
                PlainCredentials {
                    username: self.config.username.clone().unwrap_or_default(),
                    password: self.config.password.clone().unwrap_or_default(),
                }
                .write(&mut self.output);
                State::ExpectSecurityResult { version }
            }
            _ => State::ExpectSecurityResult { version },
        };
    }

    /// Whether the handshake is done (and no update is being read right now).
    pub fn is_normal(&self) -> bool {
        matches!(self.state, State::Normal | State::InUpdate { .. })
    }
}
