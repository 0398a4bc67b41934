//! Move detection: finds the block of a changed area that moved between two frames, so it
//! can travel as one CopyRect instead of pixels. Vertical scrolls are found by
//! [`crate::scroll`]; this module adds moves in any direction, as when a window is dragged.
//!
//! A few distinctive pieces of rows of the new frame (probes) are looked up in the old
//! frame's area. Offsets on which several probes agree are candidates; the best is checked
//! by growing, from a probe that voted for it, the largest rectangle whose pixels all equal
//! the old frame's at that offset.

use crate::encode::CopyOperation;
use crate::framebuffer::{Framebuffer, Rect};
use crate::scroll;

/// How far a block moved: new position minus old, in pixels.
type Offset = (i32, i32);
/// A pixel's position on the screen.
type Point = (u16, u16);

/// Pixels in a probe.
const PROBE_WIDTH: u16 = 32;
/// Probes taken per area, spread over its rows.
const PROBES: u16 = 12;
/// A probe found at more places than this (a repeated pattern) says nothing.
const MAX_MATCHES_PER_PROBE: usize = 4;
/// Probes searched for in the whole area, at most.
const MAX_SEARCHES: usize = 4;
/// How far around a probe its old place is looked for first: a dragged window moves a few
/// pixels a frame. The whole area is searched only when nothing is found that near, which
/// on a 4K screen costs thirty times as much.
const NEAR_SEARCH: u16 = 256;
/// Probes that must agree on an offset.
const MIN_VOTES: usize = 3;
/// The smallest move worth a CopyRect.
pub const MIN_MOVE_WIDTH: u16 = 32;
pub const MIN_MOVE_HEIGHT: u16 = 16;

/// Finds a move inside `area` (which both frames contain) from `old` to `new`: a vertical
/// scroll if there is one, else a move in any direction.
pub fn detect_move(old: &Framebuffer, new: &Framebuffer, area: &Rect) -> Option<CopyOperation> {
    scroll::detect_vertical_scroll(old, new, area).or_else(|| detect_window_move(old, new, area))
}

/// Finds a block that moved in any direction inside `area`.
pub fn detect_window_move(
    old: &Framebuffer,
    new: &Framebuffer,
    area: &Rect,
) -> Option<CopyOperation> {
    if area.width < 2 * MIN_MOVE_WIDTH || area.height < 2 * MIN_MOVE_HEIGHT {
        return None;
    }
    if !old.bounds().contains(area) || !new.bounds().contains(area) {
        return None;
    }
    // Per offset: the probes that voted for it. A probe is searched for in the whole area
    // only when it matches no offset found so far, and at most MAX_SEARCHES times: the
    // search is what costs.
    let mut votes: Vec<(Offset, Vec<Point>)> = Vec::new();
    let mut searches = 0;
    for (x, y) in probes(old, new, area) {
        let probe = new.row(&Rect::new(x, y, PROBE_WIDTH, 1), 0);
        let mut known = false;
        for (offset, voters) in &mut votes {
            if found_at(old, area, probe, (x, y), *offset) {
                voters.push((x, y));
                known = true;
            }
        }
        if known || searches == MAX_SEARCHES {
            continue;
        }
        searches += 1;
        let Some(found) = find_near_first(old, area, probe, (x, y)) else {
            continue;
        };
        for (old_x, old_y) in found {
            let offset = (
                i32::from(x) - i32::from(old_x),
                i32::from(y) - i32::from(old_y),
            );
            if offset != (0, 0) {
                votes.push((offset, vec![(x, y)]));
            }
        }
    }
    let (offset, voters) = votes
        .iter()
        .max_by_key(|((dx, dy), voters)| (voters.len(), -(dx.abs() + dy.abs())))?;
    let offset = *offset;
    if voters.len() < MIN_VOTES {
        return None;
    }
    // Something drawn over the moved block (the pointer, a blinking caret) stops a
    // rectangle's growth: grow from every probe that voted and keep the largest.
    let destination = voters
        .iter()
        .filter_map(|&probe| grow(old, new, area, offset, probe))
        .max_by_key(Rect::area)?;
    if destination.width < MIN_MOVE_WIDTH || destination.height < MIN_MOVE_HEIGHT {
        return None;
    }
    Some(CopyOperation {
        destination,
        source_x: (i32::from(destination.x) - offset.0) as u16,
        source_y: (i32::from(destination.y) - offset.1) as u16,
    })
}

