//! ClickHouse at scale: `prparser ingest` of a generated log (10M rows unless told) against
//! `clickhouse-client` inserting the same rows as CSV, and `report --clickhouse` against the
//! local report on those rows. The server is Debian's clickhouse-server, started on loopback
//! as the tests start it; the figures depend on it sharing the machine's cores with prparser.
//!
//! `cargo bench --bench clickhouse_scale -- [ROWS]` (release). The log is generated once under
//! target/bench-data/, shared with the other benchmarks.

#[allow(dead_code)]
mod common;
#[allow(dead_code)]
#[path = "../tests/support/clickhouse.rs"]
mod server;

use std::process::{Command, Stdio};
use std::time::Instant;

use prparser::analysis::criteria::{CriteriaSet, MatchKind};
use prparser::clickhouse::client::{Client, Connection};
use prparser::logs::ports::LoadProgress;

/// Criteria the server counts: the benchmarks' five but the module-path wildcard and the
/// module regex, which `report --clickhouse` refuses (a port range, an exact user, a CIDR).
fn criteria() -> CriteriaSet {
    let mut set = common::criteria();
    set.criteria.retain(|c| !matches!(c.kind, MatchKind::Wildcard | MatchKind::Regex));
    set
}

fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000_000);
    let dir = common::generated_log(rows);
    let ports_log = dir.join("PR-PORTS-08-06-30-0-0-0.log");
    let bytes = std::fs::metadata(&ports_log).map(|m| m.len()).unwrap_or(0);
    println!("{rows} rows, PR-PORTS {:.0} MB", bytes as f64 / 1e6);

    let server = server::start();
    let client = Client::new(Connection::new(&server.url, "bench", None, None).expect("connection"));
    let t = Instant::now();
    let summary =
        prparser::clickhouse::ingest::run(&client, std::slice::from_ref(&dir), 100_000, &LoadProgress::default())
            .expect("ingest");
    let t_ingest = t.elapsed();
    assert_eq!(summary.rows, rows);
    println!("prparser ingest: {} ({})", common::seconds(t_ingest), common::rate(rows, t_ingest));

    let csv = server.dir().join("ports.csv");
    let mut answer = ureq::post(&format!("{}/", server.url))
        .send("SELECT * FROM bench.ports FORMAT CSV")
        .expect("export the rows as CSV");
    let mut file = std::fs::File::create(&csv).expect("CSV file");
    std::io::copy(&mut answer.body_mut().as_reader(), &mut file).expect("write CSV");
    server.query("CREATE TABLE bench.ports_csv AS bench.ports");
    let t = Instant::now();
    let status = Command::new("clickhouse-client")
        .args(["--port", &server.tcp_port.to_string(), "--query", "INSERT INTO bench.ports_csv FORMAT CSV"])
        .stdin(std::fs::File::open(&csv).expect("CSV file"))
        .stdout(Stdio::null())
        .status()
        .expect("run clickhouse-client");
    let t_client = t.elapsed();
    assert!(status.success());
    let copied: u64 = server.query("SELECT count() FROM bench.ports_csv").trim().parse().expect("count");
    assert_eq!(copied, rows);
    let csv_bytes = std::fs::metadata(&csv).map(|m| m.len()).unwrap_or(0);
    println!(
        "clickhouse-client, the same rows as CSV ({:.0} MB): {} ({})",
        csv_bytes as f64 / 1e6,
        common::seconds(t_client),
        common::rate(rows, t_client)
    );

    for (label, set) in [("no criteria", CriteriaSet::default()), ("3 criteria", criteria())] {
        let t = Instant::now();
        let remote = prparser::clickhouse::report::run(&client, &set, &Default::default()).expect("server report");
        let t_remote = t.elapsed();
        let t = Instant::now();
        let local =
            prparser::report::run(std::slice::from_ref(&dir), &set, &Default::default(), &LoadProgress::default())
                .expect("local report");
        let t_local = t.elapsed();
        assert_eq!((remote.rows, &remote.stats.process_usage), (local.rows, &local.stats.process_usage));
        assert_eq!(remote.flagged, local.flagged);
        println!("report, {label}: --clickhouse {} / local {}", common::seconds(t_remote), common::seconds(t_local));
    }
}
