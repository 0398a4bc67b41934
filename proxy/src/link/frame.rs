//! Link framing: each message is one frame, a kind byte and a 32-bit big-endian length in
//! front of its payload. Lengths are checked before anything is allocated.

use super::LinkError;

/// The largest payload a frame may carry: a full 4K frame of new pixels, compressed badly.
pub const MAX_FRAME_PAYLOAD: usize = 64 * 1024 * 1024;
/// Kind byte and length.
pub const FRAME_HEADER_LEN: usize = 5;

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
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Takes the next complete frame from the front of `input`: `Ok(None)` while it is
/// incomplete (nothing is consumed), otherwise the frame and how many bytes it used.
pub fn read_frame(input: &[u8]) -> Result<Option<(Frame, usize)>, LinkError> {
    let Some(header) = input.get(..FRAME_HEADER_LEN) else {
        return Ok(None);
    };
    let length = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if length > MAX_FRAME_PAYLOAD {
        return Err(LinkError::FrameTooLarge {
            length,
            limit: MAX_FRAME_PAYLOAD,
        });
    }
    let end = FRAME_HEADER_LEN + length;
    let Some(payload) = input.get(FRAME_HEADER_LEN..end) else {
        return Ok(None);
    };
    let frame = Frame {
        kind: header[0],
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
        let header = [1, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            read_frame(&header),
            Err(LinkError::FrameTooLarge { .. })
        ));
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
