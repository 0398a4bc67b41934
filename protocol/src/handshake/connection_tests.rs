//! Server and client connections talking to each other in memory, whole and byte by byte.

use super::ProtocolVersion;
use super::client::{ClientConfig, ClientConnection, ClientEvent};
use super::server::{ServerConfig, ServerConnection, ServerEvent};
use crate::encode::{CopyOperation, Update};
use crate::error::ProtocolError;
use crate::framebuffer::{Framebuffer, Rect};
use crate::messages::{ClientMessage, EncodingType, Fence, FenceFlags, ServerMessage};
use crate::pixel::PixelFormat;

const CHALLENGE: [u8; 16] = *b"challenge-bytes!";

fn server(password: Option<&str>) -> ServerConnection {
    ServerConnection::new(ServerConfig::new(
        password.map(|p| p.as_bytes().to_vec()),
        CHALLENGE,
    ))
}

fn client(password: Option<&str>) -> ClientConnection {
    ClientConnection::new(ClientConfig {
        password: password.map(|p| p.as_bytes().to_vec()),
        ..ClientConfig::default()
    })
}

/// Feeds `bytes` to a consumer in pieces of `chunk` bytes, keeping unconsumed input as a
/// socket reader would.
fn feed(
    pending: &mut Vec<u8>,
    bytes: Vec<u8>,
    chunk: usize,
    mut consume: impl FnMut(&[u8]) -> Result<usize, ProtocolError>,
) -> Result<(), ProtocolError> {
    for piece in bytes.chunks(chunk.max(1)) {
        pending.extend_from_slice(piece);
        let n = consume(pending)?;
        pending.drain(..n);
    }
    Ok(())
}

/// The only X509Plain user the pair's server knows.
pub(super) const PLAIN_USER: (&str, &[u8]) = ("ada", b"secret");

pub(super) struct Pair {
    pub(super) server: ServerConnection,
    pub(super) client: ClientConnection,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    chunk: usize,
    seen_by_server: Vec<ServerEvent>,
}

impl Pair {
    pub(super) fn new(server: ServerConnection, client: ClientConnection, chunk: usize) -> Self {
        Self {
            server,
            client,
            to_server: Vec::new(),
            to_client: Vec::new(),
            chunk,
            seen_by_server: Vec::new(),
        }
    }

    /// Moves bytes both ways until neither side has anything to say. TLS is taken as started
    /// as soon as either side asks for it; the server knows one Plain user, [`PLAIN_USER`].
    pub(super) fn pump(&mut self) -> Result<(), ProtocolError> {
        loop {
            let for_client = self.server.take_output();
            let for_server = self.client.take_output();
            if for_client.is_empty() && for_server.is_empty() {
                return Ok(());
            }
            let (client, server) = (&mut self.client, &mut self.server);
            feed(&mut self.to_client, for_client, self.chunk, |b| {
                client.handle_input(b)
            })?;
            // What came after the ack stays unconsumed until TLS is up; in memory, TLS is
            // up at once, and those bytes are the first ones through it.
            if self.client.is_awaiting_tls() {
                self.client.tls_started();
                let used = self.client.handle_input(&self.to_client)?;
                self.to_client.drain(..used);
            }
            let result = feed(&mut self.to_server, for_server, self.chunk, |b| {
                server.handle_input(b)
            });
            while let Some(event) = self.server.poll_event() {
                match &event {
                    ServerEvent::ClientInit { .. } => {
                        self.server.send_server_init(64, 48, "test desktop");
                    }
                    ServerEvent::StartTls(_) => self.server.tls_started(),
                    ServerEvent::CheckCredentials(credentials) => {
                        self.server.credentials_checked(
                            (
                                credentials.username.as_str(),
                                credentials.password.as_slice(),
                            ) == PLAIN_USER,
                        );
                    }
                    _ => {}
                }
                self.seen_by_server.push(event);
            }
            result?;
        }
    }

    pub(super) fn server_events(&mut self) -> Vec<ServerEvent> {
        std::mem::take(&mut self.seen_by_server)
    }

    pub(super) fn client_events(&mut self) -> Vec<ClientEvent> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }
}

fn test_picture(width: u16, height: u16) -> Framebuffer {
    let pixels = (0..u32::from(width) * u32::from(height))
        .map(|i| i.wrapping_mul(0x0101_0b07) & 0x00ff_ffff)
        .collect();
    Framebuffer::from_pixels(width, height, pixels).unwrap()
}

