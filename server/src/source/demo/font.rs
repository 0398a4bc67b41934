//! The demo desktop's bitmap font: printable ASCII (32..=126) drawn for farview, 5x12 pixel
//! glyphs in a 6x14 cell.
//!
//! The glyphs are string art below, twelve to a band in ASCII order: `#` is ink, `.` is paper.
//! Each band starts with a `=` line naming its characters (for the reader; the parser skips
//! it). Art rows: 0 is headroom for brackets, 1..=9 hold capitals and digits (the baseline is
//! under row 9), 3..=9 the lowercase x-height, 10..=11 descenders. The art is parsed at
//! compile time, so a malformed glyph is a build error.

use farview_protocol::{Framebuffer, Rect};

/// Glyph art width and height in pixels.
pub const ART_W: usize = 5;
pub const ART_H: usize = 12;
/// The character cell: one blank column after the art, one blank row above and below.
pub const CELL_W: u16 = 6;
pub const CELL_H: u16 = 14;

const FIRST: u8 = 32;
const COUNT: usize = 95;
const PER_BAND: usize = 12;

const ART: &str = r##"
=       !     "     #     $     %     &     '     (     )     *     +
..... ..... ..... ..... ..... ..... ..... ..... ...#. .#... ..... .....
..... ..#.. .#.#. ..... ..#.. ##..# .##.. ..#.. ..#.. ..#.. ..... .....
..... ..#.. .#.#. .#.#. .#### ##..# #..#. ..#.. .#... ...#. ..... .....
..... ..#.. .#.#. .#.#. #.#.. ...#. #..#. ..#.. .#... ...#. ..#.. ..#..
..... ..#.. ..... ##### #.#.. ...#. .##.. ..... .#... ...#. #.#.# ..#..
..... ..#.. ..... .#.#. .###. ..#.. .#... ..... .#... ...#. .###. #####
..... ..#.. ..... .#.#. ..#.# .#... #.#.# ..... .#... ...#. #.#.# ..#..
..... ..#.. ..... ##### ..#.# .#... #..#. ..... .#... ...#. ..#.. ..#..
..... ..... ..... .#.#. ####. #..## #..#. ..... .#... ...#. ..... .....
..... ..#.. ..... .#.#. ..#.. #..## .##.# ..... ..#.. ..#.. ..... .....
..... ..... ..... ..... ..... ..... ..... ..... ...#. .#... ..... .....
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
= ,     -     .     /     0     1     2     3     4     5     6     7
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
..... ..... ..... ....# .###. ..#.. .###. .###. ...#. ##### ..##. #####
..... ..... ..... ....# #...# .##.. #...# #...# ..##. #.... .#... ....#
..... ..... ..... ...#. #...# #.#.. ....# ....# .#.#. #.... #.... ....#
..... ..... ..... ...#. #..## ..#.. ....# ....# #..#. ####. #.... ...#.
..... ##### ..... ..#.. #.#.# ..#.. ...#. ..##. #..#. ....# ####. ...#.
..... ..... ..... .#... ##..# ..#.. ..#.. ....# ##### ....# #...# ..#..
..... ..... ..... .#... #...# ..#.. .#... ....# ...#. ....# #...# ..#..
..##. ..... ..##. #.... #...# ..#.. #.... #...# ...#. #...# #...# ..#..
..##. ..... ..##. #.... .###. ##### ##### .###. ...#. .###. .###. ..#..
...#. ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
..#.. ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
= 8     9     :     ;     <     =     >     ?     @     A     B     C
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
.###. .###. ..... ..... ..... ..... ..... .###. .###. ..#.. ####. .###.
#...# #...# ..... ..... ....# ..... #.... #...# #...# .#.#. #...# #...#
#...# #...# ..##. ..##. ...#. ..... .#... ....# #...# #...# #...# #....
#...# #...# ..##. ..##. ..#.. ##### ..#.. ....# #.### #...# #...# #....
.###. .#### ..... ..... .#... ..... ...#. ...#. #.#.# #...# ####. #....
#...# ....# ..... ..... ..#.. ##### ..#.. ..#.. #.#.# ##### #...# #....
#...# ....# ..... ..... ...#. ..... .#... ..#.. #.##. #...# #...# #....
#...# ...#. ..##. ..##. ....# ..... #.... ..... #.... #...# #...# #...#
.###. .##.. ..##. ..##. ..... ..... ..... ..#.. .#### #...# ####. .###.
..... ..... ..... ...#. ..... ..... ..... ..... ..... ..... ..... .....
..... ..... ..... ..#.. ..... ..... ..... ..... ..... ..... ..... .....
= D     E     F     G     H     I     J     K     L     M     N     O
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
###.. ##### ##### .###. #...# .###. ..### #...# #.... #...# #...# .###.
#..#. #.... #.... #...# #...# ..#.. ...#. #...# #.... ##.## #...# #...#
#...# #.... #.... #.... #...# ..#.. ...#. #..#. #.... #.#.# ##..# #...#
#...# #.... #.... #.... #...# ..#.. ...#. #.#.. #.... #.#.# ##..# #...#
#...# ####. ####. #.### ##### ..#.. ...#. ##... #.... #...# #.#.# #...#
#...# #.... #.... #...# #...# ..#.. ...#. #.#.. #.... #...# #..## #...#
#...# #.... #.... #...# #...# ..#.. #..#. #..#. #.... #...# #..## #...#
#..#. #.... #.... #...# #...# ..#.. #..#. #...# #.... #...# #...# #...#
###.. ##### #.... .###. #...# .###. .##.. #...# ##### #...# #...# .###.
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
= P     Q     R     S     T     U     V     W     X     Y     Z     [
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .###.
####. .###. ####. .###. ##### #...# #...# #...# #...# #...# ##### .#...
#...# #...# #...# #...# ..#.. #...# #...# #...# #...# #...# ....# .#...
#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#...
#...# #...# #...# #.... ..#.. #...# #...# #...# .#.#. .#.#. ...#. .#...
####. #...# ####. .###. ..#.. #...# #...# #...# ..#.. ..#.. ..#.. .#...
#.... #...# #.#.. ....# ..#.. #...# #...# #.#.# .#.#. ..#.. .#... .#...
#.... #.#.# #..#. ....# ..#.. #...# .#.#. #.#.# .#.#. ..#.. .#... .#...
#.... #..#. #...# #...# ..#.. #...# .#.#. ##.## #...# ..#.. #.... .#...
#.... .##.# #...# .###. ..#.. .###. ..#.. #...# #...# ..#.. ##### .#...
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .###.
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
= \     ]     ^     _     `     a     b     c     d     e     f     g
..... .###. ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
#.... ...#. ..#.. ..... .#... ..... #.... ..... ....# ..... ..##. .....
#.... ...#. .#.#. ..... ..#.. ..... #.... ..... ....# ..... .#..# .....
.#... ...#. #...# ..... ..... .###. #.##. .###. .##.# .###. .#... .####
.#... ...#. ..... ..... ..... ....# ##..# #...# #..## #...# ####. #...#
..#.. ...#. ..... ..... ..... ....# #...# #.... #...# #...# .#... #...#
...#. ...#. ..... ..... ..... .#### #...# #.... #...# ##### .#... #...#
...#. ...#. ..... ..... ..... #...# #...# #.... #...# #.... .#... #...#
....# ...#. ..... ..... ..... #...# #...# #...# #...# #...# .#... #...#
....# ...#. ..... ..... ..... .#### ####. .###. .#### .###. .#... .####
..... .###. ..... ..... ..... ..... ..... ..... ..... ..... ..... ....#
..... ..... ..... ##### ..... ..... ..... ..... ..... ..... ..... .###.
= h     i     j     k     l     m     n     o     p     q     r     s
..... ..... ..... ..... ..... ..... ..... ..... ..... ..... ..... .....
#.... ..#.. ...#. #.... .##.. ..... ..... ..... ..... ..... ..... .....
#.... ..... ..... #.... ..#.. ..... ..... ..... ..... ..... ..... .....
#.##. .##.. ..##. #...# ..#.. ##.#. #.##. .###. ####. .#### #.##. .####
##..# ..#.. ...#. #..#. ..#.. #.#.# ##..# #...# #...# #...# ##..# #....
#...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...# #...# #...# #.... #....
#...# ..#.. ...#. ##... ..#.. #.#.# #...# #...# #...# #...# #.... .###.
#...# ..#.. ...#. #.#.. ..#.. #.#.# #...# #...# #...# #...# #.... ....#
#...# ..#.. ...#. #..#. ..#.. #.#.# #...# #...# #...# #...# #.... ....#
#...# .###. ...#. #...# .###. #.#.# #...# .###. ####. .#### #.... ####.
..... ..... #..#. ..... ..... ..... ..... ..... #.... ....# ..... .....
..... ..... .##.. ..... ..... ..... ..... ..... #.... ....# ..... .....
= t     u     v     w     x     y     z     {     |     }     ~
..... ..... ..... ..... ..... ..... ..... ...## ..#.. ##... .....
.#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....
.#... ..... ..... ..... ..... ..... ..... ..#.. ..#.. ..#.. .....
####. #...# #...# #...# #...# #...# ##### ..#.. ..#.. ..#.. .....
.#... #...# #...# #...# #...# #...# ....# ..#.. ..#.. ..#.. .#...
.#... #...# #...# #...# .#.#. #...# ...#. ##... ..#.. ...## #.#.#
.#... #...# #...# #.#.# ..#.. #...# ..#.. ..#.. ..#.. ..#.. ...#.
.#... #...# .#.#. #.#.# .#.#. #...# .#... ..#.. ..#.. ..#.. .....
.#... #...# .#.#. #.#.# #...# #...# #.... ..#.. ..#.. ..#.. .....
..##. .#### ..#.. .#.#. #...# .#### ##### ..#.. ..#.. ..#.. .....
..... ..... ..... ..... ..... ....# ..... ...## ..#.. ##... .....
..... ..... ..... ..... ..... .###. ..... ..... ..... ..... .....

"##;

/// One row per art line, the leftmost pixel in bit `ART_W - 1`.
type Glyph = [u8; ART_H];

static GLYPHS: [Glyph; COUNT] = parse(ART);

/// Shown for characters the font lacks: a hollow box.
const MISSING: Glyph = [
    0, 0x1f, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1f, 0, 0,
];

const fn parse(art: &str) -> [Glyph; COUNT] {
    let bytes = art.as_bytes();
    let mut glyphs = [[0u8; ART_H]; COUNT];
    let mut art_lines = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'\n' {
            i += 1;
        }
        let end = i;
        i += 1;
        if end == start || bytes[start] == b'=' {
            continue;
        }
        let (band, row) = (art_lines / ART_H, art_lines % ART_H);
        let mut column = 0;
        let mut j = start;
        while j < end {
            assert!(j + ART_W <= end, "font art: short glyph row");
            let mut bits = 0u8;
            let mut k = 0;
            while k < ART_W {
                match bytes[j + k] {
                    b'#' => bits |= 1 << (ART_W - 1 - k),
                    b'.' => {}
                    _ => panic!("font art: glyph rows hold only # and ."),
                }
                k += 1;
            }
            let index = band * PER_BAND + column;
            assert!(index < COUNT, "font art: too many glyphs");
            glyphs[index][row] = bits;
            column += 1;
            j += ART_W;
            if j < end {
                assert!(
                    bytes[j] == b' ',
                    "font art: glyphs are separated by one space"
                );
                j += 1;
            }
        }
        let expected = if COUNT - band * PER_BAND < PER_BAND {
            COUNT - band * PER_BAND
        } else {
            PER_BAND
        };
        assert!(
            column == expected,
            "font art: wrong number of glyphs in a band row"
        );
        art_lines += 1;
    }
    assert!(
        art_lines == COUNT.div_ceil(PER_BAND) * ART_H,
        "font art: wrong number of rows"
    );
    glyphs
}

/// The character the font draws for `c`: accented Latin-1 letters lose their accent (typed
/// text may hold any of them), a no-break space is a space.
fn fold(c: char) -> char {
    match c {
        '\u{a0}' => ' ',
        'À'..='Å' => 'A',
        'Ç' => 'C',
        'È'..='Ë' => 'E',
        'Ì'..='Ï' => 'I',
        'Ñ' => 'N',
        'Ò'..='Ö' | 'Ø' => 'O',
        'Ù'..='Ü' => 'U',
        'Ý' => 'Y',
        'à'..='å' => 'a',
        'ç' => 'c',
        'è'..='ë' => 'e',
        'ì'..='ï' => 'i',
        'ñ' => 'n',
        'ò'..='ö' | 'ø' => 'o',
        'ù'..='ü' => 'u',
        'ý' | 'ÿ' => 'y',
        other => other,
    }
}

/// The glyph for `c`, or a hollow box when the font lacks it.
fn glyph(c: char) -> &'static Glyph {
    let code = u32::from(fold(c));
    match code.checked_sub(u32::from(FIRST)) {
        Some(index) if (index as usize) < COUNT => &GLYPHS[index as usize],
        _ => &MISSING,
    }
}

/// The width in pixels of `text` drawn at `scale`.
pub fn text_width(text: &str, scale: u16) -> u32 {
    text.chars().count() as u32 * u32::from(CELL_W) * u32::from(scale.max(1))
}

/// Draws `text` with its top-left cell corner at `(x, y)`, cells filled with `bg`. Whatever
/// falls outside the framebuffer is dropped. Returns the area drawn, if any.
pub fn draw_text(
    fb: &mut Framebuffer,
    x: u16,
    y: u16,
    text: &str,
    fg: u32,
    bg: u32,
) -> Option<Rect> {
    draw_text_scaled(fb, x, y, text, fg, bg, 1)
}

/// [`draw_text`] with every font pixel drawn as a `scale` x `scale` square.
pub fn draw_text_scaled(
    fb: &mut Framebuffer,
    x: u16,
    y: u16,
    text: &str,
    fg: u32,
    bg: u32,
    scale: u16,
) -> Option<Rect> {
    let scale = u32::from(scale.max(1));
    let (width, height) = (u32::from(fb.width()), u32::from(fb.height()));
    let (cell_w, cell_h) = (u32::from(CELL_W) * scale, u32::from(CELL_H) * scale);
    let (x, y) = (u32::from(x), u32::from(y));
    let mut drawn = 0;
    for (index, c) in text.chars().enumerate() {
        let left = x + index as u32 * cell_w;
        if left >= width {
            break;
        }
        let glyph = glyph(c);
        for dy in 0..cell_h.min(height.saturating_sub(y)) {
            // Art row = cell row - 1: the cell has a blank row above the art.
            let bits = (dy / scale)
                .checked_sub(1)
                .and_then(|r| glyph.get(r as usize))
                .copied();
            let bits = u32::from(bits.unwrap_or(0));
            let row_start = ((y + dy) * width) as usize;
            for dx in 0..cell_w.min(width - left) {
                let column = dx / scale;
                let ink =
                    (column as usize) < ART_W && bits & (1 << (ART_W - 1 - column as usize)) != 0;
                fb.pixels_mut()[row_start + (left + dx) as usize] = if ink { fg } else { bg };
            }
        }
        drawn += 1;
    }
    let w = (drawn * cell_w).min(u32::from(u16::MAX)) as u16;
    let h = cell_h.min(u32::from(u16::MAX)) as u16;
    Rect::new(x as u16, y as u16, w, h).clip(fb.width(), fb.height())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ink(c: char) -> usize {
        glyph(c).iter().map(|row| row.count_ones() as usize).sum()
    }

    #[test]
    fn every_visible_glyph_has_ink_and_the_space_has_none() {
        assert_eq!(ink(' '), 0);
        for code in 33u8..=126 {
            assert!(ink(char::from(code)) > 0, "{:?} is blank", char::from(code));
        }
    }

    #[test]
    fn glyphs_are_pairwise_distinct() {
        for (a, first) in GLYPHS.iter().enumerate() {
            for (b, second) in GLYPHS.iter().enumerate().skip(a + 1) {
                let (a, b) = (char::from(FIRST + a as u8), char::from(FIRST + b as u8));
                assert_ne!(first, second, "{a:?} and {b:?} look alike");
            }
        }
    }

    #[test]
    fn glyphs_stay_inside_the_art() {
        assert!(GLYPHS.iter().flatten().all(|row| row >> ART_W == 0));
    }

    #[test]
    fn unknown_characters_get_a_box_and_accents_fold() {
        assert_eq!(glyph('\u{263a}'), &MISSING);
        assert_eq!(glyph('é'), glyph('e'));
        assert_eq!(glyph('\u{7f}'), &MISSING);
    }

    #[test]
    fn text_is_drawn_and_clipped_at_the_edges() {
        let mut fb = Framebuffer::new(20, 10);
        let drawn = draw_text(&mut fb, 2, 0, "Hi!", 0xffffff, 0x000001);
        assert_eq!(drawn, Some(Rect::new(2, 0, 18, 10)));
        assert!(fb.pixels().contains(&0xffffff));
        assert_eq!(
            draw_text(&mut fb, 19, 9, "xyz", 1, 2),
            Some(Rect::new(19, 9, 1, 1))
        );
        assert_eq!(draw_text(&mut fb, 20, 0, "x", 1, 2), None);
        assert_eq!(draw_text(&mut fb, u16::MAX, u16::MAX, "x", 1, 2), None);
        let big = draw_text_scaled(&mut fb, 0, 0, "A", 1, 2, 3);
        assert_eq!(big, Some(Rect::new(0, 0, 18, 10)));
    }
}
