//! Scroll detection: finds the block of a changed area that moved vertically between two
//! frames, so it can travel as one CopyRect instead of pixels. Terminals, browsers and
//! editors scroll far more often than they repaint, and a detected scroll turns a
//! full-window update into a few new lines.
//!
//! A few probe rows of the new frame's area that changed are looked up among the old rows
//! (a row comparison stops at the first differing pixel, so a miss costs little); the offset
//! most of them agree on is checked row by row, and the longest run of rows equal at that
//! offset becomes the copy. This runs for every change of a busy screen, so it never hashes
//! or compares whole areas more than once.

use crate::encode::CopyOperation;
use crate::framebuffer::{Framebuffer, Rect};

/// Areas smaller than this are not worth searching.
pub const MIN_AREA_WIDTH: u16 = 64;
pub const MIN_AREA_HEIGHT: u16 = 24;
/// A copy must move at least this many rows to be used.
pub const MIN_COPY_ROWS: u16 = 8;
/// Rows of the area looked up among the old rows.
const PROBES: u16 = 8;
/// A probe row found at more places than this (a blank line) says nothing about the offset.
const MAX_PROBE_MATCHES: usize = 4;

/// Finds a vertical move inside `area` (which both frames contain) from `old` to `new`.
pub fn detect_vertical_scroll(
    old: &Framebuffer,
    new: &Framebuffer,
    area: &Rect,
) -> Option<CopyOperation> {
    if area.width < MIN_AREA_WIDTH || area.height < MIN_AREA_HEIGHT {
        return None;
    }
    if !old.bounds().contains(area) || !new.bounds().contains(area) {
        return None;
    }
    let height = area.height;
    let mut votes: Vec<(i32, u32)> = Vec::new();
    for probe in 1..=PROBES {
        let row = height * probe / (PROBES + 1);
        let wanted = new.row(area, row);
        if wanted == old.row(area, row) {
            continue;
        }
        let sources: Vec<u16> = (0..height)
            .filter(|&source| old.row(area, source) == wanted)
            .take(MAX_PROBE_MATCHES + 1)
            .collect();
        if sources.len() > MAX_PROBE_MATCHES {
            continue;
        }
        for source in sources {
            let offset = i32::from(source) - i32::from(row);
            match votes.iter_mut().find(|(known, _)| *known == offset) {
                Some((_, count)) => *count += 1,
                None => votes.push((offset, 1)),
            }
        }
    }
    let (offset, _) = votes
        .into_iter()
        .max_by_key(|&(offset, count)| (count, -offset.abs()))?;

    // The longest run of destination rows equal to their source rows at this offset.
    let best = longest_run(height, |row| {
        let source = i32::from(row) + offset;
        (0..i32::from(height)).contains(&source)
            && new.row(area, row) == old.row(area, source as u16)
    });
    let (start, end) = best?;
    if end - start < MIN_COPY_ROWS {
        return None;
    }
    Some(CopyOperation {
        destination: Rect::new(area.x, area.y + start, area.width, end - start),
        source_x: area.x,
        source_y: (i32::from(area.y) + i32::from(start) + offset) as u16,
    })
}

/// The longest run of rows `0..rows` for which `holds` is true, as `(start, end)` with `end`
/// exclusive; the first of equally long runs.
pub fn longest_run(rows: u16, holds: impl Fn(u16) -> bool) -> Option<(u16, u16)> {
    let mut best: Option<(u16, u16)> = None;
    let mut run_start: Option<u16> = None;
    for row in 0..=rows {
        match (row < rows && holds(row), run_start) {
            (true, None) => run_start = Some(row),
            (false, Some(start)) => {
                if best.is_none_or(|(s, e)| row - start > e - s) {
                    best = Some((start, row));
                }
                run_start = None;
            }
            _ => {}
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame of "text lines": every row distinct.
    fn text_frame(width: u16, height: u16, seed: u32) -> Framebuffer {
        let pixels = (0..u32::from(height))
            .flat_map(|y| {
                (0..u32::from(width))
                    .map(move |x| ((y + seed).wrapping_mul(2_654_435_761) ^ (x * 97)) & 0xffffff)
            })
            .collect();
        Framebuffer::from_pixels(width, height, pixels).unwrap()
    }

    #[test]
    fn finds_a_scroll_up_and_down() {
        let old = text_frame(200, 120, 0);
        for delta in [-37i32, -1, 5, 60] {
            let mut new = old.clone();
            let area = Rect::new(0, 0, 200, 120);
            // Content moves by `delta` rows (negative: up, as when scrolling down a page).
            let (destination, source_y) = if delta < 0 {
                (Rect::new(0, 0, 200, (120 + delta) as u16), (-delta) as u16)
            } else {
                (Rect::new(0, delta as u16, 200, (120 - delta) as u16), 0)
            };
            new.copy_rect(&destination, 0, source_y);
            let exposed = if delta < 0 {
                Rect::new(0, (120 + delta) as u16, 200, (-delta) as u16)
            } else {
                Rect::new(0, 0, 200, delta as u16)
            };
            new.fill_rect(&exposed, 0x123456);
            let found = detect_vertical_scroll(&old, &new, &area);
            if delta.abs() < i32::from(MIN_COPY_ROWS) && delta.abs() > 1 {
                continue;
            }
            let copy = found.unwrap_or_else(|| panic!("no scroll found for {delta}"));
            assert_eq!(copy.destination, destination, "delta {delta}");
            assert_eq!(copy.source_y, source_y);
        }
    }

    #[test]
    fn a_repaint_is_not_a_scroll() {
        let old = text_frame(200, 120, 0);
        let new = text_frame(200, 120, 1000);
        assert_eq!(
            detect_vertical_scroll(&old, &new, &Rect::new(0, 0, 200, 120)),
            None
        );
        let blank = Framebuffer::new(200, 120);
        assert_eq!(
            detect_vertical_scroll(&blank, &blank, &Rect::new(0, 0, 200, 120)),
            None
        );
    }

    #[test]
    fn the_longest_run_is_found_first_of_equals() {
        let rows = [true, true, false, true, true, true, false, true, true, true];
        assert_eq!(longest_run(10, |row| rows[usize::from(row)]), Some((3, 6)));
        assert_eq!(longest_run(3, |_| false), None);
        assert_eq!(longest_run(4, |_| true), Some((0, 4)));
    }
}
