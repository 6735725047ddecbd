//! Which process block belongs to a PORTS row.
//!
//! Port Reporter writes a PIDS block when a process starts new network activity, at the same
//! poll as the PORTS row, so the block that describes a row is the one of the same PID on the
//! same computer recorded closest to the row's time. The rule, in order:
//! 1. blocks of the row's computer and PID (a PID of one machine never matches a block of
//!    another) whose process name is the row's module (names compared as the logs can write
//!    them: without case, and with a line break or tab of a PORTS name, which PIDS and INITIAL
//!    logs write as a space, taken as that space; a PID reused by another program is not a
//!    match). Rows or blocks without a name match on PID alone;
//! 2. of those, the latest recorded at or before the row's time;
//! 3. else the earliest recorded after it, within [`AFTER_WINDOW`] (the block may be written
//!    a moment after the row).
//!
//! PIDS blocks are timed by their `recorded at` line (falling back to their log's `System
//! Date`); INITIAL blocks by their log's `System Date`, the service's start, so a process
//! already running at start is described from the first row on.
//!
//! Every row of a loaded log is linked once ([`PidsIndex::row_blocks`]), which at ten million
//! rows must cost little: names are compared as small integers there (each distinct module
//! name is matched to the blocks' names once), so a row costs a hash look-up and a binary
//! search in its PID's few blocks.

use chrono::{NaiveDateTime, TimeDelta};
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::logs::process_block::{name_key, same_name};
use crate::logs::set::LogSet;
use crate::model::{PortEvent, ProcessBlock, Symbol};

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

/// The name id of a block or row without a process name: it matches any.
const ANY_NAME: u32 = u32::MAX;

/// The name id of a row whose module no block has: it matches blocks without a name only.
const UNKNOWN_NAME: u32 = u32::MAX - 1;

/// Blocks are looked up by computer (an id of the set's [`crate::logs::computers`] table)
/// and PID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PidKey {
    pub computer: Symbol,
    pub pid: u32,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    time: NaiveDateTime,
    block: BlockId,
    /// The block's process name, an id into the index's names ([`ANY_NAME`] for none).
    name: u32,
}

/// Where `PidsIndex::build` puts a block among blocks of the same time.
fn build_order(r: BlockRef) -> (u8, u16, u32) {
    match r {
        BlockRef::Pids { file, block } => (0, file, block),
        BlockRef::Initial { file, block } => (1, file, block),
    }
}

/// Blocks of every PIDS and INITIAL log of a set, by computer, PID and time.
#[derive(Debug, Default)]
pub struct PidsIndex {
    blocks: Vec<(BlockRef, Option<NaiveDateTime>)>,
    by_pid: FxHashMap<PidKey, Vec<Entry>>,
    /// The blocks' process names as [`name_key`] gives them, by name id.
    names: Vec<Box<str>>,
    name_ids: FxHashMap<Box<str>, u32>,
}

impl PidsIndex {
    pub fn build(set: &LogSet) -> PidsIndex {
        let mut index = PidsIndex::default();
        for (f, log) in set.pids.iter().enumerate() {
            let computer = set.ports.computers.of_file(&log.path);
            for (b, block) in log.blocks.iter().enumerate() {
                let time = block.recorded_at.or(log.header.system_date);
                index.push(BlockRef::Pids { file: f as u16, block: b as u32 }, computer, block, time);
            }
        }
        for (f, log) in set.initials.iter().enumerate() {
            let computer = set.ports.computers.of_file(&log.path);
            for (b, block) in log.blocks.iter().enumerate() {
                let r = BlockRef::Initial { file: f as u16, block: b as u32 };
                index.push(r, computer, block, log.header.system_date);
            }
        }
        for entries in index.by_pid.values_mut() {
            entries.sort_by_key(|e| (e.time, e.block));
        }
        index
    }

