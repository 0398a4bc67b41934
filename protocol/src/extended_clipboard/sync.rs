//! One side's part in an Extended Clipboard conversation, the same for server and viewer:
//! what the peer takes (its *caps*, or the spec's defaults until it sends some), and our own
//! clipboard, served when the peer asks for it.
//!
//! We take and offer plain text only, with every action. Both farview ends keep the peer's
//! clipboard as text at once, so a *notify* from the peer is answered with a *request*.

use super::{ClipboardMessage, flags, text_to_wire};

/// The formats we take: text only.
pub const OUR_FORMATS: u32 = flags::TEXT;
/// The actions we take.
pub const OUR_ACTIONS: u32 = flags::REQUEST | flags::PEEK | flags::NOTIFY | flags::PROVIDE;
/// The largest text we take unasked (our *caps*); larger text comes on request.
pub const MAX_UNASKED_TEXT: u32 = 8 * 1024 * 1024;
/// What a peer that sent no *caps* is assumed to take (the spec's defaults).
const DEFAULT_PEER_FLAGS: u32 =
    flags::TEXT | flags::RTF | flags::HTML | flags::REQUEST | flags::NOTIFY | flags::PROVIDE;
/// The largest text a peer that sent no *caps* is assumed to take unasked.
const DEFAULT_PEER_TEXT_LIMIT: usize = 20 * 1024 * 1024;

/// What handling a peer's message gave.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Handled {
    /// To send back.
    pub reply: Option<ClipboardMessage>,
    /// The peer's clipboard text, when it provided some.
    pub text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ClipboardSync {
    peer_flags: u32,
    peer_text_limit: usize,
    /// Our clipboard, once we have had one.
    local: Option<String>,
    /// Whether a peer's *caps* is answered with ours (the viewer's part).
    answer_caps: bool,
}

impl ClipboardSync {
    /// The server's side: it sends its caps first, on each SetEncodings.
    pub fn for_server() -> Self {
        Self::new(false)
    }

    /// The viewer's side: it answers the server's caps with its own.
    pub fn for_viewer() -> Self {
        Self::new(true)
    }

    fn new(answer_caps: bool) -> Self {
        Self {
            peer_flags: DEFAULT_PEER_FLAGS,
            peer_text_limit: DEFAULT_PEER_TEXT_LIMIT,
            local: None,
            answer_caps,
        }
    }

    /// Our *caps*: text, every action, and text up to [`MAX_UNASKED_TEXT`] sent unasked.
    pub fn caps() -> ClipboardMessage {
        ClipboardMessage::Caps {
            flags: OUR_FORMATS | OUR_ACTIONS,
            max_sizes: vec![MAX_UNASKED_TEXT],
        }
    }

    fn peer_takes(&self, bits: u32) -> bool {
        self.peer_flags & bits == bits
    }

    /// Our clipboard changed to `text`: the message that tells the peer, if it takes one. The
    /// text itself goes when the peer takes it unasked, else a *notify* that it is there.
    pub fn announce(&mut self, text: &str) -> Option<ClipboardMessage> {
        self.local = Some(text.to_string());
        if !self.peer_takes(flags::TEXT) {
            return None;
        }
        let size = text_to_wire(text).len();
        if self.peer_takes(flags::PROVIDE) && size <= self.peer_text_limit {
            Some(ClipboardMessage::provide_text(text))
        } else if self.peer_takes(flags::NOTIFY) {
            Some(ClipboardMessage::Notify {
                formats: flags::TEXT,
            })
        } else {
            None
        }
    }

