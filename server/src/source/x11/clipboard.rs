//! The clipboard between X and viewers (ServerCutText / ClientCutText, RFC 6143 §7.5.6 and
//! §7.6.4): X's CLIPBOARD and PRIMARY selections both ways.
//!
//! X to viewers: XFIXES tells us when a selection changes owner; we convert it to text
//! (UTF8_STRING, or STRING if the owner offers only that) into a property of our own window
//! and hand the text to the desktop. Viewers to X: we take ownership of both selections and
//! answer other clients' requests from the text the viewer sent. Our own ownership changes
//! are ignored, so text never bounces back. Text stays UTF-8 all the way to viewers that take
//! Extended Clipboard; the core protocol's Latin-1 is made by the connection for the others.

use x11rb::connection::Connection;
use x11rb::protocol::xfixes::{self, ConnectionExt as _, SelectionEventMask};
use x11rb::protocol::xproto::{
    self, Atom, AtomEnum, ConnectionExt as _, CreateWindowAux, EventMask, PropMode,
    SelectionNotifyEvent, SelectionRequestEvent, WindowClass,
};
use x11rb::rust_connection::RustConnection;
use x11rb::wrapper::ConnectionExt as _;

use super::XError;

/// The longest text taken from X, in bytes; a larger selection is left out with a note.
pub const MAX_CLIPBOARD: u32 = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct Atoms {
    clipboard: Atom,
    targets: Atom,
    utf8_string: Atom,
    text: Atom,
    incr: Atom,
    clipboard_property: Atom,
    primary_property: Atom,
}

#[derive(Debug)]
pub struct Clipboard {
    window: xproto::Window,
    atoms: Atoms,
    /// The text a viewer gave us, which we serve while we own the selections.
    owned: Option<String>,
    /// The text last handed to viewers, so the same text from both selections goes once.
    last_sent: String,
}

fn intern(connection: &RustConnection, name: &str) -> Result<Atom, XError> {
    Ok(connection
        .intern_atom(false, name.as_bytes())?
        .reply()?
        .atom)
}

impl Clipboard {
    /// Creates our (never mapped) selection window and watches both selections; `Ok(None)`
    /// without XFIXES.
    pub fn new(
        connection: &RustConnection,
        screen: &xproto::Screen,
        xfixes_present: bool,
    ) -> Result<Option<Clipboard>, XError> {
        if !xfixes_present {
            return Ok(None);
        }
        let window = connection.generate_id()?;
        connection.create_window(
            0,
            window,
            screen.root,
            -1,
            -1,
            1,
            1,
            0,
            WindowClass::INPUT_ONLY,
            x11rb::COPY_FROM_PARENT,
            &CreateWindowAux::new().event_mask(EventMask::PROPERTY_CHANGE),
        )?;
        let atoms = Atoms {
            clipboard: intern(connection, "CLIPBOARD")?,
            targets: intern(connection, "TARGETS")?,
            utf8_string: intern(connection, "UTF8_STRING")?,
            text: intern(connection, "TEXT")?,
            incr: intern(connection, "INCR")?,
            clipboard_property: intern(connection, "FARVIEW_CLIPBOARD")?,
            primary_property: intern(connection, "FARVIEW_PRIMARY")?,
        };
        let mask = SelectionEventMask::SET_SELECTION_OWNER;
        for selection in [atoms.clipboard, AtomEnum::PRIMARY.into()] {
            connection.xfixes_select_selection_input(window, selection, mask)?;
        }
        Ok(Some(Clipboard {
            window,
            atoms,
            owned: None,
            last_sent: String::new(),
        }))
    }

    fn property_for(&self, selection: Atom) -> Atom {
        if selection == self.atoms.clipboard {
            self.atoms.clipboard_property
        } else {
            self.atoms.primary_property
        }
    }

    /// A selection changed owner: ask the new owner for its text.
    pub fn owner_changed(
        &mut self,
        connection: &RustConnection,
        event: &xfixes::SelectionNotifyEvent,
    ) -> Result<(), XError> {
        if event.owner == self.window || event.owner == x11rb::NONE {
            return Ok(());
        }
        // Someone else owns it now: what we held is no longer the clipboard.
        if event.selection == self.atoms.clipboard {
            self.owned = None;
        }
        connection.convert_selection(
            self.window,
            event.selection,
            self.atoms.utf8_string,
            self.property_for(event.selection),
            x11rb::CURRENT_TIME,
        )?;
        Ok(())
    }

