//! The server's side of Tight: per rectangle, a fill for one colour, a 1-bit palette for two,
//! an 8-bit palette for a few, JPEG for many when the viewer allows loss, otherwise the
//! pixels themselves (through the gradient filter when they look like a photograph), each
//! kind on its own persistent zlib stream so that the dictionaries stay apt.

use super::frame::{EXPLICIT_FILTER, FILL, FILTER_GRADIENT, FILTER_PALETTE, JPEG, MIN_TO_COMPRESS};
use super::gradient::Smoothness;
use super::jpeg::JpegSettings;
use super::palette::Palette;
use super::{DEFAULT_COMPRESS_LEVEL, MIN_JPEG_PIXELS, compact_length, gradient, jpeg, tpixel};
use crate::encodings::Deflater;
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;

/// zlib levels per compression level for indexed, two-colour and full-colour data: the
/// settings VirtualGL found best on real sessions (as TigerVNC uses them), except that
/// indexed data stays at zlib level 6 for compression levels 5 and 6: zlib-rs's level 7
/// (its lazy matcher) took a third more time on the corpus and sent slightly more bytes.
const ZLIB_LEVELS: [(u32, u32, u32); 10] = [
    (0, 0, 0),
    (1, 1, 1),
    (3, 3, 2),
    (5, 5, 2),
    (6, 7, 3),
    (6, 8, 4),
    (6, 8, 5),
    (8, 9, 6),
    (9, 9, 7),
    (9, 9, 9),
];

/// Which stream carries which kind of data.
const STREAM_FULL_COLOUR: usize = 0;
const STREAM_MONO: usize = 1;
const STREAM_INDEXED: usize = 2;
const STREAM_GRADIENT: usize = 3;

/// The most colours worth a palette in a rectangle of `area` pixels. The palette goes
/// uncompressed in front of the indices, while pixel values compress well against the
/// stream's history: on small pieces of anti-aliased text, a palette of many shades costs
/// more than the pixels. One colour per 16 pixels beat one per 2 by 8 % on the corpus's
/// office-typing and changed the other sequences by under 1 %.
pub(super) fn palette_limit(area: usize) -> usize {
    (area / 16).clamp(2, 256)
}

/// Rectangles with too many colours for a palette are halved while they hold at least
/// this many pixels, to find pieces that take one: an 8-bit index is a third of a pixel's
/// bytes, so zlib's 32 KiB window reaches three times as far back. Smaller pieces cost
/// their palettes more than they save (measured on the corpus: benches/README.md).
const MIN_HALVED_PIXELS: usize = 16384;

/// Whether JPEG is worth trying on `rect` (the viewer must also have allowed it).
pub(super) fn jpeg_suits(rect: &Rect, format: &PixelFormat) -> bool {
    format.bits_per_pixel >= 16
        && rect.area() >= MIN_JPEG_PIXELS
        && rect.width >= 8
        && rect.height >= 8
}

/// A connection's Tight encoder state.
#[derive(Debug)]
pub struct TightEncoder {
    streams: [Deflater; 4],
    /// Streams restarted here whose reset the next rectangle must announce.
    resets: u8,
    compress_level: u8,
    jpeg: Option<JpegSettings>,
    palette: Palette,
    /// The rectangle whose colours `palette` holds since [`TightEncoder::next_palette_piece`]
    /// found they fit: encoding it need not collect them again.
    collected: Option<Rect>,
    plain: Vec<u8>,
    compressed: Vec<u8>,
    rows: Vec<[u32; 3]>,
    jpeg_pixels: Vec<u8>,
}

impl Default for TightEncoder {
    fn default() -> Self {
        let (indexed, mono, full) = ZLIB_LEVELS[usize::from(DEFAULT_COMPRESS_LEVEL)];
        Self {
            streams: [
                Deflater::new(full),
                Deflater::new(mono),
                Deflater::new(indexed),
                Deflater::new(full),
            ],
            resets: 0,
            compress_level: DEFAULT_COMPRESS_LEVEL,
            jpeg: None,
            palette: Palette::default(),
            collected: None,
            plain: Vec::new(),
            compressed: Vec::new(),
            rows: Vec::new(),
            jpeg_pixels: Vec::new(),
        }
    }
}

impl TightEncoder {
    /// Sets the compression level 0-9 (larger is clamped): more effort for fewer bytes.
    pub fn set_compress_level(&mut self, level: u8) {
        self.compress_level = level.min(9);
    }

