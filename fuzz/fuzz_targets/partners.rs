//! Any bytes as the start of a PR-PORTS file, opened as a set: whatever the header names,
//! only files directly in the log's own folder are planned for reading.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use prparser::logs::header::partner_from_header;
use prparser::logs::set::plan;

/// `outer/` holds a PIDS log that a `..` header would reach; `outer/logs/` is the log's folder.
fn folders() -> &'static (PathBuf, PathBuf) {
    static DIRS: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    DIRS.get_or_init(|| {
        let outer = std::env::temp_dir().join(format!("prparser-fuzz-partners-{}", std::process::id()));
        let logs = outer.join("logs");
        std::fs::create_dir_all(&logs).expect("temp folder");
        for name in ["PR-PIDS-08-06-30-10-17-54.log", "PR-INITIAL-08-06-30-10-17-54.log"] {
            std::fs::write(outer.join(name), "outside").expect("write");
        }
        for name in ["PR-PIDS-08-07-01-0-0-0.log", "PR-INITIAL-08-06-30-10-17-54.log"] {
            std::fs::write(logs.join(name), "inside").expect("write");
        }
        (outer, logs)
    })
}

fuzz_target!(|data: &[u8]| {
    let (_, logs) = folders();
    for line in String::from_utf8_lossy(data).lines().take(8) {
        if let Some(Ok(name)) = partner_from_header(line) {
            assert!(!name.contains(['/', '\\']) && !name.contains(".."), "{name:?}");
        }
    }
    let ports = logs.join("PR-PORTS-08-06-30-10-17-54.log");
    std::fs::write(&ports, data).expect("write");
    let Ok(plan) = plan(std::slice::from_ref(&ports)) else {
        return;
    };
    for p in plan.ports.iter().chain(&plan.pids).chain(&plan.initials) {
        assert_eq!(p.parent(), Some(Path::new(logs)), "{}", p.display());
    }
});
