//! The demo's pointer panels: the sketch pad and the scrolling list. Each owns an area of
//! the screen and redraws only what changed in it, so viewers are sent little.

use farview_protocol::Rect;
use farview_protocol::encode::CopyOperation;

use super::paint::{self, colour};
use super::text::text;
use crate::desktop::Canvas;

/// The sketch pad: button-1 drags draw lines, each stroke in the next colour.
#[derive(Debug)]
pub struct Sketch {
    area: Rect,
    /// The last point of the stroke in progress.
    last: Option<(i32, i32)>,
    strokes: usize,
}

const INKS: [u32; 6] = [0x1f5fbf, 0xd0402a, 0x2e9d4a, 0x8a3fc0, 0xe08a10, 0x202428];
const BRUSH: i32 = 3;

impl Sketch {
    pub fn new(area: Rect) -> Self {
        Self {
            area,
            last: None,
            strokes: 0,
        }
    }

    pub fn contains(&self, x: u16, y: u16) -> bool {
        self.area.contains(&Rect::new(x, y, 1, 1))
    }

    pub fn clear(&mut self, c: &mut Canvas<'_>) {
        c.fill_rect(self.area, colour::FIELD);
    }

    /// Starts a stroke at `(x, y)` with a dot.
    pub fn press(&mut self, c: &mut Canvas<'_>, x: u16, y: u16) {
        self.strokes += 1;
        self.last = Some((i32::from(x), i32::from(y)));
        self.drag(c, x, y);
    }

    /// Continues the stroke in progress, if any, to `(x, y)`.
    pub fn drag(&mut self, c: &mut Canvas<'_>, x: u16, y: u16) {
        let Some(from) = self.last else { return };
        let to = (i32::from(x), i32::from(y));
        let ink = INKS[self.strokes % INKS.len()];
        if let Some(drawn) = paint::thick_line(c.framebuffer_mut(), self.area, from, to, BRUSH, ink)
        {
            c.mark_changed(drawn);
        }
        self.last = Some(to);
    }

    pub fn release(&mut self) {
        self.last = None;
    }
}

/// The list: numbered items, scrolled with CopyRect so only the exposed rows are drawn.
#[derive(Debug)]
pub struct ScrollList {
    area: Rect,
    bar: Rect,
    first: usize,
    visible: usize,
}

const ITEMS: usize = 100;
const ROW_H: u16 = 16;
const WORDS: [&str; 12] = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima",
];

/// The text of item `index` (from 0).
pub fn item_text(index: usize) -> String {
    let word = WORDS[index % WORDS.len()];
    // A made-up size so the rows look like a file list.
    let size = (index * 7919 + 613) % 9973;
    format!("Item {:03}  {word:<8} {size:>5} KB", index + 1)
}

impl ScrollList {
    /// `area` holds the rows and, at its right, the scroll bar.
    pub fn new(area: Rect) -> Self {
        let visible = usize::from(area.height / ROW_H).clamp(1, ITEMS);
        let rows = Rect::new(
            area.x,
            area.y,
            area.width.saturating_sub(10),
            visible as u16 * ROW_H,
        );
        let bar = Rect::new(area.x.saturating_add(rows.width), area.y, 10, rows.height);
        Self {
            area: rows,
            bar,
            first: 0,
            visible,
        }
    }

    #[cfg(test)]
    pub fn first(&self) -> usize {
        self.first
    }

    pub fn draw(&self, c: &mut Canvas<'_>) {
        self.draw_rows(c, 0, self.visible);
        self.draw_bar(c);
    }

    fn draw_rows(&self, c: &mut Canvas<'_>, from: usize, to: usize) {
        for row in from..to {
            let index = self.first + row;
            let y = self.area.y.saturating_add(row as u16 * ROW_H);
            let bg = if index.is_multiple_of(2) {
                colour::FIELD
            } else {
                colour::STRIPE
            };
            c.fill_rect(Rect::new(self.area.x, y, self.area.width, ROW_H), bg);
            if index < ITEMS {
                text(
                    c,
                    self.area.x.saturating_add(6),
                    y.saturating_add(1),
                    &item_text(index),
                    colour::TEXT,
                    bg,
                );
            }
        }
    }

    fn draw_bar(&self, c: &mut Canvas<'_>) {
        c.fill_rect(self.bar, colour::SCROLL_TRACK);
        let track = usize::from(self.bar.height.saturating_sub(4));
        let thumb_h = (track * self.visible / ITEMS).max(8).min(track);
        let range = ITEMS - self.visible;
        let offset = ((track - thumb_h) * self.first)
            .checked_div(range)
            .unwrap_or(0);
        let thumb = Rect::new(
            self.bar.x.saturating_add(2),
            self.bar.y.saturating_add(2 + offset as u16),
            self.bar.width.saturating_sub(4),
            thumb_h as u16,
        );
        c.fill_rect(thumb, colour::SCROLL_THUMB);
    }

    /// Scrolls by `lines` (negative is up): moves the rows that stay visible with a copy and
    /// draws only the rows that appear.
    pub fn scroll(&mut self, c: &mut Canvas<'_>, lines: isize) {
        let max_first = ITEMS - self.visible;
        let first = self.first.saturating_add_signed(lines).min(max_first);
        if first == self.first {
            return;
        }
        let moved = first.abs_diff(self.first);
        let down = first > self.first;
        self.first = first;
        let copyable = c.framebuffer().bounds().contains(&self.area);
        if moved >= self.visible || !copyable {
            self.draw(c);
            return;
        }
        let (kept, shift) = ((self.visible - moved) as u16 * ROW_H, moved as u16 * ROW_H);
        let (from_y, to_y) = if down {
            (self.area.y + shift, self.area.y)
        } else {
            (self.area.y, self.area.y + shift)
        };
        c.copy_rect(CopyOperation {
            destination: Rect::new(self.area.x, to_y, self.area.width, kept),
            source_x: self.area.x,
            source_y: from_y,
        });
        if down {
            self.draw_rows(c, self.visible - moved, self.visible);
        } else {
            self.draw_rows(c, 0, moved);
        }
        self.draw_bar(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_are_numbered() {
        assert!(item_text(0).starts_with("Item 001  alpha"));
        assert!(item_text(99).starts_with("Item 100"));
    }
}
