//! The server's TLS: a rustls configuration (ring provider) from a certificate and key in PEM
//! files, or from a self-signed certificate made on first use and kept in a directory (the
//! user's config directory). VeNCrypt runs TLS over the viewer's stream with it; anything else
//! on the same port that needs TLS (WebSocket over TLS) can take the same configuration.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use farview_protocol::security::certificate_fingerprint;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The file names of a self-signed certificate and its key in their directory.
pub const SELF_SIGNED_CERT_FILE: &str = "tls-cert.pem";
pub const SELF_SIGNED_KEY_FILE: &str = "tls-key.pem";

/// Where the server's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsCertificate {
    /// PEM files: the certificate chain (leaf first) and its private key.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate in `dir`, created there on first use.
    SelfSigned { dir: PathBuf },
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {cause}")]
    Pem {
        path: PathBuf,
        cause: rustls::pki_types::pem::Error,
    },
    #[error("{0}: no certificate in the file")]
    NoCertificate(PathBuf),
    #[error("cannot create a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {cause}")]
    Write {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A server TLS configuration and what to tell the user about it.
#[derive(Debug, Clone)]
pub struct TlsServer {
    pub config: Arc<rustls::ServerConfig>,
    /// The SHA-256 fingerprint of the certificate, as viewers pin it.
    pub fingerprint: String,
    /// The certificate's file (viewers that check against a CA file take it).
    pub cert_path: PathBuf,
    /// A self-signed certificate was created just now.
    pub created: bool,
}

/// Builds the rustls server configuration for `certificate`, creating a self-signed
/// certificate first if asked and there is none yet.
///
/// TLS 1.3 session tickets are off: TigerVNC 1.12's vncviewer (GnuTLS) hangs on most
/// handshakes with a server that sends them, and a VNC viewer has no use for resumption.
pub fn server_config(certificate: &TlsCertificate) -> Result<TlsServer, TlsError> {
    let (cert_path, key_path, created) = match certificate {
        TlsCertificate::Files { cert, key } => (cert.clone(), key.clone(), false),
        TlsCertificate::SelfSigned { dir } => {
            let cert = dir.join(SELF_SIGNED_CERT_FILE);
            let key = dir.join(SELF_SIGNED_KEY_FILE);
            let created = !cert.exists() || !key.exists();
            if created {
                create_self_signed(dir, &cert, &key)?;
            }
            (cert, key, created)
        }
    };
    let pem_error = |path: &Path| {
        let path = path.to_path_buf();
        move |cause| TlsError::Pem { path, cause }
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(pem_error(&cert_path))?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::NoCertificate(cert_path));
    };
    let fingerprint = certificate_fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(pem_error(&key_path))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.send_tls13_tickets = 0;
    Ok(TlsServer {
        config: Arc::new(config),
        fingerprint,
        cert_path,
        created,
    })
}

/// Makes a self-signed certificate for this machine's names (localhost, the loopback
/// addresses and the host name) and writes it and its key (readable by the owner only).
fn create_self_signed(dir: &Path, cert_path: &Path, key_path: &Path) -> Result<(), TlsError> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    if let Ok(hostname) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let hostname = hostname.trim();
        if !hostname.is_empty() && hostname != "localhost" {
            names.push(hostname.to_string());
        }
    }
    let certified = rcgen::generate_simple_self_signed(names)?;
    let write = |path: &Path, content: &str, mode: u32| {
        std::fs::create_dir_all(dir)
            .and_then(|()| {
                std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(mode)
                    .open(path)
            })
            .and_then(|mut file| file.write_all(content.as_bytes()))
            .map_err(|cause| TlsError::Write {
                path: path.to_path_buf(),
                cause,
            })
    };
    write(key_path, &certified.signing_key.serialize_pem(), 0o600)?;
    write(cert_path, &certified.cert.pem(), 0o644)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("farview-tls-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn self_signed_is_created_once_and_kept() {
        let dir = temp_dir("self-signed");
        let certificate = TlsCertificate::SelfSigned { dir: dir.clone() };
        let first = server_config(&certificate).unwrap();
        assert!(first.created);
        assert_eq!(first.config.send_tls13_tickets, 0);
        assert_eq!(first.fingerprint.len(), 64);
        let mode = std::fs::metadata(dir.join(SELF_SIGNED_KEY_FILE))
            .unwrap()
            .permissions();
        assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077, 0);
        let second = server_config(&certificate).unwrap();
        assert!(!second.created);
        assert_eq!(first.fingerprint, second.fingerprint);
        // The same files given by name make the same configuration.
        let files = server_config(&TlsCertificate::Files {
            cert: dir.join(SELF_SIGNED_CERT_FILE),
            key: dir.join(SELF_SIGNED_KEY_FILE),
        })
        .unwrap();
        assert_eq!(files.fingerprint, first.fingerprint);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_or_empty_files_are_named() {
        let dir = temp_dir("missing");
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let error = server_config(&TlsCertificate::Files {
            cert: dir.join("absent.pem"),
            key: empty.clone(),
        })
        .unwrap_err();
        assert!(error.to_string().contains("absent.pem"), "{error}");
        let error = server_config(&TlsCertificate::Files {
            cert: empty.clone(),
            key: empty,
        })
        .unwrap_err();
        assert!(error.to_string().contains("no certificate"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
