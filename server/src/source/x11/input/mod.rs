//! Viewers' keyboard and pointer, replayed with XTEST.
//!
//! Keys: a viewer sends keysyms (RFC 6143 §7.5.4), XTEST presses keycodes. Each keysym is
//! looked up in the current keyboard map with the Shift level it needs, and Shift is pressed
//! or released around the key when the viewer's Shift state disagrees. A keysym the layout
//! lacks gets an unused keycode bound for it; the binding is kept while it is in use (a client
//! resolves keycodes only when it reads the event) and given back once idle or on exit.
//!
//! A key that came with its scancode (QEMU Extended Key Event) and whose keysym the layout
//! lacks (or that has none) is pressed by its physical position instead: the XT scancode's
//! evdev code plus 8, the X keycode of evdev keyboards.
//!
//! Pointer: motion, then one press or release per button bit that changed; bits 3 and 4
//! (buttons 4 and 5) are the wheel, so scrolling just works.

pub mod keymap;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use x11rb::protocol::xproto::{self, BUTTON_PRESS_EVENT, BUTTON_RELEASE_EVENT, KEY_PRESS_EVENT};
use x11rb::protocol::xproto::{KEY_RELEASE_EVENT, MOTION_NOTIFY_EVENT};
use x11rb::protocol::xtest::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::XError;
use keymap::{KeyPosition, Keymap, NO_SYMBOL};

const SHIFT_L: u32 = 0xffe1;
const SHIFT_R: u32 = 0xffe2;
/// How long a keysym bound to a spare keycode stays bound after its last release.
pub const SPARE_BINDING_IDLE: Duration = Duration::from_secs(3);

/// A spare keycode bound to a keysym the layout lacks.
#[derive(Debug)]
struct Binding {
    keycode: u8,
    keysym: u32,
    released_at: Option<Instant>,
}

#[derive(Debug)]
pub struct Input {
    root: xproto::Window,
    keymap: Keymap,
    /// Keycodes with no keysyms when we started: ours to bind.
    spare: Vec<u8>,
    bindings: Vec<Binding>,
    /// What each keysym the viewer holds pressed, so its release matches.
    pressed: HashMap<u32, u8>,
    /// The Shift keycodes the viewer holds.
    shifts_held: Vec<u8>,
    buttons: u8,
}

impl Input {
    pub fn new(connection: &RustConnection, root: xproto::Window) -> Result<Input, XError> {
        let keymap = Keymap::load(connection)?;
        let spare = keymap.unused_keycodes();
        Ok(Input {
            root,
            keymap,
            spare,
            bindings: Vec::new(),
            pressed: HashMap::new(),
            shifts_held: Vec::new(),
            buttons: 0,
        })
    }

    /// Reads the keyboard map again (another client changed it).
    pub fn reload_keymap(&mut self, connection: &RustConnection) -> Result<(), XError> {
        self.keymap = Keymap::load(connection)?;
        Ok(())
    }

    fn fake(
        &self,
        connection: &RustConnection,
        kind: u8,
        detail: u8,
        x: i16,
        y: i16,
    ) -> Result<(), XError> {
        connection.xtest_fake_input(kind, detail, 0, self.root, x, y, 0)?;
        Ok(())
    }

    fn key(&self, connection: &RustConnection, down: bool, keycode: u8) -> Result<(), XError> {
        let kind = if down {
            KEY_PRESS_EVENT
        } else {
            KEY_RELEASE_EVENT
        };
        self.fake(connection, kind, keycode, 0, 0)
    }

    pub fn key_event(
        &mut self,
        connection: &RustConnection,
        down: bool,
        keysym: u32,
        scancode: Option<u32>,
    ) -> Result<(), XError> {
        let known = self
            .keymap
            .find(keysym)
            .or_else(|| self.scancode_position(scancode));
        if !down {
            let keycode = match self.pressed.remove(&keysym) {
                Some(keycode) => keycode,
                None => match known {
                    Some(position) => position.keycode,
                    None => return Ok(()),
                },
            };
            self.shifts_held.retain(|&held| held != keycode);
            if let Some(binding) = self.bindings.iter_mut().find(|b| b.keycode == keycode) {
                binding.released_at = Some(Instant::now());
            }
            return self.key(connection, false, keycode);
        }
        if let Some(&keycode) = self.pressed.get(&keysym) {
            // Auto-repeat from the viewer: press again without a release in between.
            return self.key(connection, true, keycode);
        }
        let position = match known {
            Some(position) => position,
            None => match self.bind_spare(connection, keysym)? {
                Some(position) => position,
                None => {
                    tracing::debug!("keysym {keysym:#x}: no key and no spare keycode");
                    return Ok(());
                }
            },
        };
        if keysym == SHIFT_L || keysym == SHIFT_R {
            self.shifts_held.push(position.keycode);
            self.pressed.insert(keysym, position.keycode);
            return self.key(connection, true, position.keycode);
        }
        self.press_at_level(connection, position)?;
        self.pressed.insert(keysym, position.keycode);
        Ok(())
    }

