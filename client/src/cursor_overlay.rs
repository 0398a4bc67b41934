//! The picture a window shows: the framebuffer with the server's cursor shape blended on top
//! at the local pointer. minifb cannot give the system pointer a custom image, so the shape is
//! drawn into a copy of the framebuffer instead. Only the window does this; the connection's
//! framebuffer, and so every snapshot and frame-log hash, never contains the pointer.

use farview_protocol::Framebuffer;
use farview_protocol::encodings::cursor::Cursor;

/// An area of the picture, already clipped to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Area {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// A copy of the framebuffer with the cursor drawn in. It remembers where the cursor went, so
/// that moving the pointer repaints two cursor-sized areas, not the whole picture.
#[derive(Debug, Default)]
pub struct CursorOverlay {
    pixels: Vec<u32>,
    width: usize,
    height: usize,
    /// The pointer the cursor was last drawn for (`None`: outside the window, or no cursor).
    pointer: Option<(i32, i32)>,
    /// Where the cursor was last drawn.
    drawn: Option<Area>,
}

impl CursorOverlay {
    /// The picture: `width * height` pixels, `0x00RRGGBB`, as minifb takes them.
    pub fn pixels(&self) -> &[u32] {
        &self.pixels
    }

    /// Copies the whole framebuffer (after an update) and draws `cursor` at `pointer`.
    pub fn refresh(
        &mut self,
        framebuffer: &Framebuffer,
        cursor: Option<&Cursor>,
        pointer: Option<(i32, i32)>,
    ) {
        self.width = usize::from(framebuffer.width());
        self.height = usize::from(framebuffer.height());
        self.pixels.clear();
        self.pixels.extend_from_slice(framebuffer.pixels());
        self.drawn = None;
        self.draw(cursor, pointer);
    }

    /// Moves the cursor to `pointer`: puts back the framebuffer's pixels where it was, draws it
    /// where it is now. Returns whether the picture changed.
    pub fn move_cursor(
        &mut self,
        framebuffer: &Framebuffer,
        cursor: Option<&Cursor>,
        pointer: Option<(i32, i32)>,
    ) -> bool {
        let size = (
            usize::from(framebuffer.width()),
            usize::from(framebuffer.height()),
        );
        if size != (self.width, self.height) || self.pixels.len() != size.0 * size.1 {
            self.refresh(framebuffer, cursor, pointer);
            return true;
        }
        let wanted = pointer.filter(|_| cursor.is_some());
        if wanted == self.pointer {
            return false;
        }
        let Some(previous) = self.drawn.take() else {
            self.draw(cursor, pointer);
            return true;
        };
        for row in previous.y..previous.y + previous.height {
            let span =
                row * self.width + previous.x..row * self.width + previous.x + previous.width;
            self.pixels[span.clone()].copy_from_slice(&framebuffer.pixels()[span]);
        }
        self.draw(cursor, pointer);
        true
    }

    fn draw(&mut self, cursor: Option<&Cursor>, pointer: Option<(i32, i32)>) {
        self.pointer = pointer.filter(|_| cursor.is_some());
        self.drawn = match (cursor, pointer) {
            (Some(cursor), Some(pointer)) => {
                draw_cursor(&mut self.pixels, self.width, self.height, cursor, pointer)
            }
            _ => None,
        };
    }
}

/// Blends `cursor` over `pixels` (`width` x `height`, `0x00RRGGBB`) with its hotspot at
/// `pointer`, clipped to the picture. Returns the area it covered, if any.
pub fn draw_cursor(
    pixels: &mut [u32],
    width: usize,
    height: usize,
    cursor: &Cursor,
    pointer: (i32, i32),
) -> Option<Area> {
    if cursor.is_hidden() || pixels.len() != width * height {
        return None;
    }
    let left = i64::from(pointer.0) - i64::from(cursor.hotspot_x);
    let top = i64::from(pointer.1) - i64::from(cursor.hotspot_y);
    let x0 = left.max(0);
    let y0 = top.max(0);
    let x1 = (left + i64::from(cursor.width)).min(width as i64);
    let y1 = (top + i64::from(cursor.height)).min(height as i64);
    if x0 >= x1 || y0 >= y1 {
        return None;
    }
    for y in y0..y1 {
        for x in x0..x1 {
            let source = cursor.pixel((x - left) as u16, (y - top) as u16);
            let at = y as usize * width + x as usize;
            pixels[at] = blend(pixels[at], source);
        }
    }
    Some(Area {
        x: x0 as usize,
        y: y0 as usize,
        width: (x1 - x0) as usize,
        height: (y1 - y0) as usize,
    })
}

