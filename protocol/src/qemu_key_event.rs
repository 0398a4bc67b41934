//! QEMU Extended Key Events (community RFB spec: "QEMU Extended Key Event Pseudo-encoding" and
//! "QEMU Extended Key Event Message"): a key event that carries the physical key (an XT
//! scancode) next to its keysym, so a server can press the key the user pressed whatever the
//! layouts on both ends.
//!
//! A viewer lists pseudo-encoding -258; a server that takes the message says so with a
//! one-rectangle update of that encoding and no body ([`acknowledgement`]). Only then may the
//! viewer send the message: type 255 (QEMU), subtype 0, a U16 down flag, the keysym and the
//! scancode as U32s.

use crate::framebuffer::Rect;
use crate::messages::{EncodingType, RectangleHeader};

/// The client message type of every QEMU message.
pub const QEMU_MESSAGE_TYPE: u8 = 255;
/// The QEMU message subtype of an extended key event.
pub const EXTENDED_KEY_EVENT_SUBTYPE: u8 = 0;
/// Bytes of the whole message, type byte included.
pub const MESSAGE_LEN: usize = 12;

/// One key press or release with its scancode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtendedKeyEvent {
    pub down: bool,
    pub keysym: u32,
    /// The XT scancode: one byte as is, or a two-byte 0xE0-prefixed code as its second byte
    /// with the high bit set (Up, 0xE0 0x48, is 0xC8).
    pub scancode: u32,
}

impl ExtendedKeyEvent {
    /// Reads the 11 bytes after the type byte (subtype first).
    pub(crate) fn read(body: &[u8; MESSAGE_LEN - 1]) -> Self {
        let word =
            |at: usize| u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        ExtendedKeyEvent {
            down: u16::from_be_bytes([body[1], body[2]]) != 0,
            keysym: word(3),
            scancode: word(7),
        }
    }

    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[QEMU_MESSAGE_TYPE, EXTENDED_KEY_EVENT_SUBTYPE, 0]);
        out.push(u8::from(self.down));
        out.extend_from_slice(&self.keysym.to_be_bytes());
        out.extend_from_slice(&self.scancode.to_be_bytes());
    }
}

/// The rectangle by which a server tells a viewer it takes extended key events.
pub fn acknowledgement() -> RectangleHeader {
    RectangleHeader {
        rect: Rect::default(),
        encoding: EncodingType::QEMU_EXTENDED_KEY_EVENT,
    }
}

/// The Linux evdev key code of an XT scancode, for the keys of a PC keyboard. X servers
/// using evdev (Xorg with libinput or evdev, Xvfb, Xvnc) number keys as that code plus 8.
pub fn evdev_keycode(scancode: u32) -> Option<u32> {
    match scancode {
        // Escape to F10, the keypad and F11/F12: the first set's codes are evdev's.
        0x01..=0x58 => Some(scancode),
        0x9c => Some(96),  // keypad Enter
        0x9d => Some(97),  // right Control
        0xb5 => Some(98),  // keypad divide
        0xb7 => Some(99),  // Print Screen
        0xb8 => Some(100), // right Alt (AltGr)
        0xc7 => Some(102), // Home
        0xc8 => Some(103), // Up
        0xc9 => Some(104), // Page Up
        0xcb => Some(105), // Left
        0xcd => Some(106), // Right
        0xcf => Some(107), // End
        0xd0 => Some(108), // Down
        0xd1 => Some(109), // Page Down
        0xd2 => Some(110), // Insert
        0xd3 => Some(111), // Delete
        0xdb => Some(125), // left Super
        0xdc => Some(126), // right Super
        0xdd => Some(127), // Menu
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::ClientMessage;

    #[test]
    fn known_answer_and_round_trip() {
        let event = ExtendedKeyEvent {
            down: true,
            keysym: 0xff52,
            scancode: 0xc8,
        };
        let mut bytes = Vec::new();
        ClientMessage::QemuKeyEvent(event).write(&mut bytes);
        assert_eq!(
            bytes,
            [255, 0, 0, 1, 0, 0, 0xff, 0x52, 0, 0, 0, 0xc8],
            "type, subtype, down, keysym, scancode"
        );
        assert_eq!(
            ClientMessage::parse(&bytes),
            Ok(Some((ClientMessage::QemuKeyEvent(event), MESSAGE_LEN)))
        );
        for cut in 0..MESSAGE_LEN {
            assert_eq!(ClientMessage::parse(&bytes[..cut]), Ok(None));
        }
    }

    #[test]
    fn other_qemu_subtypes_are_named() {
        let error = ClientMessage::parse(&[255, 1, 0, 0]).unwrap_err();
        assert_eq!(error.to_string(), "unknown QEMU client message subtype 1");
    }

    #[test]
    fn scancodes_to_evdev() {
        assert_eq!(evdev_keycode(0x1e), Some(30), "A");
        assert_eq!(evdev_keycode(0xc8), Some(103), "Up");
        assert_eq!(evdev_keycode(0x9d), Some(97), "right Control");
        assert_eq!(evdev_keycode(0), None);
        assert_eq!(evdev_keycode(0xe048), None, "not the spec's form");
    }
}
