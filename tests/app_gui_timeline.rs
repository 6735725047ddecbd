//! The timeline above the grid, driven as a person would: hovering a bar names its bucket,
//! clicking one brings the grid to its first row, a drag across the bars narrows the grid and
//! the statistics to a range that a chip names, Clear brings every row back, and the wheel
//! zooms down to seconds.
//!
//! The log: one app.exe row a minute from 30 Jun 2008 10:00 to 13:59 (240 rows), minute m's
//! remainder by 5 dns.exe rows after it (480 rows), and an evil.exe row, flagged, 30 seconds
//! into every twentieth minute (12 rows). Its folder names its computer.

mod support;

use std::io::Write;
use std::path::Path;

use egui::{Pos2, pos2};
use egui_kittest::Harness;
use egui_kittest::kittest::{By, Queryable};
use prparser::analysis::criteria::{CriteriaSet, Criterion, Field, MatchKind};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use prparser::logs::ports;

/// Seconds from 10:00 to the end of the log's last minute.
const SPAN: f32 = 4.0 * 3600.0;

fn write_log(dir: &Path) {
    let mut text = Vec::new();
    ports::write_header(&mut text, "2.0", "PR-PIDS-08-06-30-10-0-0.log").expect("header");
    for m in 0..240u32 {
        let (h, min) = (10 + m / 60, m % 60);
        writeln!(
            text,
            "08/6/30,{h}:{min}:0,TCP,{},10.0.0.1,443,192.0.2.7,{},app.exe,<host\\ann>\r",
            1000 + m,
            2000 + m
        )
        .expect("row");
        for k in 0..m % 5 {
            writeln!(text, "08/6/30,{h}:{min}:{},UDP,53,10.0.0.1,*,*,{},dns.exe,<host\\ann>\r", 10 + k, 900 + k)
                .expect("row");
        }
        if m % 20 == 0 {
            writeln!(
                text,
                "08/6/30,{h}:{min}:30,TCP,{},10.0.0.1,6667,203.0.113.9,{},evil.exe,<host\\ann>\r",
                3000 + m,
                5000 + m
            )
            .expect("row");
        }
    }
    std::fs::write(dir.join("PR-PORTS-08-06-30-10-0-0.log"), text).expect("write the log");
}

/// The log in a folder named like a computer (the temporary folder's name changes each run).
fn log_folder(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("WS-ANN");
    std::fs::create_dir(&dir).expect("folder");
    write_log(&dir);
    dir
}

fn settings() -> Settings {
    let criterion = Criterion {
        name: "Evil".into(),
        field: Field::Module,
        kind: MatchKind::Exact,
        pattern: "evil.exe".into(),
        enabled: true,
        message: "evil talks".into(),
        effect: Default::default(),
    };
    Settings { criteria: CriteriaSet { criteria: vec![criterion] }, ..Settings::default() }
}

/// The point on the bars `seconds` after 10:00 (the whole span is shown, 10:00 to 14:00).
fn at(harness: &Harness<'static, PrParserApp>, seconds: f32) -> Pos2 {
    let bars = harness.get_by_label("Timeline bars").rect();
    pos2(bars.left() + seconds / SPAN * bars.width(), bars.center().y)
}

/// A press and release at `point` without moving: a click, not a drag-select.
fn click(harness: &mut Harness<'static, PrParserApp>, point: Pos2) {
    harness.drag_at(point);
    harness.run_steps(1);
    harness.drop_at(point);
    harness.run_steps(2);
    support::app::settle(harness);
}

fn minutes(m: f32) -> f32 {
    m * 60.0
}

