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
//! Memory: one (candidate, socket, first time, last time) run per connection, 24 bytes each,
//! in a few arenas per accumulator ([`runs`]); no rows. A row is pushed as a run keyed by its
//! remote address and an interned id of the rest of its candidate's key; an arena is joined
//! whenever it has doubled since its last join (and when the view is finished), so what is kept stays within twice the connections and the
//! connections found do not depend on how the rows were split or ordered.
//!
//! A streamed report (`prparser report`) also retires connections between blocks
//! ([`Retirer`]): rows come in the order the logs were written, which is time order, so a
//! connection that ended more than the window before its computer's latest row is final and
//! only its candidate and start are kept, packed (about 5 bytes instead of a run's 24 and the
//! joins' room).
//! Should a later row come early enough to have joined a retired connection (a clock set
//! back, a copy of a log), the accumulator says so ([`Beaconing::disordered`]) and the report
//! finds the view again without retiring: the answer never depends on the order.

use std::cmp::Ordering;
use std::net::IpAddr;

use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::analysis::aggregate::{Accumulate, Batch, Tables};
use crate::logs::ports::PortsLog;
use crate::model::{AddrId, PortField, Symbol};

mod retired;
mod runs;
pub mod score;

use runs::{Run, Runs};

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

/// What a candidate is keyed by besides its remote address: ids of the log's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Rest {
    computer: Symbol,
    module: Symbol,
    remote_port: u16,
}

/// A candidate is keyed by its remote address (an id of the log's addresses, dense, by which
/// its runs are grouped without a lookup) and the rest of its key: an id of the accumulator's
/// for each (computer, process, remote port), few enough that looking them up per row stays
/// in cache.
#[derive(Debug, Clone, Default)]
pub struct Beaconing {
    rest_ids: FxHashMap<Rest, u32>,
    rests: Vec<Rest>,
    /// Runs timed within 1970 to 2106, and those outside (joined with them at the end).
    narrow: Runs<u32>,
    wide: Runs<i64>,
    /// Whether each address id (of the tables seen so far) is a specific address.
    specific: Vec<bool>,
    /// First and last row time per computer id: the observed span each computer is scored
    /// over.
    spans: Vec<(i64, i64)>,
    /// Per computer id, the time at or before which a candidate row could have joined a
    /// retired connection (`i64::MIN`: none retired).
    retired_reach: Vec<i64>,
    /// A candidate row came at or before its computer's `retired_reach`.
    disordered: bool,
    /// Connections are retired by a [`Retirer`] (so `add` leaves joining to it).
    retiring: bool,
    /// List only this many of the best (the report's), rather than every candidate: a log of
    /// millions of connections has millions of candidates, and each listed one is named.
    best: Option<usize>,
}

/// Runs kept, in all the accumulators of a stream, before they are first retired.
const RETIRE_AT_RUNS: usize = 1 << 16;

/// When a streamed report retires connections: after a block, once the runs kept have doubled
/// since the last time (and are at least [`RETIRE_AT_RUNS`]), so that retiring costs about
/// what the joins do.
#[derive(Debug, Default)]
pub struct Retirer {
    due: usize,
}

impl Retirer {
    /// Called between blocks with the stream's accumulators (every row read so far added).
    pub fn after_block(&mut self, all: &mut [&mut Beaconing]) {
        let kept = |all: &[&mut Beaconing]| all.iter().map(|b| b.narrow.len() + b.wide.len()).sum::<usize>();
        if kept(all) >= self.due.max(RETIRE_AT_RUNS) {
            Beaconing::retire(all);
            self.due = 2 * kept(all);
        }
    }
}

impl Beaconing {
    /// The view that lists only the `n` best candidates.
    pub fn best(n: usize) -> Beaconing {
        Beaconing { best: Some(n), ..Beaconing::default() }
    }

