//! Screen size through RandR. The X server tells us when the root window changes size
//! (RRScreenChangeNotify), and the desktop follows, which viewers see as DesktopSize or
//! ExtendedDesktopSize. A viewer's SetDesktopSize resizes the X screen where RandR 1.2 allows:
//! the monitor (CRTC) is switched to a mode of exactly the size asked for, one the server
//! offers or one created for the purpose (TigerVNC's Xvnc takes any size), and the screen is
//! resized around it. Modes created here are destroyed once no longer in use.

use farview_protocol::encodings::extended_desktop_size::ResizeStatus;
use tracing::{debug, info};
use x11rb::connection::RequestConnection;
use x11rb::protocol::randr::{self, ConnectionExt as _, ModeFlag, ModeInfo, NotifyMask, Rotation};
use x11rb::protocol::xproto::{self, ConnectionExt as _};
use x11rb::rust_connection::RustConnection;

use super::XError;

/// Asks for screen change events; false if the server lacks RandR.
pub fn watch(connection: &RustConnection, root: xproto::Window) -> Result<bool, XError> {
    if connection
        .extension_information(randr::X11_EXTENSION_NAME)?
        .is_none()
    {
        return Ok(false);
    }
    connection.randr_query_version(1, 2)?.reply()?;
    connection.randr_select_input(root, NotifyMask::SCREEN_CHANGE)?;
    Ok(true)
}

/// The root window's size as it is now (events may be stale by the time they are read).
pub fn screen_size(
    connection: &RustConnection,
    root: xproto::Window,
) -> Result<(u16, u16), XError> {
    let geometry = connection.get_geometry(root)?.reply()?;
    Ok((geometry.width, geometry.height))
}

/// Resizes the X screen for viewers, remembering the modes it creates.
#[derive(Debug, Default)]
pub struct Resizer {
    /// Modes created here, with the output they were added to.
    created: Vec<(randr::Output, randr::Mode)>,
}

impl Resizer {
    /// Makes the X screen `width` x `height`. A refusal comes back as the RandR status for
    /// the viewer (and a line in the log); only a lost connection is an error.
    pub fn resize(
        &mut self,
        connection: &RustConnection,
        screen: &xproto::Screen,
        width: u16,
        height: u16,
    ) -> Result<ResizeStatus, XError> {
        match self.try_resize(connection, screen, width, height) {
            Ok(status) => Ok(status),
            Err(XError::Protocol(error)) => {
                info!("X refused the {width}x{height} screen: {error}");
                Ok(ResizeStatus::OUT_OF_RESOURCES)
            }
            Err(error) => Err(error),
        }
    }

