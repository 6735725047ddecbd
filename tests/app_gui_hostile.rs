//! The app on hostile input: it says what it could not read, and stays responsive with a
//! criteria file of a hundred thousand entries.

mod support;

use std::path::PathBuf;

use egui_kittest::kittest::Queryable;
use prparser::analysis::criteria::{CriteriaSet, Criterion, Field, MatchKind};
use prparser::app::settings::Settings;

const ROW: &str =
    "08/6/30,10:17:58,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>\r\n";

/// A PORTS log in its own folder, with a header naming a partner outside it.
fn hostile_log(dir: &std::path::Path) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir(&logs).expect("mkdir");
    let mut text = b"Port Reporter Version 1.01 Log File - Port usage log\r\nCheck ../PR-PIDS-08-06-30-10-17-54.log for corresponding process data\r\n".to_vec();
    text.extend_from_slice(ROW.as_bytes());
    text.extend_from_slice(b"\0\0\0\0garbage\xff\xfe\r\n");
    text.extend_from_slice(&vec![b'7'; 3 << 20]);
    text.extend_from_slice(b"\r\n");
    text.extend_from_slice(ROW.as_bytes());
    let path = logs.join("PR-PORTS-08-06-30-10-17-54.log");
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn a_hostile_file_opens_with_its_problems_counted_in_the_status_bar() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut harness = support::app::app_with(Settings::default(), vec![hostile_log(dir.path())]);
    harness.get_by_label("Rows loaded: 2");
    // The refused partner, the missing PIDS log and the missing INITIAL log.
    harness.get_by_label("Warnings: 3");
    harness.get_by_label("Malformed lines: 2").click();
    harness.run_steps(3);
    // The panel lists both malformed lines, then the three warnings.
    let listed: Vec<String> =
        harness.query_all_by_label_contains("PR-PORTS-08-06-30-10-17-54.log:").filter_map(|n| n.value()).collect();
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert!(listed[0].contains(".log:4: expected 7, 9 or 10"), "{listed:?}");
    assert!(listed[1].contains(".log:5: line longer than"), "{listed:?}");
    assert!(listed[2..].iter().all(|l| l.starts_with("warning: ")), "{listed:?}");
}

#[test]
fn a_hundred_thousand_criteria_leave_the_app_responsive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let criteria = (0..100_000)
        .map(|i| Criterion {
            name: format!("Criterion number {i}"),
            field: if i % 2 == 0 { Field::Module } else { Field::RemotePort },
            kind: MatchKind::Exact,
            pattern: if i == 99_999 { "80".into() } else { format!("tool{i}.exe") },
            enabled: true,
            message: String::new(),
            effect: Default::default(),
        })
        .collect();
    let settings = Settings { criteria: CriteriaSet { criteria }, ..Settings::default() };
    let mut harness = support::app::app_with(settings, vec![hostile_log(dir.path())]);
    harness.get_by_label("Rows flagged: 2");
    harness.get_by_label("Criteria...").click();
    harness.run_steps(3);
    harness.get_by_label("100000 criteria");
    // Only the criteria in view are laid out: a few name fields, not a hundred thousand.
    let laid_out = harness.get_all_by_label("Name").count();
    assert!((1..=12).contains(&laid_out), "{laid_out} criteria laid out");
    // Criterion 1 ("tool1.exe" as a remote port) is shown as invalid, from the compiled set.
    harness.get_by_label_contains("Invalid: invalid port range \"tool1.exe\"");
}
