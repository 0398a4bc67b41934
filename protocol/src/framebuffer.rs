//! Rectangles, damage regions and the framebuffer itself.
//!
//! A [`Framebuffer`] holds native pixels (`0x00RRGGBB`, see [`crate::pixel`]) row-major. A
//! [`Region`] is a bounded set of disjoint rectangles, used to accumulate damage per viewer.

use sha2::{Digest, Sha256};

/// The largest framebuffer a peer may make us allocate, in pixels (256 MiB of pixels).
pub const MAX_FRAMEBUFFER_PIXELS: usize = 64 * 1024 * 1024;
/// The largest width or height a peer may announce.
pub const MAX_FRAMEBUFFER_SIDE: u16 = 16384;

/// A rectangle in framebuffer coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub width: u16,
    pub height: u16,
}

impl Rect {
    pub const fn new(x: u16, y: u16, width: u16, height: u16) -> Self {
        Self {
            x,
            y,
            width,
            height,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.width == 0 || self.height == 0
    }

    pub fn area(&self) -> usize {
        usize::from(self.width) * usize::from(self.height)
    }

    pub fn right(&self) -> u32 {
        u32::from(self.x) + u32::from(self.width)
    }

    pub fn bottom(&self) -> u32 {
        u32::from(self.y) + u32::from(self.height)
    }

    fn from_edges(left: u32, top: u32, right: u32, bottom: u32) -> Option<Rect> {
        if right <= left || bottom <= top || right > 65535 || bottom > 65535 {
            return None;
        }
        Some(Rect::new(
            left as u16,
            top as u16,
            (right - left) as u16,
            (bottom - top) as u16,
        ))
    }

    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        Rect::from_edges(
            u32::from(self.x.max(other.x)),
            u32::from(self.y.max(other.y)),
            self.right().min(other.right()),
            self.bottom().min(other.bottom()),
        )
    }

    pub fn intersects(&self, other: &Rect) -> bool {
        self.intersect(other).is_some()
    }

    pub fn contains(&self, other: &Rect) -> bool {
        other.x >= self.x
            && other.y >= self.y
            && other.right() <= self.right()
            && other.bottom() <= self.bottom()
    }

    /// The smallest rectangle holding both.
    pub fn union(&self, other: &Rect) -> Rect {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        Rect::from_edges(
            u32::from(self.x.min(other.x)),
            u32::from(self.y.min(other.y)),
            self.right().max(other.right()),
            self.bottom().max(other.bottom()),
        )
        .unwrap_or_default()
    }

    /// This rectangle clipped to a `width` x `height` screen.
    pub fn clip(&self, width: u16, height: u16) -> Option<Rect> {
        self.intersect(&Rect::new(0, 0, width, height))
    }

