//! Link framing: each message is one frame, a kind byte and the payload's length in front
//! of it. The length is a varint (seven bits a byte, least significant first): most frames
//! are acknowledgements and small updates, whose length fits one byte. Lengths are checked
//! before anything is allocated.

use super::LinkError;

/// The largest payload a frame may carry: a full 4K frame of new pixels, compressed badly.
pub const MAX_FRAME_PAYLOAD: usize = 64 * 1024 * 1024;
/// The most bytes a length takes (MAX_FRAME_PAYLOAD needs 27 bits).
const MAX_LENGTH_BYTES: usize = 4;

/// One frame taken off the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub kind: u8,
    pub payload: Vec<u8>,
}

/// Appends a frame to `out`.
pub fn write_frame(kind: u8, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(
        payload.len() <= MAX_FRAME_PAYLOAD,
        "a link frame over the limit"
    );
    out.push(kind);
    let mut length = payload.len();
    while length >= 0x80 {
        out.push(length as u8 | 0x80);
        length >>= 7;
    }
    out.push(length as u8);
    out.extend_from_slice(payload);
}

/// Takes the next complete frame from the front of `input`: `Ok(None)` while it is
/// incomplete (nothing is consumed), otherwise the frame and how many bytes it used.
pub fn read_frame(input: &[u8]) -> Result<Option<(Frame, usize)>, LinkError> {
    let Some((&kind, rest)) = input.split_first() else {
        return Ok(None);
    };
    let mut length = 0usize;
    let mut header = 1;
    for (index, &byte) in rest.iter().take(MAX_LENGTH_BYTES).enumerate() {
        length |= usize::from(byte & 0x7f) << (7 * index);
        header += 1;
        if byte & 0x80 == 0 {
            break;
        }
        if index + 1 == MAX_LENGTH_BYTES {
            return Err(LinkError::FrameTooLarge {
                length: usize::MAX,
                limit: MAX_FRAME_PAYLOAD,
            });
        }
    }
    if header == 1 || rest[header - 2] & 0x80 != 0 {
        // The length is not all there yet.
        return Ok(None);
    }
    if length > MAX_FRAME_PAYLOAD {
        return Err(LinkError::FrameTooLarge {
            length,
            limit: MAX_FRAME_PAYLOAD,
        });
    }
    let end = header + length;
    let Some(payload) = input.get(header..end) else {
        return Ok(None);
    };
    let frame = Frame {
        kind,
        payload: payload.to_vec(),
    };
    Ok(Some((frame, end)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_oversized_length_is_refused_before_its_payload_arrives() {
        // 2^28 - 1, then a fifth length byte.
        for header in [
            &[1, 0xff, 0xff, 0xff, 0x7f][..],
            &[1, 0x80, 0x80, 0x80, 0x80],
        ] {
            assert!(matches!(
                read_frame(header),
                Err(LinkError::FrameTooLarge { .. })
            ));
        }
        // An incomplete length waits.
        assert_eq!(read_frame(&[1, 0x80, 0x80]).unwrap(), None);
        // A one-byte length for a small frame.
        let mut wire = Vec::new();
        write_frame(7, &[1, 2, 3], &mut wire);
        assert_eq!(wire, [7, 3, 1, 2, 3]);
    }

    proptest! {
        #[test]
        fn frames_split_anywhere_come_out_whole(
            frames in proptest::collection::vec(
                (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..8),
            cut in 0usize..4000,
        ) {
            let mut wire = Vec::new();
            for (kind, payload) in &frames {
                write_frame(*kind, payload, &mut wire);
            }
            let cut = cut.min(wire.len());
            let mut buffer = wire[..cut].to_vec();
            let mut read = Vec::new();
            let feed = |buffer: &mut Vec<u8>, read: &mut Vec<(u8, Vec<u8>)>| {
                while let Some((frame, used)) = read_frame(buffer).unwrap() {
                    buffer.drain(..used);
                    read.push((frame.kind, frame.payload));
                }
            };
            feed(&mut buffer, &mut read);
            buffer.extend_from_slice(&wire[cut..]);
            feed(&mut buffer, &mut read);
            prop_assert_eq!(read, frames);
            prop_assert!(buffer.is_empty());
        }
    }
}