/// Moves the block at the top left of `picture` down to `destination` and fills `filled`,
/// returning the update that says so.
fn move_and_fill(picture: &mut Framebuffer, destination: Rect, filled: Rect) -> Update {
    picture.copy_rect(&destination, 0, 0);
    picture.fill_rect(&filled, 0x00abcdef);
    Update {
        copies: vec![CopyOperation {
            destination,
            source_x: 0,
            source_y: 0,
        }],
        changed: vec![filled],
        ..Update::default()
    }
}

/// Runs a whole session (handshake, input, updates of every kind) and returns what each
/// side saw, so that different splits can be compared.
fn whole_session(chunk: usize) -> (Vec<ClientEvent>, Vec<ServerEvent>, Framebuffer) {
    let mut pair = Pair::new(server(Some("secret")), client(Some("secret")), chunk);
    pair.pump().unwrap();
    let mut client_events = pair.client_events();
    assert!(matches!(
        client_events[0],
        ClientEvent::Connected {
            width: 64,
            height: 48,
            ..
        }
    ));

    pair.client.request_update(false, None);
    pair.client.key_event(true, 0x61, None);
    pair.client.pointer_event(1, 10, 20);
    pair.client.cut_text("héllo");
    pair.pump().unwrap();
    let server_events = pair.server_events();

    let mut picture = test_picture(64, 48);
    let full = Update {
        changed: vec![picture.bounds()],
        ..Update::default()
    };
    pair.server.send_update(&picture, &full);
    let moved = move_and_fill(
        &mut picture,
        Rect::new(0, 10, 64, 30),
        Rect::new(5, 5, 7, 3),
    );
    pair.server.send_update(&picture, &moved);
    picture.resize(80, 60);
    let resized = Update {
        new_size: Some((80, 60)),
        changed: vec![picture.bounds()],
        ..Update::default()
    };
    pair.server.send_update(&picture, &resized);
    pair.server.send_bell();
    pair.server.send_cut_text("from the server");
    pair.pump().unwrap();
    client_events.extend(pair.client_events());
    assert_eq!(pair.client.framebuffer(), &picture, "chunk {chunk}");
    (
        client_events,
        server_events,
        pair.client.framebuffer().clone(),
    )
}

#[test]
fn a_session_gives_the_same_events_whatever_the_split() {
    let whole = whole_session(usize::MAX);
    for chunk in [1, 2, 3, 7, 13, 1000] {
        assert_eq!(whole_session(chunk), whole, "chunk size {chunk}");
    }
    let (client_events, server_events, _) = whole;
    assert!(server_events.contains(&ServerEvent::Key {
        down: true,
        keysym: 0x61,
        scancode: None,
    }));
    assert!(server_events.contains(&ServerEvent::Pointer {
        buttons: 1,
        x: 10,
        y: 20
    }));
    assert!(server_events.contains(&ServerEvent::CutText("héllo".into())));
    assert!(client_events.contains(&ClientEvent::Resized {
        width: 80,
        height: 60
    }));
    assert!(client_events.contains(&ClientEvent::Bell));
    assert!(client_events.contains(&ClientEvent::CutText("from the server".into())));
    let updates = client_events
        .iter()
        .filter(|e| matches!(e, ClientEvent::UpdateComplete { .. }))
        .count();
    assert_eq!(updates, 3);
}

#[test]
fn wrong_password_is_refused_with_the_reason() {
    let mut pair = Pair::new(server(Some("secret")), client(Some("wrong")), 5);
    let error = pair.pump().unwrap_err();
    assert_eq!(
        error,
        ProtocolError::AuthenticationFailed("authentication failed: wrong password".into())
    );
    assert!(pair.server.is_closed());
    assert!(matches!(
        pair.server_events()[..],
        [ServerEvent::AuthenticationFailed { .. }]
    ));
}

#[test]
fn missing_password_is_a_clear_error() {
    let mut pair = Pair::new(server(Some("secret")), client(None), 64);
    assert_eq!(pair.pump().unwrap_err(), ProtocolError::PasswordRequired);
}

/// Plays a scripted viewer of an older protocol version against our server.
fn old_viewer(version: &[u8; 12], password: Option<&str>) -> Vec<u8> {
    let mut server = server(password);
    let mut sent = server.take_output();
    assert_eq!(&sent, b"RFB 003.008\n");
    server.handle_input(version).unwrap();
    sent = server.take_output();
    sent
}

