//! The Changes view of `prparser report`, through the binary, on logs written here (see
//! support/changes.rs): each baseline kind, and ranges that cut the midnight rotation.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};
use support::changes::{write_first_day, write_second_day};

fn prparser(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prparser")).args(args).output().expect("run prparser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn changes(args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = prparser(&all);
    assert_eq!(code, 0, "stderr: {stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("one JSON object");
    report["changes"].clone()
}

fn text(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

fn case() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let pc1 = dir.path().join("pc1");
    write_first_day(&pc1);
    write_second_day(&pc1);
    let path = text(&pc1);
    (dir, path)
}

#[test]
fn the_default_baseline_is_the_first_snapshot() {
    let (_dir, pc1) = case();
    let got = changes(&[&pc1]);
    let initial = text(&Path::new(&pc1).join("PR-INITIAL-08-06-30-22-0-0.log"));
    assert_eq!(
        got,
        json!({
            "baseline": {"kind": "initial", "files": [initial]},
            "new_listeners": [
                {"computer": "PC1", "protocol": "TCP", "port": 4444, "process": "nc.exe", "pid": 3100,
                 "user": "PC1\\eve", "first_seen": "2008-06-30T23:30:00", "rows": 1},
                {"computer": "PC1", "protocol": "TCP", "port": 445, "process": "evil.exe", "pid": 3200,
                 "user": "PC1\\eve", "first_seen": "2008-07-01T00:10:00", "rows": 1}
            ],
            "owner_changes": [
                {"computer": "PC1", "protocol": "TCP", "port": 445, "baseline_processes": ["System"],
                 "process": "evil.exe", "pid": 3200, "first_seen": "2008-07-01T00:10:00"}
            ],
            "new_processes": [
                {"computer": "PC1", "process": "iexplore.exe", "first_seen": "2008-06-30T22:10:00", "rows": 4,
                 "users": ["PC1\\bob"]},
                {"computer": "PC1", "process": "nc.exe", "first_seen": "2008-06-30T23:30:00", "rows": 2,
                 "users": ["PC1\\eve"]},
                {"computer": "PC1", "process": "evil.exe", "first_seen": "2008-07-01T00:10:00", "rows": 1,
                 "users": ["PC1\\eve"]}
            ],
            "new_remote_endpoints": [
                {"computer": "PC1", "process": "iexplore.exe", "remote_ip": "65.55.200.252", "remote_port": 80,
                 "first_seen": "2008-06-30T22:10:00", "rows": 1},
                {"computer": "PC1", "process": "iexplore.exe", "remote_ip": "65.55.200.253", "remote_port": 80,
                 "first_seen": "2008-07-01T00:00:01", "rows": 1},
                {"computer": "PC1", "process": "nc.exe", "remote_ip": "10.0.0.9", "remote_port": 51000,
                 "first_seen": "2008-07-01T00:05:00", "rows": 1},
                {"computer": "PC1", "process": "svchost.exe", "remote_ip": "65.55.200.253", "remote_port": 443,
                 "first_seen": "2008-07-01T00:20:00", "rows": 1}
            ]
        })
    );
}

/// A Changes object in short: (process, port) of its new listeners, (process, first_seen,
/// rows) of its new processes, how many new remote endpoints.
type Summary = (Vec<(String, u64)>, Vec<(String, String, u64)>, usize);

fn summary(c: &Value) -> Summary {
    let listeners = c["new_listeners"]
        .as_array()
        .expect("list")
        .iter()
        .map(|l| (l["process"].as_str().expect("process").to_string(), l["port"].as_u64().expect("port")))
        .collect();
    let processes = c["new_processes"]
        .as_array()
        .expect("list")
        .iter()
        .map(|p| {
            (
                p["process"].as_str().expect("process").to_string(),
                p["first_seen"].as_str().expect("time").to_string(),
                p["rows"].as_u64().expect("rows"),
            )
        })
        .collect();
    (listeners, processes, c["new_remote_endpoints"].as_array().expect("list").len())
}

#[test]
fn a_range_that_cuts_the_rotation_counts_what_came_after_inside_it() {
    let (_dir, pc1) = case();
    // The quirk row of 23:59:58 is in the range, its connection (00:00:01, next file) is not:
    // it still pairs, so it is no listener.
    let got = changes(&["--from", "2008-06-30T23:00:00", "--to", "2008-07-01T00:00:00", &pc1]);
    assert_eq!(
        summary(&got),
        (
            vec![("nc.exe".into(), 4444)],
            vec![
                ("nc.exe".into(), "2008-06-30T23:30:00".into(), 1),
                ("iexplore.exe".into(), "2008-06-30T23:59:58".into(), 1)
            ],
            0
        )
    );
    let got = changes(&["--from", "08/6/30 23:59:00", "--to", "08/7/1 0:6:0", &pc1]);
    assert_eq!(
        summary(&got),
        (
            vec![],
            vec![
                ("iexplore.exe".into(), "2008-06-30T23:59:58".into(), 2),
                ("nc.exe".into(), "2008-07-01T00:05:00".into(), 1)
            ],
            2
        )
    );
    assert_eq!(got["owner_changes"], json!([]));
}

#[test]
fn until_takes_the_rows_before_it_as_the_baseline() {
    let (_dir, pc1) = case();
    let got = changes(&["--baseline-until", "2008-07-01", &pc1]);
    assert_eq!(got["baseline"], json!({"kind": "until", "until": "2008-07-01T00:00:00"}));
    assert_eq!(
        summary(&got),
        (vec![("evil.exe".into(), 445)], vec![("evil.exe".into(), "2008-07-01T00:10:00".into(), 1)], 3)
    );
    assert_eq!(got["owner_changes"][0]["baseline_processes"], json!(["System"]));
    let (code, _, stderr) = prparser(&["report", "--baseline-until", "yesterday", &pc1]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--baseline-until") && stderr.contains("\"yesterday\""), "{stderr}");
}

#[test]
fn other_logs_can_be_the_baseline() {
    let dir = tempfile::tempdir().expect("tempdir");
    let june = dir.path().join("june");
    let july = dir.path().join("july");
    write_first_day(&june);
    write_second_day(&july);
    // The July logs have no PR-INITIAL, so their computer is their folder's name: the June
    // logs' one computer is its baseline all the same.
    let got = changes(&["--baseline", &text(&june), &text(&july)]);
    assert_eq!(got["baseline"], json!({"kind": "path", "paths": [text(&june)]}));
    assert_eq!(
        summary(&got),
        (vec![("evil.exe".into(), 445)], vec![("evil.exe".into(), "2008-07-01T00:10:00".into(), 1)], 3)
    );
    assert_eq!(got["owner_changes"][0]["computer"], json!("july"));
    let (code, _, stderr) = prparser(&["report", "--baseline", "/nonexistent/logs", &text(&july)]);
    assert_eq!(code, 1);
    assert!(stderr.contains("/nonexistent/logs"), "{stderr}");
}

#[test]
fn the_text_report_prints_each_list() {
    let (_dir, pc1) = case();
    let (code, stdout, stderr) = prparser(&["report", &pc1]);
    assert_eq!(code, 0, "{stderr}");
    let from = stdout.find("Changes since the baseline").expect("a Changes section");
    let section: Vec<&str> = stdout[from..].lines().skip(1).take(13).collect();
    assert_eq!(
        section,
        vec![
            "  New listeners: 2",
            "    2008-06-30T23:30:00  TCP 4444   nc.exe (PID 3100) on PC1  rows: 1",
            "    2008-07-01T00:10:00  TCP 445    evil.exe (PID 3200) on PC1  rows: 1",
            "  Port owner changes: 1",
            "    2008-07-01T00:10:00  TCP 445    evil.exe (PID 3200) on PC1, was System",
            "  New processes: 3",
            "    2008-06-30T22:10:00  iexplore.exe on PC1  rows: 4  PC1\\bob",
            "    2008-06-30T23:30:00  nc.exe on PC1  rows: 2  PC1\\eve",
            "    2008-07-01T00:10:00  evil.exe on PC1  rows: 1  PC1\\eve",
            "  New remote endpoints: 4",
            "           1  iexplore.exe  65.55.200.252:80 on PC1  first 2008-06-30T22:10:00",
            "           1  iexplore.exe  65.55.200.253:80 on PC1  first 2008-07-01T00:00:01",
            "           1  nc.exe  10.0.0.9:51000 on PC1  first 2008-07-01T00:05:00",
        ]
    );
}

/// A case folder of two machines that both rotated at midnight: files are read in the order of
/// their stamps, so the 2008 sample's midnight file (folder `a`) comes between PC1's quirk row
/// of 23:59:58 (folder `z`) and its connection at 00:00:01. The pair is still the quirk, not a
/// listener, whichever folder sorts first (the report is not restricted to PC1: that would
/// leave the other machine's rows out of the reading).
#[test]
fn another_machines_file_between_a_quirk_row_and_its_connection_does_not_make_a_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs").join("xp-v1.01-2008");
    for (first, second) in [("a", "z"), ("z", "a")] {
        let root = dir.path().join(format!("{first}{second}"));
        let machine = root.join(first);
        std::fs::create_dir_all(&machine).expect("mkdir");
        for entry in std::fs::read_dir(&sample).expect("sample folder") {
            let path = entry.expect("entry").path();
            std::fs::copy(&path, machine.join(path.file_name().expect("name"))).expect("copy");
        }
        write_first_day(&root.join(second));
        write_second_day(&root.join(second));
        let got = changes(&[&text(&root)]);
        let listeners: Vec<(&str, u64)> = got["new_listeners"]
            .as_array()
            .expect("list")
            .iter()
            .filter(|l| l["computer"] == "PC1")
            .map(|l| (l["process"].as_str().expect("process"), l["port"].as_u64().expect("port")))
            .collect();
        assert_eq!(listeners, [("nc.exe", 4444), ("evil.exe", 445)], "PC1 in folder {second}");
    }
}