    /// The key at an XT scancode's place, pressed as it is (the viewer's modifiers apply).
    fn scancode_position(&self, scancode: Option<u32>) -> Option<KeyPosition> {
        let evdev = farview_protocol::qemu_key_event::evdev_keycode(scancode?)?;
        let keycode = u8::try_from(evdev + 8).ok()?;
        self.keymap.contains(keycode).then_some(KeyPosition {
            keycode,
            shifted: false,
            shift_matters: false,
        })
    }

    /// Presses the key of `position` with Shift as its level needs, restoring the viewer's
    /// Shift state right after.
    fn press_at_level(
        &mut self,
        connection: &RustConnection,
        position: KeyPosition,
    ) -> Result<(), XError> {
        let shift_down = !self.shifts_held.is_empty();
        if position.shifted && !shift_down {
            let shift = self
                .keymap
                .keycode_of(SHIFT_L)
                .or(self.keymap.keycode_of(SHIFT_R));
            if let Some(shift) = shift {
                self.key(connection, true, shift)?;
                self.key(connection, true, position.keycode)?;
                return self.key(connection, false, shift);
            }
        } else if !position.shifted && shift_down && position.shift_matters {
            for &shift in &self.shifts_held {
                self.key(connection, false, shift)?;
            }
            self.key(connection, true, position.keycode)?;
            for &shift in &self.shifts_held {
                self.key(connection, true, shift)?;
            }
            return Ok(());
        }
        self.key(connection, true, position.keycode)
    }

    /// Binds `keysym` to a spare keycode: a free one, or the one idle the longest.
    fn bind_spare(
        &mut self,
        connection: &RustConnection,
        keysym: u32,
    ) -> Result<Option<KeyPosition>, XError> {
        let free = self
            .spare
            .iter()
            .copied()
            .find(|keycode| !self.bindings.iter().any(|b| b.keycode == *keycode));
        let keycode = match free {
            Some(keycode) => keycode,
            None => {
                let Some(index) = self
                    .bindings
                    .iter()
                    .enumerate()
                    .filter_map(|(index, b)| b.released_at.map(|at| (at, index)))
                    .min()
                    .map(|(_, index)| index)
                else {
                    return Ok(None);
                };
                self.bindings.swap_remove(index).keycode
            }
        };
        keymap::bind(connection, &mut self.keymap, keycode, keysym)?;
        tracing::debug!("keysym {keysym:#x} bound to spare keycode {keycode}");
        self.bindings.push(Binding {
            keycode,
            keysym,
            released_at: None,
        });
        Ok(Some(KeyPosition {
            keycode,
            shifted: false,
            shift_matters: false,
        }))
    }

    /// When the next idle spare binding is due to be given back.
    pub fn next_unbind(&self) -> Option<Instant> {
        self.bindings
            .iter()
            .filter_map(|b| b.released_at)
            .min()
            .map(|at| at + SPARE_BINDING_IDLE)
    }

    /// Gives back the spare keycodes idle for [`SPARE_BINDING_IDLE`].
    pub fn unbind_idle(&mut self, connection: &RustConnection) -> Result<(), XError> {
        let now = Instant::now();
        let (idle, kept): (Vec<Binding>, Vec<Binding>) = std::mem::take(&mut self.bindings)
            .into_iter()
            .partition(|b| {
                b.released_at
                    .is_some_and(|at| now >= at + SPARE_BINDING_IDLE)
            });
        self.bindings = kept;
        for binding in idle {
            tracing::debug!("keysym {:#x} unbound", binding.keysym);
            keymap::bind(connection, &mut self.keymap, binding.keycode, NO_SYMBOL)?;
        }
        Ok(())
    }

    pub fn pointer_event(
        &mut self,
        connection: &RustConnection,
        buttons: u8,
        x: u16,
        y: u16,
    ) -> Result<(), XError> {
        let (x, y) = (x.min(i16::MAX as u16) as i16, y.min(i16::MAX as u16) as i16);
        self.fake(connection, MOTION_NOTIFY_EVENT, 0, x, y)?;
        let changed = buttons ^ self.buttons;
        for bit in 0..8u8 {
            if changed & (1 << bit) == 0 {
                continue;
            }
            let kind = if buttons & (1 << bit) != 0 {
                BUTTON_PRESS_EVENT
            } else {
                BUTTON_RELEASE_EVENT
            };
            self.fake(connection, kind, bit + 1, x, y)?;
        }
        self.buttons = buttons;
        Ok(())
    }

    /// Releases whatever the viewers left pressed and gives back every spare keycode.
    pub fn release_all(&mut self, connection: &RustConnection) {
        let keycodes: Vec<u8> = self.pressed.drain().map(|(_, keycode)| keycode).collect();
        for keycode in keycodes {
            let _ = self.key(connection, false, keycode);
        }
        for bit in 0..8u8 {
            if self.buttons & (1 << bit) != 0 {
                let _ = self.fake(connection, BUTTON_RELEASE_EVENT, bit + 1, 0, 0);
            }
        }
        self.buttons = 0;
        for binding in std::mem::take(&mut self.bindings) {
            let _ = keymap::bind(connection, &mut self.keymap, binding.keycode, NO_SYMBOL);
        }
    }
}
