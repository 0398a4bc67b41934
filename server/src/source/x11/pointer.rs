//! The pointer's position, for viewers that take PointerPos: XInput 2 raw motion events on
//! the root window say that a device moved the pointer (a local mouse, XTEST from a viewer or
//! a script), and a QueryPointer says where it is. Queries are spaced by at least
//! [`POINTER_INTERVAL`], so a fast mouse costs a bounded number of round trips. A warp
//! (XWarpPointer, as `xdotool mousemove` does) moves no device and makes no raw event: a
//! query every [`POINTER_POLL`] catches those (one round trip, nothing sent if unchanged).

use std::time::{Duration, Instant};

use x11rb::connection::RequestConnection;
use x11rb::protocol::xinput::{self, ConnectionExt as _, EventMask, XIEventMask};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::XError;

/// The shortest time between two position queries while the pointer moves.
pub const POINTER_INTERVAL: Duration = Duration::from_millis(15);
/// How often the position is checked when no motion was reported.
pub const POINTER_POLL: Duration = Duration::from_millis(250);
/// XIAllDevices: raw events come from the physical (slave) devices, XTEST's included.
const ALL_DEVICES: xinput::DeviceId = 0;

/// Follows the pointer once [`PointerTracker::start`] found XInput 2.
#[derive(Debug)]
pub struct PointerTracker {
    root: xproto::Window,
    /// The pointer moved and has not been queried since.
    moved: bool,
    last_query: Instant,
}

impl PointerTracker {
    /// Asks for raw motion events; `None` if the server lacks XInput 2.
    pub fn start(
        connection: &RustConnection,
        root: xproto::Window,
    ) -> Result<Option<PointerTracker>, XError> {
        if connection
            .extension_information(xinput::X11_EXTENSION_NAME)?
            .is_none()
        {
            return Ok(None);
        }
        let version = connection.xinput_xi_query_version(2, 2)?.reply()?;
        if version.major_version < 2 {
            return Ok(None);
        }
        connection
            .xinput_xi_select_events(
                root,
                &[EventMask {
                    deviceid: ALL_DEVICES,
                    mask: vec![XIEventMask::RAW_MOTION],
                }],
            )?
            .check()?;
        Ok(Some(PointerTracker {
            root,
            moved: true,
            last_query: Instant::now() - POINTER_INTERVAL,
        }))
    }

    /// A raw motion event arrived.
    pub fn moved(&mut self) {
        self.moved = true;
    }

    /// When the position is next due to be queried.
    pub fn next_query(&self) -> Instant {
        self.last_query
            + if self.moved {
                POINTER_INTERVAL
            } else {
                POINTER_POLL
            }
    }

    /// The pointer's position on the screen, if a query is due; `None` also when it is on
    /// another screen.
    pub fn query_if_due(
        &mut self,
        connection: &RustConnection,
        now: Instant,
    ) -> Result<Option<(u16, u16)>, XError> {
        if self.next_query() > now {
            return Ok(None);
        }
        self.moved = false;
        self.last_query = now;
        let reply = connection.query_pointer(self.root)?.reply()?;
        if !reply.same_screen {
            return Ok(None);
        }
        Ok(Some((
            reply.root_x.max(0) as u16,
            reply.root_y.max(0) as u16,
        )))
    }
}
