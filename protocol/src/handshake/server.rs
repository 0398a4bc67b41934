//! The server side of a connection: handshake (RFC 6143 §7.1-7.3), then the normal phase in
//! which client messages become [`ServerEvent`]s and updates are written on command.

use std::collections::VecDeque;

use super::{MAX_NAME_LEN, ProtocolVersion};
use crate::encode::{EncodeManager, Update, UpdateStats, ViewerEncodings};
use crate::encodings::cursor::{self, Cursor};
use crate::encodings::extended_desktop_size::{self, DesktopLayout, DesktopSizeChange};
use crate::encodings::{desktop_name, pseudo};
use crate::error::ProtocolError;
use crate::framebuffer::Framebuffer;
use crate::messages::{ClientMessage, EncodingType, ServerMessage, from_latin1, to_latin1};
use crate::pixel::{self, PixelFormat};
use crate::security::plain::PlainCredentials;
use crate::security::vencrypt::{self, SubType};
use crate::security::{SecurityType, vnc_auth};
use crate::wire::Writer;

/// How the server authenticates viewers.
///
/// Without TLS: VNC Authentication with a password, else security type None. With TLS, only
/// VeNCrypt is offered, with X509Plain when Plain users are configured, X509Vnc with a
/// password, and X509None when neither is.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The VNC Authentication password.
    pub password: Option<Vec<u8>>,
    /// The VNC Authentication challenge: random bytes from the caller (no RNG in here).
    pub challenge: [u8; vnc_auth::CHALLENGE_LEN],
    /// The caller can run TLS with a certificate: offer VeNCrypt (and nothing without TLS).
    pub tls: bool,
    /// The caller checks usernames and passwords ([`ServerEvent::CheckCredentials`]).
    pub plain_users: bool,
    /// Refuse this viewer with this reason, right after the version exchange.
    pub refusal: Option<String>,
}

impl ServerConfig {
    /// A server without TLS, with VNC Authentication if `password` is set.
    pub fn new(password: Option<Vec<u8>>, challenge: [u8; vnc_auth::CHALLENGE_LEN]) -> Self {
        Self {
            password,
            challenge,
            tls: false,
            plain_users: false,
            refusal: None,
        }
    }

    /// The VeNCrypt subtypes offered with TLS, strongest first.
    pub fn vencrypt_subtypes(&self) -> Vec<SubType> {
        let mut subtypes = Vec::new();
        if self.plain_users {
            subtypes.push(SubType::X509_PLAIN);
        }
        if self.password.is_some() {
            subtypes.push(SubType::X509_VNC);
        }
        if subtypes.is_empty() {
            subtypes.push(SubType::X509_NONE);
        }
        subtypes
    }
}

/// What the viewer said or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEvent {
    /// Authentication failed (wrong password, username or response); the failure has been
    /// written and the connection is closed.
    AuthenticationFailed {
        reason: String,
    },
    /// The viewer asked for security that is not offered, or the connection was refused
    /// ([`ServerConfig::refusal`]); the reason has been written and the connection is closed.
    SecurityRefused {
        reason: String,
    },
    /// TLS starts now: send the output so far in the clear, run the TLS handshake as the
    /// server on the stream, then call [`ServerConnection::tls_started`]. Nothing more is
    /// consumed until then. The agreed subtype says what follows inside TLS.
    StartTls(SubType),
    /// The viewer sent a username and password (X509Plain): answer with
    /// [`ServerConnection::credentials_checked`].
    CheckCredentials(PlainCredentials),
    /// The handshake reached ClientInit; answer with [`ServerConnection::send_server_init`].
    ClientInit {
        shared: bool,
    },
    SetPixelFormat(PixelFormat),
    SetEncodings(Vec<EncodingType>),
    UpdateRequest {
        incremental: bool,
        rect: crate::framebuffer::Rect,
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
    /// The viewer asks for a new size and screen layout (SetDesktopSize); answer with
    /// [`ServerConnection::send_desktop_size_change`], reason [`ResizeReason::THIS_CLIENT`].
    ///
    /// [`ResizeReason::THIS_CLIENT`]: extended_desktop_size::ResizeReason::THIS_CLIENT
    SetDesktopSize(DesktopLayout),
}

