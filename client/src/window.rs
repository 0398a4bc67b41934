//! The native window (minifb): shows the newest framebuffer and turns the user's keyboard and
//! mouse into RFB input. minifb gives no X keysyms, so keys are mapped here: characters come
//! from the window system's text input (layout and shift already applied), the other keys
//! from a table.
//!
//! When the server sends a cursor shape, the system pointer is hidden over the window and the
//! shape is drawn into the shown picture at the pointer instead ([`CursorOverlay`]). The title
//! follows the desktop's name.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minifb::{InputCallback, Key, MouseButton, MouseMode, Window, WindowOptions};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

use crate::cursor_overlay::CursorOverlay;
use crate::listen::Endpoint;
use crate::scancode::xt_scancode;
use crate::session::{self, SharedFrame, UserInput};
use crate::viewer::{ViewerError, ViewerOptions};

/// Options of the windowed viewer.
#[derive(Debug, Clone, Default)]
pub struct WindowedOptions {
    pub view_only: bool,
    pub exit_after: Option<Duration>,
    pub snapshot: Option<PathBuf>,
}

/// Opens a window on the server at `endpoint` and runs until it is closed, the time is up or
/// the connection ends. The window lives on the calling thread; the connection runs on
/// `runtime`.
pub fn run(
    runtime: &Runtime,
    endpoint: Endpoint,
    options: ViewerOptions,
    windowed: WindowedOptions,
) -> Result<(), ViewerError> {
    let display = Arc::new(SharedFrame::default());
    let (input_sender, input_receiver) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = {
        let display = display.clone();
        let input = (!windowed.view_only).then_some(input_receiver);
        runtime.spawn(async move {
            let stop = async {
                let _ = stopped.await;
            };
            session::run(&endpoint, &options, input, Some(display), stop).await
        })
    };
    let started = Instant::now();
    let mut shown: Option<ShownWindow> = None;
    let mut shown_generation = 0;
    let mut overlay = CursorOverlay::default();
    let mut remote_pointer = RemotePointer::default();
    loop {
        if task.is_finished()
            || windowed
                .exit_after
                .is_some_and(|limit| started.elapsed() >= limit)
        {
            break;
        }
        let local_pointer = shown.as_ref().and_then(ShownWindow::pointer_inside);
        {
            let state = display.lock();
            // A pointer the server moved (PointerPos) is drawn where it says until the local
            // mouse moves.
            if state.pointer_position != remote_pointer.told {
                remote_pointer = RemotePointer {
                    told: state.pointer_position,
                    local_then: local_pointer,
                };
            }
            let pointer = match remote_pointer.told {
                Some((x, y)) if local_pointer == remote_pointer.local_then => {
                    Some((i32::from(x), i32::from(y)))
                }
                _ => local_pointer,
            };
            let new_frame = state.generation != shown_generation;
            let mut redraw = false;
            if let Some(framebuffer) = &state.framebuffer {
                let (width, height) = (
                    usize::from(framebuffer.width()),
                    usize::from(framebuffer.height()),
                );
                let cursor = state.cursor.as_ref().filter(|c| !c.is_hidden());
                if new_frame {
                    shown_generation = state.generation;
                    if shown
                        .as_ref()
                        .is_none_or(|s| (s.width, s.height) != (width, height))
                    {
                        shown = ShownWindow::open(&state.name, width, height, &input_sender).ok();
                    }
                    if let Some(window) = &mut shown {
                        window.follow(&state.name, state.cursor.is_some());
                    }
                    overlay.refresh(framebuffer, cursor, pointer);
                    redraw = true;
                } else {
                    redraw = overlay.move_cursor(framebuffer, cursor, pointer);
                }
                if let Some(window) = shown.as_mut().filter(|_| redraw) {
                    // Mismatched sizes cannot happen here; a failed redraw shows next time.
                    let _ = window
                        .window
                        .update_with_buffer(overlay.pixels(), width, height);
                }
            }
            if let Some(window) = shown.as_mut().filter(|_| !redraw) {
                window.window.update();
            }
        }
        if let Some(window) = &mut shown {
            if !window.window.is_open() {
                break;
            }
            if !windowed.view_only {
                window.send_pointer(&input_sender);
            }
        }
        std::thread::sleep(Duration::from_millis(8));
    }
    let _ = stop.send(());
    let end = runtime
        .block_on(task)
        .map_err(|join| ViewerError::Io(std::io::Error::other(join.to_string())))??;
    session::write_snapshot(&end, windowed.snapshot.as_ref())
}

