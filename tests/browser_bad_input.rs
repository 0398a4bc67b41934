//! Bad input on the port browsers share with RFB viewers: a garbage HTTP request, bytes that
//! are no protocol at all, a broken WebSocket frame, clients that vanish half way. Each gets
//! a clear log line and a closed connection; the server goes on, and a viewer connected all
//! along still works. Also: a broken TLS hello (wss), `--no-websocket`, and a `--web` directory
//! that is not there.

mod support;

use std::time::Duration;

use farview_client::{Target, Viewer, ViewerOptions};
use farview_protocol::ClientEvent;
use farview_server::tls::{SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, TlsCertificate};
use support::{FarviewServer, TempDir};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const WAIT: Duration = Duration::from_secs(20);

/// Sends `request` on a new connection and returns all the server answers until it closes.
async fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server should close the connection");
    // Closing with our bytes unread, the server's end resets the connection: closed too.
    match read {
        Err(error) if error.kind() != std::io::ErrorKind::ConnectionReset => {
            panic!("reading the answer: {error}")
        }
        _ => answer,
    }
}

/// Sends `request` on a new connection and goes away without waiting for an answer.
async fn vanish(port: u16, request: &[u8]) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(request).await.unwrap();
}

const UPGRADE: &[u8] = b"GET /websockify HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n";

/// Waits until the server's log has a line with every one of `parts`.
fn wait_for_log_line(server: &FarviewServer, parts: &[&str]) {
    support::poll(
        &format!("a server log line with {parts:?}"),
        WAIT,
        Duration::from_millis(50),
        || {
            let log = server.process.stderr();
            match log
                .lines()
                .any(|line| parts.iter().all(|part| line.contains(part)))
            {
                true => Ok(()),
                false => Err("not yet".to_string()),
            }
        },
        || server.process.logs(),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_browser_input_is_refused_and_other_viewers_go_on() {
    let dir = TempDir::new("browser-bad-input");
    let web = dir.path().join("web");
    std::fs::create_dir(&web).unwrap();
    std::fs::write(web.join("index.html"), "<p>farview</p>").unwrap();
    let web = web.display().to_string();
    let server = FarviewServer::with_source(&dir, "demo", &["--web", &web], "debug");
    let target = Target {
        host: "127.0.0.1".into(),
        port: server.port,
    };
    let mut viewer = Viewer::connect(&target, &ViewerOptions::default())
        .await
        .unwrap();
    viewer
        .wait_for(WAIT, |event, _| {
            matches!(event, ClientEvent::UpdateComplete { .. })
        })
        .await
        .unwrap();

    // A garbage request line: 400, closed.
    let answer = exchange(server.port, b"GET / HTTP/9.9 what\r\n\r\n").await;
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    wait_for_log_line(&server, &["WARN", "bad HTTP request", "closed"]);
    // The page itself is still served.
    let answer = exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(answer.starts_with(b"HTTP/1.1 200 OK\r\n") && answer.ends_with(b"<p>farview</p>"));

    // Bytes of no protocol: closed without a word.
    let answer = exchange(server.port, &[0x00, 0xff, 0x13, 0x37]).await;
    assert!(answer.is_empty(), "{answer:?}");
    wait_for_log_line(
        &server,
        &["first byte 0x00 is not RFB, HTTP or TLS: closed"],
    );

    // A broken WebSocket frame (unmasked, as only servers send): Close 1002 after the
    // server's RFB version, then the connection ends.
    let mut broken = UPGRADE.to_vec();
    broken.extend_from_slice(&[0x82, 0x01, b'x']);
    let answer = exchange(server.port, &broken).await;
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{text}"
    );
    assert!(
        text.contains("Sec-WebSocket-Protocol: binary\r\n"),
        "{text}"
    );
    assert!(
        answer.ends_with(&[0x88, 0x02, 0x03, 0xea]),
        "no Close 1002 at the end: {text}"
    );
    wait_for_log_line(
        &server,
        &["dropped: read failed: WebSocket: unmasked frame"],
    );

    // Clients that vanish: inside the request head, and inside a WebSocket frame.
    vanish(server.port, b"GET /index.html HT").await;
    wait_for_log_line(
        &server,
        &["closed before the end of its HTTP request: closed"],
    );
    let mut vanishing = UPGRADE.to_vec();
    vanishing.extend_from_slice(&[0x82, 0xfe, 0x10]);
    vanish(server.port, &vanishing).await;
    let websocket_viewers = || -> Vec<String> {
        let log = server.process.stderr();
        log.lines()
            .filter(|line| line.contains(") over WebSocket (/websockify, subprotocol binary)"))
            .filter_map(|line| Some(line.split("viewer ").nth(1)?.split(' ').next()?.to_string()))
            .collect()
    };
    let vanished = support::poll(
        "the second WebSocket viewer",
        WAIT,
        Duration::from_millis(50),
        || {
            websocket_viewers()
                .get(1)
                .cloned()
                .ok_or_else(|| "not yet".to_string())
        },
        || server.process.logs(),
    );
    let vanished = format!("viewer {vanished} (");
    // Gone with the server's version unread, the client's end resets the connection: the
    // session ends on EOF, a reset or a broken pipe, whichever the server meets first.
    support::poll(
        "the vanished WebSocket viewer's end in the log",
        WAIT,
        Duration::from_millis(50),
        || {
            let log = server.process.stderr();
            let ended = log.lines().any(|line| {
                line.contains(&vanished)
                    && (line.contains(") disconnected: ") || line.contains(") dropped: "))
            });
            if ended {
                Ok(())
            } else {
                Err("not yet".to_string())
            }
        },
        || server.process.logs(),
    );

    // The viewer connected all along still works: its keys reach the demo's text box.
    for keysym in [u32::from(b'o'), u32::from(b'k')] {
        viewer.key_event(true, keysym);
        viewer.key_event(false, keysym);
    }
    viewer
        .wait_for(
            WAIT,
            |event, _| matches!(event, ClientEvent::CutText(text) if text == "ok"),
        )
        .await
        .unwrap();
    assert!(
        server.process.exited().is_none(),
        "{}",
        server.process.logs()
    );
    let log = server.process.stderr();
    assert!(!log.contains("panicked"), "{log}");
}

#[tokio::test]
async fn without_websocket_a_browser_gets_rfb_and_a_missing_web_dir_is_an_error() {
    let dir = TempDir::new("browser-no-websocket");
    let server = FarviewServer::with_source(&dir, "demo", &["--no-websocket"], "info");
    // A request sent at once is taken for an RFB viewer's version, not answered as HTTP.
    let mut stream = TcpStream::connect(("127.0.0.1", server.port))
        .await
        .unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n\r\n").await.unwrap();
    wait_for_log_line(&server, &["unsupported protocol version \"GET / HTTP/1\""]);
    assert!(!server.process.stderr().contains("web 127.0.0.1"));

    let missing = dir.path().join("no-such-dir");
    let output = support::run(
        support::farview()
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--source",
                "demo",
                "--web",
            ])
            .arg(&missing),
        WAIT,
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("web client directory") && stderr.contains("no-such-dir"),
        "{stderr}"
    );
}