/// The handshake states, each holding what it needs to go on.
#[derive(Debug)]
enum State {
    ExpectVersion,
    ExpectSecurityType {
        version: ProtocolVersion,
    },
    Vencrypt {
        version: ProtocolVersion,
        negotiation: vencrypt::ServerNegotiation,
    },
    AwaitTls {
        version: ProtocolVersion,
        subtype: SubType,
    },
    ExpectVncAuthResponse {
        version: ProtocolVersion,
    },
    ExpectPlainCredentials {
        version: ProtocolVersion,
    },
    AwaitCredentialCheck {
        version: ProtocolVersion,
    },
    ExpectClientInit,
    AwaitServerInit,
    Normal,
    Closed,
}

#[derive(Debug)]
pub struct ServerConnection {
    config: ServerConfig,
    state: State,
    version: Option<ProtocolVersion>,
    output: Vec<u8>,
    events: VecDeque<ServerEvent>,
    /// The viewer's pixel format (for a colour-map viewer, its true-colour equivalent).
    pixel_format: PixelFormat,
    encodings: ViewerEncodings,
    encoder: EncodeManager,
}

impl ServerConnection {
    /// Starts a connection: the server's version message is ready in the output at once.
    pub fn new(config: ServerConfig) -> Self {
        let mut output = Vec::new();
        output.extend_from_slice(ProtocolVersion::V3_8.wire());
        Self {
            config,
            state: State::ExpectVersion,
            version: None,
            output,
            events: VecDeque::new(),
            pixel_format: PixelFormat::NATIVE,
            encodings: ViewerEncodings::new(vec![EncodingType::RAW]),
            encoder: EncodeManager::new(),
        }
    }

    fn security_type(&self) -> SecurityType {
        if self.config.tls {
            SecurityType::VENCRYPT
        } else if self.config.password.is_some() {
            SecurityType::VNC_AUTH
        } else {
            SecurityType::NONE
        }
    }

    /// Feeds bytes from the viewer. Returns how many were consumed; the rest (a partial
    /// message) must be offered again with more bytes after it.
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

    /// Handles one unit of input; `Ok(None)` when more bytes are needed or the state waits
    /// for the application.
    fn step(&mut self, input: &[u8]) -> Result<Option<usize>, ProtocolError> {
        match &mut self.state {
            State::ExpectVersion => {
                let Some(bytes) = input.first_chunk::<12>() else {
                    return Ok(None);
                };
                let version = ProtocolVersion::parse(bytes)?;
                self.version = Some(version);
                let refusal = self.config.refusal.clone().or_else(|| {
                    (self.config.tls && version == ProtocolVersion::V3_3).then(|| {
                        "this server requires TLS (VeNCrypt), which needs RFB 3.7 or later"
                            .to_string()
                    })
                });
                if let Some(reason) = refusal {
                    self.refuse_connection(version, reason);
                } else if version == ProtocolVersion::V3_3 {
                    // 3.3: the server chooses the security type.
                    self.output.put_u32(u32::from(self.security_type().0));
                    self.state = self.after_security_type(version);
                } else {
                    self.output.extend_from_slice(&[1, self.security_type().0]);
                    self.state = State::ExpectSecurityType { version };
                }
                Ok(Some(12))
            }
            &mut State::ExpectSecurityType { version } => {
                let Some(&chosen) = input.first() else {
                    return Ok(None);
                };
                let offered = self.security_type();
                if chosen != offered.0 {
                    let reason = format!(
                        "{} was not offered; this server offers {offered}",
                        SecurityType(chosen)
                    );
                    self.fail_security(version, &reason);
                    self.events
                        .push_back(ServerEvent::SecurityRefused { reason });
                } else {
                    self.state = self.after_security_type(version);
                }
                Ok(Some(1))
            }
            State::Vencrypt {
                version,
                negotiation,
            } => {
                let version = *version;
                match negotiation.step(input, &mut self.output) {
                    Ok(None) => Ok(None),
                    Ok(Some(step)) => {
                        if let Some(subtype) = step.agreed {
                            self.state = State::AwaitTls { version, subtype };
                            self.events.push_back(ServerEvent::StartTls(subtype));
                        }
                        Ok(Some(step.consumed))
                    }
                    Err(refusal) => {
                        self.state = State::Closed;
                        self.events.push_back(ServerEvent::SecurityRefused {
                            reason: refusal.reason,
                        });
                        Ok(Some(refusal.consumed))
                    }
                }
            }
            State::ExpectPlainCredentials { version } => {
                let version = *version;
                let Some((credentials, n)) = PlainCredentials::parse(input)? else {
                    return Ok(None);
                };
                self.state = State::AwaitCredentialCheck { version };
                self.events
                    .push_back(ServerEvent::CheckCredentials(credentials));
                Ok(Some(n))
            }
            &mut State::ExpectVncAuthResponse { version } => {
                let Some(answer) = input.first_chunk::<16>() else {
                    return Ok(None);
                };
                let password = self.config.password.as_deref().unwrap_or_default();
                if vnc_auth::verify(password, &self.config.challenge, answer) {
                    self.output.put_u32(0);
                    self.state = State::ExpectClientInit;
                } else {
                    let reason = "authentication failed: wrong password".to_string();
                    self.fail_security(version, &reason);
                    self.events
                        .push_back(ServerEvent::AuthenticationFailed { reason });
                }
                Ok(Some(16))
            }
            State::ExpectClientInit => {
                let Some(&shared) = input.first() else {
                    return Ok(None);
                };
                self.events.push_back(ServerEvent::ClientInit {
                    shared: shared != 0,
                });
                self.state = State::AwaitServerInit;
                Ok(Some(1))
            }
            State::AwaitTls { .. }
            | State::AwaitCredentialCheck { .. }
            | State::AwaitServerInit
            | State::Closed => Ok(None),
            State::Normal => {
                let Some((message, n)) = ClientMessage::parse(input)? else {
                    return Ok(None);
                };
                self.handle_message(message)?;
                Ok(Some(n))
            }
        }
    }

