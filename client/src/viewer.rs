//! A connection to an RFB server: the socket, the protocol state machine and the frame log.
//!
//! [`Viewer`] keeps one update request outstanding at all times (asking again as soon as an
//! update is complete), so the server can send whenever it has something new. A server that
//! offers continuous updates (EndOfContinuousUpdates, e.g. TigerVNC's Xvnc and farview) is
//! asked for them instead, over the whole screen: it then sends changes without requests,
//! pacing them itself with fences, which the protocol answers.

use std::path::PathBuf;
use std::time::Duration;

use farview_protocol::encodings;
use farview_protocol::encodings::cursor::Cursor;
use farview_protocol::encodings::extended_desktop_size::{DesktopLayout, ResizeReason};
use farview_protocol::{
    ClientConfig, ClientConnection, ClientEvent, EncodingType, Framebuffer, ProtocolError,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tracing::{debug, info, warn};

use crate::frame_log::FrameLog;
use crate::parallel_decode::ThreadedExecutor;
use crate::target::Target;
use crate::tls::{self, TlsError, TlsTrust};

/// The pixel encodings asked for when none are given, in order of preference.
pub const DEFAULT_ENCODINGS: &[EncodingType] = &[
    EncodingType::COPY_RECT,
    EncodingType::TIGHT,
    EncodingType::ZRLE,
    EncodingType::HEXTILE,
    EncodingType::ZLIB,
    EncodingType::RRE,
    EncodingType::RAW,
];

#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    #[error("cannot connect to {target}: {cause}")]
    Connect {
        target: Target,
        cause: std::io::Error,
    },
    #[error("cannot listen on {address}: {cause}")]
    Listen {
        address: std::net::SocketAddr,
        cause: std::io::Error,
    },
    #[error("{0}")]
    Protocol(ProtocolError),
    #[error("the server closed the connection")]
    Closed,
    #[error("connection to the server failed: {0}")]
    Io(std::io::Error),
    #[error("frame log {path}: {cause}")]
    FrameLog {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("encoding {0} is not supported by this viewer")]
    UnsupportedEncoding(String),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("the server did not finish the handshake within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("the server sent data before the TLS handshake")]
    DataBeforeTls,
}

impl From<ProtocolError> for ViewerError {
    fn from(error: ProtocolError) -> Self {
        ViewerError::Protocol(error)
    }
}

impl From<std::io::Error> for ViewerError {
    fn from(error: std::io::Error) -> Self {
        ViewerError::Io(error)
    }
}

#[derive(Debug, Clone, Default)]
pub struct ViewerOptions {
    pub password: Option<Vec<u8>>,
    /// The username for VeNCrypt's X509Plain (with `password`).
    pub username: Option<String>,
    /// How to trust the server's certificate when it speaks TLS (VeNCrypt).
    pub tls: TlsTrust,
    /// Pixel encodings in preference order; empty means [`DEFAULT_ENCODINGS`].
    pub encodings: Vec<EncodingType>,
    /// Tight JPEG quality 0-9 (the QualityLevel pseudo-encoding).
    pub quality: Option<u8>,
    /// Compression level 0-9 (the CompressLevel pseudo-encoding).
    pub compress: Option<u8>,
    /// Ask the server to disconnect other viewers (ClientInit shared flag off).
    pub exclusive: bool,
    pub frame_log: Option<PathBuf>,
    /// Ask the server for this desktop size (SetDesktopSize) once it says it takes it.
    pub resize: Option<(u16, u16)>,
    /// Keep to update requests even when the server offers continuous updates.
    pub no_continuous_updates: bool,
    /// How long the server may take from the connection to the end of the handshake;
    /// `None` is [`HANDSHAKE_TIMEOUT`].
    pub handshake_timeout: Option<Duration>,
}

impl ViewerOptions {
    /// The SetEncodings list: the pixel encodings, then the pseudo-encodings we handle.
    fn encoding_list(&self) -> Result<Vec<EncodingType>, ViewerError> {
        let mut list = if self.encodings.is_empty() {
            DEFAULT_ENCODINGS.to_vec()
        } else {
            self.encodings.clone()
        };
        if let Some(unsupported) = list.iter().find(|e| !encodings::DECODABLE.contains(e)) {
            return Err(ViewerError::UnsupportedEncoding(unsupported.to_string()));
        }
        if let Some(quality) = self.quality {
            list.push(EncodingType(
                EncodingType::QUALITY_LEVEL_0.0 + i32::from(quality.min(9)),
            ));
        }
        if let Some(compress) = self.compress {
            list.push(EncodingType(
                EncodingType::COMPRESS_LEVEL_0.0 + i32::from(compress.min(9)),
            ));
        }
        list.extend([
            EncodingType::DESKTOP_SIZE,
            EncodingType::LAST_RECT,
            // Cursor shapes, best first: we draw the pointer ourselves, so the server leaves
            // it out of the framebuffer (and snapshots stay free of it).
            EncodingType::CURSOR_WITH_ALPHA,
            EncodingType::CURSOR,
            EncodingType::X_CURSOR,
            EncodingType::DESKTOP_NAME,
            // After DesktopSize: a server that knows both sends only the extended form.
            EncodingType::EXTENDED_DESKTOP_SIZE,
            EncodingType::POINTER_POS,
            EncodingType::QEMU_EXTENDED_KEY_EVENT,
            EncodingType::EXTENDED_CLIPBOARD,
        ]);
        if !self.no_continuous_updates {
            list.extend([EncodingType::CONTINUOUS_UPDATES, EncodingType::FENCE]);
        }
        Ok(list)
    }
}

/// The byte stream to a server: plain TCP, or TLS over it.
pub trait ServerStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> ServerStream for S {}

pub struct Viewer {
    stream: Box<dyn ServerStream>,
    connection: ClientConnection,
    input: Vec<u8>,
    frame_log: Option<FrameLog>,
    updates: u64,
    last_cut_text: Option<String>,
    /// The size still to ask for (`--resize`), until the server says it takes requests.
    resize: Option<(u16, u16)>,
    pointer_position: Option<(u16, u16)>,
}

const READ_CHUNK: usize = 256 * 1024;
/// How long a server's host may take to accept the connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a server may take over the handshake: one that accepts and then says nothing
/// (a hung process, a port forwarded to nowhere) would otherwise hold the viewer forever.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

impl std::fmt::Debug for Viewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Viewer")
            .field("connection", &self.connection)
            .field("updates", &self.updates)
            .finish_non_exhaustive()
    }
}