#[test]
fn version_3_3_gets_the_security_type_as_a_word() {
    assert_eq!(old_viewer(b"RFB 003.003\n", None), [0, 0, 0, 1]);
    assert_eq!(old_viewer(b"RFB 003.005\n", None), [0, 0, 0, 1]);
    let with_auth = old_viewer(b"RFB 003.003\n", Some("pw"));
    assert_eq!(&with_auth[..4], &[0, 0, 0, 2]);
    assert_eq!(&with_auth[4..], &CHALLENGE);
}

#[test]
fn version_3_7_gets_a_list_and_no_result_for_none() {
    let mut server = server(None);
    server.take_output();
    server.handle_input(b"RFB 003.007\n").unwrap();
    assert_eq!(server.take_output(), [1, 1]);
    server.handle_input(&[1]).unwrap();
    assert!(
        server.take_output().is_empty(),
        "3.7 sends no SecurityResult for None"
    );
    server.handle_input(&[1]).unwrap();
    assert_eq!(
        server.poll_event(),
        Some(ServerEvent::ClientInit { shared: true })
    );
}

#[test]
fn clients_of_every_version_connect() {
    for (server_version, expected) in [
        (&b"RFB 003.003\n", ProtocolVersion::V3_3),
        (&b"RFB 003.007\n", ProtocolVersion::V3_7),
        (&b"RFB 003.008\n", ProtocolVersion::V3_8),
    ] {
        // Our client against a server that announces an older version: we follow it.
        let mut client = client(None);
        client.handle_input(server_version.as_slice()).unwrap();
        assert_eq!(&client.take_output(), server_version);
        assert_eq!(client.version(), expected);
        let security: &[u8] = match expected {
            ProtocolVersion::V3_3 => &[0, 0, 0, 1],
            ProtocolVersion::V3_7 => &[1, 1],
            ProtocolVersion::V3_8 => &[1, 1, 0, 0, 0, 0],
        };
        let n = client.handle_input(security).unwrap();
        assert_eq!(n, security.len());
        let mut init = vec![0, 8, 0, 4];
        let mut format = Vec::new();
        PixelFormat::RGB565.write(&mut format);
        init.extend_from_slice(&format);
        init.extend_from_slice(&[0, 0, 0, 1, b'x']);
        client.handle_input(&init).unwrap();
        assert!(matches!(
            client.poll_event(),
            Some(ClientEvent::Connected {
                width: 8,
                height: 4,
                ..
            })
        ));
    }
}

#[test]
fn refused_connection_reason_reaches_the_client() {
    let mut client = client(None);
    client.handle_input(b"RFB 003.008\n").unwrap();
    let mut refusal = vec![0, 0, 0, 0, 9];
    refusal.extend_from_slice(b"go away!!");
    assert_eq!(
        client.handle_input(&refusal).unwrap_err(),
        ProtocolError::ConnectionRefused("go away!!".into())
    );
}

#[test]
fn colour_map_viewers_get_a_map_and_indices() {
    let mut pair = Pair::new(server(None), client(None), 64);
    pair.pump().unwrap();
    let colour_map = PixelFormat {
        true_colour: false,
        ..PixelFormat::BGR233
    };
    let mut message = Vec::new();
    crate::messages::ClientMessage::SetPixelFormat(colour_map).write(&mut message);
    pair.server.handle_input(&message).unwrap();
    let output = pair.server.take_output();
    assert_eq!(output[0], 1, "SetColourMapEntries first");
    assert_eq!(u16::from_be_bytes([output[4], output[5]]), 256);
    assert_eq!(pair.server.pixel_format().bits_per_pixel, 8);
}

#[test]
fn bad_rectangles_are_errors_naming_the_encoding() {
    let mut pair = Pair::new(server(None), client(None), 64);
    pair.pump().unwrap();
    // A Raw rectangle reaching past the 64x48 framebuffer.
    let mut update = vec![0, 0, 0, 1];
    crate::messages::RectangleHeader {
        rect: Rect::new(60, 0, 10, 1),
        encoding: EncodingType::RAW,
    }
    .write(&mut update);
    let error = pair.client.handle_input(&update).unwrap_err();
    assert!(
        error.to_string().starts_with("raw rectangle at 60,0 10x1"),
        "{error}"
    );
    // An encoding we never asked for.
    let mut pair = Pair::new(server(None), client(None), 64);
    pair.pump().unwrap();
    let mut update = vec![0, 0, 0, 1];
    crate::messages::RectangleHeader {
        rect: Rect::new(0, 0, 1, 1),
        encoding: EncodingType(77),
    }
    .write(&mut update);
    let error = pair.client.handle_input(&update).unwrap_err();
    assert!(error.to_string().contains("encoding 77"), "{error}");
}

