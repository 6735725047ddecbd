//! `prparser report`: the analysis of a log set as one JSON object (the stable contract for
//! scripts, documented in README) or as text for a person.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;
use serde::Serialize;

use crate::analysis::aggregate::{Accumulate, Aggregate, Aggregator, Batch, InSet, Pieces, Tables, Views};
pub use crate::analysis::aggregate::{CriterionCount, Flagged};
use crate::analysis::changes::{Baseline, BaselineOut, ChangeRows, ChangeScanner, Changes, Role};
use crate::analysis::criteria::{CompiledSet, CriteriaSet};
use crate::analysis::geoip::GeoIp;
use crate::analysis::index::{BlockId, NO_BLOCK, PidsIndex};
pub use crate::analysis::stats::beaconing::Beacon;
use crate::analysis::stats::beaconing::{Beaconing, Retirer};
pub use crate::analysis::stats::geo::{AsnCount, CountryCount};
use crate::analysis::stats::{
    self, HourCount, IpCount, Masquerade, PortCount, ProcessCount, SvchostEntry, UserCount, UserUsage,
};
use crate::analysis::time_range::{TimeRange, iso};
use crate::error::LogError;
use crate::logs::ports::{LoadProgress, RowBlock};
use crate::logs::set::{self, LogSet};
use crate::logs::text::LineIssue;
use crate::model::{ModuleDetail, PortEvent};

/// At most this many malformed lines are listed; `malformed` stays the true count.
pub const MAX_LISTED_ISSUES: usize = 1000;

/// The Beaconing view lists the best this many.
pub const MAX_LISTED_BEACONS: usize = 100;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub rows: u64,
    pub malformed: u64,
    pub malformed_lines: Vec<LineIssue>,
    pub warnings: Vec<LineIssue>,
    pub first: Option<String>,
    pub last: Option<String>,
    /// Every computer of the logs, by rows descending then name.
    pub computers: Vec<ComputerEntry>,
    /// The time range asked for (`--from`, `--to`), when one was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<RangeOut>,
    pub stats: Stats,
    pub flagged: Flagged,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_process_usage: Option<PerProcess>,
    /// What is new since the baseline (see [`crate::analysis::changes`]). Absent when skipped
    /// (`--skip changes`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Changes>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    pub local_tcp_port_usage: Vec<PortCount>,
    pub process_usage: Vec<ProcessCount>,
    pub remote_ip_usage: Vec<IpCount>,
    /// Present when a country (or city) database was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_country_usage: Option<Vec<CountryCount>>,
    /// Present when an ASN database was given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_asn_usage: Option<Vec<AsnCount>>,
    pub user_context_usage: Vec<UserCount>,
    pub port_usage_by_hour: Vec<HourCount>,
    pub svchost_enumeration: Vec<SvchostEntry>,
    pub masquerading: Vec<Masquerade>,
    /// The best [`MAX_LISTED_BEACONS`] of the Beaconing view. Absent when skipped (`--skip
    /// beaconing`): an empty list would read as "no beacons found".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beaconing: Option<Vec<Beacon>>,
}

/// A time range as the JSON names it: either end `null` when open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RangeOut {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// One computer's rows: how many, their time span, how many stay flagged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComputerEntry {
    pub computer: String,
    pub rows: u64,
    pub first: Option<String>,
    pub last: Option<String>,
    pub flagged: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerProcess {
    pub process: String,
    pub users: Vec<UserUsage>,
}

/// What a report is asked for beyond its logs and criteria.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Per-process usage by user for this process (e.g. iexplore.exe).
    pub process: Option<String>,
    /// Only these computers' logs are read (names as in the report's `computers` list, without
    /// regard to case); none: every computer.
    pub computers: Vec<String>,
    /// Country and ASN databases: remote countries and ASNs views, and their criteria.
    pub geo: Option<Arc<GeoIp>>,
    /// Only the rows in this range are counted.
    pub range: TimeRange,
    /// What the Changes view compares the rows with.
    pub baseline: Baseline,
    /// Views not to compute at all.
    pub skip: Skip,
}

/// An investigation view a report can leave out. These two cost more than all the statistics
/// together (Beaconing keeps candidate connections' times, Changes a table per endpoint), so a
/// script that wants only the statistics skips them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum View {
    Beaconing,
    Changes,
}

/// The views a report leaves out: neither computed nor kept, and absent from its JSON and text
/// (not empty, which would read as "nothing found").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skip {
    pub beaconing: bool,
    pub changes: bool,
}

impl Skip {
    pub fn of(views: &[View]) -> Skip {
        Skip { beaconing: views.contains(&View::Beaconing), changes: views.contains(&View::Changes) }
    }
}

