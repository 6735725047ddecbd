//! Driving the app in the kittest harness: build it on some logs, wait for its background work.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::{Key, Modifiers};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;

/// The app at 1400x900 on `paths`, with `settings`, once its first load is done.
pub fn app_with(settings: Settings, paths: Vec<PathBuf>) -> Harness<'static, PrParserApp> {
    app_sized([1400.0, 900.0], settings, paths)
}

/// The app in a window of `size` points, once its first load is done.
pub fn app_sized(size: [f32; 2], settings: Settings, paths: Vec<PathBuf>) -> Harness<'static, PrParserApp> {
    let mut harness = Harness::builder()
        .with_size(size)
        .build_eframe(move |cc| PrParserApp::with_settings(cc.egui_ctx.clone(), settings, paths));
    settle(&mut harness);
    harness
}

/// Steps the app until its background jobs are done (bounded).
pub fn settle(harness: &mut Harness<'static, PrParserApp>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        harness.step();
        if harness.state().is_idle() {
            break;
        }
        assert!(Instant::now() < deadline, "background work did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    harness.run_steps(3);
}

/// Pixels allowed to differ from the committed images: text anti-aliasing varies a little
/// between software renderers; a layout change moves thousands.
pub fn snapshot_options() -> egui_kittest::SnapshotOptions {
    egui_kittest::SnapshotOptions::new().threshold(1.0).max_failed_pixels(2000)
}

/// The sample logs shipped in the repository, by absolute path: the built-in dialog shows it.
pub fn sample_logs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs")
}

/// Types `text` into the last field labelled `label` (the newest row of an editor holds it).
pub fn type_into(harness: &mut Harness<'static, PrParserApp>, label: &str, text: &str) {
    harness.get_all_by_label(label).last().expect("a text field").click();
    harness.run_steps(2);
    harness.get_all_by_label(label).last().expect("a text field").type_text(text);
    harness.run_steps(2);
    settle(harness);
}

/// Replaces the text of the field showing `now` with `text` and presses Enter.
pub fn retype(harness: &mut Harness<'static, PrParserApp>, now: &str, text: &str) {
    harness.get_all_by_value(now).next().expect("the field").click();
    harness.run_steps(2);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.run_steps(1);
    harness.get_all_by_value(now).next().expect("the field").type_text(text);
    harness.run_steps(1);
    harness.key_press(Key::Enter);
    settle(harness);
}

/// Opens `file` in the built-in dialog by typing its path over the folder shown.
pub fn open_in_dialog(harness: &mut Harness<'static, PrParserApp>, folder: &Path, file: &Path) {
    retype(harness, &folder.display().to_string(), &file.display().to_string());
}
