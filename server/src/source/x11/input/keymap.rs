//! The X keyboard map as the core protocol shows it: for each keycode, its keysyms by level
//! (column 0 plain, column 1 with Shift). Viewers send keysyms; XTEST presses keycodes, so
//! each keysym is looked up here with the Shift state it needs.

use x11rb::protocol::xproto::ConnectionExt as _;
use x11rb::rust_connection::RustConnection;

use super::super::XError;

/// The keysym of an unused column.
pub const NO_SYMBOL: u32 = 0;

/// Where a keysym sits on a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyPosition {
    pub keycode: u8,
    /// It needs Shift held (column 1); otherwise Shift must be up (column 0).
    pub shifted: bool,
    /// The key gives a different keysym with Shift: Shift held by the viewer would change it.
    pub shift_matters: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    min_keycode: u8,
    per_keycode: usize,
    keysyms: Vec<u32>,
}

impl Keymap {
    pub fn load(connection: &RustConnection) -> Result<Keymap, XError> {
        let setup = x11rb::connection::Connection::setup(connection);
        let (min, max) = (setup.min_keycode, setup.max_keycode);
        let count = max.saturating_sub(min).saturating_add(1);
        let reply = connection.get_keyboard_mapping(min, count)?.reply()?;
        Ok(Keymap::new(
            min,
            usize::from(reply.keysyms_per_keycode),
            reply.keysyms,
        ))
    }

    pub fn new(min_keycode: u8, per_keycode: usize, keysyms: Vec<u32>) -> Keymap {
        Keymap {
            min_keycode,
            per_keycode: per_keycode.max(1),
            keysyms,
        }
    }

    pub fn per_keycode(&self) -> usize {
        self.per_keycode
    }

    fn keys(&self) -> impl Iterator<Item = (u8, &[u32])> {
        self.keysyms
            .chunks_exact(self.per_keycode)
            .enumerate()
            .filter_map(|(index, columns)| {
                let keycode = u8::try_from(usize::from(self.min_keycode) + index).ok()?;
                Some((keycode, columns))
            })
    }

    /// The two levels of a key, filled in as the core protocol rules say: a lone letter
    /// stands for its lower case plain and its upper case with Shift.
    fn levels(columns: &[u32]) -> (u32, u32) {
        let plain = columns.first().copied().unwrap_or(NO_SYMBOL);
        let shifted = columns.get(1).copied().unwrap_or(NO_SYMBOL);
        if shifted != NO_SYMBOL {
            return (plain, shifted);
        }
        match upper_case(plain) {
            Some(upper) => (lower_case(plain).unwrap_or(plain), upper),
            None => (plain, plain),
        }
    }

    /// Where `keysym` can be typed with Shift alone, plain level first, lowest keycode first.
    pub fn find(&self, keysym: u32) -> Option<KeyPosition> {
        if keysym == NO_SYMBOL {
            return None;
        }
        let mut shifted_match = None;
        for (keycode, columns) in self.keys() {
            let (plain, shifted) = Self::levels(columns);
            let shift_matters = shifted != NO_SYMBOL && shifted != plain;
            if plain == keysym {
                return Some(KeyPosition {
                    keycode,
                    shifted: false,
                    shift_matters,
                });
            }
            if shifted == keysym && shifted_match.is_none() {
                shifted_match = Some(KeyPosition {
                    keycode,
                    shifted: true,
                    shift_matters,
                });
            }
        }
        shifted_match
    }

    /// The first keycode bound to `keysym` at any column (for modifiers such as Shift_L).
    pub fn keycode_of(&self, keysym: u32) -> Option<u8> {
        self.keys()
            .find(|(_, columns)| columns.contains(&keysym))
            .map(|(keycode, _)| keycode)
    }

    /// Keycodes with no keysym at all: free to bind keysyms the layout lacks.
    /// Whether `keycode` is one of the keyboard's.
    pub fn contains(&self, keycode: u8) -> bool {
        self.keys().any(|(k, _)| k == keycode)
    }

    pub fn unused_keycodes(&self) -> Vec<u8> {
        self.keys()
            .filter(|(_, columns)| columns.iter().all(|&keysym| keysym == NO_SYMBOL))
            .map(|(keycode, _)| keycode)
            .collect()
    }

