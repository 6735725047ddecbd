//! A loaded log set with what every view needs precomputed once: the PIDS index and each
//! row's block. Built off the UI thread; shared read-only (in an `Arc`) afterwards.

use std::ops::Range;
use std::path::PathBuf;

use chrono::NaiveDateTime;
use rustc_hash::FxHashSet;

use crate::analysis::index::{AFTER_WINDOW, BlockId, BlockRef, NO_BLOCK, PidsIndex};
use crate::error::LogError;
use crate::logs::follow::FollowBatch;
use crate::logs::ports::{LoadProgress, MAX_KEPT_ISSUES, PortsLog};
use crate::logs::set::{self, LogSet};
use crate::model::{ProcessBlock, Symbol};

#[derive(Debug)]
pub struct Dataset {
    /// What was opened, as given.
    pub paths: Vec<PathBuf>,
    pub set: LogSet,
    pub index: PidsIndex,
    /// The PIDS block of each PORTS row (see [`PidsIndex::row_blocks`]).
    pub row_blocks: Vec<BlockId>,
    /// Rows appended live whose block may still change when a later poll brings the PIDS
    /// entry written with them: rows from here on, up to [`AFTER_WINDOW`] before the newest.
    recent_from: usize,
}

/// What [`Dataset::append`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// The new rows.
    pub rows: Range<usize>,
    /// Earlier rows whose block changed (their block arrived after them).
    pub relinked: Vec<u32>,
    /// New process blocks.
    pub blocks: usize,
}

impl Dataset {
    pub fn open(paths: &[PathBuf], progress: &LoadProgress) -> Result<Dataset, LogError> {
        let set = set::open(paths, progress)?;
        Ok(Dataset::from_set(paths.to_vec(), set))
    }

    pub fn from_set(paths: Vec<PathBuf>, set: LogSet) -> Dataset {
        let index = PidsIndex::build(&set);
        let row_blocks = index.row_blocks(&set);
        let recent_from = set.ports.events.len();
        Dataset { paths, set, index, row_blocks, recent_from }
    }

    /// Adds what a poll of a followed folder found: PIDS and INITIAL blocks are indexed first,
    /// then rows appended (in file order) with their names and addresses taken into this
    /// set's tables, and their blocks looked up. Recent rows of the PIDs that got new blocks
    /// are looked up again: a block is written just after its rows and may arrive a poll later.
    pub fn append(&mut self, batch: FollowBatch) -> Appended {
        let added = self.append_blocks(batch.pids, batch.initials);
        let pids: FxHashSet<u32> = self.index.extend(&self.set, &added).into_iter().collect();
        let first = self.set.ports.events.len();
        append_ports(&mut self.set.ports, batch.ports);
        let set = &self.set;
        let index = &self.index;
        let new_blocks: Vec<BlockId> =
            set.ports.events[first..].iter().map(|e| index.lookup_event(set, e).unwrap_or(NO_BLOCK)).collect();
        let mut relinked = Vec::new();
        if !pids.is_empty() {
            for row in self.recent_from..first {
                let e = &set.ports.events[row];
                if e.pid().is_some_and(|p| pids.contains(&p)) {
                    let block = index.lookup_event(set, e).unwrap_or(NO_BLOCK);
                    if self.row_blocks[row] != block {
                        self.row_blocks[row] = block;
                        relinked.push(row as u32);
                    }
                }
            }
        }
        self.row_blocks.extend(new_blocks);
        self.forget_old_rows();
        Appended { rows: first..self.set.ports.events.len(), relinked, blocks: added.len() }
    }

