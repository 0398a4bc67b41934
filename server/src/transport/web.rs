//! A browser's connection: one HTTP request, answered with a file of the web root or upgraded
//! to a WebSocket that carries RFB. Runs over any byte stream (TCP now, TLS for https/wss).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::http::{self, HttpError, Request, Status};
use super::websocket::{self, HandshakeError};
use super::websocket_stream::WebSocketStream;

/// How long a browser may take to send its whole request head.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long sending one file may take (a browser that stops reading is let go).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("no complete HTTP request within {REQUEST_TIMEOUT:?}")]
    RequestTimeout,
    #[error("closed before the end of its HTTP request")]
    ClosedEarly,
    #[error("bad HTTP request: {0}")]
    Http(#[from] HttpError),
    #[error("refused WebSocket upgrade: {0}")]
    Handshake(#[from] HandshakeError),
    #[error("sending {0} took longer than {RESPONSE_TIMEOUT:?}")]
    ResponseTimeout(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// What a browser's request came to.
#[derive(Debug)]
pub enum Answer<S> {
    /// The request was an accepted WebSocket upgrade: RFB goes over this stream.
    WebSocket {
        stream: WebSocketStream<S>,
        target: String,
        binary_subprotocol: bool,
    },
    /// A file or an error page was sent, and the connection closed.
    Served {
        method: String,
        target: String,
        status: Status,
        bytes: u64,
    },
}

/// Reads one request from `stream` and answers it; `web_root` (canonical) holds the files.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    web_root: Option<&Path>,
) -> Result<Answer<S>, WebError> {
    let mut head = Vec::new();
    let (request, head_len) =
        match tokio::time::timeout(REQUEST_TIMEOUT, read_request(&mut stream, &mut head)).await {
            Err(_) => return Err(WebError::RequestTimeout),
            Ok(Err(WebError::Http(error))) => {
                let response = http::text_response(Status::BadRequest, &[], &error.to_string());
                let _ = stream.write_all(&response).await;
                return Err(error.into());
            }
            Ok(result) => result?,
        };
    if websocket::is_upgrade(&request) {
        return match websocket::accept(&request) {
            Ok(accepted) => {
                stream.write_all(&accepted.response).await?;
                Ok(Answer::WebSocket {
                    stream: WebSocketStream::new(stream, &head[head_len..]),
                    target: request.target,
                    binary_subprotocol: accepted.binary_subprotocol,
                })
            }
            Err(error) => {
                let _ = stream.write_all(&error.response()).await;
                Err(error.into())
            }
        };
    }
    let target = request.target.clone();
    let sent = tokio::time::timeout(
        RESPONSE_TIMEOUT,
        serve_file(&mut stream, &request, web_root),
    )
    .await
    .map_err(|_| WebError::ResponseTimeout(target.clone()))??;
    let _ = stream.shutdown().await;
    Ok(Answer::Served {
        method: request.method,
        target,
        status: sent.0,
        bytes: sent.1,
    })
}

async fn read_request<S: AsyncRead + Unpin>(
    stream: &mut S,
    head: &mut Vec<u8>,
) -> Result<(Request, usize), WebError> {
    loop {
        if let Some(parsed) = Request::parse(head)? {
            return Ok(parsed);
        }
        // Never more than the limit, so a endless head is refused, not buffered.
        let room = http::MAX_HEAD_LEN - head.len();
        let mut chunk = vec![0u8; room.min(4096)];
        let count = stream.read(&mut chunk).await?;
        if count == 0 {
            return Err(WebError::ClosedEarly);
        }
        head.extend_from_slice(&chunk[..count]);
    }
}

/// Sends the file the request names, or an error page; returns the status and body size.
async fn serve_file<S: AsyncWrite + Unpin>(
    stream: &mut S,
    request: &Request,
    web_root: Option<&Path>,
) -> Result<(Status, u64), WebError> {
    let found = match (request.method.as_str(), web_root) {
        ("GET", Some(root)) => match request.relative_path() {
            Ok(relative) => find_file(root, &relative).await,
            Err(_) => Err((Status::BadRequest, "bad path")),
        },
        ("GET", None) => Err((
            Status::NotFound,
            "no web client here (farview serve --web DIR)",
        )),
        _ => Err((Status::MethodNotAllowed, "only GET")),
    };
    let path = match found {
        Ok(path) => path,
        Err((status, text)) => {
            let allow: &[(&str, &str)] = if status == Status::MethodNotAllowed {
                &[("Allow", "GET")]
            } else {
                &[]
            };
            let response = http::text_response(status, allow, text);
            stream.write_all(&response).await?;
            return Ok((status, 0));
        }
    };
    let mut file = tokio::fs::File::open(&path).await?;
    let length = file.metadata().await?.len().to_string();
    let head = http::response_head(
        Status::Ok,
        &[
            ("Content-Type", http::content_type(&path)),
            ("Content-Length", &length),
            ("Cache-Control", "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
        ],
    );
    stream.write_all(&head).await?;
    let bytes = tokio::io::copy(&mut file, stream).await?;
    stream.flush().await?;
    Ok((Status::Ok, bytes))
}

/// The file under `root` at `relative` (a directory's index.html). Symbolic links are followed
/// only while they stay inside the root.
async fn find_file(root: &Path, relative: &Path) -> Result<PathBuf, (Status, &'static str)> {
    let not_found = (Status::NotFound, "not found");
    let mut path = tokio::fs::canonicalize(root.join(relative))
        .await
        .map_err(|_| not_found)?;
    let metadata = tokio::fs::metadata(&path).await.map_err(|_| not_found)?;
    if metadata.is_dir() {
        path = tokio::fs::canonicalize(path.join("index.html"))
            .await
            .map_err(|_| not_found)?;
    }
    if !path.starts_with(root) {
        return Err((Status::Forbidden, "outside the web root"));
    }
    match tokio::fs::metadata(&path).await {
        Ok(metadata) if metadata.is_file() => Ok(path),
        _ => Err(not_found),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A web root with an index, a page in a folder, and a link that leads out of the root.
    struct Root(PathBuf);

    impl Root {
        fn new(label: &str) -> Root {
            let path =
                std::env::temp_dir().join(format!("farview-web-{label}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(path.join("app")).unwrap();
            std::fs::write(path.join("index.html"), "<p>home</p>").unwrap();
            std::fs::write(path.join("app/ui.js"), "export {};").unwrap();
            std::os::unix::fs::symlink("/etc", path.join("outside")).unwrap();
            Root(path.canonicalize().unwrap())
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Sends `request` to [`answer`] and returns what came back, and the outcome.
    async fn ask(
        root: &Root,
        request: &[u8],
    ) -> (String, Result<Answer<tokio::io::DuplexStream>, WebError>) {
        let (server, mut client) = tokio::io::duplex(64 * 1024);
        client.write_all(request).await.unwrap();
        // Then the client sends nothing more.
        client.shutdown().await.unwrap();
        let outcome = answer(server, Some(&root.0)).await;
        let mut received = Vec::new();
        if !matches!(outcome, Ok(Answer::WebSocket { .. })) {
            client.read_to_end(&mut received).await.unwrap();
        }
        (String::from_utf8_lossy(&received).into_owned(), outcome)
    }

    #[tokio::test]
    async fn files_are_served_with_their_type() {
        let root = Root::new("files");
        let (text, _) = ask(&root, b"GET / HTTP/1.1\r\n\r\n").await;
        assert!(
            text.starts_with("HTTP/1.1 200 OK\r\n") && text.ends_with("<p>home</p>"),
            "{text}"
        );
        let (text, _) = ask(&root, b"GET /app/ui.js?x HTTP/1.1\r\n\r\n").await;
        assert!(text.contains("Content-Type: text/javascript"), "{text}");
        assert!(
            text.contains("Content-Length: 10\r\n") && text.ends_with("export {};"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn nothing_outside_the_root_and_only_get() {
        let root = Root::new("refusals");
        for (request, status) in [
            (&b"GET /outside/hostname HTTP/1.1\r\n\r\n"[..], "403"),
            (b"GET /../etc/hostname HTTP/1.1\r\n\r\n", "400"),
            (b"GET /%2e%2e/etc/hostname HTTP/1.1\r\n\r\n", "400"),
            (b"GET /nothing.html HTTP/1.1\r\n\r\n", "404"),
            (b"GET /app HTTP/1.1\r\n\r\n", "404"),
            (b"POST / HTTP/1.1\r\n\r\n", "405"),
        ] {
            let (text, outcome) = ask(&root, request).await;
            assert!(
                text.starts_with(&format!("HTTP/1.1 {status} ")),
                "{request:?}: {text}"
            );
            assert!(matches!(outcome, Ok(Answer::Served { .. })), "{outcome:?}");
        }
    }

    #[tokio::test]
    async fn garbage_is_answered_400_and_reported() {
        let root = Root::new("garbage");
        let (text, outcome) = ask(&root, b"GET / HTTP/1.1\r\nbroken header\r\n\r\n").await;
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{text}");
        assert!(
            matches!(outcome, Err(WebError::Http(HttpError::HeaderLine(_)))),
            "{outcome:?}"
        );
        let (_, outcome) = ask(&root, b"GET / HTTP/1.1\r\n").await;
        assert!(matches!(outcome, Err(WebError::ClosedEarly)), "{outcome:?}");
    }

    #[tokio::test]
    async fn an_upgrade_becomes_a_websocket_with_the_bytes_after_the_head() {
        let root = Root::new("upgrade");
        let mut request =
            b"GET /websockify HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
            Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                .to_vec();
        request.extend(crate::transport::websocket::tests::client_frame(
            true,
            2,
            b"RFB",
            [1, 2, 3, 4],
        ));
        let (_, outcome) = ask(&root, &request).await;
        let Ok(Answer::WebSocket {
            mut stream,
            binary_subprotocol: false,
            ..
        }) = outcome
        else {
            panic!("not upgraded: {outcome:?}");
        };
        let mut early = [0u8; 3];
        stream.read_exact(&mut early).await.unwrap();
        assert_eq!(&early, b"RFB");
    }
}