impl Viewer {
    /// Connects and completes the handshake.
    ///
    /// A server that offers VeNCrypt only with subtypes farview cannot speak (anonymous TLS,
    /// as TigerVNC's default TLSVnc) is connected to again without VeNCrypt, in case it
    /// offers another security type too; never a server that must speak TLS
    /// ([`TlsTrust::requires_tls`]).
    pub async fn connect(target: &Target, options: &ViewerOptions) -> Result<Viewer, ViewerError> {
        options.encoding_list()?;
        let dial = || async {
            let stream =
                target
                    .dial(CONNECT_TIMEOUT)
                    .await
                    .map_err(|cause| ViewerError::Connect {
                        target: target.clone(),
                        cause,
                    })?;
            Ok::<_, ViewerError>(Box::new(stream))
        };
        match Self::handshake(dial().await?, target, options, true).await {
            Err(ViewerError::Protocol(ProtocolError::NoUsableSubtype(reason)))
                if !options.tls.requires_tls(target) =>
            {
                warn!("{reason}; connecting again without VeNCrypt");
                Self::handshake(dial().await?, target, options, false)
                    .await
                    .map_err(|retry| match retry {
                        ViewerError::Protocol(ProtocolError::NoCommonSecurityType(_)) => {
                            ViewerError::Protocol(ProtocolError::NoUsableSubtype(reason))
                        }
                        other => other,
                    })
            }
            result => result,
        }
    }

    /// Completes the handshake over a stream already connected to `server` (a reverse
    /// connection, another transport). With VeNCrypt, TLS runs over it; the server's
    /// certificate is checked for `server`'s name and remembered under it.
    pub async fn over_stream(
        stream: Box<dyn ServerStream>,
        server: &Target,
        options: &ViewerOptions,
    ) -> Result<Viewer, ViewerError> {
        Self::handshake(stream, server, options, true).await
    }

    /// The handshake; `tls` says whether to choose VeNCrypt when the server offers it.
    async fn handshake(
        stream: Box<dyn ServerStream>,
        server: &Target,
        options: &ViewerOptions,
        tls: bool,
    ) -> Result<Viewer, ViewerError> {
        let encodings = options.encoding_list()?;
        let frame_log = match &options.frame_log {
            Some(path) => Some(
                FrameLog::create(path).map_err(|cause| ViewerError::FrameLog {
                    path: path.clone(),
                    cause,
                })?,
            ),
            None => None,
        };
        let mut connection = ClientConnection::new(ClientConfig {
            password: options.password.clone(),
            username: options.username.clone(),
            tls,
            require_tls: options.tls.requires_tls(server),
            shared: !options.exclusive,
            encodings,
            ..ClientConfig::default()
        });
        // Rectangles of stateless encodings decode on every core; with one core, deferring
        // them would only add a copy.
        let executor = ThreadedExecutor::new();
        if executor.threads() > 1 {
            connection.set_decode_executor(Box::new(executor));
        }
        let mut viewer = Viewer {
            stream,
            connection,
            input: Vec::with_capacity(READ_CHUNK),
            frame_log,
            updates: 0,
            last_cut_text: None,
            resize: options.resize,
            pointer_position: None,
        };
        let within = options.handshake_timeout.unwrap_or(HANDSHAKE_TIMEOUT);
        tokio::time::timeout(within, async {
            loop {
                viewer.receive().await?;
                viewer.flush().await?;
                if viewer.connection.is_awaiting_tls() {
                    viewer.start_tls(server, &options.tls).await?;
                }
                if viewer.connection.is_normal() {
                    return Ok::<_, ViewerError>(());
                }
            }
        })
        .await
        .map_err(|_| ViewerError::HandshakeTimeout(within))??;
        Ok(viewer)
    }

