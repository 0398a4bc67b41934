//! Reading the screen: MIT-SHM GetImage into a shared segment when the X server is local and
//! offers it (no pixels cross the socket), plain GetImage otherwise. Both take a list of
//! rectangles, sent all at once and answered in one round trip.

use std::fs::File;

use farview_protocol::{Framebuffer, Rect};
use x11rb::connection::{Connection, RequestConnection};
use x11rb::protocol::shm::{self, ConnectionExt as _};
use x11rb::protocol::xproto::{self, ConnectionExt as _, ImageFormat, ImageOrder, VisualClass};
use x11rb::rust_connection::RustConnection;

use super::XError;
use super::shm::SharedMemory;

/// The most bytes of plain GetImage replies held at once.
const MAX_PLAIN_BATCH: usize = 16 << 20;

/// How a 32-bit X pixel holds its channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PixelLayout {
    little_endian: bool,
    shifts: [u32; 3],
}

impl PixelLayout {
    /// The root visual's layout; only TrueColor with 8-bit channels in 32-bit pixels (depth 24
    /// or 32), which is what every current X server uses, is supported.
    fn of_screen(connection: &RustConnection, screen: &xproto::Screen) -> Result<Self, XError> {
        let setup = connection.setup();
        let unsupported = |what: String| XError::Unsupported(format!("root visual: {what}"));
        let visual = screen
            .allowed_depths
            .iter()
            .flat_map(|depth| depth.visuals.iter())
            .find(|visual| visual.visual_id == screen.root_visual)
            .ok_or_else(|| unsupported("not found".into()))?;
        if !matches!(
            visual.class,
            VisualClass::TRUE_COLOR | VisualClass::DIRECT_COLOR
        ) {
            return Err(unsupported(format!("class {:?}", visual.class)));
        }
        let bits_per_pixel = setup
            .pixmap_formats
            .iter()
            .find(|format| format.depth == screen.root_depth)
            .map(|format| format.bits_per_pixel);
        if bits_per_pixel != Some(32) {
            return Err(unsupported(format!(
                "depth {} with {bits_per_pixel:?} bits per pixel (32 needed)",
                screen.root_depth
            )));
        }
        let mut shifts = [0; 3];
        for (shift, mask) in
            shifts
                .iter_mut()
                .zip([visual.red_mask, visual.green_mask, visual.blue_mask])
        {
            if mask == 0 || mask >> mask.trailing_zeros() != 0xff {
                return Err(unsupported(format!("colour mask {mask:#x}")));
            }
            *shift = mask.trailing_zeros();
        }
        Ok(PixelLayout {
            little_endian: setup.image_byte_order == ImageOrder::LSB_FIRST,
            shifts,
        })
    }

    /// Copies a ZPixmap image of `rect`'s size into `rect` of `into`, as 0xRRGGBB.
    fn convert(&self, data: &[u8], rect: &Rect, into: &mut Framebuffer) {
        let width = usize::from(rect.width);
        let stride = into.width() as usize;
        let pixels = into.pixels_mut();
        let usual = self.little_endian && self.shifts == [16, 8, 0];
        for (row, line) in data
            .chunks_exact(width * 4)
            .take(usize::from(rect.height))
            .enumerate()
        {
            let start = (usize::from(rect.y) + row) * stride + usize::from(rect.x);
            let target = &mut pixels[start..start + width];
            let words = line.chunks_exact(4).map(|b| [b[0], b[1], b[2], b[3]]);
            if usual {
                // The common case, kept branch-free so it vectorises.
                for (pixel, bytes) in target.iter_mut().zip(words) {
                    *pixel = u32::from_le_bytes(bytes) & 0xff_ffff;
                }
                continue;
            }
            for (pixel, bytes) in target.iter_mut().zip(words) {
                let value = if self.little_endian {
                    u32::from_le_bytes(bytes)
                } else {
                    u32::from_be_bytes(bytes)
                };
                let [r, g, b] = self.shifts.map(|shift| (value >> shift) & 0xff);
                *pixel = r << 16 | g << 8 | b;
            }
        }
    }
}

#[derive(Debug)]
struct Segment {
    id: shm::Seg,
    memory: SharedMemory,
}

/// Reads areas of the root window into a framebuffer.
#[derive(Debug)]
pub struct Capture {
    root: xproto::Window,
    layout: PixelLayout,
    segment: Option<Segment>,
    use_shm: bool,
}

impl Capture {
    /// Prepares capture of `screen`, with MIT-SHM if the server offers it over this
    /// connection (it needs a local connection to pass the segment's file descriptor).
    pub fn new(
        connection: &RustConnection,
        screen: &xproto::Screen,
        use_shm: bool,
    ) -> Result<Capture, XError> {
        let layout = PixelLayout::of_screen(connection, screen)?;
        let mut capture = Capture {
            root: screen.root,
            layout,
            segment: None,
            use_shm,
        };
        capture.resize(connection, screen.width_in_pixels, screen.height_in_pixels)?;
        Ok(capture)
    }

    /// Whether captures go through shared memory.
    pub fn shared_memory(&self) -> bool {
        self.segment.is_some()
    }