#[test]
fn hover_click_select_and_clear_on_the_timeline() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut harness = support::app::app_with(settings(), vec![log_folder(tmp.path())]);
    harness.get_by_label("Rows shown: 732");
    harness.get_by_label("Rows flagged: 12");
    harness.get_by_label("732 rows, 12 flagged");
    harness.get_by_label("1 bar = 1 minute");

    // Hovering the 11:20 bar: its bucket, its rows and its flagged rows (80 % 5 = 0: no dns.exe).
    harness.hover_at(at(&harness, minutes(80.5)));
    harness.run_steps(2);
    harness.get_by_label("30 Jun 2008 11:20 – 11:21");
    harness.get_by_label("Rows: 2");
    harness.get_by_label("Flagged rows: 1");

    // Clicking the 13:40 bar brings its first row into the grid.
    assert!(harness.query_by_label("2008-06-30 13:40:00").is_none(), "off screen at first");
    let bar = at(&harness, minutes(220.5));
    click(&mut harness, bar);
    harness.get_by_label("2008-06-30 13:40:00");
    assert!(harness.query_by_label("30 Jun 2008 10:00 – 12:30").is_none(), "a click selects no range");

    // A drag from the 10:00 bar to the 12:29 bar selects 10:00 to 12:30.
    let (from, to) = (at(&harness, minutes(0.5)), at(&harness, minutes(149.5)));
    harness.drag_at(from);
    harness.run_steps(1);
    harness.hover_at(pos2((from.x + to.x) / 2.0, from.y));
    harness.run_steps(1);
    harness.hover_at(to);
    harness.run_steps(1);
    harness.drop_at(to);
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("30 Jun 2008 10:00 – 12:30");
    // 150 app.exe rows, 30 × (0 + 1 + 2 + 3 + 4) dns.exe rows and the evil.exe rows of
    // 10:00, 10:20, ... 12:20.
    harness.get_by_label("Rows shown: 458");
    harness.get_by_label("732 rows, 12 flagged");
    harness.remove_cursor();
    harness.run_steps(2);
    harness.snapshot_options("timeline_range", &support::app::snapshot_options());
    harness.get_by_label("Statistics").click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("over 458 rows shown in the grid; click an entry to filter the grid");
    harness.get_by_label("30 Jun 2008 10:00 – 12:30");
    harness.get_by_label("Grid").click();
    harness.run_steps(2);
    support::app::settle(&mut harness);

    harness.get_by_label("Clear").click();
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("Rows shown: 732");
    assert!(harness.query_by_label("30 Jun 2008 10:00 – 12:30").is_none());
}

/// Sorted by module, descending, the grid reads evil.exe (12 rows), dns.exe (480), app.exe
/// (240): the 13:40 bar's earliest row, app.exe at 13:40:00, stands near the end, and its
/// evil.exe row (13:40:30) near the top. The click finds it by a background scan and the grid
/// scrolls there.
#[test]
fn a_click_on_a_bar_of_a_grid_sorted_by_another_column_lands_on_its_earliest_row() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut harness = support::app::app_with(settings(), vec![log_folder(tmp.path())]);
    harness.get_by_label("Module").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Module (asc)").click();
    support::app::settle(&mut harness);
    harness.get_by_label("Module (desc)");
    harness.get_by_label("2008-06-30 13:40:30");
    assert!(harness.query_by_label("2008-06-30 13:40:00").is_none(), "off screen at first");

    let bar = at(&harness, minutes(220.5));
    click(&mut harness, bar);
    harness.get_by_label("2008-06-30 13:40:00");
    assert!(harness.query_by_label("2008-06-30 13:40:30").is_none(), "the grid left the evil.exe rows at the top");
    harness.get_by_label("Module (desc)");
    harness.get_by_label("Rows shown: 732");
}