    /// Adds new PIDS and INITIAL blocks to their logs (by path); returns where they went.
    fn append_blocks(
        &mut self,
        pids: Vec<crate::logs::pids::PidsLog>,
        initials: Vec<crate::logs::initial::InitialLog>,
    ) -> Vec<BlockRef> {
        let mut added = Vec::new();
        for mut piece in pids {
            let file = match self.set.pids.iter().position(|p| p.path == piece.path) {
                Some(i) => i,
                None => {
                    let mut log = piece.clone();
                    log.blocks.clear();
                    log.warnings.clear();
                    self.set.pids.push(log);
                    self.set.pids.len() - 1
                }
            };
            let log = &mut self.set.pids[file];
            if log.header == Default::default() {
                log.header = piece.header.clone();
            }
            log.mappings_available &= piece.mappings_available;
            log.warnings.append(&mut piece.warnings);
            for mut block in piece.blocks {
                block.source = file as u16;
                added.push(BlockRef::Pids { file: file as u16, block: log.blocks.len() as u32 });
                log.blocks.push(block);
            }
        }
        for mut log in initials {
            let file = self.set.initials.len() as u16;
            for (i, block) in log.blocks.iter_mut().enumerate() {
                block.source = file;
                added.push(BlockRef::Initial { file, block: i as u32 });
            }
            self.set.initials.push(log);
        }
        added
    }

    /// Moves `recent_from` past rows more than [`AFTER_WINDOW`] older than the newest row:
    /// no block arriving now can be theirs.
    fn forget_old_rows(&mut self) {
        let events = &self.set.ports.events;
        let Some(newest) = events[self.recent_from.min(events.len())..].iter().map(|e| e.time).max() else {
            return;
        };
        let horizon: NaiveDateTime = newest - AFTER_WINDOW;
        while self.recent_from < events.len() && events[self.recent_from].time < horizon {
            self.recent_from += 1;
        }
    }

    /// The block describing a row, with its id.
    pub fn block_of_row(&self, row: usize) -> Option<(BlockId, &ProcessBlock)> {
        let id = *self.row_blocks.get(row)?;
        self.index.block(&self.set, id).map(|b| (id, b))
    }
}

