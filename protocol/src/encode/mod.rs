//! The encode manager: turns what changed on the screen into the rectangles of one
//! FramebufferUpdate, choosing the encoding per rectangle by its content among those the
//! viewer accepts (the idea of TigerVNC's EncodeManager).
//!
//! Moves go as CopyRect. For viewers of Tight, large single-colour areas are found first and
//! sent as fills. The rest is cut into pieces no larger than the chosen encoding allows, each
//! classified by its colours, and sent with the viewer's preferred encoding for that class:
//! a viewer that prefers RRE still gets busy pieces in something sensible. JPEG (Tight only)
//! is used only when the viewer allowed lossy compression, only for large photo-like pieces,
//! and what went lossy is remembered so the server can refresh it losslessly when the screen
//! goes quiet. Pure code, shared by the server and the proxies; it reports bytes, pixels and
//! encodings so benchmarks can compare.

mod solid;

pub use solid::{find_solid_areas, solid_colour};

use crate::encodings::tight::{JpegSettings, Subsampling};
use crate::encodings::{Encoders, copyrect, corre, pseudo, raw, tight};
use crate::framebuffer::{Framebuffer, Rect, Region};
use crate::messages::{EncodingType, RectangleHeader, ServerMessage};
use crate::pixel::PixelFormat;

/// The pixel encodings the manager can produce (CopyRect aside).
pub const ENCODABLE: &[EncodingType] = &[
    EncodingType::TIGHT,
    EncodingType::TIGHT_PNG,
    EncodingType::ZRLE,
    EncodingType::TRLE,
    EncodingType::HEXTILE,
    EncodingType::ZLIB,
    EncodingType::RRE,
    EncodingType::CORRE,
    EncodingType::RAW,
];

/// Encodings unfit for busy content: a subrectangle per pixel run costs more than raw.
const SUBRECTANGLE_ENCODINGS: &[EncodingType] = &[EncodingType::RRE, EncodingType::CORRE];

/// Pieces are cut to at most this many pixels (bounded work per rectangle, and room for the
/// viewer to decode pieces in parallel); heights stay multiples of 64 for the tiled encodings.
pub const MAX_PIECE_PIXELS: usize = 256 * 1024;

/// Below this many pixels a rectangle is not searched for solid areas.
const SOLID_SEARCH_MIN_PIXELS: usize = 64 * 64;

/// A block that moved on the screen: `destination` now shows what was at `(source_x,
/// source_y)` before the move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOperation {
    pub destination: Rect,
    pub source_x: u16,
    pub source_y: u16,
}

impl CopyOperation {
    /// Where the block was before the move.
    pub fn source(&self) -> Rect {
        Rect::new(
            self.source_x,
            self.source_y,
            self.destination.width,
            self.destination.height,
        )
    }
}

/// What one FramebufferUpdate has to tell the viewer, in the order it is applied: a new
/// desktop size, then moves, then changed pixels (taken from the framebuffer as it is now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub new_size: Option<(u16, u16)>,
    pub copies: Vec<CopyOperation>,
    pub changed: Vec<Rect>,
    /// Send every pixel losslessly, whatever the viewer allows (the refresh of lossy areas).
    pub lossless: bool,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.new_size.is_none() && self.copies.is_empty() && self.changed.is_empty()
    }
}

/// What an update cost: bytes on the wire (message header included), rectangles and pixels,
/// and the same per encoding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateStats {
    pub bytes: usize,
    pub rectangles: usize,
    pub pixels: usize,
    pub by_encoding: Vec<EncodingStats>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingStats {
    pub encoding: EncodingType,
    pub rectangles: usize,
    pub pixels: usize,
    pub bytes: usize,
}

impl UpdateStats {
    fn record(&mut self, encoding: EncodingType, rect: &Rect, bytes: usize) {
        self.rectangles += 1;
        self.pixels += rect.area();
        let entry = match self.by_encoding.iter_mut().find(|e| e.encoding == encoding) {
            Some(entry) => entry,
            None => {
                self.by_encoding.push(EncodingStats {
                    encoding,
                    rectangles: 0,
                    pixels: 0,
                    bytes: 0,
                });
                self.by_encoding.last_mut().expect("just pushed")
            }
        };
        entry.rectangles += 1;
        entry.pixels += rect.area();
        entry.bytes += bytes;
    }
}

