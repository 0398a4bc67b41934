//! X keysyms, as RFB key events carry them: the few the demo acts on, and the characters
//! the others type.

pub const BACKSPACE: u32 = 0xff08;
pub const TAB: u32 = 0xff09;
pub const RETURN: u32 = 0xff0d;
pub const ESCAPE: u32 = 0xff1b;
pub const KP_ENTER: u32 = 0xff8d;
pub const CONTROL_L: u32 = 0xffe3;
pub const CONTROL_R: u32 = 0xffe4;

/// The character a keysym types, if it types one: Latin-1 keysyms are their character,
/// keypad keys their digit or sign, and keysyms 0x1000000 + U the Unicode character U.
pub fn keysym_char(keysym: u32) -> Option<char> {
    let c = match keysym {
        0x20..=0x7e | 0xa0..=0xff => char::from_u32(keysym)?,
        0xff80 => ' ',
        0xffaa..=0xffb9 => char::from(b"*+,-./0123456789"[(keysym - 0xffaa) as usize]),
        0x0100_0000..=0x0110_ffff => char::from_u32(keysym - 0x0100_0000)?,
        _ => return None,
    };
    (!c.is_control()).then_some(c)
}

/// A short name for the status bar.
pub fn key_name(keysym: u32) -> String {
    match keysym {
        BACKSPACE => "BackSpace".into(),
        RETURN | KP_ENTER => "Return".into(),
        ESCAPE => "Escape".into(),
        CONTROL_L | CONTROL_R => "Control".into(),
        _ => match keysym_char(keysym) {
            Some(' ') => "space".into(),
            Some(c) => format!("'{c}'"),
            None => format!("0x{keysym:04x}"),
        },
    }
}
