//! Following a log folder while a collector writes it: each [`Follower::poll`] returns the
//! rows and process blocks written since the last one, each exactly once.
//!
//! A writer appends lines and, at rotation, starts a new set of files with a later stamp in
//! the same folder (`PR-PORTS-<stamp>.log` and its `PR-PIDS-<stamp>.log`). The follower keeps
//! how far it has read the PORTS file and hands complete lines to the PORTS parser; a partial
//! last line waits for the next poll. Once it has read to the end of its file it lists the
//! folder: a newer PORTS file means the writer has finished the old one (the collector starts a
//! set only after the last one is written out), so the old file is read once more to its very
//! end, its last line taken even if unterminated (and reported as truncated, like any log
//! ending mid-row), and the follower moves on to the next file by stamp. Files in UTF-16 (with
//! a byte-order mark, or without one as the loader detects it) are followed like the others:
//! see [`cursor`].
//!
//! A PIDS entry is taken once the next entry has begun, once its set is finished, or once the
//! file has stood still for [`PIDS_QUIET`] (by its modification time) and ends on a line end.
//! Rows are never held back for their entry: the app links a row to an entry that arrives
//! after it.
//!
//! Only plain files directly in the folder are opened (as [`header::list_logs`] finds them,
//! symbolic links skipped, and opened with `O_NOFOLLOW`). A file that shrinks was truncated or
//! replaced: that is reported and it is read again from its start. A file that disappears is
//! reported once; what is already open is still read to its end.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use crate::logs::computers::ComputerNames;
use crate::logs::header::{self, LogKind};
use crate::logs::initial::{self, InitialLog};
use crate::logs::pids::{self, PidsLog};
use crate::logs::ports::{self, PortsLog, PortsSource};
use crate::logs::text;

mod cursor;

use cursor::Cursor;

/// Bytes of PORTS text read per poll at most: a folder holding large logs is read over
/// several polls ([`FollowBatch::more`]) rather than into memory at once, and each batch
/// (about 50,000 rows) stays quick to take into a dataset between two frames.
pub const MAX_POLL_BYTES: usize = 4 << 20;

/// How long a PIDS file must stand still before its last entry is taken as complete. The
/// collector writes each poll's entries in one go; a writer that pauses longer than this in
/// the middle of an entry gets it read as two.
pub const PIDS_QUIET: Duration = Duration::from_secs(2);

/// What a poll found.
#[derive(Debug, Default)]
pub struct FollowBatch {
    /// The new rows in file order, with their own name and address tables, and one source
    /// per file they come from (`rows` and `malformed` counting this batch only).
    pub ports: PortsLog,
    /// New process blocks, one entry per PIDS file (its header as far as read so far); block
    /// `source` fields are 0 and lines are the file's own.
    pub pids: Vec<PidsLog>,
    /// INITIAL logs of the sets started since the last poll, read whole.
    pub initials: Vec<InitialLog>,
    pub notes: Vec<FollowNote>,
    /// More text is waiting than one poll reads: poll again without waiting.
    pub more: bool,
}

impl FollowBatch {
    pub fn is_empty(&self) -> bool {
        self.ports.events.is_empty()
            && self.ports.malformed.count() == 0
            && self.pids.iter().all(|p| p.blocks.is_empty() && p.warnings.is_empty())
            && self.initials.is_empty()
            && self.notes.is_empty()
    }
}

/// Something about the files themselves, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowNote {
    Started(PathBuf),
    Rotated {
        from: PathBuf,
        to: PathBuf,
    },
    /// The file got shorter than what was read: it is read again from its start.
    Truncated(PathBuf),
    /// The file was deleted or renamed.
    Gone(PathBuf),
    Unreadable {
        path: PathBuf,
        reason: String,
    },
}

impl std::fmt::Display for FollowNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FollowNote::Started(p) => write!(f, "following {}", p.display()),
            FollowNote::Rotated { from, to } => {
                write!(f, "{} finished, now following {}", from.display(), to.display())
            }
            FollowNote::Truncated(p) => write!(f, "{} got shorter; reading it again from the start", p.display()),
            FollowNote::Gone(p) => write!(f, "{} was deleted or renamed", p.display()),
            FollowNote::Unreadable { path, reason } => write!(f, "cannot read {}: {reason}", path.display()),
        }
    }
}

/// Where to begin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Start {
    /// The oldest PORTS file of the folder: everything it holds, then what is written.
    Oldest,
    /// This PORTS file (in the folder), then newer ones.
    File(PathBuf),
}

/// Follows one folder; see the module docs.
#[derive(Debug)]
pub struct Follower {
    folder: PathBuf,
    start: Option<Start>,
    ports: Option<Cursor>,
    pids: Option<Cursor>,
    /// The stamp of a PIDS file not there yet (a writer creates a set's files one by one).
    pids_wanted: Option<NaiveDateTime>,
    /// The computer of the set being read, decided when it is started.
    computer: String,
    names: ComputerNames,
}

