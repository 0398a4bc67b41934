//! ExtendedDesktopSize pseudo-encoding (-308) and the screen layout it shares with the
//! SetDesktopSize client message (251), as the community RFB spec defines them.
//!
//! The rectangle's x is the reason for the change ([`ResizeReason`]), its y the status of a
//! viewer's request ([`ResizeStatus`]), its width and height the new framebuffer size. The body
//! is a U8 screen count, 3 bytes of padding and 16 bytes per screen. A count is a U8, so a
//! layout is at most [`MAX_SCREENS`] screens (4 KiB) whatever the peer claims.

use crate::framebuffer::{Framebuffer, Rect};
use crate::messages::{EncodingType, RectangleHeader};
use crate::wire::{Reader, Writer};

/// The most screens a layout can hold: the count is one byte on the wire.
pub const MAX_SCREENS: usize = u8::MAX as usize;
/// The bytes of one screen on the wire.
pub const SCREEN_WIRE_SIZE: usize = 16;

/// One screen: a viewport into the framebuffer, as a monitor is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Screen {
    pub id: u32,
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
    /// Unused by the spec; kept as received.
    pub flags: u32,
}

impl Screen {
    /// A screen covering a whole `width` x `height` framebuffer.
    pub fn whole(id: u32, width: u16, height: u16) -> Screen {
        Screen {
            id,
            x: 0,
            y: 0,
            width,
            height,
            flags: 0,
        }
    }

    pub(crate) fn read(reader: &mut Reader<'_>) -> Option<Screen> {
        Some(Screen {
            id: reader.u32()?,
            x: reader.u16()?,
            y: reader.u16()?,
            width: reader.u16()?,
            height: reader.u16()?,
            flags: reader.u32()?,
        })
    }

    pub(crate) fn write(&self, out: &mut Vec<u8>) {
        out.put_u32(self.id);
        for v in [self.x, self.y, self.width, self.height] {
            out.put_u16(v);
        }
        out.put_u32(self.flags);
    }
}

/// Why the size changed: the rectangle's x-position. Open, as the spec says more may come
/// (a viewer treats an unknown reason as [`ResizeReason::SERVER`]). The default is
/// [`ResizeReason::SERVER`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct ResizeReason(pub u16);

impl ResizeReason {
    /// Changed on the server side (or the answer to a full update request).
    pub const SERVER: Self = Self(0);
    /// The answer to this viewer's SetDesktopSize.
    pub const THIS_CLIENT: Self = Self(1);
    /// Another viewer's SetDesktopSize was carried out.
    pub const OTHER_CLIENT: Self = Self(2);
}

/// The result of a viewer's SetDesktopSize: the rectangle's y-position. Open: unknown codes
/// are failures of an unknown kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ResizeStatus(pub u16);

impl ResizeStatus {
    pub const SUCCESS: Self = Self(0);
    pub const PROHIBITED: Self = Self(1);
    pub const OUT_OF_RESOURCES: Self = Self(2);
    pub const INVALID_LAYOUT: Self = Self(3);

    pub fn is_success(self) -> bool {
        self == Self::SUCCESS
    }
}

impl std::fmt::Display for ResizeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Self::SUCCESS => write!(f, "success"),
            Self::PROHIBITED => write!(f, "resize is administratively prohibited"),
            Self::OUT_OF_RESOURCES => write!(f, "out of resources"),
            Self::INVALID_LAYOUT => write!(f, "invalid screen layout"),
            Self(code) => write!(f, "unknown failure {code}"),
        }
    }
}

/// A framebuffer size and the screens on it: what SetDesktopSize asks for and what an
/// ExtendedDesktopSize rectangle announces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DesktopLayout {
    pub width: u16,
    pub height: u16,
    /// At most [`MAX_SCREENS`]; more are cut when written.
    pub screens: Vec<Screen>,
}

impl DesktopLayout {
    /// One screen (id 0) covering the whole framebuffer: the layout of a plain desktop.
    pub fn single(width: u16, height: u16) -> DesktopLayout {
        DesktopLayout {
            width,
            height,
            screens: vec![Screen::whole(0, width, height)],
        }
    }

