//! Messages a viewer sends to a server (RFC 6143 §7.5).

use super::continuous_updates::{CONTINUOUS_UPDATES_MESSAGE_TYPE, EnableContinuousUpdates};
use super::fence::{FENCE_MESSAGE_TYPE, Fence};
use super::{CutText, EncodingType, MAX_ENCODINGS};
use crate::encodings::extended_desktop_size::DesktopLayout;
use crate::error::ProtocolError;
use crate::extended_clipboard::ClipboardMessage;
use crate::framebuffer::Rect;
use crate::pixel::PixelFormat;
use crate::qemu_key_event::{self, ExtendedKeyEvent};
use crate::wire::{Reader, Writer};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    SetPixelFormat(PixelFormat),
    SetEncodings(Vec<EncodingType>),
    FramebufferUpdateRequest {
        incremental: bool,
        rect: Rect,
    },
    KeyEvent {
        down: bool,
        keysym: u32,
    },
    PointerEvent {
        buttons: u8,
        x: u16,
        y: u16,
    },
    /// Latin-1 text.
    ClientCutText(Vec<u8>),
    /// A request for a new framebuffer size and screen layout (community spec, type 251);
    /// only sent to a server that has sent an ExtendedDesktopSize rectangle.
    SetDesktopSize(DesktopLayout),
    /// A key with its scancode (QEMU Extended Key Event, type 255 subtype 0); only sent to a
    /// server that acknowledged the pseudo-encoding.
    QemuKeyEvent(ExtendedKeyEvent),
    /// ClientCutText with a negative length (Extended Clipboard).
    ExtendedCutText(ClipboardMessage),
    /// Continuous updates on or off (only to a server that announced them).
    EnableContinuousUpdates(EnableContinuousUpdates),
    /// A fence, or the answer to the server's (only to a server that sent a fence).
    Fence(Fence),
}

impl ClientMessage {
    pub const SET_PIXEL_FORMAT: u8 = 0;
    pub const SET_ENCODINGS: u8 = 2;
    pub const FRAMEBUFFER_UPDATE_REQUEST: u8 = 3;
    pub const KEY_EVENT: u8 = 4;
    pub const POINTER_EVENT: u8 = 5;
    pub const CLIENT_CUT_TEXT: u8 = 6;
    pub const SET_DESKTOP_SIZE: u8 = 251;
    pub const QEMU: u8 = qemu_key_event::QEMU_MESSAGE_TYPE;
    pub const ENABLE_CONTINUOUS_UPDATES: u8 = CONTINUOUS_UPDATES_MESSAGE_TYPE;
    pub const FENCE: u8 = FENCE_MESSAGE_TYPE;

    /// Parses one message from the start of `input`. `Ok(None)` means more bytes are needed
    /// and nothing was consumed; `Ok(Some((message, n)))` consumed `n` bytes.
    pub fn parse(input: &[u8]) -> Result<Option<(ClientMessage, usize)>, ProtocolError> {
        let mut reader = Reader::new(input);
        let Some(message) = Self::read(&mut reader)? else {
            return Ok(None);
        };
        Ok(Some((message, reader.consumed())))
    }

