//! Synthetic pictures for the TRLE and ZRLE tests: the kinds of content desktops show.

use crate::framebuffer::Framebuffer;
use proptest::prelude::*;

/// What a test picture looks like.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Content {
    /// Every pixel random: raw tiles.
    Noise,
    /// One colour.
    Solid,
    /// Pixels drawn from a few colours (up to 20, so around the packed/RLE boundary).
    FewColours(u32),
    /// Horizontal runs of many colours: plain RLE.
    Runs,
    /// Dark anti-aliased strokes on a light background, as text is.
    Text,
    /// A gradient with more than 127 colours per tile and some repeats.
    Gradient,
}

pub(crate) fn any_content() -> impl Strategy<Value = Content> {
    prop_oneof![
        Just(Content::Noise),
        Just(Content::Solid),
        (2u32..=20).prop_map(Content::FewColours),
        Just(Content::Runs),
        Just(Content::Text),
        Just(Content::Gradient),
    ]
}

fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

pub(crate) fn picture(width: u16, height: u16, content: Content, seed: u32) -> Framebuffer {
    let (w, h) = (u32::from(width), u32::from(height));
    let colour = |k: u32| mix(seed ^ k.wrapping_mul(0x9e37_79b9)) & 0x00ff_ffff;
    let pixels = (0..h)
        .flat_map(|y| (0..w).map(move |x| (x, y)))
        .map(|(x, y)| {
            let i = y * w + x;
            match content {
                Content::Noise => colour(i),
                Content::Solid => colour(0),
                Content::FewColours(k) => colour(mix(i ^ seed) % k),
                Content::Runs => colour((i + mix(y ^ seed) % 50) / (3 + mix(seed) % 300)),
                Content::Text => {
                    let stroke =
                        (x % 7 == 2 || (y % 11 == 5 && x % 7 < 5)) && (x / 7 + y / 11) % 3 != 0;
                    let edge = x % 7 == 3 && y % 11 < 8;
                    match (stroke, edge) {
                        (true, _) => 0x0020_2020,
                        (false, true) => 0x0090_9090 + (mix((x / 7) ^ seed) % 3) * 0x0010_1010,
                        _ => 0x00f6_f5f4,
                    }
                }
                Content::Gradient => {
                    (((x * 3) & 0xff) << 16) | (((y * 5) & 0xff) << 8) | (((x + y) / 4) & 0xff)
                }
            }
        })
        .collect();
    Framebuffer::from_pixels(width, height, pixels).expect("the size matches")
}
