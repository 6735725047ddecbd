//! Live capture at scale: 1,000,000 rows loaded through the follower, then 1,000 rows
//! appended to the followed file, with 5 criteria and the view sorted. Measures what one poll
//! costs — reading and parsing the new rows, taking them into the dataset, the criteria on
//! them, merging them into the sorted view — against doing it all again over every row.
//!
//! `cargo bench --bench live_update -- [ROWS]` (release), or `cargo test --bench live_update
//! -- [ROWS]` (debug). The log is generated once under target/bench-data/.

#[allow(dead_code)]
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use prparser::analysis::criteria;
use prparser::analysis::dataset::Dataset;
use prparser::analysis::dns::NoHostNames;
use prparser::analysis::view::{self, Column, Filter, Sort};
use prparser::logs::follow::{Follower, Start};
use prparser::logs::set::LogSet;

const APPENDED: usize = 1_000;

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Where the last `n` lines of `text` begin.
fn last_lines_start(text: &[u8], n: usize) -> usize {
    let mut at = text.len();
    for _ in 0..n {
        at = text[..at.saturating_sub(1)].iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    }
    at
}

fn copy_set(from: &Path, to: &Path) -> PathBuf {
    std::fs::create_dir_all(to).expect("bench folder");
    let mut ports = PathBuf::new();
    for entry in std::fs::read_dir(from).expect("generated set") {
        let path = entry.expect("entry").path();
        let name = path.file_name().expect("name").to_owned();
        if name.to_string_lossy().starts_with("PR-PORTS-") {
            ports = to.join(&name);
        } else {
            std::fs::copy(&path, to.join(&name)).expect("copy");
        }
    }
    ports
}

fn ctx(d: &Dataset) -> criteria::Context<'_> {
    criteria::Context { set: &d.set, index: &d.index, row_blocks: &d.row_blocks, hosts: &NoHostNames }
}

fn main() {
    let rows: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let total = rows + APPENDED;
    let data_dir = common::bench_data().join(format!("live-{total}"));
    if !data_dir.join("PR-PORTS-08-06-30-0-0-0.log").exists() {
        let options = prparser::generate::Options { rows: total as u64, seed: 1, shape: Default::default() };
        prparser::generate::write_set(&data_dir, &options).expect("generate the bench log");
    }
    let text = std::fs::read(data_dir.join("PR-PORTS-08-06-30-0-0-0.log")).expect("generated PORTS");
    let split = last_lines_start(&text, APPENDED);
    let work = tempfile::tempdir().expect("tempdir");
    let ports = copy_set(&data_dir, work.path());
    std::fs::write(&ports, &text[..split]).expect("first rows");

    // Loading: the follower reads the folder from its start, in polls of at most 16 MiB.
    let t = Instant::now();
    let mut follower = Follower::new(work.path(), Start::Oldest);
    let mut data = Dataset::from_set(vec![work.path().to_path_buf()], LogSet::default());
    loop {
        let batch = follower.poll();
        let more = batch.more;
        data.append(batch).expect("append");
        if !more {
            break;
        }
    }
    let load = t.elapsed();
    assert_eq!(data.set.ports.events.len(), rows, "rows loaded");

    let set = common::criteria();
    let sort = Some(Sort { column: Column::Module, descending: false });
    let filter = Filter::default();
    let never = AtomicBool::new(false);
    let mut evaluation = criteria::evaluate(&set, &ctx(&data));
    let old_view = view::build(&data.set.ports, &NoHostNames, &filter, sort, &never).expect("never cancelled");

    let mut file = std::fs::OpenOptions::new().append(true).open(&ports).expect("open to append");
    file.write_all(&text[split..]).expect("append");
    drop(file);

    let t = Instant::now();
    let batch = follower.poll();
    let parse = t.elapsed();
    assert_eq!(batch.ports.events.len(), APPENDED);
    let t = Instant::now();
    let appended = data.append(batch).expect("append");
    let append = t.elapsed();
    let t = Instant::now();
    let new_flags = criteria::evaluate_rows(
        std::sync::Arc::new(criteria::CompiledSet::new(&set)),
        &ctx(&data),
        appended.rows.clone(),
    );
    let flag_new = t.elapsed();
    let new_flagged = new_flags.flagged_rows;
    evaluation.add(new_flags);
    let t = Instant::now();
    let merged = view::extend(&data.set.ports, &NoHostNames, &old_view, appended.rows.clone(), &filter, sort, &never)
        .expect("never cancelled");
    let merge = t.elapsed();

    let t = Instant::now();
    let full = criteria::evaluate(&set, &ctx(&data));
    let reevaluate = t.elapsed();
    let t = Instant::now();
    let rebuilt = view::build(&data.set.ports, &NoHostNames, &filter, sort, &never).expect("never cancelled");
    let rebuild = t.elapsed();
    assert_eq!(evaluation, full, "criteria on the new rows joined = criteria on all rows");
    assert_eq!(merged, rebuilt, "merged view = view built again");

    let profile = if cfg!(debug_assertions) { "debug" } else { "release" };
    let poll = parse + append + flag_new + merge;
    println!("| {rows} rows loaded, {APPENDED} appended, 5 criteria, view sorted by module ({profile}) | |");
    println!("|---|---:|");
    println!("| load {rows} rows through the follower | {} |", millis(load));
    println!("| poll: read and parse the {APPENDED} new rows | {} |", millis(parse));
    println!("| take them into the dataset (tables, PIDS blocks) | {} |", millis(append));
    println!("| criteria on the new rows ({} flagged) | {} |", new_flagged, millis(flag_new));
    println!("| merge them into the sorted view | {} |", millis(merge));
    println!("| **one poll, in all** | **{}** |", millis(poll));
    println!("| vs. criteria over all {} rows | {} |", data.set.ports.events.len(), millis(reevaluate));
    println!("| vs. view built and sorted again | {} |", millis(rebuild));
}
