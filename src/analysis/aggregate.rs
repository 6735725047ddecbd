//! The row aggregator: one pass over PORTS rows feeds every view that counts rows.
//!
//! A view that counts rows is an [`Accumulate`]: it is fed [`Batch`]es of rows (with the
//! log-wide tables their ids refer to), it merges with another accumulator of the same view
//! that was fed other rows, and it finishes into the view's list. Nothing in an accumulator
//! holds a row: what it keeps is bounded by distinct values (ports, names, addresses, keys of
//! its own), so the same code serves a loaded log ([`over_log`], the app's statistics over the
//! grid's current rows) and a log streamed block by block ([`Pieces`], `prparser report`, which
//! keeps no rows at all).
//!
//! [`Aggregator`] is the set of views the report and the app's statistics compute together,
//! chosen by [`Views`]. To add a view: write its accumulator (beside the view's other code, as
//! `stats/counts.rs` is), add a field to [`Aggregator`] (an `Option` when the view is asked
//! for) and to [`Aggregate`], and its `add`, `merge` and `finish` lines below. Both programs
//! then have it.

use std::sync::Arc;

use chrono::NaiveDateTime;
use rayon::prelude::*;

use crate::analysis::criteria::CompiledSet;
use crate::analysis::dns::{HostNames, NoHostNames};
use crate::analysis::geoip::GeoIp;
use crate::analysis::index::{BlockId, NO_BLOCK, PidsIndex};
use crate::analysis::stats::beaconing::{Beacon, Beaconing};
use crate::analysis::stats::computers::{ComputerCounts, ComputerUsage};
use crate::analysis::stats::counts::RowCounts;
use crate::analysis::stats::geo::{PlaceCounts, RemotePlaces};
use crate::analysis::stats::per_process::ProcessUsage;
use crate::analysis::stats::{RowStats, UserUsage};
use crate::intern::{AddrTable, Interner};
use crate::logs::computers::ComputerTable;
use crate::logs::ports::{PortsLog, PortsSource};
use crate::logs::set::LogSet;
use crate::model::{Address, PortEvent, Symbol};

mod flags;
mod span;

pub use flags::{CriterionCount, FlagCounts, Flagged};
pub use span::Span;

/// The tables a log's rows refer to by id. They only grow while a log is read, so ids a batch
/// holds stay valid for every later batch; accumulators indexed by id grow with them.
#[derive(Clone, Copy)]
pub struct Tables<'a> {
    pub modules: &'a Interner,
    pub users: &'a Interner,
    pub addrs: &'a AddrTable,
    /// The log's files, which name each row's computer.
    pub sources: &'a [PortsSource],
    pub computers: &'a ComputerTable,
}

impl<'a> Tables<'a> {
    pub fn of(log: &'a PortsLog) -> Tables<'a> {
        Tables {
            modules: &log.modules,
            users: &log.users,
            addrs: &log.addrs,
            sources: &log.sources,
            computers: &log.computers,
        }
    }

    /// The id of the computer a row came from (an id of `computers`).
    #[inline]
    pub fn computer(&self, e: &PortEvent) -> Symbol {
        self.sources.get(e.source as usize).map_or(Symbol::EMPTY, |s| s.computer)
    }

    pub fn module(&self, e: &PortEvent) -> &'a str {
        self.modules.resolve(e.module)
    }

    pub fn remote_ip(&self, e: &PortEvent) -> Address {
        self.addrs.resolve(e.remote_ip)
    }
}

/// The set a batch's rows belong to, and its PIDS index: what criteria read besides the row
/// (the set's PORTS tables, which must be the batch's, and the process logs' blocks).
#[derive(Clone, Copy)]
pub struct InSet<'a> {
    pub set: &'a LogSet,
    pub index: &'a PidsIndex,
}

