//! The pointer's shape, from XFIXES: the server tells us when the cursor changes
//! (CursorNotify) and gives its image as premultiplied ARGB, the form the Cursor With Alpha
//! pseudo-encoding carries.

use farview_protocol::encodings::cursor::{Cursor, MAX_CURSOR_SIDE};
use x11rb::connection::RequestConnection;
use x11rb::protocol::xfixes::{self, ConnectionExt as _, CursorNotifyMask};
use x11rb::protocol::xproto;
use x11rb::rust_connection::RustConnection;

use super::XError;

/// Asks for CursorNotify events; false if the server lacks XFIXES.
pub fn watch(connection: &RustConnection, root: xproto::Window) -> Result<bool, XError> {
    if connection
        .extension_information(xfixes::X11_EXTENSION_NAME)?
        .is_none()
    {
        return Ok(false);
    }
    connection.xfixes_query_version(5, 0)?.reply()?;
    connection.xfixes_select_cursor_input(root, CursorNotifyMask::DISPLAY_CURSOR)?;
    Ok(true)
}

/// The current cursor image.
pub fn current(connection: &RustConnection) -> Result<Cursor, XError> {
    let reply = connection.xfixes_get_cursor_image()?.reply()?;
    Ok(from_argb(
        reply.width,
        reply.height,
        reply.xhot,
        reply.yhot,
        &reply.cursor_image,
    ))
}

/// Converts premultiplied ARGB pixels to a [`Cursor`], cropped to what RFB viewers accept.
pub fn from_argb(width: u16, height: u16, xhot: u16, yhot: u16, argb: &[u32]) -> Cursor {
    let (cropped_width, cropped_height) = (width.min(MAX_CURSOR_SIDE), height.min(MAX_CURSOR_SIDE));
    if argb.len() < usize::from(width) * usize::from(height) {
        return Cursor::hidden();
    }
    let mut rgba = Vec::with_capacity(usize::from(cropped_width) * usize::from(cropped_height) * 4);
    for row in 0..usize::from(cropped_height) {
        let line = &argb[row * usize::from(width)..][..usize::from(cropped_width)];
        for &pixel in line {
            let [alpha, red, green, blue] = pixel.to_be_bytes();
            // A server is trusted to premultiply, but a colour above its alpha would be
            // refused by Cursor::validate: clamp instead.
            rgba.extend_from_slice(&[red.min(alpha), green.min(alpha), blue.min(alpha), alpha]);
        }
    }
    Cursor {
        hotspot_x: xhot.min(cropped_width.saturating_sub(1)),
        hotspot_y: yhot.min(cropped_height.saturating_sub(1)),
        width: cropped_width,
        height: cropped_height,
        rgba,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argb_becomes_premultiplied_rgba_and_large_cursors_are_cropped() {
        let cursor = from_argb(2, 1, 1, 0, &[0xff10_2030, 0x8090_0000]);
        assert_eq!(cursor.rgba, [0x10, 0x20, 0x30, 0xff, 0x80, 0, 0, 0x80]);
        assert!(cursor.validate().is_ok());
        let big = from_argb(300, 2, 299, 1, &vec![0xff00_0000; 600]);
        assert_eq!((big.width, big.height, big.hotspot_x), (256, 2, 255));
        assert!(big.validate().is_ok());
        assert!(from_argb(4, 4, 0, 0, &[0; 3]).validate().is_ok());
    }
}
