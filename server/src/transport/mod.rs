//! What runs under a session: the server's port takes RFB viewers, and browsers too. A new
//! connection that speaks first is not an RFB viewer (RFB viewers wait for the server's
//! version): its first bytes tell an HTTP request (a WebSocket upgrade carrying RFB, or a file
//! of the web client) from a TLS ClientHello (wss). One that stays silent for [`DETECT_WAIT`]
//! is an RFB viewer, which is what that wait costs it. Browsers also open sockets ahead of
//! their requests: a silent connection from an address that spoke HTTP or TLS a moment ago
//! ([`RecentBrowsers`]) is given up to [`BROWSER_DETECT_WAIT`] to speak, and so is one from an
//! address whose "RFB viewer" turned out to send an HTTP request (a browser too slow for the
//! short wait: its reload then gets through).

mod detect;
pub mod http;
mod recent_browsers;
mod watched_stream;
mod web;
pub mod websocket;
mod websocket_stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tracing::{debug, info, warn};

pub use detect::{Protocol, detect};
use http::Status;
pub use recent_browsers::RecentBrowsers;
use watched_stream::WatchedStream;
pub use websocket_stream::WebSocketStream;

use crate::access::{Access, Transport};
use crate::desktop::{Desktop, ViewerId};
use crate::policy::SessionPolicy;
use crate::session::{self, ViewerStream};

/// How long a new connection may stay silent before it is taken for an RFB viewer. Browsers
/// send their request (or TLS its ClientHello) at once, but Chromium on a busy machine was
/// seen to take up to 400 ms; an RFB viewer waits this long for the server's version, so it
/// is kept short.
pub const DETECT_WAIT: Duration = Duration::from_millis(250);
/// How long a silent connection may take to speak when its address spoke HTTP or TLS just
/// before (its browser may have opened it ahead of a request).
pub const BROWSER_DETECT_WAIT: Duration = Duration::from_secs(3);
/// How often to look again when a request line has only partly arrived.
const DETECT_RETRY: Duration = Duration::from_millis(5);

/// What the port offers besides RFB.
#[derive(Debug, Default)]
pub(crate) struct WebOptions {
    /// Take WebSocket (and HTTP) clients; off, every connection is RFB at once.
    pub websocket: bool,
    /// The canonical directory of the web client, served over HTTP.
    pub root: Option<PathBuf>,
    pub recent_browsers: Arc<RecentBrowsers>,
}

/// Runs one accepted connection to its end, whatever it speaks.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    access: Arc<Access>,
    policy: SessionPolicy,
    desktop: Arc<Desktop>,
    web: Arc<WebOptions>,
) {
    let id = desktop.next_viewer_id();
    let protocol = if web.websocket {
        first_words(&stream, peer, &web.recent_browsers).await
    } else {
        None
    };
    let viewer = Viewer {
        id,
        peer,
        access,
        policy,
        desktop,
    };
    match protocol {
        // An RFB viewer, or a browser slower than DETECT_WAIT: remember it if so.
        None if web.websocket => {
            let watched = WatchedStream::new(stream, web.recent_browsers.clone(), peer.ip());
            viewer.run(watched, Transport::Plain).await;
        }
        None | Some(Protocol::Rfb) => viewer.run(stream, Transport::Plain).await,
        Some(Protocol::Http) => browser(viewer, stream, Transport::Plain, &web).await,
        // https and wss: the same HTTP and WebSocket inside TLS, with the certificate
        // VeNCrypt uses.
        Some(Protocol::Tls) if viewer.access.has_tls() => {
            match viewer.access.start_tls(Box::new(stream)).await {
                Ok(tls) => browser(viewer, tls, Transport::Encrypted, &web).await,
                Err(error) => warn!("connection {id} ({peer}): {error}: closed"),
            }
        }
        Some(Protocol::Tls) => {
            warn!(
                "connection {id} ({peer}): TLS from the first byte, but no certificate is set: closed"
            );
        }
        Some(Protocol::Unknown(byte)) => {
            warn!(
                "connection {id} ({peer}): first byte {byte:#04x} is not RFB, HTTP or TLS: closed"
            );
        }
    }
}

/// Who a connection is, and what a session for it needs.
struct Viewer {
    id: ViewerId,
    peer: SocketAddr,
    access: Arc<Access>,
    policy: SessionPolicy,
    desktop: Arc<Desktop>,
}

impl Viewer {
    async fn run<S: ViewerStream>(self, stream: S, transport: Transport) {
        session::run(
            self.id,
            stream,
            self.peer,
            transport,
            self.access,
            self.policy,
            self.desktop,
        )
        .await;
    }
}

