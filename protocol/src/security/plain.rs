//! VeNCrypt's Plain authentication (the X509Plain subtype): inside TLS, the viewer sends a
//! username and a password in the clear (U32 username length, U32 password length, then the
//! two strings); the server checks them and answers with SecurityResult.

use crate::error::ProtocolError;
use crate::wire::{Reader, Writer};

/// The longest username accepted, in bytes.
pub const MAX_USERNAME_LEN: usize = 255;
/// The longest password accepted, in bytes.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// A username and password as the viewer sent them.
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: Vec<u8>,
}

// Never print a password into a log.
impl std::fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl PlainCredentials {
    /// Writes the credentials as the viewer sends them.
    pub fn write(&self, output: &mut Vec<u8>) {
        output.put_u32(self.username.len() as u32);
        output.put_u32(self.password.len() as u32);
        output.extend_from_slice(self.username.as_bytes());
        output.extend_from_slice(&self.password);
    }

    /// Parses the viewer's credentials: `Ok(None)` until all their bytes are there.
    pub fn parse(input: &[u8]) -> Result<Option<(PlainCredentials, usize)>, ProtocolError> {
        let mut reader = Reader::new(input);
        let (Some(username_len), Some(password_len)) = (reader.u32(), reader.u32()) else {
            return Ok(None);
        };
        let check = |what, len: u32, limit| {
            let len = len as usize;
            if len > limit {
                return Err(ProtocolError::TooLong { what, len, limit });
            }
            Ok(len)
        };
        let username_len = check("Plain username", username_len, MAX_USERNAME_LEN)?;
        let password_len = check("Plain password", password_len, MAX_PASSWORD_LEN)?;
        let (Some(username), Some(password)) =
            (reader.take(username_len), reader.take(password_len))
        else {
            return Ok(None);
        };
        let credentials = PlainCredentials {
            username: String::from_utf8_lossy(username).into_owned(),
            password: password.to_vec(),
        };
        Ok(Some((credentials, reader.consumed())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_any_split() {
        let credentials = PlainCredentials {
            username: "ada".into(),
            password: b"s3cret".to_vec(),
        };
        let mut bytes = Vec::new();
        credentials.write(&mut bytes);
        assert_eq!(&bytes[..8], [0, 0, 0, 3, 0, 0, 0, 6]);
        for end in 0..bytes.len() {
            assert_eq!(PlainCredentials::parse(&bytes[..end]), Ok(None));
        }
        assert_eq!(
            PlainCredentials::parse(&bytes),
            Ok(Some((credentials, bytes.len())))
        );
    }

    #[test]
    fn lengths_past_the_limits_are_refused_before_reading() {
        let mut bytes = Vec::new();
        bytes.put_u32(MAX_USERNAME_LEN as u32 + 1);
        bytes.put_u32(0);
        let error = PlainCredentials::parse(&bytes).unwrap_err();
        assert!(error.to_string().contains("Plain username"), "{error}");
        let mut bytes = Vec::new();
        bytes.put_u32(0);
        bytes.put_u32(u32::MAX);
        let error = PlainCredentials::parse(&bytes).unwrap_err();
        assert!(error.to_string().contains("Plain password"), "{error}");
    }
}
