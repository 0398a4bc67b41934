//! How the two ends of a link prove to each other that they hold the same pre-shared key,
//! inside TLS (which already keeps the far side's identity by its pinned certificate):
//!
//! 1. both ends take the same 32 bytes from their TLS session (a keying material exporter,
//!    RFC 8446 section 7.5, with [`BINDING_LABEL`]): fresh for every session, since both
//!    ends' randomness goes into it, and known to nobody outside it;
//! 2. the near side sends a nonce of its own and HMAC-SHA256(key, "near" label, binding,
//!    nonce) (`Auth`) together with its hello, as soon as its TLS handshake is done;
//! 3. the far side checks it, and answers with HMAC-SHA256(key, "far" label, binding,
//!    nonce) before its welcome, which the near side checks.
//!
//! A proof is bound to the TLS session it crossed, so a recorded one is worth nothing in
//! another, and the key itself never crosses the link. Unlike a challenge from the far side,
//! the binding costs no round trip: a link starts (and resumes) one round trip sooner.

use sha2::{Digest, Sha256};

/// Bytes of a nonce, of a session's binding and of a proof.
pub const NONCE_LEN: usize = 32;
pub const BINDING_LEN: usize = 32;
pub const PROOF_LEN: usize = 32;
/// A key file must hold at least this many bytes.
pub const MIN_KEY_LEN: usize = 16;

/// The exporter label of the binding.
pub const BINDING_LABEL: &[u8] = b"EXPORTER-farview-link-auth";
const NEAR_LABEL: &[u8] = b"farview link: near proves the key";
const FAR_LABEL: &[u8] = b"farview link: far proves the key";
const HMAC_BLOCK: usize = 64;

/// The shared key, from a key file.
#[derive(Clone)]
pub struct LinkKey(Vec<u8>);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a link key must be at least {MIN_KEY_LEN} bytes (this one has {0})")]
pub struct KeyTooShort(pub usize);

impl LinkKey {
    /// The key in a key file's contents: the whole file, less trailing line breaks.
    pub fn from_file_contents(contents: &[u8]) -> Result<LinkKey, KeyTooShort> {
        let mut key = contents.to_vec();
        while key.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            key.pop();
        }
        if key.len() < MIN_KEY_LEN {
            return Err(KeyTooShort(key.len()));
        }
        Ok(LinkKey(key))
    }

    /// The near side's proof for the TLS session's `binding` and its own `nonce`.
    pub fn near_proof(
        &self,
        binding: &[u8; BINDING_LEN],
        nonce: &[u8; NONCE_LEN],
    ) -> [u8; PROOF_LEN] {
        self.hmac(&[NEAR_LABEL, binding, nonce])
    }

    /// The far side's proof, over the same binding and nonce.
    pub fn far_proof(
        &self,
        binding: &[u8; BINDING_LEN],
        nonce: &[u8; NONCE_LEN],
    ) -> [u8; PROOF_LEN] {
        self.hmac(&[FAR_LABEL, binding, nonce])
    }

    /// HMAC-SHA256 (RFC 2104) of the concatenated `parts`.
    fn hmac(&self, parts: &[&[u8]]) -> [u8; PROOF_LEN] {
        let mut block = [0u8; HMAC_BLOCK];
        if self.0.len() > HMAC_BLOCK {
            block[..32].copy_from_slice(&Sha256::digest(&self.0));
        } else {
            block[..self.0.len()].copy_from_slice(&self.0);
        }
        let mut inner = Sha256::new();
        inner.update(block.map(|b| b ^ 0x36));
        for part in parts {
            inner.update(part);
        }
        let mut outer = Sha256::new();
        outer.update(block.map(|b| b ^ 0x5c));
        outer.update(inner.finalize());
        outer.finalize().into()
    }
}

/// Compares proofs in time that does not depend on where they differ.
pub fn proofs_match(a: &[u8; PROOF_LEN], b: &[u8; PROOF_LEN]) -> bool {
    a.iter().zip(b).fold(0u8, |diff, (x, y)| diff | (x ^ y)) == 0
}

/// A fresh random nonce.
pub fn nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    // Without the OS's randomness there is no safe nonce; that is not recoverable.
    getrandom::fill(&mut nonce).expect("the operating system's random source failed");
    nonce
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 4231, test case 2 (a short key) and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_the_rfc_4231_vectors() {
        let key = LinkKey(b"Jefe".to_vec());
        assert_eq!(
            hex(&key.hmac(&[b"what do ya want ", b"for nothing?"])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let key = LinkKey(vec![0xaa; 131]);
        assert_eq!(
            hex(&key.hmac(&[b"Test Using Larger Than Block-Size Key - Hash Key First"])),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn proofs_differ_by_side_key_session_and_nonce() {
        let key = LinkKey::from_file_contents(b"a shared secret of some length\n").unwrap();
        let other = LinkKey::from_file_contents(b"another secret, just as long\n").unwrap();
        let (binding, nonce) = ([1u8; BINDING_LEN], [2u8; NONCE_LEN]);
        let proof = key.near_proof(&binding, &nonce);
        assert!(proofs_match(&proof, &key.near_proof(&binding, &nonce)));
        assert!(!proofs_match(&proof, &key.far_proof(&binding, &nonce)));
        assert!(!proofs_match(&proof, &other.near_proof(&binding, &nonce)));
        // Another TLS session, or another nonce.
        assert!(!proofs_match(
            &proof,
            &key.near_proof(&[3u8; BINDING_LEN], &nonce)
        ));
        assert!(!proofs_match(
            &proof,
            &key.near_proof(&binding, &[3u8; NONCE_LEN])
        ));
    }

    #[test]
    fn short_keys_are_refused() {
        assert_eq!(
            LinkKey::from_file_contents(b"short\n").unwrap_err(),
            KeyTooShort(5)
        );
    }
}
