//! Which computer each log came from, so that one dataset can hold many machines' logs.
//!
//! The rule: a file belongs to the computer named by the `Local computer name:` line of the
//! PR-INITIAL log of its set. A set started at midnight or because its files grew too large
//! has no PR-INITIAL of its own; it belongs to the computer of the latest PR-INITIAL at or
//! before its stamp in the same folder (the one its service started with). A file with no such
//! PR-INITIAL, or whose PR-INITIAL names no computer, belongs to the computer named like the
//! folder holding it: a case folder of machines' logs is usually one folder per machine.
//!
//! Computer names compare without regard to case, as Windows names do: `pc1` and `PC1` are
//! one computer, shown as first met. Rows do not hold their computer: each names its file, and
//! the file names the computer ([`ComputerTable`]), so rows stay as compact as they were.

use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use rustc_hash::FxHashMap;

use crate::logs::header::{self, LogKind};
use crate::logs::initial;
use crate::model::Symbol;

/// Bytes of a PR-INITIAL log read for its header: the computer name comes within the first
/// few lines.
const HEADER_BYTES: u64 = 16 * 1024;

/// The computers of a log set: their names by id, and which file belongs to which.
///
/// Id 0 ([`Symbol::EMPTY`]) is the unknown computer, named `""`: that of files the table was
/// never told about (logs read from memory). Ids only grow, so ids held by rows stay valid.
#[derive(Debug, Clone)]
pub struct ComputerTable {
    names: Vec<Box<str>>,
    /// By name in lower case.
    ids: FxHashMap<String, Symbol>,
    files: FxHashMap<PathBuf, Symbol>,
}

impl Default for ComputerTable {
    fn default() -> Self {
        ComputerTable { names: vec![Box::from("")], ids: FxHashMap::default(), files: FxHashMap::default() }
    }
}

impl ComputerTable {
    /// The id of a computer, added if new (names compared without regard to case).
    pub fn intern(&mut self, name: &str) -> Symbol {
        if name.is_empty() {
            return Symbol::EMPTY;
        }
        let key = name.to_lowercase();
        if let Some(&id) = self.ids.get(&key) {
            return id;
        }
        let id = Symbol(self.names.len() as u32);
        self.names.push(Box::from(name));
        self.ids.insert(key, id);
        id
    }

    /// Says that `file` belongs to computer `name`; returns the computer's id.
    pub fn assign(&mut self, file: &Path, name: &str) -> Symbol {
        let id = self.intern(name);
        self.files.insert(file.to_path_buf(), id);
        id
    }

    /// The computer of a file; [`Symbol::EMPTY`] for a file never assigned.
    pub fn of_file(&self, file: &Path) -> Symbol {
        self.files.get(file).copied().unwrap_or(Symbol::EMPTY)
    }

    /// The computer's name; `""` for the unknown computer and ids this table never issued.
    pub fn name(&self, id: Symbol) -> &str {
        self.names.get(id.0 as usize).map_or("", |n| n)
    }

    /// The id of a computer by name, without regard to case.
    pub fn lookup(&self, name: &str) -> Option<Symbol> {
        if name.is_empty() { Some(Symbol::EMPTY) } else { self.ids.get(&name.to_lowercase()).copied() }
    }

    /// Ids run from 0 (the unknown computer) to this.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// True when no computer is known.
    pub fn is_empty(&self) -> bool {
        self.names.len() <= 1
    }

    /// Every computer with its id, the unknown one (id 0) included.
    pub fn iter(&self) -> impl Iterator<Item = (Symbol, &str)> {
        self.names.iter().enumerate().map(|(i, n)| (Symbol(i as u32), &**n))
    }

    /// Every file with its computer.
    pub fn files(&self) -> impl Iterator<Item = (&Path, Symbol)> {
        self.files.iter().map(|(p, id)| (p.as_path(), *id))
    }

    /// Takes in the computers and files of `other`; returns the id here of each id there.
    pub fn absorb(&mut self, other: &ComputerTable) -> Vec<Symbol> {
        let ids: Vec<Symbol> = other.names.iter().map(|n| self.intern(n)).collect();
        for (file, id) in &other.files {
            self.files.insert(file.clone(), ids.get(id.0 as usize).copied().unwrap_or(Symbol::EMPTY));
        }
        ids
    }
}

/// Decides files' computers by the rule of the module docs, reading what it needs from disk
/// (a folder's listing, the first lines of its PR-INITIAL logs) once per folder and log.
#[derive(Debug, Default)]
pub struct ComputerNames {
    folders: FxHashMap<PathBuf, Folder>,
}

/// What a folder says about computers.
#[derive(Debug)]
struct Folder {
    /// The folder's own name, the last resort.
    name: String,
    /// Its PR-INITIAL logs by stamp, each with the computer its header names once read.
    initials: Vec<(NaiveDateTime, PathBuf, Option<Option<String>>)>,
}

impl ComputerNames {
    /// The computer of a log of `kind` at `path`.
    pub fn of_file(&mut self, path: &Path, kind: LogKind) -> String {
        let stamp = path.file_name().and_then(|n| n.to_str()).and_then(header::parse_file_name).map(|(_, s)| s);
        let folder_path = folder_of(path);
        let folder = self.folders.entry(folder_path.clone()).or_insert_with(|| Folder::read(&folder_path));
        let named = match stamp {
            Some(stamp) => folder.latest_initial(stamp),
            // A log whose name carries no stamp: an INITIAL log names its own computer.
            None if kind == LogKind::Initial => initial_computer(path),
            None => None,
        };
        named.unwrap_or_else(|| folder.name.clone())
    }

