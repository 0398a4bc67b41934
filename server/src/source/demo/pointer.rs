//! The demo's pointer shape, drawn here: a classic arrow, white with a dark one-pixel outline,
//! its edges anti-aliased into soft alpha. Viewers that draw the pointer themselves get it
//! through the cursor pseudo-encodings; the demo never draws a pointer into its framebuffer.

use farview_protocol::encodings::cursor::Cursor;

pub const ARROW_WIDTH: u16 = 12;
pub const ARROW_HEIGHT: u16 = 19;
/// The tip of the arrow.
pub const ARROW_HOTSPOT: (u16, u16) = (0, 0);

/// The arrow's outline, clockwise from the tip, in pixel units (pixel `(x, y)` covers
/// `[x, x + 1) x [y, y + 1)`).
const OUTLINE: [(f32, f32); 7] = [
    (0.0, 0.0),
    (11.8, 11.8),
    (7.7, 11.8),
    (10.4, 17.2),
    (7.2, 18.8),
    (4.3, 13.0),
    (0.0, 17.3),
];

/// How far inside the edge the outline colour reaches.
const OUTLINE_WIDTH: f32 = 1.0;
const FILL: [u32; 3] = [255, 255, 255];
const EDGE: [u32; 3] = [24, 24, 28];
/// Samples per pixel along each axis: 16 per pixel give 17 levels of edge alpha.
const SAMPLES: u32 = 4;

/// The demo's arrow cursor.
pub fn arrow_cursor() -> Cursor {
    let mut rgba = Vec::with_capacity(usize::from(ARROW_WIDTH) * usize::from(ARROW_HEIGHT) * 4);
    let per_pixel = SAMPLES * SAMPLES;
    for y in 0..ARROW_HEIGHT {
        for x in 0..ARROW_WIDTH {
            let (mut sums, mut covered) = ([0u32; 3], 0u32);
            for sample in 0..per_pixel {
                let point = (
                    f32::from(x) + ((sample % SAMPLES) as f32 + 0.5) / SAMPLES as f32,
                    f32::from(y) + ((sample / SAMPLES) as f32 + 0.5) / SAMPLES as f32,
                );
                if !inside(point) {
                    continue;
                }
                covered += 1;
                let colour = if distance_to_edge(point) < OUTLINE_WIDTH {
                    EDGE
                } else {
                    FILL
                };
                for (sum, channel) in sums.iter_mut().zip(colour) {
                    *sum += channel;
                }
            }
            // Premultiplied: each colour is the mean over all samples, uncovered ones black,
            // so it never exceeds the alpha.
            let mean = |sum: u32| ((sum + per_pixel / 2) / per_pixel) as u8;
            rgba.extend_from_slice(&[
                mean(sums[0]),
                mean(sums[1]),
                mean(sums[2]),
                mean(covered * 255),
            ]);
        }
    }
    Cursor::new(
        ARROW_WIDTH,
        ARROW_HEIGHT,
        ARROW_HOTSPOT.0,
        ARROW_HOTSPOT.1,
        rgba,
    )
    .expect("the arrow is a valid cursor")
}

fn edges() -> impl Iterator<Item = ((f32, f32), (f32, f32))> {
    OUTLINE
        .iter()
        .zip(OUTLINE.iter().cycle().skip(1))
        .map(|(&a, &b)| (a, b))
}

/// Even-odd rule: a ray to the right crosses the outline an odd number of times.
fn inside((x, y): (f32, f32)) -> bool {
    edges()
        .filter(|&((x0, y0), (x1, y1))| {
            (y0 > y) != (y1 > y) && x < x0 + (y - y0) * (x1 - x0) / (y1 - y0)
        })
        .count()
        % 2
        == 1
}

fn distance_to_edge((x, y): (f32, f32)) -> f32 {
    edges()
        .map(|((x0, y0), (x1, y1))| {
            let (dx, dy) = (x1 - x0, y1 - y0);
            let along = (((x - x0) * dx + (y - y0) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
            let (nearest_x, nearest_y) = (x0 + along * dx, y0 + along * dy);
            ((x - nearest_x).powi(2) + (y - nearest_y).powi(2)).sqrt()
        })
        .fold(f32::INFINITY, f32::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The arrow as text, one character per pixel by alpha and colour, for eyes and diffs.
    fn sketch(cursor: &Cursor) -> String {
        let mut text = String::new();
        for y in 0..cursor.height {
            for x in 0..cursor.width {
                let [r, _, _, a] = cursor.pixel(x, y);
                text.push(match (a, r) {
                    (0, _) => '.',
                    (1..=127, _) => '+',
                    (_, r) if r < a / 2 => '#',
                    _ => 'o',
                });
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn the_arrow_is_a_valid_outlined_cursor_with_soft_edges() {
        let arrow = arrow_cursor();
        assert_eq!(arrow.validate(), Ok(()));
        assert_eq!((arrow.width, arrow.height), (ARROW_WIDTH, ARROW_HEIGHT));
        assert_eq!((arrow.hotspot_x, arrow.hotspot_y), ARROW_HOTSPOT);
        let alphas: Vec<u8> = arrow.rgba.chunks_exact(4).map(|p| p[3]).collect();
        assert!(alphas.contains(&255) && alphas.contains(&0));
        assert!(alphas.iter().any(|&a| a > 0 && a < 255), "soft edges");
        assert!(
            arrow.pixel(0, 0)[3] >= 64,
            "the tip shows:\n{}",
            sketch(&arrow)
        );
        // White inside, dark at the border.
        assert_eq!(
            arrow.pixel(3, 8),
            [255, 255, 255, 255],
            "\n{}",
            sketch(&arrow)
        );
        let [r, _, _, a] = arrow.pixel(0, 8);
        assert!(a > 200 && r < 64, "\n{}", sketch(&arrow));
        // Every row but the very last has something in it; the right arm ends near the edge.
        assert!(arrow.pixel(11, 11)[3] > 0, "\n{}", sketch(&arrow));
    }
}