    fn read(reader: &mut Reader<'_>) -> Result<Option<ClientMessage>, ProtocolError> {
        let Some(kind) = reader.u8() else {
            return Ok(None);
        };
        let message = match kind {
            Self::SET_PIXEL_FORMAT => {
                let Some(()) = reader.skip(3) else {
                    return Ok(None);
                };
                let Some(format) = PixelFormat::read(reader) else {
                    return Ok(None);
                };
                ClientMessage::SetPixelFormat(format)
            }
            Self::SET_ENCODINGS => {
                let (Some(_), Some(count)) = (reader.u8(), reader.u16()) else {
                    return Ok(None);
                };
                let count = usize::from(count);
                if count > MAX_ENCODINGS {
                    return Err(ProtocolError::TooLong {
                        what: "SetEncodings",
                        len: count,
                        limit: MAX_ENCODINGS,
                    });
                }
                if reader.remaining() < count * 4 {
                    return Ok(None);
                }
                let encodings = (0..count)
                    .filter_map(|_| reader.i32())
                    .map(EncodingType)
                    .collect();
                ClientMessage::SetEncodings(encodings)
            }
            Self::FRAMEBUFFER_UPDATE_REQUEST => {
                let Some(b) = reader.take(9) else {
                    return Ok(None);
                };
                let field = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
                ClientMessage::FramebufferUpdateRequest {
                    incremental: b[0] != 0,
                    rect: Rect::new(field(1), field(3), field(5), field(7)),
                }
            }
            Self::KEY_EVENT => {
                let Some(b) = reader.take(7) else {
                    return Ok(None);
                };
                ClientMessage::KeyEvent {
                    down: b[0] != 0,
                    keysym: u32::from_be_bytes([b[3], b[4], b[5], b[6]]),
                }
            }
            Self::POINTER_EVENT => {
                let Some(b) = reader.take(5) else {
                    return Ok(None);
                };
                ClientMessage::PointerEvent {
                    buttons: b[0],
                    x: u16::from_be_bytes([b[1], b[2]]),
                    y: u16::from_be_bytes([b[3], b[4]]),
                }
            }
            Self::CLIENT_CUT_TEXT => match super::read_cut_text(reader, "ClientCutText")? {
                None => return Ok(None),
                Some(CutText::Latin1(text)) => ClientMessage::ClientCutText(text),
                Some(CutText::Extended(message)) => ClientMessage::ExtendedCutText(message),
            },
            Self::QEMU => {
                let Some(&subtype) = reader.take(1).and_then(|b| b.first()) else {
                    return Ok(None);
                };
                if subtype != qemu_key_event::EXTENDED_KEY_EVENT_SUBTYPE {
                    return Err(ProtocolError::UnknownQemuSubtype(subtype));
                }
                let Some(rest) = reader.take(qemu_key_event::MESSAGE_LEN - 2) else {
                    return Ok(None);
                };
                let mut body = [0u8; qemu_key_event::MESSAGE_LEN - 1];
                body[0] = subtype;
                body[1..].copy_from_slice(rest);
                ClientMessage::QemuKeyEvent(ExtendedKeyEvent::read(&body))
            }
            Self::SET_DESKTOP_SIZE => {
                // The screen count is one byte: at most 255 screens of 16 bytes.
                let (Some(()), Some(width), Some(height)) =
                    (reader.skip(1), reader.u16(), reader.u16())
                else {
                    return Ok(None);
                };
                let Some(screens) = DesktopLayout::read_screens(reader, 1) else {
                    return Ok(None);
                };
                ClientMessage::SetDesktopSize(DesktopLayout {
                    width,
                    height,
                    screens,
                })
            }
            Self::ENABLE_CONTINUOUS_UPDATES => {
                let Some(message) = EnableContinuousUpdates::read(reader) else {
                    return Ok(None);
                };
                ClientMessage::EnableContinuousUpdates(message)
            }
            Self::FENCE => {
                let Some(fence) = Fence::read(reader)? else {
                    return Ok(None);
                };
                ClientMessage::Fence(fence)
            }
            byte => {
                return Err(ProtocolError::UnknownMessageType {
                    side: "client",
                    byte,
                });
            }
        };
        Ok(Some(message))
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        match self {
            ClientMessage::SetPixelFormat(format) => {
                out.extend_from_slice(&[Self::SET_PIXEL_FORMAT, 0, 0, 0]);
                format.write(out);
            }
            ClientMessage::SetEncodings(encodings) => {
                let count = encodings.len().min(MAX_ENCODINGS);
                out.extend_from_slice(&[Self::SET_ENCODINGS, 0]);
                out.put_u16(count as u16);
                for encoding in &encodings[..count] {
                    out.put_i32(encoding.0);
                }
            }
            ClientMessage::FramebufferUpdateRequest { incremental, rect } => {
                out.extend_from_slice(&[Self::FRAMEBUFFER_UPDATE_REQUEST, u8::from(*incremental)]);
                for v in [rect.x, rect.y, rect.width, rect.height] {
                    out.put_u16(v);
                }
            }
            ClientMessage::KeyEvent { down, keysym } => {
                out.extend_from_slice(&[Self::KEY_EVENT, u8::from(*down), 0, 0]);
                out.put_u32(*keysym);
            }
            ClientMessage::PointerEvent { buttons, x, y } => {
                out.extend_from_slice(&[Self::POINTER_EVENT, *buttons]);
                out.put_u16(*x);
                out.put_u16(*y);
            }
            ClientMessage::ClientCutText(text) => {
                super::write_cut_text(Self::CLIENT_CUT_TEXT, text, out);
            }
            ClientMessage::SetDesktopSize(layout) => {
                out.extend_from_slice(&[Self::SET_DESKTOP_SIZE, 0]);
                out.put_u16(layout.width);
                out.put_u16(layout.height);
                layout.write_screens(out, 1);
            }
            ClientMessage::QemuKeyEvent(event) => event.write(out),
            ClientMessage::ExtendedCutText(message) => {
                super::write_extended_cut_text(Self::CLIENT_CUT_TEXT, message, out);
            }
            ClientMessage::EnableContinuousUpdates(message) => message.write(out),
            ClientMessage::Fence(fence) => fence.write(out),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn any_client_message() -> impl Strategy<Value = ClientMessage> {
        let rect = (any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>())
            .prop_map(|(x, y, w, h)| Rect::new(x, y, w, h));
        prop_oneof![
            crate::pixel::tests::any_true_colour_format().prop_map(ClientMessage::SetPixelFormat),
            proptest::collection::vec(any::<i32>().prop_map(EncodingType), 0..40)
                .prop_map(ClientMessage::SetEncodings),
            (any::<bool>(), rect.clone()).prop_map(|(incremental, rect)| {
                ClientMessage::FramebufferUpdateRequest { incremental, rect }
            }),
            (any::<bool>(), any::<u32>())
                .prop_map(|(down, keysym)| ClientMessage::KeyEvent { down, keysym }),
            (any::<bool>(), any::<u32>(), any::<u32>()).prop_map(|(down, keysym, scancode)| {
                ClientMessage::QemuKeyEvent(ExtendedKeyEvent {
                    down,
                    keysym,
                    scancode,
                })
            }),
            crate::extended_clipboard::tests::any_clipboard_message()
                .prop_map(ClientMessage::ExtendedCutText),
            (any::<u8>(), any::<u16>(), any::<u16>())
                .prop_map(|(buttons, x, y)| ClientMessage::PointerEvent { buttons, x, y }),
            proptest::collection::vec(any::<u8>(), 0..300).prop_map(ClientMessage::ClientCutText),
            (
                any::<u16>(),
                any::<u16>(),
                proptest::collection::vec(
                    crate::encodings::extended_desktop_size::tests::any_screen(),
                    0..8
                )
            )
                .prop_map(|(width, height, screens)| {
                    ClientMessage::SetDesktopSize(DesktopLayout {
                        width,
                        height,
                        screens,
                    })
                }),
            (any::<bool>(), rect).prop_map(|(enable, area)| {
                ClientMessage::EnableContinuousUpdates(EnableContinuousUpdates { enable, area })
            }),
            super::super::fence::tests::any_fence().prop_map(ClientMessage::Fence),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_whole_and_split(messages in proptest::collection::vec(any_client_message(), 1..8)) {
            let mut bytes = Vec::new();
            for m in &messages {
                m.write(&mut bytes);
            }
            // Whole.
            let mut parsed = Vec::new();
            let mut at = 0;
            while let Some((m, n)) = ClientMessage::parse(&bytes[at..]).unwrap() {
                parsed.push(m);
                at += n;
            }
            prop_assert_eq!(at, bytes.len());
            prop_assert_eq!(&parsed, &messages);
            // Every strict prefix of the first message needs more.
            let (_, first_len) = ClientMessage::parse(&bytes).unwrap().unwrap();
            for cut in 0..first_len {
                prop_assert_eq!(ClientMessage::parse(&bytes[..cut]).unwrap(), None);
            }
        }
    }

    #[test]
    fn unknown_type_is_named() {
        let error = ClientMessage::parse(&[99, 0, 0]).unwrap_err();
        assert_eq!(error.to_string(), "unknown client message type 99");
    }

    #[test]
    fn set_desktop_size_known_answer() {
        let layout = DesktopLayout::single(1280, 720);
        let mut bytes = Vec::new();
        ClientMessage::SetDesktopSize(layout.clone()).write(&mut bytes);
        let expected: &[u8] = &[
            251, 0, 0x05, 0x00, 0x02, 0xd0, 1, 0, // type, padding, 1280x720, one screen
            0, 0, 0, 0, 0, 0, 0, 0, 0x05, 0x00, 0x02, 0xd0, 0, 0, 0, 0,
        ];
        assert_eq!(bytes, expected);
        assert_eq!(
            ClientMessage::parse(&bytes),
            Ok(Some((ClientMessage::SetDesktopSize(layout), 24)))
        );
        // A count of 255 needs 4080 bytes of screens: until then, nothing is consumed.
        let mut claim = vec![251, 0, 0, 10, 0, 10, 255, 0];
        claim.extend_from_slice(&[0; 4079]);
        assert_eq!(ClientMessage::parse(&claim), Ok(None));
        claim.push(0);
        let (message, n) = ClientMessage::parse(&claim).unwrap().unwrap();
        assert_eq!(n, 8 + 255 * 16);
        let ClientMessage::SetDesktopSize(layout) = message else {
            panic!("{message:?}")
        };
        assert_eq!(layout.screens.len(), 255);
        // Zero screens parse (the layout is then refused as invalid, not the connection).
        let empty = [251, 0, 0, 10, 0, 10, 0, 0];
        let (message, _) = ClientMessage::parse(&empty).unwrap().unwrap();
        assert!(matches!(message, ClientMessage::SetDesktopSize(l) if l.validate().is_err()));
    }

    #[test]
    fn oversized_lengths_are_refused_before_allocation() {
        // The largest length either way: Latin-1, and (negative) Extended Clipboard.
        for length in [0x7fff_ffffu32, 0x8000_0000] {
            let mut cut = vec![6, 0, 0, 0];
            cut.extend_from_slice(&length.to_be_bytes());
            assert!(matches!(
                ClientMessage::parse(&cut),
                Err(ProtocolError::TooLong { .. })
            ));
        }
        let encodings = [2, 0, 0xff, 0xff];
        assert!(matches!(
            ClientMessage::parse(&encodings),
            Err(ProtocolError::TooLong { .. })
        ));
    }
}
