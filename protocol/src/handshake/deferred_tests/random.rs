//! Random updates of every kind, checked against the sequential path in every split.

use super::support::*;
use crate::encodings::testing::Content;
use crate::framebuffer::Rect;
use crate::messages::EncodingType;
use crate::pixel::PixelFormat;
use proptest::prelude::*;

fn any_encoding() -> impl Strategy<Value = EncodingType> {
    use EncodingType as E;
    prop::sample::select(vec![
        E::RAW,
        E::RRE,
        E::CORRE,
        E::HEXTILE,
        E::TRLE,
        E::TIGHT_PNG,
        E::ZLIB,
        E::ZRLE,
        E::TIGHT,
    ])
}

fn any_content() -> impl Strategy<Value = Content> {
    crate::encodings::testing::any_content()
}

/// Ops with positions as fractions of whatever size the framebuffer has when they come.
#[derive(Debug, Clone)]
enum RawOp {
    Pixels(EncodingType, [u16; 4], Content, u64),
    Copy([u16; 4], [u16; 2]),
    Resize(u16, u16),
}

fn any_raw_op() -> impl Strategy<Value = RawOp> {
    prop_oneof![
        6 => (any_encoding(), any::<[u16; 4]>(), any_content(), any::<u64>())
            .prop_map(|(e, r, c, s)| RawOp::Pixels(e, r, c, s)),
        2 => (any::<[u16; 4]>(), any::<[u16; 2]>()).prop_map(|(r, s)| RawOp::Copy(r, s)),
        1 => (1u16..120, 1u16..90).prop_map(|(w, h)| RawOp::Resize(w, h)),
    ]
}

/// Places `raw` rectangle numbers inside a `width` x `height` framebuffer (empty allowed).
fn place([x, y, w, h]: [u16; 4], width: u16, height: u16) -> Rect {
    let x = x % width;
    let y = y % height;
    Rect::new(x, y, w % (width - x + 1), h % (height - y + 1))
}

fn concrete(updates: &[Vec<RawOp>]) -> Vec<Vec<Op>> {
    let (mut width, mut height) = (WIDTH, HEIGHT);
    updates
        .iter()
        .map(|raw_ops| {
            raw_ops
                .iter()
                .map(|raw| match raw {
                    RawOp::Pixels(encoding, r, content, seed) => {
                        pixels(*encoding, place(*r, width, height), *content, *seed)
                    }
                    RawOp::Copy(r, [sx, sy]) => {
                        let rect = place(*r, width, height);
                        Op::Copy {
                            rect,
                            source_x: sx % (width - rect.width + 1),
                            source_y: sy % (height - rect.height + 1),
                        }
                    }
                    RawOp::Resize(w, h) => {
                        (width, height) = (*w, *h);
                        Op::Resize {
                            width: *w,
                            height: *h,
                        }
                    }
                })
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_updates_decode_the_same_in_any_split(
        raw_updates in prop::collection::vec(prop::collection::vec(any_raw_op(), 0..8), 1..4),
        last_rect: bool,
        wide: bool,
        seed: u64,
    ) {
        let format = if wide { PixelFormat::NATIVE } else { PixelFormat::RGB565 };
        let mut writer = StreamWriter::new(format);
        let mut updates = Vec::new();
        for ops in concrete(&raw_updates) {
            let start = writer.out.len();
            writer.update(&ops, last_rect);
            updates.push(writer.out[start..].to_vec());
        }
        let whole = assert_same_as_sequential(format, &writer.out, seed);
        prop_assert_eq!(whole.error, None);
        assert_complete_after_each_update(format, &updates, seed);
    }
}