#[test]
fn arbitrary_bytes_never_panic() {
    // A cheap deterministic sweep here; the fuzz targets under fuzz/ go further.
    let mut seed = 0x1234_5678u32;
    for _ in 0..2000 {
        let len = (seed % 64) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 24) as u8
            })
            .collect();
        let mut pair = Pair::new(server(None), client(None), 64);
        pair.pump().unwrap();
        let _ = pair.client.handle_input(&bytes);
        let _ = pair.server.handle_input(&bytes);
    }
}

#[test]
fn cursors_and_names_reach_the_viewer_in_the_best_encoding_it_accepts() {
    use crate::encodings::cursor::Cursor;
    let red = [255, 0, 0, 255];
    let clear = [0, 0, 0, 0];
    let half_grey = [64, 64, 64, 128];
    let green = [0, 255, 0, 255];
    let cursor = Cursor::new(2, 2, 1, 0, [red, clear, half_grey, green].concat()).unwrap();
    let as_rich = [red, clear, [128, 128, 128, 255], green].concat();
    // Three colours in two: red alone is the dark one, the other two average to the light.
    let light = [64, 192, 64, 255];
    let as_x = [red, clear, light, light].concat();
    for (accepted, chosen, pixels) in [
        (
            vec![
                EncodingType::X_CURSOR,
                EncodingType::CURSOR,
                EncodingType::CURSOR_WITH_ALPHA,
            ],
            EncodingType::CURSOR_WITH_ALPHA,
            cursor.rgba.clone(),
        ),
        (
            vec![EncodingType::X_CURSOR, EncodingType::CURSOR],
            EncodingType::CURSOR,
            as_rich,
        ),
        (vec![EncodingType::X_CURSOR], EncodingType::X_CURSOR, as_x),
    ] {
        for chunk in [1, 3, 1000] {
            let mut encodings = vec![EncodingType::RAW, EncodingType::DESKTOP_NAME];
            encodings.extend(&accepted);
            let client = ClientConnection::new(ClientConfig {
                encodings,
                ..ClientConfig::default()
            });
            let mut pair = Pair::new(server(None), client, chunk);
            assert_eq!(
                pair.server.send_cursor(&cursor),
                Ok(None),
                "not before init"
            );
            pair.pump().unwrap();
            pair.client_events();
            assert_eq!(pair.server.send_cursor(&cursor), Ok(Some(chosen)));
            assert!(pair.server.send_desktop_name("renamed"));
            pair.pump().unwrap();
            let expected = Cursor {
                rgba: pixels.clone(),
                ..cursor.clone()
            };
            assert_eq!(
                pair.client_events(),
                [
                    ClientEvent::Cursor(expected.clone()),
                    ClientEvent::UpdateComplete {
                        bytes: pair_bytes(&cursor, chosen),
                        rectangles: 1
                    },
                    ClientEvent::DesktopName("renamed".into()),
                    ClientEvent::UpdateComplete {
                        bytes: 4 + 12 + 4 + 7,
                        rectangles: 1
                    },
                ],
                "{chosen}, chunk {chunk}"
            );
            assert_eq!(pair.client.cursor(), Some(&expected));
            assert_eq!(pair.client.name(), "renamed");
        }
    }
}

/// The size of a one-rectangle update carrying `cursor` (2x2) in `encoding`, 32-bit pixels.
fn pair_bytes(cursor: &crate::encodings::cursor::Cursor, encoding: EncodingType) -> usize {
    let body = match encoding {
        EncodingType::CURSOR_WITH_ALPHA => 4 + cursor.rgba.len(),
        EncodingType::CURSOR => cursor.area() * 4 + 2,
        _ => 6 + 2 + 2,
    };
    4 + 12 + body
}

