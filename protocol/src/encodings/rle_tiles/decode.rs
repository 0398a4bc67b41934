//! Reading a tile stream: one walk both finds where the stream ends (without a framebuffer:
//! the framing pass) and draws it (with one).

use super::{
    Cpixels, Flavour, MAX_PACKED_PALETTE, MAX_PALETTE_SIZE, PALETTE_RLE, PLAIN_RLE, RAW,
    REUSE_PACKED, REUSE_RLE, SOLID, packed_bits, packed_row_bytes, tiles,
};
use crate::framebuffer::{Framebuffer, Rect};
use crate::pixel::PixelFormat;
use crate::wire::Reader;

/// Walks the tiles of `rect` at the start of `data`: `Ok(None)` if `data` ends first,
/// `Ok(Some(n))` with the bytes they take. With a `target`, draws them into it (`rect` lies
/// inside it); without, only checks the framing, so an index outside a packed palette is
/// found only when drawing. A TRLE palette is reused only within the rectangle.
pub(crate) fn walk(
    data: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    flavour: Flavour,
    target: Option<&mut Framebuffer>,
) -> Result<Option<usize>, String> {
    let tile_size = usize::from(flavour.tile_size());
    let largest_tile = if target.is_some() {
        rect.area().min(tile_size * tile_size)
    } else {
        0
    };
    let mut walker = Walker {
        reader: Reader::new(data),
        cpixels: Cpixels::new(format),
        target,
        pixels: vec![0; largest_tile],
        palette: [0; MAX_PALETTE_SIZE],
        palette_len: 0,
    };
    for (number, tile) in tiles(rect, flavour.tile_size()).enumerate() {
        let walked = walker
            .tile(&tile, flavour)
            .map_err(|why| format!("tile {number} at {},{}: {why}", tile.x, tile.y))?;
        if walked.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(walker.reader.consumed()))
}

struct Walker<'a, 'f> {
    reader: Reader<'a>,
    cpixels: Cpixels,
    target: Option<&'f mut Framebuffer>,
    /// The tile being drawn, row-major (empty without a target).
    pixels: Vec<u32>,
    /// The palette of the last tile that had one (a solid tile's colour counts).
    palette: [u32; MAX_PALETTE_SIZE],
    palette_len: usize,
}

impl Walker<'_, '_> {
    /// One tile; `Ok(None)` if the data ends inside it.
    fn tile(&mut self, tile: &Rect, flavour: Flavour) -> Result<Option<()>, String> {
        let Some(subencoding) = self.reader.u8() else {
            return Ok(None);
        };
        let reuse = flavour.reuses_palettes();
        match subencoding {
            RAW => self.raw(tile),
            SOLID => {
                if self.read_palette(1).is_none() {
                    return Ok(None);
                }
                if let Some(framebuffer) = self.target.as_deref_mut() {
                    framebuffer.fill_rect(tile, self.palette[0]);
                }
                Ok(Some(()))
            }
            2..=MAX_PACKED_PALETTE => {
                if self.read_palette(usize::from(subencoding)).is_none() {
                    return Ok(None);
                }
                self.packed(tile)
            }
            REUSE_PACKED if reuse => match self.palette_len {
                0 => Err("reuses a palette, but no earlier tile had one".into()),
                1 => {
                    if let Some(framebuffer) = self.target.as_deref_mut() {
                        framebuffer.fill_rect(tile, self.palette[0]);
                    }
                    Ok(Some(()))
                }
                2..=16 => self.packed(tile),
                size => Err(format!(
                    "reuses a palette of {size} colours for packed pixels (at most 16)"
                )),
            },
            PLAIN_RLE => self.plain_rle(tile),
            REUSE_RLE if reuse => match self.palette_len {
                0 => Err("reuses a palette, but no earlier tile had one".into()),
                _ => self.palette_rle(tile),
            },
            130..=255 => {
                if self
                    .read_palette(usize::from(subencoding - PALETTE_RLE))
                    .is_none()
                {
                    return Ok(None);
                }
                self.palette_rle(tile)
            }
            unused => Err(format!("subencoding {unused} is not used")),
        }
    }

    /// Reads a palette of `size` (at most [`MAX_PALETTE_SIZE`]) CPIXELs.
    fn read_palette(&mut self, size: usize) -> Option<()> {
        let bytes = self.reader.take(size * self.cpixels.bytes())?;
        let chunks = bytes.chunks_exact(self.cpixels.bytes());
        for (entry, chunk) in self.palette.iter_mut().zip(chunks) {
            *entry = self.cpixels.read(chunk);
        }
        self.palette_len = size;
        Some(())
    }

