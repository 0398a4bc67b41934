//! VNC Authentication (RFC 6143 §7.2.2): DES challenge-response.
//!
//! The password, truncated or zero-padded to 8 bytes, is the DES key, with the bits of each
//! byte reversed (a quirk of the original implementation that every peer follows). The
//! 16-byte challenge is encrypted as two independent 8-byte blocks (ECB).

use des::Des;
use des::cipher::{BlockCipherEncrypt, KeyInit};

pub const CHALLENGE_LEN: usize = 16;
/// Only this many bytes of a password count.
pub const PASSWORD_LEN: usize = 8;

/// The response a viewer sends for `challenge` with `password`.
pub fn response(password: &[u8], challenge: &[u8; CHALLENGE_LEN]) -> [u8; CHALLENGE_LEN] {
    let mut key = [0u8; PASSWORD_LEN];
    for (k, &p) in key.iter_mut().zip(password) {
        *k = p.reverse_bits();
    }
    let cipher = Des::new(&key.into());
    let mut out = *challenge;
    for block in out.chunks_exact_mut(8) {
        let mut array: [u8; 8] = block.try_into().expect("8-byte chunk");
        cipher.encrypt_block((&mut array).into());
        block.copy_from_slice(&array);
    }
    out
}

/// Whether `answer` is the right response, compared in constant time.
pub fn verify(password: &[u8], challenge: &[u8; CHALLENGE_LEN], answer: &[u8]) -> bool {
    let expected = response(password, challenge);
    answer.len() == CHALLENGE_LEN
        && expected
            .iter()
            .zip(answer)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // From `openssl enc -des-ecb -K 0e86ceceeef64e26 -nopad` (the bit-reversed key of
        // "password") over the challenge "0123456789abcdef".
        let challenge = *b"0123456789abcdef";
        let answer = response(b"password", &challenge);
        let expected = [
            0x56, 0x45, 0xab, 0xeb, 0x5f, 0x1e, 0x64, 0x75, 0xe8, 0xfe, 0xb1, 0x1b, 0xeb, 0x66,
            0xea, 0x19,
        ];
        assert_eq!(answer, expected);
        assert!(verify(b"password", &challenge, &answer));
        assert!(
            verify(b"password-longer-than-8", &challenge, &answer),
            "only 8 bytes count"
        );
        assert!(!verify(b"passwore", &challenge, &answer));
        assert!(!verify(b"password", &challenge, &answer[..15]));
    }
}
