//! Criteria at scale: 10M rows loaded; the five criteria of README's figures, a single CIDR
//! criterion, the same network as one entry of a 1,000,000-entry address list, and the five
//! criteria with an allow criterion. Also loading that list and looking up a million
//! addresses in it. Prints one Markdown table for README.
//!
//! `cargo bench --bench criteria_lists -- [ROWS]` (default 10,000,000; the log is generated
//! once under target/bench-data/, shared with `app_scale`, and so is the list).

#[allow(dead_code)]
mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::time::{Duration, Instant};

use prparser::analysis::address_list::AddressList;
use prparser::analysis::criteria::{self, CriteriaSet, Criterion, Effect, Field, MatchKind};
use prparser::analysis::dataset::Dataset;
use prparser::analysis::dns::NoHostNames;
use prparser::logs::ports::LoadProgress;

const RUNS: usize = 15;

/// Entries of the generated list.
const LIST_ENTRIES: u32 = 1_000_000;

/// The fastest of `runs` runs of `f` (the machine is shared: the fastest run is the one least
/// disturbed), and the last run's result.
fn fastest<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let out = f();
        best = best.min(t.elapsed());
        last = Some(out);
    }
    (best, last.expect("at least one run"))
}

/// The fastest of [`RUNS`] evaluations, and the rows flagged.
fn evaluation(set: &CriteriaSet, ctx: &criteria::Context<'_>) -> (Duration, usize) {
    let (t, eval) = fastest(RUNS, || criteria::evaluate(set, ctx));
    assert!(eval.compiled.broken.is_empty(), "{:?}", eval.compiled.broken);
    (t, eval.flagged_rows)
}

/// A next address from a fixed-seed generator (xorshift): the list and the look-ups are the
/// same on every run.
fn next(state: &mut u64) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    (*state >> 16) as u32
}

/// A FireHOL-style list: 1,000,000 entries, a /24 for every eighth, the rest single
/// addresses, drawn from 100.0.0.0 to 199.255.255.255, where none of the generated log's addresses are; then
/// `64.0.0.0/8`, which the log's addresses do fall in (as the CIDR criterion's network).
fn write_list(path: &Path) {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).expect("create the list"));
    writeln!(out, "# generated: {LIST_ENTRIES} entries").expect("write");
    let mut state = 0x9E37_79B9_7F4A_7C15;
    for i in 1..LIST_ENTRIES {
        let ip = Ipv4Addr::from(0x6400_0000 + next(&mut state) % 0x6400_0000);
        if i % 8 == 0 {
            let [a, b, c, _] = ip.octets();
            writeln!(out, "{a}.{b}.{c}.0/24").expect("write");
        } else {
            writeln!(out, "{ip}").expect("write");
        }
    }
    writeln!(out, "64.0.0.0/8").expect("write");
}

fn criterion(name: &str, field: Field, kind: MatchKind, pattern: &str, effect: Effect) -> Criterion {
    Criterion { name: name.into(), field, kind, pattern: pattern.into(), enabled: true, message: String::new(), effect }
}

fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000_000);
    let data_dir = common::bench_data();
    let dir = common::generated_log(rows);
    let list_path = data_dir.join("list-1m.netset");
    if !list_path.exists() {
        write_list(&list_path);
    }
    let list_bytes = std::fs::metadata(&list_path).map(|m| m.len()).unwrap_or(0);

    let (t_load, list) = fastest(5, || AddressList::load(&list_path).expect("load the list"));
    let mut state = 7;
    let probes: Vec<IpAddr> = (0..1_000_000).map(|_| IpAddr::V4(Ipv4Addr::from(next(&mut state)))).collect();
    let (t_lookup, found) = fastest(5, || probes.iter().filter(|ip| list.contains(**ip)).count());

    let data = Dataset::open(std::slice::from_ref(&dir), &LoadProgress::default()).expect("load");
    let ctx =
        criteria::Context { set: &data.set, index: &data.index, row_blocks: &data.row_blocks, hosts: &NoHostNames };
    let five = common::criteria();
    let cidr = CriteriaSet {
        criteria: vec![criterion("Net 64", Field::RemoteIp, MatchKind::Cidr, "64.0.0.0/8", Effect::Flag)],
    };
    let listed = CriteriaSet {
        criteria: vec![criterion(
            "Listed",
            Field::RemoteIp,
            MatchKind::List,
            list_path.to_str().expect("UTF-8 path"),
            Effect::Flag,
        )],
    };
    let mut five_allow = five.clone();
    five_allow.criteria.push(criterion("Allow Net 64", Field::RemoteIp, MatchKind::Cidr, "64.0.0.0/8", Effect::Allow));

    let (t_five, f_five) = evaluation(&five, &ctx);
    let (t_cidr, f_cidr) = evaluation(&cidr, &ctx);
    // The list stays loaded (held here), as in the app, where it is compiled once per change.
    let _held = criteria::CompiledSet::new(&listed);
    let (t_list, f_list) = evaluation(&listed, &ctx);
    let (t_allow, f_allow) = evaluation(&five_allow, &ctx);

    println!(
        "| {rows} rows; a list of {} entries ({:.1} MiB); fastest of {RUNS} runs | |",
        list.len(),
        list_bytes as f64 / (1 << 20) as f64
    );
    println!("|---|---:|");
    println!("| load the list (read, parse, build the prefix trie; fastest of 5) | {} |", common::millis(t_load));
    println!("| look up 1,000,000 random IPv4 addresses in it ({found} found) | {} |", common::millis(t_lookup));
    println!("| evaluate the 5 criteria ({f_five} rows flagged) | {} |", common::millis(t_five));
    println!(
        "| evaluate one CIDR criterion, remote IP in 64.0.0.0/8 ({f_cidr} rows flagged) | {} |",
        common::millis(t_cidr)
    );
    println!(
        "| evaluate one list criterion, remote IP in the list ({f_list} rows flagged) | {} |",
        common::millis(t_list)
    );
    println!(
        "| evaluate the 5 criteria and an allow criterion, 64.0.0.0/8 ({f_allow} rows flagged) | {} |",
        common::millis(t_allow)
    );
}