/// Rows handed to accumulators: consecutive rows of a log, or some of them by index, with each
/// row's PIDS block when a view needs it.
#[derive(Clone, Copy)]
pub struct Batch<'a> {
    pub tables: Tables<'a>,
    events: &'a [PortEvent],
    /// Indices into `events`; every row of `events` when `None`.
    subset: Option<&'a [u32]>,
    /// The PIDS block of each row of `events` (same indices); empty when no view asked.
    blocks: &'a [BlockId],
    /// Needed by flag counts.
    in_set: Option<InSet<'a>>,
    /// Names of remote addresses, for host-name criteria.
    pub hosts: &'a dyn HostNames,
}

impl<'a> Batch<'a> {
    /// All of `events`.
    pub fn new(tables: Tables<'a>, events: &'a [PortEvent]) -> Batch<'a> {
        Batch { tables, events, subset: None, blocks: &[], in_set: None, hosts: &NoHostNames }
    }

    /// The rows of `events` at `subset` (indices; ones past the end are skipped).
    pub fn subset(self, subset: Option<&'a [u32]>) -> Batch<'a> {
        Batch { subset, ..self }
    }

    /// Rows of a PORTS log streamed into `set` (or held by it), read with its tables.
    pub fn of_set(in_set: InSet<'a>, events: &'a [PortEvent]) -> Batch<'a> {
        Batch { in_set: Some(in_set), ..Batch::new(Tables::of(&in_set.set.ports), events) }
    }

    /// Each row's PIDS block (`blocks[i]` for `events[i]`; [`NO_BLOCK`] for none).
    pub fn with_blocks(self, blocks: &'a [BlockId]) -> Batch<'a> {
        Batch { blocks, ..self }
    }

    /// Names for host-name criteria (none by default: DNS is opt-in).
    pub fn with_hosts(self, hosts: &'a dyn HostNames) -> Batch<'a> {
        Batch { hosts, ..self }
    }

    pub fn len(&self) -> usize {
        self.subset.map_or(self.events.len(), <[u32]>::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls `f` on each row. The choice between all rows and a subset is made once, not per
    /// row, so each accumulator's loop stays tight.
    #[inline]
    pub fn for_each(&self, mut f: impl FnMut(&PortEvent)) {
        match self.subset {
            None => self.events.iter().for_each(f),
            Some(rows) => {
                for &i in rows {
                    if let Some(e) = self.events.get(i as usize) {
                        f(e);
                    }
                }
            }
        }
    }

    /// [`Batch::for_each`] with each row's PIDS block ([`NO_BLOCK`] where none was given).
    #[inline]
    pub fn for_each_with_block(&self, mut f: impl FnMut(&PortEvent, BlockId)) {
        let block = |i: usize| self.blocks.get(i).copied().unwrap_or(NO_BLOCK);
        match self.subset {
            None => self.events.iter().enumerate().for_each(|(i, e)| f(e, block(i))),
            Some(rows) => {
                for &i in rows {
                    if let Some(e) = self.events.get(i as usize) {
                        f(e, block(i as usize));
                    }
                }
            }
        }
    }

    /// Consecutive parts of about `rows` rows each, in order.
    fn parts(self, rows: usize) -> impl Iterator<Item = Batch<'a>> {
        let rows = rows.max(1);
        let n = self.len().div_ceil(rows);
        (0..n).map(move |k| self.range(k * rows, ((k + 1) * rows).min(self.len())))
    }

    /// Rows `from..to` of the batch (positions in the subset when there is one).
    fn range(self, from: usize, to: usize) -> Batch<'a> {
        match self.subset {
            Some(rows) => Batch { subset: Some(&rows[from..to]), ..self },
            None => Batch { events: &self.events[from..to], blocks: self.blocks.get(from..to).unwrap_or(&[]), ..self },
        }
    }

    /// `n` parts of about equal size, in order (fewer when the batch is small).
    fn split(self, n: usize) -> Vec<Batch<'a>> {
        self.parts(self.len().div_ceil(n.max(1)).max(MIN_PIECE_ROWS)).collect()
    }
}

/// What every row-counting view is.
pub trait Accumulate: Send + Sized {
    type Output;

