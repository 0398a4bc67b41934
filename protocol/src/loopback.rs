//! A server connection and a client connection joined in memory, past their handshake: for
//! benchmarks and tests that push updates through both ends without sockets.

use crate::framebuffer::Framebuffer;
use crate::handshake::client::{ClientConfig, ClientConnection};
use crate::handshake::server::{ServerConfig, ServerConnection, ServerEvent};
use crate::messages::EncodingType;
use crate::pixel::PixelFormat;

/// Both ends, connected, with the client's SetPixelFormat and SetEncodings already applied.
pub fn connected_pair(
    width: u16,
    height: u16,
    format: PixelFormat,
    encodings: Vec<EncodingType>,
) -> (ServerConnection, ClientConnection) {
    let mut server = ServerConnection::new(ServerConfig::new(None, [0; 16]));
    let mut client = ClientConnection::new(ClientConfig {
        encodings,
        pixel_format: format,
        ..ClientConfig::default()
    });
    for _ in 0..8 {
        let to_client = server.take_output();
        let used = client.handle_input(&to_client).expect("client handshake");
        debug_assert_eq!(used, to_client.len());
        let to_server = client.take_output();
        server.handle_input(&to_server).expect("server handshake");
        while let Some(event) = server.poll_event() {
            if let ServerEvent::ClientInit { .. } = event {
                server.send_server_init(width, height, "loopback");
            }
        }
        while client.poll_event().is_some() {}
    }
    (server, client)
}

/// Feeds `bytes` to the client and returns its framebuffer.
pub fn deliver<'a>(client: &'a mut ClientConnection, bytes: &[u8]) -> &'a Framebuffer {
    let used = client
        .handle_input(bytes)
        .expect("client decodes what the server wrote");
    assert_eq!(used, bytes.len(), "the client consumed everything");
    while client.poll_event().is_some() {}
    client.framebuffer()
}