impl Follower {
    /// Follows `folder` from `start`. Nothing is opened before the first poll.
    pub fn new(folder: &Path, start: Start) -> Follower {
        Follower {
            folder: folder.to_path_buf(),
            start: Some(start),
            ports: None,
            pids: None,
            pids_wanted: None,
            computer: String::new(),
            names: ComputerNames::default(),
        }
    }

    /// Follows a PORTS file and, in its folder, the files that follow it.
    pub fn from_file(path: &Path) -> Follower {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        Follower::new(folder, Start::File(path.to_path_buf()))
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The PORTS file being read, once one is.
    pub fn current(&self) -> Option<&Path> {
        self.ports.as_ref().map(|c| &*c.path)
    }

    /// Reads what was written since the last poll (at most [`MAX_POLL_BYTES`] of PORTS text).
    pub fn poll(&mut self) -> FollowBatch {
        let mut batch = FollowBatch::default();
        let mut budget = MAX_POLL_BYTES;
        if self.ports.is_none() && !self.begin(&mut batch) {
            return batch;
        }
        while self.read_current(&mut batch, &mut budget, false) {
            // At the end of the file: has the writer moved on to a newer one?
            let Some(next) = self.next_ports() else {
                break;
            };
            if !self.read_current(&mut batch, &mut budget, true) {
                break;
            }
            self.poll_pids(&mut batch, true);
            let from = self.current().map(Path::to_path_buf).unwrap_or_default();
            if !self.switch_to(&next, &mut batch) {
                break;
            }
            batch.notes.push(FollowNote::Rotated { from, to: next });
        }
        self.poll_pids(&mut batch, false);
        batch
    }

    /// Reads the current PORTS file on; true when it was read to its end.
    fn read_current(&mut self, batch: &mut FollowBatch, budget: &mut usize, finish: bool) -> bool {
        let Some(cur) = self.ports.as_mut() else {
            return false;
        };
        match read_ports(cur, &self.computer, batch, budget, finish) {
            Ok(true) => true,
            Ok(false) => {
                batch.more = true;
                false
            }
            Err(e) => {
                batch.notes.push(unreadable(&cur.path, &e));
                false
            }
        }
    }

    /// Opens the first file; false when there is none yet.
    fn begin(&mut self, batch: &mut FollowBatch) -> bool {
        let first = match self.start.clone() {
            Some(Start::File(path)) => Some(path),
            Some(Start::Oldest) | None => self.ports_files().into_iter().next().map(|(p, _)| p),
        };
        let Some(first) = first else {
            return false;
        };
        if !self.switch_to(&first, batch) {
            return false;
        }
        self.start = None;
        batch.notes.push(FollowNote::Started(first));
        true
    }

    /// Starts reading a PORTS file, with the PIDS and INITIAL logs of its stamp.
    fn switch_to(&mut self, path: &Path, batch: &mut FollowBatch) -> bool {
        let cursor = match Cursor::open(path) {
            Ok(c) => c,
            Err(e) => {
                batch.notes.push(unreadable(path, &e));
                return false;
            }
        };
        let partners: Vec<(PathBuf, LogKind)> = match cursor.stamp {
            Some(stamp) => header::list_logs(&self.folder)
                .into_iter()
                .filter(|(_, k, s)| *s == stamp && *k != LogKind::Ports)
                .map(|(p, k, _)| (p, k))
                .collect(),
            None => Vec::new(),
        };
        self.pids_wanted = cursor.stamp;
        self.ports = Some(cursor);
        self.pids = None;
        // The folder may hold a PR-INITIAL written since the last set began.
        self.names.forget();
        self.computer = self.names.of_file(path, LogKind::Ports);
        for (p, kind) in partners {
            match kind {
                LogKind::Pids => self.open_pids(&p, batch),
                LogKind::Initial => match initial::read_initial(&p, 0) {
                    Ok(log) => {
                        batch.ports.computers.assign(&p, &self.computer);
                        batch.initials.push(log);
                    }
                    Err(e) => batch.notes.push(FollowNote::Unreadable { path: p, reason: e.to_string() }),
                },
                LogKind::Ports => {}
            }
        }
        true
    }

    fn open_pids(&mut self, path: &Path, batch: &mut FollowBatch) {
        self.pids_wanted = None;
        match Cursor::open(path) {
            Ok(cursor) => self.pids = Some(cursor),
            Err(e) => batch.notes.push(unreadable(path, &e)),
        }
    }

    /// PORTS files directly in the folder, by stamp.
    fn ports_files(&self) -> Vec<(PathBuf, NaiveDateTime)> {
        header::list_logs(&self.folder)
            .into_iter()
            .filter(|(_, k, _)| *k == LogKind::Ports)
            .map(|(p, _, s)| (p, s))
            .collect()
    }

    /// The PORTS file after the current one, by stamp (a file without a stamp has none).
    fn next_ports(&self) -> Option<PathBuf> {
        let stamp = self.ports.as_ref()?.stamp?;
        self.ports_files().into_iter().find(|(_, s)| *s > stamp).map(|(p, _)| p)
    }

    /// Takes the new complete entries of the current PIDS file; all of them when `finish`.
    fn poll_pids(&mut self, batch: &mut FollowBatch, finish: bool) {
        if let Some(stamp) = self.pids_wanted
            && let Some((path, _, _)) =
                header::list_logs(&self.folder).into_iter().find(|(_, k, s)| *k == LogKind::Pids && *s == stamp)
        {
            self.open_pids(&path, batch);
        }
        let Some(c) = self.pids.as_mut() else {
            return;
        };
        let result = c
            .check(&mut batch.notes)
            .and_then(|()| c.read(usize::MAX, finish))
            .and_then(|_| if finish { Ok(true) } else { c.stood_still(PIDS_QUIET) });
        let quiet = match result {
            Ok(quiet) => quiet,
            Err(e) => {
                batch.notes.push(unreadable(&c.path, &e));
                return;
            }
        };
        let text = &c.pending;
        let cut = if finish || (quiet && text.ends_with(b"\n")) { text.len() } else { last_entry_start(text) };
        if cut == 0 {
            return;
        }
        let mut log = pids::parse_pids(&c.path, 0, &text[..cut]);
        let first_piece = c.line == 1;
        let shift = c.line - 1;
        if !first_piece {
            // A piece of the file without its header: only line-level findings apply.
            log.warnings.retain(|w| w.line > 0);
        }
        for w in &mut log.warnings {
            w.line += shift;
        }
        for b in &mut log.blocks {
            b.line += shift;
        }
        c.line += memchr::memchr_iter(b'\n', &text[..cut]).count() as u32;
        c.pending.drain(..cut);
        batch.ports.computers.assign(&c.path, &self.computer);
        batch.pids.push(log);
    }
}

/// Reads new PORTS text into the batch; `finish` takes an unterminated last line too.
/// Returns false when the budget ran out before the end of the file.
/// Rows of a file seen for the first time in this batch are given to `computer`.
fn read_ports(
    c: &mut Cursor,
    computer: &str,
    batch: &mut FollowBatch,
    budget: &mut usize,
    finish: bool,
) -> io::Result<bool> {
    if *budget == 0 {
        return Ok(false);
    }
    c.check(&mut batch.notes)?;
    let read = c.read(*budget, finish)?;
    *budget -= read.bytes;
    let at_end = read.at_end;
    if c.pending.is_empty() {
        return Ok(at_end);
    }
    let log = &mut batch.ports;
    let source = match log.sources.iter().position(|s| s.path == c.path) {
        Some(i) => i,
        None => {
            let (version, partner) = if c.line == 1 { header_of(&c.pending) } else { (None, None) };
            log.sources.push(PortsSource {
                path: Arc::clone(&c.path),
                version,
                encoding: c.encoding().unwrap_or(text::Encoding::Utf8OrAnsi),
                partner,
                rows: 0,
                malformed: 0,
                computer: log.computers.assign(&c.path, computer),
            });
            log.sources.len() - 1
        }
    };
    let (rows_before, malformed_before) = (log.events.len(), log.malformed.count());
    let source_id = u16::try_from(source).unwrap_or(u16::MAX);
    let (mut used, mut lines) = ports::append_complete(log, &c.pending, (source_id, &c.path), c.line, finish && at_end);
    if used == 0 && c.pending.len() >= MAX_POLL_BYTES {
        // A line longer than a whole poll's read: reported as malformed, in pieces, rather
        // than held whole.
        (used, lines) = ports::append_complete(log, &c.pending, (source_id, &c.path), c.line, true);
    }
    if let Some(s) = log.sources.get_mut(source) {
        s.rows += (log.events.len() - rows_before) as u64;
        s.malformed += log.malformed.count() - malformed_before;
    }
    c.pending.drain(..used);
    c.line += lines;
    Ok(at_end)
}

/// Version and partner named by a PORTS file's first lines.
fn header_of(text: &[u8]) -> (Option<header::Version>, Option<Result<String, String>>) {
    let mut version = None;
    let mut partner = None;
    for (_, line) in text::numbered_lines(text, 1).take(4) {
        let line = text::field_text(line);
        version = version.or_else(|| header::parse_version_line(&line));
        partner = partner.or_else(|| header::partner_from_header(&line));
    }
    (version, partner)
}

/// Where the last PIDS entry of `buf` begins (its separator line, or its `Log entry` line):
/// text before it holds only complete entries. 0 when there is none but the first.
fn last_entry_start(buf: &[u8]) -> usize {
    const ENTRY: &[u8] = b"Log entry below recorded at:";
    let Some(at) = memchr::memmem::rfind(buf, ENTRY) else {
        return 0;
    };
    let line_start = |end: usize| memchr::memrchr(b'\n', &buf[..end]).map_or(0, |i| i + 1);
    let entry_line = line_start(at);
    if entry_line == 0 {
        return 0;
    }
    let previous = line_start(entry_line - 1);
    let is_separator = buf[previous..entry_line].trim_ascii().iter().all(|b| *b == b'=')
        && !buf[previous..entry_line].trim_ascii().is_empty();
    if is_separator { previous } else { entry_line }
}

fn unreadable(path: &Path, e: &io::Error) -> FollowNote {
    FollowNote::Unreadable { path: path.to_path_buf(), reason: e.to_string() }
}

#[cfg(test)]
mod tests;