    /// Forgets what was read, so that logs written since are seen (a followed folder).
    pub fn forget(&mut self) {
        self.folders.clear();
    }
}

impl Folder {
    fn read(path: &Path) -> Folder {
        let initials = header::list_logs(path)
            .into_iter()
            .filter(|(_, kind, _)| *kind == LogKind::Initial)
            .map(|(p, _, stamp)| (stamp, p, None))
            .collect();
        Folder { name: folder_name(path), initials }
    }

    /// The computer named by the latest PR-INITIAL at or before `stamp`, if it names one.
    fn latest_initial(&mut self, stamp: NaiveDateTime) -> Option<String> {
        // `list_logs` orders by stamp.
        let at = self.initials.partition_point(|(s, _, _)| *s <= stamp).checked_sub(1)?;
        let (_, path, name) = &mut self.initials[at];
        name.get_or_insert_with(|| initial_computer(path)).clone()
    }
}

/// The folder holding a file (`.` for a bare file name).
fn folder_of(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
}

/// A folder's name as a person sees it: the last component of its full path.
fn folder_name(folder: &Path) -> String {
    let full = std::fs::canonicalize(folder).unwrap_or_else(|_| folder.to_path_buf());
    match full.file_name() {
        Some(name) => name.to_string_lossy().into_owned(),
        None => full.display().to_string(),
    }
}

/// The computer a PR-INITIAL log's header names, if it can be read and names one.
fn initial_computer(path: &Path) -> Option<String> {
    let file = std::fs::File::open(path).ok()?;
    let log = initial::read_initial_from(path, 0, file.take(HEADER_BYTES)).ok()?;
    log.header.computer_name.filter(|n| !n.trim().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).expect("write");
        p
    }

    fn initial(computer: &str) -> String {
        format!(
            "Port Reporter Version 1.01 Log File\r\nService initialization log\r\nSystem Date: Mon Jun 30 10:17:54 2008\r\nLocal computer name:\r\n{computer}\r\nOperating System: windows xp\r\n"
        )
    }

    #[test]
    fn names_compare_without_case_and_keep_the_first_spelling() {
        let mut t = ComputerTable::default();
        let a = t.assign(Path::new("a/PR-PORTS-1.log"), "PC1");
        assert_eq!(t.assign(Path::new("b/PR-PORTS-1.log"), "pc1"), a);
        let b = t.intern("WS2");
        assert_eq!((t.name(a), t.name(b), t.len()), ("PC1", "WS2", 3));
        assert_eq!(t.of_file(Path::new("b/PR-PORTS-1.log")), a);
        assert_eq!(t.of_file(Path::new("c/PR-PORTS-1.log")), Symbol::EMPTY);
        assert_eq!(t.lookup("ws2"), Some(b));
        assert_eq!(t.lookup("nope"), None);

        let mut other = ComputerTable::default();
        let c = other.assign(Path::new("c/x.log"), "NEW");
        let w = other.intern("ws2");
        let map = t.absorb(&other);
        assert_eq!((map[c.0 as usize], map[w.0 as usize]), (Symbol(3), b));
        assert_eq!(t.name(t.of_file(Path::new("c/x.log"))), "NEW");
    }

    /// A set's own PR-INITIAL names its computer; a set started at midnight takes the latest
    /// earlier one; a set before any, or whose PR-INITIAL names none, takes the folder's name.
    #[test]
    fn the_rule_initial_then_latest_earlier_then_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = dir.path().join("CASE-7");
        std::fs::create_dir(&folder).expect("mkdir");
        write(&folder, "PR-INITIAL-08-06-30-10-0-0.log", &initial("ALPHA"));
        write(&folder, "PR-INITIAL-08-07-02-9-0-0.log", &initial("BETA"));
        write(&folder, "PR-INITIAL-08-07-05-9-0-0.log", &initial(""));
        let mut names = ComputerNames::default();
        let mut of = |name: &str, kind| names.of_file(&folder.join(name), kind);
        assert_eq!(of("PR-PORTS-08-06-30-10-0-0.log", LogKind::Ports), "ALPHA");
        assert_eq!(of("PR-PIDS-08-07-01-0-0-0.log", LogKind::Pids), "ALPHA", "midnight set");
        assert_eq!(of("PR-PORTS-08-07-02-9-0-0.log", LogKind::Ports), "BETA");
        assert_eq!(of("PR-INITIAL-08-07-02-9-0-0.log", LogKind::Initial), "BETA");
        assert_eq!(of("PR-PORTS-08-07-04-0-0-0.log", LogKind::Ports), "BETA", "midnight set");
        assert_eq!(of("PR-PORTS-08-06-29-0-0-0.log", LogKind::Ports), "CASE-7", "before any INITIAL");
        assert_eq!(of("PR-PORTS-08-07-05-9-0-0.log", LogKind::Ports), "CASE-7", "INITIAL names none");
        assert_eq!(of("rows.csv", LogKind::Ports), "CASE-7", "no stamp");
        let copy = write(&folder, "copy.txt", &initial("GAMMA"));
        assert_eq!(names.of_file(&copy, LogKind::Initial), "GAMMA", "an INITIAL without a stamp");
    }
}