    /// Whether a row came out of time order after connections were retired: the view of
    /// these accumulators may then be wrong and must be found again without retiring.
    pub fn disordered(&self) -> bool {
        self.disordered
    }

    /// Gathers the runs of a stream's accumulators into the first, joins them and retires the
    /// connections that ended more than the window before their computer's latest row.
    pub fn retire(all: &mut [&mut Beaconing]) {
        let Some((first, others)) = all.split_first_mut() else {
            return;
        };
        let mut latest: Vec<i64> = first.spans.iter().map(|s| s.1).collect();
        for other in others.iter_mut() {
            if latest.len() < other.spans.len() {
                latest.resize(other.spans.len(), i64::MIN);
            }
            for (l, s) in latest.iter_mut().zip(&other.spans) {
                *l = (*l).max(s.1);
            }
            let ids: Vec<u32> =
                other.rests.iter().map(|&rest| intern(&mut first.rest_ids, &mut first.rests, rest)).collect();
            first.narrow.take_from(&mut other.narrow, &ids);
        }
        let Beaconing { rests, narrow, .. } = &mut **first;
        let reach = narrow.retire(|rest| rests[rest as usize].computer.0 as usize, &latest);
        for b in all.iter_mut() {
            widen_reach(&mut b.retired_reach, &reach);
            b.retiring = true;
        }
    }

    fn fit(&mut self, t: &Tables<'_>) {
        let known = self.specific.len();
        self.specific.extend(t.addrs.iter().skip(known).map(|(_, a)| a.is_specific()));
        if self.spans.len() < t.computers.len() {
            self.spans.resize(t.computers.len(), (i64::MAX, i64::MIN));
        }
    }
}

/// `mine` (per computer id) raised to `other` where that is later.
fn widen_reach(mine: &mut Vec<i64>, other: &[i64]) {
    if mine.len() < other.len() {
        mine.resize(other.len(), i64::MIN);
    }
    for (m, o) in mine.iter_mut().zip(other) {
        *m = (*m).max(*o);
    }
}

/// The id of the rest of a candidate's key, given one if it is new.
#[inline]
fn intern(ids: &mut FxHashMap<Rest, u32>, rests: &mut Vec<Rest>, rest: Rest) -> u32 {
    *ids.entry(rest).or_insert_with(|| {
        rests.push(rest);
        (rests.len() - 1) as u32
    })
}

impl Accumulate for Beaconing {
    type Output = Vec<Beacon>;

    fn add(&mut self, batch: &Batch<'_>) {
        let tables = batch.tables;
        self.fit(&tables);
        let Beaconing { rest_ids, rests, narrow, wide, specific, spans, retired_reach, disordered, retiring, .. } =
            self;
        batch.for_each(|e| {
            let t = e.time.and_utc().timestamp();
            let computer = tables.computer(e);
            if let Some(span) = spans.get_mut(computer.0 as usize) {
                span.0 = span.0.min(t);
                span.1 = span.1.max(t);
            }
            let PortField::Num(remote_port) = e.remote_port() else {
                return;
            };
            if e.module.is_empty() || !specific.get(e.remote_ip.0 as usize).copied().unwrap_or(false) {
                return;
            }
            if retired_reach.get(computer.0 as usize).is_some_and(|&reach| t <= reach) {
                *disordered = true;
            }
            let rest = intern(rest_ids, rests, Rest { computer, module: e.module, remote_port });
            let key = (e.remote_ip.0, rest);
            let port = u32::from(e.local_port) | (e.protocol as u32) << 16;
            match u32::try_from(t) {
                Ok(t) => narrow.push(Run::at(key, e.pid, port, t)),
                Err(_) => wide.push(Run::at(key, e.pid, port, t)),
            }
        });
        // Once a stream retires connections, its retires bound the runs kept, and the joins
        // in between would only sort the same runs again.
        if !*retiring {
            narrow.settle();
            wide.settle();
        }
    }

