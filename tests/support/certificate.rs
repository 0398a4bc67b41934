//! Self-signed TLS certificates made by farview's own code, for servers under test (ours with
//! `--tls-cert`, TigerVNC's Xvnc with `-X509Cert`) and for viewers that trust or pin them.

use std::path::PathBuf;

use farview_server::tls::{SELF_SIGNED_CERT_FILE, SELF_SIGNED_KEY_FILE, TlsCertificate};

use super::TempDir;

/// A self-signed certificate in its own folder of a test's directory.
pub struct Certificate {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// SHA-256 of the certificate, hex (what `--tls-fingerprint` takes).
    pub fingerprint: String,
}

impl Certificate {
    pub fn new(dir: &TempDir, name: &str) -> Certificate {
        let folder = dir.join(name);
        let tls = farview_server::tls::server_config(&TlsCertificate::SelfSigned {
            dir: folder.clone(),
        })
        .unwrap_or_else(|e| panic!("certificate {name}: {e}"));
        Certificate {
            cert: folder.join(SELF_SIGNED_CERT_FILE),
            key: folder.join(SELF_SIGNED_KEY_FILE),
            fingerprint: tls.fingerprint,
        }
    }

    /// The `farview serve` arguments for this certificate.
    pub fn serve_args(&self) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.cert.display().to_string(),
            "--tls-key".into(),
            self.key.display().to_string(),
        ]
    }
}
