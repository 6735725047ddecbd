//! Many computers' logs as one dataset: which computer each row is from, each PID linked to
//! its own machine's process block, and the report's `computers` list and `--computer`.

mod support;

use std::process::Command;

use prparser::analysis::dataset::Dataset;
use prparser::logs::ports::LoadProgress;
use serde_json::{Value, json};
use support::fleet::write_fleet;

fn prparser(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prparser")).args(args).output().expect("run prparser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn report(args: &[&str]) -> Value {
    let mut all = vec!["report", "--format", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = prparser(&all);
    assert_eq!(code, 0, "stderr: {stderr}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

/// Opening the case folder gives one dataset; every row knows its computer (its set's
/// PR-INITIAL, the latest earlier one for the midnight set, the folder for gamma), and each
/// row of PID 1234 is described by its own machine's block, although BETA's block is the
/// latest of that PID before ALPHA's rows.
#[test]
fn a_folder_of_machines_is_one_dataset_and_each_pid_finds_its_own_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_fleet(dir.path());
    let data = Dataset::open(&[root], &LoadProgress::default()).expect("open");
    let log = &data.set.ports;
    let rows: Vec<(String, String, u32, Option<String>)> = (0..log.events.len())
        .map(|i| {
            let e = &log.events[i];
            let user = data.block_of_row(i).and_then(|(_, b)| b.user.clone());
            (e.time.format("%m-%d %H:%M:%S").to_string(), log.computer(e).to_string(), e.pid, user)
        })
        .collect();
    let row =
        |t: &str, c: &str, pid: u32, user: Option<&str>| (t.to_string(), c.to_string(), pid, user.map(String::from));
    assert_eq!(
        rows,
        vec![
            row("06-30 10:00:05", "BETA", 1234, Some("BETA\\bob")),
            row("06-30 10:00:10", "ALPHA", 1234, Some("ALPHA\\ann")),
            row("06-30 10:00:20", "ALPHA", 1234, Some("ALPHA\\ann")),
            row("06-30 10:00:30", "ALPHA", 4, None),
            row("06-30 10:00:40", "BETA", 1234, Some("BETA\\bob")),
            row("06-30 12:00:00", "gamma", 99, None),
            row("07-01 00:00:05", "ALPHA", 1234, Some("ALPHA\\ann")),
            row("07-01 00:00:06", "ALPHA", 4, None),
        ]
    );
}

fn criteria_file(dir: &std::path::Path) -> String {
    let path = dir.join("criteria.json");
    let criteria = json!({"criteria": [
        {"name": "beta's app", "field": "module_path", "match": "wildcard", "pattern": "C:\\beta\\*"},
        {"name": "alpha", "field": "computer", "match": "exact", "pattern": "alpha"}
    ]});
    std::fs::write(&path, criteria.to_string()).expect("write criteria");
    path.to_str().expect("utf-8 path").to_string()
}

/// The report lists every computer, by rows then name, with its span and flagged rows; a
/// module-path criterion flags only the rows of the machine whose block has the path.
#[test]
fn the_report_lists_the_computers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_fleet(&dir.path().join("case"));
    let criteria = criteria_file(dir.path());
    let got = report(&["--criteria", &criteria, root.to_str().expect("utf-8 path")]);
    assert_eq!(
        got["computers"],
        json!([
            {"computer": "ALPHA", "rows": 5, "first": "2008-06-30T10:00:10", "last": "2008-07-01T00:00:06", "flagged": 5},
            {"computer": "BETA", "rows": 2, "first": "2008-06-30T10:00:05", "last": "2008-06-30T10:00:40", "flagged": 2},
            {"computer": "gamma", "rows": 1, "first": "2008-06-30T12:00:00", "last": "2008-06-30T12:00:00", "flagged": 0},
        ])
    );
    assert_eq!(got["rows"], 8);
    assert_eq!(got["flagged"]["rows"], 7);
    let by_criterion: Vec<(&str, u64)> = got["flagged"]["by_criterion"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| (c["name"].as_str().expect("name"), c["count"].as_u64().expect("count")))
        .collect();
    assert_eq!(by_criterion, vec![("beta's app", 2), ("alpha", 5)]);

    let (code, stdout, _) = prparser(&["report", root.to_str().expect("utf-8 path")]);
    assert_eq!(code, 0);
    assert!(stdout.contains("\nComputers\n"), "{stdout}");
    assert!(
        stdout.contains("         5         0 flagged  ALPHA  (2008-06-30T10:00:10 .. 2008-07-01T00:00:06)"),
        "{stdout}"
    );
}

/// `--computer` (repeatable, any case) reads only those machines' logs: every view, the
/// flagged counts and the computers list are theirs alone.
#[test]
fn computer_restricts_every_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_fleet(&dir.path().join("case"));
    let root = root.to_str().expect("utf-8 path");
    let criteria = criteria_file(dir.path());
    let got =
        report(&["--criteria", &criteria, "--computer", "beta", "--computer", "GAMMA", "--process", "app.exe", root]);
    assert_eq!(
        (got["rows"].clone(), got["first"].clone(), got["last"].clone()),
        (json!(3), json!("2008-06-30T10:00:05"), json!("2008-06-30T12:00:00"))
    );
    let computers: Vec<(&str, u64)> = got["computers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| (c["computer"].as_str().expect("name"), c["rows"].as_u64().expect("rows")))
        .collect();
    assert_eq!(computers, vec![("BETA", 2), ("gamma", 1)]);
    let processes: Vec<(&str, u64)> = got["stats"]["process_usage"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| (c["process"].as_str().expect("name"), c["count"].as_u64().expect("count")))
        .collect();
    assert_eq!(processes, vec![("app.exe", 2), ("ssh.exe", 1)]);
    let remote: Vec<&str> = got["stats"]["remote_ip_usage"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["ip"].as_str().expect("ip"))
        .collect();
    assert_eq!(remote, vec!["198.51.100.7", "203.0.113.5"]);
    let ports: Vec<u64> = got["stats"]["local_tcp_port_usage"]
        .as_array()
        .expect("list")
        .iter()
        .map(|c| c["port"].as_u64().expect("port"))
        .collect();
    assert_eq!(ports, vec![2001, 2002, 3001]);
    assert_eq!(got["flagged"]["rows"], 2);
    assert_eq!(got["per_process_usage"]["users"][0]["user"], "BETA\\bob");
    assert_eq!(got["per_process_usage"]["users"].as_array().map(Vec::len), Some(1));

    let (code, stdout, stderr) = prparser(&["report", "--computer", "delta", root]);
    assert_ne!(code, 0);
    assert_eq!(stdout, "");
    assert_eq!(
        stderr.trim_end(),
        "prparser: no computer named \"delta\" in these logs (they hold: ALPHA, BETA, gamma)"
    );
}

/// The app's Computers view: per computer its rows, first and last row, and flagged rows; a
/// click shows that computer's rows.
#[test]
fn the_computers_view_counts_each_machine_and_a_click_shows_its_rows() {
    use egui_kittest::kittest::{By, Queryable};
    use prparser::analysis::criteria::{CriteriaSet, Criterion, Field, MatchKind};
    use prparser::app::settings::Settings;

    let dir = tempfile::tempdir().expect("tempdir");
    let root = write_fleet(dir.path());
    let app_exe = Criterion {
        name: "app.exe".into(),
        field: Field::Module,
        kind: MatchKind::Exact,
        pattern: "app.exe".into(),
        enabled: true,
        message: String::new(),
        effect: Default::default(),
    };
    let settings = Settings { criteria: CriteriaSet { criteria: vec![app_exe] }, ..Settings::default() };
    let mut harness = support::app::app_with(settings, vec![root]);
    for tab in ["Statistics", "Computers"] {
        harness.get_by_label(tab).click();
        harness.run_steps(2);
        support::app::settle(&mut harness);
    }
    harness.get_by_label("2008-06-30 10:00:10 .. 2008-07-01 00:00:06; 3 flagged");
    harness.get_by_label("2008-06-30 10:00:05 .. 2008-06-30 10:00:40; 2 flagged");
    harness.get_by_label("2008-06-30 12:00:00 .. 2008-06-30 12:00:00; 0 flagged");
    // ALPHA has 5 of the 8 rows, BETA 2, gamma 1.
    for share in ["62.50%", "25.00%", "12.50%"] {
        harness.get_by_label(share);
    }
    harness.get(By::new().role(egui::Role::Link).label("ALPHA")).click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Grid filtered to computer ALPHA");
    harness.get_by_label("Rows shown: 5");
}
