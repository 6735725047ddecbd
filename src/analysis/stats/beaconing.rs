//! The Beaconing view: programs that connect to one remote address and port on a timer, as
//! malware calling home does, scored per (computer, process, remote IP, remote port) from the
//! times of its connections (see [`score`] for the score and RITA's analysis it follows).
//!
//! Unlike RITA, which scores pairs of hosts, each process is scored apart: a browser's
//! irregular traffic to an address must not hide another program's beacon to the same one.
//! Each computer is scored apart too (its own timers, its own clock), over the span of its own
//! rows that were counted.
//!
//! A connection is the first row of a (PID, local port, protocol, remote address, remote
//! port): the collector writes a row for each state change, so later rows of the same socket
//! are not new connections while each follows the one before within
//! [`STATE_CHANGE_WINDOW_S`]. Only rows with a process name, a specific remote address and a
//! numbered remote port are candidates; a candidate needs [`MIN_CONNECTIONS`] connections.
//!
//! Memory: per candidate, one (socket, first time, last time) run per connection; no rows.
//! A batch's candidate rows are sorted (by candidate, socket and time), so each candidate is
//! looked up once a batch and gets its rows as runs already joined within the batch; a
//! candidate's runs are joined whenever they have doubled since the last join (and when the
//! view is finished), so what is kept stays within twice the connections and the connections
//! found do not depend on how the rows were split or ordered.

use std::net::IpAddr;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::analysis::aggregate::{Accumulate, Batch, Tables};
use crate::logs::ports::PortsLog;
use crate::model::{AddrId, PortField, Symbol};

pub mod score;

/// Rows of one socket this close together (seconds) are one connection's state changes.
pub const STATE_CHANGE_WINDOW_S: i64 = 10 * 60;

/// Fewer connections than this say nothing about a rhythm.
pub const MIN_CONNECTIONS: usize = 6;

/// One scored (computer, process, remote IP, remote port).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Beacon {
    pub computer: String,
    pub process: String,
    pub remote_ip: IpAddr,
    pub remote_port: u16,
    pub connections: u64,
    pub median_interval_s: f64,
    pub score: f64,
}

impl Beacon {
    /// A candidate scored from its connections' start times (sorted) over the observed span of
    /// its computer, in seconds.
    pub fn scored(computer: String, process: String, remote: (IpAddr, u16), times: &[i64], span: i64) -> Beacon {
        let scored = score::score(times, span);
        Beacon {
            computer,
            process,
            remote_ip: remote.0,
            remote_port: remote.1,
            connections: times.len() as u64,
            median_interval_s: scored.median_interval_s,
            score: scored.score,
        }
    }
}

/// Orders beacons as the view lists them: by score descending, then connections descending,
/// then computer, process, address and port.
pub fn rank(list: &mut [Beacon]) {
    list.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.connections.cmp(&a.connections))
            .then_with(|| a.computer.cmp(&b.computer))
            .then_with(|| a.process.cmp(&b.process))
            .then(a.remote_ip.cmp(&b.remote_ip))
            .then(a.remote_port.cmp(&b.remote_port))
    });
}

/// What a candidate is keyed by: ids of the log's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Candidate {
    computer: Symbol,
    module: Symbol,
    remote_ip: AddrId,
    remote_port: u16,
}

/// One connection's rows: the socket (PID, local port, protocol) and their first and last
/// time, in seconds since the Unix epoch: `u32` (16 bytes a run) for 1970 to 2106, `i64` for
/// times outside it.
#[derive(Debug, Clone, Copy)]
struct Run<T> {
    socket: u64,
    start: T,
    end: T,
}

/// Runs kept, and how many there were when they were last joined.
#[derive(Debug, Clone)]
struct Joined<T> {
    runs: Vec<Run<T>>,
    joined: usize,
}

impl<T> Default for Joined<T> {
    fn default() -> Self {
        Joined { runs: Vec::new(), joined: 0 }
    }
}

impl<T: Copy + Ord + Into<i64>> Joined<T> {
    /// Adds rows sorted by socket and time: consecutive rows of a socket within the window
    /// become one run. The runs of one connection (split among batches or accumulators, or out
    /// of time order) are joined once the runs have doubled since the last join, so what is
    /// kept stays within twice the connections whatever the order of the rows.
    fn push_sorted(&mut self, rows: impl Iterator<Item = (u64, T)>) {
        let fresh = self.runs.len();
        for (socket, t) in rows {
            let last = self.runs.len().checked_sub(1).filter(|&i| i >= fresh);
            match last.map(|i| &mut self.runs[i]) {
                Some(r) if r.socket == socket && t.into() <= r.end.into() + STATE_CHANGE_WINDOW_S => r.end = t,
                _ => self.runs.push(Run { socket, start: t, end: t }),
            }
        }
        if self.runs.len() >= 2 * self.joined.max(1) {
            join(&mut self.runs);
            self.joined = self.runs.len();
        }
    }

    fn extend(&mut self, other: Joined<T>) {
        self.runs.extend(other.runs);
        self.joined += other.joined;
    }
}

/// A candidate's runs: those within 1970 to 2106, and those outside.
#[derive(Debug, Clone, Default)]
struct Runs {
    narrow: Joined<u32>,
    wide: Joined<i64>,
}

impl Runs {
    /// Adds one batch's rows of this candidate, sorted by socket and time.
    fn push_sorted(&mut self, rows: &[Row]) {
        let narrow = |&(_, socket, t): &Row| Some((socket, u32::try_from(t).ok()?));
        self.narrow.push_sorted(rows.iter().filter_map(narrow));
        if rows.iter().any(|r| narrow(r).is_none()) {
            let wide = rows.iter().filter(|r| narrow(r).is_none()).map(|&(_, socket, t)| (socket, t));
            self.wide.push_sorted(wide);
        }
    }

