//! Pseudo-encodings without a body: DesktopSize (RFC 6143 §7.8.2), whose rectangle carries
//! the new size in its width and height, LastRect, which ends an update early, and PointerPos
//! (community spec), whose x and y say where the server's pointer now is.

use crate::framebuffer::Rect;
use crate::messages::{EncodingType, RectangleHeader};

/// The rectangle header announcing a new desktop size.
pub fn desktop_size(width: u16, height: u16) -> RectangleHeader {
    RectangleHeader {
        rect: Rect::new(0, 0, width, height),
        encoding: EncodingType::DESKTOP_SIZE,
    }
}

/// The rectangle header that ends an update whose count was given as 0xFFFF.
pub fn last_rect() -> RectangleHeader {
    RectangleHeader {
        rect: Rect::default(),
        encoding: EncodingType::LAST_RECT,
    }
}

/// The rectangle header that moves the viewer's pointer to `x`, `y`.
pub fn pointer_pos(x: u16, y: u16) -> RectangleHeader {
    RectangleHeader {
        rect: Rect::new(x, y, 0, 0),
        encoding: EncodingType::POINTER_POS,
    }
}
