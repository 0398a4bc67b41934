//! Change tracking with the DAMAGE extension. The damage object reports only when the screen
//! goes from undamaged to damaged (level NonEmpty), so an idle desktop sends nothing; when we
//! capture, the accumulated damage moves into an XFIXES region (DamageSubtract) and is fetched
//! as rectangles, all in one round trip.

use farview_protocol::Rect;
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::damage::{self, ConnectionExt as _, ReportLevel};
use x11rb::protocol::xfixes::{self, ConnectionExt as _};
use x11rb::protocol::xproto;
use x11rb::rust_connection::RustConnection;

use super::XError;

/// More damaged rectangles than this are captured as their bounding box: one large read is
/// cheaper than many small ones.
const MAX_RECTS: usize = 64;

#[derive(Debug)]
pub struct DamageTracker {
    damage: damage::Damage,
    parts: xfixes::Region,
}

impl DamageTracker {
    /// Starts tracking `root`; `Ok(None)` if the server lacks DAMAGE or XFIXES 2.
    pub fn start(
        connection: &RustConnection,
        root: xproto::Window,
    ) -> Result<Option<DamageTracker>, XError> {
        for name in [damage::X11_EXTENSION_NAME, xfixes::X11_EXTENSION_NAME] {
            if connection.extension_information(name)?.is_none() {
                return Ok(None);
            }
        }
        let fixes = connection.xfixes_query_version(5, 0)?.reply()?;
        if fixes.major_version < 2 {
            return Ok(None);
        }
        connection.damage_query_version(1, 1)?.reply()?;
        let damage = connection.generate_id()?;
        connection.damage_create(damage, root, ReportLevel::NON_EMPTY)?;
        let parts = connection.generate_id()?;
        connection.xfixes_create_region(parts, &[])?;
        Ok(Some(DamageTracker { damage, parts }))
    }

    /// Takes the damage so far (after which the next damage is reported again), as
    /// rectangles clipped to the `width`x`height` screen.
    pub fn take(
        &self,
        connection: &RustConnection,
        width: u16,
        height: u16,
    ) -> Result<Vec<Rect>, XError> {
        connection.damage_subtract(self.damage, x11rb::NONE, self.parts)?;
        let region = connection.xfixes_fetch_region(self.parts)?.reply()?;
        let clip = |r: &xproto::Rectangle| {
            let (x, y) = (i32::from(r.x).max(0), i32::from(r.y).max(0));
            let right = (i32::from(r.x) + i32::from(r.width)).min(i32::from(width));
            let bottom = (i32::from(r.y) + i32::from(r.height)).min(i32::from(height));
            (right > x && bottom > y)
                .then(|| Rect::new(x as u16, y as u16, (right - x) as u16, (bottom - y) as u16))
        };
        if region.rectangles.len() > MAX_RECTS {
            return Ok(clip(&region.extents).into_iter().collect());
        }
        Ok(region.rectangles.iter().filter_map(clip).collect())
    }

    pub fn stop(&self, connection: &RustConnection) {
        let _ = connection.damage_destroy(self.damage);
        let _ = connection.xfixes_destroy_region(self.parts);
    }
}
