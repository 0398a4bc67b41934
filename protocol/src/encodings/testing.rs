//! Test material for the encoding modules: synthetic screen-like pictures and comparisons
//! that allow for the precision a pixel format loses.

use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;
use proptest::prelude::*;

/// A small xorshift generator, so that a picture is a pure function of its seed.
pub(crate) struct Noise(u64);

impl Noise {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }

    pub(crate) fn below(&mut self, n: u32) -> u32 {
        self.next() % n.max(1)
    }
}

/// The kinds of content desktops are made of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Content {
    Noise,
    FewColours,
    Solid,
    Text,
}

/// A `width` x `height` picture of one kind of content.
pub(crate) fn picture(width: u16, height: u16, content: Content, seed: u64) -> Framebuffer {
    let mut noise = Noise::new(seed);
    let area = usize::from(width) * usize::from(height);
    let pixels: Vec<u32> = match content {
        Content::Noise => (0..area).map(|_| noise.next() & 0xff_ffff).collect(),
        Content::Solid => vec![noise.next() & 0xff_ffff; area],
        Content::FewColours => {
            let palette: Vec<u32> = (0..2 + noise.below(3))
                .map(|_| noise.next() & 0xff_ffff)
                .collect();
            let mut colour = palette[0];
            (0..area)
                .map(|_| {
                    if noise.below(6) == 0 {
                        let pick = noise.below(palette.len() as u32) as usize;
                        colour = palette[pick];
                    }
                    colour
                })
                .collect()
        }
        Content::Text => return text(width, height, &mut noise),
    };
    Framebuffer::from_pixels(width, height, pixels).expect("size matches")
}

/// Dark glyph-like strokes with anti-aliased edges on a light page, a few coloured bars.
fn text(width: u16, height: u16, noise: &mut Noise) -> Framebuffer {
    let mut picture = Framebuffer::new(width, height);
    picture.fill_rect(&picture.bounds(), 0xf6f5f4);
    let shades = [0x202020, 0x6a6a6a, 0xb8b8b8, 0x1c5fb4];
    for _ in 0..(u32::from(width) * u32::from(height) / 40).max(1) {
        let x = noise.below(u32::from(width)) as u16;
        let y = noise.below(u32::from(height)) as u16;
        let (w, h) = if noise.below(2) == 0 {
            (1 + noise.below(6) as u16, 1)
        } else {
            (1, 1 + noise.below(9) as u16)
        };
        let kinds = if noise.below(8) == 0 { 4 } else { 3 };
        let shade = shades[noise.below(kinds) as usize];
        picture.fill_rect(&Rect::new(x, y, w, h), shade);
    }
    if height > 4 {
        let bar = Rect::new(0, noise.below(u32::from(height)) as u16, width, 3);
        picture.fill_rect(&bar, 0x3584e4);
    }
    picture
}

pub(crate) fn any_content() -> impl Strategy<Value = Content> {
    prop_oneof![
        Just(Content::Noise),
        Just(Content::FewColours),
        Just(Content::Solid),
        Just(Content::Text),
    ]
}

/// A framebuffer up to `max_side` on each side (sizes from 1x1 up) and a rectangle inside it.
pub(crate) fn any_picture_and_rect(max_side: u16) -> impl Strategy<Value = (Framebuffer, Rect)> {
    (1..=max_side, 1..=max_side, any_content(), any::<u64>())
        .prop_flat_map(|(width, height, content, seed)| {
            (
                Just(picture(width, height, content, seed)),
                0..width,
                0..height,
            )
        })
        .prop_flat_map(|(picture, x, y)| {
            let (width, height) = (picture.width() - x, picture.height() - y);
            (Just(picture), Just(x), Just(y), 1..=width, 1..=height)
        })
        .prop_map(|(picture, x, y, width, height)| (picture, Rect::new(x, y, width, height)))
}

/// Whether `rect` shows the same pixel values in `format` in both framebuffers.
pub(crate) fn same_in_format(
    format: &PixelFormat,
    rect: &Rect,
    expected: &Framebuffer,
    actual: &Framebuffer,
) -> bool {
    expected
        .read_rect(rect)
        .iter()
        .zip(actual.read_rect(rect))
        .all(|(&a, b)| format.pixel_value(a) == format.pixel_value(b))
}