#[test]
fn viewers_without_the_pseudo_encodings_get_nothing() {
    let mut pair = Pair::new(server(None), client(None), 64);
    pair.pump().unwrap();
    pair.client_events();
    let cursor = crate::encodings::cursor::Cursor::new(1, 1, 0, 0, vec![9, 9, 9, 9]).unwrap();
    assert!(!pair.server.accepts_cursor());
    assert_eq!(pair.server.send_cursor(&cursor), Ok(None));
    assert!(!pair.server.send_desktop_name("x"));
    assert!(!pair.server.has_output());
}

#[test]
fn an_invalid_cursor_is_an_error_and_writes_nothing() {
    let client = ClientConnection::new(ClientConfig {
        encodings: vec![EncodingType::CURSOR],
        ..ClientConfig::default()
    });
    let mut pair = Pair::new(server(None), client, 64);
    pair.pump().unwrap();
    let bad = crate::encodings::cursor::Cursor {
        width: 3,
        height: 3,
        ..Default::default()
    };
    assert!(pair.server.send_cursor(&bad).is_err());
    assert!(!pair.server.has_output());
}

/// The ExtendedDesktopSize exchange, whole and byte by byte: the server tells the layout, the
/// viewer may then ask for a size, a refusal changes nothing, a success resizes, and the
/// PointerPos pseudo-encoding moves the viewer's pointer.
#[test]
fn desktop_size_requests_and_pointer_positions_go_both_ways() {
    use crate::encodings::extended_desktop_size::{
        DesktopLayout, DesktopSizeChange, ResizeReason, ResizeStatus,
    };
    for chunk in [1, 7, 4096] {
        let viewer = ClientConnection::new(ClientConfig {
            encodings: vec![
                EncodingType::RAW,
                EncodingType::DESKTOP_SIZE,
                EncodingType::EXTENDED_DESKTOP_SIZE,
                EncodingType::POINTER_POS,
            ],
            ..ClientConfig::default()
        });
        let mut pair = Pair::new(server(None), viewer, chunk);
        pair.pump().unwrap();
        pair.client_events();
        pair.server_events();
        // Nothing may be asked before the server has said it takes requests.
        assert!(!pair.client.request_desktop_size(100, 100));
        assert!(pair.server.accepts_extended_desktop_size());
        assert!(pair.server.send_desktop_size_change(&DesktopSizeChange {
            reason: ResizeReason::SERVER,
            status: ResizeStatus::SUCCESS,
            layout: DesktopLayout::single(64, 48),
        }));
        pair.pump().unwrap();
        let events = pair.client_events();
        assert!(
            matches!(&events[..], [
            ClientEvent::DesktopSizeChange(change),
            ClientEvent::UpdateComplete { rectangles: 1, .. },
        ] if change.reason == ResizeReason::SERVER),
            "{events:?}"
        );

        assert!(pair.client.request_desktop_size(100, 90));
        pair.pump().unwrap();
        let asked = DesktopLayout::single(100, 90);
        assert_eq!(
            pair.server_events(),
            vec![ServerEvent::SetDesktopSize(asked.clone())]
        );
        pair.server.send_desktop_size_change(&DesktopSizeChange {
            reason: ResizeReason::THIS_CLIENT,
            status: ResizeStatus::PROHIBITED,
            layout: asked.clone(),
        });
        pair.pump().unwrap();
        assert_eq!(
            (
                pair.client.framebuffer().width(),
                pair.client.framebuffer().height()
            ),
            (64, 48),
            "a refusal changes nothing"
        );
        pair.client_events();
        pair.server.send_desktop_size_change(&DesktopSizeChange {
            reason: ResizeReason::THIS_CLIENT,
            status: ResizeStatus::SUCCESS,
            layout: asked,
        });
        pair.server.send_pointer_position(12, 34);
        pair.pump().unwrap();
        let events = pair.client_events();
        assert!(
            matches!(
                events[0],
                ClientEvent::Resized {
                    width: 100,
                    height: 90
                }
            ),
            "{events:?}"
        );
        assert!(events.contains(&ClientEvent::PointerPosition { x: 12, y: 34 }));
        assert_eq!(pair.client.framebuffer().width(), 100);
        // The new size is not told again as DesktopSize to a viewer of the extended form.
        let picture = test_picture(100, 90);
        pair.server.send_update(
            &picture,
            &Update {
                new_size: Some((100, 90)),
                changed: vec![picture.bounds()],
                ..Update::default()
            },
        );
        pair.pump().unwrap();
        let events = pair.client_events();
        assert!(
            !events
                .iter()
                .any(|e| matches!(e, ClientEvent::Resized { .. }))
        );
        assert_eq!(pair.client.framebuffer(), &picture);
    }
}

