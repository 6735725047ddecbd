//! The choice of dialog as the app makes it, with the portal check injected: what the person
//! sees when no portal answers, and when the desktop's dialog fails.

use std::path::PathBuf;
use std::sync::Arc;

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;

use super::super::PrParserApp;
use super::super::jobs::Pick;
use super::super::settings::Settings;
use super::{Answer, Dialogs, Portal};

const NOT_RUNNING: &str = "no desktop file dialog service is running: using the built-in dialog";

/// The app on the sample logs, named relative to the crate (tests run there) as on a command
/// line.
fn harness(portal: Portal) -> Harness<'static, PrParserApp> {
    let paths = vec![PathBuf::from("sample-logs")];
    let mut harness = Harness::builder().with_size([1400.0, 900.0]).build_eframe(move |cc| {
        let mut app = PrParserApp::with_settings(cc.egui_ctx.clone(), Settings::default(), paths);
        app.dialogs = Dialogs::new(Arc::new(move || portal.clone()));
        app
    });
    settle(&mut harness);
    harness
}

fn settle(harness: &mut Harness<'static, PrParserApp>) {
    for _ in 0..2000 {
        harness.step();
        if harness.state().is_idle() {
            harness.run_steps(2);
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("background work did not finish");
}

fn open_folder(harness: &mut Harness<'static, PrParserApp>) {
    harness.get_by_label("File").click();
    harness.run_steps(2);
    harness.get_by_label("Open folder...").click();
    settle(harness);
}

#[test]
fn with_no_portal_the_built_in_dialog_opens_and_the_status_bar_says_why() {
    for portal in [Portal::NoBus("no session bus".into()), Portal::NoFileChooser] {
        let mut harness = harness(portal);
        open_folder(&mut harness);
        harness.get_by_label(NOT_RUNNING);
        harness.get_by_label_contains("Open folder");
        let start = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        assert!(
            harness.get_all_by_value(&start.display().to_string()).next().is_some(),
            "it opens in the folder, made absolute"
        );
        harness.get_by_label("Cancel").click();
        settle(&mut harness);
        assert!(harness.state().dialogs.open.is_none(), "Cancel closes it");

        harness.state_mut().message.clear();
        open_folder(&mut harness);
        assert!(harness.query_by_label(NOT_RUNNING).is_none(), "said once, not at every pick");
        assert!(harness.state().dialogs.open.is_some());
    }
}

#[test]
fn a_desktop_dialog_that_fails_hands_the_pick_to_the_built_in_one() {
    let mut harness = harness(Portal::Available { version: 4 });
    harness.state_mut().native_answered(Pick::ExportCsv, Answer::Cancelled);
    settle(&mut harness);
    assert!(harness.state().dialogs.open.is_none(), "a cancel is not a failure");

    let failed = "Portal request didn't succeed: Other".to_string();
    harness.state_mut().native_answered(Pick::ExportCsv, Answer::Failed(failed));
    settle(&mut harness);
    harness.get_by_label(
        "the desktop file dialog service failed (Portal request didn't succeed: Other): using the built-in dialog",
    );
    assert!(harness.get_all_by_value("prparser-view.csv").next().is_some(), "the proposed name");
    let dialog = harness.state().dialogs.open.as_ref().map(|d| d.purpose());
    assert_eq!(dialog, Some(Pick::ExportCsv));
}