/// What the viewer has said it accepts (its SetEncodings list, in preference order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ViewerEncodings {
    preference: Vec<EncodingType>,
}

impl ViewerEncodings {
    pub fn new(preference: Vec<EncodingType>) -> Self {
        Self { preference }
    }

    pub fn accepts(&self, encoding: EncodingType) -> bool {
        // Raw needs no asking (RFC 6143 §7.7.1).
        encoding == EncodingType::RAW || self.preference.contains(&encoding)
    }

    pub fn preference(&self) -> &[EncodingType] {
        &self.preference
    }

    /// The first of the viewer's encodings that is among `candidates`.
    pub fn preferred(&self, candidates: &[EncodingType]) -> Option<EncodingType> {
        self.preference
            .iter()
            .copied()
            .find(|e| candidates.contains(e))
    }

    /// The first level in a range of pseudo-encodings `first..=first+9`, as 0-9.
    fn level(&self, first: EncodingType) -> Option<u8> {
        self.preference
            .iter()
            .find(|e| (first.0..=first.0 + 9).contains(&e.0))
            .map(|e| (e.0 - first.0) as u8)
    }

    /// The CompressLevel pseudo-encoding (-256..-247), as 0-9.
    pub fn compress_level(&self) -> Option<u8> {
        self.level(EncodingType::COMPRESS_LEVEL_0)
    }

    /// The JPEG quality the viewer allows, 0-9: the QualityLevel pseudo-encoding (-32..-23),
    /// or the fine-grained quality (-512..-412, 0-100) scaled to it. `None`: lossless only.
    pub fn quality_level(&self) -> Option<u8> {
        let fine = self.fine_quality().map(|quality| (quality / 11).min(9));
        fine.or_else(|| self.level(EncodingType::QUALITY_LEVEL_0))
    }

    /// The fine-grained JPEG quality pseudo-encoding (-512..-412), as 0-100.
    fn fine_quality(&self) -> Option<u8> {
        self.preference
            .iter()
            .find(|e| (-512..=-412).contains(&e.0))
            .map(|e| (e.0 + 512) as u8)
    }

    /// What lossy rectangles may be, if the viewer allows them: the quality level's JPEG
    /// settings, with the fine-grained quality and the subsampling pseudo-encodings
    /// (-768..-763), when the viewer sends them, taking precedence.
    pub fn jpeg_settings(&self) -> Option<JpegSettings> {
        let mut settings = JpegSettings::from_level(self.quality_level()?);
        if let Some(quality) = self.fine_quality() {
            settings.quality = quality.max(1);
        }
        if let Some(subsampling) = self
            .preference
            .iter()
            .find(|e| (-768..=-763).contains(&e.0))
            .and_then(|e| Subsampling::from_pseudo_offset((e.0 + 768) as u8))
        {
            settings.subsampling = subsampling;
        }
        Some(settings)
    }
}

/// What a piece of the screen holds, as far as choosing an encoding goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentClass {
    Solid(u32),
    /// 2 to 16 colours: text, icons, flat widgets.
    FewColours,
    /// More: anti-aliased text over gradients, photographs, video.
    ManyColours,
}

/// Counts colours in `rect` up to 17.
pub fn classify(framebuffer: &Framebuffer, rect: &Rect) -> ContentClass {
    let mut colours: [u32; 16] = [0; 16];
    let mut count = 0usize;
    for row in 0..rect.height {
        let mut last = None;
        for &pixel in framebuffer.row(rect, row) {
            if last == Some(pixel) {
                continue;
            }
            last = Some(pixel);
            if colours[..count].contains(&pixel) {
                continue;
            }
            if count == colours.len() {
                return ContentClass::ManyColours;
            }
            colours[count] = pixel;
            count += 1;
        }
    }
    match count {
        0 | 1 => ContentClass::Solid(colours[0]),
        _ => ContentClass::FewColours,
    }
}

/// Per-connection encoder state: the encoders (with their zlib streams) and the areas last
/// sent lossily.
#[derive(Debug, Default)]
pub struct EncodeManager {
    encoders: Encoders,
    lossy: Region,
    /// The viewer's compression and JPEG settings last applied to the encoders.
    applied: Option<(Option<u8>, Option<JpegSettings>)>,
}