    fn after_security_type(&mut self, version: ProtocolVersion) -> State {
        match self.security_type() {
            SecurityType::VENCRYPT => State::Vencrypt {
                version,
                negotiation: vencrypt::ServerNegotiation::new(
                    self.config.vencrypt_subtypes(),
                    &mut self.output,
                ),
            },
            SecurityType::VNC_AUTH => self.start_vnc_auth(version),
            _ => {
                // SecurityResult for None exists only from 3.8 on.
                if version == ProtocolVersion::V3_8 {
                    self.output.put_u32(0);
                }
                State::ExpectClientInit
            }
        }
    }

    fn start_vnc_auth(&mut self, version: ProtocolVersion) -> State {
        self.output.extend_from_slice(&self.config.challenge);
        State::ExpectVncAuthResponse { version }
    }

    /// Says the TLS handshake asked for by [`ServerEvent::StartTls`] is done: the subtype's
    /// authentication goes on inside TLS.
    pub fn tls_started(&mut self) {
        let State::AwaitTls { version, subtype } = self.state else {
            return;
        };
        self.state = match subtype {
            SubType::X509_VNC => self.start_vnc_auth(version),
            SubType::X509_PLAIN => State::ExpectPlainCredentials { version },
            _ => {
                // X509None: TLS is all; SecurityResult follows (3.7 too, as for any type
                // other than None).
                self.output.put_u32(0);
                State::ExpectClientInit
            }
        };
    }

    /// Answers [`ServerEvent::CheckCredentials`]: whether the username and password are right.
    pub fn credentials_checked(&mut self, accepted: bool) {
        let State::AwaitCredentialCheck { version } = self.state else {
            return;
        };
        if accepted {
            self.output.put_u32(0);
            self.state = State::ExpectClientInit;
        } else {
            let reason = "authentication failed: wrong username or password".to_string();
            self.fail_security(version, &reason);
            self.events
                .push_back(ServerEvent::AuthenticationFailed { reason });
        }
    }

    /// Refuses the connection right after the version exchange, with a reason.
    fn refuse_connection(&mut self, version: ProtocolVersion, reason: String) {
        if version == ProtocolVersion::V3_3 {
            self.output.put_u32(0);
        } else {
            self.output.push(0);
        }
        self.output.put_u32(reason.len() as u32);
        self.output.extend_from_slice(reason.as_bytes());
        self.state = State::Closed;
        self.events
            .push_back(ServerEvent::SecurityRefused { reason });
    }

