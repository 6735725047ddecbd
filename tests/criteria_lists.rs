//! Address lists and allow criteria end to end: `prparser report` and `prparser follow` on a
//! log and lists written here, lists named relative to the criteria file.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

use serde_json::{Value, json};

const PORTS: &str = "PR-PORTS-26-01-02-10-0-0.log";

fn row(n: u32, module: &str, remote: &str) -> String {
    format!("26/1/2,10:0:{n},TCP,{},10.0.0.1,443,{remote},{},{module},<host\\user>\r\n", 1000 + n, 100 + n)
}

/// A log of six rows, two lists (one with a line no list format has) and the criteria that
/// read them, relative to the criteria file.
fn write_case(dir: &Path) -> std::path::PathBuf {
    let mut f = std::fs::File::create(dir.join(PORTS)).expect("create log");
    prparser::logs::ports::write_header(&mut f, "1.01", "PR-PIDS-26-01-02-10-0-0.log").expect("header");
    for (n, module, remote) in [
        (1, "a.exe", "192.0.2.1"),
        (2, "b.exe", "192.0.2.2"),
        (3, "evil.exe", "198.51.100.7"),
        (4, "evil.exe", "203.0.113.5"),
        (5, "c.exe", "203.0.113.9"),
        (6, "backup.exe", "203.0.113.10"),
    ] {
        f.write_all(row(n, module, remote).as_bytes()).expect("row");
    }
    std::fs::create_dir(dir.join("lists")).expect("lists folder");
    std::fs::write(
        dir.join("lists/bad.netset"),
        "# FireHOL-like\n203.0.113.0/24\n198.51.100.7 ; SBL1\n1.2.3.4-1.2.3.9\n",
    )
    .expect("bad list");
    std::fs::write(dir.join("lists/known.txt"), "# ipsum-like\n203.0.113.9\t2\n").expect("known list");
    let criteria = json!({"criteria": [
        {"name": "Bad list", "field": "remote_ip", "match": "list", "pattern": "lists/bad.netset"},
        {"name": "Evil", "field": "module", "pattern": "evil.exe"},
        {"name": "Backup", "field": "module", "pattern": "backup.exe", "effect": "allow"},
        {"name": "Known", "field": "ip", "match": "list", "pattern": "lists/known.txt", "effect": "allow"}
    ]});
    let path = dir.join("criteria.json");
    std::fs::write(&path, criteria.to_string()).expect("criteria");
    path
}

#[test]
fn the_report_counts_rows_that_stay_flagged_and_rows_allowed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let criteria = write_case(dir.path());
    let out = Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["report", "--format", "json", "--criteria"])
        .arg(&criteria)
        .arg(dir.path().join(PORTS))
        .output()
        .expect("run prparser report");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // Rows 3 to 6 are listed or evil; 5 is a known address and 6 the backup job.
    assert_eq!(
        report["flagged"],
        json!({"rows": 2, "allowed": 2, "by_criterion": [
            {"name": "Bad list", "count": 2},
            {"name": "Evil", "count": 2},
            {"name": "Backup", "count": 1, "effect": "allow"},
            {"name": "Known", "count": 1, "effect": "allow"}
        ]})
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().filter(|l| l.contains("criterion")).collect::<Vec<_>>(),
        vec![
            "prparser: criterion \"Bad list\": bad.netset: 2 entries; 1 unreadable line skipped (line 4)",
            "prparser: criterion \"Known\": known.txt: 1 entry",
        ]
    );
}

