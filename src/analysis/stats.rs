//! The statistics views of Port Reporter Parser, and masquerade detection.
//!
//! Every row-count view counts PORTS rows (events) and gives each count as a percentage of
//! the rows that view counts: all TCP rows for local TCP port usage, all rows with a module
//! for process usage, all rows with a specific remote address for remote IP usage, all rows
//! with a user for user context usage. Percentages are rounded to two decimals, as Port
//! Reporter prints its own (`2 = 50.00%`). Lists are ordered by count descending, then by
//! key ascending (ports, PIDs and addresses by value, names as text).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use serde::Serialize;

use crate::analysis::aggregate::{self, Accumulate, Batch, Tables};
use crate::logs::ports::PortsLog;
use crate::logs::set::LogSet;

pub mod beaconing;
pub mod computers;
pub mod counts;
pub mod geo;
pub mod per_process;

use counts::RowCounts;
use per_process::ProcessUsage;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortCount {
    pub port: u16,
    pub count: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessCount {
    pub process: String,
    pub count: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpCount {
    pub ip: IpAddr,
    pub count: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserCount {
    pub user: String,
    pub count: u64,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HourCount {
    pub hour: u32,
    pub count: u64,
}

/// The five row-count views.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RowStats {
    pub rows: u64,
    pub local_tcp_port_usage: Vec<PortCount>,
    pub process_usage: Vec<ProcessCount>,
    pub remote_ip_usage: Vec<IpCount>,
    pub user_context_usage: Vec<UserCount>,
    pub port_usage_by_hour: Vec<HourCount>,
}

pub fn percent(count: u64, of: u64) -> f64 {
    if of == 0 { 0.0 } else { (count as f64 * 10_000.0 / of as f64).round() / 100.0 }
}

/// Sorts (key, count) pairs by count descending then key, and adds percentages.
pub(crate) fn ranked<K: Ord + Clone, T>(mut pairs: Vec<(K, u64)>, mut make: impl FnMut(K, u64, f64) -> T) -> Vec<T> {
    let total: u64 = pairs.iter().map(|(_, c)| c).sum();
    pairs.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pairs.into_iter().map(|(k, c)| make(k, c, percent(c, total))).collect()
}

/// The row-count views over all rows, or over a subset (row indices, e.g. a filtered view).
pub fn row_stats(log: &PortsLog, subset: Option<&[u32]>) -> RowStats {
    let tables = Tables::of(log);
    aggregate::over_rows(Batch::new(tables, &log.events).subset(subset), RowCounts::default).finish(tables)
}

/// Remote countries and remote ASNs over all rows or a subset, with the databases of `geo`.
pub fn remote_places(
    log: &PortsLog,
    subset: Option<&[u32]>,
    geo: &std::sync::Arc<crate::analysis::geoip::GeoIp>,
) -> geo::RemotePlaces {
    let tables = Tables::of(log);
    aggregate::over_rows(Batch::new(tables, &log.events).subset(subset), || {
        geo::PlaceCounts::new(std::sync::Arc::clone(geo))
    })
    .finish(tables)
}

/// One svchost.exe instance and the services it hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SvchostEntry {
    /// The computer it ran on: the same PID on two machines is two processes.
    pub computer: String,
    pub pid: u32,
    pub services: Vec<String>,
}

/// Every svchost.exe of the PIDS and INITIAL logs (a computer and PID) with its services,
/// sorted by name, ordered by computer then PID. An svchost.exe that hosts no service is
/// listed too: that is worth a look.
pub fn svchost_enumeration(set: &LogSet) -> Vec<SvchostEntry> {
    let mut by_pid: BTreeMap<(&str, u32), BTreeSet<String>> = BTreeMap::new();
    for (computer, block) in all_blocks(set).filter(|(_, b)| b.process.eq_ignore_ascii_case("svchost.exe")) {
        by_pid.entry((computer, block.pid)).or_default().extend(block.services.iter().map(|s| s.name.clone()));
    }
    by_pid
        .into_iter()
        .map(|((computer, pid), services)| SvchostEntry {
            computer: computer.to_string(),
            pid,
            services: services.into_iter().collect(),
        })
        .collect()
}

/// Every process block of the set with the name of its computer.
fn all_blocks(set: &LogSet) -> impl Iterator<Item = (&str, &crate::model::ProcessBlock)> {
    let computers = &set.ports.computers;
    let of = move |path: &std::path::Path| computers.name(computers.of_file(path));
    let initials = set.initials.iter().flat_map(move |l| l.blocks.iter().map(move |b| (of(&l.path), b)));
    initials.chain(set.pids.iter().flat_map(move |l| l.blocks.iter().map(move |b| (of(&l.path), b))))
}

/// A process with a system binary's name running from somewhere else.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Masquerade {
    pub computer: String,
    pub pid: u32,
    pub process: String,
    pub path: String,
}

/// The system binaries malware likes to be named after, and whether each lives in the
/// Windows folder itself (explorer.exe) rather than System32.
pub(crate) const SYSTEM_BINARIES: [(&str, bool); 7] = [
    ("svchost.exe", false),
    ("lsass.exe", false),
    ("services.exe", false),
    ("csrss.exe", false),
    ("winlogon.exe", false),
    ("smss.exe", false),
    ("explorer.exe", true),
];

/// True when `path` is `<Windows folder>\System32\<name>` (or `<Windows folder>\<name>` for
/// explorer.exe). The Windows folder is `X:\WINDOWS`, `X:\WINNT`, `\SystemRoot`,
/// `%SystemRoot%` or `%windir%`, in any case, with or without a `\??\` prefix; svchost.exe
/// may also be the 32-bit one in SysWOW64.
pub fn is_normal_location(name: &str, path: &str) -> bool {
    let lower = path.to_ascii_lowercase().replace('/', "\\");
    let lower = lower.strip_prefix("\\??\\").or_else(|| lower.strip_prefix("\\\\?\\")).unwrap_or(&lower);
    let Some((folder, file)) = lower.rsplit_once('\\') else {
        return false;
    };
    if !file.eq_ignore_ascii_case(name) {
        return false;
    }
    let in_windows_dir = SYSTEM_BINARIES.iter().any(|(n, w)| *w && n.eq_ignore_ascii_case(name));
    let (windir, sub) = if in_windows_dir {
        (folder, None)
    } else {
        match folder.rsplit_once('\\') {
            Some((w, s)) => (w, Some(s)),
            None => return false,
        }
    };
    let sub_ok = match sub {
        None => true,
        Some("system32") => true,
        Some("syswow64") => name.eq_ignore_ascii_case("svchost.exe"),
        Some(_) => false,
    };
    let windir_ok = ["\\systemroot", "%systemroot%", "%windir%"].contains(&windir)
        || (windir.len() == 10 && windir.ends_with(":\\windows"))
        || (windir.len() == 8 && windir.ends_with(":\\winnt"));
    sub_ok && windir_ok
}

/// Processes named like a system binary whose image is not where Windows keeps it, from the
/// PIDS and INITIAL logs, ordered by computer then PID.
pub fn masquerading(set: &LogSet) -> Vec<Masquerade> {
    let found: BTreeSet<Masquerade> = all_blocks(set)
        .filter_map(|(computer, b)| {
            let name = SYSTEM_BINARIES.iter().find(|(n, _)| n.eq_ignore_ascii_case(&b.process))?.0;
            let path = b.image_path()?;
            (!is_normal_location(name, path)).then(|| Masquerade {
                computer: computer.to_string(),
                pid: b.pid,
                process: b.process.clone(),
                path: path.to_string(),
            })
        })
        .collect();
    found.into_iter().collect()
}

/// One user's use of a process: rows, and the remote hosts those rows went to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UserUsage {
    /// Empty for rows without a user context.
    pub user: String,
    pub count: u64,
    pub percent: f64,
    pub remote_hosts: Vec<IpCount>,
}

/// Per-process usage by user (Port Reporter Parser's "iexplore.exe usage", for any process):
/// the rows of processes with that module name (case-insensitive), by user, each user with
/// the remote hosts it talked to.
pub fn per_process_usage(log: &PortsLog, process: &str, subset: Option<&[u32]>) -> Vec<UserUsage> {
    let tables = Tables::of(log);
    aggregate::over_rows(Batch::new(tables, &log.events).subset(subset), || ProcessUsage::new(process)).finish(tables)
}

#[cfg(test)]
mod tests;