    /// The parts of `self` outside `other`: at most four disjoint rectangles.
    pub fn subtract(&self, other: &Rect) -> Vec<Rect> {
        let Some(overlap) = self.intersect(other) else {
            return vec![*self];
        };
        let (left, top, right, bottom) = (
            u32::from(self.x),
            u32::from(self.y),
            self.right(),
            self.bottom(),
        );
        let (ol, ot, or, ob) = (
            u32::from(overlap.x),
            u32::from(overlap.y),
            overlap.right(),
            overlap.bottom(),
        );
        [
            Rect::from_edges(left, top, right, ot),
            Rect::from_edges(left, ob, right, bottom),
            Rect::from_edges(left, ot, ol, ob),
            Rect::from_edges(or, ot, right, ob),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

/// A set of disjoint rectangles with a bounded size. Past [`Region::MAX_RECTS`] rectangles it
/// snaps to a grid of [`Region::COARSE_TILE`] pixel tiles, so memory and the cost of adding
/// stay bounded however scattered the damage is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Region {
    rects: Vec<Rect>,
}

impl Region {
    pub const MAX_RECTS: usize = 96;
    pub const COARSE_TILE: u16 = 64;

    pub fn new() -> Self {
        Self::default()
    }

    pub fn from_rect(rect: Rect) -> Self {
        let mut region = Self::new();
        region.add(rect);
        region
    }

    pub fn is_empty(&self) -> bool {
        self.rects.is_empty()
    }

    pub fn rects(&self) -> &[Rect] {
        &self.rects
    }

    pub fn area(&self) -> usize {
        self.rects.iter().map(Rect::area).sum()
    }

    pub fn clear(&mut self) {
        self.rects.clear();
    }

    pub fn take(&mut self) -> Region {
        std::mem::take(self)
    }

    pub fn bounds(&self) -> Option<Rect> {
        self.rects.iter().copied().reduce(|a, b| a.union(&b))
    }

    pub fn intersects(&self, rect: &Rect) -> bool {
        self.rects.iter().any(|r| r.intersects(rect))
    }

    pub fn add(&mut self, rect: Rect) {
        if rect.is_empty() || self.rects.iter().any(|r| r.contains(&rect)) {
            return;
        }
        // Whatever the new rectangle covers entirely goes; the rest of it is cut around
        // the rectangles already there so that the set stays disjoint.
        self.rects.retain(|r| !rect.contains(r));
        let mut pieces = vec![rect];
        for existing in &self.rects {
            if !pieces.iter().any(|p| p.intersects(existing)) {
                continue;
            }
            pieces = pieces.iter().flat_map(|p| p.subtract(existing)).collect();
        }
        self.rects.extend(pieces);
        if self.rects.len() > Self::MAX_RECTS {
            self.coarsen();
        }
    }

    pub fn add_region(&mut self, other: &Region) {
        for rect in &other.rects {
            self.add(*rect);
        }
    }

    pub fn subtract(&mut self, rect: &Rect) {
        if !self.intersects(rect) {
            return;
        }
        self.rects = self.rects.iter().flat_map(|r| r.subtract(rect)).collect();
        if self.rects.len() > Self::MAX_RECTS {
            self.coarsen();
        }
    }

    /// Keeps only what lies inside `bounds`.
    pub fn clip(&mut self, bounds: &Rect) {
        self.rects = self
            .rects
            .iter()
            .filter_map(|r| r.intersect(bounds))
            .collect();
    }

    /// Replaces the rectangles by the grid tiles they touch, merged into runs per tile row
    /// and runs of identical rows: few rectangles, all disjoint.
    fn coarsen(&mut self) {
        let Some(bounds) = self.bounds() else { return };
        let tile = u32::from(Self::COARSE_TILE);
        let columns = bounds.right().div_ceil(tile) as usize;
        let rows = bounds.bottom().div_ceil(tile) as usize;
        let mut dirty = vec![false; columns * rows];
        for r in &self.rects {
            for row in (u32::from(r.y) / tile) as usize..r.bottom().div_ceil(tile) as usize {
                for column in (u32::from(r.x) / tile) as usize..r.right().div_ceil(tile) as usize {
                    dirty[row * columns + column] = true;
                }
            }
        }
        let mut runs: Vec<Rect> = Vec::new();
        for row in 0..rows {
            let mut column = 0;
            while column < columns {
                if !dirty[row * columns + column] {
                    column += 1;
                    continue;
                }
                let start = column;
                while column < columns && dirty[row * columns + column] {
                    column += 1;
                }
                let clip = |v: u32, limit: u32| v.min(limit);
                let rect = Rect::from_edges(
                    start as u32 * tile,
                    row as u32 * tile,
                    clip(column as u32 * tile, bounds.right()),
                    clip((row as u32 + 1) * tile, bounds.bottom()),
                );
                let Some(rect) = rect else { continue };
                // Extend the run from the row above when it spans the same columns.
                if let Some(above) = runs.iter_mut().find(|a| {
                    a.x == rect.x && a.width == rect.width && a.bottom() == u32::from(rect.y)
                }) {
                    above.height += rect.height;
                } else {
                    runs.push(rect);
                }
            }
        }
        self.rects = runs;
    }
}

/// Pixels in farview's native format, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct Framebuffer {
    width: u16,
    height: u16,
    pixels: Vec<u32>,
}

impl std::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Framebuffer({}x{})", self.width, self.height)
    }
}

impl Framebuffer {
    /// A black framebuffer. Sizes past the limits are clamped; callers check peer-supplied
    /// sizes against [`MAX_FRAMEBUFFER_SIDE`] and [`MAX_FRAMEBUFFER_PIXELS`] first.
    pub fn new(width: u16, height: u16) -> Self {
        Self {
            width,
            height,
            pixels: vec![0; usize::from(width) * usize::from(height)],
        }
    }

