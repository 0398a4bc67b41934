//! Entry points for the fuzz targets under `fuzz/` (and for a test that runs the same code on
//! generated input): what a browser may send before and after its WebSocket handshake. Any
//! input may be refused; none may panic, and feeding it in pieces must decide as feeding it
//! whole does.

use crate::transport::http::Request;
use crate::transport::websocket::{self, WebSocket};
use crate::transport::{Protocol, detect};

/// The first bytes of a connection, an HTTP request head, and WebSocket frames after it.
pub fn web_input(data: &[u8]) {
    let whole = detect(data);
    let decided = (1..=data.len()).find_map(|end| detect(&data[..end]));
    if whole.is_some() {
        assert_eq!(decided, whole, "detection depends on how the bytes arrive");
    }
    if (whole == Some(Protocol::Http) || whole.is_none())
        && let Ok(Some((request, used))) = Request::parse(data)
    {
        let _ = request.relative_path();
        if websocket::is_upgrade(&request) {
            let _ = websocket::accept(&request);
        }
        frames(&data[used..]);
    }
    frames(data);
}

/// Frames fed whole and in pieces of every size up to 16 give the same stream and outcome.
fn frames(data: &[u8]) {
    let whole = feed(data, data.len().max(1));
    for piece in 1..=16 {
        assert_eq!(feed(data, piece), whole, "pieces of {piece} differ");
    }
}

fn feed(data: &[u8], piece: usize) -> (Vec<u8>, Vec<u8>, bool) {
    let mut socket = WebSocket::new();
    let mut stream = Vec::new();
    let mut buffered = Vec::new();
    let mut failed = false;
    for chunk in data.chunks(piece) {
        buffered.extend_from_slice(chunk);
        match socket.handle_input(&buffered, &mut stream) {
            Ok(used) => {
                buffered.drain(..used);
            }
            Err(_) => {
                failed = true;
                break;
            }
        }
        assert!(buffered.len() <= websocket::MAX_HEADER_LEN + websocket::MAX_CONTROL_PAYLOAD);
    }
    (stream, socket.output().to_vec(), failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few thousand generated inputs through the fuzz entry point, on stable Rust.
    #[test]
    fn generated_input_never_panics() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let starts: [&[u8]; 4] = [
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"GET /a%2e%2e/b HTTP/1.0\r\n\r\n",
            &[0x82, 0xfe, 0x00, 0x80, 1, 2, 3, 4],
            &[0x89, 0x80, 0, 0, 0, 0, 0x88, 0x82, 1, 1, 1, 1, 3, 0xe9],
        ];
        for round in 0..2000 {
            let mut input = starts[round % starts.len()].to_vec();
            for _ in 0..(next() % 64) {
                let at = (next() as usize) % (input.len() + 1);
                input.insert(at, next() as u8);
            }
            web_input(&input);
        }
    }
}
