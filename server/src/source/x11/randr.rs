//! Screen size changes through RandR: the X server tells us when the root window changes
//! size (RRScreenChangeNotify), and the desktop follows, which viewers see as DesktopSize.
//! (A viewer asking for a size, SetDesktopSize, is not parsed by the protocol crate yet.)

use x11rb::connection::RequestConnection;
use x11rb::protocol::randr::{self, ConnectionExt as _, NotifyMask};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::XError;

/// Asks for screen change events; false if the server lacks RandR.
pub fn watch(connection: &RustConnection, root: xproto::Window) -> Result<bool, XError> {
    if connection
        .extension_information(randr::X11_EXTENSION_NAME)?
        .is_none()
    {
        return Ok(false);
    }
    connection.randr_query_version(1, 2)?.reply()?;
    connection.randr_select_input(root, NotifyMask::SCREEN_CHANGE)?;
    Ok(true)
}

/// The root window's size as it is now (events may be stale by the time they are read).
pub fn screen_size(
    connection: &RustConnection,
    root: xproto::Window,
) -> Result<(u16, u16), XError> {
    let geometry = connection.get_geometry(root)?.reply()?;
    Ok((geometry.width, geometry.height))
}