/// Where to take probes: on rows spread over the area, a piece of each row that changed
/// (an unchanged piece can only say "no move") and is not flat (at least three colour
/// changes), so that it is unlikely to match by chance. The search starts mid-row: a piece
/// at the area's edge may have come from outside it.
fn probes(old: &Framebuffer, new: &Framebuffer, area: &Rect) -> Vec<(u16, u16)> {
    let width = usize::from(PROBE_WIDTH);
    let step = width / 2;
    let mut found = Vec::new();
    for index in 0..PROBES {
        let row = (2 * index + 1) * area.height / (2 * PROBES);
        let (pixels, before) = (new.row(area, row), old.row(area, row));
        let Some(last) = pixels.len().checked_sub(width) else {
            continue;
        };
        let middle = last / 2 / step * step;
        let starts = (middle..=last)
            .step_by(step)
            .chain((0..middle).step_by(step));
        for start in starts {
            let piece = &pixels[start..start + width];
            let changed = piece != &before[start..start + width];
            if changed && piece.windows(2).filter(|pair| pair[0] != pair[1]).count() >= 3 {
                found.push((area.x + start as u16, area.y + row));
                break;
            }
        }
    }
    found
}

/// Whether `probe`, taken at `(x, y)` of the new frame, is in `area` of `old` at `offset`
/// back.
fn found_at(
    old: &Framebuffer,
    area: &Rect,
    probe: &[u32],
    (x, y): (u16, u16),
    (dx, dy): (i32, i32),
) -> bool {
    let (old_x, old_y) = (i32::from(x) - dx, i32::from(y) - dy);
    let inside = old_x >= i32::from(area.x)
        && old_x + i32::from(PROBE_WIDTH) <= i32::from(area.x) + i32::from(area.width)
        && old_y >= i32::from(area.y)
        && old_y < i32::from(area.y) + i32::from(area.height);
    inside && old.row(&Rect::new(old_x as u16, old_y as u16, PROBE_WIDTH, 1), 0) == probe
}

/// Where in `area` of `old` the probe taken at `(x, y)` occurs: the places near it if there
/// are any, else every place; `None` if there are too many.
fn find_near_first(
    old: &Framebuffer,
    area: &Rect,
    probe: &[u32],
    (x, y): (u16, u16),
) -> Option<Vec<(u16, u16)>> {
    let reach = |at: u16| at.saturating_sub(NEAR_SEARCH);
    let near = Rect::new(
        reach(x),
        reach(y),
        2 * NEAR_SEARCH + PROBE_WIDTH,
        2 * NEAR_SEARCH + 1,
    )
    .intersect(area)?;
    match find_all(old, &near, probe)? {
        found if !found.is_empty() || near == *area => Some(found),
        _ => find_all(old, area, probe),
    }
}

/// Every place in `area` of `old` where `probe` occurs; `None` if there are too many.
fn find_all(old: &Framebuffer, area: &Rect, probe: &[u32]) -> Option<Vec<(u16, u16)>> {
    // Scanned for: the probe's rarest colour within itself, likely rare on the screen too
    // (a glyph's shade, not the background), so that few places need comparing.
    let anchor = (0..probe.len())
        .min_by_key(|&i| probe.iter().filter(|&&p| p == probe[i]).count())
        .unwrap_or(0);
    let colour = probe[anchor];
    let mut found = Vec::new();
    for row in 0..area.height {
        let pixels = old.row(area, row);
        let Some(last_start) = pixels.len().checked_sub(probe.len()) else {
            break;
        };
        // Blocks of 16 checked at once (vectorised); within a block that holds the colour,
        // each place where it does.
        for (block, chunk) in pixels.chunks(16).enumerate() {
            if !chunk.iter().fold(false, |any, &p| any | (p == colour)) {
                continue;
            }
            for (i, &p) in chunk.iter().enumerate() {
                let Some(start) = (block * 16 + i).checked_sub(anchor) else {
                    continue;
                };
                if p != colour || start > last_start {
                    continue;
                }
                if &pixels[start..start + probe.len()] == probe {
                    if found.len() == MAX_MATCHES_PER_PROBE {
                        return None;
                    }
                    found.push((area.x + start as u16, area.y + row));
                }
            }
        }
    }
    Some(found)
}

