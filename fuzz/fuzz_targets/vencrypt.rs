//! Fuzzes the VeNCrypt negotiation and the authentication inside TLS, server and viewer side.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| farview_protocol::fuzzing::vencrypt(data));