    /// The owner answered a conversion: the text, if it is new.
    pub fn converted(
        &mut self,
        connection: &RustConnection,
        event: &SelectionNotifyEvent,
    ) -> Result<Option<String>, XError> {
        if event.requestor != self.window {
            return Ok(None);
        }
        if event.property == x11rb::NONE {
            // No UTF-8 from this owner: try Latin-1 once.
            if event.target == self.atoms.utf8_string {
                connection.convert_selection(
                    self.window,
                    event.selection,
                    AtomEnum::STRING.into(),
                    self.property_for(event.selection),
                    x11rb::CURRENT_TIME,
                )?;
            }
            return Ok(None);
        }
        let reply = connection
            .get_property(
                true,
                self.window,
                event.property,
                AtomEnum::ANY,
                0,
                MAX_CLIPBOARD / 4,
            )?
            .reply()?;
        if reply.type_ == x11rb::NONE {
            // Already read: two conversions (at start, and on a change) raced for it.
            return Ok(None);
        }
        if reply.type_ == self.atoms.incr || reply.bytes_after > 0 {
            tracing::info!("X clipboard too large for viewers (over {MAX_CLIPBOARD} bytes)");
            return Ok(None);
        }
        let text = if reply.type_ == u32::from(AtomEnum::STRING) {
            reply.value.iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(&reply.value).into_owned()
        };
        if text.is_empty() || text == self.last_sent {
            return Ok(None);
        }
        self.last_sent.clone_from(&text);
        Ok(Some(text))
    }

    /// A viewer sent text: own both selections and serve it.
    pub fn set_from_viewer(
        &mut self,
        connection: &RustConnection,
        text: String,
    ) -> Result<(), XError> {
        for selection in [self.atoms.clipboard, AtomEnum::PRIMARY.into()] {
            connection.set_selection_owner(self.window, selection, x11rb::CURRENT_TIME)?;
        }
        self.last_sent.clone_from(&text);
        self.owned = Some(text);
        Ok(())
    }

    /// Another client asks for the text we own.
    pub fn requested(
        &self,
        connection: &RustConnection,
        request: &SelectionRequestEvent,
    ) -> Result<(), XError> {
        let property = if request.property == x11rb::NONE {
            request.target
        } else {
            request.property
        };
        let atoms = &self.atoms;
        let answered = match &self.owned {
            Some(_) if request.owner != self.window => false,
            None => false,
            Some(text) => {
                if request.target == atoms.targets {
                    let targets = [
                        atoms.targets,
                        atoms.utf8_string,
                        AtomEnum::STRING.into(),
                        atoms.text,
                    ];
                    connection.change_property32(
                        PropMode::REPLACE,
                        request.requestor,
                        property,
                        AtomEnum::ATOM,
                        &targets,
                    )?;
                    true
                } else if request.target == atoms.utf8_string || request.target == atoms.text {
                    connection.change_property8(
                        PropMode::REPLACE,
                        request.requestor,
                        property,
                        atoms.utf8_string,
                        text.as_bytes(),
                    )?;
                    true
                } else if request.target == u32::from(AtomEnum::STRING) {
                    let latin1: Vec<u8> = text
                        .chars()
                        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
                        .collect();
                    connection.change_property8(
                        PropMode::REPLACE,
                        request.requestor,
                        property,
                        AtomEnum::STRING,
                        &latin1,
                    )?;
                    true
                } else {
                    false
                }
            }
        };
        let notify = SelectionNotifyEvent {
            response_type: xproto::SELECTION_NOTIFY_EVENT,
            sequence: 0,
            time: request.time,
            requestor: request.requestor,
            selection: request.selection,
            target: request.target,
            property: if answered { property } else { x11rb::NONE },
        };
        connection.send_event(false, request.requestor, EventMask::NO_EVENT, notify)?;
        connection.flush()?;
        Ok(())
    }

    pub fn close(&self, connection: &RustConnection) {
        let _ = connection.destroy_window(self.window);
    }
}
