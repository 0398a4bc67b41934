//! The demo desktop's layout and behaviour: where everything is, how input changes it, and
//! the clock. [`Demo`] draws through a [`Canvas`] and reports the bell and clipboard changes
//! for the caller to pass on, so it can be driven without a running source.
//!
//! The windows have fixed places, laid out for [`MIN_WIDTH`]x[`MIN_HEIGHT`]; the desktop may
//! grow up to [`MAX_WIDTH`]x[`MAX_HEIGHT`] ([`Demo::resize`]), and then the bars stretch to
//! its width and bottom while the windows stay where they are.

use farview_protocol::encodings::extended_desktop_size::{DesktopLayout, ResizeStatus, Screen};
use farview_protocol::{Framebuffer, Rect};
use tracing::info;

use super::font::{self, CELL_H, CELL_W};
use super::keys::{self as keysym, key_name, keysym_char};
use super::paint::{self, colour};
use super::text::{ClipView, TextBox, padded, text};
use super::widgets::{ScrollList, Sketch};
use crate::desktop::{Canvas, InputEvent, ViewerId};

/// The size the demo starts at, and the smallest it takes: the windows with their margins.
pub const MIN_WIDTH: u16 = 1024;
pub const MIN_HEIGHT: u16 = 768;
/// The largest size the demo takes (64 MiB of pixels), well inside the framebuffer limits:
/// every viewer's updates are read from this picture.
pub const MAX_WIDTH: u16 = 4096;
pub const MAX_HEIGHT: u16 = 4096;

const BAR_HEIGHT: u16 = 24;
const NOTES: Rect = Rect::new(16, 40, 488, 330);
const SKETCH: Rect = Rect::new(520, 40, 488, 330);
const LIST: Rect = Rect::new(16, 386, 300, 342);
const INFO: Rect = Rect::new(332, 386, 676, 342);
/// What a resize keeps, pixel for pixel.
const WINDOWS: [Rect; 4] = [NOTES, SKETCH, LIST, INFO];

/// The sunken fields inside the windows.
const NOTES_FIELD: Rect = {
    let b = body(NOTES);
    Rect::new(b.x + 8, b.y + 38, b.width - 16, b.height - 46)
};
const SKETCH_FIELD: Rect = {
    let b = body(SKETCH);
    Rect::new(b.x + 8, b.y + 24, b.width - 16, b.height - 32)
};
const LIST_FIELD: Rect = {
    let b = body(LIST);
    Rect::new(b.x + 6, b.y + 6, b.width - 12, b.height - 12)
};
const CLIP_FIELD: Rect = {
    let b = body(INFO);
    Rect::new(b.x + 8, b.y + 132, b.width - 16, b.height - 140)
};

/// "HH:MM:SS UTC" at the right of the top bar.
const CLOCK_CHARS: usize = 12;
const BAR_TEXT_Y: u16 = 5;

/// Where the clock is drawn on a desktop `width` wide (at the right of the top bar): the only
/// part of the desktop that changes by itself.
pub fn clock_area(width: u16) -> Rect {
    let clock_width = CLOCK_CHARS as u16 * CELL_W;
    let x = width.saturating_sub(12 + clock_width);
    Rect::new(x, BAR_TEXT_Y, clock_width, CELL_H)
}

/// Status bar fields: (x, width in cells).
const POINTER_FIELD: (u16, usize) = (12, 34);
const KEY_FIELD: (u16, usize) = (240, 22);
const BELL_FIELD: (u16, usize) = (400, 12);

/// Lines the wheel scrolls per notch.
const WHEEL_LINES: isize = 3;

const BUTTON_1: u8 = 1;
const BUTTON_3: u8 = 1 << 2;
const WHEEL_UP: u8 = 1 << 3;
const WHEEL_DOWN: u8 = 1 << 4;

/// What the caller must do after an event: ring the bell, publish a new clipboard.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub bell: bool,
    pub clipboard: Option<String>,
}

#[derive(Debug)]
pub struct Demo {
    notes: TextBox,
    sketch: Sketch,
    list: ScrollList,
    clip_view: ClipView,
    buttons: u8,
    pointer: (u16, u16),
    control: [bool; 2],
    bells: u64,
    last_key: String,
    clock: String,
}

/// `HH:MM:SS` of a Unix time, in UTC.
pub fn clock_text(unix_seconds: u64) -> String {
    let day = unix_seconds % 86_400;
    format!("{:02}:{:02}:{:02}", day / 3600, day % 3600 / 60, day % 60)
}

