//! The app at scale: 10M rows loaded, 5 criteria active. Measures, in release:
//! - the frame time of the real app (egui_kittest steps the full UI: grid, status bar, panels)
//!   while paging through the grid, from the top to the very last row: each frame that brings
//!   a new screen of rows in, on the wall clock and in the UI thread's CPU time (a frame slow
//!   on the wall clock only waited for a core);
//! - re-evaluating 5 criteria over all rows, sorting and filtering all rows (the work the app
//!   runs off the UI thread), and how soon a filter made stale by the next keystroke stops.
//!
//! `cargo bench --bench app_scale -- [ROWS]` (default 10,000,000; the log is generated once
//! under target/bench-data/). Prints one Markdown table for README.

mod common;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use egui::Key;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use prparser::analysis::criteria;
use prparser::analysis::dataset::Dataset;
use prparser::analysis::dns::NoHostNames;
use prparser::analysis::view::{self, Column, Filter, Sort};
use prparser::app::PrParserApp;
use prparser::app::settings::Settings;
use prparser::logs::ports::LoadProgress;

/// When the next keystroke comes, into the running quick filter.
const STALE_AFTER: Duration = Duration::from_millis(100);

/// Page Down presses while frames are timed.
const PAGING_PRESSES: usize = 1000;

/// CPU time the calling thread has used (to the nanosecond: `getrusage` counts in ticks).
fn thread_cpu() -> Duration {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec to write into; the clock id is a constant of the OS.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data").join(rows.to_string());
    if !dir.join("PR-PORTS-08-06-30-0-0-0.log").exists() {
        let options = prparser::generate::Options { rows, seed: 1, shape: Default::default() };
        prparser::generate::write_set(&dir, &options).expect("generate the bench log");
    }

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
    harness.get_by_label(&format!("Rows loaded: {}", rows));

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
    let percentiles = |mut d: Vec<Duration>| {
        d.sort();
        (d[d.len() / 2], d[d.len() * 99 / 100], d[d.len() - 1])
    };
    let (p50, p99, max) = percentiles(frames.iter().map(|f| f.0).collect());
    let (cpu50, cpu99, cpu_max) = percentiles(frames.iter().map(|f| f.1).collect());
    let waited = frames.iter().filter(|(wall, cpu)| *wall >= p99 && wall.saturating_sub(*cpu) > *cpu).count();

    println!("| {rows} rows, 5 criteria | |");
    println!("|---|---:|");
    println!("| load (parse + PIDS index) | {} |", millis(load));
    println!("| re-evaluate 5 criteria ({} rows flagged) | {} |", eval.flagged_rows, millis(reeval));
    println!("| sort all rows by module | {} |", millis(sort_module));
    println!("| sort all rows by time, descending | {} |", millis(sort_time));
    println!("| sort all rows by local address and port | {} |", millis(sort_local));
    println!("| sort all rows by PID, descending | {} |", millis(sort_pid));
    println!("| quick filter `iexplore` ({} rows) | {} |", filtered.len(), millis(filter));
    println!(
        "| quick filter `6667`, which also searches times ({} rows) | {} |",
        filtered_digits.len(),
        millis(filter_digits)
    );
    println!(
        "| that filter, cancelled {} ms in by the next keystroke: stops after | {} |",
        STALE_AFTER.as_millis(),
        millis(stale_stop)
    );
    println!("| frame time, median of {} frames paging to the end | {} |", frames.len(), millis(p50));
    println!("| frame time, 99th percentile / max | {} / {} |", millis(p99), millis(max));
    println!(
        "| CPU time of those frames: median / 99th percentile / max | {} / {} / {} |",
        millis(cpu50),
        millis(cpu99),
        millis(cpu_max)
    );
    println!("| frames at or past the 99th percentile that mostly waited for a core | {waited} |");
    println!("| last row readable on screen | {last} |");
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