    /// Whether a peer-announced size may be allocated.
    pub fn size_is_acceptable(width: u16, height: u16) -> bool {
        width <= MAX_FRAMEBUFFER_SIDE
            && height <= MAX_FRAMEBUFFER_SIDE
            && usize::from(width) * usize::from(height) <= MAX_FRAMEBUFFER_PIXELS
    }

    /// Wraps pixels; `None` if their count does not match the size.
    pub fn from_pixels(width: u16, height: u16, pixels: Vec<u32>) -> Option<Self> {
        (pixels.len() == usize::from(width) * usize::from(height)).then_some(Self {
            width,
            height,
            pixels,
        })
    }

    /// From 8-bit RGB triples, row-major.
    pub fn from_rgb(width: u16, height: u16, rgb: &[u8]) -> Option<Self> {
        let pixels = rgb
            .chunks_exact(3)
            .map(|p| (u32::from(p[0]) << 16) | (u32::from(p[1]) << 8) | u32::from(p[2]))
            .collect();
        Self::from_pixels(width, height, pixels)
    }

    pub fn width(&self) -> u16 {
        self.width
    }

    pub fn height(&self) -> u16 {
        self.height
    }

    pub fn bounds(&self) -> Rect {
        Rect::new(0, 0, self.width, self.height)
    }

    pub fn pixels(&self) -> &[u32] {
        &self.pixels
    }

    pub fn pixels_mut(&mut self) -> &mut [u32] {
        &mut self.pixels
    }

    /// The pixels, row-major, for reuse once the framebuffer is done with.
    pub fn into_pixels(self) -> Vec<u32> {
        self.pixels
    }

    pub fn pixel(&self, x: u16, y: u16) -> u32 {
        self.pixels[usize::from(y) * usize::from(self.width) + usize::from(x)]
    }

    /// The pixels of one row of `rect` (which must lie inside the framebuffer).
    pub fn row(&self, rect: &Rect, row: u16) -> &[u32] {
        let start = usize::from(rect.y + row) * usize::from(self.width) + usize::from(rect.x);
        &self.pixels[start..start + usize::from(rect.width)]
    }

    fn row_mut(&mut self, rect: &Rect, row: u16) -> &mut [u32] {
        let start = usize::from(rect.y + row) * usize::from(self.width) + usize::from(rect.x);
        &mut self.pixels[start..start + usize::from(rect.width)]
    }

    /// Changes the size, keeping the overlapping top-left content; new areas are black.
    pub fn resize(&mut self, width: u16, height: u16) {
        let mut resized = Framebuffer::new(width, height);
        if let Some(common) = self.bounds().intersect(&resized.bounds()) {
            for row in 0..common.height {
                resized
                    .row_mut(&common, row)
                    .copy_from_slice(self.row(&common, row));
            }
        }
        *self = resized;
    }

    pub fn fill_rect(&mut self, rect: &Rect, rgb: u32) {
        let Some(rect) = rect.intersect(&self.bounds()) else {
            return;
        };
        for row in 0..rect.height {
            self.row_mut(&rect, row).fill(rgb);
        }
    }

    /// Writes `pixels` (row-major, `rect.area()` of them) into `rect`, which must lie inside.
    pub fn put_pixels(&mut self, rect: &Rect, pixels: &[u32]) {
        let width = usize::from(rect.width);
        for row in 0..rect.height {
            let source = &pixels[usize::from(row) * width..][..width];
            self.row_mut(rect, row).copy_from_slice(source);
        }
    }

    /// Copies `rect` of `source`, a framebuffer of the same size, into the same place here.
    pub fn copy_from(&mut self, source: &Framebuffer, rect: &Rect) {
        for row in 0..rect.height {
            self.row_mut(rect, row)
                .copy_from_slice(source.row(rect, row));
        }
    }

    /// The pixels of `rect` (which must lie inside), row-major.
    pub fn read_rect(&self, rect: &Rect) -> Vec<u32> {
        let mut out = Vec::with_capacity(rect.area());
        for row in 0..rect.height {
            out.extend_from_slice(self.row(rect, row));
        }
        out
    }