const HELP: [&str; 6] = [
    "Notes   type; BackSpace deletes, Return starts a line. The whole",
    "        text goes to the clipboard. Esc or Ctrl+G rings the bell.",
    "Sketch  drag with button 1 to draw; button 3 clears the pad.",
    "List    the mouse wheel scrolls it (viewers get CopyRect).",
    "Clock   top right, UTC, redrawn each second on its own.",
    "Paste   text from your clipboard shows up below.",
];

impl Demo {
    pub fn new() -> Self {
        Demo {
            notes: TextBox::new(inset(NOTES_FIELD, 5)),
            sketch: Sketch::new(inset(SKETCH_FIELD, 1)),
            list: ScrollList::new(inset(LIST_FIELD, 1)),
            clip_view: ClipView::new(inset(CLIP_FIELD, 5)),
            buttons: 0,
            pointer: (0, 0),
            control: [false; 2],
            bells: 0,
            last_key: "last key -".into(),
            clock: String::new(),
        }
    }

    /// Draws the whole desktop, as of `unix_seconds`.
    pub fn draw_all(&mut self, c: &mut Canvas<'_>, unix_seconds: u64) {
        let fb = c.framebuffer_mut();
        draw_backdrop(fb);
        let notes = paint::window(fb, NOTES, "Notes - type here");
        let (x, y) = (notes.x + 8, notes.y + 6);
        on_body(
            fb,
            x,
            y,
            "Typed text is put on the clipboard.",
            colour::HINT,
        );
        on_body(
            fb,
            x,
            y + CELL_H,
            "Esc or Ctrl+G rings the bell.",
            colour::HINT,
        );
        paint::field(fb, NOTES_FIELD);

        let sketch = paint::window(fb, SKETCH, "Sketch");
        let hint = "Drag with button 1 to draw; button 3 clears.";
        on_body(fb, sketch.x + 8, sketch.y + 6, hint, colour::HINT);
        paint::field(fb, SKETCH_FIELD);

        paint::window(fb, LIST, "List - use the wheel");
        paint::field(fb, LIST_FIELD);

        let info = paint::window(fb, INFO, "About this desktop");
        for (index, line) in HELP.iter().enumerate() {
            on_body(
                fb,
                info.x + 8,
                info.y + 8 + index as u16 * CELL_H,
                line,
                colour::TEXT,
            );
        }
        let heading = "Clipboard from a viewer (ClientCutText):";
        on_body(fb, info.x + 8, info.y + 114, heading, colour::HINT);
        paint::field(fb, CLIP_FIELD);
        // The name, three times the font's size, right-aligned above a tagline.
        let logo_w = 7 * 3 * CELL_W;
        let logo_x = info.x + info.width - 8 - logo_w;
        font::draw_text_scaled(
            fb,
            logo_x,
            info.y + 10,
            "farview",
            colour::TITLE,
            colour::BODY,
            3,
        );
        let tagline = "RFB/VNC demo desktop";
        let tagline_x = logo_x + logo_w - font::text_width(tagline, 1) as u16;
        on_body(
            fb,
            tagline_x,
            info.y + 10 + 3 * CELL_H,
            tagline,
            colour::HINT,
        );

        c.mark_changed(c.framebuffer().bounds());
        self.notes.draw(c);
        self.list.draw(c);
        self.clip_view
            .show(c, "(nothing yet: copy some text in your viewer)");
        self.draw_bar_fields(c, unix_seconds);
    }

    /// Carries out `viewer`'s SetDesktopSize if the layout is one screen covering a desktop
    /// between the minimum and maximum size: the desktop is redrawn at the new size with the
    /// windows as they were. Returns the status for the viewer.
    pub fn resize(
        &mut self,
        c: &mut Canvas<'_>,
        layout: &DesktopLayout,
        viewer: ViewerId,
        unix_seconds: u64,
    ) -> ResizeStatus {
        if let Err((status, reason)) = check_layout(layout) {
            info!("viewer {viewer}: resize refused ({status}): {reason}");
            return status;
        }
        let fb = c.framebuffer();
        let windows: Vec<(Rect, Vec<u32>)> = WINDOWS
            .iter()
            .filter_map(|window| window.intersect(&fb.bounds()))
            .map(|window| (window, fb.read_rect(&window)))
            .collect();
        c.resize_to(layout.clone(), Some(viewer));
        let fb = c.framebuffer_mut();
        draw_backdrop(fb);
        for (window, pixels) in &windows {
            fb.put_pixels(window, pixels);
        }
        c.mark_changed(c.framebuffer().bounds());
        self.draw_bar_fields(c, unix_seconds);
        info!(
            "viewer {viewer}: demo desktop resized to {}x{}",
            layout.width, layout.height
        );
        ResizeStatus::SUCCESS
    }

