//! What the benchmarks share: the five criteria every figure in README is measured with.

use std::path::PathBuf;
use std::time::Duration;

use prparser::analysis::criteria::{CriteriaSet, Criterion, Field, MatchKind};

/// One criterion of each kind the app's users lean on: a port range, a module-path wildcard,
/// an exact user, a CIDR and a module regex.
pub fn criteria() -> CriteriaSet {
    let c = |name: &str, field, kind, pattern: &str| Criterion {
        name: name.into(),
        field,
        kind,
        pattern: pattern.into(),
        enabled: true,
        message: format!("{name} seen"),
        effect: Default::default(),
    };
    CriteriaSet {
        criteria: vec![
            c("IRC", Field::RemotePort, MatchKind::Range, "6660-6669"),
            c("Temp images", Field::ModulePath, MatchKind::Wildcard, "*\\Temp\\*"),
            c("Bob", Field::User, MatchKind::Exact, "CORP\\bob"),
            c("Doc net", Field::RemoteIp, MatchKind::Cidr, "203.0.113.0/24"),
            c("Outlook", Field::Module, MatchKind::Regex, "(?i)^outlook"),
        ],
    }
}

/// Where the benchmarks keep what they generate: a log of millions of rows is written once
/// and shared by every benchmark that reads it.
pub fn bench_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-data")
}

/// The folder of the generated log of `rows` rows (seed 1, default shape), written the first
/// time a benchmark asks for it.
pub fn generated_log(rows: u64) -> PathBuf {
    let dir = bench_data().join(rows.to_string());
    if !dir.join("PR-PORTS-08-06-30-0-0-0.log").exists() {
        let options = prparser::generate::Options { rows, seed: 1, shape: Default::default() };
        prparser::generate::write_set(&dir, &options).expect("generate the bench log");
    }
    dir
}

pub fn seconds(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

pub fn millis(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub fn rate(rows: u64, d: Duration) -> String {
    format!("{:.0}k rows/s", rows as f64 / d.as_secs_f64() / 1000.0)
}
