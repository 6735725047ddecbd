//! The built-in file dialog driven end to end through the real UI, as a person on a desktop
//! without a portal (or who chose View › Use built-in file dialog) would use it.

mod support;

use std::path::{Path, PathBuf};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use support::app::{retype, sample_logs};

/// The app on `paths` with the built-in dialog chosen (the folder last used is then the one
/// the paths are in).
fn app(paths: Vec<PathBuf>) -> Harness<'static, PrParserApp> {
    support::app::app_with(Settings { builtin_file_dialog: true, ..Settings::default() }, paths)
}

fn menu(harness: &mut Harness<'static, PrParserApp>, menu: &str, item: &str) {
    harness.get_by_label(menu).click();
    harness.run_steps(2);
    harness.get_by_label(item).click();
    support::app::settle(harness);
}

/// Goes from the folder the dialog shows to another by typing its path.
fn go_to(harness: &mut Harness<'static, PrParserApp>, from: &Path, to: &Path) {
    retype(harness, &from.display().to_string(), &to.display().to_string());
}

/// A small set of logs to start from, so that what the dialog opens is seen to replace it.
fn generated_logs(dir: &Path) -> PathBuf {
    let logs = dir.join("generated");
    std::fs::create_dir(&logs).expect("folder");
    let options = prparser::generate::Options { rows: 1_500, seed: 7, shape: Default::default() };
    prparser::generate::write_set(&logs, &options).expect("generate");
    logs
}

#[test]
fn a_log_folder_opens_through_the_built_in_dialog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = generated_logs(dir.path());
    std::fs::write(dir.path().join("notes.log"), "").expect("file");
    std::fs::write(dir.path().join(".hidden.log"), "").expect("file");
    let mut harness = app(vec![generated.clone()]);
    harness.get_by_label_contains("Rows loaded: 1,");

    menu(&mut harness, "File", "Open folder...");
    harness.get_by_label("📁  Open folder");
    // It starts in the last folder used: the one just opened.
    assert!(harness.query_by_label_contains("🗋 PR-PORTS").is_some(), "the generated logs are listed");
    go_to(&mut harness, &generated, dir.path());
    harness.get_by_label("🗀 generated");
    harness.get_by_label("🗋 notes.log");
    assert!(harness.query_by_label("🗋 .hidden.log").is_none(), "hidden files are off by default");

    go_to(&mut harness, dir.path(), &sample_logs());
    harness.get_by_label("🗀 xp-v1.01-2008");
    harness.get_by_label("Open").click();
    support::app::settle(&mut harness);

    harness.get_by_label("Rows loaded: 319");
    assert!(harness.query_by_label("📁  Open folder").is_none(), "the dialog closed");
    let canonical = std::fs::canonicalize(sample_logs()).expect("the sample folder");
    assert_eq!(harness.state().recent().first(), Some(&vec![canonical]));
}

#[test]
fn the_view_exports_as_csv_through_the_built_in_dialog_and_reads_back_as_the_grid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut harness = app(vec![sample_logs()]);
    harness.get_all_by_label("Filter").last().expect("the quick filter").click();
    harness.run_steps(2);
    harness.get_all_by_label("Filter").last().expect("the quick filter").type_text("6667");
    support::app::settle(&mut harness);
    harness.get_by_label("Rows shown: 8");

    menu(&mut harness, "File", "Export view as CSV...");
    assert!(harness.get_all_by_value("prparser-view.csv").next().is_some(), "the proposed name");
    go_to(&mut harness, &sample_logs(), dir.path());
    harness.get_by_label("Save").click();
    support::app::settle(&mut harness);
    let path = dir.path().join("prparser-view.csv");
    harness.get_by_label(&format!("Exported 8 rows to {}", path.display()));

    let mut csv = csv::Reader::from_path(&path).expect("the export reads back");
    let header: Vec<String> = csv.headers().expect("header").iter().map(String::from).collect();
    for title in &header {
        assert!(harness.get_all_by_label(title).next().is_some(), "the grid has a column {title}");
    }
    let rows: Vec<Vec<String>> =
        csv.records().map(|r| r.expect("a record").iter().map(String::from).collect()).collect();
    assert_eq!(rows.len(), 8, "every row shown, none other");
    // Each record is a row of the grid, in the grid's order: its cells share one line on
    // screen, each line below the one before.
    let mut above = f32::MIN;
    for row in &rows {
        let line = harness
            .get_all_by_label(&row[0])
            .map(|n| n.rect().center().y)
            .filter(|&y| y > above)
            .find(|&y| {
                row.iter()
                    .filter(|cell| !cell.is_empty())
                    .all(|cell| harness.get_all_by_label(cell).any(|n| (n.rect().center().y - y).abs() < 1.0))
            })
            .unwrap_or_else(|| panic!("no grid line below {above} shows {row:?}"));
        above = line;
    }
}

#[test]
fn a_save_asks_before_replacing_a_file_and_a_failed_write_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let existing = dir.path().join("prparser-view.csv");
    std::fs::write(&existing, "keep me").expect("file");
    let mut harness = app(vec![sample_logs()]);

    menu(&mut harness, "File", "Export view as CSV...");
    go_to(&mut harness, &sample_logs(), dir.path());
    harness.get_by_label("🗋 prparser-view.csv");
    harness.get_by_label("Save").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Replace the file?");
    harness.get_by_label("Keep it").click();
    support::app::settle(&mut harness);
    assert_eq!(std::fs::read_to_string(&existing).expect("file"), "keep me", "nothing written");

    // Back in the dialog: a full disk (/dev/full) is the failure a save must report.
    retype(&mut harness, "prparser-view.csv", "/dev/full");
    harness.get_by_label("Replace the file?");
    harness.get_by_label("Replace").click();
    support::app::settle(&mut harness);
    harness.get_by_label_contains("cannot export to /dev/full: No space left on device");
}