    /// Whether a server can carry out this layout at all: a framebuffer of an acceptable
    /// size, at least one screen, each non-empty, inside the framebuffer, ids unique.
    /// The error says what is wrong, for the log (the viewer gets status 3).
    pub fn validate(&self) -> Result<(), String> {
        let (width, height) = (self.width, self.height);
        if width == 0 || height == 0 || !Framebuffer::size_is_acceptable(width, height) {
            return Err(format!("a {width}x{height} framebuffer is not acceptable"));
        }
        if self.screens.is_empty() {
            return Err("no screens".into());
        }
        for (index, screen) in self.screens.iter().enumerate() {
            if screen.width == 0 || screen.height == 0 {
                return Err(format!("screen {index} is empty"));
            }
            let end_x = u32::from(screen.x) + u32::from(screen.width);
            let end_y = u32::from(screen.y) + u32::from(screen.height);
            if end_x > u32::from(width) || end_y > u32::from(height) {
                return Err(format!(
                    "screen {index} ({}x{}+{}+{}) lies outside the {width}x{height} framebuffer",
                    screen.width, screen.height, screen.x, screen.y
                ));
            }
            if self.screens[..index]
                .iter()
                .any(|other| other.id == screen.id)
            {
                return Err(format!("screen id {} appears twice", screen.id));
            }
        }
        Ok(())
    }

    /// Reads a U8 count, `padding` bytes, then the screens; `None` until all are there.
    pub(crate) fn read_screens(reader: &mut Reader<'_>, padding: usize) -> Option<Vec<Screen>> {
        let count = usize::from(reader.u8()?);
        reader.skip(padding)?;
        if reader.remaining() < count * SCREEN_WIRE_SIZE {
            return None;
        }
        (0..count).map(|_| Screen::read(reader)).collect()
    }

    /// Writes the U8 count, `padding` zero bytes, then the screens (at most [`MAX_SCREENS`]).
    pub(crate) fn write_screens(&self, out: &mut Vec<u8>, padding: usize) {
        let count = self.screens.len().min(MAX_SCREENS);
        out.put_u8(count as u8);
        out.extend(std::iter::repeat_n(0, padding));
        for screen in &self.screens[..count] {
            screen.write(out);
        }
    }
}

/// What one ExtendedDesktopSize rectangle says.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DesktopSizeChange {
    pub reason: ResizeReason,
    pub status: ResizeStatus,
    pub layout: DesktopLayout,
}

/// Appends a whole ExtendedDesktopSize rectangle: header and body.
pub fn encode(change: &DesktopSizeChange, out: &mut Vec<u8>) {
    RectangleHeader {
        rect: Rect::new(
            change.reason.0,
            change.status.0,
            change.layout.width,
            change.layout.height,
        ),
        encoding: EncodingType::EXTENDED_DESKTOP_SIZE,
    }
    .write(out);
    change.layout.write_screens(out, 3);
}