/// The pointer position the server last sent, and where the local mouse was then.
#[derive(Debug, Default)]
struct RemotePointer {
    told: Option<(u16, u16)>,
    local_then: Option<(i32, i32)>,
}

struct ShownWindow {
    window: Window,
    width: usize,
    height: usize,
    last_pointer: (u8, u16, u16),
    /// The desktop name in the title.
    title_name: String,
    /// Whether the system pointer shows over the window (not once the server sent a shape).
    system_pointer: bool,
}

impl ShownWindow {
    fn open(
        name: &str,
        width: usize,
        height: usize,
        input: &mpsc::UnboundedSender<UserInput>,
    ) -> Result<ShownWindow, minifb::Error> {
        let mut window = Window::new(
            &format!("farview: {name}"),
            width,
            height,
            WindowOptions::default(),
        )?;
        window.set_input_callback(Box::new(KeyboardInput {
            sender: input.clone(),
            control: false,
            alt: false,
            chord_keys: Vec::new(),
        }));
        window.set_cursor_visibility(true);
        Ok(ShownWindow {
            window,
            width,
            height,
            last_pointer: (0, 0, 0),
            title_name: name.to_string(),
            system_pointer: true,
        })
    }

    /// Keeps the title on the desktop's name, and the system pointer hidden once the server
    /// has sent a cursor shape of its own (which the picture then carries).
    fn follow(&mut self, name: &str, server_cursor: bool) {
        if self.title_name != name {
            self.window.set_title(&format!("farview: {name}"));
            self.title_name = name.to_string();
        }
        if self.system_pointer == server_cursor {
            self.system_pointer = !server_cursor;
            self.window.set_cursor_visibility(self.system_pointer);
        }
    }

    /// The pointer's position over the picture, if it is over the window.
    fn pointer_inside(&self) -> Option<(i32, i32)> {
        let (x, y) = self.window.get_mouse_pos(MouseMode::Discard)?;
        Some((x.floor() as i32, y.floor() as i32))
    }

    /// Sends pointer motion, buttons and wheel notches (buttons 4 and 5, pressed and released).
    fn send_pointer(&mut self, input: &mpsc::UnboundedSender<UserInput>) {
        let Some((x, y)) = self.window.get_mouse_pos(MouseMode::Clamp) else {
            return;
        };
        let (x, y) = (x.max(0.0) as u16, y.max(0.0) as u16);
        let mut buttons = 0u8;
        for (bit, button) in [
            (0, MouseButton::Left),
            (1, MouseButton::Middle),
            (2, MouseButton::Right),
        ] {
            if self.window.get_mouse_down(button) {
                buttons |= 1 << bit;
            }
        }
        if (buttons, x, y) != self.last_pointer {
            self.last_pointer = (buttons, x, y);
            let _ = input.send(UserInput::Pointer { buttons, x, y });
        }
        if let Some((_, scroll)) = self.window.get_scroll_wheel()
            && scroll != 0.0
        {
            let wheel = if scroll > 0.0 { 1 << 3 } else { 1 << 4 };
            let _ = input.send(UserInput::Pointer {
                buttons: buttons | wheel,
                x,
                y,
            });
            let _ = input.send(UserInput::Pointer { buttons, x, y });
        }
    }
}

/// Turns minifb's key callbacks into keysym events.
struct KeyboardInput {
    sender: mpsc::UnboundedSender<UserInput>,
    control: bool,
    alt: bool,
    /// Character keys pressed as part of a Ctrl or Alt chord, to release them in kind.
    chord_keys: Vec<Key>,
}

impl KeyboardInput {
    /// Sends a key; `key` is the physical key, if known (typed characters come without).
    fn send(&self, down: bool, keysym: u32, key: Option<Key>) {
        let scancode = key.and_then(xt_scancode);
        let _ = self.sender.send(UserInput::Key {
            down,
            keysym,
            scancode,
        });
    }
}

impl InputCallback for KeyboardInput {
    fn add_char(&mut self, character: u32) {
        // With Control or Alt held the key goes by its unshifted keysym from set_key_state.
        if self.control || self.alt || character < 0x20 || character == 0x7f {
            return;
        }
        let keysym = char_keysym(character);
        self.send(true, keysym, None);
        self.send(false, keysym, None);
    }