#[test]
fn the_wheel_zooms_down_to_seconds_the_axis_pans_and_the_timeline_can_be_hidden() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut harness = support::app::app_with(settings(), vec![log_folder(tmp.path())]);
    harness.get_by_label("1 bar = 1 minute");
    let point = at(&harness, minutes(80.5));
    harness.hover_at(point);
    for _ in 0..40 {
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, 100.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        harness.run_steps(1);
    }
    support::app::settle(&mut harness);
    harness.get_by_label("1 bar = 1 second");
    // The time under the pointer stayed there: 11:20:30 holds the flagged row.
    harness.hover_at(point);
    harness.run_steps(2);
    support::app::settle(&mut harness);
    harness.get_by_label("30 Jun 2008 11:20:30 – 11:20:31");
    harness.get_by_label("Rows: 1");
    harness.get_by_label("Flagged rows: 1");

    // Dragging the axis to the right pans to earlier times, selecting nothing.
    let before = left_edge(&mut harness);
    let axis = harness.get_by_label("Timeline axis").rect();
    let (from, to) = (pos2(axis.left() + 10.0, axis.center().y), pos2(axis.right() - 10.0, axis.center().y));
    harness.drag_at(from);
    harness.run_steps(1);
    harness.hover_at(to);
    harness.run_steps(1);
    harness.drop_at(to);
    support::app::settle(&mut harness);
    let after = left_edge(&mut harness);
    assert!(after < before, "{after} is not before {before}");
    assert!(harness.query_by_label("Time range").is_none(), "panning selects nothing");
    harness.get_by_label("1 bar = 1 second");

    harness.get_by_label("Whole span").click();
    harness.run_steps(2);
    harness.get_by_label("1 bar = 1 minute");

    harness.get_by_label("View").click();
    harness.run_steps(2);
    harness.get(By::new().role(egui::Role::CheckBox).label("Timeline")).click();
    harness.run_steps(2);
    assert!(harness.query_by_label("Timeline bars").is_none());
}

/// Steps the app until `label` shows (bounded: the live thread polls every 500 ms).
fn wait_for_label(harness: &mut Harness<'static, PrParserApp>, label: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while harness.query_by_label(label).is_none() {
        assert!(std::time::Instant::now() < deadline, "not seen within 60 s: {label}");
        harness.step();
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    support::app::settle(harness);
}

#[test]
fn live_rows_extend_the_timeline_as_they_arrive() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let log = tmp.path().join("PR-PORTS-08-06-30-10-0-0.log");
    let mut header = Vec::new();
    ports::write_header(&mut header, "2.0", "PR-PIDS-08-06-30-10-0-0.log").expect("header");
    let row = |m: u32, module: &str| {
        format!("08/6/30,10:{m}:0,TCP,{},10.0.0.1,443,192.0.2.7,{},{module},<host\\ann>\r\n", 1000 + m, 2000 + m)
    };
    let append = |text: &str| {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("open for append");
        f.write_all(text.as_bytes()).expect("append");
    };
    append(&format!("{}{}{}", String::from_utf8(header).expect("ascii"), row(0, "app.exe"), row(1, "evil.exe")));
    let mut harness = support::app::app_with(settings(), vec![std::path::PathBuf::from("sample-logs")]);
    harness.state_mut().follow_folder(tmp.path().to_path_buf());
    wait_for_label(&mut harness, "2 rows, 1 flagged");
    harness.get_by_label("1 bar = 1 second");

    // Ten minutes later: the span grows, and the buckets with it.
    append(&format!("{}{}{}", row(5, "app.exe"), row(9, "evil.exe"), row(10, "app.exe")));
    wait_for_label(&mut harness, "5 rows, 2 flagged");
    harness.get_by_label("1 bar = 1 minute");
    harness.hover_at(at_fraction(&harness, 9.5 / 11.0));
    harness.run_steps(2);
    harness.get_by_label("30 Jun 2008 10:09 – 10:10");
    harness.get_by_label("Flagged rows: 1");
}

/// The bucket at the left edge of the bars, as hovering it names it.
fn left_edge(harness: &mut Harness<'static, PrParserApp>) -> String {
    harness.hover_at(at_fraction(harness, 0.001));
    harness.run_steps(2);
    let named = harness.get_by_label_contains("30 Jun 2008 ").value().expect("a label's text");
    harness.remove_cursor();
    harness.run_steps(1);
    named
}

/// The point on the bars at `fraction` of their width.
fn at_fraction(harness: &Harness<'static, PrParserApp>, fraction: f32) -> Pos2 {
    let bars = harness.get_by_label("Timeline bars").rect();
    pos2(bars.left() + fraction * bars.width(), bars.center().y)
}
