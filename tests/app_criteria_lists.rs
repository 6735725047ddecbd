//! Address lists and allow criteria in the app, driven through the criteria editor as a
//! person would: a list chosen with the file dialog flags rows, the notification names the
//! list entry, an allow criterion clears rows, and a list rewritten on disk is read again.

mod support;

use std::time::{Duration, Instant};

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use support::app::{open_in_dialog, sample_logs, type_into};

/// Picks `choice` in the last combo box showing `now`.
fn choose(harness: &mut Harness<'static, PrParserApp>, now: &str, choice: &str) {
    harness.get_all_by_value(now).last().expect("the combo box").click();
    harness.run_steps(2);
    harness.get_by_label(choice).click();
    harness.run_steps(2);
    support::app::settle(harness);
}

/// Steps until `label` is on screen: a list check runs every two seconds (bounded).
fn wait_for(harness: &mut Harness<'static, PrParserApp>, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while harness.query_by_label(label).is_none() {
        assert!(Instant::now() < deadline, "{label:?} never showed");
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_list_criterion_chosen_in_the_dialog_flags_rows_an_allow_criterion_clears_them_and_a_changed_list_reloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let list = dir.path().join("bad.netset");
    // 198.51.100.0/24 holds 13 rows' remote addresses, 217.12.11.66 another 14; line 3 is no
    // address.
    std::fs::write(&list, "# test list\n198.51.100.0/24\nnot an address\n217.12.11.66 ; SBL123\n").expect("list");
    let settings = Settings { builtin_file_dialog: true, ..Settings::default() };
    let mut harness = support::app::app_with(settings, vec![sample_logs()]);
    harness.get_by_label("Rows flagged: 0");

    harness.get_by_label("Criteria...").click();
    harness.run_steps(2);
    harness.get_by_label("Add criterion").click();
    harness.run_steps(2);
    choose(&mut harness, "module", "remote IP");
    choose(&mut harness, "exact", "address list");
    harness.get_by_label("Choose list file...").click();
    support::app::settle(&mut harness);
    open_in_dialog(&mut harness, &sample_logs(), &list);

    harness.get_by_label("Rows flagged: 27");
    harness.get_by_label("27 rows");
    harness.get_by_label("bad.netset: 2 entries; 1 unreadable line skipped (line 3)");
    let stored = std::path::absolute(&list).expect("absolute");
    assert!(
        harness.get_all_by_value(&stored.display().to_string()).next().is_some(),
        "the pattern names the file in full"
    );
    assert!(harness.query_by_label("Rows allowed: 0").is_none(), "no allow criterion, no allowed count");

    type_into(&mut harness, "Filter", "217.12.11.66");
    harness.get_by_label("Rows shown: 14");
    harness.key_press(Key::F3);
    support::app::settle(&mut harness);
    harness.get_by_label("Flagged row");
    harness.get_by_label("217.12.11.66 — bad.netset line 4");
    harness.get_by_label("OK").click();
    support::app::settle(&mut harness);

    harness.get_by_label("Add criterion").click();
    harness.run_steps(2);
    choose(&mut harness, "module", "remote IP");
    type_into(&mut harness, "Pattern", "217.12.11.66");
    harness.get_all_by_label("Allow").last().expect("the second criterion's Allow").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Rows flagged: 13");
    harness.get_by_label("Rows allowed: 14");
    harness.get_by_label("13 rows");
    harness.get_by_label("14 rows cleared");

    // The list loses its network: only allowed rows are left to it.
    std::fs::write(&list, "217.12.11.66\n").expect("list rewritten");
    // The note fades after a few seconds of the harness's clock: looked for as it comes.
    wait_for(&mut harness, "An address list changed on disk: reloaded");
    wait_for(&mut harness, "Rows flagged: 0");
    support::app::settle(&mut harness);
    harness.get_by_label("Rows allowed: 14");
    harness.get_by_label("bad.netset: 1 entry");
}

#[test]
fn a_list_that_cannot_be_read_says_why_beside_its_criterion() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.netset");
    let mut harness = support::app::app_with(Settings::default(), vec![sample_logs()]);
    harness.get_by_label("Criteria...").click();
    harness.run_steps(2);
    harness.get_by_label("Add criterion").click();
    harness.run_steps(2);
    choose(&mut harness, "module", "remote IP");
    choose(&mut harness, "exact", "address list");
    type_into(&mut harness, "Pattern", &missing.display().to_string());
    harness.get_by_label_contains(&format!("Invalid: cannot read address list {}", missing.display()));
    harness.get_by_label("Rows flagged: 0");

    // Once the file appears, the next check reads it.
    std::fs::write(&missing, "198.51.100.20\n").expect("list");
    wait_for(&mut harness, "Rows flagged: 13");
    support::app::settle(&mut harness);
    harness.get_by_label("missing.netset: 1 entry");
}
