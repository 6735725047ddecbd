//! The app's job handling, driven through the real UI where the integration tests cannot
//! reach: a thread the OS refuses, and the exact frame a result is taken in.

use std::path::PathBuf;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::PrParserApp;
use super::settings::Settings;

fn sample() -> Vec<PathBuf> {
    vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs")]
}

fn harness() -> Harness<'static, PrParserApp> {
    harness_on(sample())
}

/// The app after its first frames, its load of `paths` started.
fn harness_on(paths: Vec<PathBuf>) -> Harness<'static, PrParserApp> {
    Harness::builder()
        .with_size([1400.0, 900.0])
        .build_eframe(move |cc| PrParserApp::with_settings(cc.egui_ctx.clone(), Settings::default(), paths))
}

/// Steps until idle; panics past a bound (the bug being tested is work that never ends).
fn settle(harness: &mut Harness<'static, PrParserApp>) {
    for _ in 0..2000 {
        harness.step();
        if harness.state().is_idle() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("background work did not finish");
}

#[test]
fn a_job_that_cannot_start_says_so_and_leaves_nothing_busy() {
    let mut harness = harness();
    settle(&mut harness);
    harness.get_by_label("Rows shown: 319");
    harness.state_mut().jobs.refuse_threads();

    harness.get_by_label("Filter").click();
    harness.step();
    harness.get_by_label("Filter").type_text("svchost");
    settle(&mut harness);
    harness.get_by_label("cannot start a thread for view: no threads left");
    harness.get_by_label("Rows shown: 319");

    harness.state_mut().open(sample());
    settle(&mut harness);
    harness.get_by_label("Could not open: cannot start a thread for load: no threads left");
    assert!(harness.query_by_label("Cancel").is_none(), "no progress bar left behind");
}

#[test]
fn statistics_count_as_work_until_they_are_on_screen() {
    let mut harness = harness();
    settle(&mut harness);
    harness.get_by_label("Statistics").click();
    // No extra frames after idle: idle must mean the figures are drawn.
    settle(&mut harness);
    assert_eq!(harness.get_all_by_label("10110").count(), 2, "beside its bar and in the table");
    harness.get_by_label("4.90%");
}

/// Cancel on the progress bar stops a load: nothing of it is shown or remembered.
#[test]
fn cancel_stops_a_load_and_remembers_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Big enough to still be loading once the harness has drawn its first frames.
    let options = crate::generate::Options { rows: 200_000, seed: 1, shape: Default::default() };
    crate::generate::write_set(dir.path(), &options).expect("generate");
    let mut harness = harness_on(vec![dir.path().to_path_buf()]);
    harness.get_by_label("Cancel").click();
    settle(&mut harness);
    harness.get_by_label("No logs loaded");
    harness.get_by_label("Open a Port Reporter log");
    assert!(harness.state().recent().is_empty(), "nothing opened, nothing in Recent");
}

/// Cancel after the load's thread has passed its last look at the cancel flag (as when it is
/// clicked during the index build, or as the load ends): the finished load is dropped, not
/// shown nor remembered, and the next load is not held back.
#[test]
fn a_load_cancelled_too_late_to_stop_is_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = crate::generate::Options { rows: 200_000, seed: 1, shape: Default::default() };
    crate::generate::write_set(dir.path(), &options).expect("generate");
    let mut harness = harness_on(vec![dir.path().to_path_buf()]);
    let progress = std::sync::Arc::clone(harness.state().work.load.current().expect("loading").1);
    // Held here, by the app, and by the job's thread until it has sent its result.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while std::sync::Arc::strong_count(&progress) > 2 {
        assert!(std::time::Instant::now() < deadline, "the load did not finish");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(!progress.cancelled(), "the load ran to its end");
    harness.state_mut().cancel_load();
    settle(&mut harness);
    harness.get_by_label("No logs loaded");
    assert!(harness.query_by_label_contains("Rows loaded").is_none());
    assert!(harness.state().recent().is_empty(), "nothing opened, nothing in Recent");

    harness.state_mut().open(sample());
    settle(&mut harness);
    harness.get_by_label("Rows loaded: 319");
    let canonical = std::fs::canonicalize(&sample()[0]).expect("the sample folder");
    assert_eq!(harness.state().recent(), &[vec![canonical]]);
}
