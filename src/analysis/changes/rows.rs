//! The part of the Changes view that does not depend on the rows' order: per process and per
//! remote endpoint, the first time, the rows and the users after the baseline, and which the
//! baseline had. It is an [`Accumulate`], so a log's rows are counted on all cores (beside the
//! other views' accumulators) and the pieces merged; only the listeners, whose XP quirk pairs
//! neighbouring rows, are read in order ([`super::ChangeScanner::pair`]).
//!
//! Keys are the log's own ids (computer, module name, user, remote address) packed into integers,
//! so a row costs the hash of a word or two and no string; [`super::ChangeScanner::absorb`] turns them into the
//! scanner's ids (names compared without regard to case) once the set is read.

use chrono::NaiveDateTime;
use rustc_hash::{FxHashMap, FxHashSet};

use crate::analysis::aggregate::{Accumulate, Batch, Tables};
use crate::analysis::time_range::TimeRange;
use crate::model::{PortEvent, PortField};

use super::Side;

/// A (computer, module) by the log's ids, in one integer: the computer in the high half.
pub(super) fn process_key(computer: u32, module: u32) -> u64 {
    (u64::from(computer) << 32) | u64::from(module)
}

/// The (computer, module) of a [`process_key`].
pub(super) fn process_ids(key: u64) -> (u32, u32) {
    ((key >> 32) as u32, key as u32)
}

/// A process's remote endpoint (remote address id, remote port) in one integer: a row costs
/// the hash of one word, and an entry of the endpoint table 24 bytes.
pub(super) fn endpoint_key(addr: u32, port: u16) -> u64 {
    (u64::from(addr) << 16) | u64::from(port)
}

/// The (remote address id, remote port) of an [`endpoint_key`].
pub(super) fn endpoint_ids(key: u64) -> (u32, u16) {
    ((key >> 16) as u32, key as u16)
}

/// One process's remote endpoints after the baseline, by [`endpoint_key`].
pub(super) type Endpoints = FxHashMap<u64, EndpointSeen>;

/// Adds `other`'s endpoints to `mine`, walking the smaller table.
pub(super) fn merge_endpoints(mine: &mut Endpoints, mut other: Endpoints) {
    if other.len() > mine.len() {
        std::mem::swap(mine, &mut other);
    }
    for (k, seen) in other {
        mine.entry(k).and_modify(|m| m.merge(seen)).or_insert(seen);
    }
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

/// A process after the baseline and its remote endpoints: a row finds both with one lookup
/// of its process (few, so in cache) and one of its endpoint.
#[derive(Debug, Clone)]
pub(super) struct ProcessRows {
    pub seen: ProcessSeen,
    pub endpoints: Endpoints,
}

impl ProcessRows {
    fn merge(&mut self, other: ProcessRows) {
        self.seen.merge(other.seen);
        merge_endpoints(&mut self.endpoints, other.endpoints);
    }
}

/// The processes and remote endpoints of one log set's PORTS rows, by the set's ids.
#[derive(Debug, Clone)]
pub struct ChangeRows {
    sides: Sides,
    /// The baseline's processes by [`process_key`] (their computers are the baseline's
    /// computers), each with its remote endpoints by [`endpoint_key`].
    pub(super) base: FxHashMap<u64, FxHashSet<u64>>,
    /// What came after, by [`process_key`].
    pub(super) after: FxHashMap<u64, ProcessRows>,
}

impl ChangeRows {
    pub(super) fn new(sides: Sides) -> ChangeRows {
        ChangeRows { sides, base: FxHashMap::default(), after: FxHashMap::default() }
    }

    /// Takes one row; a row not `counted` is never what came after (it may be the baseline).
    #[inline]
    pub(super) fn row(&mut self, tables: &Tables<'_>, e: &PortEvent, counted: bool) {
        let side = match self.sides.of(e.time) {
            Side::After if !counted => return,
            Side::Skip => return,
            side => side,
        };
        let process = process_key(tables.computer(e).0, e.module.0);
        let endpoint = match e.remote_port() {
            PortField::Num(port) if tables.remote_ip(e).is_specific() => Some(endpoint_key(e.remote_ip.0, port)),
            _ => None,
        };
        if side == Side::Base {
            let endpoints = self.base.entry(process).or_default();
            if let Some(key) = endpoint {
                endpoints.insert(key);
            }
            return;
        }
        let p = self.after.entry(process).or_insert_with(|| ProcessRows {
            seen: ProcessSeen { first: e.time, rows: 0, users: Vec::new() },
            endpoints: Endpoints::default(),
        });
        p.seen.rows += 1;
        p.seen.first = p.seen.first.min(e.time);
        if !e.user.is_empty() && !p.seen.users.contains(&e.user.0) {
            p.seen.users.push(e.user.0);
        }
        if let Some(key) = endpoint {
            p.endpoints
                .entry(key)
                .and_modify(|seen| seen.merge(EndpointSeen { first: e.time, rows: 1 }))
                .or_insert(EndpointSeen { first: e.time, rows: 1 });
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
        for (k, endpoints) in other.base {
            match self.base.get_mut(&k) {
                Some(mine) => mine.extend(endpoints),
                None => _ = self.base.insert(k, endpoints),
            }
        }
        for (k, p) in other.after {
            match self.after.get_mut(&k) {
                Some(mine) => mine.merge(p),
                None => _ = self.after.insert(k, p),
            }
        }
    }

    fn finish(self, _tables: Tables<'_>) -> ChangeRows {
        self
    }
}

#[cfg(test)]
mod tests;
