//! Fuzzes the server's parsing of everything a viewer may send after the handshake.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| farview_protocol::fuzzing::client_messages(data));