    /// Draws the changing text on the bars: the clock, pointer, last key and bells.
    fn draw_bar_fields(&mut self, c: &mut Canvas<'_>, unix_seconds: u64) {
        self.clock.clear();
        self.tick(c, unix_seconds);
        self.draw_pointer(c);
        self.draw_bells(c);
        status(c, KEY_FIELD, &self.last_key);
    }

    /// Redraws the clock if `unix_seconds` shows a different time: only its cells change.
    pub fn tick(&mut self, c: &mut Canvas<'_>, unix_seconds: u64) {
        let now = format!("{} UTC", clock_text(unix_seconds));
        if now != self.clock {
            let area = clock_area(c.width());
            text(c, area.x, area.y, &now, colour::BAR_TEXT, colour::BAR);
            self.clock = now;
        }
    }

    #[cfg(test)]
    pub fn notes_text(&self) -> &str {
        self.notes.text()
    }

    #[cfg(test)]
    pub fn list_first(&self) -> usize {
        self.list.first()
    }

    pub fn handle(&mut self, c: &mut Canvas<'_>, event: &InputEvent) -> Effects {
        match event {
            InputEvent::Key { down, keysym, .. } => self.key(c, *down, *keysym),
            InputEvent::Pointer { buttons, x, y } => {
                self.pointer(c, *buttons, *x, *y);
                Effects::default()
            }
            InputEvent::CutText(cut) => {
                self.clip_view.show(c, cut);
                Effects::default()
            }
            // The source answers it with [`Demo::resize`], as the answer consumes it.
            InputEvent::SetDesktopSize(_) => Effects::default(),
        }
    }

    fn key(&mut self, c: &mut Canvas<'_>, down: bool, keysym: u32) -> Effects {
        match keysym {
            keysym::CONTROL_L => self.control[0] = down,
            keysym::CONTROL_R => self.control[1] = down,
            _ => {}
        }
        if !down {
            return Effects::default();
        }
        self.last_key = format!("last key {}", key_name(keysym));
        status(c, KEY_FIELD, &self.last_key);
        let control = self.control.contains(&true);
        let typed = keysym_char(keysym);
        if keysym == keysym::ESCAPE || (control && matches!(typed, Some('g' | 'G'))) {
            self.bells += 1;
            self.draw_bells(c);
            return Effects {
                bell: true,
                clipboard: None,
            };
        }
        let changed = match (keysym, typed) {
            // Other control chords type nothing.
            _ if control => false,
            (keysym::BACKSPACE, _) => self.notes.backspace(),
            (keysym::RETURN | keysym::KP_ENTER, _) => {
                self.notes.push('\n');
                true
            }
            (keysym::TAB, _) => {
                self.notes.push(' ');
                true
            }
            (_, Some(typed)) => {
                self.notes.push(typed);
                true
            }
            _ => false,
        };
        if !changed {
            return Effects::default();
        }
        self.notes.draw(c);
        Effects {
            bell: false,
            clipboard: Some(self.notes.text().to_string()),
        }
    }

    fn pointer(&mut self, c: &mut Canvas<'_>, buttons: u8, x: u16, y: u16) {
        let pressed = buttons & !self.buttons;
        let released = self.buttons & !buttons;
        if self.buttons != buttons || self.pointer != (x, y) {
            self.buttons = buttons;
            self.pointer = (x, y);
            self.draw_pointer(c);
        }
        let point = Rect::new(x, y, 1, 1);
        if LIST.contains(&point) {
            if pressed & WHEEL_UP != 0 {
                self.list.scroll(c, -WHEEL_LINES);
            }
            if pressed & WHEEL_DOWN != 0 {
                self.list.scroll(c, WHEEL_LINES);
            }
        }
        if pressed & BUTTON_3 != 0 && SKETCH.contains(&point) {
            self.sketch.clear(c);
        }
        if released & BUTTON_1 != 0 {
            self.sketch.release();
        } else if pressed & BUTTON_1 != 0 {
            // Strokes start only on the pad; once started they may leave it (and are clipped).
            if self.sketch.contains(x, y) {
                self.sketch.press(c, x, y);
            }
        } else if buttons & BUTTON_1 != 0 {
            self.sketch.drag(c, x, y);
        }
    }

