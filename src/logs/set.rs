//! Opening what a person points at — a PORTS log, a PIDS or INITIAL log, or a folder — as
//! one set: the PORTS files of a rotation chain as one time-ordered log, with the PIDS and
//! INITIAL partners found beside them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::error::LogError;
use crate::logs::header::{self, LogKind};
use crate::logs::initial::{self, InitialLog};
use crate::logs::pids::{self, PidsLog};
use crate::logs::ports::{self, LoadProgress, PortsLog};
use crate::logs::text::{self, LineIssue};

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

/// The files to read, by kind, in stamp order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub ports: Vec<PathBuf>,
    pub pids: Vec<PathBuf>,
    pub initials: Vec<PathBuf>,
    pub problems: Vec<(PathBuf, String)>,
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
    Ok(plan)
}

/// Reads everything a plan names. PORTS files are read one after another (each on all
/// cores); PIDS and INITIAL files in parallel.
pub fn load(plan: &Plan, progress: &LoadProgress) -> Result<LogSet, LogError> {
    use std::sync::atomic::Ordering;
    let total: u64 = plan
        .ports
        .iter()
        .chain(&plan.pids)
        .chain(&plan.initials)
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    progress.bytes_total.store(total, Ordering::Relaxed);

    let mut set = LogSet::default();
    // Process logs are read while the PORTS log is: PORTS parsing leaves gaps (reads, merges)
    // that the second core fills.
    let (ports, (pids, initials)) = rayon::join(
        || -> Result<PortsLog, LogError> {
            let mut log = PortsLog::default();
            for path in &plan.ports {
                ports::read_into(&mut log, path, progress)?;
            }
            log.sort_by_time();
            Ok(log)
        },
        || {
            let pids = read_all(&plan.pids, progress, pids::read_pids);
            let initials = read_all(&plan.initials, progress, initial::read_initial);
            (pids, initials)
        },
    );
    set.ports = ports?;
    set.pids = pids?;
    set.initials = initials?;
    set.problems = plan
        .problems
        .iter()
        .map(|(path, problem)| LineIssue::file_level(&text::shared_path(path), problem.clone()))
        .collect();
    if progress.cancelled() {
        return Err(LogError::Cancelled);
    }
    Ok(set)
}

/// Plans and loads in one step.
pub fn open(paths: &[PathBuf], progress: &LoadProgress) -> Result<LogSet, LogError> {
    load(&plan(paths)?, progress)
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
}
