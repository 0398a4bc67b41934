//! Text on the demo desktop: the Notes text box, which shows typed text wrapped and
//! scrolled, and the view of text pasted from a viewer's clipboard. Both redraw only the rows
//! that changed.

use farview_protocol::Rect;

use super::font::{self, CELL_H, CELL_W};
use super::paint::colour;
use crate::desktop::Canvas;

/// Opaque text on a canvas, marked changed.
pub fn text(c: &mut Canvas<'_>, x: u16, y: u16, s: &str, fg: u32, bg: u32) {
    if let Some(drawn) = font::draw_text(c.framebuffer_mut(), x, y, s, fg, bg) {
        c.mark_changed(drawn);
    }
}

/// Text padded with spaces (or cut) to exactly `width` cells, so a shorter value erases a
/// longer one.
pub fn padded(s: &str, width: usize) -> String {
    let mut out: String = s.chars().take(width).collect();
    let len = out.chars().count();
    out.extend(std::iter::repeat_n(' ', width - len));
    out
}

/// Splits `text` into rows of at most `columns` characters, breaking at newlines and
/// wrapping long lines at spaces (anywhere, for a word longer than a row). Control
/// characters other than newline show as spaces.
pub fn wrap(text: &str, columns: usize) -> Vec<String> {
    let columns = columns.max(1);
    let (mut rows, mut row, mut len) = (Vec::new(), String::new(), 0);
    for c in text.chars() {
        if c == '\n' {
            rows.push(std::mem::take(&mut row));
            len = 0;
        } else if len == columns {
            // Break after the row's last space when that keeps a word whole.
            let carry = match row.rfind(' ') {
                Some(space) if c != ' ' && space + 1 < row.len() => row.split_off(space + 1),
                _ => String::new(),
            };
            rows.push(std::mem::replace(&mut row, carry));
            len = row.chars().count();
        }
        if c != '\n' {
            row.push(if c.is_control() { ' ' } else { c });
            len += 1;
        }
    }
    rows.push(row);
    rows
}

/// The text box: typed text, wrapped, showing its last rows with a caret after the text.
#[derive(Debug)]
pub struct TextBox {
    area: Rect,
    columns: usize,
    rows: usize,
    text: String,
    /// What each screen row shows now (text, caret column), to redraw only changed rows.
    shown: Vec<(String, Option<usize>)>,
}

impl TextBox {
    /// Text kept at most; older text is dropped from the front, so the clipboard stays small.
    pub const MAX_CHARS: usize = 4000;