    /// Records that `keycode` now carries `keysym` in every column (or nothing).
    pub fn set(&mut self, keycode: u8, keysym: u32) {
        let Some(index) = usize::from(keycode).checked_sub(usize::from(self.min_keycode)) else {
            return;
        };
        if let Some(columns) = self.keysyms.chunks_exact_mut(self.per_keycode).nth(index) {
            columns.fill(keysym);
        }
    }
}

/// Latin-1 letters have a case pair; the rest of the keysym space is left alone.
fn upper_case(keysym: u32) -> Option<u32> {
    match keysym {
        0x61..=0x7a => Some(keysym - 0x20),
        0xe0..=0xfe if keysym != 0xf7 => Some(keysym - 0x20),
        0x41..=0x5a | 0xc0..=0xde if keysym != 0xd7 => Some(keysym),
        _ => None,
    }
}

fn lower_case(keysym: u32) -> Option<u32> {
    match keysym {
        0x41..=0x5a => Some(keysym + 0x20),
        0xc0..=0xde if keysym != 0xd7 => Some(keysym + 0x20),
        0x61..=0x7a | 0xe0..=0xfe if keysym != 0xf7 => Some(keysym),
        _ => None,
    }
}

/// Makes `keycode` type `keysym` at every level, or nothing with [`NO_SYMBOL`].
pub fn bind(
    connection: &RustConnection,
    keymap: &mut Keymap,
    keycode: u8,
    keysym: u32,
) -> Result<(), XError> {
    let columns = vec![keysym; keymap.per_keycode()];
    connection.change_keyboard_mapping(1, keycode, keymap.per_keycode() as u8, &columns)?;
    keymap.set(keycode, keysym);
    Ok(())
}

/// The keysym of a Unicode character as X spells it: Latin-1 as itself, the rest as
/// 0x01000000 + code point.
pub fn char_keysym(character: char) -> u32 {
    let code = u32::from(character);
    if (0x20..=0x7e).contains(&code) || (0xa0..=0xff).contains(&code) {
        code
    } else {
        0x0100_0000 + code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT_L: u32 = 0xffe1;

    /// Keycode 10: 1 !, 11: a A, 12: lone b, 13: Shift_L, 14: unused, 15: Return.
    fn sample() -> Keymap {
        Keymap::new(
            10,
            2,
            vec![0x31, 0x21, 0x61, 0x41, 0x62, 0, SHIFT_L, 0, 0, 0, 0xff0d, 0],
        )
    }

    #[test]
    fn keysyms_are_found_with_the_shift_they_need() {
        let keymap = sample();
        let position = |keycode, shifted, shift_matters| {
            Some(KeyPosition {
                keycode,
                shifted,
                shift_matters,
            })
        };
        assert_eq!(keymap.find(0x31), position(10, false, true));
        assert_eq!(keymap.find(0x21), position(10, true, true));
        assert_eq!(keymap.find(0x41), position(11, true, true));
        assert_eq!(keymap.find(0x62), position(12, false, true));
        assert_eq!(keymap.find(0x42), position(12, true, true));
        assert_eq!(keymap.find(0xff0d), position(15, false, false));
        assert_eq!(keymap.find(0x20ac), None);
        assert_eq!(keymap.keycode_of(SHIFT_L), Some(13));
    }

    #[test]
    fn unused_keycodes_can_be_bound_and_freed() {
        let mut keymap = sample();
        assert_eq!(keymap.unused_keycodes(), vec![14]);
        keymap.set(14, 0x20ac);
        assert_eq!(keymap.find(0x20ac).map(|p| p.keycode), Some(14));
        assert!(keymap.unused_keycodes().is_empty());
        keymap.set(14, NO_SYMBOL);
        assert_eq!(keymap.unused_keycodes(), vec![14]);
        keymap.set(200, 1);
        keymap.set(3, 1);
    }

    #[test]
    fn characters_map_to_keysyms() {
        assert_eq!(char_keysym('a'), 0x61);
        assert_eq!(char_keysym('é'), 0xe9);
        assert_eq!(char_keysym('€'), 0x0100_20ac);
    }
}
