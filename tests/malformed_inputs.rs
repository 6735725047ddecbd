//! Bad input never panics, is counted exactly, and never stops the rest of a file loading.

use std::path::{Path, PathBuf};

use prparser::logs::ports::{LoadProgress, MAX_LINE_BYTES, is_header_line};
use prparser::logs::set::{self, LogSet};

const NAME: &str = "PR-PORTS-08-06-30-10-17-54.log";
const SAMPLE: &str = "sample-logs/xp-v1.01-2008/PR-PORTS-08-06-30-10-17-54.log";

fn open_bytes(dir: &Path, bytes: &[u8]) -> LogSet {
    let path = dir.join(NAME);
    std::fs::write(&path, bytes).expect("write");
    set::open(&[path], &LoadProgress::default()).expect("a readable file always opens")
}

fn counts(set: &LogSet) -> (usize, u64) {
    (set.ports.events.len(), set.ports.malformed.count())
}

#[test]
fn empty_and_header_only_files_have_no_rows_and_nothing_malformed() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(counts(&open_bytes(dir.path(), b"")), (0, 0));
    let header = "Port Reporter Version 1.01 Log File - Port usage log\r\nCheck PR-PIDS-08-06-30-10-17-54.log for corresponding process data\r\nLog format:\r\ndate,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context\r\n";
    let set = open_bytes(dir.path(), header.as_bytes());
    assert_eq!(counts(&set), (0, 0));
    assert_eq!(set.ports.sources[0].version.as_ref().map(|v| v.0.as_str()), Some("1.01"));
}

#[test]
fn a_one_megabyte_line_is_one_malformed_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = vec![b'7'; 1_000_000];
    bytes.extend_from_slice(
        b"\n08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>\n",
    );
    let set = open_bytes(dir.path(), &bytes);
    assert_eq!(counts(&set), (1, 1));
    assert_eq!(set.ports.malformed[0].line, 1);
    assert!(set.ports.malformed[0].excerpt.len() < 1000, "excerpts are bounded");

    let mut longer = vec![b'x'; MAX_LINE_BYTES * 2];
    longer.extend_from_slice(&bytes);
    let set = open_bytes(dir.path(), &longer);
    assert_eq!(counts(&set), (1, 1), "the over-long first line and the 1 MB one are one line together");
}

/// Data lines of a text: not blank and not a header line.
fn data_lines(text: &[u8]) -> usize {
    text.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .filter(|l| !l.trim_ascii().is_empty() && !is_header_line(l))
        .count()
}

#[test]
fn truncated_files_load_every_complete_line() {
    let full = std::fs::read(SAMPLE).expect("sample");
    let dir = tempfile::tempdir().expect("tempdir");
    let full_set = open_bytes(dir.path(), &full);
    assert_eq!(counts(&full_set), (163, 4));
    for cut in (0..full.len()).step_by(97).chain([full.len() - 1, full.len() - 2]) {
        let prefix = &full[..cut];
        let set = open_bytes(dir.path(), prefix);
        let (rows, malformed) = counts(&set);
        assert_eq!(rows + malformed as usize, data_lines(prefix), "cut at byte {cut}");
        assert!(malformed <= 5, "cut at byte {cut}: at most the 4 bad lines and the cut one");
        let complete = prefix.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let expected_rows = full_set.ports.events.iter().filter(|e| line_end(&full, e.line) <= complete).count();
        assert!(rows == expected_rows || rows == expected_rows + 1, "cut at byte {cut}: {rows} vs {expected_rows}");
    }
}

/// Byte offset just past a 1-based line.
fn line_end(text: &[u8], line: u32) -> usize {
    text.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(line as usize - 1).map_or(text.len(), |(i, _)| i + 1)
}

#[test]
fn random_bytes_are_rows_or_malformed_never_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..200 {
        let len = (next() % 8192) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| if round % 2 == 0 { next() as u8 } else { b"0123456789/,:.*<>\"\r\nTCP"[(next() % 23) as usize] })
            .collect();
        let set = open_bytes(dir.path(), &bytes);
        assert!(set.ports.malformed.len() as u64 <= set.ports.malformed.count());
    }
}

#[test]
fn the_binary_reports_garbage_as_malformed_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path: PathBuf = dir.path().join(NAME);
    std::fs::write(&path, b"\x00\x01garbage\n\xFF\xFE\xFD\n08/6/30,10:17:58,TCP,1,1.1.1.1,2,2.2.2.2,3,a.exe,<u>\n")
        .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["report", "--format", "json"])
        .arg(&path)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!((v["rows"].as_u64(), v["malformed"].as_u64()), (Some(1), Some(2)));
    assert_eq!(v["malformed_lines"][1]["line"], 2);
}