impl EncodeManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// What was sent lossily and not repainted since: refresh it with a lossless update when
    /// the screen is quiet.
    pub fn lossy_region(&self) -> &Region {
        &self.lossy
    }

    fn apply_levels(&mut self, viewer: &ViewerEncodings) {
        let levels = (viewer.compress_level(), viewer.jpeg_settings());
        if self.applied == Some(levels) {
            return;
        }
        self.applied = Some(levels);
        let (compress, jpeg) = levels;
        let tight_level = compress.unwrap_or(tight::DEFAULT_COMPRESS_LEVEL);
        self.encoders.tight.set_compress_level(tight_level);
        self.encoders.tight.set_jpeg(jpeg);
        self.encoders.tight_png.set_compress_level(tight_level);
        self.encoders.tight_png.set_jpeg(jpeg);
        // For the zlib-wrapped encodings, the viewer's level maps to zlib's, bounded: level 9
        // costs several times level 3 for a few per cent.
        let zlib_level = compress.map_or(crate::encodings::zrle::DEFAULT_LEVEL, |c| {
            u32::from(c).clamp(1, 6)
        });
        self.encoders.zrle.set_level(zlib_level);
        self.encoders.zlib.set_level(zlib_level);
    }

    /// Appends one whole FramebufferUpdate message for `update` to `out`. Changed rectangles
    /// are clipped to `framebuffer`. A move the viewer cannot take as CopyRect is sent as
    /// pixels instead. Returns what the message cost.
    pub fn encode_update(
        &mut self,
        framebuffer: &Framebuffer,
        update: &Update,
        format: &PixelFormat,
        viewer: &ViewerEncodings,
        out: &mut Vec<u8>,
    ) -> UpdateStats {
        self.apply_levels(viewer);
        let start = out.len();
        ServerMessage::FramebufferUpdate { rect_count: 0 }.write(out);
        let mut stats = UpdateStats::default();
        if let Some((width, height)) = update.new_size {
            let header = pseudo::desktop_size(width, height);
            header.write(out);
            stats.record(
                EncodingType::DESKTOP_SIZE,
                &Rect::default(),
                RectangleHeader::WIRE_SIZE,
            );
            self.lossy.clear();
        }
        let mut pixel_rects: Vec<Rect> = Vec::new();
        for copy in &update.copies {
            if viewer.accepts(EncodingType::COPY_RECT) {
                let at = out.len();
                RectangleHeader {
                    rect: copy.destination,
                    encoding: EncodingType::COPY_RECT,
                }
                .write(out);
                copyrect::encode(copy.source_x, copy.source_y, out);
                stats.record(EncodingType::COPY_RECT, &copy.destination, out.len() - at);
                self.move_lossy(copy);
            } else {
                pixel_rects.push(copy.destination);
            }
        }
        pixel_rects.extend(merge_nearby(&update.changed));
        let lossy_allowed = !update.lossless && viewer.quality_level().is_some();
        for rect in pixel_rects
            .iter()
            .filter_map(|r| r.intersect(&framebuffer.bounds()))
        {
            self.lossy.subtract(&rect);
            self.encode_rect(
                framebuffer,
                &rect,
                format,
                viewer,
                lossy_allowed,
                out,
                &mut stats,
            );
        }
        // The count is known only now. More rectangles than a u16 holds cannot happen: pieces
        // are at least 64 KiB of pixels or 64 rows, and the screen is at most 16384 square.
        let count = u16::try_from(stats.rectangles).unwrap_or(u16::MAX);
        out[start + 2..start + 4].copy_from_slice(&count.to_be_bytes());
        stats.bytes = out.len() - start;
        stats
    }

    /// Lossy pixels that moved stay lossy at their new place.
    fn move_lossy(&mut self, copy: &CopyOperation) {
        let source = copy.source();
        let moved: Vec<Rect> = self
            .lossy
            .rects()
            .iter()
            .filter_map(|r| r.intersect(&source))
            .collect();
        self.lossy.subtract(&copy.destination);
        for rect in moved {
            let x = (i32::from(rect.x) + i32::from(copy.destination.x) - i32::from(copy.source_x))
                as u16;
            let y = (i32::from(rect.y) + i32::from(copy.destination.y) - i32::from(copy.source_y))
                as u16;
            self.lossy.add(Rect::new(x, y, rect.width, rect.height));
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn encode_rect(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        viewer: &ViewerEncodings,
        lossy_allowed: bool,
        out: &mut Vec<u8>,
        stats: &mut UpdateStats,
    ) {
        let primary = viewer.preferred(ENCODABLE).unwrap_or(EncodingType::RAW);
        let mut rest = vec![*rect];
        if matches!(primary, EncodingType::TIGHT | EncodingType::TIGHT_PNG)
            && rect.area() >= SOLID_SEARCH_MIN_PIXELS
        {
            let areas = find_solid_areas(framebuffer, rect);
            let mut remaining = Region::from_rect(*rect);
            for (area, colour) in &areas {
                self.write_fill(primary, area, *colour, format, out, stats);
                remaining.subtract(area);
            }
            rest = remaining.rects().to_vec();
        }
        for piece in rest {
            for part in split(piece, primary, format) {
                let class = classify(framebuffer, &part);
                let encoding = choose(primary, class, viewer);
                if let (
                    ContentClass::Solid(colour),
                    EncodingType::TIGHT | EncodingType::TIGHT_PNG,
                ) = (class, encoding)
                {
                    self.write_fill(encoding, &part, colour, format, out, stats);
                    continue;
                }
                // Many-coloured parts in Tight are halved as they go, each piece encoded
                // with the palette found for it; a fallback encoding may need smaller pieces
                // than the primary one.
                let halving = encoding == EncodingType::TIGHT && class == ContentClass::ManyColours;
                let mut pending = vec![part];
                let mut pieces = if halving {
                    Vec::new()
                } else {
                    split(part, encoding, format)
                }
                .into_iter();
                loop {
                    let next = if halving {
                        self.encoders
                            .tight
                            .next_palette_piece(framebuffer, &mut pending)
                    } else {
                        pieces.next()
                    };
                    let Some(piece) = next else { break };
                    self.write_rect(
                        framebuffer,
                        &piece,
                        encoding,
                        format,
                        lossy_allowed,
                        out,
                        stats,
                    );
                }
            }
        }
    }

    fn write_fill(
        &mut self,
        encoding: EncodingType,
        rect: &Rect,
        colour: u32,
        format: &PixelFormat,
        out: &mut Vec<u8>,
        stats: &mut UpdateStats,
    ) {
        let at = out.len();
        RectangleHeader {
            rect: *rect,
            encoding,
        }
        .write(out);
        if encoding == EncodingType::TIGHT_PNG {
            self.encoders.tight_png.encode_fill(colour, format, out);
        } else {
            self.encoders.tight.encode_fill(colour, format, out);
        }
        stats.record(encoding, rect, out.len() - at);
    }

    #[allow(clippy::too_many_arguments)]
    fn write_rect(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        encoding: EncodingType,
        format: &PixelFormat,
        lossy_allowed: bool,
        out: &mut Vec<u8>,
        stats: &mut UpdateStats,
    ) {
        let at = out.len();
        RectangleHeader {
            rect: *rect,
            encoding,
        }
        .write(out);
        let encoders = &mut self.encoders;
        let mut jpeg = false;
        match encoding {
            EncodingType::TIGHT if lossy_allowed => {
                jpeg = encoders.tight.encode(framebuffer, rect, format, out);
            }
            EncodingType::TIGHT => encoders
                .tight
                .encode_lossless(framebuffer, rect, format, out),
            EncodingType::TIGHT_PNG if lossy_allowed => {
                jpeg = encoders.tight_png.encode(framebuffer, rect, format, out);
            }
            EncodingType::TIGHT_PNG => {
                encoders
                    .tight_png
                    .encode_lossless(framebuffer, rect, format, out)
            }
            EncodingType::ZRLE => encoders.zrle.encode(framebuffer, rect, format, out),
            EncodingType::TRLE => encoders.trle.encode(framebuffer, rect, format, out),
            EncodingType::HEXTILE => encoders.hextile.encode(framebuffer, rect, format, out),
            EncodingType::ZLIB => encoders.zlib.encode(framebuffer, rect, format, out),
            EncodingType::RRE => encoders.rre.encode(framebuffer, rect, format, out),
            EncodingType::CORRE => encoders.corre.encode(framebuffer, rect, format, out),
            _ => raw::encode(framebuffer, rect, format, out),
        }
        if jpeg {
            self.lossy.add(*rect);
        }
        stats.record(encoding, rect, out.len() - at);
    }
}

/// How much larger than its parts a merged rectangle may be: a little unchanged area costs
/// less than the per-rectangle and per-tile overhead of many thin rectangles (a scrolled
/// terminal's damage arrives as one 16-row run per text band).
const MERGE_SLACK: f64 = 1.6;

/// Merges rectangles whose bounding box is barely larger than they are together.
fn merge_nearby(rects: &[Rect]) -> Vec<Rect> {
    let mut merged: Vec<(Rect, usize)> = Vec::with_capacity(rects.len());
    let mut sorted = rects.to_vec();
    sorted.sort_by_key(|r| (r.y, r.x));
    for rect in sorted {
        let target = merged.iter().position(|(existing, area)| {
            let union = existing.union(&rect);
            union.area() as f64 <= (area + rect.area()) as f64 * MERGE_SLACK
        });
        match target {
            Some(index) => {
                let (existing, area) = merged[index];
                merged[index] = (existing.union(&rect), area + rect.area());
            }
            None => merged.push((rect, rect.area())),
        }
    }
    merged.into_iter().map(|(rect, _)| rect).collect()
}

/// The encoding for a piece of `class`, given the viewer's preferred one.
fn choose(primary: EncodingType, class: ContentClass, viewer: &ViewerEncodings) -> EncodingType {
    if class == ContentClass::ManyColours && SUBRECTANGLE_ENCODINGS.contains(&primary) {
        // The next preference that copes with busy content, else Raw.
        let busy: Vec<EncodingType> = ENCODABLE
            .iter()
            .copied()
            .filter(|e| !SUBRECTANGLE_ENCODINGS.contains(e))
            .collect();
        return viewer.preferred(&busy).unwrap_or(EncodingType::RAW);
    }
    if matches!(class, ContentClass::Solid(_))
        && matches!(primary, EncodingType::RAW | EncodingType::ZLIB)
    {
        // A fill in anything the viewer accepts beats pixels.
        if let Some(fill) = viewer.preferred(&[
            EncodingType::TIGHT,
            EncodingType::RRE,
            EncodingType::HEXTILE,
            EncodingType::ZRLE,
            EncodingType::CORRE,
            EncodingType::TRLE,
        ]) {
            return fill;
        }
    }
    primary
}

/// Cuts `rect` into pieces `encoding` can carry: bands of whole rows, within its limits.
fn split(rect: Rect, encoding: EncodingType, format: &PixelFormat) -> Vec<Rect> {
    match encoding {
        EncodingType::RAW => raw::bands(rect, format).collect(),
        EncodingType::CORRE => corre::pieces(rect).collect(),
        EncodingType::TIGHT | EncodingType::TIGHT_PNG => {
            let mut pieces = Vec::new();
            for x in (0..rect.width).step_by(usize::from(tight::MAX_RECT_WIDTH)) {
                let width = tight::MAX_RECT_WIDTH.min(rect.width - x);
                let column = Rect::new(rect.x + x, rect.y, width, rect.height);
                pieces.extend(bands(column, tight::MAX_RECT_PIXELS, 1));
            }
            pieces
        }
        _ => bands(rect, MAX_PIECE_PIXELS, 64),
    }
}

/// Horizontal bands of at most `max_pixels` (at least one row), heights a multiple of
/// `multiple` where the limit allows.
fn bands(rect: Rect, max_pixels: usize, multiple: u16) -> Vec<Rect> {
    let width = usize::from(rect.width.max(1));
    let mut rows = (max_pixels / width).clamp(1, usize::from(u16::MAX)) as u16;
    if rows > multiple {
        rows -= rows % multiple;
    }
    (0..rect.height)
        .step_by(usize::from(rows))
        .map(|top| {
            Rect::new(
                rect.x,
                rect.y + top,
                rect.width,
                rows.min(rect.height - top),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod merge_tests {
    use super::*;

    #[test]
    fn bands_of_one_area_merge_and_distant_rects_do_not() {
        let bands = [
            Rect::new(10, 0, 100, 16),
            Rect::new(12, 16, 98, 16),
            Rect::new(10, 32, 90, 16),
        ];
        assert_eq!(merge_nearby(&bands), vec![Rect::new(10, 0, 100, 48)]);
        let apart = [Rect::new(0, 0, 10, 10), Rect::new(500, 500, 10, 10)];
        assert_eq!(merge_nearby(&apart).len(), 2);
    }
}
