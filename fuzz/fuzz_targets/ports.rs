//! Any bytes as a PR-PORTS file: rows and malformed lines, never a panic, a hang or a
//! runaway allocation.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use prparser::logs::ports::{LoadProgress, PortsLog, read_from};

fuzz_target!(|data: &[u8]| {
    let mut log = PortsLog::default();
    let size = Some(data.len() as u64);
    if read_from(&mut log, Path::new("PR-PORTS-fuzz.log"), data, size, &LoadProgress::default()).is_ok() {
        log.sort_by_time();
        assert_eq!(log.sources.len(), 1);
        assert_eq!(log.sources[0].rows as usize, log.events.len());
        assert!(log.malformed.len() as u64 <= log.malformed.count());
        for e in &log.events {
            let _ = (log.module(e), log.user(e), log.local_ip(e), log.remote_ip(e));
        }
    }
});
