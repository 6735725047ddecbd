//! The app at scale: 10M rows loaded, 5 criteria active. Measures, in release:
//! - the frame time of the real app (egui_kittest steps the full UI: grid, status bar, panels)
//!   while paging through the grid, from the top to the very last row: each frame that brings
//!   a new screen of rows in, on the wall clock and in the UI thread's CPU time (a frame slow
//!   on the wall clock only waited for a core), and while the wheel zooms the timeline;
//! - the timeline's counts (every row, a filter's rows, seconds of a window) and a new time
//!   range narrowed from the rows kept;
//! - re-evaluating 5 criteria over all rows, sorting and filtering all rows (the work the app
//!   runs off the UI thread), and how soon a filter made stale by the next keystroke stops.
//!
//! `cargo bench --bench app_scale -- [ROWS]` (default 10,000,000; the log is generated once
//! under target/bench-data/). Prints one Markdown table for README.

#[allow(dead_code)]
mod common;

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use prparser::analysis::criteria;
use prparser::analysis::dataset::Dataset;
use prparser::analysis::dns::NoHostNames;
use prparser::analysis::time_range::TimeRange;
use prparser::analysis::timeline::{Timeline, from_secs};
use prparser::analysis::view::{self, Column, Filter, Sort};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use prparser::logs::ports::LoadProgress;

/// When the next keystroke comes, into the running quick filter.
const STALE_AFTER: Duration = Duration::from_millis(100);

/// Page Down presses while frames are timed.
const PAGING_PRESSES: usize = 1000;

/// Frames of wheel zoom over the timeline (half in, half out).
const ZOOM_FRAMES: usize = 200;

