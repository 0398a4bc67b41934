//! The Fence extension (community RFB spec: ClientFence and ServerFence, both message type
//! 248; the Fence pseudo-encoding -312): a marker in the stream that the peer echoes back
//! once it has handled everything before it. Servers use it to measure how much of what they
//! sent has arrived (round-trip time and throughput); either side may use it to order a
//! change such as SetPixelFormat against the stream.
//!
//! The message is the same in both directions: type, 3 bytes of padding, the flags (U32), a
//! payload length (U8, at most [`MAX_FENCE_PAYLOAD`]) and the payload.

use crate::error::ProtocolError;
use crate::wire::{Reader, Writer};

/// The message type of ClientFence and ServerFence.
pub const FENCE_MESSAGE_TYPE: u8 = 248;
/// The longest payload a fence may carry (the spec's limit).
pub const MAX_FENCE_PAYLOAD: usize = 64;

/// The flags of a fence message. Open: bits we do not know survive parsing, and a response
/// clears them (see [`FenceFlags::response`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FenceFlags(pub u32);

impl FenceFlags {
    /// Everything before the fence must have taken effect before the response is sent.
    pub const BLOCK_BEFORE: Self = Self(1 << 0);
    /// Nothing after the fence may be handled until the response is sent.
    pub const BLOCK_AFTER: Self = Self(1 << 1);
    /// The message after the fence takes effect atomically at the response.
    pub const SYNC_NEXT: Self = Self(1 << 2);
    /// A new request, to be answered; without it, the message answers an earlier request.
    pub const REQUEST: Self = Self(1 << 31);
    /// The flags this implementation understands.
    pub const SUPPORTED: Self =
        Self(Self::BLOCK_BEFORE.0 | Self::BLOCK_AFTER.0 | Self::SYNC_NEXT.0 | Self::REQUEST.0);

    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags of the answer to a request with these flags: Request cleared, and every bit
    /// we do not understand cleared, so the peer learns which flags we honour.
    pub fn response(self) -> Self {
        Self(self.0 & Self::SUPPORTED.0 & !Self::REQUEST.0)
    }
}

impl std::ops::BitOr for FenceFlags {
    type Output = Self;
    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// One fence message, either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub flags: FenceFlags,
    /// At most [`MAX_FENCE_PAYLOAD`] bytes, echoed unchanged in the response.
    pub payload: Vec<u8>,
}

impl Fence {
    /// The wire size of the message without its payload.
    pub const HEADER_LEN: usize = 9;

    /// A fence with `flags` and `payload`, or an error if the payload is too long to send.
    pub fn new(flags: FenceFlags, payload: &[u8]) -> Result<Fence, ProtocolError> {
        check_payload_len(payload.len())?;
        Ok(Fence {
            flags,
            payload: payload.to_vec(),
        })
    }

    pub fn is_request(&self) -> bool {
        self.flags.contains(FenceFlags::REQUEST)
    }

    /// The answer to this request: the same payload, flags as [`FenceFlags::response`].
    pub fn response(&self) -> Fence {
        Fence {
            flags: self.flags.response(),
            payload: self.payload.clone(),
        }
    }

    /// Reads the message after its type byte; `None` when more bytes are needed.
    pub(crate) fn read(reader: &mut Reader<'_>) -> Result<Option<Fence>, ProtocolError> {
        let (Some(()), Some(flags), Some(len)) = (reader.skip(3), reader.u32(), reader.u8()) else {
            return Ok(None);
        };
        check_payload_len(usize::from(len))?;
        let Some(payload) = reader.take(usize::from(len)) else {
            return Ok(None);
        };
        Ok(Some(Fence {
            flags: FenceFlags(flags),
            payload: payload.to_vec(),
        }))
    }

    /// Writes the whole message, type byte included. The payload is cut to
    /// [`MAX_FENCE_PAYLOAD`] bytes ([`Fence::new`] refuses longer ones).
    pub fn write(&self, out: &mut Vec<u8>) {
        let len = self.payload.len().min(MAX_FENCE_PAYLOAD);
        out.extend_from_slice(&[FENCE_MESSAGE_TYPE, 0, 0, 0]);
        out.put_u32(self.flags.0);
        out.put_u8(len as u8);
        out.extend_from_slice(&self.payload[..len]);
    }
}

fn check_payload_len(len: usize) -> Result<(), ProtocolError> {
    if len > MAX_FENCE_PAYLOAD {
        return Err(ProtocolError::TooLong {
            what: "Fence payload",
            len,
            limit: MAX_FENCE_PAYLOAD,
        });
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn any_fence() -> impl Strategy<Value = Fence> {
        (
            any::<u32>(),
            proptest::collection::vec(any::<u8>(), 0..=MAX_FENCE_PAYLOAD),
        )
            .prop_map(|(flags, payload)| Fence {
                flags: FenceFlags(flags),
                payload,
            })
    }

    fn parse(bytes: &[u8]) -> Result<Option<(Fence, usize)>, ProtocolError> {
        let mut reader = Reader::new(&bytes[1..]);
        Ok(Fence::read(&mut reader)?.map(|fence| (fence, 1 + reader.consumed())))
    }

    #[test]
    fn known_answer() {
        let fence = Fence::new(
            FenceFlags::REQUEST | FenceFlags::BLOCK_BEFORE,
            &[0xab, 0xcd],
        )
        .unwrap();
        let mut bytes = Vec::new();
        fence.write(&mut bytes);
        assert_eq!(bytes, [248, 0, 0, 0, 0x80, 0, 0, 1, 2, 0xab, 0xcd]);
        assert_eq!(parse(&bytes), Ok(Some((fence, 11))));
    }

    #[test]
    fn response_clears_request_and_unknown_bits() {
        let request = Fence {
            flags: FenceFlags(0x8000_0000 | 0x7 | 0x100),
            payload: vec![1, 2, 3],
        };
        let response = request.response();
        assert_eq!(response.flags, FenceFlags(0x7));
        assert!(!response.is_request());
        assert_eq!(response.payload, request.payload);
    }

    #[test]
    fn payload_over_the_limit_is_refused_before_reading_it() {
        assert!(Fence::new(FenceFlags::REQUEST, &[0; MAX_FENCE_PAYLOAD + 1]).is_err());
        let header = [248, 0, 0, 0, 0, 0, 0, 0, 65];
        assert!(matches!(
            parse(&header),
            Err(ProtocolError::TooLong {
                what: "Fence payload",
                ..
            })
        ));
    }

    proptest! {
        #[test]
        fn round_trip_and_prefixes_need_more(fence in any_fence()) {
            let mut bytes = Vec::new();
            fence.write(&mut bytes);
            prop_assert_eq!(bytes.len(), Fence::HEADER_LEN + fence.payload.len());
            prop_assert_eq!(parse(&bytes), Ok(Some((fence.clone(), bytes.len()))));
            for cut in 1..bytes.len() {
                prop_assert_eq!(parse(&bytes[..cut]), Ok(None));
            }
        }
    }
}
