//! Fuzzes the proxies' link: message decoding, updates applied to a desktop, the codec.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| farview_proxy::link::fuzzing::link(data));
