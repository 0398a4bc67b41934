//! Messages a server sends to a viewer (RFC 6143 §7.6). A FramebufferUpdate is parsed in
//! pieces: the message header here, then each [`RectangleHeader`] and its encoding's body,
//! so that a large update never has to be buffered whole.

use super::continuous_updates::CONTINUOUS_UPDATES_MESSAGE_TYPE;
use super::fence::{FENCE_MESSAGE_TYPE, Fence};
use super::{CutText, EncodingType};
use crate::error::ProtocolError;
use crate::extended_clipboard::ClipboardMessage;
use crate::framebuffer::Rect;
use crate::wire::{Reader, Writer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// The start of a FramebufferUpdate; `rect_count` rectangles follow (0xFFFF with
    /// LastRect means "until a LastRect rectangle").
    FramebufferUpdate {
        rect_count: u16,
    },
    SetColourMapEntries {
        first_colour: u16,
        colours: Vec<[u16; 3]>,
    },
    Bell,
    /// Latin-1 text.
    ServerCutText(Vec<u8>),
    /// ServerCutText with a negative length (Extended Clipboard).
    ExtendedCutText(ClipboardMessage),
    /// Continuous updates are supported (the first one) or have ended (after the viewer
    /// disabled them).
    EndOfContinuousUpdates,
    Fence(Fence),
}

impl ServerMessage {
    pub const FRAMEBUFFER_UPDATE: u8 = 0;
    pub const SET_COLOUR_MAP_ENTRIES: u8 = 1;
    pub const BELL: u8 = 2;
    pub const SERVER_CUT_TEXT: u8 = 3;
    pub const END_OF_CONTINUOUS_UPDATES: u8 = CONTINUOUS_UPDATES_MESSAGE_TYPE;
    pub const FENCE: u8 = FENCE_MESSAGE_TYPE;

    /// Parses one message (for a FramebufferUpdate, only its 4-byte header) from the start of
    /// `input`. `Ok(None)` means more bytes are needed and nothing was consumed.
    pub fn parse(input: &[u8]) -> Result<Option<(ServerMessage, usize)>, ProtocolError> {
        let mut reader = Reader::new(input);
        let Some(message) = Self::read(&mut reader)? else {
            return Ok(None);
        };
        Ok(Some((message, reader.consumed())))
    }

    fn read(reader: &mut Reader<'_>) -> Result<Option<ServerMessage>, ProtocolError> {
        let Some(kind) = reader.u8() else {
            return Ok(None);
        };
        let message = match kind {
            Self::FRAMEBUFFER_UPDATE => {
                let (Some(_), Some(rect_count)) = (reader.u8(), reader.u16()) else {
                    return Ok(None);
                };
                ServerMessage::FramebufferUpdate { rect_count }
            }
            Self::SET_COLOUR_MAP_ENTRIES => {
                let (Some(_), Some(first_colour), Some(count)) =
                    (reader.u8(), reader.u16(), reader.u16())
                else {
                    return Ok(None);
                };
                // A u16 count of 6-byte entries is at most 384 KiB: no separate limit needed.
                let Some(bytes) = reader.take(usize::from(count) * 6) else {
                    return Ok(None);
                };
                let colours = bytes
                    .chunks_exact(6)
                    .map(|c| {
                        [
                            u16::from_be_bytes([c[0], c[1]]),
                            u16::from_be_bytes([c[2], c[3]]),
                            u16::from_be_bytes([c[4], c[5]]),
                        ]
                    })
                    .collect();
                ServerMessage::SetColourMapEntries {
                    first_colour,
                    colours,
                }
            }
            Self::BELL => ServerMessage::Bell,
            Self::SERVER_CUT_TEXT => match super::read_cut_text(reader, "ServerCutText")? {
                None => return Ok(None),
                Some(CutText::Latin1(text)) => ServerMessage::ServerCutText(text),
                Some(CutText::Extended(message)) => ServerMessage::ExtendedCutText(message),
            },
            Self::END_OF_CONTINUOUS_UPDATES => ServerMessage::EndOfContinuousUpdates,
            Self::FENCE => {
                let Some(fence) = Fence::read(reader)? else {
                    return Ok(None);
                };
                ServerMessage::Fence(fence)
            }
            byte => {
                return Err(ProtocolError::UnknownMessageType {
                    side: "server",
                    byte,
                });
            }
        };
        Ok(Some(message))
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            ServerMessage::FramebufferUpdate { rect_count } => {
                out.extend_from_slice(&[Self::FRAMEBUFFER_UPDATE, 0]);
                out.put_u16(*rect_count);
            }
            ServerMessage::SetColourMapEntries {
                first_colour,
                colours,
            } => {
                let count = colours.len().min(usize::from(u16::MAX));
                out.extend_from_slice(&[Self::SET_COLOUR_MAP_ENTRIES, 0]);
                out.put_u16(*first_colour);
                out.put_u16(count as u16);
                for colour in &colours[..count] {
                    colour.iter().for_each(|&c| out.put_u16(c));
                }
            }
            ServerMessage::Bell => out.push(Self::BELL),
            ServerMessage::ServerCutText(text) => {
                super::write_cut_text(Self::SERVER_CUT_TEXT, text, out);
            }
            ServerMessage::ExtendedCutText(message) => {
                super::write_extended_cut_text(Self::SERVER_CUT_TEXT, message, out);
            }
            ServerMessage::EndOfContinuousUpdates => out.push(Self::END_OF_CONTINUOUS_UPDATES),
            ServerMessage::Fence(fence) => fence.write(out),
        }
    }
}

