//! Drawing primitives for the demo desktop, straight onto a [`Framebuffer`]. Everything
//! clips to the framebuffer (and to a clip rectangle where one is given), so no coordinate a
//! viewer sends can make them panic. They return what they touched, for damage.

use farview_protocol::{Framebuffer, Rect};

use super::font;

/// The desktop's colours, `0x00RRGGBB`.
pub mod colour {
    pub const DESKTOP_TOP: u32 = 0x3b6d8c;
    pub const DESKTOP_BOTTOM: u32 = 0x172a3c;
    pub const BAR: u32 = 0x1e232b;
    pub const BAR_TEXT: u32 = 0xd8dee6;
    pub const BAR_DIM: u32 = 0x8a94a0;
    pub const ACCENT: u32 = 0x5fb3f0;
    pub const SHADOW: u32 = 0x0d1822;
    pub const BORDER: u32 = 0x27303a;
    pub const TITLE: u32 = 0x3867a6;
    pub const TITLE_LIGHT: u32 = 0x5d8ccb;
    pub const TITLE_TEXT: u32 = 0xffffff;
    pub const BODY: u32 = 0xecebe6;
    pub const TEXT: u32 = 0x1f2329;
    pub const HINT: u32 = 0x56616e;
    pub const FIELD: u32 = 0xffffff;
    pub const FIELD_EDGE: u32 = 0x8893a0;
    pub const STRIPE: u32 = 0xf3f6fa;
    pub const CARET: u32 = 0x2f6fd0;
    pub const SCROLL_TRACK: u32 = 0xd9dde2;
    pub const SCROLL_THUMB: u32 = 0x7d8997;
    pub const CLOSE: u32 = 0xef5f57;
    pub const MINIMISE: u32 = 0xf5bd3a;
    pub const MAXIMISE: u32 = 0x3cc24c;
}

/// Linear mix of two colours: `t` of 0 is `a`, 255 is `b`.
pub fn mix(a: u32, b: u32, t: u32) -> u32 {
    let t = t.min(255);
    let channel = |shift: u32| {
        let (ca, cb) = ((a >> shift) & 0xff, (b >> shift) & 0xff);
        ((ca * (255 - t) + cb * t) / 255) << shift
    };
    channel(16) | channel(8) | channel(0)
}

/// `rect` clipped to the framebuffer.
pub fn clip(fb: &Framebuffer, rect: Rect) -> Option<Rect> {
    rect.clip(fb.width(), fb.height())
}

pub fn fill(fb: &mut Framebuffer, rect: Rect, rgb: u32) -> Option<Rect> {
    fb.fill_rect(&rect, rgb);
    clip(fb, rect)
}

/// Fills `rect` with a top-to-bottom gradient.
pub fn vertical_gradient(fb: &mut Framebuffer, rect: Rect, top: u32, bottom: u32) -> Option<Rect> {
    let span = u32::from(rect.height.max(2) - 1);
    for row in 0..rect.height {
        let t = u32::from(row) * 255 / span;
        let line = Rect::new(rect.x, rect.y.saturating_add(row), rect.width, 1);
        fb.fill_rect(&line, mix(top, bottom, t));
    }
    clip(fb, rect)
}

/// A one-pixel outline just inside `rect`.
pub fn outline(fb: &mut Framebuffer, rect: Rect, rgb: u32) -> Option<Rect> {
    if rect.is_empty() {
        return None;
    }
    let (right, bottom) = (rect.right() - 1, rect.bottom() - 1);
    fb.fill_rect(&Rect::new(rect.x, rect.y, rect.width, 1), rgb);
    fb.fill_rect(&Rect::new(rect.x, rect.y, 1, rect.height), rgb);
    if let (Ok(right), Ok(bottom)) = (u16::try_from(right), u16::try_from(bottom)) {
        fb.fill_rect(&Rect::new(rect.x, bottom, rect.width, 1), rgb);
        fb.fill_rect(&Rect::new(right, rect.y, 1, rect.height), rgb);
    }
    clip(fb, rect)
}

/// A filled disc of radius `r` centred on `(cx, cy)`.
pub fn disc(fb: &mut Framebuffer, cx: i32, cy: i32, r: i32, rgb: u32) {
    for dy in -r..=r {
        for dx in -r..=r {
            // The +r term rounds the edge so small discs are not diamonds.
            if dx * dx + dy * dy <= r * r + r {
                set(fb, cx + dx, cy + dy, rgb);
            }
        }
    }
}

fn set(fb: &mut Framebuffer, x: i32, y: i32, rgb: u32) {
    let (width, height) = (i32::from(fb.width()), i32::from(fb.height()));
    if (0..width).contains(&x) && (0..height).contains(&y) {
        fb.pixels_mut()[(y * width + x) as usize] = rgb;
    }
}