const ISO: &str = "%Y-%m-%dT%H:%M:%S";

/// Analyses the logs `paths` name, streaming: the PIDS and INITIAL logs are read first (the
/// PIDS index and module-path criteria need them before the first row), then the PORTS rows
/// are counted block by block as they are read, and no row is kept, so memory grows with the
/// distinct values the views count, not with the rows. Only enabled criteria are counted; the
/// caller decides what to do with criteria that do not compile (see [`CriteriaSet::compile`]).
/// With GeoIP databases (`options.geo`), the report has remote countries and ASNs, and country
/// and AS criteria read them. Rows outside `options.range` are left out before any view counts
/// them, so every view (and `first`, `last`) is of the range; a range no row falls in gives an
/// empty report. With `options.computers` named, only their logs are read, so every view is of
/// those machines alone; a name the logs do not hold is an error naming those they do. The
/// Changes view reads the same stream beside the other views: its processes and endpoints
/// counted on all cores as they are, its listeners one row after another (a baseline given as
/// other logs is streamed first).
pub fn run(
    paths: &[PathBuf],
    criteria: &CriteriaSet,
    options: &Options,
    progress: &LoadProgress,
) -> Result<Report, LogError> {
    let mut plan = set::plan(paths)?;
    plan.restrict_to(&options.computers)?;
    let mut scanner = None;
    if !options.skip.changes {
        let mut changes = ChangeScanner::new(options.baseline.clone(), options.range);
        changes.read_baseline(&LoadProgress::default())?;
        scanner = Some(changes);
    }
    let views = Views {
        process: options.process.clone(),
        criteria: criteria.criteria.iter().any(|c| c.enabled).then(|| Arc::new(CompiledSet::new(criteria))),
        geo: options.geo.clone(),
        beaconing: (!options.skip.beaconing).then_some(MAX_LISTED_BEACONS),
    };
    let needs_blocks = views.needs_blocks();
    // Module lists are most of a PIDS log; only criteria on module paths read more of them
    // than the executable's own path.
    let detail = if needs_blocks { ModuleDetail::All } else { ModuleDetail::ImageOnly };
    let mut streaming = set::stream_plan(plan, progress, detail)?;
    let mut changes: Option<(ChangeScanner, Pieces<ChangeRows>)> = scanner.map(|mut changes| {
        changes.begin(Role::Loaded);
        changes.snapshots(&streaming.set);
        let pieces = Pieces::new(|| changes.counter());
        (changes, pieces)
    });
    let range = &options.range;
    let index = if needs_blocks { PidsIndex::build(&streaming.set) } else { PidsIndex::default() };
    let mut pieces = Pieces::new(|| Aggregator::new(&views));
    let mut retirer = Retirer::default();
    let mut blocks: Vec<BlockId> = Vec::new();
    let mut in_range: Vec<u32> = Vec::new();
    streaming.stream_ports(progress, &mut |set: &LogSet, block: &RowBlock<'_>| {
        // Each row's PIDS block, looked up as the row passes rather than kept per row.
        if needs_blocks {
            block.rows.par_iter().map(|e| index.lookup_event(set, e).unwrap_or(NO_BLOCK)).collect_into_vec(&mut blocks);
        }
        let batch = Batch::of_set(InSet { set, index: &index }, block.rows).with_blocks(&blocks);
        let tables = Tables::of(&set.ports);
        rayon::join(
            || {
                pieces.add(batch.subset(in_range_of(range, block.rows, &mut in_range)));
                let mut beacons: Vec<&mut Beaconing> =
                    pieces.each_mut().filter_map(Aggregator::beaconing_mut).collect();
                retirer.after_block(&mut beacons);
            },
            // Every row: the baseline may lie outside the range.
            || {
                if let Some((scanner, change_pieces)) = &mut changes {
                    scanner.stream(change_pieces, &tables, block.rows);
                }
            },
        );
    })?;
    let set = streaming.set;
    let tables = Tables::of(&set.ports);
    // One after the other: Changes' tables are dropped before Beaconing's last join, which
    // needs most memory (finishing both at once peaked 25 MiB higher at 10M rows, for no
    // measurable time).
    let changes = changes.map(|(mut scanner, change_pieces)| {
        scanner.absorb(change_pieces.merged().finish(tables), &tables);
        scanner.finish(&set.ports.addrs)
    });
    // Rows out of time order after connections were retired: Beaconing is found again, from
    // a second reading of the PORTS logs, without retiring.
    let disordered = pieces.each_mut().filter_map(Aggregator::beaconing_mut).any(|b| b.disordered());
    if disordered {
        pieces.each_mut().for_each(Aggregator::forget_beaconing);
    }
    let mut found = pieces.merged().finish(tables);
    if disordered {
        found.beaconing = Some(beaconing_unretired(paths, options)?);
    }
    let mut report = Report::assemble(&set, found, options.process.as_deref(), changes);
    if !range.is_all() {
        report.range = Some(RangeOut { from: range.from.map(iso), to: range.to.map(iso) });
    }
    Ok(report)
}

