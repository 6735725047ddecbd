//! Any bytes as a PR-INITIAL file: mappings, blocks and warnings, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use prparser::logs::initial::read_initial_from;

fuzz_target!(|data: &[u8]| {
    let log = read_initial_from(Path::new("PR-INITIAL-fuzz.log"), 0, data).expect("in-memory reads do not fail");
    for b in &log.blocks {
        assert_eq!(b.source, 0);
    }
});
