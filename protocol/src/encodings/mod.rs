//! Encodings (RFC 6143 §7.7), one module each, with encoder and decoder side by side.

pub mod copyrect;
pub mod pseudo;
pub mod raw;
