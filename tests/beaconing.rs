//! The Beaconing view end to end: a planted beacon among a browser's irregular traffic to the
//! same address, through `prparser report` (JSON and text) and the app's Beaconing tab.

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use serde_json::{Value, json};

fn report(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_prparser")).arg("report").args(args).output().expect("run prparser");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn report_json(args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = report(&all);
    assert_eq!(code, 0, "stderr: {stderr}");
    serde_json::from_str(&stdout).expect("one JSON object")
}

fn entry(process: &str, connections: u64, median: f64, score: f64) -> Value {
    json!({
        "computer": "WS042",
        "process": process,
        "remote_ip": "203.0.113.50",
        "remote_port": 443,
        "connections": connections,
        "median_interval_s": median,
        "score": score,
    })
}

/// The browser's connections as the generator made them: one local port each.
fn browser_sockets() -> usize {
    let rows = support::beacon::rows();
    let ports: BTreeSet<&str> =
        rows.iter().filter(|r| r.contains("iexplore.exe")).filter_map(|r| r.split(',').nth(3)).collect();
    ports.len()
}

#[test]
fn the_planted_beacon_scores_high_and_first_and_the_browser_low() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = support::beacon::write_beacon_logs(dir.path());
    let path = logs.to_str().expect("utf-8 path");
    let got = report_json(&[path]);
    // 97 beacon connections of 2 rows, 75 browser rows, 8 of System.
    assert_eq!(got["rows"], 277);
    // The browser's state changes (a socket's second row within 10 minutes) are no connections.
    assert_eq!(browser_sockets(), 57);
    assert_eq!(
        got["stats"]["beaconing"],
        json!([entry("updater.exe", 97, 300.0, 0.998), entry("iexplore.exe", 57, 15.5, 0.084)])
    );

    let (code, text, _) = report(&[path]);
    assert_eq!(code, 0);
    assert!(
        text.contains("Beaconing (score, connections, median interval)\n  0.998        97       300 s  updater.exe -> 203.0.113.50:443  on WS042\n  0.084        57        16 s  iexplore.exe -> 203.0.113.50:443  on WS042\n"),
        "{text}"
    );
}

#[test]
fn a_time_range_scores_the_rows_in_it_over_its_own_span() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = support::beacon::write_beacon_logs(dir.path());
    let got = report_json(&["--from", "2008-07-01T15:00:00", logs.to_str().expect("utf-8 path")]);
    assert_eq!((got["rows"].as_u64(), got["last"].as_str()), (Some(74), Some("2008-07-01T17:00:03")));
    // 25 connections 300 s apart cover the range's 7203 s; over the whole log's 8 hours they
    // would cover a quarter and score 0.63.
    assert_eq!(
        got["stats"]["beaconing"],
        json!([entry("updater.exe", 25, 300.0, 0.998), entry("iexplore.exe", 16, 15.0, 0.123)])
    );
}

fn click(harness: &mut Harness<'static, PrParserApp>, by: By<'_>) {
    harness.get(by).click();
    harness.run_steps(2);
    support::app::settle(harness);
}

fn link(label: &str) -> By<'_> {
    By::new().role(egui::Role::Link).label(label)
}

#[test]
fn the_app_lists_the_beacon_first_and_a_click_shows_its_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let logs = support::beacon::write_beacon_logs(dir.path());
    let mut harness = support::app::app_with(Settings::default(), vec![logs]);
    click(&mut harness, By::new().label("Statistics"));
    click(&mut harness, By::new().label("Beaconing"));
    let beacon = harness.get(link("updater.exe to 203.0.113.50:443")).rect().center().y;
    let browser = harness.get(link("iexplore.exe to 203.0.113.50:443")).rect().center().y;
    assert!(beacon < browser, "the beacon is listed first");
    harness.get_by_label("0.998, every 300 s, WS042");
    harness.get_by_label("0.084, every 16 s, WS042");
    harness.get_by_label("97");
    click(&mut harness, link("updater.exe to 203.0.113.50:443"));
    harness.get_by_label("Grid filtered to updater.exe to 203.0.113.50:443 on WS042");
    // 97 connections of two rows each, of the 277.
    harness.get_by_label("Rows shown: 194");
}
