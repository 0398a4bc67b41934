//! Entry points for the fuzz targets under `fuzz/` (and for a stable-Rust test that runs the
//! same code on generated input): feed arbitrary bytes to a connection that has finished its
//! handshake. Any input may give an error; none may panic or allocate without bound.

use crate::encode::Update;
use crate::encodings::extended_desktop_size::{DesktopSizeChange, ResizeReason, ResizeStatus};
use crate::framebuffer::Framebuffer;
use crate::handshake::client::{ClientConfig, ClientConnection};
use crate::handshake::server::{ServerConfig, ServerConnection, ServerEvent};

/// A server connection past its handshake, as a viewer would find it.
pub fn server_in_normal_state() -> ServerConnection {
    let mut server = ServerConnection::new(ServerConfig::new(None, [0; 16]));
    server.take_output();
    for step in [&b"RFB 003.008\n"[..], &[1], &[1]] {
        let _ = server.handle_input(step);
    }
    while let Some(event) = server.poll_event() {
        if let ServerEvent::ClientInit { .. } = event {
            server.send_server_init(64, 64, "fuzz");
        }
    }
    server.take_output();
    server
}

/// A client connection past its handshake with a 64x64 framebuffer.
pub fn client_in_normal_state() -> ClientConnection {
    let mut client = ClientConnection::new(ClientConfig::default());
    let mut init = Vec::new();
    init.extend_from_slice(b"RFB 003.008\n");
    init.extend_from_slice(&[1, 1, 0, 0, 0, 0]);
    init.extend_from_slice(&[0, 64, 0, 64]);
    crate::pixel::PixelFormat::NATIVE.write(&mut init);
    init.extend_from_slice(&[0, 0, 0, 4]);
    init.extend_from_slice(b"fuzz");
    let _ = client.handle_input(&init);
    while client.poll_event().is_some() {}
    client.take_output();
    client
}