    fn fail_security(&mut self, version: ProtocolVersion, reason: &str) {
        self.output.put_u32(1);
        if version == ProtocolVersion::V3_8 {
            self.output.put_u32(reason.len() as u32);
            self.output.extend_from_slice(reason.as_bytes());
        }
        self.state = State::Closed;
    }

    fn handle_message(&mut self, message: ClientMessage) -> Result<(), ProtocolError> {
        let event = match message {
            ClientMessage::SetPixelFormat(format) => {
                format.validate()?;
                if !format.true_colour {
                    ServerMessage::SetColourMapEntries {
                        first_colour: 0,
                        colours: pixel::colour_map_332(),
                    }
                    .write(&mut self.output);
                }
                self.pixel_format = format.colour_map_equivalent();
                ServerEvent::SetPixelFormat(format)
            }
            ClientMessage::SetEncodings(encodings) => {
                self.encodings = ViewerEncodings::new(encodings.clone());
                ServerEvent::SetEncodings(encodings)
            }
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                ServerEvent::UpdateRequest { incremental, rect }
            }
            ClientMessage::KeyEvent { down, keysym } => ServerEvent::Key { down, keysym },
            ClientMessage::PointerEvent { buttons, x, y } => ServerEvent::Pointer { buttons, x, y },
            ClientMessage::ClientCutText(text) => ServerEvent::CutText(from_latin1(&text)),
            ClientMessage::SetDesktopSize(layout) => ServerEvent::SetDesktopSize(layout),
        };
        self.events.push_back(event);
        Ok(())
    }

    /// Answers ClientInit with the desktop's size and name; the connection is then normal.
    pub fn send_server_init(&mut self, width: u16, height: u16, name: &str) {
        if !matches!(self.state, State::AwaitServerInit) {
            return;
        }
        self.output.put_u16(width);
        self.output.put_u16(height);
        PixelFormat::NATIVE.write(&mut self.output);
        let name = &name.as_bytes()[..name.len().min(MAX_NAME_LEN)];
        self.output.put_u32(name.len() as u32);
        self.output.extend_from_slice(name);
        self.state = State::Normal;
    }

    /// Writes one FramebufferUpdate for `update`, with pixels from `framebuffer`, in the
    /// viewer's format and encodings. Does nothing before the handshake is done.
    ///
    /// A new size goes as DesktopSize, and only to a viewer that takes DesktopSize but not
    /// ExtendedDesktopSize: the spec wants the extended form alone in its own update, so tell
    /// those viewers with [`ServerConnection::send_desktop_size_change`] first.
    pub fn send_update(&mut self, framebuffer: &Framebuffer, update: &Update) -> UpdateStats {
        if !self.is_normal() {
            return UpdateStats::default();
        }
        let mut update = update.clone();
        if update.new_size.is_some()
            && (!self.encodings.accepts(EncodingType::DESKTOP_SIZE)
                || self.accepts_extended_desktop_size())
        {
            update.new_size = None;
        }
        self.encoder.encode_update(
            framebuffer,
            &update,
            &self.pixel_format,
            &self.encodings,
            &mut self.output,
        )
    }

    pub fn send_bell(&mut self) {
        if self.is_normal() {
            ServerMessage::Bell.write(&mut self.output);
        }
    }

    pub fn send_cut_text(&mut self, text: &str) {
        if self.is_normal() {
            ServerMessage::ServerCutText(to_latin1(text)).write(&mut self.output);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Takes the bytes waiting to be sent to the viewer.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    pub fn has_output(&self) -> bool {
        !self.output.is_empty()
    }

    pub fn is_normal(&self) -> bool {
        matches!(self.state, State::Normal)
    }

    /// Where the handshake stands, for a log line when the viewer goes away in it.
    pub fn stage(&self) -> String {
        match &self.state {
            State::ExpectVersion => "protocol version exchange".into(),
            State::ExpectSecurityType { .. } => "choice of security type".into(),
            State::Vencrypt { .. } => format!(
                "VeNCrypt negotiation (offered: {})",
                vencrypt::names(&self.config.vencrypt_subtypes())
            ),
            State::AwaitTls { .. } => "TLS handshake".into(),
            State::ExpectVncAuthResponse { .. } => "VNC authentication".into(),
            State::ExpectPlainCredentials { .. } | State::AwaitCredentialCheck { .. } => {
                "username and password check".into()
            }
            State::ExpectClientInit | State::AwaitServerInit => "initialisation".into(),
            State::Normal => "session".into(),
            State::Closed => "closing".into(),
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    pub fn version(&self) -> Option<ProtocolVersion> {
        self.version
    }

    pub fn pixel_format(&self) -> &PixelFormat {
        &self.pixel_format
    }

    pub fn encodings(&self) -> &ViewerEncodings {
        &self.encodings
    }

    /// What was last sent lossily and is still shown so: refresh it when the screen is quiet.
    pub fn lossy_region(&self) -> &crate::framebuffer::Region {
        self.encoder.lossy_region()
    }
}

/// Pseudo-encoding messages that stand apart from pixel updates: each is its own
/// one-rectangle FramebufferUpdate, written only after the handshake and only to a viewer that
/// listed the pseudo-encoding.
impl ServerConnection {
    /// Sends the pointer's shape in the best cursor encoding the viewer accepts (with alpha,
    /// then rich, then X cursor). Returns the encoding used, or `None` when nothing was
    /// written (handshake not done, or the viewer draws no cursor of its own). An invalid
    /// cursor is an error and writes nothing.
    pub fn send_cursor(&mut self, cursor: &Cursor) -> Result<Option<EncodingType>, ProtocolError> {
        if !self.is_normal() {
            return Ok(None);
        }
        let Some(encoding) = cursor::best_encoding(self.encodings.preference()) else {
            return Ok(None);
        };
        let mut body = Vec::new();
        cursor::encode(cursor, encoding, &self.pixel_format, &mut body).map_err(|reason| {
            ProtocolError::BadEncoding {
                encoding: "cursor",
                reason,
            }
        })?;
        ServerMessage::FramebufferUpdate { rect_count: 1 }.write(&mut self.output);
        cursor::header(cursor, encoding).write(&mut self.output);
        self.output.extend_from_slice(&body);
        Ok(Some(encoding))
    }

    /// Whether [`ServerConnection::send_cursor`] would send anything.
    pub fn accepts_cursor(&self) -> bool {
        cursor::best_encoding(self.encodings.preference()).is_some()
    }

    /// Renames the desktop for a viewer that accepts DesktopName; returns whether it did. The
    /// name is cut to [`MAX_NAME_LEN`] bytes.
    pub fn send_desktop_name(&mut self, name: &str) -> bool {
        if !self.is_normal() || !self.encodings.accepts(EncodingType::DESKTOP_NAME) {
            return false;
        }
        ServerMessage::FramebufferUpdate { rect_count: 1 }.write(&mut self.output);
        desktop_name::header().write(&mut self.output);
        desktop_name::encode(name, &mut self.output);
        true
    }

    /// Whether the viewer listed ExtendedDesktopSize (and may send SetDesktopSize).
    pub fn accepts_extended_desktop_size(&self) -> bool {
        self.encodings.accepts(EncodingType::EXTENDED_DESKTOP_SIZE)
    }

    /// Sends one ExtendedDesktopSize rectangle as its own update (the spec allows no pixels
    /// next to it) to a viewer that accepts it; returns whether it did.
    pub fn send_desktop_size_change(&mut self, change: &DesktopSizeChange) -> bool {
        if !self.is_normal() || !self.accepts_extended_desktop_size() {
            return false;
        }
        ServerMessage::FramebufferUpdate { rect_count: 1 }.write(&mut self.output);
        extended_desktop_size::encode(change, &mut self.output);
        true
    }

    /// Whether the viewer listed PointerPos (it moves its own pointer when told).
    pub fn accepts_pointer_position(&self) -> bool {
        self.encodings.accepts(EncodingType::POINTER_POS)
    }

    /// Tells a viewer that accepts PointerPos where the pointer is now, as a one-rectangle
    /// update; returns whether it did.
    pub fn send_pointer_position(&mut self, x: u16, y: u16) -> bool {
        if !self.is_normal() || !self.accepts_pointer_position() {
            return false;
        }
        ServerMessage::FramebufferUpdate { rect_count: 1 }.write(&mut self.output);
        pseudo::pointer_pos(x, y).write(&mut self.output);
        true
    }
}