/// CPU time the calling thread has used (to the nanosecond: `getrusage` counts in ticks).
fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write into; the clock id is a constant of the OS.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000_000);
    let dir = common::generated_log(rows);

    let t = Instant::now();
    let data = Dataset::open(std::slice::from_ref(&dir), &LoadProgress::default()).expect("load");
    let load = t.elapsed();
    let log = &data.set.ports;

    let set = common::criteria();
    let never = AtomicBool::new(false);
    let ctx =
        criteria::Context { set: &data.set, index: &data.index, row_blocks: &data.row_blocks, hosts: &NoHostNames };
    let t = Instant::now();
    let eval = criteria::evaluate(&set, &ctx);
    let reeval = t.elapsed();

    let t = Instant::now();
    let by_module = view::build(
        log,
        &NoHostNames,
        &Filter::default(),
        Some(Sort { column: Column::Module, descending: false }),
        &never,
    )
    .expect("never cancelled");
    let sort_module = t.elapsed();
    let t = Instant::now();
    let by_time = view::build(
        log,
        &NoHostNames,
        &Filter::default(),
        Some(Sort { column: Column::Time, descending: true }),
        &never,
    )
    .expect("never cancelled");
    let sort_time = t.elapsed();
    let t = Instant::now();
    let by_local = view::build(
        log,
        &NoHostNames,
        &Filter::default(),
        Some(Sort { column: Column::Local, descending: false }),
        &never,
    )
    .expect("never cancelled");
    let sort_local = t.elapsed();
    let t = Instant::now();
    let by_pid = view::build(
        log,
        &NoHostNames,
        &Filter::default(),
        Some(Sort { column: Column::Pid, descending: true }),
        &never,
    )
    .expect("never cancelled");
    let sort_pid = t.elapsed();
    let t = Instant::now();
    let filtered =
        view::build(log, &NoHostNames, &Filter { quick: "iexplore".into(), ..Filter::default() }, None, &never)
            .expect("never cancelled");
    let filter = t.elapsed();
    let t = Instant::now();
    let filtered_digits =
        view::build(log, &NoHostNames, &Filter { quick: "6667".into(), ..Filter::default() }, None, &never)
            .expect("never cancelled");
    let filter_digits = t.elapsed();
    // A quick filter made stale by the next keystroke: how soon it stops once cancelled.
    let flag = AtomicBool::new(false);
    let quick = Filter { quick: "6667".into(), ..Filter::default() };
    let stale_stop = std::thread::scope(|s| {
        let job = s.spawn(|| {
            let result = view::build(log, &NoHostNames, &quick, None, &flag);
            (Instant::now(), result.is_err())
        });
        std::thread::sleep(STALE_AFTER);
        let cancelled_at = Instant::now();
        flag.store(true, std::sync::atomic::Ordering::Relaxed);
        let (stopped_at, stopped) = job.join().expect("filter thread");
        assert!(stopped, "the filter ran to its end");
        stopped_at - cancelled_at
    });
    // The timeline: counting every row, a new range narrowed from the rows kept, seconds for a
    // zoomed-in window, and counting the rows a quick filter passes.
    let passing = view::Passing::of(log, &NoHostNames, &Filter::default(), &never).expect("never cancelled");
    let t = Instant::now();
    let timeline = Timeline::build(log, &passing, &eval.flagged, &never).expect("never cancelled");
    let count_all = t.elapsed();
    let (lo, hi) = timeline.span.expect("rows");
    let mid = lo + (hi - lo) / 2;
    let hour = TimeRange { from: from_secs(mid), to: from_secs(mid + 3600) };
    let t = Instant::now();
    let in_hour = view::build_from(log, &NoHostNames, &passing, &hour, None, &never).expect("never cancelled");
    let new_range = t.elapsed();
    let by_time_desc = Some(Sort { column: Column::Time, descending: true });
    let t = Instant::now();
    let in_hour_sorted =
        view::build_from(log, &NoHostNames, &passing, &hour, by_time_desc, &never).expect("never cancelled");
    let new_range_sorted = t.elapsed();
    assert_eq!(in_hour.len(), in_hour_sorted.len());
    let t = Instant::now();
    let seconds = timeline.seconds(log, &passing, &eval.flagged, (mid, mid + 900), &never).expect("never cancelled");
    let count_seconds = t.elapsed();
    let iexplore = Filter { quick: "iexplore".into(), ..Filter::default() };
    let passing_iexplore = view::Passing::of(log, &NoHostNames, &iexplore, &never).expect("never cancelled");
    let t = Instant::now();
    let timeline_iexplore = Timeline::build(log, &passing_iexplore, &eval.flagged, &never).expect("never cancelled");
    let count_filtered = t.elapsed();
    assert_eq!(timeline_iexplore.rows, filtered.len() as u64);
    drop((passing, passing_iexplore));
    assert!([&by_module, &by_time, &by_local, &by_pid].iter().all(|v| v.len() == log.events.len()));
    drop((by_module, by_time, by_local, by_pid, data));

    let settings = Settings { criteria: set, ..Settings::default() };
    let mut harness = Harness::builder()
        .with_size([1400.0, 900.0])
        .build_eframe(move |cc| PrParserApp::with_settings(cc.egui_ctx.clone(), settings, vec![dir]));
    let deadline = Instant::now() + Duration::from_secs(600);
    while !harness.state().is_idle() {
        harness.step();
        std::thread::sleep(Duration::from_millis(20));
        assert!(Instant::now() < deadline, "app did not finish loading");
    }
    harness.run_steps(5);
    harness.get_by_label(&format!("Rows loaded: {}", thousands(rows)));

    // Frames while paging: Page Down many times, End every hundredth press. Each press is two
    // frames (key down, key up); the key-down frame brings a whole new screen of rows in, and
    // only those frames are counted. Each is timed on the wall clock and in CPU time of the
    // UI thread: a frame slow on the wall clock but not in CPU time waited for a core.
    let mut frames = Vec::new();
    for i in 0..PAGING_PRESSES {
        let key = if i % 100 == 99 { Key::End } else { Key::PageDown };
        harness.key_down(key);
        let (t, cpu) = (Instant::now(), thread_cpu());
        harness.step();
        frames.push((t.elapsed(), thread_cpu().saturating_sub(cpu)));
        harness.key_up(key);
        harness.step();
    }
    let last = log_last_time_text(&harness);

    // Frames while the wheel zooms the timeline in (down to seconds) and out again, the
    // pointer on its middle: each frame draws the buckets of a new span.
    let bars = harness.get_by_label("Timeline bars").rect();
    harness.hover_at(bars.center());
    let mut zoom_frames = Vec::new();
    for i in 0..ZOOM_FRAMES {
        let delta = if i < ZOOM_FRAMES / 2 { 60.0 } else { -60.0 };
        harness.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(0.0, delta),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::NONE,
        });
        let (t, cpu) = (Instant::now(), thread_cpu());
        harness.step();
        zoom_frames.push((t.elapsed(), thread_cpu().saturating_sub(cpu)));
    }
    let percentiles = |mut d: Vec<Duration>| {
        d.sort();
        (d[d.len() / 2], d[d.len() * 99 / 100], d[d.len() - 1])
    };
    let (p50, p99, max) = percentiles(frames.iter().map(|f| f.0).collect());
    let (cpu50, cpu99, cpu_max) = percentiles(frames.iter().map(|f| f.1).collect());
    let waited = frames.iter().filter(|(wall, cpu)| *wall >= p99 && wall.saturating_sub(*cpu) > *cpu).count();

    println!("| {rows} rows, 5 criteria | |");
    println!("|---|---:|");
    println!("| load (parse + PIDS index) | {} |", common::millis(load));
    println!("| re-evaluate 5 criteria ({} rows flagged) | {} |", eval.flagged_rows, common::millis(reeval));
    println!("| sort all rows by module | {} |", common::millis(sort_module));
    println!("| sort all rows by time, descending | {} |", common::millis(sort_time));
    println!("| sort all rows by local address and port | {} |", common::millis(sort_local));
    println!("| sort all rows by PID, descending | {} |", common::millis(sort_pid));
    println!("| quick filter `iexplore` ({} rows) | {} |", filtered.len(), common::millis(filter));
    println!(
        "| quick filter `6667`, which also searches times ({} rows) | {} |",
        filtered_digits.len(),
        common::millis(filter_digits)
    );
    println!(
        "| that filter, cancelled {} ms in by the next keystroke: stops after | {} |",
        STALE_AFTER.as_millis(),
        common::millis(stale_stop)
    );
    println!("| frame time, median of {} frames paging to the end | {} |", frames.len(), common::millis(p50));
    println!("| frame time, 99th percentile / max | {} / {} |", common::millis(p99), common::millis(max));
    println!(
        "| CPU time of those frames: median / 99th percentile / max | {} / {} / {} |",
        common::millis(cpu50),
        common::millis(cpu99),
        common::millis(cpu_max)
    );
    println!("| frames at or past the 99th percentile that mostly waited for a core | {waited} |");
    println!("| last row readable on screen | {last} |");
    println!(
        "| timeline: count every row (minute buckets; 10 min, hour, day summed) | {} |",
        common::millis(count_all)
    );
    println!(
        "| timeline: count the {} rows of quick filter `iexplore` | {} |",
        filtered.len(),
        common::millis(count_filtered)
    );
    println!(
        "| timeline: a new range of one hour ({} rows), log order | {} |",
        in_hour.len(),
        common::millis(new_range)
    );
    println!("| timeline: the same range, sorted by time descending | {} |", common::millis(new_range_sorted));
    println!(
        "| timeline: seconds of a 15-minute window ({} buckets) | {} |",
        seconds.len(),
        common::millis(count_seconds)
    );
    let (z50, z99, zmax) = percentiles(zoom_frames.iter().map(|f| f.0).collect());
    let (zc50, _, zcmax) = percentiles(zoom_frames.iter().map(|f| f.1).collect());
    println!(
        "| timeline: frame time while the wheel zooms, median / 99th percentile / max of {} | {} / {} / {} |",
        zoom_frames.len(),
        common::millis(z50),
        common::millis(z99),
        common::millis(zmax)
    );
    println!("| CPU time of those frames: median / max | {} / {} |", common::millis(zc50), common::millis(zcmax));
}

/// `10,000,000`, as the status bar writes counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The date/time of the last row, as the grid shows it after End.
fn log_last_time_text(harness: &Harness<'_, PrParserApp>) -> String {
    let data = harness.state().dataset().expect("loaded").clone();
    let last = data.set.ports.events.last().expect("rows");
    let text = last.time.format("%Y-%m-%d %H:%M:%S").to_string();
    match harness.query_all_by_label(&text).next() {
        Some(_) => format!("yes ({text})"),
        None => format!("NO ({text} not found)"),
    }
}