    pub fn new(area: Rect) -> Self {
        let columns = usize::from(area.width / CELL_W).max(1);
        let rows = usize::from(area.height / CELL_H).max(1);
        Self {
            area,
            columns,
            rows,
            text: String::new(),
            shown: Vec::new(),
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn push(&mut self, c: char) {
        self.text.push(c);
        let excess = self.text.chars().count().saturating_sub(Self::MAX_CHARS);
        if excess > 0 {
            let cut = self
                .text
                .char_indices()
                .nth(excess)
                .map_or(self.text.len(), |(i, _)| i);
            self.text.drain(..cut);
        }
    }

    /// Removes the last character; false when there was none.
    pub fn backspace(&mut self) -> bool {
        self.text.pop().is_some()
    }

    /// The rows on screen: the last `rows` of the wrapped text, and the caret's row and
    /// column (on a fresh row when the last one is full).
    fn screen(&self) -> Vec<(String, Option<usize>)> {
        let mut wrapped = wrap(&self.text, self.columns);
        let mut caret = wrapped.last().map_or(0, |row| row.chars().count());
        if caret == self.columns {
            wrapped.push(String::new());
            caret = 0;
        }
        let skip = wrapped.len().saturating_sub(self.rows);
        let last = wrapped.len() - 1;
        let mut screen: Vec<_> = wrapped
            .into_iter()
            .enumerate()
            .skip(skip)
            .map(|(index, row)| (row, (index == last).then_some(caret)))
            .collect();
        screen.resize(self.rows, (String::new(), None));
        screen
    }

    /// Redraws the rows whose content or caret changed.
    pub fn draw(&mut self, c: &mut Canvas<'_>) {
        let screen = self.screen();
        for (index, row) in screen.iter().enumerate() {
            if self.shown.get(index) == Some(row) {
                continue;
            }
            let y = self.area.y.saturating_add(index as u16 * CELL_H);
            let line = Rect::new(self.area.x, y, self.area.width, CELL_H);
            c.fill_rect(line, colour::FIELD);
            text(c, self.area.x, y, &row.0, colour::TEXT, colour::FIELD);
            if let Some(column) = row.1 {
                let x = self.area.x.saturating_add(column as u16 * CELL_W);
                c.fill_rect(
                    Rect::new(x, y.saturating_add(1), 2, CELL_H - 2),
                    colour::CARET,
                );
            }
        }
        self.shown = screen;
    }
}

/// Where text from a viewer's clipboard is shown.
#[derive(Debug)]
pub struct ClipView {
    area: Rect,
    columns: usize,
    rows: usize,
}

impl ClipView {
    /// Characters of a cut text looked at; the rest is ignored (it could be megabytes).
    pub const MAX_CHARS: usize = 8192;

    pub fn new(area: Rect) -> Self {
        let columns = usize::from(area.width / CELL_W).max(1);
        let rows = usize::from(area.height / CELL_H).max(1);
        Self {
            area,
            columns,
            rows,
        }
    }

    /// The rows that show `cut`: wrapped, clipped to the area, ending in "..." when cut short.
    fn rows(&self, cut: &str) -> Vec<String> {
        let cut_short = cut.chars().nth(Self::MAX_CHARS).is_some();
        let clipped: String = cut.chars().take(Self::MAX_CHARS).collect();
        let clipped = clipped.replace("\r\n", "\n").replace('\r', "\n");
        let mut rows = wrap(&clipped, self.columns);
        let overflow = rows.len() > self.rows || cut_short;
        rows.truncate(self.rows);
        if let Some(last) = rows.last_mut().filter(|_| overflow) {
            let keep = self.columns.saturating_sub(3).min(last.chars().count());
            *last = last.chars().take(keep).chain("...".chars()).collect();
        }
        rows
    }

    /// Shows `cut` in place of what was there.
    pub fn show(&self, c: &mut Canvas<'_>, cut: &str) {
        let rows = self.rows(cut);
        c.fill_rect(self.area, colour::FIELD);
        for (index, row) in rows.iter().enumerate() {
            let y = self.area.y.saturating_add(index as u16 * CELL_H);
            text(c, self.area.x, y, row, colour::TEXT, colour::FIELD);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_newlines_and_width() {
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(wrap("abcdef\ngh\n", 4), vec!["abcd", "ef", "gh", ""]);
        assert_eq!(wrap("a\tb", 0), vec!["a", " ", "b"]);
        assert_eq!(wrap("ab cd ef", 4), vec!["ab ", "cd ", "ef"]);
        assert_eq!(wrap("ab  cdefgh", 4), vec!["ab  ", "cdef", "gh"]);
    }

    #[test]
    fn padded_pads_and_cuts() {
        assert_eq!(padded("ab", 4), "ab  ");
        assert_eq!(padded("abcdef", 3), "abc");
    }

    #[test]
    fn text_box_keeps_its_last_rows_and_a_bounded_text() {
        let mut text_box = TextBox::new(Rect::new(0, 0, 4 * CELL_W, 2 * CELL_H));
        for c in "abcdefghij".chars() {
            text_box.push(c);
        }
        let screen = text_box.screen();
        assert_eq!(
            screen,
            vec![("efgh".to_string(), None), ("ij".to_string(), Some(2))]
        );
        text_box.push('k');
        text_box.push('l');
        assert_eq!(text_box.screen()[1], (String::new(), Some(0)));
        for _ in 0..TextBox::MAX_CHARS + 10 {
            text_box.push('é');
        }
        assert_eq!(text_box.text().chars().count(), TextBox::MAX_CHARS);
    }

    #[test]
    fn cut_text_is_clipped_to_the_view() {
        let view = ClipView::new(Rect::new(0, 0, 5 * CELL_W, 2 * CELL_H));
        assert_eq!(view.rows("ab\r\ncd"), vec!["ab", "cd"]);
        assert_eq!(view.rows("abcdefghijklm"), vec!["abcde", "fg..."]);
        assert_eq!(view.rows(&"x".repeat(ClipView::MAX_CHARS + 1))[1], "xx...");
        assert_eq!(view.rows("a\n\n\n\n"), vec!["a", "..."]);
    }
}