/// What the client says before the server has said anything, if anything.
async fn first_words(
    stream: &TcpStream,
    peer: SocketAddr,
    recent_browsers: &RecentBrowsers,
) -> Option<Protocol> {
    let start = tokio::time::Instant::now();
    let mut deadline = start + DETECT_WAIT;
    let mut first = [0u8; detect::MAX_METHOD_LEN + 1];
    loop {
        // Peeking leaves the bytes for whoever reads next: the session, HTTP, or TLS.
        let peeked = match tokio::time::timeout_at(deadline, stream.peek(&mut first)).await {
            Err(_)
                if deadline < start + BROWSER_DETECT_WAIT
                    && recent_browsers.contains(peer.ip(), std::time::Instant::now()) =>
            {
                debug!("connection from {peer}: silent, but a browser is there: waiting longer");
                deadline = start + BROWSER_DETECT_WAIT;
                continue;
            }
            Err(_) | Ok(Err(_)) | Ok(Ok(0)) => return None,
            Ok(Ok(count)) => count,
        };
        match detect(&first[..peeked]) {
            Some(protocol @ (Protocol::Http | Protocol::Tls)) => {
                recent_browsers.note(peer.ip(), std::time::Instant::now());
                return Some(protocol);
            }
            Some(protocol) => return Some(protocol),
            None => {}
        }
        if tokio::time::Instant::now() + DETECT_RETRY > deadline {
            return Some(Protocol::Unknown(first[0]));
        }
        tokio::time::sleep(DETECT_RETRY).await;
    }
}

/// A browser's request over `stream`: a file, or a WebSocket that becomes a session.
async fn browser<S: ViewerStream>(
    viewer: Viewer,
    stream: S,
    transport: Transport,
    web: &WebOptions,
) {
    let peer = viewer.peer;
    match web::answer(stream, web.root.as_deref()).await {
        Ok(web::Answer::WebSocket {
            stream,
            target,
            binary_subprotocol,
        }) => {
            let scheme = match transport {
                Transport::Plain => "WebSocket",
                Transport::Encrypted => "WebSocket over TLS",
            };
            let subprotocol = if binary_subprotocol { "binary" } else { "none" };
            info!(
                "viewer {} ({peer}) over {scheme} ({target}, subprotocol {subprotocol})",
                viewer.id
            );
            viewer.run(stream, transport).await;
        }
        Ok(web::Answer::Served {
            method,
            target,
            status: Status::Ok,
            bytes,
        }) => info!("web {peer}: {method} {target}: 200 ({bytes} bytes)"),
        Ok(web::Answer::Served {
            method,
            target,
            status,
            ..
        }) => info!("web {peer}: {method} {target}: {}", status.code()),
        Err(error) => warn!("web {peer}: {error}: closed"),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;
    use tokio::net::TcpListener;

    use super::*;

    /// A connection to `listener` and the server's end of it.
    async fn connect(listener: &TcpListener) -> (TcpStream, TcpStream, SocketAddr) {
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        (client, server, peer)
    }

    // Time is paused: the waits pass in order, as fast as the sockets allow.
    #[tokio::test(start_paused = true)]
    async fn silence_is_rfb_unless_a_browser_just_spoke_from_there() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let recent = RecentBrowsers::default();

        let (_silent, server, peer) = connect(&listener).await;
        assert_eq!(first_words(&server, peer, &recent).await, None);

        let (mut browser, server, peer) = connect(&listener).await;
        browser.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        assert_eq!(
            first_words(&server, peer, &recent).await,
            Some(Protocol::Http)
        );

        // A socket the browser opened ahead, used later than an RFB viewer is waited for.
        let (mut ahead, server, peer) = connect(&listener).await;
        let late = tokio::spawn(async move {
            tokio::time::sleep(DETECT_WAIT * 2).await;
            ahead.write_all(b"GET /app.js HTTP/1.1\r\n").await.unwrap();
            ahead
        });
        assert_eq!(
            first_words(&server, peer, &recent).await,
            Some(Protocol::Http)
        );
        drop(late.await.unwrap());

        // The bytes are still there for whoever reads next.
        let (mut client, server, peer) = connect(&listener).await;
        client.write_all(&[0x16, 3, 1]).await.unwrap();
        assert_eq!(
            first_words(&server, peer, &recent).await,
            Some(Protocol::Tls)
        );
        let mut peeked = [0u8; 3];
        assert_eq!(server.peek(&mut peeked).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_browser_taken_for_a_viewer_is_remembered_when_it_speaks_http() {
        use tokio::io::AsyncReadExt;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let recent = Arc::new(RecentBrowsers::default());
        let (mut slow, server, peer) = connect(&listener).await;
        let mut watched = WatchedStream::new(server, recent.clone(), peer.ip());
        slow.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
        let mut first = [0u8; 4];
        watched.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"GET ");
        assert!(recent.contains(peer.ip(), std::time::Instant::now()));

        // An RFB viewer's version leaves no trace.
        let recent = Arc::new(RecentBrowsers::default());
        let (mut viewer, server, peer) = connect(&listener).await;
        let mut watched = WatchedStream::new(server, recent.clone(), peer.ip());
        viewer.write_all(b"RFB 003.008\n").await.unwrap();
        watched.read_exact(&mut first).await.unwrap();
        assert!(!recent.contains(peer.ip(), std::time::Instant::now()));
    }
}
