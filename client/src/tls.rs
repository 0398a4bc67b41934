//! The viewer's TLS (for VeNCrypt): runs the handshake over the stream to the server and
//! decides whether to trust its certificate.
//!
//! Trust, in order: a pinned SHA-256 fingerprint (`--tls-fingerprint`), if given, is the only
//! certificate accepted. Otherwise a certificate that the system's roots vouch for, for the
//! server's name, is accepted. Otherwise trust on first use: the known-servers file remembers
//! each server's certificate fingerprint; the first one seen is remembered once the handshake
//! has proven the server holds its key, and a different one later is refused.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use farview_protocol::security::certificate_fingerprint;
use rustls::DigitallySignedStruct;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;
use tracing::{debug, info, warn};

use crate::target::Target;
use crate::viewer::ServerStream;

/// How the viewer decides to trust a server's certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsTrust {
    /// Accept only the certificate with this SHA-256 fingerprint (hex).
    pub fingerprint: Option<String>,
    /// The known-servers file for trust on first use; without it, a certificate the system
    /// roots do not vouch for is refused.
    pub known_servers: Option<PathBuf>,
}

impl TlsTrust {
    /// Whether `server` must speak TLS: its certificate is pinned, or was seen before (a
    /// server without TLS then is not the one we know, or someone stripped TLS away).
    pub fn requires_tls(&self, server: &Target) -> bool {
        self.fingerprint.is_some()
            || self
                .known_servers
                .as_deref()
                .is_some_and(|path| matches!(known_fingerprint(path, server), Ok(Some(_))))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{0}")]
    Untrusted(String),
    #[error("TLS handshake with {server} failed: {cause}")]
    Handshake {
        server: Target,
        cause: std::io::Error,
    },
    #[error("known-servers file {path}: {cause}")]
    KnownServers {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("invalid server name for TLS: {0}")]
    ServerName(String),
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Normalises a fingerprint as typed (any case, with or without colons); `None` unless it is
/// 64 hex digits.
pub fn parse_fingerprint(text: &str) -> Option<String> {
    let hex: String = text
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit())).then_some(hex)
}

/// Runs TLS as the client over `stream` to `server`, checking its certificate by `trust`.
pub async fn connect(
    stream: Box<dyn ServerStream>,
    server: &Target,
    trust: &TlsTrust,
) -> Result<Box<dyn ServerStream>, TlsError> {
    Ok(Box::new(handshake(stream, server, trust).await?))
}

/// [`connect`], and the session's keying material exported under `label` (RFC 8446
/// section 7.5): 32 bytes both ends of this TLS session can compute and nobody else can,
/// to bind a proof made inside it to it.
pub async fn connect_bound(
    stream: Box<dyn ServerStream>,
    server: &Target,
    trust: &TlsTrust,
    label: &[u8],
) -> Result<(Box<dyn ServerStream>, [u8; 32]), TlsError> {
    let tls = handshake(stream, server, trust).await?;
    let binding = tls
        .get_ref()
        .1
        .export_keying_material([0u8; 32], label, None)
        .map_err(TlsError::Config)?;
    Ok((Box::new(tls), binding))
}

async fn handshake(
    stream: Box<dyn ServerStream>,
    server: &Target,
    trust: &TlsTrust,
) -> Result<tokio_rustls::client::TlsStream<Box<dyn ServerStream>>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(TrustVerifier::new(server, trust, provider.clone())?);
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier.clone())
        .with_no_client_auth();
    let name = ServerName::try_from(server.host.clone())
        .map_err(|_| TlsError::ServerName(server.host.clone()))?;
    let connected = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await;
    let verdict = verifier.take_verdict();
    let tls = match (connected, verdict) {
        (Ok(tls), verdict) => {
            if let Some(Verdict::FirstSeen(fingerprint)) = verdict {
                remember(server, trust, &fingerprint)?;
            }
            tls
        }
        (Err(_), Some(Verdict::Refused(reason))) => return Err(TlsError::Untrusted(reason)),
        (Err(cause), _) => {
            return Err(TlsError::Handshake {
                server: server.clone(),
                cause,
            });
        }
    };
    let (_, session) = tls.get_ref();
    debug!(
        "TLS {:?} with {:?}",
        session.protocol_version(),
        session.negotiated_cipher_suite().map(|s| s.suite())
    );
    Ok(tls)
}

/// Writes a first-seen certificate into the known-servers file.
fn remember(server: &Target, trust: &TlsTrust, fingerprint: &str) -> Result<(), TlsError> {
    let Some(path) = &trust.known_servers else {
        return Ok(());
    };
    let error = |cause| TlsError::KnownServers {
        path: path.clone(),
        cause,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(error)?;
    writeln!(file, "{server} {fingerprint}").map_err(error)?;
    warn!(
        "first connection to {server}: trusting its certificate, SHA-256 {fingerprint} \
         (remembered in {})",
        path.display()
    );
    Ok(())
}

/// The fingerprint remembered for `server` in the known-servers file, if any.
fn known_fingerprint(path: &Path, server: &Target) -> Result<Option<String>, std::io::Error> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error),
    };
    let key = server.to_string();
    Ok(text
        .lines()
        .filter_map(|line| line.split_once(' '))
        .find(|(name, _)| *name == key)
        .map(|(_, fingerprint)| fingerprint.trim().to_string()))
}

