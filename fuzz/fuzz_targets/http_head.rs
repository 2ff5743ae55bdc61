//! The health probe's response reader over arbitrary server bytes: it must
//! give a status, "need more" or one line of error, and never panic or
//! loop. Every prefix is tried, as the probe sees the response grow.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../src/http_head.rs"]
mod http_head;

fuzz_target!(|data: &[u8]| {
    for end in 0..=data.len() {
        if let Err(why) = http_head::final_status(&data[..end]) {
            assert!(!why.contains('\n'), "{why}");
        }
    }
});