/// `source` (premultiplied RGBA) over `destination` (`0x00RRGGBB`).
fn blend(destination: u32, source: [u8; 4]) -> u32 {
    let [r, g, b, alpha] = source;
    let keep = 255 - u32::from(alpha);
    let channel = |value: u8, shift: u32| {
        let under = (destination >> shift) & 0xff;
        // value <= alpha, so the sum stays within 255.
        (u32::from(value) + (under * keep + 127) / 255).min(255) << shift
    };
    channel(r, 16) | channel(g, 8) | channel(b, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arrow() -> Cursor {
        // 2x2: opaque white, half-transparent black, transparent, opaque red.
        let pixels = [
            [255, 255, 255, 255],
            [0, 0, 0, 128],
            [0, 0, 0, 0],
            [255, 0, 0, 255],
        ];
        Cursor::new(2, 2, 1, 1, pixels.concat()).unwrap()
    }

    fn grey(width: u16, height: u16) -> Framebuffer {
        let mut framebuffer = Framebuffer::new(width, height);
        framebuffer.fill_rect(&framebuffer.bounds(), 0x0080_8080);
        framebuffer
    }

    #[test]
    fn the_cursor_is_blended_with_its_hotspot_on_the_pointer() {
        let framebuffer = grey(4, 4);
        let mut overlay = CursorOverlay::default();
        overlay.refresh(&framebuffer, Some(&arrow()), Some((2, 2)));
        let shown = overlay.pixels();
        assert_eq!(shown[4 + 1], 0x00ff_ffff, "opaque white at (1,1)");
        assert_eq!(shown[4 + 2], 0x0040_4040, "half black over grey at (2,1)");
        assert_eq!(shown[2 * 4 + 1], 0x0080_8080, "transparent at (1,2)");
        assert_eq!(shown[2 * 4 + 2], 0x00ff_0000, "opaque red on the hotspot");
        assert_eq!(shown[0], 0x0080_8080);
        assert_eq!(
            framebuffer,
            grey(4, 4),
            "the framebuffer itself is untouched"
        );
    }

    #[test]
    fn the_cursor_is_clipped_at_the_edges() {
        let mut pixels = vec![0u32; 9];
        assert_eq!(draw_cursor(&mut pixels, 3, 3, &arrow(), (-5, 0)), None);
        assert_eq!(draw_cursor(&mut pixels, 3, 3, &arrow(), (10, 10)), None);
        let area = draw_cursor(&mut pixels, 3, 3, &arrow(), (0, 0)).unwrap();
        assert_eq!(
            area,
            Area {
                x: 0,
                y: 0,
                width: 1,
                height: 1
            }
        );
        assert_eq!(pixels[0], 0x00ff_0000, "only the hotspot pixel is inside");
        assert!(pixels[1..].iter().all(|&p| p == 0));
        assert_eq!(
            draw_cursor(&mut pixels, 3, 3, &Cursor::hidden(), (1, 1)),
            None
        );
    }

    #[test]
    fn moving_the_pointer_restores_what_was_under_the_cursor() {
        let framebuffer = grey(8, 8);
        let mut overlay = CursorOverlay::default();
        overlay.refresh(&framebuffer, Some(&arrow()), Some((2, 2)));
        assert!(!overlay.move_cursor(&framebuffer, Some(&arrow()), Some((2, 2))));
        assert!(overlay.move_cursor(&framebuffer, Some(&arrow()), Some((6, 6))));
        let mut expected = framebuffer.clone();
        let mut expected_pixels = expected.pixels().to_vec();
        draw_cursor(&mut expected_pixels, 8, 8, &arrow(), (6, 6));
        expected.pixels_mut().copy_from_slice(&expected_pixels);
        assert_eq!(overlay.pixels(), expected.pixels());
        // Leaving the window takes the cursor away.
        assert!(overlay.move_cursor(&framebuffer, Some(&arrow()), None));
        assert_eq!(overlay.pixels(), framebuffer.pixels());
        // No cursor shape: the pointer moving changes nothing.
        overlay.refresh(&framebuffer, None, Some((1, 1)));
        assert!(!overlay.move_cursor(&framebuffer, None, Some((3, 3))));
        assert_eq!(overlay.pixels(), framebuffer.pixels());
    }

    #[test]
    fn a_resized_framebuffer_is_copied_whole() {
        let mut overlay = CursorOverlay::default();
        overlay.refresh(&grey(4, 4), Some(&arrow()), Some((1, 1)));
        let bigger = grey(6, 5);
        assert!(overlay.move_cursor(&bigger, None, None));
        assert_eq!(overlay.pixels(), bigger.pixels());
    }
}