#[tokio::test]
async fn a_broken_tls_hello_is_refused_with_and_without_a_certificate() {
    let dir = TempDir::new("browser-bad-tls");
    let folder = dir.join("certificate");
    farview_server::tls::server_config(&TlsCertificate::SelfSigned {
        dir: folder.clone(),
    })
    .unwrap_or_else(|e| panic!("certificate: {e}"));
    let cert = folder.join(SELF_SIGNED_CERT_FILE).display().to_string();
    let key = folder.join(SELF_SIGNED_KEY_FILE).display().to_string();
    // A handshake record whose body is no ClientHello.
    let broken = [0x16, 0x03, 0x01, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef];

    let with_tls = FarviewServer::with_source(
        &dir,
        "demo",
        &["--tls-cert", &cert, "--tls-key", &key],
        "info",
    );
    let answer = exchange(with_tls.port, &broken).await;
    assert!(!answer.starts_with(b"RFB"), "{answer:?}");
    wait_for_log_line(&with_tls, &["WARN", "TLS handshake failed", "closed"]);

    let without = FarviewServer::with_source(&dir, "demo", &[], "info");
    let answer = exchange(without.port, &broken).await;
    assert!(answer.is_empty(), "{answer:?}");
    wait_for_log_line(
        &without,
        &["TLS from the first byte, but no certificate is set: closed"],
    );
    assert!(with_tls.process.exited().is_none() && without.process.exited().is_none());
}