    pub fn compress_level(&self) -> u8 {
        self.compress_level
    }

    /// `None` keeps every rectangle lossless; `Some` allows JPEG with those settings.
    pub fn set_jpeg(&mut self, jpeg: Option<JpegSettings>) {
        self.jpeg = jpeg;
    }

    pub fn jpeg(&self) -> Option<JpegSettings> {
        self.jpeg
    }

    /// The next piece to send of the rectangles in `pending` (start it with the rectangle to
    /// cut; call until `None`): a rectangle as it is if its colours fit a palette, else its
    /// halves across its longer side, again and again, until each piece fits one or is
    /// smaller than [`MIN_HALVED_PIXELS`]. Photographs end up as pieces of 8192 pixels or
    /// more, still large enough for JPEG when the viewer allows it. Encode each piece before
    /// asking for the next: the palette found for it is kept for that.
    pub fn next_palette_piece(
        &mut self,
        framebuffer: &Framebuffer,
        pending: &mut Vec<Rect>,
    ) -> Option<Rect> {
        self.collected = None;
        while let Some(piece) = pending.pop() {
            if piece.area() < MIN_HALVED_PIXELS {
                return Some(piece);
            }
            if self
                .palette
                .collect(framebuffer, &piece, palette_limit(piece.area()))
            {
                self.collected = Some(piece);
                return Some(piece);
            }
            let (first, second) = if piece.width >= piece.height * 2 {
                let left = piece.width / 2;
                (
                    Rect::new(piece.x, piece.y, left, piece.height),
                    Rect::new(piece.x + left, piece.y, piece.width - left, piece.height),
                )
            } else {
                let top = piece.height / 2;
                (
                    Rect::new(piece.x, piece.y, piece.width, top),
                    Rect::new(piece.x, piece.y + top, piece.width, piece.height - top),
                )
            };
            // Popped in screen order: the first half next.
            pending.push(second);
            pending.push(first);
        }
        None
    }

    /// Whether the colours of `rect` fit a palette, which then holds them.
    fn palette_fits(&mut self, framebuffer: &Framebuffer, rect: &Rect) -> bool {
        self.collected.take() == Some(*rect)
            || self
                .palette
                .collect(framebuffer, rect, palette_limit(rect.area()))
    }

    /// Restarts all four zlib streams; the next rectangle tells the viewer to do the same.
    pub fn reset_streams(&mut self) {
        let (indexed, mono, full) = ZLIB_LEVELS[usize::from(self.compress_level)];
        self.streams = [
            Deflater::new(full),
            Deflater::new(mono),
            Deflater::new(indexed),
            Deflater::new(full),
        ];
        self.resets = 0x0f;
    }

    /// The compression-control byte for `method` (high nibble), carrying pending resets.
    fn control(&mut self, method: u8) -> u8 {
        let control = (method << 4) | self.resets;
        self.resets = 0;
        control
    }

    /// Appends the body of a Tight rectangle, choosing the compression; true if it went as
    /// JPEG (lossy). Apart from a single-colour rectangle, `rect` must be at most
    /// [`super::MAX_RECT_WIDTH`] wide and [`super::MAX_RECT_PIXELS`] in area: the caller
    /// splits larger ones.
    pub fn encode(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) -> bool {
        if self.jpeg.is_none() || !jpeg_suits(rect, format) {
            self.encode_lossless(framebuffer, rect, format, out);
            return false;
        }
        if self.palette_fits(framebuffer, rect) {
            self.encode_with_palette(framebuffer, rect, format, out);
            return false;
        }
        // Many colours: JPEG for photographs, but drawn content with many shades (text
        // anti-aliased over gradients, say) stays lossless, which is smaller too.
        let smoothness = Smoothness::of(framebuffer, rect);
        if smoothness.photo_like() {
            return self.encode_jpeg(framebuffer, rect, format, out);
        }
        self.encode_full_colour(framebuffer, rect, format, Some(smoothness), out);
        false
    }

    /// Like [`TightEncoder::encode`], but never JPEG.
    pub fn encode_lossless(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        if rect.is_empty() {
            // Copy filter, no data.
            out.push(self.control(STREAM_FULL_COLOUR as u8));
            return;
        }
        if self.palette_fits(framebuffer, rect) {
            self.encode_with_palette(framebuffer, rect, format, out);
        } else {
            self.encode_full_colour(framebuffer, rect, format, None, out);
        }
    }