/// Appends a batch's rows to a log, taking their names, addresses and files into the log's
/// tables.
fn append_ports(log: &mut PortsLog, batch: PortsLog) {
    let map = |from: &crate::intern::Interner, to: &mut crate::intern::Interner| -> Vec<Symbol> {
        from.iter().map(|(s, text)| if s.is_empty() { Symbol::EMPTY } else { to.intern(text) }).collect()
    };
    let modules = map(&batch.modules, &mut log.modules);
    let users = map(&batch.users, &mut log.users);
    let addrs: Vec<_> = batch.addrs.iter().map(|(_, a)| log.addrs.intern(a)).collect();
    let sources: Vec<u16> = batch
        .sources
        .iter()
        .map(|s| match log.sources.iter().position(|o| o.path == s.path) {
            Some(i) => {
                log.sources[i].rows += s.rows;
                log.sources[i].malformed += s.malformed;
                i as u16
            }
            None => {
                log.sources.push(s.clone());
                (log.sources.len() - 1) as u16
            }
        })
        .collect();
    log.events.extend(batch.events.iter().map(|e| {
        let mut e = *e;
        e.module = modules[e.module.0 as usize];
        e.user = users[e.user.0 as usize];
        e.local_ip = addrs[e.local_ip.0 as usize];
        e.remote_ip = addrs[e.remote_ip.0 as usize];
        e.source = sources.get(e.source as usize).copied().unwrap_or(e.source);
        e
    }));
    let room = MAX_KEPT_ISSUES.saturating_sub(log.malformed.len());
    log.malformed.extend(batch.malformed.into_iter().take(room));
    log.malformed_count += batch.malformed_count;
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::path::Path;

    use super::*;
    use crate::analysis::criteria::{self, Context, CriteriaSet, Criterion, Field, MatchKind};
    use crate::analysis::dns::NoHostNames;
    use crate::logs::follow::{Follower, Start};

    const PORTS: &str = "PR-PORTS-26-01-02-10-0-0.log";
    const PIDS: &str = "PR-PIDS-26-01-02-10-0-0.log";

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("open for append");
        f.write_all(text.as_bytes()).expect("append");
    }

    fn row(second: u32, pid: u32, module: &str, remote: &str) -> String {
        format!("26/1/2,10:0:{second},TCP,{},10.0.0.1,443,{remote},{pid},{module},<host\\ann>\r\n", 1000 + second)
    }

    fn entry(second: u32, pid: u32, module: &str, dll: &str) -> String {
        format!(
            "======================================================\r\nLog entry below recorded at: 26/1/2 10:0:{second}\r\n======================================================\r\nProcess ID: {pid} ({module})\r\nUser context: host\\ann\r\nProcess doesn't appear to be a service\r\nLoaded modules:\r\nC:\\x\\{module} (0x00400000)\r\nC:\\x\\{dll} (0x10000000)\r\n"
        )
    }

    /// A row as (pid, module, remote IP, the PID and line of its block).
    type Row = (u32, String, String, Option<(u32, u32)>);

    fn rows(d: &Dataset) -> Vec<Row> {
        let log = &d.set.ports;
        (0..log.events.len())
            .map(|i| {
                let e = &log.events[i];
                let block = d.block_of_row(i).map(|(_, b)| (b.pid, b.line));
                (e.pid, log.module(e).to_string(), log.remote_ip(e).to_string(), block)
            })
            .collect()
    }

    #[test]
    fn appending_polls_gives_what_opening_the_folder_gives() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (ports, pids) = (dir.path().join(PORTS), dir.path().join(PIDS));
        let mut head = Vec::new();
        crate::logs::ports::write_header(&mut head, "2.0", PIDS).expect("header");
        append(&ports, std::str::from_utf8(&head).expect("ascii"));
        let mut head = Vec::new();
        crate::logs::pids::write_header(&mut head, &Default::default()).expect("header");
        append(&pids, std::str::from_utf8(&head).expect("ascii"));

        let mut live = Dataset::from_set(vec![dir.path().to_path_buf()], LogSet::default());
        let mut follower = Follower::new(dir.path(), Start::Oldest);
        append(&ports, &format!("{}{}", row(1, 7, "a.exe", "192.0.2.1"), row(2, 8, "b.exe", "192.0.2.2")));
        append(&pids, &format!("{}{}", entry(1, 7, "a.exe", "evil.dll"), entry(2, 8, "b.exe", "good.dll")));
        let first = live.append(follower.poll());
        assert_eq!(first, Appended { rows: 0..2, relinked: vec![], blocks: 2 });

        // Rows whose block is written after the poll that brought them get it later.
        append(&ports, &format!("{}{}", row(3, 9, "c.exe", "192.0.2.1"), row(4, 7, "a.exe", "198.51.100.9")));
        let second = live.append(follower.poll());
        assert_eq!(second, Appended { rows: 2..4, relinked: vec![], blocks: 0 });
        assert_eq!(live.block_of_row(2).map(|(_, b)| b.pid), None);
        append(&pids, &entry(3, 9, "c.exe", "evil.dll"));
        let third = live.append(follower.poll());
        assert_eq!(third, Appended { rows: 4..4, relinked: vec![2], blocks: 1 });

        let opened = Dataset::open(&[dir.path().to_path_buf()], &LoadProgress::default()).expect("open");
        assert_eq!(rows(&live), rows(&opened));
        assert_eq!(rows(&live)[2], (9, "c.exe".into(), "192.0.2.1".into(), Some((9, 24))));

        // Criteria over the new rows, joined, give what evaluating everything gives.
        let criteria = CriteriaSet {
            criteria: vec![
                Criterion {
                    name: "evil".into(),
                    field: Field::ModulePath,
                    kind: MatchKind::Wildcard,
                    pattern: "*evil.dll".into(),
                    enabled: true,
                    message: String::new(),
                },
                Criterion {
                    name: "net".into(),
                    field: Field::Ip,
                    kind: MatchKind::Cidr,
                    pattern: "192.0.2.0/24".into(),
                    enabled: true,
                    message: String::new(),
                },
            ],
        };
        let ctx = Context { set: &live.set, index: &live.index, row_blocks: &live.row_blocks, hosts: &NoHostNames };
        let compiled = std::sync::Arc::new(criteria::CompiledSet::new(&criteria));
        let mut joined = criteria::evaluate_rows(std::sync::Arc::clone(&compiled), &ctx, 0..1);
        joined.add(criteria::evaluate_rows(compiled, &ctx, 1..4));
        let whole = criteria::evaluate(&criteria, &ctx);
        assert_eq!(joined, whole);
        assert_eq!((whole.flagged, whole.per_criterion), (vec![true, true, true, true], vec![3, 3]));
    }
}
