//! Top-level window moves. DAMAGE says where pixels changed, not that they moved; but a
//! window's ConfigureNotify says it did. The x11 source follows the positions of the root's
//! children (SubstructureNotify), and when a window moved between two captures, its pixels at
//! the new place are checked against the old place and, where equal, sent as CopyRect: a
//! dragged window costs a few bytes per step instead of its whole picture.

use std::collections::HashMap;

use x11rb::protocol::xproto::{
    self, ChangeWindowAttributesAux, ConfigureNotifyEvent, ConnectionExt as _, EventMask,
};
use x11rb::rust_connection::RustConnection;

use super::XError;

/// A window's outer box (border included) in root coordinates; it may reach off the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowBox {
    pub x: i32,
    pub y: i32,
    pub width: i32,
    pub height: i32,
}

impl WindowBox {
    fn new(x: i16, y: i16, width: u16, height: u16, border: u16) -> WindowBox {
        WindowBox {
            x: i32::from(x),
            y: i32::from(y),
            width: i32::from(width) + 2 * i32::from(border),
            height: i32::from(height) + 2 * i32::from(border),
        }
    }
}

/// A window that moved: where it was at the last capture, and where it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowMove {
    pub from: WindowBox,
    pub to: WindowBox,
}

/// The most top-level windows followed; beyond that new ones are ignored (moves of those
/// are then sent as pixels, which is always correct).
const MAX_WINDOWS: usize = 4096;

#[derive(Debug, Default)]
pub struct WindowTracker {
    root: xproto::Window,
    positions: HashMap<xproto::Window, WindowBox>,
    moved: HashMap<xproto::Window, WindowMove>,
}

impl WindowTracker {
    /// Starts following the root's children.
    pub fn start(
        connection: &RustConnection,
        root: xproto::Window,
    ) -> Result<WindowTracker, XError> {
        connection.change_window_attributes(
            root,
            &ChangeWindowAttributesAux::new().event_mask(EventMask::SUBSTRUCTURE_NOTIFY),
        )?;
        let children = connection.query_tree(root)?.reply()?.children;
        let cookies: Vec<_> = children
            .iter()
            .take(MAX_WINDOWS)
            .map(|&window| connection.get_geometry(window).map(|c| (window, c)))
            .collect::<Result<_, _>>()?;
        let mut positions = HashMap::new();
        for (window, cookie) in cookies {
            // A window may be gone by now: that is no error here.
            if let Ok(g) = cookie.reply() {
                let at = WindowBox::new(g.x, g.y, g.width, g.height, g.border_width);
                positions.insert(window, at);
            }
        }
        Ok(WindowTracker {
            root,
            positions,
            moved: HashMap::new(),
        })
    }

    pub fn configured(&mut self, event: &ConfigureNotifyEvent) {
        if event.event != self.root || event.window == self.root {
            return;
        }
        let now = WindowBox::new(
            event.x,
            event.y,
            event.width,
            event.height,
            event.border_width,
        );
        if !self.positions.contains_key(&event.window) && self.positions.len() >= MAX_WINDOWS {
            return;
        }
        let Some(before) = self.positions.insert(event.window, now) else {
            return;
        };
        let from = self.moved.get(&event.window).map_or(before, |m| m.from);
        self.moved
            .insert(event.window, WindowMove { from, to: now });
    }

    pub fn forget(&mut self, window: xproto::Window) {
        self.positions.remove(&window);
        self.moved.remove(&window);
    }

    /// The moves since the last call (only those that kept the window's size).
    pub fn take_moves(&mut self) -> Vec<WindowMove> {
        self.moved
            .drain()
            .map(|(_, m)| m)
            .filter(|m| {
                (m.from.width, m.from.height) == (m.to.width, m.to.height)
                    && (m.from.x, m.from.y) != (m.to.x, m.to.y)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configure(window: u32, x: i16, y: i16, width: u16) -> ConfigureNotifyEvent {
        ConfigureNotifyEvent {
            response_type: xproto::CONFIGURE_NOTIFY_EVENT,
            sequence: 0,
            event: 1,
            window,
            above_sibling: 0,
            x,
            y,
            width,
            height: 50,
            border_width: 1,
            override_redirect: false,
        }
    }

    #[test]
    fn moves_between_captures_are_merged_and_resizes_dropped() {
        let mut tracker = WindowTracker {
            root: 1,
            ..WindowTracker::default()
        };
        tracker.configured(&configure(7, 10, 10, 100));
        assert!(
            tracker.take_moves().is_empty(),
            "a first sighting is no move"
        );
        tracker.configured(&configure(7, 20, 15, 100));
        tracker.configured(&configure(7, -30, 40, 100));
        let moves = tracker.take_moves();
        assert_eq!(moves.len(), 1);
        assert_eq!(
            (moves[0].from.x, moves[0].to.x, moves[0].to.y),
            (10, -30, 40)
        );
        assert_eq!(moves[0].to.width, 102);
        tracker.configured(&configure(7, 0, 0, 300));
        assert!(tracker.take_moves().is_empty(), "a resize is no move");
        tracker.forget(7);
        tracker.configured(&configure(7, 5, 5, 300));
        assert!(tracker.take_moves().is_empty());
    }
}