/// The rows of `rows` in `range` (indices, in `kept`), or `None` for all of them.
fn in_range_of<'a>(range: &TimeRange, rows: &[PortEvent], kept: &'a mut Vec<u32>) -> Option<&'a [u32]> {
    if range.is_all() {
        return None;
    }
    kept.clear();
    kept.extend((0..rows.len() as u32).filter(|&i| range.contains(rows[i as usize].time)));
    Some(kept)
}

/// The Beaconing view of the logs `paths` name, read again without retiring connections (the
/// rows came out of time order, see [`Retirer`]).
fn beaconing_unretired(paths: &[PathBuf], options: &Options) -> Result<Vec<Beacon>, LogError> {
    let mut plan = set::plan(paths)?;
    plan.restrict_to(&options.computers)?;
    let mut streaming = set::stream_plan(plan, &LoadProgress::default(), ModuleDetail::ImageOnly)?;
    let mut pieces = Pieces::new(|| Beaconing::best(MAX_LISTED_BEACONS));
    let mut in_range: Vec<u32> = Vec::new();
    streaming.stream_ports(&LoadProgress::default(), &mut |set: &LogSet, block: &RowBlock<'_>| {
        let batch = Batch::new(Tables::of(&set.ports), block.rows);
        pieces.add(batch.subset(in_range_of(&options.range, block.rows, &mut in_range)));
    })?;
    Ok(pieces.merged().finish(Tables::of(&streaming.set.ports)))
}

