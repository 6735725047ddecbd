//! `prparser generate` as the benchmarks use it: a preset changed by options, then
//! `prparser report` on what it wrote.

use std::process::Command;

use serde_json::Value;

fn prparser(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prparser")).args(args).output().expect("run prparser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_preset_with_options_reports_the_rows_and_malformed_lines_asked_for() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("UTF-8 path");
    let args = ["generate", "--rows", "2600", "--out", out, "--shape", "mixed", "--malformed", "1%"];
    let (code, stdout, stderr) = prparser(&[&args[..], &["--encoding", "utf-16le", "--line-ends", "lf"]].concat());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("wrote 2600 rows (200 quoted, 130 9-field, 260 IPv6) and 26 malformed lines: "),
        "{stdout}"
    );

    let ports = dir.path().join("PR-PORTS-08-06-30-0-0-0.log");
    let (code, stdout, stderr) = prparser(&["report", "--format", "json", ports.to_str().expect("UTF-8 path")]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!((report["rows"].as_u64(), report["malformed"].as_u64()), (Some(2600), Some(26)));
    assert_eq!(report["warnings"].as_array().map(Vec::len), Some(0), "{}", report["warnings"]);
    let quoted: u64 = report["stats"]["process_usage"]
        .as_array()
        .expect("process usage")
        .iter()
        .filter(|p| p["process"].as_str().is_some_and(|name| name.contains([',', '"'])))
        .map(|p| p["count"].as_u64().unwrap_or(0))
        .sum();
    assert_eq!(quoted, 200);
}

#[test]
fn shares_that_cannot_be_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("logs");
    let out = out.to_str().expect("UTF-8 path");
    let (code, _, stderr) =
        prparser(&["generate", "--rows", "10", "--out", out, "--quoted", "0.5", "--seven-field", "3/4"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("their shares add up to 1.25, more than 1"), "{stderr}");
    let (code, _, stderr) = prparser(&["generate", "--rows", "10", "--out", out, "--ipv6", "150%"]);
    assert_eq!(code, 2, "clap refuses the value");
    assert!(stderr.contains("is not between 0 and 1"), "{stderr}");
}

#[test]
fn a_fleet_of_three_reports_three_computers_with_their_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().to_str().expect("UTF-8 path");
    let (code, stdout, stderr) = prparser(&["generate", "--rows", "500", "--computers", "3", "--out", out]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(stdout.lines().filter(|l| l.starts_with("wrote 500 rows")).count(), 3, "{stdout}");

    let (code, stdout, stderr) = prparser(&["report", "--format", "json", out]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["rows"].as_u64(), Some(1500));
    let computers: Vec<(&str, u64)> = report["computers"]
        .as_array()
        .expect("computers")
        .iter()
        .map(|c| (c["computer"].as_str().unwrap_or(""), c["rows"].as_u64().unwrap_or(0)))
        .collect();
    assert_eq!(computers, [("PC12347", 500), ("PC12348", 500), ("PC12349", 500)]);
    assert_eq!(report["warnings"].as_array().map(Vec::len), Some(0), "{}", report["warnings"]);

    // One of them alone.
    let (code, stdout, _) = prparser(&["report", "--format", "json", "--computer", "pc12348", out]);
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["rows"].as_u64(), Some(500));

    let (code, _, stderr) = prparser(&["generate", "--rows", "5", "--computers", "0", "--out", out]);
    assert_eq!(code, 2, "clap refuses it");
    assert!(stderr.contains("--computers"), "{stderr}");
}
