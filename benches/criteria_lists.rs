//! Criteria at scale: 10M rows loaded; the five criteria of README's figures, a single CIDR
//! criterion, and (with lists) a list criterion. Prints one Markdown table for README.
//!
//! `cargo bench --bench criteria_lists -- [ROWS]` (default 10,000,000; the log is generated
//! once under target/bench-data/, shared with `app_scale`).

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use prparser::analysis::criteria::{self, CriteriaSet, Criterion, Field, MatchKind};
use prparser::analysis::dataset::Dataset;
use prparser::analysis::dns::NoHostNames;
use prparser::logs::ports::LoadProgress;

const RUNS: usize = 15;

fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The fastest of [`RUNS`] evaluations (the machine is shared: the fastest run is the one
/// least disturbed), and the rows flagged.
fn fastest_evaluation(set: &CriteriaSet, ctx: &criteria::Context<'_>) -> (Duration, usize) {
    let mut times = Vec::new();
    let mut flagged = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let eval = criteria::evaluate(set, ctx);
        times.push(t.elapsed());
        flagged = eval.flagged_rows;
    }
    times.sort();
    (times[0], flagged)
}

fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000_000);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data").join(rows.to_string());
    if !dir.join("PR-PORTS-08-06-30-0-0-0.log").exists() {
        let options = prparser::generate::Options { rows, seed: 1, shape: Default::default() };
        prparser::generate::write_set(&dir, &options).expect("generate the bench log");
    }
    let data = Dataset::open(std::slice::from_ref(&dir), &LoadProgress::default()).expect("load");
    let ctx =
        criteria::Context { set: &data.set, index: &data.index, row_blocks: &data.row_blocks, hosts: &NoHostNames };

    let five = common::criteria();
    let cidr = CriteriaSet {
        criteria: vec![Criterion {
            name: "Doc net".into(),
            field: Field::RemoteIp,
            kind: MatchKind::Cidr,
            pattern: "64.0.0.0/8".into(),
            enabled: true,
            message: String::new(),
        }],
    };
    let (t_five, f_five) = fastest_evaluation(&five, &ctx);
    let (t_cidr, f_cidr) = fastest_evaluation(&cidr, &ctx);

    println!("| {rows} rows, fastest of {RUNS} runs | |");
    println!("|---|---:|");
    println!("| evaluate the 5 criteria ({f_five} rows flagged) | {} |", millis(t_five));
    println!("| evaluate one CIDR criterion, remote IP in 64.0.0.0/8 ({f_cidr} rows flagged) | {} |", millis(t_cidr));
}
