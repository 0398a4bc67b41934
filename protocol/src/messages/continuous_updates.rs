//! The ContinuousUpdates extension (community RFB spec: EnableContinuousUpdates, client
//! message 150; EndOfContinuousUpdates, server message 150; the ContinuousUpdates
//! pseudo-encoding -313). Once a viewer has enabled it for an area, the server sends updates
//! of that area as it changes, without waiting for update requests; incremental requests are
//! then ignored. The server announces support with an EndOfContinuousUpdates the first time
//! the viewer lists the pseudo-encoding, and sends one again whenever the viewer disables
//! continuous updates, to mark where the last of them ends.

use crate::framebuffer::Rect;
use crate::wire::{Reader, Writer};

/// The message type of EnableContinuousUpdates (client) and EndOfContinuousUpdates (server).
pub const CONTINUOUS_UPDATES_MESSAGE_TYPE: u8 = 150;

/// The viewer turns continuous updates on (for `area`) or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnableContinuousUpdates {
    pub enable: bool,
    /// The area to keep up to date; replaces the previous one while enabled.
    pub area: Rect,
}

impl EnableContinuousUpdates {
    /// Reads the message after its type byte; `None` when more bytes are needed.
    pub(crate) fn read(reader: &mut Reader<'_>) -> Option<EnableContinuousUpdates> {
        let b = reader.take(9)?;
        let field = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        Some(EnableContinuousUpdates {
            enable: b[0] != 0,
            area: Rect::new(field(1), field(3), field(5), field(7)),
        })
    }

    /// Writes the whole message, type byte included.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&[CONTINUOUS_UPDATES_MESSAGE_TYPE, u8::from(self.enable)]);
        for v in [self.area.x, self.area.y, self.area.width, self.area.height] {
            out.put_u16(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        let message = EnableContinuousUpdates {
            enable: true,
            area: Rect::new(1, 2, 640, 480),
        };
        let mut bytes = Vec::new();
        message.write(&mut bytes);
        assert_eq!(bytes, [150, 1, 0, 1, 0, 2, 0x02, 0x80, 0x01, 0xe0]);
        let mut reader = Reader::new(&bytes[1..]);
        assert_eq!(EnableContinuousUpdates::read(&mut reader), Some(message));
        assert_eq!(reader.consumed(), 9);
        assert_eq!(
            EnableContinuousUpdates::read(&mut Reader::new(&bytes[1..9])),
            None
        );
    }
}
