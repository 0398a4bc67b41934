//! VNC-style targets: `host:N` is display N (port 5900+N), `host::PORT` is a port, a bare
//! `host` is display 0. IPv6 addresses go in brackets: `[::1]:1`, `[::1]::5901`.

use std::fmt;
use std::time::Duration;

use tokio::net::TcpStream;

/// The first port of VNC displays.
pub const DISPLAY_BASE_PORT: u16 = 5900;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid target {0:?}: expected HOST:DISPLAY or HOST::PORT")]
pub struct TargetError(pub String);

impl std::str::FromStr for Target {
    type Err = TargetError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || TargetError(text.to_string());
        let (host, rest) = if let Some(bracketed) = text.strip_prefix('[') {
            let (host, rest) = bracketed.split_once(']').ok_or_else(error)?;
            (host, rest)
        } else {
            match text.find(':') {
                Some(i) => (&text[..i], &text[i..]),
                None => (text, ""),
            }
        };
        let host = if host.is_empty() { "127.0.0.1" } else { host };
        let port = if let Some(port) = rest.strip_prefix("::") {
            port.parse::<u16>().map_err(|_| error())?
        } else if let Some(display) = rest.strip_prefix(':') {
            let display = display.parse::<u16>().map_err(|_| error())?;
            DISPLAY_BASE_PORT.checked_add(display).ok_or_else(error)?
        } else if rest.is_empty() {
            DISPLAY_BASE_PORT
        } else {
            return Err(error());
        };
        Ok(Target {
            host: host.to_string(),
            port,
        })
    }
}

impl Target {
    /// A TCP connection to the target, with Nagle off (RFB's small messages must not wait).
    /// A host that does not answer within `within` (a dropped SYN, a filtered port) is an
    /// error of kind `TimedOut`, where the system would retry for minutes.
    pub async fn dial(&self, within: Duration) -> std::io::Result<TcpStream> {
        let stream =
            tokio::time::timeout(within, TcpStream::connect((self.host.as_str(), self.port)))
                .await
                .map_err(|_| {
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("no answer within {} s", within.as_secs_f64()),
                    )
                })??;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<(String, u16), TargetError> {
        text.parse::<Target>().map(|t| (t.host, t.port))
    }

    #[test]
    fn vnc_target_forms() {
        assert_eq!(parse("example.org:1"), Ok(("example.org".into(), 5901)));
        assert_eq!(parse("127.0.0.1::6000"), Ok(("127.0.0.1".into(), 6000)));
        assert_eq!(parse("host"), Ok(("host".into(), 5900)));
        assert_eq!(parse(":2"), Ok(("127.0.0.1".into(), 5902)));
        assert_eq!(parse("[::1]:3"), Ok(("::1".into(), 5903)));
        assert_eq!(parse("[::1]::7000"), Ok(("::1".into(), 7000)));
        assert!(parse("host:x").is_err());
        assert!(parse("host::99999").is_err());
        assert!(parse("host:65000").is_err());
    }

    #[tokio::test]
    async fn a_host_that_never_answers_is_given_up() {
        // A listener that never accepts: once its queue is full, Linux drops further SYNs
        // and a plain connect would wait for minutes.
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(1).unwrap();
        let target = Target {
            host: "127.0.0.1".into(),
            port: listener.local_addr().unwrap().port(),
        };
        let mut queued = Vec::new();
        let error = loop {
            match target.dial(Duration::from_millis(300)).await {
                Ok(stream) => queued.push(stream),
                Err(error) => break error,
            }
            assert!(queued.len() < 64, "the listener's queue never filled");
        };
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert_eq!(error.to_string(), "no answer within 0.3 s");
    }
}
