//! Opening what a person points at — a PORTS log, a PIDS or INITIAL log, or a folder — as
//! one set: the PORTS files of a rotation chain as one time-ordered log, with the PIDS and
//! INITIAL partners found beside them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::LogError;
use crate::logs::computers::{ComputerNames, ComputerTable};
use crate::logs::header::{self, LogKind};
use crate::logs::initial::{self, InitialLog};
use crate::logs::pids::{self, PidsLog};
use crate::logs::ports::{self, LoadProgress, PortsLog, PortsOwner, RowBlock};
use crate::logs::text::{self, LineIssue};
use crate::model::ModuleDetail;

/// Sub-folders deeper than this are not searched: a folder of collected logs is shallow, and
/// a bound keeps a mistaken `/` from walking the whole disk.
const MAX_FOLDER_DEPTH: usize = 4;

/// Everything loaded from the paths a person opened.
#[derive(Debug, Default)]
pub struct LogSet {
    pub ports: PortsLog,
    pub pids: Vec<PidsLog>,
    pub initials: Vec<InitialLog>,
    /// Problems with the set as a whole: missing partners, refused partner names.
    pub problems: Vec<LineIssue>,
}

impl LogSet {
    /// Problems of the PIDS and INITIAL logs and of the set, in file order.
    pub fn warnings(&self) -> impl Iterator<Item = &LineIssue> {
        self.problems
            .iter()
            .chain(self.pids.iter().flat_map(|p| p.warnings.iter()))
            .chain(self.initials.iter().flat_map(|i| i.warnings.iter()))
    }
}

/// The files to read, by kind, in stamp order, and the computer of each.
#[derive(Debug, Default, Clone)]
pub struct Plan {
    pub ports: Vec<PathBuf>,
    pub pids: Vec<PathBuf>,
    pub initials: Vec<PathBuf>,
    pub problems: Vec<(PathBuf, String)>,
    /// Every file's computer (see [`crate::logs::computers`]).
    pub computers: ComputerTable,
}

impl Plan {
    /// Keeps only the files of the computers named (without regard to case), for a report
    /// on some machines of a fleet. A name no file has is an error naming the computers
    /// there are.
    pub fn restrict_to(&mut self, names: &[String]) -> Result<(), LogError> {
        if names.is_empty() {
            return Ok(());
        }
        let mut wanted = Vec::new();
        for name in names {
            match self.computers.lookup(name).filter(|id| !id.is_empty()) {
                Some(id) => wanted.push(id),
                None => {
                    let known: Vec<&str> = self.computers.iter().skip(1).map(|(_, n)| n).collect();
                    return Err(LogError::NoSuchComputer { name: name.clone(), known: known.join(", ") });
                }
            }
        }
        let computers = &self.computers;
        let keep = |p: &PathBuf| wanted.contains(&computers.of_file(p));
        self.ports.retain(keep);
        self.pids.retain(keep);
        self.initials.retain(keep);
        self.problems.retain(|(p, _)| keep(p));
        let mut kept = ComputerTable::default();
        for path in self.ports.iter().chain(&self.pids).chain(&self.initials) {
            kept.assign(path, self.computers.name(self.computers.of_file(path)));
        }
        self.computers = kept;
        Ok(())
    }
}

