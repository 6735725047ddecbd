//! Which process block belongs to a PORTS row.
//!
//! Port Reporter writes a PIDS block when a process starts new network activity, at the same
//! poll as the PORTS row, so the block that describes a row is the one of the same PID
//! recorded closest to the row's time. The rule, in order:
//! 1. blocks of the row's PID whose process name is the row's module (names compared without
//!    case; a PID reused by another program is not a match). Rows or blocks without a name
//!    match on PID alone;
//! 2. of those, the latest recorded at or before the row's time;
//! 3. else the earliest recorded after it, within [`AFTER_WINDOW`] (the block may be written
//!    a moment after the row).
//!
//! PIDS blocks are timed by their `recorded at` line (falling back to their log's `System
//! Date`); INITIAL blocks by their log's `System Date`, the service's start, so a process
//! already running at start is described from the first row on.

use chrono::{NaiveDateTime, TimeDelta};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::logs::set::LogSet;
use crate::model::{PortEvent, ProcessBlock};

/// How long after a row a block may be recorded and still describe it.
pub const AFTER_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// Where a block lives in a [`LogSet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlockRef {
    Pids { file: u16, block: u32 },
    Initial { file: u16, block: u32 },
}

/// Id of a block in a [`PidsIndex`]; rows refer to blocks by it.
pub type BlockId = u32;

/// Marks a row with no block.
pub const NO_BLOCK: BlockId = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Entry {
    time: NaiveDateTime,
    block: BlockId,
}

/// Blocks of every PIDS and INITIAL log of a set, by PID and time.
#[derive(Debug, Default)]
pub struct PidsIndex {
    blocks: Vec<(BlockRef, Option<NaiveDateTime>)>,
    by_pid: FxHashMap<u32, Vec<Entry>>,
}

impl PidsIndex {
    pub fn build(set: &LogSet) -> PidsIndex {
        let mut index = PidsIndex::default();
        for (f, log) in set.pids.iter().enumerate() {
            for (b, block) in log.blocks.iter().enumerate() {
                let time = block.recorded_at.or(log.header.system_date);
                index.push(BlockRef::Pids { file: f as u16, block: b as u32 }, block.pid, time);
            }
        }
        for (f, log) in set.initials.iter().enumerate() {
            for (b, block) in log.blocks.iter().enumerate() {
                index.push(BlockRef::Initial { file: f as u16, block: b as u32 }, block.pid, log.header.system_date);
            }
        }
        for entries in index.by_pid.values_mut() {
            entries.sort_by_key(|e| (e.time, e.block));
        }
        index
    }

    fn push(&mut self, r: BlockRef, pid: u32, time: Option<NaiveDateTime>) {
        let id = self.blocks.len() as BlockId;
        self.blocks.push((r, time));
        // A block with no time at all can still be shown from the detail view, but cannot be
        // placed on the time line.
        if let Some(time) = time {
            self.by_pid.entry(pid).or_default().push(Entry { time, block: id });
        }
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn block_ref(&self, id: BlockId) -> Option<BlockRef> {
        self.blocks.get(id as usize).map(|(r, _)| *r)
    }

    /// The time the index placed a block at.
    pub fn block_time(&self, id: BlockId) -> Option<NaiveDateTime> {
        self.blocks.get(id as usize).and_then(|(_, t)| *t)
    }

    pub fn block<'a>(&self, set: &'a LogSet, id: BlockId) -> Option<&'a ProcessBlock> {
        match self.block_ref(id)? {
            BlockRef::Pids { file, block } => set.pids.get(file as usize)?.blocks.get(block as usize),
            BlockRef::Initial { file, block } => set.initials.get(file as usize)?.blocks.get(block as usize),
        }
    }

    /// The block describing a row (see the module docs for the rule).
    pub fn lookup(&self, set: &LogSet, pid: u32, module: &str, time: NaiveDateTime) -> Option<BlockId> {
        let entries = self.by_pid.get(&pid)?;
        let same_program = |e: &&Entry| {
            module.is_empty()
                || self
                    .block(set, e.block)
                    .is_none_or(|b| b.process.is_empty() || b.process.eq_ignore_ascii_case(module))
        };
        let split = entries.partition_point(|e| e.time <= time);
        entries[..split]
            .iter()
            .rev()
            .find(same_program)
            .or_else(|| entries[split..].iter().take_while(|e| e.time - time <= AFTER_WINDOW).find(same_program))
            .map(|e| e.block)
    }

    pub fn lookup_event(&self, set: &LogSet, e: &PortEvent) -> Option<BlockId> {
        self.lookup(set, e.pid()?, set.ports.module(e), e.time)
    }

    /// The block of every row of the set's PORTS log ([`NO_BLOCK`] where none), computed
    /// once so that criteria on module paths cost a table look-up per row.
    pub fn row_blocks(&self, set: &LogSet) -> Vec<BlockId> {
        set.ports.events.par_iter().map(|e| self.lookup_event(set, e).unwrap_or(NO_BLOCK)).collect()
    }
}