/// The 12 bytes before each rectangle of a FramebufferUpdate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RectangleHeader {
    pub rect: Rect,
    pub encoding: EncodingType,
}

impl RectangleHeader {
    pub const WIRE_SIZE: usize = 12;

    pub fn parse(input: &[u8]) -> Option<RectangleHeader> {
        let mut reader = Reader::new(input);
        let rect = Rect::new(reader.u16()?, reader.u16()?, reader.u16()?, reader.u16()?);
        Some(RectangleHeader {
            rect,
            encoding: EncodingType(reader.i32()?),
        })
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        for v in [self.rect.x, self.rect.y, self.rect.width, self.rect.height] {
            out.put_u16(v);
        }
        out.put_i32(self.encoding.0);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn any_server_message() -> impl Strategy<Value = ServerMessage> {
        prop_oneof![
            any::<u16>().prop_map(|rect_count| ServerMessage::FramebufferUpdate { rect_count }),
            (
                any::<u16>(),
                proptest::collection::vec(any::<[u16; 3]>(), 0..300)
            )
                .prop_map(|(first_colour, colours)| {
                    ServerMessage::SetColourMapEntries {
                        first_colour,
                        colours,
                    }
                }),
            Just(ServerMessage::Bell),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(ServerMessage::ServerCutText),
            Just(ServerMessage::EndOfContinuousUpdates),
            super::super::fence::tests::any_fence().prop_map(ServerMessage::Fence),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_and_prefixes_need_more(message in any_server_message()) {
            let mut bytes = Vec::new();
            message.write(&mut bytes);
            let (parsed, n) = ServerMessage::parse(&bytes).unwrap().unwrap();
            prop_assert_eq!(n, bytes.len());
            prop_assert_eq!(parsed, message);
            for cut in 0..bytes.len() {
                prop_assert_eq!(ServerMessage::parse(&bytes[..cut]).unwrap(), None);
            }
        }

        #[test]
        fn rectangle_header_round_trip(x: u16, y: u16, w: u16, h: u16, e: i32) {
            let header = RectangleHeader { rect: Rect::new(x, y, w, h), encoding: EncodingType(e) };
            let mut bytes = Vec::new();
            header.write(&mut bytes);
            prop_assert_eq!(RectangleHeader::parse(&bytes), Some(header));
            prop_assert_eq!(RectangleHeader::parse(&bytes[..11]), None);
        }
    }

    #[test]
    fn unknown_type_and_oversized_text_are_errors() {
        assert_eq!(
            ServerMessage::parse(&[200]).unwrap_err().to_string(),
            "unknown server message type 200"
        );
        for length in [0x7fff_ffffu32, 0x8000_0000] {
            let mut cut = vec![3, 0, 0, 0];
            cut.extend_from_slice(&length.to_be_bytes());
            assert!(matches!(
                ServerMessage::parse(&cut),
                Err(ProtocolError::TooLong { .. })
            ));
        }
    }
}