    /// Copies the `destination`-sized block whose top-left is `(source_x, source_y)` to
    /// `destination`, as CopyRect does; overlapping blocks copy as if through a temporary.
    pub fn copy_rect(&mut self, destination: &Rect, source_x: u16, source_y: u16) {
        let source = Rect::new(source_x, source_y, destination.width, destination.height);
        let width = usize::from(self.width);
        let rows: Box<dyn Iterator<Item = u16>> = if source_y < destination.y {
            Box::new((0..destination.height).rev())
        } else {
            Box::new(0..destination.height)
        };
        for row in rows {
            let from = usize::from(source.y + row) * width + usize::from(source.x);
            let to = usize::from(destination.y + row) * width + usize::from(destination.x);
            self.pixels
                .copy_within(from..from + usize::from(destination.width), to);
        }
    }

    /// The framebuffer as RGBA bytes, alpha 255: the form frame-log hashes are taken of.
    pub fn to_rgba(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pixels.len() * 4);
        for &p in &self.pixels {
            out.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8, 255]);
        }
        out
    }

    /// The framebuffer as RGB bytes (for PNG snapshots).
    pub fn to_rgb(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.pixels.len() * 3);
        for &p in &self.pixels {
            out.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8]);
        }
        out
    }

    /// SHA-256 of [`Framebuffer::to_rgba`], lowercase hex: the frame-log hash (DESIGN.md).
    pub fn sha256_hex(&self) -> String {
        let mut hasher = Sha256::new();
        let mut chunk = Vec::with_capacity(4096 * 4);
        for pixels in self.pixels.chunks(4096) {
            chunk.clear();
            for &p in pixels {
                chunk.extend_from_slice(&[(p >> 16) as u8, (p >> 8) as u8, p as u8, 255]);
            }
            hasher.update(&chunk);
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn covered(rects: &[Rect], x: u16, y: u16) -> usize {
        rects
            .iter()
            .filter(|r| r.contains(&Rect::new(x, y, 1, 1)))
            .count()
    }

    proptest! {
        #[test]
        fn region_is_disjoint_and_covers_everything_added(
            added in proptest::collection::vec((0u16..120, 0u16..120, 1u16..40, 1u16..40), 1..200)
        ) {
            let mut region = Region::new();
            for &(x, y, w, h) in &added {
                region.add(Rect::new(x, y, w, h));
            }
            prop_assert!(region.rects().len() <= Region::MAX_RECTS);
            for y in 0..160u16 {
                for x in 0..160u16 {
                    let n = covered(region.rects(), x, y);
                    prop_assert!(n <= 1, "pixel {},{} covered {} times", x, y, n);
                    let wanted = added.iter().any(|&(ax, ay, w, h)| Rect::new(ax, ay, w, h).contains(&Rect::new(x, y, 1, 1)));
                    if wanted {
                        prop_assert_eq!(n, 1, "pixel {},{} lost", x, y);
                    }
                }
            }
        }
    }

    #[test]
    fn subtract_leaves_the_outside() {
        let outer = Rect::new(0, 0, 10, 10);
        let pieces = outer.subtract(&Rect::new(2, 3, 4, 5));
        assert_eq!(pieces.iter().map(Rect::area).sum::<usize>(), 100 - 20);
        assert_eq!(outer.subtract(&Rect::new(20, 20, 1, 1)), vec![outer]);
        assert!(outer.subtract(&Rect::new(0, 0, 20, 20)).is_empty());
    }

    #[test]
    fn copy_rect_handles_overlap_both_ways() {
        let pixels: Vec<u32> = (0..100).collect();
        let mut down = Framebuffer::from_pixels(10, 10, pixels.clone()).unwrap();
        down.copy_rect(&Rect::new(0, 2, 10, 8), 0, 0);
        assert_eq!(down.pixel(3, 2), 3);
        assert_eq!(down.pixel(3, 9), 73);
        let mut up = Framebuffer::from_pixels(10, 10, pixels).unwrap();
        up.copy_rect(&Rect::new(0, 0, 10, 8), 0, 2);
        assert_eq!(up.pixel(3, 0), 23);
        assert_eq!(up.pixel(3, 7), 93);
    }

    #[test]
    fn hash_of_a_black_pixel() {
        // SHA-256 of the bytes 00 00 00 ff.
        assert_eq!(
            Framebuffer::new(1, 1).sha256_hex(),
            "e3820096cb82366b860b8a4e668453a7aaaf423af03bdf289fa308ea03a79332"
        );
    }
}