/// QEMU Extended Key Events and Extended Clipboard between our two ends, whole and byte by
/// byte: keys with a scancode go as extended events only once acknowledged, and clipboard text
/// beyond Latin-1 survives both ways.
#[test]
fn extended_keys_and_utf8_clipboard_go_both_ways() {
    let text = "héllo ✓ 日本\nzwei";
    for chunk in [1, 5, 4096] {
        let viewer = ClientConnection::new(ClientConfig {
            encodings: vec![
                EncodingType::RAW,
                EncodingType::QEMU_EXTENDED_KEY_EVENT,
                EncodingType::EXTENDED_CLIPBOARD,
            ],
            ..ClientConfig::default()
        });
        let mut pair = Pair::new(server(None), viewer, chunk);
        pair.pump().unwrap();
        pair.client_events();
        pair.server_events();
        pair.client.key_event(true, 0xff52, Some(0xc8));
        assert!(pair.server.send_key_event_acknowledgement());
        assert!(!pair.server.send_key_event_acknowledgement(), "once");
        pair.pump().unwrap();
        assert!(pair.client.takes_extended_key_events());
        pair.client.key_event(false, 0xff52, Some(0xc8));
        pair.client.cut_text(text);
        pair.pump().unwrap();
        assert_eq!(
            pair.server_events(),
            [
                ServerEvent::Key {
                    down: true,
                    keysym: 0xff52,
                    scancode: None
                },
                ServerEvent::Key {
                    down: false,
                    keysym: 0xff52,
                    scancode: Some(0xc8)
                },
                ServerEvent::CutText(text.into()),
            ]
        );
        pair.server.send_cut_text("サーバー");
        pair.pump().unwrap();
        let events = pair.client_events();
        assert!(
            events.contains(&ClientEvent::CutText("サーバー".into())),
            "{events:?}"
        );
    }
}

#[test]
fn view_only_password_is_told_apart() {
    for (password, view_only) in [("full", false), ("watcher", true)] {
        let server = ServerConnection::new(ServerConfig {
            view_only_password: Some(b"watcher".to_vec()),
            ..ServerConfig::new(Some(b"full".to_vec()), CHALLENGE)
        });
        let mut pair = Pair::new(server, client(Some(password)), 4096);
        pair.pump().unwrap();
        assert!(pair.client.is_normal());
        assert_eq!(pair.server.is_view_only(), view_only, "{password}");
    }
    let server = ServerConnection::new(ServerConfig {
        view_only_password: Some(b"watcher".to_vec()),
        ..ServerConfig::new(None, CHALLENGE)
    });
    let mut pair = Pair::new(server, client(Some("guess")), 4096);
    assert!(matches!(
        pair.pump(),
        Err(ProtocolError::AuthenticationFailed(_))
    ));
}

#[test]
fn extended_cut_text_from_a_viewer_that_did_not_list_it_is_an_error() {
    let mut pair = Pair::new(server(None), client(None), 4096);
    pair.pump().unwrap();
    let mut bytes = Vec::new();
    crate::messages::ClientMessage::ExtendedCutText(
        crate::extended_clipboard::ClipboardMessage::Peek,
    )
    .write(&mut bytes);
    let error = pair.server.handle_input(&bytes).unwrap_err();
    assert!(error.to_string().contains("did not list it"), "{error}");
}

/// A viewer that lists ContinuousUpdates and Fence: what each side sees, from the server's
/// announcements to the viewer turning continuous updates off again.
fn continuous_updates_session(chunk: usize) -> (Vec<ClientEvent>, Vec<ServerEvent>) {
    let mut config = ClientConfig::default();
    config
        .encodings
        .extend([EncodingType::CONTINUOUS_UPDATES, EncodingType::FENCE]);
    let mut pair = Pair::new(server(None), ClientConnection::new(config), chunk);
    // Before the server has announced them, the viewer does not ask.
    assert!(!pair.client.enable_continuous_updates(true, None));
    pair.pump().unwrap();
    let mut client_events = pair.client_events();
    assert!(client_events.contains(&ClientEvent::EndOfContinuousUpdates));

    assert!(pair.client.enable_continuous_updates(true, None));
    pair.client.request_update(true, None);
    pair.client
        .request_update(false, Some(Rect::new(0, 0, 8, 8)));
    pair.pump().unwrap();
    let ping = Fence::new(FenceFlags::REQUEST | FenceFlags::BLOCK_BEFORE, b"ping 1").unwrap();
    assert!(pair.server.send_fence(&ping));
    pair.client.enable_continuous_updates(false, None);
    pair.pump().unwrap();
    client_events.extend(pair.client_events());
    (client_events, pair.server_events())
}