    fn merge(&mut self, other: Beaconing) {
        let ids: Vec<u32> = other.rests.iter().map(|&rest| intern(&mut self.rest_ids, &mut self.rests, rest)).collect();
        self.narrow.append(other.narrow, &ids);
        self.wide.append(other.wide, &ids);
        if self.specific.len() < other.specific.len() {
            self.specific = other.specific;
        }
        if self.spans.len() < other.spans.len() {
            self.spans.resize(other.spans.len(), (i64::MAX, i64::MIN));
        }
        for (a, b) in self.spans.iter_mut().zip(other.spans) {
            *a = (a.0.min(b.0), a.1.max(b.1));
        }
        widen_reach(&mut self.retired_reach, &other.retired_reach);
        self.disordered |= other.disordered;
        self.retiring |= other.retiring;
    }

    /// Candidates with enough connections (the best ones, if so asked), by score descending,
    /// then connections descending, then computer, process, address and port.
    fn finish(self, tables: Tables<'_>) -> Vec<Beacon> {
        let Beaconing { rests, narrow, mut wide, spans, best, .. } = self;
        let score = |(addr, rest): (u32, u32), times: &[i64]| {
            let rest = rests[rest as usize];
            let span = spans.get(rest.computer.0 as usize).map_or(0, |(lo, hi)| (hi - lo).max(0));
            let scored = score::score(times, span);
            Some(Scored {
                rest,
                ip: tables.addrs.resolve(AddrId(addr)).ip()?,
                connections: times.len() as u64,
                median_interval_s: scored.median_interval_s,
                score: scored.score,
            })
        };
        // The order of [`rank`], on ids: names are looked up only where all else ties.
        let order = |a: &Scored, b: &Scored| {
            b.score
                .total_cmp(&a.score)
                .then(b.connections.cmp(&a.connections))
                .then_with(|| tables.computers.name(a.rest.computer).cmp(tables.computers.name(b.rest.computer)))
                .then_with(|| tables.modules.resolve(a.rest.module).cmp(tables.modules.resolve(b.rest.module)))
                .then(a.ip.cmp(&b.ip))
                .then(a.rest.remote_port.cmp(&b.rest.remote_port))
        };
        let keep = |list: &mut Vec<Scored>| {
            if let Some(n) = best {
                keep_best(list, n, order);
            }
        };
        let mut list = if wide.is_empty() {
            narrow.connections(MIN_CONNECTIONS, score, keep)
        } else {
            wide.widen(narrow);
            wide.connections(MIN_CONNECTIONS, score, keep)
        };
        keep(&mut list);
        list.sort_by(order);
        list.into_iter()
            .map(|s| Beacon {
                computer: tables.computers.name(s.rest.computer).to_string(),
                process: tables.modules.resolve(s.rest.module).to_string(),
                remote_ip: s.ip,
                remote_port: s.rest.remote_port,
                connections: s.connections,
                median_interval_s: s.median_interval_s,
                score: s.score,
            })
            .collect()
    }
}

/// A scored candidate by the log's ids, named once it is known to be listed.
struct Scored {
    rest: Rest,
    ip: IpAddr,
    connections: u64,
    median_interval_s: f64,
    score: f64,
}

/// Keeps the first `n` of `list` in `order` (in no particular order).
fn keep_best<T>(list: &mut Vec<T>, n: usize, order: impl Fn(&T, &T) -> Ordering) {
    if list.len() <= n {
        return;
    }
    if n > 0 {
        list.select_nth_unstable_by(n - 1, order);
    }
    list.truncate(n);
}

/// The Beaconing view over all rows of `log`, or a subset (row indices).
pub fn beaconing(log: &PortsLog, subset: Option<&[u32]>) -> Vec<Beacon> {
    let tables = Tables::of(log);
    crate::analysis::aggregate::over_rows(Batch::new(tables, &log.events).subset(subset), Beaconing::default)
        .finish(tables)
}

#[cfg(test)]
mod tests;