    /// Appends a FillCompression body: the whole rectangle is `colour`.
    pub fn encode_fill(&mut self, colour: u32, format: &PixelFormat, out: &mut Vec<u8>) {
        out.push(self.control(FILL));
        tpixel::write_all(&[colour], format, out);
    }

    /// Appends a JpegCompression body with the settings set (quality level 8's if none
    /// are); true if it did. Formats below 16 bits per pixel may not carry JPEG: they get
    /// [`TightEncoder::encode_lossless`], as does an image JPEG fails on.
    pub fn encode_jpeg(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) -> bool {
        let usable = jpeg::encode_for_tight(
            framebuffer,
            rect,
            format,
            self.jpeg,
            &mut self.jpeg_pixels,
            &mut self.compressed,
        );
        if !usable {
            self.encode_lossless(framebuffer, rect, format, out);
            return false;
        }
        out.push(self.control(JPEG));
        compact_length::write(self.compressed.len(), out);
        out.extend_from_slice(&self.compressed);
        true
    }

    /// Fill, two-colour or indexed, from the colours just collected.
    fn encode_with_palette(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        out: &mut Vec<u8>,
    ) {
        let count = self.palette.colours().len();
        if count == 1 {
            return self.encode_fill(self.palette.colours()[0], format, out);
        }
        if count > 2 && format.bytes_per_pixel() == 1 {
            // An index is no smaller than the pixel itself.
            return self.encode_full_colour(framebuffer, rect, format, None, out);
        }
        let (indexed, mono, _) = ZLIB_LEVELS[usize::from(self.compress_level)];
        let (stream, level, bits) = if count == 2 {
            (STREAM_MONO, mono, 1)
        } else {
            (STREAM_INDEXED, indexed, 8)
        };
        self.palette.sort();
        out.push(self.control(EXPLICIT_FILTER | stream as u8));
        out.push(FILTER_PALETTE);
        out.push((count - 1) as u8);
        tpixel::write_all(self.palette.colours(), format, out);
        self.plain.clear();
        self.palette.pack(framebuffer, rect, bits, &mut self.plain);
        self.finish_basic(stream, level, out);
    }

    /// The pixels themselves, through the gradient filter when that promises to pay
    /// (`smoothness` if already measured).
    fn encode_full_colour(
        &mut self,
        framebuffer: &Framebuffer,
        rect: &Rect,
        format: &PixelFormat,
        smoothness: Option<Smoothness>,
        out: &mut Vec<u8>,
    ) {
        let (_, _, level) = ZLIB_LEVELS[usize::from(self.compress_level)];
        self.plain.clear();
        let gradient_pays = || {
            smoothness
                .unwrap_or_else(|| Smoothness::of(framebuffer, rect))
                .gradient_pays()
        };
        if gradient::suits(format) && gradient_pays() {
            out.push(self.control(EXPLICIT_FILTER | STREAM_GRADIENT as u8));
            out.push(FILTER_GRADIENT);
            gradient::encode(framebuffer, rect, format, &mut self.rows, &mut self.plain);
            return self.finish_basic(STREAM_GRADIENT, level, out);
        }
        out.push(self.control(STREAM_FULL_COLOUR as u8));
        self.plain.reserve(rect.area() * tpixel::size(format));
        for row in 0..rect.height {
            tpixel::write_all(framebuffer.row(rect, row), format, &mut self.plain);
        }
        self.finish_basic(STREAM_FULL_COLOUR, level, out);
    }

    /// Appends the filtered data in `self.plain`: as it is when short, else compressed on
    /// `stream` with its length in front.
    fn finish_basic(&mut self, stream: usize, level: u32, out: &mut Vec<u8>) {
        if self.plain.len() < MIN_TO_COMPRESS {
            out.extend_from_slice(&self.plain);
            return;
        }
        let deflater = &mut self.streams[stream];
        deflater.set_level(level);
        self.compressed.clear();
        deflater.compress(&self.plain, &mut self.compressed);
        debug_assert!(
            self.compressed.len() <= compact_length::MAX_COMPACT_LENGTH,
            "a Tight rectangle too large for its length field: split it first"
        );
        compact_length::write(self.compressed.len(), out);
        out.extend_from_slice(&self.compressed);
    }
}