/// Client-to-server bytes: parsed by the server as messages, and also used as an update
/// request stream for an encoder run so that parsed pixel formats get exercised.
pub fn client_messages(data: &[u8]) {
    let mut server = server_in_normal_state();
    let mut offset = 0;
    while offset < data.len() {
        match server.handle_input(&data[offset..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => offset += n,
        }
        while let Some(event) = server.poll_event() {
            // Answer a resize request as a server would: refused unless the layout is valid.
            if let ServerEvent::SetDesktopSize(layout) = event {
                let status = match layout.validate() {
                    Ok(()) => ResizeStatus::SUCCESS,
                    Err(_) => ResizeStatus::INVALID_LAYOUT,
                };
                server.send_desktop_size_change(&DesktopSizeChange {
                    reason: ResizeReason::THIS_CLIENT,
                    status,
                    layout,
                });
            }
        }
        let framebuffer = Framebuffer::new(64, 64);
        let update = Update {
            changed: vec![framebuffer.bounds()],
            ..Update::default()
        };
        server.send_update(&framebuffer, &update);
        server.take_output();
    }
}

/// Server-to-client bytes, parsed and decoded by the client, decoding as it goes and with
/// the pixel work deferred into batches.
pub fn server_messages(data: &[u8]) {
    for deferred in [false, true] {
        let mut client = client_in_normal_state();
        if deferred {
            client.set_decode_executor(Box::new(crate::encodings::SequentialExecutor));
        }
        let mut offset = 0;
        while offset < data.len() {
            match client.handle_input(&data[offset..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => offset += n,
            }
            while client.poll_event().is_some() {}
        }
    }
}

/// The VeNCrypt negotiation and what follows it inside TLS, both sides: `data[0]` picks the
/// server's security (password, Plain users) and the viewer's credentials; the rest is fed
/// first to a TLS server after the viewer chose VeNCrypt, then to a TLS viewer after the
/// server offered it, with TLS taken as up whenever either asks.
pub fn vencrypt(data: &[u8]) {
    use crate::handshake::client::ClientEvent;
    let Some((&pick, data)) = data.split_first() else {
        return;
    };
    let mut server = ServerConnection::new(ServerConfig {
        tls: true,
        plain_users: pick & 1 != 0,
        ..ServerConfig::new((pick & 2 != 0).then(|| b"secret".to_vec()), [7; 16])
    });
    let _ = server.handle_input(b"RFB 003.008\n\x13");
    feed(data, |input| {
        let result = server.handle_input(input);
        while let Some(event) = server.poll_event() {
            match event {
                ServerEvent::StartTls(_) => server.tls_started(),
                ServerEvent::CheckCredentials(credentials) => {
                    server.credentials_checked(credentials.username == "ada");
                }
                _ => {}
            }
        }
        server.take_output();
        result
    });

    let mut client = ClientConnection::new(ClientConfig {
        tls: true,
        username: (pick & 4 != 0).then(|| "ada".to_string()),
        password: (pick & 8 != 0).then(|| b"secret".to_vec()),
        ..ClientConfig::default()
    });
    let _ = client.handle_input(b"RFB 003.008\n\x01\x13");
    feed(data, |input| {
        let result = client.handle_input(input);
        if client.is_awaiting_tls() {
            client.tls_started();
        }
        while let Some(ClientEvent::Connected { .. }) = client.poll_event() {}
        client.take_output();
        result
    });
}

/// Feeds `data` to `consume` as a socket reader would, until it errs or stalls.
fn feed(data: &[u8], mut consume: impl FnMut(&[u8]) -> Result<usize, crate::ProtocolError>) {
    let mut offset = 0;
    while offset < data.len() {
        match consume(&data[offset..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => offset += n,
        }
    }
}

/// Rectangle bodies for every decoder: `data[0]` picks the encoding, `data[1..5]` the
/// rectangle inside a 64x64 framebuffer, the rest is the body, fed twice through the same
/// decoders (streams carry state) in 16 and 32-bit formats.
pub fn decoders(data: &[u8]) {
    use crate::encodings::{DECODABLE, Decoders};
    use crate::framebuffer::Rect;
    use crate::pixel::PixelFormat;
    let [pick, x, y, w, h, body @ ..] = data else {
        return;
    };
    let encoding = DECODABLE[usize::from(*pick) % DECODABLE.len()];
    let (x, y) = (u16::from(x % 64), u16::from(y % 64));
    let rect = Rect::new(
        x,
        y,
        u16::from(*w) % (64 - x) + 1,
        u16::from(*h) % (64 - y) + 1,
    );
    let format = if pick & 0x80 != 0 {
        PixelFormat::RGB565
    } else {
        PixelFormat::NATIVE
    };
    let mut decoders = Decoders::default();
    let mut framebuffer = Framebuffer::new(64, 64);
    for _ in 0..2 {
        let _ = decoders.decode(encoding, body, &rect, &format, &mut framebuffer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn client_messages_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            client_messages(&data);
        }

        #[test]
        fn decoders_never_panic(data in proptest::collection::vec(any::<u8>(), 5..400)) {
            decoders(&data);
        }

        #[test]
        fn vencrypt_never_panics(data in proptest::collection::vec(any::<u8>(), 0..128)) {
            vencrypt(&data);
        }

        /// Plausible negotiations: the version, then a subtype list or choice, then random
        /// bytes where the credentials or the rest of the handshake go.
        #[test]
        fn plausible_vencrypt_never_panics(
            pick: u8,
            count in 0u8..4,
            subtypes in proptest::collection::vec(prop_oneof![256u32..=262, any::<u32>()], 4),
            rest in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut data = vec![pick, 0, 2, 0, count];
            for subtype in &subtypes[..usize::from(count)] {
                data.extend_from_slice(&subtype.to_be_bytes());
            }
            data.push(1);
            data.extend_from_slice(&rest);
            vencrypt(&data);
        }

        #[test]
        fn server_messages_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
            server_messages(&data);
        }

        /// Plausible updates: a valid header followed by random rectangles.
        #[test]
        fn random_updates_never_panic(
            rects in proptest::collection::vec((any::<[u16; 4]>(), prop_oneof![Just(0i32), Just(1), Just(-223), Just(-224), Just(-232), Just(-308), any::<i32>()], proptest::collection::vec(any::<u8>(), 0..64)), 1..6)
        ) {
            let mut data = vec![0, 0, 0, rects.len() as u8];
            for ([x, y, w, h], encoding, body) in &rects {
                for v in [x % 80, y % 80, w % 80, h % 80] {
                    data.extend_from_slice(&v.to_be_bytes());
                }
                data.extend_from_slice(&encoding.to_be_bytes());
                data.extend_from_slice(body);
            }
            server_messages(&data);
        }

        /// Plausible SetDesktopSize messages (after SetEncodings with ExtendedDesktopSize),
        /// whole or cut short, with any screens.
        #[test]
        fn random_set_desktop_size_never_panics(
            width: u16,
            height: u16,
            count: u8,
            screens in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut data = vec![2, 0, 0, 1];
            data.extend_from_slice(&(-308i32).to_be_bytes());
            data.extend_from_slice(&[251, 0]);
            data.extend_from_slice(&width.to_be_bytes());
            data.extend_from_slice(&height.to_be_bytes());
            data.extend_from_slice(&[count, 0]);
            data.extend_from_slice(&screens);
            client_messages(&data);
        }
    }
}
