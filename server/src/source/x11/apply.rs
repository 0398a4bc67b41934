//! Moving freshly captured pixels into the desktop so that viewers are told as little as
//! possible: windows that moved are checked and sent as CopyRect, a captured area is searched
//! for a vertical scroll (also CopyRect), then compared with what viewers already have, and
//! only the boxes that really differ are marked changed. X reports damage generously (a
//! terminal's whole window for one new line; a blink that repaints the same pixels), and this
//! is where that stops costing bytes.

use farview_protocol::encode::CopyOperation;
use farview_protocol::scroll;
use farview_protocol::{Framebuffer, Rect};

use super::windows::WindowMove;
use crate::desktop::Canvas;

/// Rows compared as one band: a changed box spans at most this many rows.
const BAND: u16 = 16;

/// Brings `rects` of the canvas up to date with `captured` (a full-screen frame of the same
/// size whose other areas already equal the canvas), sending the windows that `moves` says
/// moved as copies where their pixels moved with them.
pub fn apply_captured(
    canvas: &mut Canvas<'_>,
    captured: &Framebuffer,
    rects: &[Rect],
    moves: &[WindowMove],
) {
    if (canvas.width(), canvas.height()) != (captured.width(), captured.height()) {
        canvas.replace_with(captured);
        return;
    }
    for window_move in moves {
        if let Some(copy) = moved_block(canvas.framebuffer(), captured, window_move) {
            canvas.copy_rect(copy);
        }
    }
    for rect in rects {
        let Some(rect) = rect.clip(captured.width(), captured.height()) else {
            continue;
        };
        let mut changed = changed_boxes(canvas.framebuffer(), captured, &rect);
        // A scroll is only looked for where enough rows really changed, and only over
        // those rows.
        if let Some(area) = bounding_box(&changed)
            && let Some(copy) =
                scroll::detect_vertical_scroll(canvas.framebuffer(), captured, &area)
        {
            canvas.copy_rect(copy);
            changed = changed_boxes(canvas.framebuffer(), captured, &area);
        }
        for changed in changed {
            let pixels = captured.read_rect(&changed);
            canvas.put_pixels(changed, &pixels);
        }
    }
}

/// The part of a moved window that is on the screen at both places, as a copy from the old
/// place, if its pixels at the new place (in `new`) are those of the old place (in `old`):
/// the longest run of such rows.
pub fn moved_block(
    old: &Framebuffer,
    new: &Framebuffer,
    window_move: &WindowMove,
) -> Option<CopyOperation> {
    let (screen_width, screen_height) = (i32::from(new.width()), i32::from(new.height()));
    let (dx, dy) = (
        window_move.to.x - window_move.from.x,
        window_move.to.y - window_move.from.y,
    );
    let from = window_move.from;
    // The old box, cut to what is on the screen both before and after the move.
    let left = from.x.max(0).max(-dx);
    let top = from.y.max(0).max(-dy);
    let right = (from.x + from.width)
        .min(screen_width)
        .min(screen_width - dx);
    let bottom = (from.y + from.height)
        .min(screen_height)
        .min(screen_height - dy);
    if right - left < 1 || bottom - top < i32::from(scroll::MIN_COPY_ROWS) {
        return None;
    }
    let source = Rect::new(
        left as u16,
        top as u16,
        (right - left) as u16,
        (bottom - top) as u16,
    );
    let destination = Rect::new(
        (left + dx) as u16,
        (top + dy) as u16,
        source.width,
        source.height,
    );
    let best = scroll::longest_run(source.height, |row| {
        new.row(&destination, row) == old.row(&source, row)
    });
    let (start, end) = best?;
    if end - start < scroll::MIN_COPY_ROWS {
        return None;
    }
    Some(CopyOperation {
        destination: Rect::new(
            destination.x,
            destination.y + start,
            source.width,
            end - start,
        ),
        source_x: source.x,
        source_y: source.y + start,
    })
}

fn bounding_box(rects: &[Rect]) -> Option<Rect> {
    let first = *rects.first()?;
    Some(rects[1..].iter().fold(first, |all, rect| all.union(rect)))
}

