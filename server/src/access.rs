//! Who may connect, and the I/O of security: each viewer's protocol settings (TLS, password,
//! Plain users, a refusal for an address that guessed too often), the TLS handshake that
//! VeNCrypt asks for, and the checks of Plain credentials and their failures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use farview_protocol::ServerConfig;
use farview_protocol::security::plain::PlainCredentials;
use farview_protocol::security::vencrypt::names;
use farview_protocol::security::vnc_auth;
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};

use crate::auth_backoff::AuthBackoff;
use crate::plain_users::PlainUsers;
use crate::server::ServerOptions;
use crate::session::ViewerStream;

/// How long a viewer may take over its TLS handshake.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a viewer's RFB runs over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// TCP, or WebSocket over TCP: VeNCrypt brings TLS when there is a certificate.
    Plain,
    /// Already inside TLS (a browser's wss): no VeNCrypt inside it.
    Encrypted,
}

#[derive(Debug)]
pub(crate) struct Access {
    password: Option<Vec<u8>>,
    view_only_password: Option<Vec<u8>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    plain_users: Option<Arc<PlainUsers>>,
    backoff: AuthBackoff,
}

impl Access {
    pub(crate) fn new(options: &ServerOptions) -> Self {
        Self {
            password: options.password.clone(),
            view_only_password: options.view_only_password.clone(),
            tls: options.tls.clone(),
            plain_users: options.plain_users.clone(),
            backoff: AuthBackoff::default(),
        }
    }

    /// The protocol settings for a viewer from `peer` over `transport`: a fresh challenge,
    /// and a refusal if the address is blocked.
    pub(crate) fn config_for(&self, peer: SocketAddr, transport: Transport) -> ServerConfig {
        let refusal = self
            .backoff
            .blocked_for(peer.ip(), Instant::now())
            .map(|left| {
                format!(
                    "too many authentication failures from {}: try again in {} s",
                    peer.ip(),
                    left.as_secs().max(1)
                )
            });
        let config = ServerConfig {
            refusal,
            ..self.config(random_challenge())
        };
        match transport {
            Transport::Plain => config,
            // TLS is there already; what it protects is the VNC password, or nothing (as
            // X509None). Plain users need VeNCrypt's X509Plain, which browsers cannot speak.
            Transport::Encrypted => ServerConfig {
                refusal: config.refusal.or_else(|| {
                    (self.plain_users.is_some() && self.password.is_none()).then(|| {
                        "this server takes usernames and passwords (X509Plain), which                          WebSocket viewers cannot send"
                            .to_string()
                    })
                }),
                tls: false,
                plain_users: false,
                ..config
            },
        }
    }

    fn config(&self, challenge: [u8; vnc_auth::CHALLENGE_LEN]) -> ServerConfig {
        ServerConfig {
            view_only_password: self.view_only_password.clone(),
            tls: self.tls.is_some(),
            plain_users: self.plain_users.is_some(),
            ..ServerConfig::new(self.password.clone(), challenge)
        }
    }

    /// What viewers must do, for the log.
    pub(crate) fn describe(&self) -> String {
        let view_only = if self.view_only_password.is_some() {
            ", view-only password taken"
        } else {
            ""
        };
        if self.tls.is_some() {
            let config = self.config([0; vnc_auth::CHALLENGE_LEN]);
            format!(
                "TLS (VeNCrypt {}){view_only}",
                names(&config.vencrypt_subtypes())
            )
        } else if self.password.is_some() {
            format!("VNC password{view_only}")
        } else if self.view_only_password.is_some() {
            "view-only VNC password".into()
        } else {
            "no authentication".into()
        }
    }

