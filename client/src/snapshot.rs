//! PNG snapshots of the framebuffer (8-bit RGB).

use std::io::BufWriter;
use std::path::Path;

use farview_protocol::Framebuffer;

pub fn write_png(framebuffer: &Framebuffer, path: &Path) -> std::io::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut encoder = png::Encoder::new(
        BufWriter::new(file),
        u32::from(framebuffer.width()),
        u32::from(framebuffer.height()),
    );
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(&framebuffer.to_rgb())
        .map_err(std::io::Error::other)?;
    writer.finish().map_err(std::io::Error::other)
}