    /// Runs TLS over the stream, as VeNCrypt asked, and goes on with the handshake in it.
    async fn start_tls(&mut self, server: &Target, trust: &TlsTrust) -> Result<(), ViewerError> {
        // Bytes past the subtype's ack would be TLS bytes already read in the clear.
        if !self.input.is_empty() {
            return Err(ViewerError::DataBeforeTls);
        }
        // A stand-in with nothing to read and nowhere to write, for the moment TLS has it.
        let placeholder = Box::new(tokio::io::join(tokio::io::empty(), tokio::io::sink()));
        let plain = std::mem::replace(&mut self.stream, placeholder);
        self.stream = tls::connect(plain, server, trust).await?;
        self.connection.tls_started();
        self.flush().await
    }

    /// Reads what the server sent and feeds it to the protocol. Cancel-safe: use it in
    /// `select!`; then take events with [`Viewer::poll_event`] and send with
    /// [`Viewer::flush`].
    pub async fn receive(&mut self) -> Result<(), ViewerError> {
        let read = self.stream.read_buf(&mut self.input).await?;
        if read == 0 {
            return Err(ViewerError::Closed);
        }
        let used = self.connection.handle_input(&self.input)?;
        self.input.drain(..used);
        if self.input.capacity() - self.input.len() < READ_CHUNK / 4 {
            self.input.reserve(READ_CHUNK);
        }
        Ok(())
    }

    /// The next event, after acting on it: the first full update request on connect, the
    /// next incremental one and the frame log line after each update.
    pub fn poll_event(&mut self) -> Result<Option<ClientEvent>, ViewerError> {
        let Some(event) = self.connection.poll_event() else {
            return Ok(None);
        };
        match &event {
            ClientEvent::Connected {
                width,
                height,
                name,
                version,
            } => {
                info!("connected to {name:?} ({width}x{height}, protocol {version})");
                self.connection.request_update(false, None);
            }
            ClientEvent::UpdateComplete { bytes, rectangles } => {
                self.updates += 1;
                if let Some(log) = &mut self.frame_log {
                    let hash = self.connection.framebuffer().sha256_hex();
                    log.update(*bytes, *rectangles, &hash).map_err(|cause| {
                        ViewerError::FrameLog {
                            path: PathBuf::new(),
                            cause,
                        }
                    })?;
                }
                if !self.connection.continuous_updates() {
                    self.connection.request_update(true, None);
                }
                // A server that takes resize requests says so in its first update.
                if self.connection.desktop_layout().is_none()
                    && let Some((width, height)) = self.resize.take()
                {
                    warn!(
                        "not asking for a {width}x{height} desktop: the server does not take \
                         resize requests (no ExtendedDesktopSize)"
                    );
                }
            }
            ClientEvent::Resized { width, height } => {
                debug!("desktop resized to {width}x{height}");
                // After a DesktopSize, ask for the whole new screen rather than waiting on the
                // old request. Never after ExtendedDesktopSize: the server answers a full
                // request with one, which would loop; it repaints a resized screen anyway.
                if self.connection.desktop_layout().is_none() {
                    self.connection.request_update(false, None);
                }
                // The area of continuous updates follows the new size.
                if self.connection.continuous_updates() {
                    self.connection.enable_continuous_updates(true, None);
                }
            }
            ClientEvent::EndOfContinuousUpdates => {
                // The server announces them once; we never turn them off.
                if !self.connection.continuous_updates()
                    && self.connection.enable_continuous_updates(true, None)
                {
                    info!("continuous updates on");
                }
            }
            ClientEvent::DesktopSizeChange(change) => {
                let layout = &change.layout;
                if change.reason == ResizeReason::THIS_CLIENT {
                    if change.status.is_success() {
                        info!(
                            "the server resized the desktop to {}x{} as asked",
                            layout.width, layout.height
                        );
                    } else {
                        warn!("the server refused the desktop size: {}", change.status);
                    }
                } else {
                    debug!(
                        "desktop layout {}x{}, {} screens (reason {})",
                        layout.width,
                        layout.height,
                        layout.screens.len(),
                        change.reason.0
                    );
                }
                if let Some((width, height)) = self.resize.take() {
                    info!("asking for a {width}x{height} desktop");
                    self.connection.request_desktop_size(width, height);
                }
            }
            ClientEvent::PointerPosition { x, y } => {
                debug!("pointer moved to {x},{y}");
                self.pointer_position = Some((*x, *y));
            }
            ClientEvent::Bell => debug!("bell"),
            ClientEvent::CutText(text) => {
                debug!("server clipboard: {} bytes", text.len());
                self.last_cut_text = Some(text.clone());
            }
            ClientEvent::Cursor(cursor) => debug!(
                "cursor shape {}x{}, hotspot {},{}",
                cursor.width, cursor.height, cursor.hotspot_x, cursor.hotspot_y
            ),
            ClientEvent::DesktopName(name) => info!("desktop renamed to {name:?}"),
        }
        Ok(Some(event))
    }

