//! The encode manager: turns what changed on the screen into the rectangles of one
//! FramebufferUpdate, choosing per rectangle among the encodings the viewer accepts.
//!
//! It is pure code, shared by the server and the proxies, and it reports bytes and pixels so
//! that benchmarks can compare. The encodings it can choose from so far: CopyRect for moved
//! areas, Raw for pixels (cut into bounded bands), and the DesktopSize pseudo-encoding.

use crate::encodings::{Encoders, copyrect, pseudo, raw};
use crate::framebuffer::{Framebuffer, Rect};
use crate::messages::{EncodingType, RectangleHeader, ServerMessage};
use crate::pixel::PixelFormat;

/// The pixel encodings the manager can produce (CopyRect aside).
pub const ENCODABLE: &[EncodingType] = &[EncodingType::ZLIB, EncodingType::RAW];

/// A block that moved on the screen: `destination` now shows what was at `(source_x,
/// source_y)` before the move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOperation {
    pub destination: Rect,
    pub source_x: u16,
    pub source_y: u16,
}

/// What one FramebufferUpdate has to tell the viewer, in the order it is applied: a new
/// desktop size, then moves, then changed pixels (taken from the framebuffer as it is now).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Update {
    pub new_size: Option<(u16, u16)>,
    pub copies: Vec<CopyOperation>,
    pub changed: Vec<Rect>,
}

impl Update {
    pub fn is_empty(&self) -> bool {
        self.new_size.is_none() && self.copies.is_empty() && self.changed.is_empty()
    }
}

/// What an update cost: bytes on the wire (message header included), rectangles and pixels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateStats {
    pub bytes: usize,
    pub rectangles: usize,
    pub pixels: usize,
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
        self.preference.contains(&encoding)
    }

    pub fn preference(&self) -> &[EncodingType] {
        &self.preference
    }

    /// The first of the viewer's pixel encodings that is among `candidates`.
    pub fn preferred(&self, candidates: &[EncodingType]) -> Option<EncodingType> {
        self.preference
            .iter()
            .copied()
            .find(|e| candidates.contains(e))
    }
}

/// Per-connection encoder state. Encodings with streams that live across rectangles keep
/// them here.
#[derive(Debug, Default)]
pub struct EncodeManager {
    encoders: Encoders,
}

impl EncodeManager {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends one whole FramebufferUpdate message for `update` to `out`. Changed rectangles
    /// must lie inside `framebuffer`. A move the viewer cannot take as CopyRect is sent as
    /// pixels instead. Returns what the message cost.
    pub fn encode_update(
        &mut self,
        framebuffer: &Framebuffer,
        update: &Update,
        format: &PixelFormat,
        viewer: &ViewerEncodings,
        out: &mut Vec<u8>,
    ) -> UpdateStats {
        let start = out.len();
        ServerMessage::FramebufferUpdate { rect_count: 0 }.write(out);
        let mut stats = UpdateStats::default();
        let add_header = |header: RectangleHeader, out: &mut Vec<u8>, stats: &mut UpdateStats| {
            header.write(out);
            stats.rectangles += 1;
            stats.pixels += header.rect.area();
        };
        if let Some((width, height)) = update.new_size {
            add_header(pseudo::desktop_size(width, height), out, &mut stats);
            stats.pixels -= usize::from(width) * usize::from(height);
        }
        let mut pixel_rects: Vec<Rect> = Vec::new();
        for copy in &update.copies {
            if viewer.accepts(EncodingType::COPY_RECT) {
                let header = RectangleHeader {
                    rect: copy.destination,
                    encoding: EncodingType::COPY_RECT,
                };
                add_header(header, out, &mut stats);
                copyrect::encode(copy.source_x, copy.source_y, out);
            } else {
                pixel_rects.push(copy.destination);
            }
        }
        pixel_rects.extend_from_slice(&update.changed);
        let encoding = viewer.preferred(ENCODABLE).unwrap_or(EncodingType::RAW);
        for rect in pixel_rects
            .iter()
            .filter_map(|r| r.intersect(&framebuffer.bounds()))
        {
            for band in raw::bands(rect, format) {
                add_header(
                    RectangleHeader {
                        rect: band,
                        encoding,
                    },
                    out,
                    &mut stats,
                );
                match encoding {
                    EncodingType::ZLIB => {
                        self.encoders.zlib.encode(framebuffer, &band, format, out)
                    }
                    _ => raw::encode(framebuffer, &band, format, out),
                }
            }
        }
        // The rectangle count is known only now; more than a u16 holds is capped by the
        // Raw band size long before (a full 16384x16384 screen is 16384 bands).
        let count = u16::try_from(stats.rectangles).unwrap_or(u16::MAX);
        out[start + 2..start + 4].copy_from_slice(&count.to_be_bytes());
        stats.bytes = out.len() - start;
        stats
    }
}
