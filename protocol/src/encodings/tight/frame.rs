//! Framing of a Tight or TightPNG rectangle: where its parts lie and how many bytes it takes,
//! found without touching any zlib stream (community RFB spec, "Tight Encoding").

use super::{compact_length, tpixel};
use crate::framebuffer::Rect;
use crate::pixel::PixelFormat;

/// High nibbles of the compression-control byte.
pub const FILL: u8 = 0x8;
pub const JPEG: u8 = 0x9;
pub const PNG: u8 = 0xa;
/// In a BasicCompression control nibble: a filter-id byte follows.
pub const EXPLICIT_FILTER: u8 = 0x4;

/// Filter ids.
pub const FILTER_COPY: u8 = 0;
pub const FILTER_PALETTE: u8 = 1;
pub const FILTER_GRADIENT: u8 = 2;

/// Filtered data shorter than this is sent as it is, without zlib and without a length.
pub const MIN_TO_COMPRESS: usize = 12;

/// Which of the two encodings the rectangle is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Tight,
    TightPng,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter<'a> {
    Copy,
    /// `colours` holds `count` TPIXELs.
    Palette {
        count: usize,
        colours: &'a [u8],
    },
    Gradient,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method<'a> {
    /// One TPIXEL.
    Fill(&'a [u8]),
    Jpeg(&'a [u8]),
    Png(&'a [u8]),
    Basic {
        stream: usize,
        filter: Filter<'a>,
        /// zlib data when `compressed`, else the filtered bytes themselves.
        data: &'a [u8],
        compressed: bool,
        /// The filtered data's size.
        plain_len: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The streams to reset first (bit n for stream n).
    pub resets: u8,
    pub method: Method<'a>,
    /// Bytes the whole body takes.
    pub len: usize,
}

/// Reads `bytes` bytes at `at`, or `None` if the body stops before.
fn take(body: &[u8], at: usize, bytes: usize) -> Option<&[u8]> {
    body.get(at..at.checked_add(bytes)?)
}

/// A compact length then that many bytes, from `at`: the bytes and where they end.
fn length_and_data(body: &[u8], at: usize) -> Option<(&[u8], usize)> {
    let (length, used) = compact_length::read(body.get(at..)?)?;
    let start = at + used;
    Some((take(body, start, length)?, start + length))
}

/// The size of the filtered data of a BasicCompression rectangle.
fn plain_len(filter: &Filter<'_>, rect: &Rect, format: &PixelFormat) -> Result<usize, String> {
    let (width, height) = (usize::from(rect.width), usize::from(rect.height));
    let row = match filter {
        Filter::Palette { count, .. } if *count <= 2 => width.div_ceil(8),
        Filter::Palette { .. } => width,
        Filter::Copy | Filter::Gradient => width
            .checked_mul(tpixel::size(format))
            .ok_or("row size overflows")?,
    };
    row.checked_mul(height)
        .ok_or_else(|| "rectangle data size overflows".into())
}

/// Parses the rectangle's framing; `Ok(None)` while `body` is incomplete.
pub fn parse<'a>(
    body: &'a [u8],
    rect: &Rect,
    format: &PixelFormat,
    variant: Variant,
) -> Result<Option<Frame<'a>>, String> {
    let Some(&control) = body.first() else {
        return Ok(None);
    };
    let resets = control & 0x0f;
    let method = control >> 4;
    let framed = |method, len| {
        Ok(Some(Frame {
            resets,
            method,
            len,
        }))
    };
    match method {
        FILL => {
            let size = tpixel::size(format);
            match take(body, 1, size) {
                Some(pixel) => framed(Method::Fill(pixel), 1 + size),
                None => Ok(None),
            }
        }
        JPEG => match length_and_data(body, 1) {
            Some((data, end)) => framed(Method::Jpeg(data), end),
            None => Ok(None),
        },
        PNG if variant == Variant::TightPng => match length_and_data(body, 1) {
            Some((data, end)) => framed(Method::Png(data), end),
            None => Ok(None),
        },
        PNG => Err("PNG compression (0xa) in a Tight rectangle (only TightPNG has it)".into()),
        0..=7 if variant == Variant::TightPng => Err(format!(
            "BasicCompression (control 0x{control:02x}) in a TightPNG rectangle"
        )),
        0..=7 => parse_basic(body, control, rect, format).map(|parsed| {
            parsed.map(|(method, len)| Frame {
                resets,
                method,
                len,
            })
        }),
        _ => Err(format!(
            "compression-control 0x{control:02x}: unknown compression type 0x{method:x}"
        )),
    }
}

fn parse_basic<'a>(
    body: &'a [u8],
    control: u8,
    rect: &Rect,
    format: &PixelFormat,
) -> Result<Option<(Method<'a>, usize)>, String> {
    let stream = usize::from((control >> 4) & 0x3);
    let mut at = 1;
    let mut filter = Filter::Copy;
    if (control >> 4) & EXPLICIT_FILTER != 0 {
        let Some(&filter_id) = body.get(at) else {
            return Ok(None);
        };
        at += 1;
        filter = match filter_id {
            FILTER_COPY => Filter::Copy,
            FILTER_GRADIENT => Filter::Gradient,
            FILTER_PALETTE => {
                let Some(&size) = body.get(at) else {
                    return Ok(None);
                };
                at += 1;
                let count = usize::from(size) + 1;
                let bytes = count * tpixel::size(format);
                let Some(colours) = take(body, at, bytes) else {
                    return Ok(None);
                };
                at += bytes;
                Filter::Palette { count, colours }
            }
            other => return Err(format!("unknown filter id {other}")),
        };
    }
    let plain_len = plain_len(&filter, rect, format)?;
    let (data, compressed, end) = if plain_len < MIN_TO_COMPRESS {
        match take(body, at, plain_len) {
            Some(data) => (data, false, at + plain_len),
            None => return Ok(None),
        }
    } else {
        match length_and_data(body, at) {
            Some((data, end)) => (data, true, end),
            None => return Ok(None),
        }
    };
    let method = Method::Basic {
        stream,
        filter,
        data,
        compressed,
        plain_len,
    };
    Ok(Some((method, end)))
}

/// Bytes a Tight rectangle's body takes, found without decoding it.
pub fn body_len(
    body: &[u8],
    rect: &Rect,
    format: &PixelFormat,
    variant: Variant,
) -> Result<Option<usize>, String> {
    Ok(parse(body, rect, format, variant)?.map(|frame| frame.len))
}