/// Decides which files to read for the given paths, without reading any rows.
pub fn plan(paths: &[PathBuf]) -> Result<Plan, LogError> {
    let mut files: Vec<(PathBuf, LogKind)> = Vec::new();
    let mut explicit_ports = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| LogError::io(path, e))?;
        if meta.is_dir() {
            let found = walk(path, 0);
            if found.is_empty() {
                return Err(LogError::NotALog {
                    path: path.clone(),
                    reason: "no PR-PORTS, PR-PIDS or PR-INITIAL logs in this folder".into(),
                });
            }
            files.extend(found);
        } else {
            let kind = kind_of(path)?;
            if kind == LogKind::Ports {
                explicit_ports.push(path.clone());
            }
            files.push((path.clone(), kind));
        }
    }
    let mut plan = Plan::default();
    for port_file in &explicit_ports {
        let partners = header::find_partners(port_file, partner_named_in(port_file));
        files.extend(partners.pids.map(|p| (p, LogKind::Pids)));
        files.extend(partners.initial.map(|p| (p, LogKind::Initial)));
        plan.problems.extend(partners.problems.into_iter().map(|p| (port_file.clone(), p)));
    }
    let mut seen = BTreeSet::new();
    for (path, kind) in files {
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        if !seen.insert(key) {
            continue;
        }
        match kind {
            LogKind::Ports => plan.ports.push(path),
            LogKind::Pids => plan.pids.push(path),
            LogKind::Initial => plan.initials.push(path),
        }
    }
    for list in [&mut plan.ports, &mut plan.pids, &mut plan.initials] {
        list.sort_by_key(|p| (stamp_of(p), p.clone()));
    }
    let mut names = ComputerNames::default();
    for (list, kind) in [(&plan.ports, LogKind::Ports), (&plan.pids, LogKind::Pids), (&plan.initials, LogKind::Initial)]
    {
        for path in list {
            plan.computers.assign(path, &names.of_file(path, kind));
        }
    }
    Ok(plan)
}

/// Reads everything a plan names. PORTS files are read one after another (each on all
/// cores); PIDS and INITIAL files in parallel.
pub fn load(plan: &Plan, progress: &LoadProgress) -> Result<LogSet, LogError> {
    set_total(plan, progress);
    // Process logs are read while the PORTS log is: PORTS parsing leaves gaps (reads, merges)
    // that the second core fills.
    let (ports, process_logs) = rayon::join(
        || -> Result<PortsLog, LogError> {
            let mut log = PortsLog { computers: plan.computers.clone(), ..PortsLog::default() };
            for path in &plan.ports {
                ports::read_into(&mut log, path, progress)?;
            }
            log.sort_by_time();
            Ok(log)
        },
        || read_process_logs(plan, progress, ModuleDetail::All),
    );
    let mut set = process_logs?;
    set.ports = ports?;
    if progress.cancelled() {
        return Err(LogError::Cancelled);
    }
    Ok(set)
}

/// Plans and loads in one step.
pub fn open(paths: &[PathBuf], progress: &LoadProgress) -> Result<LogSet, LogError> {
    load(&plan(paths)?, progress)
}

impl PortsOwner for LogSet {
    fn ports_mut(&mut self) -> &mut PortsLog {
        &mut self.ports
    }
}

/// A log set opened for streaming (see [`stream_plan`]): its PIDS and INITIAL logs read
/// whole, its PORTS files still to stream.
#[derive(Debug)]
pub struct StreamingSet {
    /// The set: PIDS, INITIAL and problems from the start; the PORTS log's tables, files and
    /// malformed lines as streaming goes on (its row vector stays empty).
    pub set: LogSet,
    ports: Vec<PathBuf>,
}

/// Opens what a plan names as [`open`] does, but reads only the PIDS and INITIAL logs (PIDS
/// blocks keeping `detail` of their module lists), so that what joins rows to processes can
/// be built before any row is seen; the PORTS rows are then streamed by
/// [`StreamingSet::stream_ports`] without being kept.
pub fn stream_plan(plan: Plan, progress: &LoadProgress, detail: ModuleDetail) -> Result<StreamingSet, LogError> {
    set_total(&plan, progress);
    let set = read_process_logs(&plan, progress, detail)?;
    Ok(StreamingSet { set, ports: plan.ports })
}

