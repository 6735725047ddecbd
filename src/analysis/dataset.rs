//! A loaded log set with what every view needs precomputed once: the PIDS index and each
//! row's block. Built off the UI thread; shared read-only (in an `Arc`) afterwards.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::NaiveDateTime;
use rustc_hash::FxHashSet;

use crate::analysis::index::{AFTER_WINDOW, BlockId, BlockRef, NO_BLOCK, PidKey, PidsIndex};
use crate::error::LogError;
use crate::logs::follow::FollowBatch;
use crate::logs::ports::{LoadProgress, PortsLog, PortsSource};
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
    /// Reads and indexes `paths`; `Err(Cancelled)` when `progress` is cancelled meanwhile,
    /// the index build included.
    pub fn open(paths: &[PathBuf], progress: &LoadProgress) -> Result<Dataset, LogError> {
        let set = set::open(paths, progress)?;
        let index = PidsIndex::build(&set);
        if progress.cancelled() {
            return Err(LogError::Cancelled);
        }
        let row_blocks = index.row_blocks(&set);
        if progress.cancelled() {
            return Err(LogError::Cancelled);
        }
        Ok(Dataset::with_index(paths.to_vec(), set, index, row_blocks))
    }

    pub fn from_set(paths: Vec<PathBuf>, set: LogSet) -> Dataset {
        let index = PidsIndex::build(&set);
        let row_blocks = index.row_blocks(&set);
        Dataset::with_index(paths, set, index, row_blocks)
    }

    fn with_index(paths: Vec<PathBuf>, set: LogSet, index: PidsIndex, row_blocks: Vec<BlockId>) -> Dataset {
        let recent_from = set.ports.events.len();
        Dataset { paths, set, index, row_blocks, recent_from }
    }

    /// Adds what a poll of a followed folder found: PIDS and INITIAL blocks are indexed first,
    /// then rows appended (in file order) with their names and addresses taken into this
    /// set's tables, and their blocks looked up. Recent rows of the PIDs that got new blocks
    /// are looked up again: a block is written just after its rows and may arrive a poll later.
    /// A batch that would bring the set past 65,535 files of one kind (rows and blocks name
    /// their file in 16 bits) is refused whole, leaving the set as it was.
    pub fn append(&mut self, batch: FollowBatch) -> Result<Appended, LogError> {
        self.check_file_room(&batch)?;
        // Every file of the batch, rows or blocks, is assigned its computer before either is
        // indexed.
        let computers = self.set.ports.computers.absorb(&batch.ports.computers);
        let added = self.append_blocks(batch.pids, batch.initials)?;
        let keys: FxHashSet<PidKey> = self.index.extend(&self.set, &added).into_iter().collect();
        let first = self.set.ports.events.len();
        append_ports(&mut self.set.ports, batch.ports, &computers)?;
        let set = &self.set;
        let index = &self.index;
        let new_blocks: Vec<BlockId> =
            set.ports.events[first..].iter().map(|e| index.lookup_event(set, e).unwrap_or(NO_BLOCK)).collect();
        let mut relinked = Vec::new();
        if !keys.is_empty() {
            for row in self.recent_from..first {
                let e = &set.ports.events[row];
                if e.pid().is_some_and(|pid| keys.contains(&PidKey { computer: set.ports.computer_id(e), pid })) {
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
        Ok(Appended { rows: first..self.set.ports.events.len(), relinked, blocks: added.len() })
    }

    /// Refuses a batch whose new files would not fit in 16-bit file indexes.
    fn check_file_room(&self, batch: &FollowBatch) -> Result<(), LogError> {
        let set = &self.set;
        let mut new_pids: Vec<&Arc<Path>> = Vec::new();
        for p in &batch.pids {
            if !set.pids.iter().any(|o| o.path == p.path) && !new_pids.contains(&&p.path) {
                new_pids.push(&p.path);
            }
        }
        let mut new_ports: Vec<&Arc<Path>> = Vec::new();
        for s in &batch.ports.sources {
            if !set.ports.sources.iter().any(|o| o.path == s.path) && !new_ports.contains(&&s.path) {
                new_ports.push(&s.path);
            }
        }
        let first_new = |new: &[&Arc<Path>]| new.first().map(|p| p.to_path_buf()).unwrap_or_default();
        file_index(set.pids.len() + new_pids.len(), || first_new(&new_pids))?;
        file_index(set.ports.sources.len() + new_ports.len(), || first_new(&new_ports))?;
        let initial = batch.initials.first().map(|l| l.path.to_path_buf()).unwrap_or_default();
        file_index(set.initials.len() + batch.initials.len(), || initial)?;
        Ok(())
    }

    /// Adds new PIDS and INITIAL blocks to their logs (by path); returns where they went.
    fn append_blocks(
        &mut self,
        pids: Vec<crate::logs::pids::PidsLog>,
        initials: Vec<crate::logs::initial::InitialLog>,
    ) -> Result<Vec<BlockRef>, LogError> {
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
            let source = file_index(file + 1, || piece.path.to_path_buf())?;
            for mut block in piece.blocks {
                block.source = source;
                added.push(BlockRef::Pids { file: source, block: log.blocks.len() as u32 });
                log.blocks.push(block);
            }
        }
        for mut log in initials {
            let file = file_index(self.set.initials.len() + 1, || log.path.to_path_buf())?;
            for (i, block) in log.blocks.iter_mut().enumerate() {
                block.source = file;
                added.push(BlockRef::Initial { file, block: i as u32 });
            }
            self.set.initials.push(log);
        }
        Ok(added)
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

/// The 16-bit index of the last of `files` files of one kind, or an error naming the file
/// (`path`) that would not fit.
fn file_index(files: usize, path: impl FnOnce() -> PathBuf) -> Result<u16, LogError> {
    u16::try_from(files.saturating_sub(1))
        .map_err(|_| LogError::NotALog { path: path(), reason: "more than 65,535 logs of one kind".into() })
}

/// Appends a batch's rows to a log, taking their names, addresses and files into the log's
/// tables; `computers` maps the batch's computer ids to the log's.
fn append_ports(log: &mut PortsLog, batch: PortsLog, computers: &[Symbol]) -> Result<(), LogError> {
    let map = |from: &crate::intern::Interner, to: &mut crate::intern::Interner| -> Vec<Symbol> {
        from.iter().map(|(s, text)| if s.is_empty() { Symbol::EMPTY } else { to.intern(text) }).collect()
    };
    let modules = map(&batch.modules, &mut log.modules);
    let users = map(&batch.users, &mut log.users);
    let addrs: Vec<_> = batch.addrs.iter().map(|(_, a)| log.addrs.intern(a)).collect();
    let sources = batch
        .sources
        .iter()
        .map(|s| match log.sources.iter().position(|o| o.path == s.path) {
            Some(i) => {
                log.sources[i].rows += s.rows;
                log.sources[i].malformed += s.malformed;
                file_index(i + 1, || s.path.to_path_buf())
            }
            None => {
                let computer = computers.get(s.computer.0 as usize).copied().unwrap_or(Symbol::EMPTY);
                log.sources.push(PortsSource { computer, ..s.clone() });
                file_index(log.sources.len(), || s.path.to_path_buf())
            }
        })
        .collect::<Result<Vec<u16>, LogError>>()?;
    log.events.extend(batch.events.iter().map(|e| {
        let mut e = *e;
        e.module = modules[e.module.0 as usize];
        e.user = users[e.user.0 as usize];
        e.local_ip = addrs[e.local_ip.0 as usize];
        e.remote_ip = addrs[e.remote_ip.0 as usize];
        e.source = sources.get(e.source as usize).copied().unwrap_or(e.source);
        e
    }));
    log.malformed.append(batch.malformed);
    Ok(())
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

    fn computers(d: &Dataset) -> Vec<String> {
        d.set.ports.events.iter().map(|e| d.set.ports.computer(e).to_string()).collect()
    }

    /// A followed folder's rows and blocks are given the computer its PR-INITIAL names, also
    /// after a rotation to a set without one, as opening the folder gives them; each row is
    /// linked to its block through that computer.
    #[test]
    fn followed_rows_know_their_computer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let header = crate::logs::pids::LogHeader {
            computer_name: Some("LIVE-PC".into()),
            system_date: crate::model::make_datetime(26, 1, 2, 9, 0, 0),
            ..Default::default()
        };
        let initial = crate::logs::initial::InitialLog { header: header.clone(), ..initial_file() };
        let mut text = Vec::new();
        crate::logs::initial::write_initial(&mut text, &initial).expect("write");
        std::fs::write(dir.path().join("PR-INITIAL-26-01-02-10-0-0.log"), text).expect("write");
        let mut live = Dataset::from_set(vec![dir.path().to_path_buf()], LogSet::default());
        let mut follower = Follower::new(dir.path(), Start::Oldest);
        for (ports, pids, second) in
            [(PORTS, PIDS, 1), ("PR-PORTS-26-01-03-0-0-0.log", "PR-PIDS-26-01-03-0-0-0.log", 2)]
        {
            let (ports, pids) = (dir.path().join(ports), dir.path().join(pids));
            let mut head = Vec::new();
            let partner = pids.file_name().and_then(|n| n.to_str()).expect("a name");
            crate::logs::ports::write_header(&mut head, "2.0", partner).expect("header");
            append(
                &ports,
                &format!("{}{}", std::str::from_utf8(&head).expect("ascii"), row(second, 7, "a.exe", "192.0.2.1")),
            );
            let mut head = Vec::new();
            crate::logs::pids::write_header(&mut head, &header).expect("header");
            append(
                &pids,
                &format!("{}{}", std::str::from_utf8(&head).expect("ascii"), entry(second, 7, "a.exe", "x.dll")),
            );
            // The newest PIDS entry is taken once the file has stood still: date it back.
            let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
            std::fs::File::options().append(true).open(&pids).expect("open").set_modified(hour_ago).expect("mtime");
            live.append(follower.poll()).expect("append");
        }
        assert_eq!(computers(&live), vec!["LIVE-PC"; 2]);
        let opened = Dataset::open(&[dir.path().to_path_buf()], &LoadProgress::default()).expect("open");
        assert_eq!(computers(&opened), computers(&live));
        assert_eq!(rows(&live), rows(&opened));
        let blocks: Vec<_> =
            (0..2).map(|i| live.block_of_row(i).and_then(|(id, _)| live.index.block_ref(id))).collect();
        assert_eq!(
            blocks,
            vec![Some(BlockRef::Pids { file: 0, block: 0 }), Some(BlockRef::Pids { file: 1, block: 0 })]
        );
        let files: Vec<_> = live
            .set
            .pids
            .iter()
            .map(|p| live.set.ports.computers.name(live.set.ports.computers.of_file(&p.path)))
            .collect();
        assert_eq!(files, vec!["LIVE-PC"; 2]);
    }

    fn ports_file(name: String, rows: u64) -> crate::logs::ports::PortsSource {
        crate::logs::ports::PortsSource {
            path: Arc::from(Path::new(&name)),
            version: None,
            encoding: crate::logs::text::Encoding::Utf8OrAnsi,
            partner: None,
            rows,
            malformed: 0,
            computer: Symbol::EMPTY,
        }
    }

    fn initial_file() -> crate::logs::initial::InitialLog {
        crate::logs::initial::InitialLog {
            path: Arc::from(Path::new("PR-INITIAL-new.log")),
            header: Default::default(),
            mappings_found: None,
            mappings: Vec::new(),
            mappings_available: true,
            blocks: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// Rows and blocks name their file in 16 bits (files 0 to 65,535): a batch that would bring
    /// a 65,537th file of one kind is refused whole (as opening such a set is), not wrapped round to file 0.
    #[test]
    fn a_batch_past_65535_files_is_refused_and_changes_nothing() {
        let mut set = LogSet::default();
        set.ports.sources = (0..65_536).map(|i| ports_file(format!("PR-PORTS-{i}.log"), 0)).collect();
        let mut data = Dataset::from_set(Vec::new(), set);

        // More rows of a file already in the set still fit.
        let mut known = FollowBatch::default();
        known.ports.sources.push(ports_file("PR-PORTS-65535.log".into(), 3));
        assert_eq!(data.append(known).expect("a known file").rows, 0..0);
        assert_eq!(data.set.ports.sources[65_535].rows, 3);

        let mut new = FollowBatch::default();
        new.ports.sources.push(ports_file("PR-PORTS-new.log".into(), 1));
        new.initials.push(initial_file());
        let err = data.append(new).expect_err("a 65,537th PORTS file");
        assert_eq!(err.to_string(), "PR-PORTS-new.log: more than 65,535 logs of one kind");
        assert_eq!((data.set.ports.sources.len(), data.set.initials.len()), (65_536, 0));

        let initials =
            FollowBatch { initials: (0..65_537).map(|_| initial_file()).collect(), ..FollowBatch::default() };
        assert!(data.append(initials).is_err(), "a 65,537th INITIAL file");
        assert_eq!(data.set.initials.len(), 0);
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
        // The newest PIDS entry is taken once the file has stood still: date it back.
        let quiet = |path: &Path| {
            let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
            std::fs::File::options().append(true).open(path).expect("open").set_modified(hour_ago).expect("mtime");
        };
        quiet(&pids);
        let first = live.append(follower.poll()).expect("append");
        assert_eq!(first, Appended { rows: 0..2, relinked: vec![], blocks: 2 });

        // Rows whose block is written after the poll that brought them get it later.
        append(&ports, &format!("{}{}", row(3, 9, "c.exe", "192.0.2.1"), row(4, 7, "a.exe", "198.51.100.9")));
        let second = live.append(follower.poll()).expect("append");
        assert_eq!(second, Appended { rows: 2..4, relinked: vec![], blocks: 0 });
        assert_eq!(live.block_of_row(2).map(|(_, b)| b.pid), None);
        append(&pids, &entry(3, 9, "c.exe", "evil.dll"));
        quiet(&pids);
        let third = live.append(follower.poll()).expect("append");
        assert_eq!(third, Appended { rows: 4..4, relinked: vec![2], blocks: 1 });

        let opened = Dataset::open(&[dir.path().to_path_buf()], &LoadProgress::default()).expect("open");
        assert_eq!(rows(&live), rows(&opened));
        assert_eq!(rows(&live)[2], (9, "c.exe".into(), "192.0.2.1".into(), Some((9, 24))));
        // No PR-INITIAL: the rows are the folder's computer's.
        let folder = std::fs::canonicalize(dir.path()).expect("canonical");
        let folder = folder.file_name().expect("a name").to_string_lossy().into_owned();
        assert_eq!(computers(&live), vec![folder; 4]);
        assert_eq!(computers(&live), computers(&opened));

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
                    effect: Default::default(),
                },
                Criterion {
                    name: "net".into(),
                    field: Field::Ip,
                    kind: MatchKind::Cidr,
                    pattern: "192.0.2.0/24".into(),
                    enabled: true,
                    message: String::new(),
                    effect: Default::default(),
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
