//! The app's File › Open from ClickHouse at scale: a generated log (1M rows unless told)
//! ingested into Debian's clickhouse-server on loopback, then loaded back as a dataset
//! ([`prparser::clickhouse::load`]), against opening the same log from its files. Checks that
//! both datasets hold the same rows and link the same rows to process blocks.
//!
//! `cargo bench --bench clickhouse_open -- [ROWS]` (release). The log is generated once under
//! target/bench-data/, shared with the other benchmarks.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "../tests/support/clickhouse.rs"]
mod server;

use std::time::Instant;

use prparser::analysis::dataset::Dataset;
use prparser::analysis::index::NO_BLOCK;
use prparser::analysis::time_range::TimeRange;
use prparser::clickhouse::client::{Client, Connection};
use prparser::clickhouse::load::{self, DEFAULT_CAP, Request};
use prparser::logs::ports::LoadProgress;

/// The process's peak resident memory so far, in MiB (Linux).
fn peak_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<u64>().ok()))
        .map_or(0, |kb| kb / 1024)
}

/// Rows linked to a process block.
fn linked(data: &Dataset) -> usize {
    data.row_blocks.iter().filter(|&&b| b != NO_BLOCK).count()
}

fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1_000_000);
    let dir = common::generated_log(rows);
    println!("{rows} rows generated (seed 1)");

    let server = server::start();
    let client = Client::new(Connection::new(&server.url, "bench", None, None).expect("connection"));
    let t = Instant::now();
    let summary =
        prparser::clickhouse::ingest::run(&client, std::slice::from_ref(&dir), 100_000, &LoadProgress::default())
            .expect("ingest");
    assert_eq!(summary.rows, rows);
    println!("ingest: {} ({} process blocks)", common::seconds(t.elapsed()), summary.blocks);

    // The server's part alone: the same query, its answer read and dropped.
    let t = Instant::now();
    let mut answer = client
        .stream(
            "SELECT computer, time, protocol, local_ip, local_port, remote_ip, remote_port, pid, module, user, file, \
             line FROM ports ORDER BY time, computer, file, line LIMIT 10000000 FORMAT TabSeparated",
        )
        .expect("the rows query");
    let bytes = std::io::copy(&mut answer, &mut std::io::sink()).expect("the answer");
    println!(
        "the server's answer alone: {} ({:.0} MB of TabSeparated)",
        common::seconds(t.elapsed()),
        bytes as f64 / 1e6
    );

    let request = Request { computers: Vec::new(), range: TimeRange::ALL, cap: DEFAULT_CAP };
    let t = Instant::now();
    let remote = load::load(&client, &request, &LoadProgress::default()).expect("load from ClickHouse");
    let t_remote = t.elapsed();
    let peak_remote = peak_mib();
    println!(
        "Open from ClickHouse: {} ({}), {} of {} matching rows, peak RSS {} MiB",
        common::seconds(t_remote),
        common::rate(remote.rows(), t_remote),
        remote.rows(),
        remote.matching,
        peak_remote
    );

    let t = Instant::now();
    let local = Dataset::open(std::slice::from_ref(&dir), &LoadProgress::default()).expect("local load");
    let t_local = t.elapsed();
    println!("Open folder (the same logs): {} ({})", common::seconds(t_local), common::rate(rows, t_local));

    let expected = rows.min(DEFAULT_CAP);
    assert_eq!(remote.rows(), expected);
    if rows <= DEFAULT_CAP {
        assert_eq!(remote.rows(), local.set.ports.events.len() as u64);
        assert_eq!(linked(&remote.dataset), linked(&local), "rows linked to a process block");
    }
    println!("rows linked to a block: {} from ClickHouse, {} from the files", linked(&remote.dataset), linked(&local));

    let half = Request { cap: (rows / 2).max(1), ..request };
    let t = Instant::now();
    let capped = load::load(&client, &half, &LoadProgress::default()).expect("capped load");
    assert!(capped.is_partial() && capped.rows() == half.cap);
    println!("capped at {} rows: {}", half.cap, common::seconds(t.elapsed()));
}
