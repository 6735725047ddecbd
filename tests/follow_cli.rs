//! `prparser follow` as a script uses it: rows already in the folder, rows appended while it
//! runs (a partial line completed later), a rotation to a newer file, criteria flagging one
//! row, then SIGTERM: every row printed exactly once, in order, and a summary on stderr. The
//! same for UTF-16 logs, little- then big-endian across the rotation.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

use prparser::analysis::criteria::{CriteriaSet, Criterion, Field, MatchKind};

fn row(n: u32, module: &str) -> String {
    format!("26/1/2,10:0:{n},TCP,{},10.0.0.1,443,192.0.2.{n},{},{module},<host\\user>\r\n", 1000 + n, 100 + n)
}

fn new_file(dir: &Path, name: &str) -> std::fs::File {
    let mut f = std::fs::File::create(dir.join(name)).expect("create log");
    prparser::logs::ports::write_header(&mut f, "1.01", "PR-PIDS-26-01-02-10-0-0.log").expect("header");
    f
}

fn append(dir: &Path, name: &str, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.join(name)).expect("open log");
    f.write_all(text.as_bytes()).expect("append");
}

/// The next line printed, within a generous bound (the child polls every 20 ms).
fn next_line(lines: &Receiver<String>) -> serde_json::Value {
    let line = lines.recv_timeout(Duration::from_secs(60)).expect("a row is printed");
    serde_json::from_str(&line).expect("each line is one JSON object")
}

#[test]
fn rows_are_printed_once_in_order_across_appends_and_a_rotation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = "PR-PORTS-26-01-02-10-0-0.log";
    let second = "PR-PORTS-26-01-02-11-0-0.log";
    let mut f = new_file(dir.path(), first);
    f.write_all(format!("{}{}", row(1, "a.exe"), row(2, "b.exe")).as_bytes()).expect("rows");
    drop(f);
    let criteria = CriteriaSet {
        criteria: vec![Criterion {
            name: "Evil".into(),
            field: Field::Module,
            kind: MatchKind::Exact,
            pattern: "evil.exe".into(),
            enabled: true,
            message: "evil seen".into(),
            effect: Default::default(),
        }],
    };
    let criteria_file = dir.path().join("criteria.json");
    criteria.save(&criteria_file).expect("save criteria");

    let mut child = Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["follow", "--format", "jsonl", "--interval-ms", "20", "--seconds", "120", "--criteria"])
        .arg(&criteria_file)
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prparser follow");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let modules = |v: &serde_json::Value| v["module"].as_str().unwrap_or_default().to_string();
    assert_eq!(modules(&next_line(&lines)), "a.exe");
    assert_eq!(modules(&next_line(&lines)), "b.exe");

    // A row written in two pieces: nothing is printed until its line is complete.
    let third = row(3, "evil.exe");
    let (head, tail) = third.split_at(20);
    append(dir.path(), first, head);
    assert!(lines.recv_timeout(Duration::from_millis(500)).is_err(), "a partial line is not printed");
    append(dir.path(), first, tail);
    let evil = next_line(&lines);
    assert_eq!(modules(&evil), "evil.exe");
    assert_eq!(evil["flagged_by"], serde_json::json!(["Evil"]));
    assert_eq!(evil["local_port"], 1003);
    assert_eq!(evil["remote_ip"], "192.0.2.3");
    assert_eq!(evil["pid"], 103);

    let mut f = new_file(dir.path(), second);
    f.write_all(row(4, "d.exe").as_bytes()).expect("row after rotation");
    drop(f);
    let fourth = next_line(&lines);
    assert_eq!(modules(&fourth), "d.exe");
    assert_eq!(fourth["flagged_by"], serde_json::json!([]));
    assert!(fourth["file"].as_str().unwrap_or_default().ends_with(second));

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let out = child.wait_with_output().expect("prparser ends");
    reader.join().expect("reader");
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(lines.try_recv().is_err(), "no row is printed twice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("prparser: 4 rows, 1 flagged, 0 malformed lines"), "stderr: {stderr}");
}

#[test]
fn a_missing_path_is_refused_with_its_name() {
    let out = Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["follow", "/nonexistent/prparser-logs"])
        .output()
        .expect("run prparser");
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stderr), "prparser: /nonexistent/prparser-logs does not exist\n");
}

fn utf16le(text: &str) -> Vec<u8> {
    [0xFF, 0xFE].into_iter().chain(text.encode_utf16().flat_map(u16::to_le_bytes)).collect()
}

fn utf16be(text: &str) -> Vec<u8> {
    [0xFE, 0xFF].into_iter().chain(text.encode_utf16().flat_map(u16::to_be_bytes)).collect()
}

fn header_text() -> String {
    let mut out = Vec::new();
    prparser::logs::ports::write_header(&mut out, "2.0", "PR-PIDS-26-01-02-10-0-0.log").expect("header");
    String::from_utf8(out).expect("ascii")
}

fn append_bytes(dir: &Path, name: &str, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join(name)).expect("open log");
    f.write_all(bytes).expect("append");
}

#[test]
fn utf16_logs_are_followed_across_appends_and_a_rotation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = "PR-PORTS-26-01-02-10-0-0.log";
    let second = "PR-PORTS-26-01-02-11-0-0.log";
    append_bytes(dir.path(), first, &utf16le(&format!("{}{}", header_text(), row(1, "caf\u{e9}.exe"))));
    let mut child = Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["follow", "--format", "jsonl", "--interval-ms", "20", "--seconds", "120"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prparser follow");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let fields = |v: &serde_json::Value| {
        (v["module"].as_str().unwrap_or_default().to_string(), v["local_port"].clone(), v["line"].clone())
    };
    assert_eq!(fields(&next_line(&lines)), ("caf\u{e9}.exe".to_string(), 1001.into(), 5.into()));

    // A row cut inside a code unit and inside a surrogate pair, written in three pieces.
    let raw = utf16le(&row(2, "\u{1F600}.exe"));
    let raw = &raw[2..];
    // What follows the emoji: `.exe,<host\user>` and CRLF, 18 code units.
    let between_surrogates = raw.len() - 2 * 18 - 2;
    for piece in [&raw[..7], &raw[7..between_surrogates], &raw[between_surrogates..]] {
        append_bytes(dir.path(), first, piece);
    }
    assert_eq!(fields(&next_line(&lines)), ("\u{1F600}.exe".to_string(), 1002.into(), 6.into()));

    append_bytes(dir.path(), second, &utf16be(&format!("{}{}", header_text(), row(3, "na\u{ef}ve.exe"))));
    let third = next_line(&lines);
    assert_eq!(fields(&third), ("na\u{ef}ve.exe".to_string(), 1003.into(), 5.into()));
    assert_eq!(third["user"], "host\\user");
    assert!(third["file"].as_str().unwrap_or_default().ends_with(second));

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let out = child.wait_with_output().expect("prparser ends");
    reader.join().expect("reader");
    assert!(out.status.success(), "exit status {:?}", out.status);
    assert!(lines.try_recv().is_err(), "no row is printed twice");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("prparser: 3 rows, 0 flagged, 0 malformed lines"), "stderr: {stderr}");
}
