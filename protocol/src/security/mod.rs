//! Security types (RFC 6143 §7.1.2, §7.2).

pub mod vnc_auth;

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
