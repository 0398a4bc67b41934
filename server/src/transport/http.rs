//! The little HTTP/1.1 a browser needs from us (RFC 9112): one request head parsed from bytes,
//! answer heads written into bytes, and a request target turned into a safe relative path.
//! No I/O here: [`super::web`] reads and writes.

use std::fmt::Write as _;
use std::path::PathBuf;

/// The longest request head (request line and headers) we read before refusing it.
pub const MAX_HEAD_LEN: usize = 8 * 1024;
/// The most header fields a request may have.
pub const MAX_HEADERS: usize = 64;

const HEAD_END: &[u8] = b"\r\n\r\n";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpError {
    #[error("request head longer than {MAX_HEAD_LEN} bytes")]
    HeadTooLong,
    #[error("request head is not UTF-8")]
    NotText,
    #[error("bad request line {0:?}")]
    RequestLine(String),
    #[error("unsupported HTTP version {0:?}")]
    Version(String),
    #[error("bad header line {0:?}")]
    HeaderLine(String),
    #[error("more than {MAX_HEADERS} header fields")]
    TooManyHeaders,
    #[error("bad request target {0:?}")]
    Target(String),
}

/// A parsed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target as sent (origin form: a path and maybe a query).
    pub target: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// Parses a request head from the start of `input`: `Ok(None)` until the blank line that
    /// ends it has arrived, else the request and the length of its head.
    pub fn parse(input: &[u8]) -> Result<Option<(Request, usize)>, HttpError> {
        let Some(end) = input.windows(HEAD_END.len()).position(|w| w == HEAD_END) else {
            return if input.len() >= MAX_HEAD_LEN {
                Err(HttpError::HeadTooLong)
            } else {
                Ok(None)
            };
        };
        let head_len = end + HEAD_END.len();
        if head_len > MAX_HEAD_LEN {
            return Err(HttpError::HeadTooLong);
        }
        let text = std::str::from_utf8(&input[..end]).map_err(|_| HttpError::NotText)?;
        let mut lines = text.split("\r\n");
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(HttpError::RequestLine(request_line.into()));
        };
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(HttpError::RequestLine(request_line.into()));
        }
        if !target.starts_with('/') && target != "*" {
            return Err(HttpError::Target(target.into()));
        }
        if version != "HTTP/1.1" && version != "HTTP/1.0" {
            return Err(HttpError::Version(version.into()));
        }
        let mut headers = Vec::new();
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                return Err(HttpError::HeaderLine(line.into()));
            };
            // No space before the colon (RFC 9112, 5.1), and no obsolete line folding.
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c.is_control()) {
                return Err(HttpError::HeaderLine(line.into()));
            }
            if headers.len() == MAX_HEADERS {
                return Err(HttpError::TooManyHeaders);
            }
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        let request = Request {
            method: method.into(),
            target: target.into(),
            headers,
        };
        Ok(Some((request, head_len)))
    }

    /// The value of header `name` (any case); repeated fields are joined with commas.
    pub fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// Whether the comma list of header `name` holds `token` (any case).
    pub fn header_has_token(&self, name: &str, token: &str) -> bool {
        self.header(name).is_some_and(|value| {
            value
                .split(',')
                .any(|item| item.trim().eq_ignore_ascii_case(token))
        })
    }

    /// The path of the target as components relative to the web root, percent-decoded.
    /// Refuses anything that could leave the root: `..`, a `\`, a NUL, a bad escape.
    pub fn relative_path(&self) -> Result<PathBuf, HttpError> {
        let refuse = || HttpError::Target(self.target.clone());
        let path = self.target.split(['?', '#']).next().unwrap_or_default();
        let decoded = percent_decode(path).ok_or_else(refuse)?;
        let decoded = String::from_utf8(decoded).map_err(|_| refuse())?;
        let mut relative = PathBuf::new();
        for component in decoded.split('/') {
            match component {
                "" | "." => {}
                ".." => return Err(refuse()),
                _ if component.contains(['\\', '\0']) => return Err(refuse()),
                _ => relative.push(component),
            }
        }
        Ok(relative)
    }
}

fn percent_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    Some(decoded)
}

/// The answers we give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    SwitchingProtocols,
    Ok,
    BadRequest,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    UpgradeRequired,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::SwitchingProtocols => 101,
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::Forbidden => 403,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::UpgradeRequired => 426,
        }
    }

    fn reason(self) -> &'static str {
        match self {
            Status::SwitchingProtocols => "Switching Protocols",
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::UpgradeRequired => "Upgrade Required",
        }
    }
}