/// A criteria file named by a relative path, from another working directory that holds a
/// decoy `lists/bad.netset`: its lists are still read beside the criteria file.
#[test]
fn lists_are_read_beside_the_criteria_file_whatever_the_working_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).expect("rules folder");
    write_case(&rules);
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir_all(elsewhere.join("lists")).expect("decoy folder");
    std::fs::write(elsewhere.join("lists/bad.netset"), "192.0.2.0/24\n198.51.100.0/24\n").expect("decoy list");
    std::fs::write(elsewhere.join("lists/known.txt"), "").expect("decoy list");
    let out = Command::new(env!("CARGO_BIN_EXE_prparser"))
        .current_dir(&elsewhere)
        .args(["report", "--format", "json", "--criteria", "../rules/criteria.json"])
        .arg(Path::new("../rules").join(PORTS))
        .output()
        .expect("run prparser report");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    // As from the criteria's own folder; the decoy would list rows 1 to 3 and know none.
    assert_eq!(report["flagged"]["by_criterion"][0], json!({"name": "Bad list", "count": 2}));
    assert_eq!(report["flagged"]["by_criterion"][3], json!({"name": "Known", "count": 1, "effect": "allow"}));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.netset: 2 entries; 1 unreadable line skipped (line 4)"), "{stderr}");
}

#[test]
fn a_list_that_is_not_a_regular_file_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    write_case(dir.path());
    let fifo = dir.path().join("lists/feed.fifo");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR).expect("mkfifo");
    let criteria = dir.path().join("fifo.json");
    std::fs::write(&criteria, r#"[{"name": "Feed", "field": "ip", "match": "list", "pattern": "lists/feed.fifo"}]"#)
        .expect("criteria");
    let out = Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["report", "--criteria"])
        .arg(&criteria)
        .arg(dir.path())
        .output()
        .expect("run prparser report");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!(
            "prparser: criterion \"Feed\" (number 1) cannot be used: address list {} is a FIFO, not a regular file: refused",
            fifo.display()
        )
    );
}

#[test]
fn follow_prints_only_rows_that_stay_flagged_and_reads_a_changed_list_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let criteria = write_case(dir.path());
    let mut child = Command::new(env!("CARGO_BIN_EXE_prparser"))
        .args(["follow", "--flagged-only", "--format", "jsonl", "--interval-ms", "20", "--seconds", "120"])
        .arg("--criteria")
        .arg(&criteria)
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prparser follow");
    let (out_tx, lines) = channel();
    let stdout = child.stdout.take().expect("stdout");
    let out_reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if out_tx.send(line).is_err() {
                break;
            }
        }
    });
    let (err_tx, notes) = channel();
    let stderr = child.stderr.take().expect("stderr");
    let err_reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if err_tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = || -> Value {
        let line = lines.recv_timeout(Duration::from_secs(60)).expect("a row is printed");
        serde_json::from_str(&line).expect("one JSON object per line")
    };
    let seen = |v: &Value| (v["remote_ip"].as_str().unwrap_or_default().to_string(), v["flagged_by"].clone());
    assert_eq!(seen(&next()), ("198.51.100.7".into(), json!(["Bad list", "Evil"])));
    assert_eq!(seen(&next()), ("203.0.113.5".into(), json!(["Bad list", "Evil"])));

    // The list gains an entry: once follow says it read the list again, a new row to that
    // address is flagged by it.
    std::fs::write(dir.path().join("lists/bad.netset"), "203.0.113.0/24\n198.51.100.0/24\n192.0.2.0/24\n")
        .expect("rewrite list");
    loop {
        let note = notes.recv_timeout(Duration::from_secs(60)).expect("a note on stderr");
        if note == "prparser: address lists changed on disk, read again" {
            break;
        }
    }
    let mut f = std::fs::OpenOptions::new().append(true).open(dir.path().join(PORTS)).expect("open log");
    f.write_all(row(7, "d.exe", "192.0.2.77").as_bytes()).expect("append");
    assert_eq!(seen(&next()), ("192.0.2.77".into(), json!(["Bad list"])));

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM)
        .expect("stop follow");
    let status = child.wait().expect("follow exits");
    assert!(status.success());
    out_reader.join().expect("stdout reader");
    let rest: Vec<String> = notes.try_iter().collect();
    err_reader.join().expect("stderr reader");
    let rest: Vec<String> = rest.into_iter().chain(notes.try_iter()).collect();
    assert!(rest.contains(&"prparser: criterion \"Bad list\": bad.netset: 3 entries".to_string()), "{rest:?}");
    assert_eq!(rest.last().map(String::as_str), Some("prparser: 7 rows, 3 flagged, 0 malformed lines"));
}