/// A line `thickness` pixels wide from `from` to `to` (Bresenham, stamping a square brush at
/// each step), drawn only inside `clip_to`. Returns the area it may have changed.
pub fn thick_line(
    fb: &mut Framebuffer,
    clip_to: Rect,
    from: (i32, i32),
    to: (i32, i32),
    thickness: i32,
    rgb: u32,
) -> Option<Rect> {
    let clip_to = clip(fb, clip_to)?;
    let (left, top) = (i32::from(clip_to.x), i32::from(clip_to.y));
    let (right, bottom) = (clip_to.right() as i32, clip_to.bottom() as i32);
    let before = (thickness.max(1) - 1) / 2;
    let after = thickness.max(1) - before;
    let width = i32::from(fb.width());
    let mut stamp = |x: i32, y: i32| {
        for py in (y - before).max(top)..(y + after).min(bottom) {
            for px in (x - before).max(left)..(x + after).min(right) {
                fb.pixels_mut()[(py * width + px) as usize] = rgb;
            }
        }
    };
    let (mut x, mut y) = from;
    let (dx, dy) = ((to.0 - x).abs(), -(to.1 - y).abs());
    let (sx, sy) = (if x < to.0 { 1 } else { -1 }, if y < to.1 { 1 } else { -1 });
    let mut error = dx + dy;
    loop {
        stamp(x, y);
        if (x, y) == to {
            break;
        }
        let doubled = 2 * error;
        if doubled >= dy {
            error += dy;
            x += sx;
        }
        if doubled <= dx {
            error += dx;
            y += sy;
        }
    }
    // The bounding box of both ends plus the brush, clipped.
    let box_left = (from.0.min(to.0) - before).max(left);
    let box_top = (from.1.min(to.1) - before).max(top);
    let box_right = (from.0.max(to.0) + after).min(right);
    let box_bottom = (from.1.max(to.1) + after).min(bottom);
    if box_right <= box_left || box_bottom <= box_top {
        return None;
    }
    let size = |a: i32, b: i32| (b - a) as u16;
    Some(Rect::new(
        box_left as u16,
        box_top as u16,
        size(box_left, box_right),
        size(box_top, box_bottom),
    ))
}

/// A window frame: shadow, border, title bar with `title`, and the body. Returns the body,
/// the area inside the frame below the title bar.
pub fn window(fb: &mut Framebuffer, rect: Rect, title: &str) -> Rect {
    const TITLE_H: u16 = 22;
    let shadow = Rect::new(
        rect.x.saturating_add(4),
        rect.y.saturating_add(4),
        rect.width,
        rect.height,
    );
    fill(fb, shadow, colour::SHADOW);
    outline(fb, rect, colour::BORDER);
    let inner_w = rect.width.saturating_sub(2);
    let (x, y) = (rect.x.saturating_add(1), rect.y.saturating_add(1));
    // A solid bar with a lighter top line: opaque text sits on it without a visible box.
    fill(fb, Rect::new(x, y, inner_w, TITLE_H - 1), colour::TITLE);
    fill(fb, Rect::new(x, y, inner_w, 1), colour::TITLE_LIGHT);
    fill(
        fb,
        Rect::new(x, y.saturating_add(TITLE_H - 1), inner_w, 1),
        colour::BORDER,
    );
    let text_y = y.saturating_add(4);
    font::draw_text(
        fb,
        x.saturating_add(8),
        text_y,
        title,
        colour::TITLE_TEXT,
        colour::TITLE,
    );
    let buttons = [colour::MAXIMISE, colour::MINIMISE, colour::CLOSE];
    let cy = i32::from(y) + i32::from(TITLE_H) / 2 - 1;
    for (index, rgb) in buttons.into_iter().enumerate() {
        let cx = rect.right() as i32 - 14 - 16 * index as i32;
        disc(fb, cx, cy, 5, mix(rgb, 0x000000, 60));
        disc(fb, cx, cy, 4, rgb);
    }
    let body = Rect::new(
        x,
        y.saturating_add(TITLE_H),
        inner_w,
        rect.height.saturating_sub(TITLE_H + 2),
    );
    fill(fb, body, colour::BODY);
    body
}

/// A sunken white field with an edge, as text boxes and lists have. Returns the inside.
pub fn field(fb: &mut Framebuffer, rect: Rect) -> Rect {
    outline(fb, rect, colour::FIELD_EDGE);
    let inside = Rect::new(
        rect.x.saturating_add(1),
        rect.y.saturating_add(1),
        rect.width.saturating_sub(2),
        rect.height.saturating_sub(2),
    );
    fill(fb, inside, colour::FIELD);
    inside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_ends_and_middle() {
        assert_eq!(mix(0x000000, 0xffffff, 0), 0x000000);
        assert_eq!(mix(0x000000, 0xffffff, 255), 0xffffff);
        assert_eq!(mix(0x000000, 0xff0080, 128), 0x800040);
    }

    #[test]
    fn thick_lines_stay_inside_their_clip() {
        let mut fb = Framebuffer::new(50, 50);
        let clip_to = Rect::new(10, 10, 20, 20);
        let drawn = thick_line(&mut fb, clip_to, (-100, 15), (1000, 15), 3, 0xffffff);
        assert_eq!(drawn, Some(Rect::new(10, 14, 20, 3)));
        for y in 0..50u16 {
            for x in 0..50u16 {
                let inside = clip_to.contains(&Rect::new(x, y, 1, 1));
                assert!(inside || fb.pixel(x, y) == 0, "{x},{y} drawn outside");
            }
        }
        assert_eq!(fb.pixel(20, 15), 0xffffff);
        assert_eq!(thick_line(&mut fb, clip_to, (0, 0), (5, 5), 3, 1), None);
    }

    #[test]
    fn a_diagonal_is_continuous() {
        let mut fb = Framebuffer::new(20, 20);
        let bounds = fb.bounds();
        thick_line(&mut fb, bounds, (0, 0), (19, 9), 1, 1);
        for x in 0..20u16 {
            assert!((0..20).any(|y| fb.pixel(x, y) == 1), "gap at column {x}");
        }
    }

    #[test]
    fn shapes_clip_at_the_edges() {
        let mut fb = Framebuffer::new(30, 30);
        window(&mut fb, Rect::new(20, 20, 200, 100), "clipped");
        disc(&mut fb, -3, 29, 6, 7);
        outline(&mut fb, Rect::new(65000, 65000, 535, 535), 1);
        assert_eq!(fb.pixel(0, 29), 7);
    }
}