    /// Sends whatever the protocol has queued (requests, input).
    pub async fn flush(&mut self) -> Result<(), ViewerError> {
        let output = self.connection.take_output();
        if !output.is_empty() {
            self.stream.write_all(&output).await?;
            // TLS holds what it was given until flushed.
            self.stream.flush().await?;
        }
        Ok(())
    }

    /// Receives and handles events until `wanted` accepts one, or `timeout` passes.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut wanted: impl FnMut(&ClientEvent, &Framebuffer) -> bool,
    ) -> Result<ClientEvent, ViewerError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            while let Some(event) = self.poll_event()? {
                if wanted(&event, self.connection.framebuffer()) {
                    self.flush().await?;
                    return Ok(event);
                }
            }
            self.flush().await?;
            tokio::time::timeout_at(deadline, self.receive())
                .await
                .map_err(|_| ViewerError::Timeout(timeout))??;
        }
    }

    pub fn key_event(&mut self, down: bool, keysym: u32) {
        self.connection.key_event(down, keysym, None);
    }

    /// A key with the XT scancode of the physical key: sent as a QEMU Extended Key Event if
    /// the server acknowledged them, else as a plain key event.
    pub fn key_event_with_scancode(&mut self, down: bool, keysym: u32, scancode: Option<u32>) {
        self.connection.key_event(down, keysym, scancode);
    }

    /// Whether the server acknowledged QEMU Extended Key Events.
    pub fn takes_extended_key_events(&self) -> bool {
        self.connection.takes_extended_key_events()
    }

    pub fn pointer_event(&mut self, buttons: u8, x: u16, y: u16) {
        self.connection.pointer_event(buttons, x, y);
    }

    pub fn cut_text(&mut self, text: &str) {
        self.connection.cut_text(text);
    }

    /// Asks the server for a new desktop size; false (nothing sent) until the server has
    /// said it takes such requests (an ExtendedDesktopSize rectangle).
    pub fn request_desktop_size(&mut self, width: u16, height: u16) -> bool {
        self.connection.request_desktop_size(width, height)
    }

    /// Asks the server for a layout of several screens, or one not covering the whole
    /// desktop; false as for [`Viewer::request_desktop_size`].
    pub fn request_desktop_layout(&mut self, layout: DesktopLayout) -> bool {
        self.connection.request_desktop_layout(layout)
    }

    /// Where the server last said the pointer is (PointerPos), if it did.
    pub fn pointer_position(&self) -> Option<(u16, u16)> {
        self.pointer_position
    }

    pub fn framebuffer(&self) -> &Framebuffer {
        self.connection.framebuffer()
    }

    /// The parts of the framebuffer drawn since the last call
    /// ([`ClientConnection::take_damage`]).
    pub fn take_damage(&mut self) -> farview_protocol::Region {
        self.connection.take_damage()
    }

    pub fn name(&self) -> &str {
        self.connection.name()
    }

    /// The latest cursor shape the server sent, if any.
    pub fn cursor(&self) -> Option<&Cursor> {
        self.connection.cursor()
    }

    /// Whether continuous updates are on (the server offered them and we asked).
    pub fn continuous_updates(&self) -> bool {
        self.connection.continuous_updates()
    }

    /// How many complete updates arrived so far.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    pub fn last_cut_text(&self) -> Option<&str> {
        self.last_cut_text.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_server_that_accepts_and_says_nothing_is_given_up() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = Target {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        // Accepts, then holds the connection open without a word.
        let silent = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(stream);
        });
        let options = ViewerOptions {
            handshake_timeout: Some(Duration::from_millis(200)),
            ..ViewerOptions::default()
        };
        let error = Viewer::connect(&target, &options).await.err().unwrap();
        assert!(matches!(error, ViewerError::HandshakeTimeout(_)), "{error}");
        assert_eq!(
            error.to_string(),
            "the server did not finish the handshake within 200ms"
        );
        silent.abort();
    }
}