/// What the verifier decided beyond a plain yes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    /// Trusted on first use: remember it once the handshake succeeds.
    FirstSeen(String),
    /// Refused, with the reason for the user.
    Refused(String),
}

#[derive(Debug)]
struct TrustVerifier {
    server: Target,
    pinned: Option<String>,
    roots: Option<Arc<WebPkiServerVerifier>>,
    known_servers: Option<PathBuf>,
    known: Option<String>,
    provider: Arc<CryptoProvider>,
    verdict: Mutex<Option<Verdict>>,
}

impl TrustVerifier {
    fn new(
        server: &Target,
        trust: &TlsTrust,
        provider: Arc<CryptoProvider>,
    ) -> Result<Self, TlsError> {
        let known = match &trust.known_servers {
            Some(path) => {
                known_fingerprint(path, server).map_err(|cause| TlsError::KnownServers {
                    path: path.clone(),
                    cause,
                })?
            }
            None => None,
        };
        Ok(Self {
            server: server.clone(),
            pinned: trust.fingerprint.clone(),
            roots: if trust.fingerprint.is_some() {
                None
            } else {
                system_roots(provider.clone())
            },
            known_servers: trust.known_servers.clone(),
            known,
            provider,
            verdict: Mutex::new(None),
        })
    }

    fn take_verdict(&self) -> Option<Verdict> {
        self.verdict
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    fn refuse(&self, reason: String) -> Result<ServerCertVerified, rustls::Error> {
        *self
            .verdict
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Verdict::Refused(reason));
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::ApplicationVerificationFailure,
        ))
    }
}

/// A verifier of the system's root certificates, if there are any.
fn system_roots(provider: Arc<CryptoProvider>) -> Option<Arc<WebPkiServerVerifier>> {
    let loaded = rustls_native_certs::load_native_certs();
    for error in &loaded.errors {
        debug!("system root certificates: {error}");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        return None;
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .ok()
}

impl ServerCertVerifier for TrustVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fingerprint = certificate_fingerprint(end_entity);
        let server = &self.server;
        if let Some(pinned) = &self.pinned {
            if *pinned == fingerprint {
                return Ok(ServerCertVerified::assertion());
            }
            return self.refuse(format!(
                "the certificate of {server} (SHA-256 {fingerprint}) is not the pinned one \
                 ({pinned})"
            ));
        }
        if let Some(roots) = &self.roots {
            match roots.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ) {
                Ok(verified) => {
                    info!("the certificate of {server} is vouched for by the system's roots");
                    return Ok(verified);
                }
                Err(error) => debug!("system roots: {error}"),
            }
        }
        let Some(path) = &self.known_servers else {
            return self.refuse(format!(
                "the certificate of {server} (SHA-256 {fingerprint}) is not vouched for by the \
                 system's roots; pin it with --tls-fingerprint if you trust it"
            ));
        };
        match &self.known {
            Some(known) if *known == fingerprint => {
                debug!("the certificate of {server} is the one remembered");
                Ok(ServerCertVerified::assertion())
            }
            Some(known) => self.refuse(format!(
                "the certificate of {server} has CHANGED: it was SHA-256 {known}, it is now \
                 {fingerprint}. Someone may be intercepting the connection. If the server's \
                 certificate was replaced on purpose, remove the line of {server} from {}",
                path.display()
            )),
            None => {
                *self
                    .verdict
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some(Verdict::FirstSeen(fingerprint));
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            signature,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_as_typed() {
        let hex = "ab".repeat(32);
        assert_eq!(parse_fingerprint(&hex), Some(hex.clone()));
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_fingerprint(&colons), Some(hex));
        assert_eq!(parse_fingerprint("abcd"), None);
        assert_eq!(parse_fingerprint(&"zz".repeat(32)), None);
    }

    #[test]
    fn known_servers_are_found_by_target() {
        let path = std::env::temp_dir().join(format!("farview-known-{}", std::process::id()));
        std::fs::write(&path, "host.example:5900 aaaa\n[::1]:5901 bbbb\n").unwrap();
        let target = |text: &str| text.parse::<Target>().unwrap();
        assert_eq!(
            known_fingerprint(&path, &target("host.example:0")).unwrap(),
            Some("aaaa".into())
        );
        assert_eq!(
            known_fingerprint(&path, &target("[::1]:1")).unwrap(),
            Some("bbbb".into())
        );
        assert_eq!(known_fingerprint(&path, &target("other:0")).unwrap(), None);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            known_fingerprint(&path, &target("host.example:0")).unwrap(),
            None
        );
    }
}