    /// Whether there is a certificate (TLS: VeNCrypt, https and wss).
    pub(crate) fn has_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Runs the TLS handshake as the server over `stream`.
    pub(crate) async fn start_tls(
        &self,
        stream: Box<dyn ViewerStream>,
    ) -> Result<Box<dyn ViewerStream>, String> {
        let Some(config) = &self.tls else {
            return Err("TLS asked for without a certificate".into());
        };
        let acceptor = TlsAcceptor::from(config.clone());
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let (_, session) = tls.get_ref();
                debug!(
                    "TLS {:?} with {:?}",
                    session.protocol_version(),
                    session.negotiated_cipher_suite().map(|s| s.suite())
                );
                Ok(Box::new(tls))
            }
            Ok(Err(error)) => Err(format!("TLS handshake failed: {error}")),
            Err(_) => Err(format!(
                "TLS handshake not done after {} s",
                TLS_HANDSHAKE_TIMEOUT.as_secs()
            )),
        }
    }

    /// Checks Plain credentials (slow on purpose: off the async threads).
    pub(crate) async fn check(&self, credentials: PlainCredentials) -> bool {
        let Some(users) = self.plain_users.clone() else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            users.verify(&credentials.username, &credentials.password)
        })
        .await
        .unwrap_or(false)
    }

    /// Logs a failed authentication and counts it against the address.
    pub(crate) fn failed(&self, id: u64, peer: SocketAddr, reason: &str) {
        match self.backoff.failed(peer.ip(), Instant::now()) {
            Some(block) => warn!(
                "viewer {id} ({peer}): {reason}; {} blocked for {} s after repeated failures",
                peer.ip(),
                block.as_secs()
            ),
            None => warn!("viewer {id} ({peer}): {reason}"),
        }
    }

    /// The viewer got through security: its address starts afresh.
    pub(crate) fn succeeded(&self, peer: SocketAddr) {
        self.backoff.succeeded(peer.ip());
    }
}

fn random_challenge() -> [u8; vnc_auth::CHALLENGE_LEN] {
    let mut challenge = [0u8; vnc_auth::CHALLENGE_LEN];
    // Without the OS's randomness there is no safe challenge; that is not recoverable.
    getrandom::fill(&mut challenge).expect("the operating system's random source failed");
    challenge
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn access(password: bool, tls: bool, plain_users: bool) -> Access {
        // Tests run in parallel: a folder each.
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let folder = format!("farview-access-{}-{n}", std::process::id());
        let certificate = std::env::temp_dir().join(folder);
        let users_file = certificate.join("users");
        let tls = tls.then(|| {
            crate::tls::server_config(&crate::tls::TlsCertificate::SelfSigned {
                dir: certificate.clone(),
            })
            .unwrap()
            .config
        });
        let plain_users = plain_users.then(|| {
            std::fs::create_dir_all(&certificate).unwrap();
            crate::plain_users::set_password(&users_file, "ada", b"pw").unwrap();
            Arc::new(PlainUsers::load(&users_file).unwrap())
        });
        let access = Access::new(&ServerOptions {
            password: password.then(|| b"secret".to_vec()),
            tls,
            plain_users,
            ..ServerOptions::default()
        });
        let _ = std::fs::remove_dir_all(&certificate);
        access
    }

    const PEER: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);

    #[test]
    fn inside_wss_there_is_no_second_tls() {
        let config = access(true, true, false).config_for(PEER, Transport::Encrypted);
        assert!(!config.tls && config.password.is_some() && config.refusal.is_none());
        let config = access(false, true, false).config_for(PEER, Transport::Encrypted);
        assert!(!config.tls && config.password.is_none() && config.refusal.is_none());
        // Over plain TCP or ws, a certificate means VeNCrypt.
        assert!(
            access(false, true, false)
                .config_for(PEER, Transport::Plain)
                .tls
        );
    }

    #[test]
    fn inside_wss_plain_users_without_a_password_are_refused_not_let_in() {
        let config = access(false, true, true).config_for(PEER, Transport::Encrypted);
        assert!(
            config
                .refusal
                .is_some_and(|reason| reason.contains("X509Plain"))
        );
        let config = access(true, true, true).config_for(PEER, Transport::Encrypted);
        assert!(config.refusal.is_none() && config.password.is_some() && !config.plain_users);
    }
}
