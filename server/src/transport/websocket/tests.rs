use super::*;

fn request(head: &str) -> Request {
    Request::parse(head.as_bytes()).unwrap().unwrap().0
}

fn upgrade_head(extra: &str) -> String {
    format!(
        "GET /websockify HTTP/1.1\r\nHost: h\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

#[test]
fn the_accept_key_is_the_one_of_rfc_6455() {
    let accepted = accept(&request(&upgrade_head(""))).unwrap();
    let response = String::from_utf8(accepted.response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{response}"
    );
    // The example of RFC 6455, section 1.3.
    assert!(
        response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{response}"
    );
    assert!(!response.contains("Sec-WebSocket-Protocol"), "{response}");
    assert!(!accepted.binary_subprotocol);
}

#[test]
fn the_binary_subprotocol_is_echoed_when_offered() {
    let accepted = accept(&request(&upgrade_head(
        "Sec-WebSocket-Protocol: base64, binary\r\n",
    )));
    let accepted = accepted.unwrap();
    assert!(accepted.binary_subprotocol);
    let response = String::from_utf8(accepted.response).unwrap();
    assert!(
        response.contains("Sec-WebSocket-Protocol: binary\r\n"),
        "{response}"
    );
}

#[test]
fn bad_upgrades_are_refused_with_the_right_status() {
    let cases = [
        (upgrade_head("").replacen("GET", "PUT", 1), "405"),
        (upgrade_head("").replace("Version: 13", "Version: 8"), "426"),
        (
            upgrade_head("").replace("Connection: Upgrade", "Connection: close"),
            "400",
        ),
        (
            upgrade_head("").replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="),
            "400",
        ),
        (
            upgrade_head("").replace("dGhlIHNhbXBsZSBub25jZQ==", "!!!"),
            "400",
        ),
    ];
    for (head, status) in cases {
        let request = request(&head);
        assert!(is_upgrade(&request));
        let error = accept(&request).unwrap_err();
        let response = String::from_utf8(error.response()).unwrap();
        assert!(
            response.starts_with(&format!("HTTP/1.1 {status} ")),
            "{error}: {response}"
        );
    }
    assert!(!is_upgrade(&request("GET / HTTP/1.1\r\nHost: h\r\n\r\n")));
}

/// A frame as a client sends it: masked with `mask`.
pub(crate) fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let mut frame = vec![u8::from(fin) << 7 | opcode];
    match payload.len() {
        len @ 0..=125 => frame.push(0x80 | len as u8),
        len @ 126..=0xffff => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        }
        len => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// Splits the server's output into (opcode, payload) frames, up to the first incomplete one;
/// every frame must be final and unmasked.
pub(crate) fn server_frames(mut output: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while output.len() >= 2 {
        assert_eq!(output[0] & 0xf0, 0x80, "final, no reserved bits");
        assert_eq!(output[1] & 0x80, 0, "unmasked");
        let (len, header) = match output[1] {
            126 if output.len() >= 4 => {
                (usize::from(u16::from_be_bytes([output[2], output[3]])), 4)
            }
            127 if output.len() >= 10 => (
                u64::from_be_bytes(output[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => break,
            len => (usize::from(len), 2),
        };
        let Some(payload) = output.get(header..header + len) else {
            break;
        };
        frames.push((output[0] & 0x0f, payload.to_vec()));
        output = &output[header + len..];
    }
    frames
}

/// Feeds `input` in pieces of `piece` bytes, as a stream would, keeping what was not used.
fn feed(input: &[u8], piece: usize) -> (Vec<u8>, Vec<u8>, Result<(), FrameError>) {
    let mut socket = WebSocket::new();
    let mut data = Vec::new();
    let mut buffered = Vec::new();
    for chunk in input.chunks(piece) {
        buffered.extend_from_slice(chunk);
        match socket.handle_input(&buffered, &mut data) {
            Ok(used) => {
                buffered.drain(..used);
            }
            Err(error) => return (data, socket.output().to_vec(), Err(error)),
        }
    }
    (data, socket.output().to_vec(), Ok(()))
}

fn conversation() -> (Vec<u8>, Vec<u8>) {
    let big: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let medium: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut input = Vec::new();
    input.extend(client_frame(
        true,
        OPCODE_BINARY,
        b"RFB 003.008\n",
        [1, 2, 3, 4],
    ));
    input.extend(client_frame(false, OPCODE_BINARY, &medium, [9, 8, 7, 6]));
    input.extend(client_frame(
        true,
        OPCODE_PING,
        b"are you there",
        [5, 5, 5, 5],
    ));
    input.extend(client_frame(false, OPCODE_CONTINUATION, &[], [0, 0, 0, 0]));
    input.extend(client_frame(
        true,
        OPCODE_CONTINUATION,
        &big,
        [0xde, 0xad, 0xbe, 0xef],
    ));
    input.extend(client_frame(true, OPCODE_PONG, b"", [1, 1, 1, 1]));
    let mut data = b"RFB 003.008\n".to_vec();
    data.extend(&medium);
    data.extend(&big);
    (input, data)
}

#[test]
fn data_frames_become_one_stream_and_pings_are_answered() {
    let (input, expected) = conversation();
    let (data, output, result) = feed(&input, input.len());
    assert_eq!(result, Ok(()));
    assert!(data == expected, "the stream's bytes differ");
    assert_eq!(
        server_frames(&output),
        vec![(OPCODE_PONG, b"are you there".to_vec())]
    );
}

#[test]
fn feeding_in_any_pieces_gives_the_same_stream() {
    let (input, expected) = conversation();
    for piece in [1, 2, 3, 5, 13, 1000] {
        let (data, output, result) = feed(&input, piece);
        assert_eq!(result, Ok(()), "pieces of {piece}");
        assert!(
            data == expected,
            "pieces of {piece}: the stream's bytes differ"
        );
        assert_eq!(
            server_frames(&output),
            vec![(OPCODE_PONG, b"are you there".to_vec())]
        );
    }
}

#[test]
fn a_close_is_answered_and_ends_the_stream() {
    let mut input = client_frame(true, OPCODE_CLOSE, &1001u16.to_be_bytes(), [7, 7, 7, 7]);
    input.extend(client_frame(true, OPCODE_BINARY, b"after", [1, 2, 3, 4]));
    let mut socket = WebSocket::new();
    let mut data = Vec::new();
    assert_eq!(socket.handle_input(&input, &mut data), Ok(input.len()));
    assert!(socket.is_closed() && data.is_empty());
    assert_eq!(
        server_frames(socket.output()),
        vec![(OPCODE_CLOSE, 1001u16.to_be_bytes().to_vec())]
    );
    // Closing again sends nothing more.
    socket.advance_output(socket.output().len());
    socket.send_close(CLOSE_NORMAL);
    assert!(socket.output().is_empty());
}

#[test]
fn broken_frames_are_refused_with_a_close_naming_why() {
    let mask = [1, 2, 3, 4];
    let mut unmasked = client_frame(true, OPCODE_BINARY, b"x", mask);
    unmasked[1] &= 0x7f;
    let mut reserved = client_frame(true, OPCODE_BINARY, b"x", mask);
    reserved[0] |= 0x40;
    let mut long_length = vec![0x82, 0x80 | 127];
    long_length.extend_from_slice(&(MAX_FRAME_PAYLOAD + 1).to_be_bytes());
    let mut top_bit = vec![0x82, 0x80 | 127];
    top_bit.extend_from_slice(&(1u64 << 63).to_be_bytes());
    let mut short_in_long = vec![0x82, 0x80 | 126, 0, 5];
    short_in_long.extend_from_slice(&mask);
    let mut continuation_then_binary = client_frame(false, OPCODE_BINARY, b"a", mask);
    continuation_then_binary.extend(client_frame(true, OPCODE_BINARY, b"b", mask));
    let cases: Vec<(Vec<u8>, FrameError, u16)> = vec![
        (unmasked, FrameError::Unmasked, CLOSE_PROTOCOL_ERROR),
        (reserved, FrameError::ReservedBits, CLOSE_PROTOCOL_ERROR),
        (
            client_frame(true, OPCODE_TEXT, b"hi", mask),
            FrameError::Text,
            CLOSE_UNSUPPORTED_DATA,
        ),
        (
            client_frame(true, 0x3, b"", mask),
            FrameError::Opcode(3),
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            client_frame(true, 0xb, b"", mask),
            FrameError::Opcode(0xb),
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            client_frame(true, OPCODE_PING, &[0; 126], mask),
            FrameError::ControlTooLong(126),
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            client_frame(false, OPCODE_PING, b"", mask),
            FrameError::FragmentedControl,
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            client_frame(true, OPCODE_CONTINUATION, b"x", mask),
            FrameError::StrayContinuation,
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            continuation_then_binary,
            FrameError::UnfinishedMessage,
            CLOSE_PROTOCOL_ERROR,
        ),
        (
            long_length,
            FrameError::FrameTooLong(MAX_FRAME_PAYLOAD + 1),
            CLOSE_TOO_BIG,
        ),
        (top_bit, FrameError::LengthEncoding, CLOSE_PROTOCOL_ERROR),
        (
            short_in_long,
            FrameError::LengthEncoding,
            CLOSE_PROTOCOL_ERROR,
        ),
    ];
    for (input, error, code) in cases {
        for piece in [1, input.len()] {
            let (_, output, result) = feed(&input, piece);
            assert_eq!(result, Err(error.clone()), "{input:?} in pieces of {piece}");
            assert_eq!(
                server_frames(&output),
                vec![(OPCODE_CLOSE, code.to_be_bytes().to_vec())]
            );
        }
    }
}

#[test]
fn sent_data_goes_in_frames_of_bounded_size() {
    let mut socket = WebSocket::new();
    let data: Vec<u8> = (0..MAX_SENT_PAYLOAD * 2 + 10).map(|i| i as u8).collect();
    socket.send_binary(&data[..100]);
    socket.send_binary(&data[100..]);
    let frames = server_frames(socket.output());
    assert!(
        frames
            .iter()
            .all(|(opcode, payload)| *opcode == OPCODE_BINARY && payload.len() <= MAX_SENT_PAYLOAD)
    );
    assert_eq!(frames.len(), 3);
    let joined: Vec<u8> = frames
        .into_iter()
        .flat_map(|(_, payload)| payload)
        .collect();
    assert!(joined == data, "the frames do not carry the data");
}
