//! Any bytes as a PR-PIDS file: blocks and warnings, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use prparser::logs::pids::read_pids_from;

fuzz_target!(|data: &[u8]| {
    let log = read_pids_from(Path::new("PR-PIDS-fuzz.log"), 0, data).expect("in-memory reads do not fail");
    for b in &log.blocks {
        assert_eq!(b.source, 0);
    }
});