    /// Handles a message from the peer.
    pub fn handle(&mut self, message: ClipboardMessage) -> Handled {
        let mut handled = Handled::default();
        match message {
            ClipboardMessage::Caps { flags, max_sizes } => {
                self.peer_flags = flags;
                // The first size is that of the lowest format flagged: text's, if flagged.
                self.peer_text_limit = match max_sizes.first() {
                    Some(&size) if flags & flags::TEXT != 0 => size as usize,
                    _ => 0,
                };
                if self.answer_caps {
                    handled.reply = Some(Self::caps());
                }
            }
            ClipboardMessage::Request { formats } => {
                if formats & flags::TEXT != 0 && self.peer_takes(flags::PROVIDE) {
                    handled.reply = Some(match &self.local {
                        Some(text) => ClipboardMessage::provide_text(text),
                        None => ClipboardMessage::Provide { data: Vec::new() },
                    });
                }
            }
            ClipboardMessage::Peek => {
                if self.peer_takes(flags::NOTIFY) {
                    let formats = if self.local.is_some() { flags::TEXT } else { 0 };
                    handled.reply = Some(ClipboardMessage::Notify { formats });
                }
            }
            ClipboardMessage::Notify { formats } => {
                if formats & flags::TEXT != 0 && self.peer_takes(flags::REQUEST) {
                    handled.reply = Some(ClipboardMessage::Request {
                        formats: flags::TEXT,
                    });
                }
            }
            provide @ ClipboardMessage::Provide { .. } => handled.text = provide.provided_text(),
        }
        handled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passes messages between two sides until neither has anything to say; returns the
    /// texts each received.
    fn converse(
        server: &mut ClipboardSync,
        viewer: &mut ClipboardSync,
        first_to_viewer: Option<ClipboardMessage>,
        first_to_server: Option<ClipboardMessage>,
    ) -> (Vec<String>, Vec<String>) {
        let (mut to_viewer, mut to_server) = (first_to_viewer, first_to_server);
        let (mut server_got, mut viewer_got) = (Vec::new(), Vec::new());
        for _ in 0..10 {
            if to_viewer.is_none() && to_server.is_none() {
                break;
            }
            let from_viewer = to_viewer.take().map(|m| viewer.handle(m));
            let from_server = to_server.take().map(|m| server.handle(m));
            if let Some(handled) = from_viewer {
                viewer_got.extend(handled.text);
                to_server = handled.reply;
            }
            if let Some(handled) = from_server {
                server_got.extend(handled.text);
                to_viewer = handled.reply;
            }
        }
        (server_got, viewer_got)
    }

    #[test]
    fn small_text_goes_at_once_large_text_on_request() {
        let (mut server, mut viewer) = (ClipboardSync::for_server(), ClipboardSync::for_viewer());
        converse(&mut server, &mut viewer, Some(ClipboardSync::caps()), None);
        let text = "héllo ✓ 日本";
        let announced = server.announce(text);
        assert_eq!(announced, Some(ClipboardMessage::provide_text(text)));
        let (_, viewer_got) = converse(&mut server, &mut viewer, announced, None);
        assert_eq!(viewer_got, [text]);

        // A peer that wants nothing unasked gets a notify, asks, and is given the text.
        let mut stingy = ClipboardSync::for_viewer();
        stingy.handle(ClipboardMessage::Caps {
            flags: flags::TEXT | OUR_ACTIONS,
            max_sizes: vec![0],
        });
        server.handle(ClipboardMessage::Caps {
            flags: flags::TEXT | OUR_ACTIONS,
            max_sizes: vec![0],
        });
        let announced = server.announce(text);
        assert_eq!(
            announced,
            Some(ClipboardMessage::Notify {
                formats: flags::TEXT
            })
        );
        let (_, viewer_got) = converse(&mut server, &mut stingy, announced, None);
        assert_eq!(viewer_got, [text]);
    }

    #[test]
    fn peek_and_request_without_a_clipboard() {
        let mut side = ClipboardSync::for_server();
        assert_eq!(
            side.handle(ClipboardMessage::Peek).reply,
            Some(ClipboardMessage::Notify { formats: 0 })
        );
        assert_eq!(
            side.handle(ClipboardMessage::Request {
                formats: flags::TEXT
            })
            .reply,
            Some(ClipboardMessage::Provide { data: Vec::new() })
        );
        // Formats we do not take are not asked for.
        assert_eq!(
            side.handle(ClipboardMessage::Notify {
                formats: flags::HTML
            })
            .reply,
            None
        );
    }

    #[test]
    fn a_peer_without_text_is_told_nothing() {
        let mut side = ClipboardSync::for_server();
        side.handle(ClipboardMessage::Caps {
            flags: flags::HTML | flags::PROVIDE,
            max_sizes: vec![100],
        });
        assert_eq!(side.announce("x"), None);
    }
}
