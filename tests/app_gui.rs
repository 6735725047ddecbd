//! The desktop app driven as a person would, through egui_kittest: widgets are found by the
//! labels a person reads, and checks are on what the window shows.

mod support;

use std::path::PathBuf;

use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use support::app::type_into;

fn app_on(paths: Vec<PathBuf>) -> Harness<'static, PrParserApp> {
    support::app::app_with(Settings::default(), paths)
}

fn sample() -> Vec<PathBuf> {
    vec![PathBuf::from("sample-logs")]
}

#[test]
fn the_sample_logs_open_with_their_counts_in_the_status_bar() {
    let harness = app_on(sample());
    harness.get_by_label("Rows loaded: 319");
    harness.get_by_label("Rows shown: 319");
    harness.get_by_label("Malformed lines: 5");
    harness.get_by_label("Rows flagged: 0");
}

#[test]
fn sorting_by_a_header_brings_the_latest_row_to_the_top() {
    let mut harness = app_on(sample());
    assert!(harness.query_by_label("2008-07-01 00:40:00").is_none(), "the last row starts off screen");
    harness.get_by_label("Date/time").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Date/time (asc)").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Date/time (desc)");
    harness.get_by_label("2008-07-01 00:40:00");
}

#[test]
fn the_quick_filter_narrows_the_rows_shown() {
    let mut harness = app_on(sample());
    type_into(&mut harness, "Filter", "svchost");
    harness.get_by_label("Rows shown: 57");
    harness.get_by_label("Rows loaded: 319");
}

#[test]
fn clicking_a_row_shows_its_process_detail_and_modules() {
    let mut harness = app_on(sample());
    type_into(&mut harness, "Filter", "6667");
    harness.get_by_label("Rows shown: 8");
    harness.get_all_by_label("3120").next().expect("a row of PID 3120").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Loaded modules");
    harness.get_by_label_contains("Local Settings\\Temp\\svchost.exe");
    harness.get_by_label("Services (0)");
}

/// The selected row keeps its place through a re-sort (found by the view job): the arrow key
/// then moves from it in the new order, not from the top.
#[test]
fn after_a_re_sort_the_arrow_key_moves_on_from_the_selected_row() {
    let mut harness = app_on(sample());
    type_into(&mut harness, "Filter", "6667");
    harness.get_by_label("Rows shown: 8");
    harness.get_by_label("2004-01-24 15:40:03").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Row time: 2004-01-24 15:40:03");
    harness.get_by_label("Date/time").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Date/time (asc)").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Date/time (desc)");
    harness.key_press(egui::Key::ArrowDown);
    support::app::settle(&mut harness);
    // Newest first: 15:40:03 is fifth; the row after it is 14:30:55 (the top row is 23:52:18).
    harness.get_by_label("Row time: 2004-01-24 14:30:55");
}

#[test]
fn every_column_scrolls_into_view_beside_the_detail_panel_in_a_1280_pixel_window() {
    let mut harness = support::app::app_sized([1280.0, 800.0], Settings::default(), sample());
    type_into(&mut harness, "Filter", "6667");
    harness.get_all_by_label("3120").next().expect("a row of PID 3120").click();
    support::app::settle(&mut harness);
    let panel_left = harness.get_by_label("Loaded modules").rect().min.x;
    let grid_left = harness.get_by_label("Date/time").rect().min.x;
    let visible = |h: &Harness<'static, PrParserApp>, title: &str| {
        let header = By::new().role(egui::Role::Button).label(title);
        let r = h.get(header).rect();
        r.min.x >= grid_left - 8.0 && r.max.x <= panel_left
    };
    assert!(!visible(&harness, "User"), "the last columns start out past the detail panel");
    // Shift+wheel over the grid scrolls the columns sideways.
    harness.get(By::new().role(egui::Role::Button).label("Protocol")).hover();
    harness.event(egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, -2000.0),
        phase: egui::TouchPhase::Move,
        modifiers: egui::Modifiers::SHIFT,
        source: egui::MouseWheelSource::Wheel,
    });
    harness.run_steps(60);
    for title in ["Module", "User"] {
        assert!(visible(&harness, title), "{title} is not in view");
    }
    harness.get_by_label("Scroll the columns");
}

#[test]
fn a_criterion_flags_rows_and_opening_one_shows_its_notification() {
    let mut harness = app_on(sample());
    harness.get_by_label("Criteria...").click();
    harness.run_steps(2);
    harness.get_by_label("Add criterion").click();
    harness.run_steps(2);
    type_into(&mut harness, "Pattern", "WINWORD.EXE");
    type_into(&mut harness, "Message", "Word should not talk to the network");
    harness.get_by_label("Rows flagged: 9");
    harness.get_by_label("9 rows");

    type_into(&mut harness, "Filter", "WINWORD");
    harness.get_all_by_label("WINWORD.EXE").next().expect("a flagged row").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Flagged row");
    harness.get_by_label("Criterion 1");
    harness.get_by_label("Word should not talk to the network");
    harness.get_by_label("OK").click();
    support::app::settle(&mut harness);
    assert!(harness.query_by_label("Flagged row").is_none());
    harness.get_by_label("Row time: 2008-06-30 10:23:45");
    harness.get_by_label("Block recorded at: 2008-06-30 10:23:45");
}

