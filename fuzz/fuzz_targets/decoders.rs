//! Fuzzes every rectangle decoder: the first byte picks the encoding, the next four the
//! rectangle, the rest is the body, decoded twice through the same (stateful) decoders.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| farview_protocol::fuzzing::decoders(data));