#[test]
fn continuous_updates_and_fences_whatever_the_split() {
    let whole = continuous_updates_session(usize::MAX);
    for chunk in [1, 2, 5, 1000] {
        assert_eq!(
            continuous_updates_session(chunk),
            whole,
            "chunk size {chunk}"
        );
    }
    let (client_events, server_events) = whole;
    let requests: Vec<&ServerEvent> = server_events
        .iter()
        .filter(|e| matches!(e, ServerEvent::UpdateRequest { .. }))
        .collect();
    // The incremental request is ignored while continuous updates are on; the full one is not.
    assert_eq!(
        requests,
        [&ServerEvent::UpdateRequest {
            incremental: false,
            rect: Rect::new(0, 0, 8, 8)
        }]
    );
    assert!(
        server_events.contains(&ServerEvent::ContinuousUpdates(Some(Rect::new(
            0, 0, 64, 48
        ))))
    );
    assert!(server_events.contains(&ServerEvent::ContinuousUpdates(None)));
    // The viewer answers the fence with the payload and the flags it honours, Request cleared.
    assert!(server_events.contains(&ServerEvent::FenceResponse(Fence {
        flags: FenceFlags::BLOCK_BEFORE,
        payload: b"ping 1".to_vec(),
    })));
    // One EndOfContinuousUpdates announces them, one marks their end.
    let ends = client_events
        .iter()
        .filter(|e| **e == ClientEvent::EndOfContinuousUpdates)
        .count();
    assert_eq!(ends, 2);
}

#[test]
fn viewer_fences_are_answered_in_order_and_extensions_stay_quiet_unless_listed() {
    let mut pair = Pair::new(server(None), client(None), usize::MAX);
    pair.pump().unwrap();
    pair.client_events();
    // The default viewer lists neither extension: nothing is announced, no fence is sent.
    assert!(!pair.client.enable_continuous_updates(true, None));
    assert!(
        !pair
            .server
            .send_fence(&Fence::new(FenceFlags::REQUEST, b"x").unwrap())
    );
    assert!(!pair.server.has_output());
    // A fence from a viewer is answered where it stands in the stream, after the bell that
    // the message before it caused.
    pair.server.send_bell();
    let mut request = Vec::new();
    ClientMessage::Fence(Fence {
        flags: FenceFlags(FenceFlags::REQUEST.0 | FenceFlags::BLOCK_AFTER.0 | 1 << 9),
        payload: vec![7; 64],
    })
    .write(&mut request);
    assert_eq!(pair.server.handle_input(&request), Ok(request.len()));
    let mut expected = vec![ServerMessage::BELL];
    ServerMessage::Fence(Fence {
        flags: FenceFlags::BLOCK_AFTER,
        payload: vec![7; 64],
    })
    .write(&mut expected);
    assert_eq!(pair.server.take_output(), expected);
    assert_eq!(pair.server.poll_event(), None);
}

#[test]
fn the_viewer_knows_what_each_update_drew() {
    let mut pair = Pair::new(server(None), client(None), usize::MAX);
    pair.pump().unwrap();
    pair.client_events();
    let bounds = pair.client.framebuffer().bounds();
    assert_eq!(
        pair.client.take_damage().rects(),
        &[bounds],
        "a new size is all of it"
    );
    assert!(pair.client.take_damage().is_empty(), "taken");

    let mut picture = test_picture(64, 48);
    let update = move_and_fill(
        &mut picture,
        Rect::new(0, 10, 64, 20),
        Rect::new(5, 2, 7, 3),
    );
    pair.server.send_update(&picture, &update);
    pair.pump().unwrap();
    let damage = pair.client.take_damage();
    let covered = |x, y| damage.intersects(&Rect::new(x, y, 1, 1));
    assert!(covered(0, 10) && covered(63, 29) && covered(5, 2) && covered(11, 4));
    assert!(!covered(0, 40) && !covered(40, 0), "{damage:?}");
}