    fn try_resize(
        &mut self,
        conn: &RustConnection,
        screen: &xproto::Screen,
        width: u16,
        height: u16,
    ) -> Result<ResizeStatus, XError> {
        let root = screen.root;
        if conn
            .extension_information(randr::X11_EXTENSION_NAME)?
            .is_none()
        {
            info!("resize refused: the X server has no RandR");
            return Ok(ResizeStatus::PROHIBITED);
        }
        let version = conn.randr_query_version(1, 2)?.reply()?;
        if (version.major_version, version.minor_version) < (1, 2) {
            info!("resize refused: RandR 1.2 is needed");
            return Ok(ResizeStatus::PROHIBITED);
        }
        let range = conn.randr_get_screen_size_range(root)?.reply()?;
        if range.min_width == range.max_width && range.min_height == range.max_height {
            info!("resize refused: the X screen has one fixed size");
            return Ok(ResizeStatus::PROHIBITED);
        }
        if !(range.min_width..=range.max_width).contains(&width)
            || !(range.min_height..=range.max_height).contains(&height)
        {
            info!(
                "resize refused: {width}x{height} is outside the X screen's range {}x{} to {}x{}",
                range.min_width, range.min_height, range.max_width, range.max_height
            );
            return Ok(ResizeStatus::INVALID_LAYOUT);
        }
        let resources = conn.randr_get_screen_resources(root)?.reply()?;
        let mut active = Vec::new();
        for &crtc in &resources.crtcs {
            let info = conn
                .randr_get_crtc_info(crtc, resources.config_timestamp)?
                .reply()?;
            if info.mode != 0 && !info.outputs.is_empty() {
                active.push((crtc, info));
            }
        }
        if active.len() > 1 {
            info!(
                "resize refused: the X screen shows {} monitors; only a single one is resized",
                active.len()
            );
            return Ok(ResizeStatus::PROHIBITED);
        }
        let current = screen_size(conn, root)?;
        // Keep the screen's dots per inch.
        let millimetres = |pixels: u16, reference_pixels: u16, reference_mm: u16| {
            let reference_mm = if reference_mm == 0 {
                u32::from(reference_pixels) * 254 / 960 // 96 dpi
            } else {
                u32::from(reference_mm)
            };
            (u32::from(pixels) * reference_mm / u32::from(reference_pixels.max(1))).max(1)
        };
        let set_size = |w: u16, h: u16| -> Result<(), XError> {
            conn.randr_set_screen_size(
                root,
                w,
                h,
                millimetres(w, screen.width_in_pixels, screen.width_in_millimeters),
                millimetres(h, screen.height_in_pixels, screen.height_in_millimeters),
            )?
            .check()?;
            Ok(())
        };
        let Some((crtc, info)) = active.into_iter().next() else {
            set_size(width, height)?;
            return Ok(ResizeStatus::SUCCESS);
        };
        let output = info.outputs[0];
        let turned = u16::from(info.rotation)
            & (u16::from(Rotation::ROTATE90) | u16::from(Rotation::ROTATE270))
            != 0;
        let (mode_width, mode_height) = if turned {
            (height, width)
        } else {
            (width, height)
        };
        let mode = self.mode_of_size(conn, root, &resources, output, mode_width, mode_height)?;
        // Grow to hold both sizes, switch the monitor, then shrink to the new size: the
        // monitor must fit the screen at every step.
        let larger = (current.0.max(width), current.1.max(height));
        if larger != current {
            set_size(larger.0, larger.1)?;
        }
        let reply = conn
            .randr_set_crtc_config(
                crtc,
                x11rb::CURRENT_TIME,
                resources.config_timestamp,
                0,
                0,
                mode,
                info.rotation,
                &info.outputs,
            )?
            .reply()?;
        if reply.status != randr::SetConfig::SUCCESS {
            info!("X refused the {width}x{height} mode: {:?}", reply.status);
            if larger != current {
                let _ = set_size(current.0, current.1);
            }
            return Ok(ResizeStatus::OUT_OF_RESOURCES);
        }
        if larger != (width, height) {
            set_size(width, height)?;
        }
        self.forget_unused_modes(conn, mode);
        Ok(ResizeStatus::SUCCESS)
    }

    /// A mode of exactly `width` x `height` that `output` may show: one it lists, one the
    /// server knows (added to the output), or a new one.
    fn mode_of_size(
        &mut self,
        conn: &RustConnection,
        root: xproto::Window,
        resources: &randr::GetScreenResourcesReply,
        output: randr::Output,
        width: u16,
        height: u16,
    ) -> Result<randr::Mode, XError> {
        let output_info = conn
            .randr_get_output_info(output, resources.config_timestamp)?
            .reply()?;
        let sized: Vec<randr::Mode> = resources
            .modes
            .iter()
            .filter(|mode| (mode.width, mode.height) == (width, height))
            .map(|mode| mode.id)
            .collect();
        if let Some(&mode) = sized.iter().find(|mode| output_info.modes.contains(mode)) {
            return Ok(mode);
        }
        if let Some(&mode) = sized.first() {
            conn.randr_add_output_mode(output, mode)?.check()?;
            return Ok(mode);
        }
        let name = format!("{width}x{height}");
        let info = ModeInfo {
            id: 0,
            width,
            height,
            dot_clock: u32::from(width) * u32::from(height) * 60,
            hsync_start: width,
            hsync_end: width,
            htotal: width,
            hskew: 0,
            vsync_start: height,
            vsync_end: height,
            vtotal: height,
            name_len: name.len() as u16,
            mode_flags: ModeFlag::from(0u32),
        };
        let mode = conn
            .randr_create_mode(root, info, name.as_bytes())?
            .reply()?
            .mode;
        conn.randr_add_output_mode(output, mode)?.check()?;
        debug!("created RandR mode {name}");
        self.created.push((output, mode));
        Ok(mode)
    }

    /// Destroys the modes created here, but the one in use.
    fn forget_unused_modes(&mut self, conn: &RustConnection, in_use: randr::Mode) {
        self.created.retain(|&(output, mode)| {
            if mode == in_use {
                return true;
            }
            let removed = conn
                .randr_delete_output_mode(output, mode)
                .map(|cookie| cookie.check());
            let destroyed = conn.randr_destroy_mode(mode).map(|cookie| cookie.check());
            if !matches!((removed, destroyed), (Ok(Ok(())), Ok(Ok(())))) {
                debug!("RandR mode {mode} could not be removed");
            }
            false
        });
    }
}
