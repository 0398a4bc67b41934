//! Finding large single-colour areas, so that they go as fills before the rest is encoded.
//! Desktops are mostly flat backgrounds, panels and page margins: a fill costs a few bytes
//! whatever its size, and taking those areas out leaves small, busy pieces.

use crate::framebuffer::{Framebuffer, Rect};

/// Blocks searched for solid colour (aligned to the rectangle's top-left corner).
pub const SOLID_BLOCK: u16 = 32;

/// The colour of `rect` if every pixel has it.
pub fn solid_colour(framebuffer: &Framebuffer, rect: &Rect) -> Option<u32> {
    let colour = framebuffer.row(rect, 0).first().copied()?;
    (0..rect.height)
        .all(|row| framebuffer.row(rect, row).iter().all(|&p| p == colour))
        .then_some(colour)
}

/// Maximal solid areas inside `rect`, made of whole blocks: each grows right, then down,
/// as far as the same colour goes. Returns the areas with their colours.
pub fn find_solid_areas(framebuffer: &Framebuffer, rect: &Rect) -> Vec<(Rect, u32)> {
    let columns = usize::from(rect.width / SOLID_BLOCK);
    let rows = usize::from(rect.height / SOLID_BLOCK);
    if columns == 0 || rows == 0 {
        return Vec::new();
    }
    let block = |column: usize, row: usize| {
        Rect::new(
            rect.x + column as u16 * SOLID_BLOCK,
            rect.y + row as u16 * SOLID_BLOCK,
            SOLID_BLOCK,
            SOLID_BLOCK,
        )
    };
    // The colour of each block, if solid; blocks already in an area are taken.
    let mut colours: Vec<Option<u32>> = (0..rows * columns)
        .map(|i| solid_colour(framebuffer, &block(i % columns, i / columns)))
        .collect();
    let mut areas = Vec::new();
    for row in 0..rows {
        for column in 0..columns {
            let Some(colour) = colours[row * columns + column] else {
                continue;
            };
            let mut right = column + 1;
            while right < columns && colours[row * columns + right] == Some(colour) {
                right += 1;
            }
            let mut bottom = row + 1;
            while bottom < rows
                && (column..right).all(|c| colours[bottom * columns + c] == Some(colour))
            {
                bottom += 1;
            }
            for taken_row in row..bottom {
                colours[taken_row * columns + column..taken_row * columns + right].fill(None);
            }
            let top_left = block(column, row);
            let area = Rect::new(
                top_left.x,
                top_left.y,
                (right - column) as u16 * SOLID_BLOCK,
                (bottom - row) as u16 * SOLID_BLOCK,
            );
            areas.push((area, colour));
        }
    }
    areas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_flat_areas_around_busy_ones() {
        let mut framebuffer = Framebuffer::new(256, 128);
        framebuffer.fill_rect(&Rect::new(0, 0, 256, 128), 0x202020);
        framebuffer.fill_rect(&Rect::new(100, 40, 10, 10), 0xffffff);
        let areas = find_solid_areas(&framebuffer, &framebuffer.bounds());
        let covered: usize = areas.iter().map(|(r, _)| r.area()).sum();
        assert_eq!(
            covered,
            256 * 128 - 32 * 32,
            "all but the block with the square"
        );
        assert!(areas.iter().all(|&(_, c)| c == 0x202020));
        for (i, (a, _)) in areas.iter().enumerate() {
            for (b, _) in &areas[i + 1..] {
                assert!(!a.intersects(b));
            }
        }
        assert_eq!(
            solid_colour(&framebuffer, &Rect::new(0, 0, 50, 30)),
            Some(0x202020)
        );
        assert_eq!(solid_colour(&framebuffer, &Rect::new(95, 35, 10, 10)), None);
    }
}
