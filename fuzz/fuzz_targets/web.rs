//! Fuzzes what a browser sends on the server's port: protocol detection, the HTTP request
//! head, the WebSocket handshake and the frame parser (whole and in pieces).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| farview_server::fuzzing::web_input(data));