/// Decodes the body after a rectangle header `rect`: `Ok(None)` until all of it is there,
/// then the change and the body bytes it took. A successful change to a framebuffer larger
/// than viewers may allocate is an error; the screens are not checked (a viewer only shows
/// the framebuffer).
pub fn decode(body: &[u8], rect: &Rect) -> Result<Option<(DesktopSizeChange, usize)>, String> {
    let mut reader = Reader::new(body);
    let Some(screens) = DesktopLayout::read_screens(&mut reader, 3) else {
        return Ok(None);
    };
    let change = DesktopSizeChange {
        reason: ResizeReason(rect.x),
        status: ResizeStatus(rect.y),
        layout: DesktopLayout {
            width: rect.width,
            height: rect.height,
            screens,
        },
    };
    if change.status.is_success() && !Framebuffer::size_is_acceptable(rect.width, rect.height) {
        return Err(format!(
            "a {}x{} desktop exceeds the limit",
            rect.width, rect.height
        ));
    }
    Ok(Some((change, reader.consumed())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn any_screen() -> impl Strategy<Value = Screen> {
        (
            any::<u32>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u16>(),
            any::<u32>(),
        )
            .prop_map(|(id, x, y, width, height, flags)| Screen {
                id,
                x,
                y,
                width,
                height,
                flags,
            })
    }

    #[test]
    fn known_answer() {
        let change = DesktopSizeChange {
            reason: ResizeReason::THIS_CLIENT,
            status: ResizeStatus::INVALID_LAYOUT,
            layout: DesktopLayout {
                width: 800,
                height: 600,
                screens: vec![Screen {
                    id: 7,
                    x: 0,
                    y: 0,
                    width: 800,
                    height: 600,
                    flags: 0x8000_0001,
                }],
            },
        };
        let mut bytes = Vec::new();
        encode(&change, &mut bytes);
        let expected: &[u8] = &[
            0, 1, 0, 3, 0x03, 0x20, 0x02, 0x58, 0xff, 0xff, 0xfe, 0xcc, // header, -308
            1, 0, 0, 0, // one screen, padding
            0, 0, 0, 7, 0, 0, 0, 0, 0x03, 0x20, 0x02, 0x58, 0x80, 0, 0, 1,
        ];
        assert_eq!(bytes, expected);
        let header = RectangleHeader::parse(&bytes).unwrap();
        let body = &bytes[RectangleHeader::WIRE_SIZE..];
        for len in 0..body.len() {
            assert_eq!(decode(&body[..len], &header.rect), Ok(None), "prefix {len}");
        }
        assert_eq!(decode(body, &header.rect), Ok(Some((change, body.len()))));
    }

    #[test]
    fn oversized_desktops_are_refused_only_when_they_would_be_allocated() {
        let body = [0, 0, 0, 0];
        let huge = Rect::new(0, 0, u16::MAX, u16::MAX);
        assert!(decode(&body, &huge).unwrap_err().contains("exceeds"));
        // A refusal's size fields are undefined: no reason to drop the connection.
        let refused = Rect::new(1, 1, u16::MAX, u16::MAX);
        assert!(decode(&body, &refused).unwrap().is_some());
    }

    #[test]
    fn layouts_are_validated_with_a_reason() {
        let mut layout = DesktopLayout::single(1024, 768);
        assert_eq!(layout.validate(), Ok(()));
        let reason = |layout: &DesktopLayout| layout.validate().unwrap_err();
        layout.screens.clear();
        assert_eq!(reason(&layout), "no screens");
        layout.screens = vec![Screen::whole(1, 1024, 768), Screen::whole(1, 10, 10)];
        assert_eq!(reason(&layout), "screen id 1 appears twice");
        layout.screens = vec![Screen {
            x: 1000,
            ..Screen::whole(1, 100, 100)
        }];
        assert!(reason(&layout).contains("outside the 1024x768 framebuffer"));
        layout.screens = vec![Screen {
            x: u16::MAX,
            ..Screen::whole(1, u16::MAX, 1)
        }];
        assert!(reason(&layout).contains("outside"));
        layout.screens = vec![Screen::whole(1, 0, 10)];
        assert_eq!(reason(&layout), "screen 0 is empty");
        assert!(reason(&DesktopLayout::single(0, 10)).contains("not acceptable"));
        assert!(reason(&DesktopLayout::single(u16::MAX, u16::MAX)).contains("not acceptable"));
    }

    proptest! {
        #[test]
        fn changes_round_trip(
            reason: u16,
            status: u16,
            width in 0u16..4096,
            height in 0u16..4096,
            screens in proptest::collection::vec(any_screen(), 0..20),
        ) {
            let change = DesktopSizeChange {
                reason: ResizeReason(reason),
                status: ResizeStatus(status),
                layout: DesktopLayout { width, height, screens },
            };
            let mut bytes = Vec::new();
            encode(&change, &mut bytes);
            bytes.push(0x55);
            let header = RectangleHeader::parse(&bytes).unwrap();
            let body = &bytes[RectangleHeader::WIRE_SIZE..];
            prop_assert_eq!(decode(body, &header.rect), Ok(Some((change, body.len() - 1))));
        }
    }
}