#[test]
fn a_first_start_offers_the_example_criteria() {
    let mut harness = app_on(sample());
    harness.get_by_label("Rows flagged: 0");
    harness.get_by_label("No criteria yet").click();
    harness.run_steps(2);
    harness.get_by_label_contains("Start from the example criteria");
    harness.get_by_label("Load example criteria").click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Rows flagged: 52");
    harness.get_by_label("5 criteria");
    assert!(harness.query_by_label("No criteria yet").is_none());
    assert!(harness.query_by_label("Load example criteria").is_none());
}

#[test]
fn the_no_flagged_rows_notice_goes_once_a_criterion_flags_rows() {
    let mut harness = app_on(sample());
    harness.key_press(egui::Key::F3);
    harness.run_steps(2);
    harness.get_by_label("No flagged rows in this view.");
    harness.get_by_label("Criteria...").click();
    harness.run_steps(2);
    harness.get_by_label("Add criterion").click();
    harness.run_steps(2);
    type_into(&mut harness, "Pattern", "WINWORD.EXE");
    harness.get_by_label("Rows flagged: 9");
    assert!(harness.query_by_label("No flagged rows in this view.").is_none());
}

#[test]
fn a_log_that_cannot_be_opened_says_so_in_the_window() {
    let harness = app_on(vec![PathBuf::from("/nonexistent/PR-PORTS-08-06-30-10-17-54.log")]);
    harness.get_by_label_contains("Could not open: cannot read /nonexistent/PR-PORTS-08-06-30-10-17-54.log");
}

#[test]
fn end_reaches_the_last_row_and_home_the_first() {
    let mut harness = app_on(sample());
    assert!(harness.query_by_label("2008-07-01 00:40:00").is_none());
    harness.key_press(egui::Key::End);
    harness.run_steps(3);
    harness.get_by_label("2008-07-01 00:40:00");
    harness.key_press(egui::Key::Home);
    harness.run_steps(3);
    assert_eq!(harness.get_all_by_label("2004-01-24 08:52:21").count(), 2, "the first two rows share a time");
    assert!(harness.query_by_label("2008-07-01 00:40:00").is_none());
}

#[test]
fn snapshots_of_the_main_screen_a_flagged_row_and_its_detail() {
    let criteria =
        prparser::analysis::criteria::CriteriaSet::load(std::path::Path::new("assets/example-criteria.json"))
            .expect("example criteria");
    let mut harness = support::app::app_with(Settings { criteria, ..Settings::default() }, sample());
    harness.get_by_label("Rows flagged: 52");
    harness.snapshot_options("main_screen", &support::app::snapshot_options());
    type_into(&mut harness, "Filter", "6667");
    harness.get_all_by_label("3120").next().expect("a row of PID 3120").click();
    support::app::settle(&mut harness);
    harness.get_by_label("IRC ports");
    harness.snapshot_options("notification", &support::app::snapshot_options());
    harness.get_by_label("OK").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Loaded modules");
    harness.snapshot_options("quick_filter_and_detail", &support::app::snapshot_options());
}

/// Steps the app until `label` is first drawn (bounded in real time: the job behind it runs
/// on a thread).
fn step_until_shown(harness: &mut Harness<'static, PrParserApp>, label: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while harness.query_by_label(label).is_none() {
        assert!(std::time::Instant::now() < deadline, "never shown: {label}");
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// A note in the status bar is there for 8 s from the frame that first draws it, then gone.
/// The harness's clock moves a quarter of a second a step (egui_kittest's default), so 31
/// steps later is 7.75 s and 32 is 8 s.
#[test]
fn a_status_note_fades_after_eight_seconds() {
    let mut harness = app_on(sample());
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("view.csv");
    harness.state_mut().export_view(path.clone(), false);
    let note = format!("Exported 319 rows to {}", path.display());
    step_until_shown(&mut harness, &note);
    harness.run_steps(31);
    harness.get_by_label(&note);
    harness.run_steps(1);
    assert!(harness.query_by_label(&note).is_none(), "gone after 8 s");
    harness.get_by_label("Rows shown: 319");
}

/// An error is not a note: it stays until dismissed.
#[test]
fn an_error_stays_until_dismissed() {
    let mut harness = app_on(sample());
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-folder");
    harness.state_mut().open(vec![missing]);
    support::app::settle(&mut harness);
    harness.get_by_label_contains("Could not open");
    harness.run_steps(80);
    harness.get_by_label_contains("Could not open");
    harness.get_by_label("Dismiss").click();
    harness.run_steps(2);
    assert!(harness.query_by_label_contains("Could not open").is_none(), "dismissed");
    harness.get_by_label("Rows shown: 319");
}