/// A response head with `headers`; every answer but the upgrade closes the connection.
pub fn response_head(status: Status, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", status.code(), status.reason());
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    if status != Status::SwitchingProtocols {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

/// A short plain-text answer (an error), head and body.
pub fn text_response(status: Status, headers: &[(&str, &str)], text: &str) -> Vec<u8> {
    let body = format!("{} {}\n", status.code(), text);
    let length = body.len().to_string();
    let mut all = headers.to_vec();
    all.extend([
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", length.as_str()),
    ]);
    let mut response = response_head(status, &all);
    response.extend_from_slice(body.as_bytes());
    response
}

/// The content type of a file, by its extension.
pub fn content_type(path: &std::path::Path) -> &'static str {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPGRADE: &[u8] = b"GET /websockify?x=1 HTTP/1.1\r\nHost: localhost:5900\r\n\
        Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
        Sec-WebSocket-Protocol: chat\r\nsec-websocket-protocol: binary\r\n\r\nFRAME";

    #[test]
    fn parses_a_websocket_upgrade_head() {
        let (request, used) = Request::parse(UPGRADE).unwrap().unwrap();
        assert_eq!(used, UPGRADE.len() - b"FRAME".len());
        assert_eq!(request.method, "GET");
        assert_eq!(request.target, "/websockify?x=1");
        assert_eq!(request.header("host").as_deref(), Some("localhost:5900"));
        assert_eq!(
            request.header("SEC-WEBSOCKET-PROTOCOL").as_deref(),
            Some("chat, binary")
        );
        assert!(request.header_has_token("connection", "upgrade"));
        assert!(request.header_has_token("sec-websocket-protocol", "binary"));
        assert!(!request.header_has_token("connection", "close"));
    }

    #[test]
    fn split_feeding_waits_then_gives_the_same_request() {
        let whole = Request::parse(UPGRADE).unwrap();
        let head_len = whole.as_ref().unwrap().1;
        for cut in 0..head_len {
            assert_eq!(Request::parse(&UPGRADE[..cut]), Ok(None), "cut at {cut}");
        }
        for cut in head_len..=UPGRADE.len() {
            assert_eq!(
                Request::parse(&UPGRADE[..cut]),
                Ok(whole.clone()),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn garbage_heads_are_refused() {
        let refused: &[&[u8]] = &[
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1 extra\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET nothing HTTP/1.1\r\n\r\n",
            b"get / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo colon here\r\n\r\n",
            b"GET / HTTP/1.1\r\nName : value\r\n\r\n",
            b"GET / HTTP/1.1\r\n folded\r\n\r\n",
            b"GET /\xff HTTP/1.1\r\n\r\n",
        ];
        for head in refused {
            assert!(Request::parse(head).is_err(), "{head:?}");
        }
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(Request::parse(&many), Err(HttpError::TooManyHeaders));
        assert_eq!(
            Request::parse(&vec![b'A'; MAX_HEAD_LEN]),
            Err(HttpError::HeadTooLong)
        );
    }

    fn path_of(target: &str) -> Result<PathBuf, HttpError> {
        let head = format!("GET {target} HTTP/1.1\r\n\r\n");
        Request::parse(head.as_bytes())
            .unwrap()
            .unwrap()
            .0
            .relative_path()
    }

    #[test]
    fn targets_become_paths_inside_the_root() {
        assert_eq!(path_of("/"), Ok(PathBuf::new()));
        assert_eq!(path_of("/app/ui.js?v=2"), Ok(PathBuf::from("app/ui.js")));
        assert_eq!(
            path_of("//a/./b%20c.html#top"),
            Ok(PathBuf::from("a/b c.html"))
        );
        for escape in [
            "/../etc/passwd",
            "/a/%2e%2e/%2e%2e/x",
            "/a%2f..%2f..",
            "/x%5c..",
            "/%00",
            "/%zz",
            "/%4",
        ] {
            assert!(path_of(escape).is_err(), "{escape}");
        }
    }

    #[test]
    fn answers_have_status_length_and_close() {
        let answer = String::from_utf8(text_response(Status::NotFound, &[], "not found")).unwrap();
        assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
        assert!(answer.contains("Content-Length: 14\r\n"), "{answer}");
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n404 not found\n"), "{answer}");
        assert_eq!(
            content_type(std::path::Path::new("a/B.JS")),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type(std::path::Path::new("icon.ico")),
            "image/x-icon"
        );
    }
}