    /// Indexes blocks added to the set's logs after the index was built (a followed log
    /// growing). Returns the computers and PIDs they describe. Blocks are usually later than
    /// all others, so each goes in at the end of its PID's list; an earlier one is placed by
    /// time.
    pub fn extend(&mut self, set: &LogSet, added: &[BlockRef]) -> Vec<PidKey> {
        let mut keys = Vec::new();
        for &r in added {
            let (block, time, path) = match r {
                BlockRef::Pids { file, block } => {
                    let Some(log) = set.pids.get(file as usize) else { continue };
                    let Some(b) = log.blocks.get(block as usize) else { continue };
                    (b, b.recorded_at.or(log.header.system_date), &log.path)
                }
                BlockRef::Initial { file, block } => {
                    let Some(log) = set.initials.get(file as usize) else { continue };
                    let Some(b) = log.blocks.get(block as usize) else { continue };
                    (b, log.header.system_date, &log.path)
                }
            };
            let key = PidKey { computer: set.ports.computers.of_file(path), pid: block.pid };
            let id = self.blocks.len() as BlockId;
            self.blocks.push((r, time));
            if let Some(time) = time {
                let name = self.name_id(&block.process);
                // Equal times are ordered as `build` orders them (by id there): PIDS logs
                // before INITIAL logs, each by file and block.
                let blocks = &self.blocks;
                let entries = self.by_pid.entry(key).or_default();
                let at = entries
                    .partition_point(|e| (e.time, build_order(blocks[e.block as usize].0)) <= (time, build_order(r)));
                entries.insert(at, Entry { time, block: id, name });
            }
            keys.push(key);
        }
        keys
    }

    fn push(&mut self, r: BlockRef, computer: Symbol, block: &ProcessBlock, time: Option<NaiveDateTime>) {
        let id = self.blocks.len() as BlockId;
        self.blocks.push((r, time));
        // A block with no time at all can still be shown from the detail view, but cannot be
        // placed on the time line.
        if let Some(time) = time {
            let name = self.name_id(&block.process);
            self.by_pid.entry(PidKey { computer, pid: block.pid }).or_default().push(Entry { time, block: id, name });
        }
    }

    /// The id of a block's process name, added if new.
    fn name_id(&mut self, process: &str) -> u32 {
        if process.is_empty() {
            return ANY_NAME;
        }
        let key = name_key(process);
        if let Some(&id) = self.name_ids.get(key.as_str()) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(key.clone().into_boxed_str());
        self.name_ids.insert(key.into_boxed_str(), id);
        id
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

    /// The block describing a row of `key`'s computer and PID whose module is `module` (see
    /// the module docs for the rule).
    pub fn lookup(&self, key: PidKey, module: &str, time: NaiveDateTime) -> Option<BlockId> {
        let entries = self.by_pid.get(&key)?;
        let names = &self.names;
        search(entries, time, |e| {
            module.is_empty() || e.name == ANY_NAME || names.get(e.name as usize).is_some_and(|n| same_name(n, module))
        })
    }

    pub fn lookup_event(&self, set: &LogSet, e: &PortEvent) -> Option<BlockId> {
        let key = PidKey { computer: set.ports.computer_id(e), pid: e.pid()? };
        self.lookup(key, set.ports.module(e), e.time)
    }

    /// The block of every row of the set's PORTS log ([`NO_BLOCK`] where none), computed
    /// once so that criteria on module paths cost a table look-up per row. The same answers
    /// as [`PidsIndex::lookup_event`] row by row, with each module name matched once.
    pub fn row_blocks(&self, set: &LogSet) -> Vec<BlockId> {
        let log = &set.ports;
        let computers: Vec<Symbol> = log.sources.iter().map(|s| s.computer).collect();
        let names: Vec<u32> = log
            .modules
            .iter()
            .map(|(_, m)| match m {
                "" => ANY_NAME,
                m => self.name_ids.get(name_key(m).as_str()).copied().unwrap_or(UNKNOWN_NAME),
            })
            .collect();
        log.events
            .par_iter()
            .map(|e| {
                let Some(pid) = e.pid() else { return NO_BLOCK };
                let computer = computers.get(e.source as usize).copied().unwrap_or(Symbol::EMPTY);
                let Some(entries) = self.by_pid.get(&PidKey { computer, pid }) else { return NO_BLOCK };
                let name = names.get(e.module.0 as usize).copied().unwrap_or(ANY_NAME);
                search(entries, e.time, |b| name == ANY_NAME || b.name == ANY_NAME || b.name == name)
                    .unwrap_or(NO_BLOCK)
            })
            .collect()
    }
}

/// Of one PID's entries (by time), the latest at or before `time` that `same` accepts, else
/// the earliest after it within [`AFTER_WINDOW`].
#[inline]
fn search(entries: &[Entry], time: NaiveDateTime, same: impl Fn(&Entry) -> bool) -> Option<BlockId> {
    let split = entries.partition_point(|e| e.time <= time);
    entries[..split]
        .iter()
        .rev()
        .find(|e| same(e))
        .or_else(|| entries[split..].iter().take_while(|e| e.time - time <= AFTER_WINDOW).find(|e| same(e)))
        .map(|e| e.block)
}

#[cfg(test)]
mod tests;