    /// The start of each connection, sorted.
    fn connection_times(self) -> Vec<i64> {
        let widen = |r: Run<u32>| Run { socket: r.socket, start: i64::from(r.start), end: i64::from(r.end) };
        let mut runs: Vec<Run<i64>> = self.narrow.runs.into_iter().map(widen).collect();
        runs.extend(self.wide.runs);
        join(&mut runs);
        let mut times: Vec<i64> = runs.into_iter().map(|r| r.start).collect();
        times.sort_unstable();
        times
    }
}

/// A candidate row of the batch being added: its candidate, socket and time (seconds).
type Row = (Candidate, u64, i64);

#[derive(Debug, Clone, Default)]
pub struct Beaconing {
    ids: FxHashMap<Candidate, u32>,
    candidates: Vec<(Candidate, Runs)>,
    /// Whether each address id (of the tables seen so far) is a specific address.
    specific: Vec<bool>,
    /// First and last row time per computer id: the observed span each computer is scored
    /// over.
    spans: Vec<(i64, i64)>,
    /// The candidate rows of the batch being added, sorted so that each candidate is looked up
    /// once a batch and its rows arrive joined; kept between batches only for its allocation.
    rows: Vec<Row>,
}

impl Beaconing {
    fn fit(&mut self, t: &Tables<'_>) {
        let known = self.specific.len();
        self.specific.extend(t.addrs.iter().skip(known).map(|(_, a)| a.is_specific()));
        if self.spans.len() < t.computers.len() {
            self.spans.resize(t.computers.len(), (i64::MAX, i64::MIN));
        }
    }

    fn candidate(&mut self, key: Candidate) -> u32 {
        let candidates = &mut self.candidates;
        *self.ids.entry(key).or_insert_with(|| {
            candidates.push((key, Runs::default()));
            (candidates.len() - 1) as u32
        })
    }
}

impl Accumulate for Beaconing {
    type Output = Vec<Beacon>;

    fn add(&mut self, batch: &Batch<'_>) {
        let tables = batch.tables;
        self.fit(&tables);
        let mut rows = std::mem::take(&mut self.rows);
        batch.for_each(|e| {
            let t = e.time.and_utc().timestamp();
            let computer = tables.computer(e);
            if let Some(span) = self.spans.get_mut(computer.0 as usize) {
                span.0 = span.0.min(t);
                span.1 = span.1.max(t);
            }
            let PortField::Num(remote_port) = e.remote_port() else {
                return;
            };
            if e.module.is_empty() || !self.specific.get(e.remote_ip.0 as usize).copied().unwrap_or(false) {
                return;
            }
            let key = Candidate { computer, module: e.module, remote_ip: e.remote_ip, remote_port };
            let socket = u64::from(e.pid) | u64::from(e.local_port) << 32 | (e.protocol as u64) << 48;
            rows.push((key, socket, t));
        });
        rows.sort_unstable();
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            let c = self.candidate(group[0].0);
            self.candidates[c as usize].1.push_sorted(group);
        }
        rows.clear();
        self.rows = rows;
    }

    fn merge(&mut self, other: Beaconing) {
        for (key, runs) in other.candidates {
            let c = self.candidate(key);
            let mine = &mut self.candidates[c as usize].1;
            mine.narrow.extend(runs.narrow);
            mine.wide.extend(runs.wide);
        }
        if self.spans.len() < other.spans.len() {
            self.spans.resize(other.spans.len(), (i64::MAX, i64::MIN));
        }
        for (a, b) in self.spans.iter_mut().zip(other.spans) {
            *a = (a.0.min(b.0), a.1.max(b.1));
        }
    }

    /// Candidates with enough connections, by score descending, then connections descending,
    /// then computer, process, address and port.
    fn finish(self, tables: Tables<'_>) -> Vec<Beacon> {
        let spans = self.spans;
        let mut list: Vec<Beacon> = self
            .candidates
            .into_iter()
            .filter_map(|(key, runs)| {
                let times = runs.connection_times();
                if times.len() < MIN_CONNECTIONS {
                    return None;
                }
                let span = spans.get(key.computer.0 as usize).map_or(0, |(lo, hi)| (hi - lo).max(0));
                Some(Beacon::scored(
                    tables.computers.name(key.computer).to_string(),
                    tables.modules.resolve(key.module).to_string(),
                    (tables.addrs.resolve(key.remote_ip).ip()?, key.remote_port),
                    &times,
                    span,
                ))
            })
            .collect();
        rank(&mut list);
        list
    }
}

/// Each socket's runs joined where one begins within the window after the one before it
/// ends: one run per connection, ordered by socket and start. In place, so that the room
/// the runs had stays for those pushed before the next join.
fn join<T: Copy + Ord + Into<i64>>(runs: &mut Vec<Run<T>>) {
    runs.sort_unstable_by_key(|r| (r.socket, r.start));
    runs.dedup_by(|run, kept| {
        let same = kept.socket == run.socket && run.start.into() <= kept.end.into() + STATE_CHANGE_WINDOW_S;
        if same {
            kept.end = kept.end.max(run.end);
        }
        same
    });
}

/// The Beaconing view over all rows of `log`, or a subset (row indices).
pub fn beaconing(log: &PortsLog, subset: Option<&[u32]>) -> Vec<Beacon> {
    let tables = Tables::of(log);
    crate::analysis::aggregate::over_rows(Batch::new(tables, &log.events).subset(subset), Beaconing::default)
        .finish(tables)
}

#[cfg(test)]
mod tests;