/// The boxes of `area` where `old` and `new` differ, one per band of [`BAND`] rows.
pub fn changed_boxes(old: &Framebuffer, new: &Framebuffer, area: &Rect) -> Vec<Rect> {
    let mut boxes = Vec::new();
    let mut top = 0;
    while top < area.height {
        let rows = BAND.min(area.height - top);
        let (mut left, mut right) = (usize::MAX, 0usize);
        let (mut first_row, mut last_row) = (None, 0u16);
        for row in top..top + rows {
            let (a, b) = (old.row(area, row), new.row(area, row));
            if a == b {
                continue;
            }
            let first = a.iter().zip(b).position(|(p, q)| p != q).unwrap_or(0);
            let last = a.iter().zip(b).rposition(|(p, q)| p != q).unwrap_or(first);
            left = left.min(first);
            right = right.max(last);
            first_row.get_or_insert(row);
            last_row = row;
        }
        if let Some(first_row) = first_row {
            boxes.push(Rect::new(
                area.x + left as u16,
                area.y + first_row,
                (right - left + 1) as u16,
                last_row - first_row + 1,
            ));
        }
        top += rows;
    }
    boxes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desktop::{Catchup, Desktop, DesktopEvent};

    #[test]
    fn only_the_pixels_that_differ_are_marked() {
        let old = Framebuffer::new(64, 40);
        let mut new = old.clone();
        new.fill_rect(&Rect::new(10, 3, 2, 2), 0xff0000);
        new.fill_rect(&Rect::new(40, 20, 1, 1), 0x00ff00);
        let boxes = changed_boxes(&old, &new, &Rect::new(0, 0, 64, 40));
        assert_eq!(boxes, [Rect::new(10, 3, 2, 2), Rect::new(40, 20, 1, 1)]);
        assert!(changed_boxes(&old, &old, &Rect::new(0, 0, 64, 40)).is_empty());
    }

    #[test]
    fn a_moved_window_becomes_a_copy_where_its_pixels_moved_with_it() {
        use super::super::windows::WindowBox;
        let mut old = Framebuffer::new(200, 100);
        let pattern: Vec<u32> = (0..60 * 40).map(|i| i * 7919 % 0xffffff).collect();
        old.put_pixels(&Rect::new(0, 10, 60, 40), &pattern);
        let mut new = Framebuffer::new(200, 100);
        new.put_pixels(&Rect::new(150, 30, 50, 40), &{
            // Moved right by 150 and down by 20: only 50 columns stay on the screen.
            let mut cut = Vec::new();
            for row in pattern.chunks(60) {
                cut.extend_from_slice(&row[..50]);
            }
            cut
        });
        let window = |x, y| WindowBox {
            x,
            y,
            width: 60,
            height: 40,
        };
        let window_move = WindowMove {
            from: window(0, 10),
            to: window(150, 30),
        };
        let copy = moved_block(&old, &new, &window_move).expect("a copy");
        assert_eq!(copy.destination, Rect::new(150, 30, 50, 40));
        assert_eq!((copy.source_x, copy.source_y), (0, 10));
        // Pixels that did not move with the window: no copy.
        assert_eq!(
            moved_block(&old, &Framebuffer::new(200, 100), &window_move),
            None
        );
    }

    #[test]
    fn a_scrolled_area_becomes_a_copy_and_the_new_lines() {
        let lines: Vec<u32> = (0..200 * 100u32)
            .map(|i| (i / 200).wrapping_mul(0x9e37_79b9) >> 8 ^ (i % 200))
            .collect();
        let first = Framebuffer::from_pixels(200, 100, lines).unwrap();
        let (desktop, _input) = Desktop::new(200, 100, "t");
        desktop.draw(|canvas| canvas.replace_with(&first));
        let start = desktop.sequence();
        let mut scrolled = first.clone();
        scrolled.copy_rect(&Rect::new(0, 0, 200, 80), 0, 20);
        scrolled.fill_rect(&Rect::new(0, 80, 200, 20), 0x123456);
        let damage = [Rect::new(0, 0, 200, 100)];
        desktop.draw(|canvas| apply_captured(canvas, &scrolled, &damage, &[]));
        let (Catchup::Events(events), _) = desktop.catch_up(start) else {
            panic!("lagged")
        };
        assert!(
            matches!(events[0], DesktopEvent::Copied { .. }),
            "{events:?}"
        );
        assert!(
            events[1..]
                .iter()
                .all(|e| matches!(e, DesktopEvent::Changed(r) if r.y >= 80))
        );
        assert!(desktop.with_framebuffer(|fb| fb == &scrolled));
    }
}