    fn draw(&mut self, tile: &Rect) {
        if let Some(framebuffer) = self.target.as_deref_mut() {
            framebuffer.put_pixels(tile, &self.pixels[..tile.area()]);
        }
    }

    fn raw(&mut self, tile: &Rect) -> Result<Option<()>, String> {
        let bytes_per_pixel = self.cpixels.bytes();
        let Some(bytes) = self.reader.take(tile.area() * bytes_per_pixel) else {
            return Ok(None);
        };
        if self.target.is_some() {
            for (pixel, chunk) in self
                .pixels
                .iter_mut()
                .zip(bytes.chunks_exact(bytes_per_pixel))
            {
                *pixel = self.cpixels.read(chunk);
            }
            self.draw(tile);
        }
        Ok(Some(()))
    }

    /// Packed indices into the current palette (2 to 16 colours).
    fn packed(&mut self, tile: &Rect) -> Result<Option<()>, String> {
        let width = usize::from(tile.width);
        let bits = packed_bits(self.palette_len);
        let row_bytes = packed_row_bytes(width, bits);
        let Some(bytes) = self.reader.take(row_bytes * usize::from(tile.height)) else {
            return Ok(None);
        };
        if self.target.is_none() {
            return Ok(Some(()));
        }
        let palette = &self.palette[..self.palette_len];
        let mask = (1u8 << bits) - 1;
        let rows = self.pixels[..tile.area()].chunks_exact_mut(width);
        for (row, packed) in rows.zip(bytes.chunks_exact(row_bytes)) {
            let mut pixels = row.iter_mut();
            'row: for &byte in packed {
                for shift in (0..8).step_by(bits).rev() {
                    let Some(pixel) = pixels.next() else {
                        break 'row;
                    };
                    let index = usize::from((byte >> shift) & mask);
                    *pixel = *palette.get(index).ok_or_else(|| {
                        format!("palette index {index} >= palette size {}", palette.len())
                    })?;
                }
            }
        }
        self.draw(tile);
        Ok(Some(()))
    }

    fn plain_rle(&mut self, tile: &Rect) -> Result<Option<()>, String> {
        let (area, bytes_per_pixel) = (tile.area(), self.cpixels.bytes());
        let mut filled = 0;
        while filled < area {
            let Some(bytes) = self.reader.take(bytes_per_pixel) else {
                return Ok(None);
            };
            let Some(length) = run_length(&mut self.reader, filled, area)? else {
                return Ok(None);
            };
            if self.target.is_some() {
                self.pixels[filled..filled + length].fill(self.cpixels.read(bytes));
            }
            filled += length;
        }
        self.draw(tile);
        Ok(Some(()))
    }

    /// Runs of indices into the current palette.
    fn palette_rle(&mut self, tile: &Rect) -> Result<Option<()>, String> {
        let area = tile.area();
        let mut filled = 0;
        while filled < area {
            let Some(byte) = self.reader.u8() else {
                return Ok(None);
            };
            let index = usize::from(byte & 0x7f);
            if index >= self.palette_len {
                return Err(format!(
                    "palette index {index} >= palette size {} at pixel {filled}",
                    self.palette_len
                ));
            }
            let length = if byte & 0x80 == 0 {
                1
            } else {
                match run_length(&mut self.reader, filled, area)? {
                    Some(length) => length,
                    None => return Ok(None),
                }
            };
            if self.target.is_some() {
                self.pixels[filled..filled + length].fill(self.palette[index]);
            }
            filled += length;
        }
        self.draw(tile);
        Ok(Some(()))
    }
}

/// Reads a run length (1 plus the sum of bytes up to the first that is not 255), which must
/// fit in the `area - filled` pixels left in the tile.
fn run_length(
    reader: &mut Reader<'_>,
    filled: usize,
    area: usize,
) -> Result<Option<usize>, String> {
    let mut length = 1usize;
    loop {
        let Some(byte) = reader.u8() else {
            return Ok(None);
        };
        length += usize::from(byte);
        if filled + length > area {
            return Err(format!(
                "a run of {length}{} pixels at pixel {filled} overruns the {area}-pixel tile",
                if byte == 255 { " or more" } else { "" }
            ));
        }
        if byte != 255 {
            return Ok(Some(length));
        }
    }
}
