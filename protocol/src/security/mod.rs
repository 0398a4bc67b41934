//! Security types (RFC 6143 §7.1.2, §7.2), and the certificate fingerprints both sides of
//! VeNCrypt show and compare.

pub mod plain;
pub mod vencrypt;
pub mod vnc_auth;

use sha2::{Digest, Sha256};

/// The SHA-256 of a certificate (its DER bytes) as 64 lowercase hex digits: what the server
/// prints and the viewer pins.
pub fn certificate_fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A security type number. Open: unknown numbers from a peer survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecurityType(pub u8);

impl SecurityType {
    pub const INVALID: Self = Self(0);
    pub const NONE: Self = Self(1);
    pub const VNC_AUTH: Self = Self(2);
    pub const VENCRYPT: Self = Self(19);
}

impl std::fmt::Display for SecurityType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::NONE => write!(f, "None"),
            Self::VNC_AUTH => write!(f, "VNC Authentication"),
            Self::VENCRYPT => write!(f, "VeNCrypt"),
            Self(n) => write!(f, "security type {n}"),
        }
    }
}
