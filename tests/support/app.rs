//! Driving the app in the kittest harness: build it on some logs, wait for its background work.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use egui_kittest::Harness;
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