    fn set_key_state(&mut self, key: Key, down: bool) {
        match key {
            Key::LeftCtrl | Key::RightCtrl => self.control = down,
            Key::LeftAlt | Key::RightAlt => self.alt = down,
            _ => {}
        }
        if let Some(keysym) = special_keysym(key) {
            self.send(down, keysym, Some(key));
            return;
        }
        let Some(keysym) = plain_keysym(key) else {
            return;
        };
        if down && (self.control || self.alt) {
            self.chord_keys.push(key);
            self.send(true, keysym, Some(key));
        } else if !down && let Some(at) = self.chord_keys.iter().position(|&k| k == key) {
            self.chord_keys.swap_remove(at);
            self.send(false, keysym, Some(key));
        }
    }
}

/// The keysym of a typed character: Latin-1 is itself, the rest of Unicode is 0x01000000+.
pub fn char_keysym(character: u32) -> u32 {
    if (0x20..0x7f).contains(&character) || (0xa0..=0xff).contains(&character) {
        character
    } else {
        0x0100_0000 | character
    }
}

/// Keysyms of keys that type no character.
pub fn special_keysym(key: Key) -> Option<u32> {
    Some(match key {
        Key::Backspace => 0xff08,
        Key::Tab => 0xff09,
        Key::Enter => 0xff0d,
        Key::Pause => 0xff13,
        Key::ScrollLock => 0xff14,
        Key::Escape => 0xff1b,
        Key::Home => 0xff50,
        Key::Left => 0xff51,
        Key::Up => 0xff52,
        Key::Right => 0xff53,
        Key::Down => 0xff54,
        Key::PageUp => 0xff55,
        Key::PageDown => 0xff56,
        Key::End => 0xff57,
        Key::Insert => 0xff63,
        Key::Menu => 0xff67,
        Key::NumLock => 0xff7f,
        Key::NumPadEnter => 0xff8d,
        Key::F1 => 0xffbe,
        Key::F2 => 0xffbf,
        Key::F3 => 0xffc0,
        Key::F4 => 0xffc1,
        Key::F5 => 0xffc2,
        Key::F6 => 0xffc3,
        Key::F7 => 0xffc4,
        Key::F8 => 0xffc5,
        Key::F9 => 0xffc6,
        Key::F10 => 0xffc7,
        Key::F11 => 0xffc8,
        Key::F12 => 0xffc9,
        Key::F13 => 0xffca,
        Key::F14 => 0xffcb,
        Key::F15 => 0xffcc,
        Key::LeftShift => 0xffe1,
        Key::RightShift => 0xffe2,
        Key::LeftCtrl => 0xffe3,
        Key::RightCtrl => 0xffe4,
        Key::CapsLock => 0xffe5,
        Key::LeftAlt => 0xffe9,
        Key::RightAlt => 0xffea,
        Key::LeftSuper => 0xffeb,
        Key::RightSuper => 0xffec,
        Key::Delete => 0xffff,
        _ => return None,
    })
}

/// The unshifted keysym of a character key (US layout), for Ctrl and Alt chords.
pub fn plain_keysym(key: Key) -> Option<u32> {
    let index = key as u32;
    Some(match key {
        Key::Key0
        | Key::Key1
        | Key::Key2
        | Key::Key3
        | Key::Key4
        | Key::Key5
        | Key::Key6
        | Key::Key7
        | Key::Key8
        | Key::Key9 => u32::from(b'0') + index,
        _ if (Key::A as u32..=Key::Z as u32).contains(&index) => {
            u32::from(b'a') + index - Key::A as u32
        }
        Key::Space => u32::from(b' '),
        Key::Apostrophe => u32::from(b'\''),
        Key::Backquote => u32::from(b'`'),
        Key::Backslash => u32::from(b'\\'),
        Key::Comma => u32::from(b','),
        Key::Equal => u32::from(b'='),
        Key::LeftBracket => u32::from(b'['),
        Key::Minus => u32::from(b'-'),
        Key::Period => u32::from(b'.'),
        Key::RightBracket => u32::from(b']'),
        Key::Semicolon => u32::from(b';'),
        Key::Slash => u32::from(b'/'),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keysyms() {
        assert_eq!(char_keysym('a' as u32), 0x61);
        assert_eq!(char_keysym('é' as u32), 0xe9);
        assert_eq!(char_keysym('€' as u32), 0x0100_20ac);
        assert_eq!(special_keysym(Key::Enter), Some(0xff0d));
        assert_eq!(special_keysym(Key::A), None);
        assert_eq!(plain_keysym(Key::C), Some(u32::from(b'c')));
        assert_eq!(plain_keysym(Key::Key7), Some(u32::from(b'7')));
        assert_eq!(plain_keysym(Key::F1), None);
    }
}
