//! Frame differencing: which tiles of two same-sized frames differ, as rectangles to send
//! and as connected areas (a scrolled window, a repainted panel) to search for moves in.

use crate::framebuffer::{Framebuffer, Rect};

/// The tile size frames are compared in.
pub const DIFF_TILE: u16 = 16;

/// The tiles in which two frames differ, each with the box of its changed pixels.
#[derive(Debug, Clone)]
pub struct TileDiff {
    width: u16,
    height: u16,
    columns: usize,
    rows: usize,
    dirty: Vec<bool>,
    /// Per tile: left, top, right, bottom (inclusive) of the changed pixels, tile-relative.
    boxes: Vec<[u16; 4]>,
}

impl TileDiff {
    /// Compares `old` and `new`, which must have the same size.
    pub fn compare(old: &Framebuffer, new: &Framebuffer) -> TileDiff {
        Self::compare_within(old, new, &[new.bounds()])
    }

    /// Compares `old` and `new` inside `areas` only: tiles outside them count as unchanged
    /// (the caller knows nothing changed there, and is spared reading it).
    pub fn compare_within(old: &Framebuffer, new: &Framebuffer, areas: &[Rect]) -> TileDiff {
        let (width, height) = (new.width().min(old.width()), new.height().min(old.height()));
        let columns = usize::from(width.div_ceil(DIFF_TILE));
        let rows = usize::from(height.div_ceil(DIFF_TILE));
        let mut dirty = vec![false; columns * rows];
        let mut boxes = vec![[u16::MAX, u16::MAX, 0, 0]; columns * rows];
        let tile = usize::from(DIFF_TILE);
        for area in areas.iter().filter_map(|area| area.clip(width, height)) {
            // The whole tiles the area touches, so that each tile's box is complete.
            let (first_column, last_column) = (
                usize::from(area.x) / tile,
                (area.right() as usize - 1) / tile,
            );
            let (first_row, last_row) = (
                usize::from(area.y) / tile,
                (area.bottom() as usize - 1) / tile,
            );
            let left = (first_column * tile) as u16;
            let right = (((last_column + 1) * tile) as u16).min(width);
            for row in first_row..=last_row {
                let top = row as u16 * DIFF_TILE;
                let band = Rect::new(left, top, right - left, DIFF_TILE.min(height - top));
                // Compare whole rows first: most rows of most frames are unchanged.
                for line in 0..band.height {
                    let (a, b) = (old.row(&band, line), new.row(&band, line));
                    if a == b {
                        continue;
                    }
                    for column in first_column..=last_column {
                        let start = (column - first_column) * tile;
                        let end = (start + tile).min(a.len());
                        let (a, b) = (&a[start..end], &b[start..end]);
                        let Some(first) = a.iter().zip(b).position(|(p, q)| p != q) else {
                            continue;
                        };
                        let last = a.iter().zip(b).rposition(|(p, q)| p != q).unwrap_or(first);
                        let index = row * columns + column;
                        dirty[index] = true;
                        let tile_box = &mut boxes[index];
                        tile_box[0] = tile_box[0].min(first as u16);
                        tile_box[1] = tile_box[1].min(line);
                        tile_box[2] = tile_box[2].max(last as u16);
                        tile_box[3] = tile_box[3].max(line);
                    }
                }
            }
        }
        TileDiff {
            width,
            height,
            columns,
            rows,
            dirty,
            boxes,
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.dirty.contains(&true)
    }

    fn tile_rect(&self, column: usize, row: usize, span: usize) -> Rect {
        let x = column as u16 * DIFF_TILE;
        let y = row as u16 * DIFF_TILE;
        let right = ((column + span) as u32 * u32::from(DIFF_TILE)).min(u32::from(self.width));
        Rect::new(
            x,
            y,
            (right - u32::from(x)) as u16,
            DIFF_TILE.min(self.height - y),
        )
    }

    /// The changed pixels, as one rectangle per run of changed tiles in a tile row, each
    /// shrunk to the pixels that changed in it: a typed character is its glyph, not a tile.
    pub fn runs(&self) -> Vec<Rect> {
        let mut rects = Vec::new();
        for row in 0..self.rows {
            let line = &self.dirty[row * self.columns..(row + 1) * self.columns];
            let mut column = 0;
            while column < self.columns {
                if !line[column] {
                    column += 1;
                    continue;
                }
                let start = column;
                while column < self.columns && line[column] {
                    column += 1;
                }
                rects.push(self.changed_box(start, column, row));
            }
        }
        rects
    }

    /// The box around the changed pixels of tiles `start..end` of tile row `row`.
    fn changed_box(&self, start: usize, end: usize, row: usize) -> Rect {
        let (mut left, mut top, mut right, mut bottom) = (u32::MAX, u32::MAX, 0u32, 0u32);
        for column in start..end {
            let [x0, y0, x1, y1] = self.boxes[row * self.columns + column];
            let origin_x = column as u32 * u32::from(DIFF_TILE);
            left = left.min(origin_x + u32::from(x0));
            right = right.max(origin_x + u32::from(x1));
            top = top.min(u32::from(y0));
            bottom = bottom.max(u32::from(y1));
        }
        let origin_y = row as u32 * u32::from(DIFF_TILE);
        Rect::new(
            left as u16,
            (origin_y + top) as u16,
            (right - left + 1) as u16,
            (bottom - top + 1) as u16,
        )
    }

    /// The bounding boxes of groups of changed tiles that touch (edges or corners).
    pub fn areas(&self) -> Vec<Rect> {
        let mut seen = vec![false; self.dirty.len()];
        let mut areas = Vec::new();
        let mut stack = Vec::new();
        for start in 0..self.dirty.len() {
            if !self.dirty[start] || seen[start] {
                continue;
            }
            seen[start] = true;
            stack.push(start);
            let (mut min_c, mut min_r, mut max_c, mut max_r) = (usize::MAX, usize::MAX, 0, 0);
            while let Some(index) = stack.pop() {
                let (column, row) = (index % self.columns, index / self.columns);
                (min_c, min_r) = (min_c.min(column), min_r.min(row));
                (max_c, max_r) = (max_c.max(column), max_r.max(row));
                for dr in -1i64..=1 {
                    for dc in -1i64..=1 {
                        let (c, r) = (column as i64 + dc, row as i64 + dr);
                        if c < 0 || r < 0 || c >= self.columns as i64 || r >= self.rows as i64 {
                            continue;
                        }
                        let neighbour = r as usize * self.columns + c as usize;
                        if self.dirty[neighbour] && !seen[neighbour] {
                            seen[neighbour] = true;
                            stack.push(neighbour);
                        }
                    }
                }
            }
            let top_left = self.tile_rect(min_c, min_r, 1);
            let bottom_right = self.tile_rect(max_c, max_r, 1);
            areas.push(top_left.union(&bottom_right));
        }
        areas
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_exactly_the_changed_tiles_and_their_areas() {
        let old = Framebuffer::new(100, 50);
        let mut new = old.clone();
        new.fill_rect(&Rect::new(20, 20, 3, 3), 0xffffff);
        new.fill_rect(&Rect::new(33, 20, 1, 1), 0xffffff);
        new.fill_rect(&Rect::new(99, 49, 1, 1), 0xffffff);
        let diff = TileDiff::compare(&old, &new);
        assert_eq!(
            diff.runs(),
            vec![Rect::new(20, 20, 14, 3), Rect::new(99, 49, 1, 1)]
        );
        assert_eq!(
            diff.areas(),
            vec![Rect::new(16, 16, 32, 16), Rect::new(96, 48, 4, 2)]
        );
        assert!(TileDiff::compare(&old, &old).is_empty());
        // Inside given areas only, whole tiles of them: the change at 20,20 is found from an
        // area touching its tile's corner; the one at 99,49 lies outside every area.
        let within = TileDiff::compare_within(
            &old,
            &new,
            &[
                Rect::new(31, 31, 1, 1),
                Rect::new(0, 0, 1, 1),
                Rect::new(90, 60, 50, 5),
            ],
        );
        assert_eq!(within.runs(), vec![Rect::new(20, 20, 3, 3)]);
        // Overlapping areas give the same answer as one.
        let twice =
            TileDiff::compare_within(&old, &new, &[new.bounds(), Rect::new(30, 10, 70, 40)]);
        assert_eq!(twice.runs(), diff.runs());
    }
}