impl StreamingSet {
    /// Streams the PORTS files, in stamp order, to `consume` (see [`ports::stream_file`]):
    /// rows in file order, not sorted by time across files as [`open`]'s are.
    pub fn stream_ports(
        &mut self,
        progress: &LoadProgress,
        consume: &mut impl FnMut(&LogSet, &RowBlock<'_>),
    ) -> Result<(), LogError> {
        for path in &self.ports {
            ports::stream_file(&mut self.set, path, progress, consume)?;
        }
        Ok(())
    }
}

/// Announces the plan's total size as the work to do.
fn set_total(plan: &Plan, progress: &LoadProgress) {
    let total: u64 = plan
        .ports
        .iter()
        .chain(&plan.pids)
        .chain(&plan.initials)
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    progress.bytes_total.store(total, std::sync::atomic::Ordering::Relaxed);
}

/// A set of the plan's PIDS and INITIAL logs and its problems, without PORTS rows.
fn read_process_logs(plan: &Plan, progress: &LoadProgress, detail: ModuleDetail) -> Result<LogSet, LogError> {
    let (pids, initials) = rayon::join(
        || read_all(&plan.pids, progress, |path, source| pids::read_pids_keeping(path, source, detail)),
        || read_all(&plan.initials, progress, initial::read_initial),
    );
    let problems = plan
        .problems
        .iter()
        .map(|(path, problem)| LineIssue::file_level(&text::shared_path(path), problem.clone()))
        .collect();
    let ports = PortsLog { computers: plan.computers.clone(), ..PortsLog::default() };
    Ok(LogSet { ports, pids: pids?, initials: initials?, problems })
}

/// Reads files of one kind in parallel, each with its index as its source number.
fn read_all<T: Send>(
    paths: &[PathBuf],
    progress: &LoadProgress,
    read: impl Fn(&Path, u16) -> Result<T, LogError> + Sync,
) -> Result<Vec<T>, LogError> {
    use std::sync::atomic::Ordering;
    paths
        .par_iter()
        .enumerate()
        .map(|(i, p)| {
            let log = read(p, source_index(i)?)?;
            progress.bytes_done.fetch_add(file_len(p), Ordering::Relaxed);
            Ok(log)
        })
        .collect()
}

fn source_index(i: usize) -> Result<u16, LogError> {
    u16::try_from(i)
        .map_err(|_| LogError::NotALog { path: PathBuf::new(), reason: "more than 65,535 logs of one kind".into() })
}

fn file_len(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn stamp_of(path: &Path) -> Option<chrono::NaiveDateTime> {
    path.file_name().and_then(|n| n.to_str()).and_then(header::parse_file_name).map(|(_, s)| s)
}

/// The kind of a file: from its name, else from its first lines. Text that is neither is
/// read as PORTS rows (a log excerpt without its header).
fn kind_of(path: &Path) -> Result<LogKind, LogError> {
    if let Some((kind, _)) = path.file_name().and_then(|n| n.to_str()).and_then(header::parse_file_name) {
        return Ok(kind);
    }
    let head = read_head(path)?;
    Ok(header::detect_kind(&head).unwrap_or(LogKind::Ports))
}

/// The first few KiB of a file as text, whatever its encoding.
fn read_head(path: &Path) -> Result<String, LogError> {
    use std::io::Read;
    let mut raw = Vec::with_capacity(4096);
    std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut raw)).map_err(|e| LogError::io(path, e))?;
    let (bytes, _) = text::decode(&raw);
    Ok(text::field_text(&bytes).into_owned())
}

/// The partner a PORTS file's header names, if the header can be read.
fn partner_named_in(path: &Path) -> Option<Result<String, String>> {
    let head = read_head(path).ok()?;
    head.lines().take(8).find_map(header::partner_from_header)
}