    fn draw_pointer(&mut self, c: &mut Canvas<'_>) {
        let (x, y) = self.pointer;
        let buttons: String = (0..5)
            .map(|b| {
                if self.buttons >> b & 1 == 1 {
                    char::from(b'1' + b)
                } else {
                    '.'
                }
            })
            .collect();
        status(
            c,
            POINTER_FIELD,
            &format!("pointer {x},{y}  buttons {buttons}"),
        );
    }

    fn draw_bells(&mut self, c: &mut Canvas<'_>) {
        status(c, BELL_FIELD, &format!("bells {}", self.bells));
    }
}

impl Default for Demo {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether the demo can take `layout`: one screen covering a desktop from the minimum to
/// the maximum size. If not, the status for the viewer and the reason for the log.
fn check_layout(layout: &DesktopLayout) -> Result<(), (ResizeStatus, String)> {
    let (width, height) = (layout.width, layout.height);
    let [screen] = layout.screens.as_slice() else {
        return Err((
            ResizeStatus::INVALID_LAYOUT,
            format!(
                "{} screens: the demo has one, covering the whole desktop",
                layout.screens.len()
            ),
        ));
    };
    let whole = Screen {
        id: screen.id,
        flags: screen.flags,
        ..Screen::whole(0, width, height)
    };
    if *screen != whole {
        return Err((
            ResizeStatus::INVALID_LAYOUT,
            "the screen must cover the whole desktop".into(),
        ));
    }
    if width < MIN_WIDTH || height < MIN_HEIGHT {
        return Err((
            ResizeStatus::INVALID_LAYOUT,
            format!("{width}x{height} is smaller than the windows ({MIN_WIDTH}x{MIN_HEIGHT})"),
        ));
    }
    if width > MAX_WIDTH || height > MAX_HEIGHT {
        return Err((
            ResizeStatus::OUT_OF_RESOURCES,
            format!("{width}x{height} is larger than the demo draws ({MAX_WIDTH}x{MAX_HEIGHT})"),
        ));
    }
    Ok(())
}

/// Paints what lies behind the windows: the background and the bars with their fixed text,
/// the bars stretched to the framebuffer's width and bottom.
fn draw_backdrop(fb: &mut Framebuffer) {
    let (width, height) = (fb.width(), fb.height());
    paint::vertical_gradient(fb, fb.bounds(), colour::DESKTOP_TOP, colour::DESKTOP_BOTTOM);
    paint::fill(fb, Rect::new(0, 0, width, BAR_HEIGHT), colour::BAR);
    let status_y = status_bar_y(height);
    paint::fill(fb, Rect::new(0, status_y, width, BAR_HEIGHT), colour::BAR);
    on_bar(fb, 12, BAR_TEXT_Y, "farview", colour::ACCENT);
    on_bar(
        fb,
        84,
        BAR_TEXT_Y,
        "Desktop   Notes   Sketch   List   Help",
        colour::BAR_TEXT,
    );
    let size = format!("{width}x{height}  farview demo");
    let size_x = width.saturating_sub(12 + font::text_width(&size, 1) as u16);
    on_bar(fb, size_x, status_y + BAR_TEXT_Y, &size, colour::BAR_DIM);
}

/// The top of the status bar along the bottom of a desktop `height` pixels high.
fn status_bar_y(height: u16) -> u16 {
    height.saturating_sub(BAR_HEIGHT)
}

/// Static text on a window body, and on the top or status bar.
fn on_body(fb: &mut Framebuffer, x: u16, y: u16, s: &str, fg: u32) {
    font::draw_text(fb, x, y, s, fg, colour::BODY);
}

fn on_bar(fb: &mut Framebuffer, x: u16, y: u16, s: &str, fg: u32) {
    font::draw_text(fb, x, y, s, fg, colour::BAR);
}

/// Draws a status-bar field, padded so the old value is erased.
fn status(c: &mut Canvas<'_>, (x, width): (u16, usize), value: &str) {
    text(
        c,
        x,
        status_bar_y(c.height()) + BAR_TEXT_Y,
        &padded(value, width),
        colour::BAR_TEXT,
        colour::BAR,
    );
}

/// The body of a window drawn at `rect` (see [`paint::window`]).
const fn body(rect: Rect) -> Rect {
    Rect::new(rect.x + 1, rect.y + 23, rect.width - 2, rect.height - 24)
}

const fn inset(rect: Rect, by: u16) -> Rect {
    Rect::new(
        rect.x + by,
        rect.y + by,
        rect.width - 2 * by,
        rect.height - 2 * by,
    )
}
