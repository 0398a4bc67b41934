//! CopyRect encoding (RFC 6143 §7.7.2): "copy this rectangle from there", 4 bytes.

use crate::framebuffer::{Framebuffer, Rect};
use crate::wire::Writer;

pub const BODY_LEN: usize = 4;

pub fn encode(source_x: u16, source_y: u16, out: &mut Vec<u8>) {
    out.put_u16(source_x);
    out.put_u16(source_y);
}

/// Reads the source position from a 4-byte body.
pub fn parse(body: &[u8]) -> (u16, u16) {
    (
        u16::from_be_bytes([body[0], body[1]]),
        u16::from_be_bytes([body[2], body[3]]),
    )
}

/// Applies a CopyRect; `Err` names why the source does not lie inside the framebuffer.
pub fn decode(body: &[u8], rect: &Rect, framebuffer: &mut Framebuffer) -> Result<(), String> {
    let (source_x, source_y) = parse(body);
    let source = Rect::new(source_x, source_y, rect.width, rect.height);
    if !framebuffer.bounds().contains(&source) {
        return Err(format!(
            "source {source_x},{source_y} lies outside the framebuffer"
        ));
    }
    framebuffer.copy_rect(rect, source_x, source_y);
    Ok(())
}