    /// Counts a batch's rows.
    fn add(&mut self, batch: &Batch<'_>);

    /// Takes in what another accumulator of the same view, fed other rows, counted. Rows may
    /// be split among accumulators in any way; the finished view is the same.
    fn merge(&mut self, other: Self);

    /// The view, its ids resolved through `tables` (the tables of the last batch or later).
    fn finish(self, tables: Tables<'_>) -> Self::Output;
}

/// Rows each accumulator takes in one go: all views count one part while it is in cache
/// (about 360 KB of rows) before the next is read from memory.
const ROWS_PER_PART: usize = 1 << 13;

/// Pieces smaller than this are not worth a thread.
const MIN_PIECE_ROWS: usize = 1 << 12;

/// Feeds `batch` to `acc` a cache-sized part at a time.
fn add_in_parts<A: Accumulate>(acc: &mut A, batch: Batch<'_>) {
    for part in batch.parts(ROWS_PER_PART) {
        acc.add(&part);
    }
}

/// Accumulators, one per piece of work, fed batches that arrive one after another (a log read
/// block by block): each batch is split among them and counted on all cores; [`Pieces::finish`]
/// merges them.
pub struct Pieces<A> {
    first: A,
    others: Vec<A>,
}

impl<A: Accumulate> Pieces<A> {
    /// One accumulator per core, each from `make`.
    pub fn new(make: impl Fn() -> A) -> Pieces<A> {
        let others = (1..rayon::current_num_threads()).map(|_| make()).collect();
        Pieces { first: make(), others }
    }

    pub fn add(&mut self, batch: Batch<'_>) {
        let mut all: Vec<&mut A> = std::iter::once(&mut self.first).chain(self.others.iter_mut()).collect();
        let parts = batch.split(all.len());
        all.par_iter_mut().zip(parts).for_each(|(acc, part)| add_in_parts(&mut **acc, part));
    }

    /// Every accumulator, to act on between batches.
    pub fn each_mut(&mut self) -> impl Iterator<Item = &mut A> {
        std::iter::once(&mut self.first).chain(self.others.iter_mut())
    }

    /// All pieces merged into one accumulator.
    pub fn merged(self) -> A {
        let mut acc = self.first;
        for other in self.others {
            acc.merge(other);
        }
        acc
    }
}

/// Counts a loaded batch (a whole log, or the grid's current rows) on all cores.
pub fn over_rows<A: Accumulate>(batch: Batch<'_>, make: impl Fn() -> A) -> A {
    let mut pieces = Pieces::new(make);
    pieces.add(batch);
    pieces.merged()
}

/// What the [`Aggregator`] computes besides the row-count views and the time span.
#[derive(Debug, Clone, Default)]
pub struct Views {
    /// Per-process usage by user of this module name.
    pub process: Option<String>,
    /// Flag counts for these criteria (enabled and valid ones).
    pub criteria: Option<Arc<CompiledSet>>,
    /// Remote countries and ASNs from these databases; country and AS criteria read them too.
    pub geo: Option<Arc<GeoIp>>,
    /// The Beaconing view, listing at most this many of the best candidates. It keeps every
    /// candidate connection's time, the largest state of any view, so a report that does not
    /// want it (`report --skip beaconing`) never starts it.
    pub beaconing: Option<usize>,
}

impl Views {
    /// Whether rows must come with their PIDS blocks (a module-path criterion).
    pub fn needs_blocks(&self) -> bool {
        self.criteria.as_ref().is_some_and(|c| FlagCounts::needs_blocks(c))
    }
}

/// The views `prparser report` and the app's statistics compute over rows, in one pass.
pub struct Aggregator {
    span: Span,
    counts: RowCounts,
    computers: ComputerCounts,
    beacons: Option<Beaconing>,
    per_process: Option<ProcessUsage>,
    flags: Option<FlagCounts>,
    places: Option<PlaceCounts>,
}

/// The finished views.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub first: Option<NaiveDateTime>,
    pub last: Option<NaiveDateTime>,
    pub counts: RowStats,
    pub computers: Vec<ComputerUsage>,
    /// Every candidate of the Beaconing view, best first, when it was asked for.
    pub beaconing: Option<Vec<Beacon>>,
    pub per_process: Option<Vec<UserUsage>>,
    pub flagged: Option<Flagged>,
    /// Remote countries and ASNs, when a database was given.
    pub places: RemotePlaces,
}

impl Aggregator {
    /// The Beaconing view's accumulator, when it is computed.
    pub fn beaconing_mut(&mut self) -> Option<&mut Beaconing> {
        self.beacons.as_mut()
    }