    /// Makes the shared segment fit a screen of the new size.
    pub fn resize(
        &mut self,
        connection: &RustConnection,
        width: u16,
        height: u16,
    ) -> Result<(), XError> {
        if let Some(old) = self.segment.take() {
            connection.shm_detach(old.id)?;
        }
        if !self.use_shm {
            return Ok(());
        }
        match create_segment(connection, usize::from(width) * usize::from(height) * 4) {
            Ok(segment) => self.segment = Some(segment),
            Err(XError::Connection(error)) => return Err(XError::Connection(error)),
            Err(error) => {
                tracing::info!("MIT-SHM unavailable ({error}): capturing with GetImage");
                self.use_shm = false;
            }
        }
        Ok(())
    }

    /// Reads `rects` (inside the screen) into the same places of `into`.
    pub fn read(
        &mut self,
        connection: &RustConnection,
        rects: &[Rect],
        into: &mut Framebuffer,
    ) -> Result<(), XError> {
        let rects: Vec<Rect> = rects
            .iter()
            .filter_map(|rect| rect.clip(into.width(), into.height()))
            .collect();
        let capacity = match &self.segment {
            Some(segment) => segment.memory.bytes().len(),
            None => MAX_PLAIN_BATCH,
        };
        // Batches whose images fit the segment (or the reply budget), one round trip each.
        let mut start = 0;
        while start < rects.len() {
            let mut end = start;
            let mut bytes = 0;
            while end < rects.len() && (end == start || bytes + rects[end].area() * 4 <= capacity) {
                bytes += rects[end].area() * 4;
                end += 1;
            }
            match &self.segment {
                Some(segment) if bytes <= capacity => {
                    self.read_shared(connection, segment, &rects[start..end], into)?;
                }
                _ => self.read_plain(connection, &rects[start..end], into)?,
            }
            start = end;
        }
        Ok(())
    }

    fn read_shared(
        &self,
        connection: &RustConnection,
        segment: &Segment,
        rects: &[Rect],
        into: &mut Framebuffer,
    ) -> Result<(), XError> {
        let mut cookies = Vec::with_capacity(rects.len());
        let mut offset = 0usize;
        for rect in rects {
            let cookie = connection.shm_get_image(
                self.root,
                rect.x as i16,
                rect.y as i16,
                rect.width,
                rect.height,
                !0,
                ImageFormat::Z_PIXMAP.into(),
                segment.id,
                offset as u32,
            )?;
            cookies.push((cookie, offset));
            offset += rect.area() * 4;
        }
        for ((cookie, offset), rect) in cookies.into_iter().zip(rects) {
            cookie.reply()?;
            let data = &segment.memory.bytes()[offset..offset + rect.area() * 4];
            self.layout.convert(data, rect, into);
        }
        Ok(())
    }

    fn read_plain(
        &self,
        connection: &RustConnection,
        rects: &[Rect],
        into: &mut Framebuffer,
    ) -> Result<(), XError> {
        let mut cookies = Vec::with_capacity(rects.len());
        for rect in rects {
            cookies.push(connection.get_image(
                ImageFormat::Z_PIXMAP,
                self.root,
                rect.x as i16,
                rect.y as i16,
                rect.width,
                rect.height,
                !0,
            )?);
        }
        for (cookie, rect) in cookies.into_iter().zip(rects) {
            let reply = cookie.reply()?;
            if reply.data.len() < rect.area() * 4 {
                return Err(XError::Unsupported(format!(
                    "GetImage of {}x{} returned {} bytes",
                    rect.width,
                    rect.height,
                    reply.data.len()
                )));
            }
            self.layout.convert(&reply.data, rect, into);
        }
        Ok(())
    }

    /// Gives the shared segment back to the server.
    pub fn close(&mut self, connection: &RustConnection) {
        if let Some(segment) = self.segment.take() {
            let _ = connection.shm_detach(segment.id);
        }
    }
}

/// Asks the server for a shared segment of `size` bytes (MIT-SHM 1.2) and maps it.
fn create_segment(connection: &RustConnection, size: usize) -> Result<Segment, XError> {
    if connection
        .extension_information(shm::X11_EXTENSION_NAME)?
        .is_none()
    {
        return Err(XError::Unsupported("no MIT-SHM extension".into()));
    }
    let version = connection.shm_query_version()?.reply()?;
    if (version.major_version, version.minor_version) < (1, 2) {
        return Err(XError::Unsupported(format!(
            "MIT-SHM {}.{} (1.2 needed)",
            version.major_version, version.minor_version
        )));
    }
    let size32 = u32::try_from(size)
        .map_err(|_| XError::Unsupported(format!("a {size}-byte segment is too large")))?;
    let id = connection.generate_id()?;
    let reply = connection.shm_create_segment(id, size32, false)?.reply()?;
    let file = File::from(reply.shm_fd);
    let memory = SharedMemory::map(&file, size).map_err(|error| {
        let _ = connection.shm_detach(id);
        XError::Unsupported(format!("mapping the segment: {error}"))
    })?;
    Ok(Segment { id, memory })
}