/// The largest rectangle around the probe at `(x, y)`, inside `area`, whose pixels in `new`
/// equal those of `old` at `offset` back: first along the probe's row, then up and down.
fn grow(
    old: &Framebuffer,
    new: &Framebuffer,
    area: &Rect,
    (dx, dy): (i32, i32),
    (x, y): (u16, u16),
) -> Option<Rect> {
    let bounds = old.bounds();
    let same = |x: i32, y: i32| {
        let (old_x, old_y) = (x - dx, y - dy);
        let inside = |x: i32, y: i32, rect: &Rect| {
            x >= i32::from(rect.x)
                && y >= i32::from(rect.y)
                && x < i32::from(rect.x) + i32::from(rect.width)
                && y < i32::from(rect.y) + i32::from(rect.height)
        };
        inside(x, y, area)
            && inside(old_x, old_y, &bounds)
            && new.pixel(x as u16, y as u16) == old.pixel(old_x as u16, old_y as u16)
    };
    let (x, y) = (i32::from(x), i32::from(y));
    if !(x..x + i32::from(PROBE_WIDTH)).all(|x| same(x, y)) {
        return None;
    }
    let mut left = x;
    while same(left - 1, y) {
        left -= 1;
    }
    let mut right = x + i32::from(PROBE_WIDTH);
    while same(right, y) {
        right += 1;
    }
    // Whole rows compare as slices (memcmp), far faster than pixel by pixel.
    let (old_left, width) = (left - dx, (right - left) as u16);
    let row_same = |y: i32| {
        let old_y = y - dy;
        let rows = |rect: &Rect| i32::from(rect.y)..i32::from(rect.y) + i32::from(rect.height);
        rows(area).contains(&y)
            && rows(&bounds).contains(&old_y)
            && new.row(&Rect::new(left as u16, y as u16, width, 1), 0)
                == old.row(&Rect::new(old_left as u16, old_y as u16, width, 1), 0)
    };
    let mut top = y;
    while row_same(top - 1) {
        top -= 1;
    }
    let mut bottom = y + 1;
    while row_same(bottom) {
        bottom += 1;
    }
    Some(Rect::new(
        left as u16,
        top as u16,
        (right - left) as u16,
        (bottom - top) as u16,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A desktop: a flat background with a busy "window" of `size` at `at`.
    fn desktop_with_window(at: (u16, u16), size: (u16, u16)) -> Framebuffer {
        let mut frame = Framebuffer::new(320, 240);
        frame.fill_rect(&frame.bounds(), 0x336699);
        let window = Rect::new(at.0, at.1, size.0, size.1);
        let pixels: Vec<u32> = (0..u32::from(size.1))
            .flat_map(|y| {
                (0..u32::from(size.0))
                    .map(move |x| (x * 7 + y * 131).wrapping_mul(2_654_435_761) >> 8)
            })
            .collect();
        frame.put_pixels(&window, &pixels);
        frame
    }

    #[test]
    fn finds_a_window_moved_diagonally() {
        for (from, to) in [
            ((40, 30), (52, 21)),
            ((100, 90), (61, 120)),
            ((10, 10), (11, 10)),
        ] {
            let old = desktop_with_window(from, (150, 90));
            let new = desktop_with_window(to, (150, 90));
            let area = Rect::new(0, 0, 320, 240);
            let copy = detect_move(&old, &new, &area)
                .unwrap_or_else(|| panic!("no move found for {from:?} -> {to:?}"));
            // The copy holds the whole window (over a flat background it may hold more).
            let window = Rect::new(to.0, to.1, 150, 90);
            assert!(
                copy.destination.contains(&window),
                "{from:?} -> {to:?}: {copy:?}"
            );
            assert_eq!(
                (
                    i32::from(copy.destination.x) - i32::from(copy.source_x),
                    i32::from(copy.destination.y) - i32::from(copy.source_y)
                ),
                (
                    i32::from(to.0) - i32::from(from.0),
                    i32::from(to.1) - i32::from(from.1)
                )
            );
            // Applying the copy gives the new frame everywhere in its destination.
            let mut shown = old.clone();
            shown.copy_rect(&copy.destination, copy.source_x, copy.source_y);
            for y in 0..copy.destination.height {
                assert_eq!(
                    shown.row(&copy.destination, y),
                    new.row(&copy.destination, y)
                );
            }
        }
    }

    #[test]
    fn finds_a_window_moved_further_than_the_near_search() {
        let mut old = Framebuffer::new(1600, 900);
        old.fill_rect(&old.bounds(), 0x336699);
        let mut new = old.clone();
        let pixels: Vec<u32> = (0..150 * 300u32)
            .map(|i| i.wrapping_mul(2_654_435_761) >> 8)
            .collect();
        old.put_pixels(&Rect::new(30, 40, 150, 300), &pixels);
        new.put_pixels(&Rect::new(1400, 550, 150, 300), &pixels);
        let copy = detect_move(&old, &new, &new.bounds()).expect("a move");
        let offset = (
            copy.destination.x - copy.source_x,
            copy.destination.y - copy.source_y,
        );
        assert_eq!(offset, (1370, 510), "{copy:?}");
        assert!(copy.destination.contains(&Rect::new(1400, 550, 150, 300)));
    }

    #[test]
    fn a_repaint_or_a_flat_area_is_no_move() {
        let old = desktop_with_window((40, 30), (150, 90));
        let mut new = old.clone();
        let noise: Vec<u32> = (0..150 * 90u32)
            .map(|i| i.wrapping_mul(0x9e37_79b9) >> 8)
            .collect();
        new.put_pixels(&Rect::new(40, 30, 150, 90), &noise);
        let area = Rect::new(0, 0, 320, 240);
        assert_eq!(detect_window_move(&old, &new, &area), None);
        let flat = Framebuffer::new(320, 240);
        assert_eq!(detect_window_move(&flat, &flat, &area), None);
        // Areas too small to search.
        assert_eq!(
            detect_window_move(&old, &new, &Rect::new(0, 0, 63, 240)),
            None
        );
    }

    proptest::proptest! {
        /// Whatever the frames, a move found is in bounds and true: its destination then
        /// shows the new frame.
        #[test]
        fn any_move_found_is_exact(
            colours in proptest::collection::vec(0u32..4, 128 * 80),
            dx in -20i32..20,
            dy in -20i32..20,
            noise in proptest::collection::vec((0u16..128, 0u16..80, 0u32..4), 0..40),
        ) {
            let old = Framebuffer::from_pixels(128, 80, colours).unwrap();
            let mut new = old.clone();
            // Shift everything by (dx, dy), then scribble.
            for y in 0..80i32 {
                for x in 0..128i32 {
                    let (from_x, from_y) = ((x - dx).clamp(0, 127), (y - dy).clamp(0, 79));
                    let pixel = old.pixel(from_x as u16, from_y as u16);
                    new.fill_rect(&Rect::new(x as u16, y as u16, 1, 1), pixel);
                }
            }
            for (x, y, colour) in noise {
                new.fill_rect(&Rect::new(x, y, 1, 1), colour);
            }
            let area = Rect::new(0, 0, 128, 80);
            if let Some(copy) = detect_move(&old, &new, &area) {
                let source = copy.source();
                proptest::prop_assert!(area.contains(&copy.destination));
                proptest::prop_assert!(old.bounds().contains(&source));
                let mut shown = old.clone();
                shown.copy_rect(&copy.destination, copy.source_x, copy.source_y);
                for y in 0..copy.destination.height {
                    proptest::prop_assert_eq!(
                        shown.row(&copy.destination, y),
                        new.row(&copy.destination, y)
                    );
                }
            }
        }
    }
}
