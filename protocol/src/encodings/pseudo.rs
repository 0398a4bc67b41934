//! Pseudo-encodings without a body: DesktopSize (RFC 6143 §7.8.2), whose rectangle carries
//! the new size in its width and height, and LastRect, which ends an update early.

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
