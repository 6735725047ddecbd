//! The part of the Changes view that does not depend on the rows' order: per process and per
//! remote endpoint, the first time, the rows and the users after the baseline, and which the
//! baseline had. It is an [`Accumulate`], so a log's rows are counted on all cores (beside the
//! other views' accumulators) and the pieces merged; only the listeners, whose XP quirk pairs
//! neighbouring rows, are read in order ([`super::ChangeScanner::pair`]).
//!
//! Keys are the log's own ids (computer, module name, user, remote address), so a row costs a
//! hash of a few integers and no string; [`super::ChangeScanner::absorb`] turns them into the
//! scanner's ids (names compared without regard to case) once the set is read.

use chrono::NaiveDateTime;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::analysis::aggregate::{Accumulate, Batch, Tables};
use crate::analysis::time_range::TimeRange;
use crate::model::{PortEvent, PortField};

use super::Side;

/// A (computer, module, remote address, remote port) by the log's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct LogEndpoint {
    pub computer: u32,
    pub module: u32,
    pub addr: u32,
    pub port: u16,
}

/// Kept small: a log can hold millions of endpoints.
#[derive(Debug, Clone, Copy)]
pub(super) struct EndpointSeen {
    pub first: NaiveDateTime,
    pub rows: u32,
}

impl EndpointSeen {
    pub fn merge(&mut self, other: EndpointSeen) {
        self.first = self.first.min(other.first);
        self.rows = self.rows.saturating_add(other.rows);
    }
}

/// A process after the baseline; `users` are ids (of the log's or the scanner's table).
#[derive(Debug, Clone)]
pub(super) struct ProcessSeen {
    pub first: NaiveDateTime,
    pub rows: u64,
    pub users: Vec<u32>,
}

impl ProcessSeen {
    pub fn merge(&mut self, other: ProcessSeen) {
        self.first = self.first.min(other.first);
        self.rows += other.rows;
        for u in other.users {
            if !self.users.contains(&u) {
                self.users.push(u);
            }
        }
    }
}

/// Which rows are the baseline, which came after.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sides {
    /// The whole set is the baseline (`--baseline PATH`'s logs).
    pub all_base: bool,
    /// Rows before this are the baseline (`--baseline-until`).
    pub until: Option<NaiveDateTime>,
    /// What came after is of this range.
    pub range: TimeRange,
}

impl Sides {
    #[inline]
    pub fn of(&self, time: NaiveDateTime) -> Side {
        if self.all_base || self.until.is_some_and(|u| time < u) {
            Side::Base
        } else if self.range.contains(time) {
            Side::After
        } else {
            Side::Skip
        }
    }
}

/// The processes and remote endpoints of one log set's PORTS rows, by the set's ids.
#[derive(Debug, Clone)]
pub struct ChangeRows {
    sides: Sides,
    pub(super) base_processes: FxHashSet<(u32, u32)>,
    pub(super) base_endpoints: FxHashSet<LogEndpoint>,
    pub(super) base_computers: FxHashSet<u32>,
    pub(super) processes: FxHashMap<(u32, u32), ProcessSeen>,
    pub(super) endpoints: FxHashMap<LogEndpoint, EndpointSeen>,
}

impl ChangeRows {
    pub(super) fn new(sides: Sides) -> ChangeRows {
        ChangeRows {
            sides,
            base_processes: FxHashSet::default(),
            base_endpoints: FxHashSet::default(),
            base_computers: FxHashSet::default(),
            processes: FxHashMap::default(),
            endpoints: FxHashMap::default(),
        }
    }

    /// Takes one row; a row not `counted` is never what came after (it may be the baseline).
    #[inline]
    pub(super) fn row(&mut self, tables: &Tables<'_>, e: &PortEvent, counted: bool) {
        let side = match self.sides.of(e.time) {
            Side::After if !counted => return,
            Side::Skip => return,
            side => side,
        };
        let computer = tables.computer(e).0;
        let module = e.module.0;
        let endpoint = match e.remote_port() {
            PortField::Num(port) if tables.remote_ip(e).ip().is_some_and(|ip| !ip.is_unspecified()) => {
                Some(LogEndpoint { computer, module, addr: e.remote_ip.0, port })
            }
            _ => None,
        };
        if side == Side::Base {
            self.base_processes.insert((computer, module));
            self.base_computers.insert(computer);
            if let Some(key) = endpoint {
                self.base_endpoints.insert(key);
            }
            return;
        }
        let p = self.processes.entry((computer, module)).or_insert(ProcessSeen {
            first: e.time,
            rows: 0,
            users: Vec::new(),
        });
        p.rows += 1;
        p.first = p.first.min(e.time);
        if !e.user.is_empty() && !p.users.contains(&e.user.0) {
            p.users.push(e.user.0);
        }
        if let Some(key) = endpoint {
            self.endpoints
                .entry(key)
                .or_insert(EndpointSeen { first: e.time, rows: 0 })
                .merge(EndpointSeen { first: e.time, rows: 1 });
        }
    }
}

impl Accumulate for ChangeRows {
    /// Finished by [`super::ChangeScanner::absorb`], which also needs the scanner's tables.
    type Output = ChangeRows;

    fn add(&mut self, batch: &Batch<'_>) {
        let tables = batch.tables;
        batch.for_each(|e| self.row(&tables, e, true));
    }

    fn merge(&mut self, other: ChangeRows) {
        self.base_processes.extend(other.base_processes);
        self.base_endpoints.extend(other.base_endpoints);
        self.base_computers.extend(other.base_computers);
        for (k, p) in other.processes {
            match self.processes.get_mut(&k) {
                Some(mine) => mine.merge(p),
                None => _ = self.processes.insert(k, p),
            }
        }
        let mut other_endpoints = other.endpoints;
        if other_endpoints.len() > self.endpoints.len() {
            std::mem::swap(&mut self.endpoints, &mut other_endpoints);
        }
        for (k, seen) in other_endpoints {
            self.endpoints.entry(k).and_modify(|mine| mine.merge(seen)).or_insert(seen);
        }
    }

    fn finish(self, _tables: Tables<'_>) -> ChangeRows {
        self
    }
}