/// Logs in a folder and its sub-folders (no symlinks followed).
fn walk(folder: &Path, depth: usize) -> Vec<(PathBuf, LogKind)> {
    let mut found: Vec<(PathBuf, LogKind)> = header::list_logs(folder).into_iter().map(|(p, k, _)| (p, k)).collect();
    if depth < MAX_FOLDER_DEPTH
        && let Ok(entries) = std::fs::read_dir(folder)
    {
        let mut subs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect();
        subs.sort();
        for sub in subs {
            found.extend(walk(&sub, depth + 1));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    }

    #[test]
    fn a_ports_file_brings_its_partners() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = touch(
            dir.path(),
            "PR-PORTS-08-06-30-10-17-54.log",
            "Port Reporter Version 1.01 Log File - Port usage log\nCheck PR-PIDS-08-06-30-10-17-54.log for corresponding process data\n",
        );
        let pids = touch(dir.path(), "PR-PIDS-08-06-30-10-17-54.log", "");
        let initial = touch(dir.path(), "PR-INITIAL-08-06-30-10-17-54.log", "");
        touch(dir.path(), "PR-PIDS-08-06-29-10-17-54.log", "");
        let plan = plan(std::slice::from_ref(&ports)).expect("plan");
        assert_eq!(plan.ports, vec![ports]);
        assert_eq!(plan.pids, vec![pids]);
        assert_eq!(plan.initials, vec![initial]);
        assert!(plan.problems.is_empty());
    }

    #[test]
    fn a_folder_brings_everything_in_stamp_order_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("older");
        std::fs::create_dir(&sub).expect("mkdir");
        let b = touch(dir.path(), "PR-PORTS-08-07-01-0-0-0.log", "");
        let a = touch(&sub, "PR-PORTS-08-06-30-10-17-54.log", "");
        touch(dir.path(), "notes.txt", "");
        let plan = plan(&[dir.path().to_path_buf(), b.clone()]).expect("plan");
        assert_eq!(plan.ports, vec![a, b]);
    }

    #[test]
    fn unreadable_paths_are_errors_naming_the_path() {
        let err = plan(&[PathBuf::from("/nonexistent/PR-PORTS-1-1-1-1-1-1.log")]).expect_err("missing");
        assert!(err.to_string().contains("/nonexistent/PR-PORTS-1-1-1-1-1-1.log"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let err = plan(&[dir.path().to_path_buf()]).expect_err("empty folder");
        assert!(err.to_string().contains("no PR-PORTS"), "{err}");
    }

    #[test]
    fn kind_comes_from_content_when_the_name_says_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = touch(dir.path(), "copy.txt", "Port Reporter Version 1.0 Log File\nProcess detail log\n");
        assert_eq!(kind_of(&p).expect("kind"), LogKind::Pids);
        let p = touch(dir.path(), "rows.csv", "08/6/30,10:17:58,TCP,1,1.1.1.1,2,2.2.2.2,1,a,<u>\n");
        assert_eq!(kind_of(&p).expect("kind"), LogKind::Ports);
    }

    /// Streaming a set reads PIDS and INITIAL first, then hands out every PORTS row that
    /// opening the set gives (in file order, where opening sorts them by time), keeping none.
    #[test]
    fn a_streamed_set_gives_the_rows_of_the_opened_set() {
        let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let opened = open(std::slice::from_ref(&folder), &LoadProgress::default()).expect("open");
        let progress = LoadProgress::default();
        let plan = plan(std::slice::from_ref(&folder)).expect("a plan");
        let mut streaming = stream_plan(plan, &progress, ModuleDetail::All).expect("open for streaming");
        assert_eq!(
            (streaming.set.pids.len(), streaming.set.initials.len()),
            (opened.pids.len(), opened.initials.len())
        );
        let mut rows = Vec::new();
        streaming
            .stream_ports(&progress, &mut |set: &LogSet, block: &RowBlock<'_>| {
                assert!(!set.pids.is_empty(), "PIDS logs are read before any row");
                for e in block.rows {
                    rows.push((e.time, e.line, set.ports.source_path(e).cloned(), set.ports.module(e).to_string()));
                }
            })
            .expect("stream");
        let set = streaming.set;
        assert!(set.ports.events.is_empty());
        assert_eq!(set.pids, opened.pids);
        assert_eq!(set.initials, opened.initials);
        assert_eq!(set.problems, opened.problems);
        assert_eq!(set.ports.malformed, opened.ports.malformed);
        let files =
            |log: &PortsLog| log.sources.iter().map(|s| (s.path.clone(), s.rows, s.malformed)).collect::<Vec<_>>();
        assert_eq!(files(&set.ports), files(&opened.ports));
        rows.sort_by_key(|r| r.0);
        let want: Vec<_> = opened
            .ports
            .events
            .iter()
            .map(|e| (e.time, e.line, opened.ports.source_path(e).cloned(), opened.ports.module(e).to_string()))
            .collect();
        assert!(want.len() > 100, "{} rows", want.len());
        assert_eq!(rows, want);
        let done = progress.bytes_done.load(std::sync::atomic::Ordering::Relaxed);
        assert_eq!(done, progress.bytes_total.load(std::sync::atomic::Ordering::Relaxed));
    }
}