    /// Stops computing the Beaconing view (its answer will come from elsewhere).
    pub fn forget_beaconing(&mut self) {
        self.beacons = None;
    }

    pub fn new(views: &Views) -> Aggregator {
        Aggregator {
            span: Span::default(),
            counts: RowCounts::default(),
            computers: ComputerCounts::default(),
            beacons: views.beaconing.map(Beaconing::best),
            per_process: views.process.as_deref().map(ProcessUsage::new),
            flags: views.criteria.clone().map(|c| FlagCounts::new(c, views.geo.clone())),
            places: views.geo.clone().map(PlaceCounts::new),
        }
    }
}

impl Accumulate for Aggregator {
    type Output = Aggregate;

    fn add(&mut self, batch: &Batch<'_>) {
        self.span.add(batch);
        self.counts.add(batch);
        self.computers.add(batch);
        if let Some(b) = &mut self.beacons {
            b.add(batch);
        }
        if let Some(p) = &mut self.per_process {
            p.add(batch);
        }
        if let Some(f) = &mut self.flags {
            f.add(batch);
            self.computers.add_flags(batch, f.last_flags());
        }
        if let Some(p) = &mut self.places {
            p.add(batch);
        }
    }

    fn merge(&mut self, other: Aggregator) {
        self.span.merge(other.span);
        self.counts.merge(other.counts);
        self.computers.merge(other.computers);
        merge_option(&mut self.beacons, other.beacons);
        merge_option(&mut self.per_process, other.per_process);
        merge_option(&mut self.flags, other.flags);
        merge_option(&mut self.places, other.places);
    }

    fn finish(self, tables: Tables<'_>) -> Aggregate {
        let (first, last) = self.span.finish(tables);
        Aggregate {
            first,
            last,
            counts: self.counts.finish(tables),
            computers: self.computers.finish(tables),
            beaconing: self.beacons.map(|b| b.finish(tables)),
            per_process: self.per_process.map(|p| p.finish(tables)),
            flagged: self.flags.map(|f| f.finish(tables)),
            places: self.places.map(|p| p.finish(tables)).unwrap_or_default(),
        }
    }
}

fn merge_option<A: Accumulate>(mine: &mut Option<A>, other: Option<A>) {
    match (mine.as_mut(), other) {
        (Some(a), Some(b)) => a.merge(b),
        (None, b) => *mine = b,
        (Some(_), None) => {}
    }
}

/// Counts that follow a view's table: one per id, grown as the table grows.
#[derive(Debug, Clone, Default)]
pub struct PerId(Vec<u64>);

impl PerId {
    /// Makes room for ids below `len`.
    pub fn fit(&mut self, len: usize) {
        if self.0.len() < len {
            self.0.resize(len, 0);
        }
    }

    /// Counts one for `id`; ids past the fitted length are not counted (they cannot come from
    /// the tables the counts were fitted to).
    #[inline(always)]
    pub fn bump(&mut self, id: usize) {
        if let Some(n) = self.0.get_mut(id) {
            *n += 1;
        }
    }

    pub fn merge(&mut self, other: PerId) {
        self.fit(other.0.len());
        self.0.iter_mut().zip(other.0).for_each(|(a, b)| *a += b);
    }

    /// (id, count) of the ids counted at least once.
    pub fn nonzero(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.0.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (i, *c))
    }
}

#[cfg(test)]
mod tests;
