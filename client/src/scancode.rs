//! The XT scancode (set 1) of each key of a US PC keyboard, as minifb names them: a viewer
//! sends it next to the keysym in QEMU Extended Key Events, so that the server can press the
//! same physical key. Two-byte codes (0xE0 prefix) are written as the QEMU message wants
//! them: the second byte with its high bit set.

use minifb::Key;

pub fn xt_scancode(key: Key) -> Option<u32> {
    use Key::*;
    // Letters in keyboard order, row by row, with the first code of each row.
    const ROWS: [(u32, &[Key]); 3] = [
        (
            0x10,
            &[Q, W, E, R, T, Y, U, I, O, P, LeftBracket, RightBracket],
        ),
        (
            0x1e,
            &[A, S, D, F, G, H, J, K, L, Semicolon, Apostrophe, Backquote],
        ),
        (0x2c, &[Z, X, C, V, B, N, M, Comma, Period, Slash]),
    ];
    for (first, keys) in ROWS {
        if let Some(at) = keys.iter().position(|&k| k == key) {
            return Some(first + at as u32);
        }
    }
    Some(match key {
        Escape => 0x01,
        Key1 | Key2 | Key3 | Key4 | Key5 | Key6 | Key7 | Key8 | Key9 => {
            0x02 + key as u32 - Key1 as u32
        }
        Key0 => 0x0b,
        Minus => 0x0c,
        Equal => 0x0d,
        Backspace => 0x0e,
        Tab => 0x0f,
        Enter => 0x1c,
        LeftCtrl => 0x1d,
        LeftShift => 0x2a,
        Backslash => 0x2b,
        RightShift => 0x36,
        NumPadAsterisk => 0x37,
        LeftAlt => 0x38,
        Space => 0x39,
        CapsLock => 0x3a,
        F1 | F2 | F3 | F4 | F5 | F6 | F7 | F8 | F9 | F10 => 0x3b + key as u32 - F1 as u32,
        NumLock => 0x45,
        ScrollLock => 0x46,
        F11 => 0x57,
        F12 => 0x58,
        NumPadEnter => 0x9c,
        RightCtrl => 0x9d,
        RightAlt => 0xb8,
        Home => 0xc7,
        Up => 0xc8,
        PageUp => 0xc9,
        Left => 0xcb,
        Right => 0xcd,
        End => 0xcf,
        Down => 0xd0,
        PageDown => 0xd1,
        Insert => 0xd2,
        Delete => 0xd3,
        LeftSuper => 0xdb,
        RightSuper => 0xdc,
        Menu => 0xdd,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scancodes() {
        assert_eq!(xt_scancode(Key::Q), Some(0x10));
        assert_eq!(xt_scancode(Key::A), Some(0x1e));
        assert_eq!(xt_scancode(Key::M), Some(0x32));
        assert_eq!(xt_scancode(Key::Key1), Some(0x02));
        assert_eq!(xt_scancode(Key::Key9), Some(0x0a));
        assert_eq!(xt_scancode(Key::F10), Some(0x44));
        assert_eq!(xt_scancode(Key::Up), Some(0xc8));
        // Every code maps to a key the server side knows.
        for key in [Key::Escape, Key::Slash, Key::F12, Key::Menu, Key::RightAlt] {
            let code = xt_scancode(key).unwrap();
            assert!(farview_protocol::qemu_key_event::evdev_keycode(code).is_some());
        }
    }
}
