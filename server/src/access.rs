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

#[derive(Debug)]
pub(crate) struct Access {
    password: Option<Vec<u8>>,
    tls: Option<Arc<rustls::ServerConfig>>,
    plain_users: Option<Arc<PlainUsers>>,
    backoff: AuthBackoff,
}

impl Access {
    pub(crate) fn new(options: &ServerOptions) -> Self {
        Self {
            password: options.password.clone(),
            tls: options.tls.clone(),
            plain_users: options.plain_users.clone(),
            backoff: AuthBackoff::default(),
        }
    }

    /// The protocol settings for a viewer from `peer`: a fresh challenge, and a refusal if
    /// the address is blocked.
    pub(crate) fn config_for(&self, peer: SocketAddr) -> ServerConfig {
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
        ServerConfig {
            refusal,
            ..self.config(random_challenge())
        }
    }

    fn config(&self, challenge: [u8; vnc_auth::CHALLENGE_LEN]) -> ServerConfig {
        ServerConfig {
            tls: self.tls.is_some(),
            plain_users: self.plain_users.is_some(),
            ..ServerConfig::new(self.password.clone(), challenge)
        }
    }

    /// What viewers must do, for the log.
    pub(crate) fn describe(&self) -> String {
        match (&self.tls, &self.password) {
            (Some(_), _) => {
                let config = self.config([0; vnc_auth::CHALLENGE_LEN]);
                format!("TLS (VeNCrypt {})", names(&config.vencrypt_subtypes()))
            }
            (None, Some(_)) => "VNC password".into(),
            (None, None) => "no authentication".into(),
        }
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
