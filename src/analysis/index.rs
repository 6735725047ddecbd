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

/// Where `PidsIndex::build` puts a block among blocks of the same time.
fn build_order(r: BlockRef) -> (u8, u16, u32) {
    match r {
        BlockRef::Pids { file, block } => (0, file, block),
        BlockRef::Initial { file, block } => (1, file, block),
    }
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

    /// Indexes blocks added to the set's logs after the index was built (a followed log
    /// growing). Returns the PIDs they describe. Blocks are usually later than all others, so
    /// each goes in at the end of its PID's list; an earlier one is placed by time.
    pub fn extend(&mut self, set: &LogSet, added: &[BlockRef]) -> Vec<u32> {
        let mut pids = Vec::new();
        for &r in added {
            let (block, time) = match r {
                BlockRef::Pids { file, block } => {
                    let Some(log) = set.pids.get(file as usize) else { continue };
                    let Some(b) = log.blocks.get(block as usize) else { continue };
                    (b, b.recorded_at.or(log.header.system_date))
                }
                BlockRef::Initial { file, block } => {
                    let Some(log) = set.initials.get(file as usize) else { continue };
                    let Some(b) = log.blocks.get(block as usize) else { continue };
                    (b, log.header.system_date)
                }
            };
            let id = self.blocks.len() as BlockId;
            self.blocks.push((r, time));
            if let Some(time) = time {
                // Equal times are ordered as `build` orders them (by id there): PIDS logs
                // before INITIAL logs, each by file and block.
                let blocks = &self.blocks;
                let entries = self.by_pid.entry(block.pid).or_default();
                let at = entries
                    .partition_point(|e| (e.time, build_order(blocks[e.block as usize].0)) <= (time, build_order(r)));
                entries.insert(at, Entry { time, block: id });
            }
            pids.push(block.pid);
        }
        pids
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::test_support::set_from;

    const PORTS: &str = "\
08/6/30,10:0:1,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:9:0,TCP,1448,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
";

    const PIDS: &str = "\
Port Reporter Version 1.01 Log File
Process detail log
======================================================
Log entry below recorded at: 08/6/30 10:0:0
======================================================
Process ID: 1900 (svchost.exe)
Process doesn't appear to be a service
======================================================
Log entry below recorded at: 08/6/30 10:8:0
======================================================
Process ID: 1900 (svchost.exe)
Process doesn't appear to be a service
";

    #[test]
    fn extending_gives_what_building_gives() {
        let set = set_from(PORTS, Some(PIDS));
        let built = PidsIndex::build(&set);
        let mut grown = PidsIndex::default();
        // In reverse, so the second one has to be placed before the first by time.
        let added = [BlockRef::Pids { file: 0, block: 1 }, BlockRef::Pids { file: 0, block: 0 }];
        assert_eq!(grown.extend(&set, &added), vec![1900, 1900]);
        let rows = |index: &PidsIndex| -> Vec<Option<BlockRef>> {
            index.row_blocks(&set).into_iter().map(|id| index.block_ref(id)).collect()
        };
        assert_eq!(rows(&grown), rows(&built));
        assert_eq!(
            rows(&grown),
            vec![Some(BlockRef::Pids { file: 0, block: 0 }), Some(BlockRef::Pids { file: 0, block: 1 })]
        );
    }
}
