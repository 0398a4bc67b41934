//! Fuzzes the viewer's parsing and decoding of everything a server may send.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| farview_protocol::fuzzing::server_messages(data));
