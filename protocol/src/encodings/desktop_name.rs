//! DesktopName pseudo-encoding (community spec): the server renames the desktop with a
//! rectangle whose position and size are all zero, followed by a U32 length and that many
//! bytes of UTF-8. The length is bounded by [`MAX_NAME_LEN`], as ServerInit's name is.

use crate::framebuffer::Rect;
use crate::handshake::MAX_NAME_LEN;
use crate::messages::{EncodingType, RectangleHeader};
use crate::wire::{Reader, Writer};

/// The rectangle header that announces a new desktop name.
pub fn header() -> RectangleHeader {
    RectangleHeader {
        rect: Rect::default(),
        encoding: EncodingType::DESKTOP_NAME,
    }
}

/// `name`, cut to at most [`MAX_NAME_LEN`] bytes on a character boundary.
pub fn truncated(name: &str) -> &str {
    if name.len() <= MAX_NAME_LEN {
        return name;
    }
    let mut end = MAX_NAME_LEN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

/// Appends the body: the length and the UTF-8 bytes of `name` ([`truncated`]).
pub fn encode(name: &str, out: &mut Vec<u8>) {
    let name = truncated(name);
    out.put_u32(name.len() as u32);
    out.extend_from_slice(name.as_bytes());
}

/// Decodes a body: `Ok(None)` until all of it is there, then the name and the bytes it took.
/// Invalid UTF-8 is replaced (the name is only shown), never a reason to drop the connection.
pub fn decode(body: &[u8]) -> Result<Option<(String, usize)>, String> {
    let mut reader = Reader::new(body);
    let Some(len) = reader.u32() else {
        return Ok(None);
    };
    let len = len as usize;
    if len > MAX_NAME_LEN {
        return Err(format!(
            "desktop name of {len} bytes exceeds the limit of {MAX_NAME_LEN}"
        ));
    }
    let Some(name) = reader.take(len) else {
        return Ok(None);
    };
    Ok(Some((
        String::from_utf8_lossy(name).into_owned(),
        reader.consumed(),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_answer() {
        let mut bytes = Vec::new();
        header().write(&mut bytes);
        encode("büro", &mut bytes);
        let expected: &[u8] = &[
            0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xfe, 0xcd, // all-zero rectangle, -307
            0, 0, 0, 5, b'b', 0xc3, 0xbc, b'r', b'o', // length, UTF-8
        ];
        assert_eq!(bytes, expected);
        let body = &expected[12..];
        for len in 0..body.len() {
            assert_eq!(decode(&body[..len]), Ok(None), "prefix of {len}");
        }
        assert_eq!(decode(body), Ok(Some(("büro".to_string(), 9))));
    }

    #[test]
    fn overlong_names_are_refused_before_allocation_and_cut_when_sent() {
        let claim = (MAX_NAME_LEN as u32 + 1).to_be_bytes();
        assert!(decode(&claim).unwrap_err().contains("exceeds the limit"));
        let long = "é".repeat(MAX_NAME_LEN);
        let cut = truncated(&long);
        assert!(cut.len() <= MAX_NAME_LEN && cut.len() > MAX_NAME_LEN - 2);
        let mut body = Vec::new();
        encode(&long, &mut body);
        assert_eq!(decode(&body).unwrap().unwrap().0, cut);
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        let body = [0, 0, 0, 3, b'a', 0xff, b'b'];
        assert_eq!(decode(&body), Ok(Some(("a\u{fffd}b".to_string(), 7))));
    }

    proptest! {
        #[test]
        fn names_round_trip(name in ".{0,40}") {
            let mut body = Vec::new();
            encode(&name, &mut body);
            body.push(0x55);
            prop_assert_eq!(decode(&body), Ok(Some((name, body.len() - 1))));
        }
    }
}