impl Report {
    /// The report of a set whose PORTS rows `found` counted.
    fn assemble(set: &LogSet, found: Aggregate, process: Option<&str>, changes: Option<Changes>) -> Report {
        let log = &set.ports;
        let counts = found.counts;
        Report {
            rows: counts.rows,
            malformed: log.malformed.count(),
            malformed_lines: log.malformed.iter().take(MAX_LISTED_ISSUES).cloned().collect(),
            warnings: set.warnings().take(MAX_LISTED_ISSUES).cloned().collect(),
            first: found.first.map(|t| t.format(ISO).to_string()),
            last: found.last.map(|t| t.format(ISO).to_string()),
            computers: found
                .computers
                .into_iter()
                .map(|c| ComputerEntry {
                    computer: c.computer,
                    rows: c.rows,
                    first: c.first.map(|t| t.format(ISO).to_string()),
                    last: c.last.map(|t| t.format(ISO).to_string()),
                    flagged: c.flagged,
                })
                .collect(),
            range: None,
            stats: Stats {
                local_tcp_port_usage: counts.local_tcp_port_usage,
                process_usage: counts.process_usage,
                remote_ip_usage: counts.remote_ip_usage,
                remote_country_usage: found.places.countries,
                remote_asn_usage: found.places.asns,
                user_context_usage: counts.user_context_usage,
                port_usage_by_hour: counts.port_usage_by_hour,
                svchost_enumeration: stats::svchost_enumeration(set),
                masquerading: stats::masquerading(set),
                beaconing: found.beaconing,
            },
            flagged: found.flagged.unwrap_or(Flagged { rows: 0, allowed: 0, by_criterion: Vec::new() }),
            per_process_usage: process
                .zip(found.per_process)
                .map(|(p, users)| PerProcess { process: p.to_string(), users }),
            changes,
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The same content for a person: totals, then each view's top entries.
    pub fn to_text(&self, top: usize) -> String {
        let mut out = String::new();
        let span = match (&self.first, &self.last) {
            (Some(a), Some(b)) => format!("{a} .. {b}"),
            _ => "no rows".to_string(),
        };
        let _ = writeln!(out, "Rows: {}   Malformed lines: {}   Time span: {span}", self.rows, self.malformed);
        if let Some(r) = &self.range {
            let end = |t: &Option<String>| t.clone().unwrap_or_else(|| "(open)".into());
            let _ = writeln!(
                out,
                "Time range: {} .. {} (rows from the first time, before the second)",
                end(&r.from),
                end(&r.to)
            );
        }
        for m in &self.malformed_lines {
            let _ = writeln!(out, "  malformed {m}");
        }
        for w in &self.warnings {
            let _ = writeln!(out, "  warning {w}");
        }
        let _ = writeln!(out, "\nComputers");
        for c in self.computers.iter().take(top) {
            let span = match (&c.first, &c.last) {
                (Some(a), Some(b)) => format!("{a} .. {b}"),
                _ => "no rows".to_string(),
            };
            let _ = writeln!(out, "  {:>8}  {:>8} flagged  {}  ({span})", c.rows, c.flagged, c.computer);
        }
        let s = &self.stats;
        section(
            &mut out,
            "Local TCP port usage",
            s.local_tcp_port_usage.iter().take(top).map(|c| (c.port.to_string(), c.count, Some(c.percent))),
        );
        section(
            &mut out,
            "Process usage",
            s.process_usage.iter().take(top).map(|c| (c.process.clone(), c.count, Some(c.percent))),
        );
        section(
            &mut out,
            "Remote IP address usage",
            s.remote_ip_usage.iter().take(top).map(|c| (c.ip.to_string(), c.count, Some(c.percent))),
        );
        if let Some(countries) = &s.remote_country_usage {
            section(
                &mut out,
                "Remote countries",
                countries.iter().take(top).map(|c| (c.country.to_string(), c.count, Some(c.percent))),
            );
        }
        if let Some(asns) = &s.remote_asn_usage {
            section(
                &mut out,
                "Remote ASNs",
                asns.iter().take(top).map(|a| (format!("AS{} {}", a.asn, a.organization), a.count, Some(a.percent))),
            );
        }
        section(
            &mut out,
            "User context usage",
            s.user_context_usage.iter().take(top).map(|c| (c.user.clone(), c.count, Some(c.percent))),
        );
        section(
            &mut out,
            "Port usage by hour",
            s.port_usage_by_hour.iter().map(|h| (format!("{:02}:00", h.hour), h.count, None)),
        );
        let _ = writeln!(out, "\nsvchost.exe enumeration");
        for e in &s.svchost_enumeration {
            let services = if e.services.is_empty() { "(no services)".to_string() } else { e.services.join(", ") };
            let _ = writeln!(out, "  {:>6}  {services}", e.pid);
        }
        let _ = writeln!(out, "\nMasquerading processes");
        if s.masquerading.is_empty() {
            let _ = writeln!(out, "  none found");
        }
        for m in &s.masquerading {
            let _ = writeln!(out, "  {:>6}  {}  {}", m.pid, m.process, m.path);
        }
        if let Some(beaconing) = &s.beaconing {
            beaconing_text(&mut out, beaconing, top);
        }
        let _ = writeln!(out, "\nFlagged rows: {}", self.flagged.rows);
        if self.flagged.allowed > 0 {
            let _ = writeln!(out, "Rows cleared by allow criteria: {}", self.flagged.allowed);
        }
        for c in &self.flagged.by_criterion {
            let allow = if c.effect.is_flag() { "" } else { " (allow: rows cleared)" };
            let _ = writeln!(out, "  {:>8}  {}{allow}", c.count, c.name);
        }
        if let Some(changes) = &self.changes {
            changes_text(&mut out, changes, top);
        }
        if let Some(p) = &self.per_process_usage {
            let _ = writeln!(out, "\n{} usage by user", p.process);
            for u in &p.users {
                let name = if u.user.is_empty() { "(no user)" } else { &u.user };
                let _ = writeln!(out, "  {:>8}  {:>6.2}%  {name}", u.count, u.percent);
                for h in u.remote_hosts.iter().take(top) {
                    let _ = writeln!(out, "  {:>18}  {}  ({})", "", h.ip, h.count);
                }
            }
        }
        out
    }
}

/// The Beaconing view's first `top` candidates.
fn beaconing_text(out: &mut String, beaconing: &[Beacon], top: usize) {
    let _ = writeln!(out, "\nBeaconing (score, connections, median interval)");
    if beaconing.is_empty() {
        let _ = writeln!(out, "  none found");
    }
    for b in beaconing.iter().take(top) {
        let on = if b.computer.is_empty() { String::new() } else { format!("  on {}", b.computer) };
        let remote =
            crate::analysis::view::endpoint(crate::model::Address::Ip(b.remote_ip), Some(b.remote_port.to_string()));
        let _ = writeln!(
            out,
            "  {:>5.3}  {:>8}  {:>8.0} s  {} -> {remote}{on}",
            b.score, b.connections, b.median_interval_s, b.process
        );
    }
}

/// The Changes view: what the baseline was, then each list's first `top` entries.
fn changes_text(out: &mut String, changes: &Changes, top: usize) {
    let baseline = match &changes.baseline {
        BaselineOut::Initial { files } if files.is_empty() => "no PR-INITIAL log: everything is new".to_string(),
        BaselineOut::Initial { files } => format!("the earliest PR-INITIAL of each computer: {}", files.join(", ")),
        BaselineOut::Path { paths } => format!("the logs in {}", paths.join(", ")),
        BaselineOut::Until { until } => format!("the rows before {}", iso(*until)),
    };
    let _ = writeln!(out, "\nChanges since the baseline ({baseline})");
    let on = |computer: &str| if computer.is_empty() { String::new() } else { format!(" on {computer}") };
    let pid = |pid: Option<u32>| pid.map_or_else(|| "-".to_string(), |p| p.to_string());
    let more = |out: &mut String, n: usize| {
        if n > top {
            let _ = writeln!(out, "    ({} more)", n - top);
        }
    };
    let _ = writeln!(out, "  New listeners: {}", changes.new_listeners.len());
    for l in changes.new_listeners.iter().take(top) {
        let _ = writeln!(
            out,
            "    {}  {} {:<5}  {} (PID {}){}  rows: {}",
            iso(l.first_seen),
            l.protocol,
            l.port,
            l.process,
            pid(l.pid),
            on(&l.computer),
            l.rows
        );
    }
    more(out, changes.new_listeners.len());
    let _ = writeln!(out, "  Port owner changes: {}", changes.owner_changes.len());
    for c in changes.owner_changes.iter().take(top) {
        let _ = writeln!(
            out,
            "    {}  {} {:<5}  {} (PID {}){}, was {}",
            iso(c.first_seen),
            c.protocol,
            c.port,
            c.process,
            pid(c.pid),
            on(&c.computer),
            c.baseline_processes.join(", ")
        );
    }
    more(out, changes.owner_changes.len());
    let _ = writeln!(out, "  New processes: {}", changes.new_processes.len());
    for p in changes.new_processes.iter().take(top) {
        let users = if p.users.is_empty() { "(no user)".to_string() } else { p.users.join(", ") };
        let _ = writeln!(out, "    {}  {}{}  rows: {}  {users}", iso(p.first_seen), p.process, on(&p.computer), p.rows);
    }
    more(out, changes.new_processes.len());
    let _ = writeln!(out, "  New remote endpoints: {}", changes.new_remote_endpoints.len());
    for e in changes.new_remote_endpoints.iter().take(top) {
        let peer = std::net::SocketAddr::new(e.remote_ip, e.remote_port);
        let _ =
            writeln!(out, "    {:>8}  {}  {peer}{}  first {}", e.rows, e.process, on(&e.computer), iso(e.first_seen));
    }
    more(out, changes.new_remote_endpoints.len());
}

fn section(out: &mut String, title: &str, rows: impl Iterator<Item = (String, u64, Option<f64>)>) {
    let _ = writeln!(out, "\n{title}");
    for (key, count, pct) in rows {
        match pct {
            Some(p) => {
                let _ = writeln!(out, "  {count:>8}  {p:>6.2}%  {key}");
            }
            None => {
                let _ = writeln!(out, "  {count:>8}  {key}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(skip: Skip) -> Report {
        let options = Options { skip, ..Options::default() };
        run(&[PathBuf::from("sample-logs")], &CriteriaSet::default(), &options, &LoadProgress::default())
            .expect("the sample logs report")
    }

    #[test]
    fn skipped_views_are_not_computed_and_the_rest_is_unchanged() {
        let full = report(Skip::default());
        let beacons = full.stats.beaconing.as_ref().map(Vec::len);
        let changes = full.changes.as_ref().map(|c| (c.new_listeners.len(), c.new_remote_endpoints.len()));
        assert_eq!((beacons, changes), (Some(11), Some((39, 93))));
        for skip in [
            Skip { beaconing: true, changes: false },
            Skip { beaconing: false, changes: true },
            Skip { beaconing: true, changes: true },
        ] {
            let got = report(skip);
            let mut want = full.clone();
            if skip.beaconing {
                want.stats.beaconing = None;
            }
            if skip.changes {
                want.changes = None;
            }
            assert_eq!(got, want, "{skip:?}");
        }
    }

    #[test]
    fn skip_is_the_set_of_views_named() {
        assert_eq!(Skip::of(&[]), Skip::default());
        assert_eq!(Skip::of(&[View::Changes]), Skip { beaconing: false, changes: true });
        assert_eq!(
            Skip::of(&[View::Beaconing, View::Changes, View::Beaconing]),
            Skip { beaconing: true, changes: true }
        );
    }
}
