//! PR-PORTS: one CSV line per new socket or TCP state change.
//!
//! The reader is the hot path of the whole tool (logs of millions of lines), so it works on
//! bytes and splits a block of lines across threads; the next block is read while one is
//! parsed. Each piece of a block writes its rows straight into the block's row buffer, and
//! reads the usual row shape in one pass (`fast.rs`) whose shortcuts key on exact bytes; any
//! other record (a quote, a field spanning lines, an unusual or malformed row) goes alone
//! through the general, quote-aware path (`general.rs`), which gives the same rows, and the
//! next record is tried on the fast path again. Pieces are cut at line ends and each guesses
//! that it starts a record; a piece whose guess a quoted record spanning the cut proves wrong
//! is read again from that record's end (see `block::parse_pieces`). Each distinct address
//! or name is parsed once per piece at most, and once per file when the fast path meets it
//! again (`fast::Known`). The parallel block driver (pieces, their sinks, the merge of their
//! tables) is `block.rs`; writing PORTS files, `writer.rs`. What it accepts, beyond plain CSV:
//! - `yy/m/d` dates with or without padding or the year's leading zero, `h:m:s` unpadded times;
//! - 10 fields, 9 (user context missing with its comma) and 7 (Windows 2000);
//! - `*` and empty remote ports and addresses, bare IPv6 addresses (also `[..]`, or with a zone);
//! - RFC 4180 quoting (a quoted field may span lines); a module name with unquoted commas is
//!   rebuilt when the last field is a bracketed user context;
//! - header lines, also repeated mid-file (concatenated logs), are skipped, not malformed;
//! - a truncated last line is reported as such.
//!
//! Every other line becomes a [`text::LineIssue`] and reading goes on.
//!
//! ## Reading whole, or streaming
//! There is one block driver. [`stream_file`] / [`stream_from`] hand each block's rows, in
//! file order, to a caller's consumer (a closure given the owner of the tables and a
//! [`RowBlock`]) and keep none: the block's row buffer is reused, so memory is bounded by two
//! blocks of text and rows (a few megabytes) and by the distinct names and addresses, which
//! are interned into the owner's log-wide tables as they are met; malformed lines are counted
//! and kept (capped) there as in a full read. The owner is a [`PortsLog`] or a whole
//! [`crate::logs::set::LogSet`] ([`PortsOwner`]); [`crate::logs::set::stream_plan`] reads a
//! set's PIDS and INITIAL logs first and then streams its PORTS files. [`read_into`] and
//! [`read_from`] are that stream with a consumer that appends every row to
//! [`PortsLog::events`].

mod block;
mod fast;
mod general;
mod writer;

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::error::LogError;
use crate::intern::{AddrTable, Interner};
use crate::logs::computers::ComputerTable;
use crate::logs::header::Version;
use crate::logs::issues::KeptIssues;
use crate::logs::text;
use crate::model::{Address, PortEvent, Symbol};

use block::{BLOCK_BYTES, make_room, merge_pieces, parse_pieces};
use fast::Known;

pub use block::ROWS_AHEAD;
pub use general::{is_header_line, parse_address};
pub use writer::{RowOut, write_header, write_row};

/// The column line of the 10-field format.
pub const FORMAT_LINE: &str =
    "date,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context";

/// A quoted field may hold line breaks, but a record is never longer than this: past it the
/// opening line is reported malformed and reading resumes on the next line.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Why a line is not a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    FieldCount(usize),
    Date,
    Time,
    Protocol,
    LocalPort,
    LocalIp,
    RemotePort,
    RemoteIp,
    Pid,
    UnterminatedQuote,
    Truncated,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::FieldCount(n) => write!(f, "expected 7, 9 or 10 comma-separated fields, found {n}"),
            Malformed::Date => f.write_str("unreadable date (expected yy/m/d)"),
            Malformed::Time => f.write_str("unreadable time (expected h:m:s)"),
            Malformed::Protocol => f.write_str("unknown protocol (expected TCP or UDP)"),
            Malformed::LocalPort => f.write_str("unreadable local port"),
            Malformed::LocalIp => f.write_str("unreadable local IP address"),
            Malformed::RemotePort => f.write_str("unreadable remote port"),
            Malformed::RemoteIp => f.write_str("unreadable remote IP address"),
            Malformed::Pid => f.write_str("unreadable PID"),
            Malformed::UnterminatedQuote => f.write_str("quoted field never closed"),
            Malformed::Truncated => f.write_str("truncated last line (the file ends mid-row)"),
        }
    }
}

/// A PORTS file read into the log: what its header said and how much it held.
#[derive(Debug, Clone)]
pub struct PortsSource {
    pub path: Arc<Path>,
    pub version: Option<Version>,
    pub encoding: text::Encoding,
    /// The `Check PR-PIDS-...` partner name, or why it was refused.
    pub partner: Option<Result<String, String>>,
    pub rows: u64,
    pub malformed: u64,
    /// The computer the file came from, an id in its log's [`PortsLog::computers`].
    pub computer: Symbol,
}

/// One or more PORTS files as a single, time-ordered log.
#[derive(Debug, Clone, Default)]
pub struct PortsLog {
    pub events: Vec<PortEvent>,
    pub modules: Interner,
    pub users: Interner,
    pub addrs: AddrTable,
    pub sources: Vec<PortsSource>,
    /// The computers rows came from, and which file is whose: files are assigned before they
    /// are read (see [`crate::logs::computers`]), and each source takes its computer from here.
    pub computers: ComputerTable,
    /// Malformed lines: all counted, the first [`crate::logs::issues::MAX_KEPT_ISSUES`] kept.
    pub malformed: KeptIssues,
}

impl PortsLog {
    pub fn module(&self, e: &PortEvent) -> &str {
        self.modules.resolve(e.module)
    }

    pub fn user(&self, e: &PortEvent) -> &str {
        self.users.resolve(e.user)
    }

    pub fn local_ip(&self, e: &PortEvent) -> Address {
        self.addrs.resolve(e.local_ip)
    }

    pub fn remote_ip(&self, e: &PortEvent) -> Address {
        self.addrs.resolve(e.remote_ip)
    }

    /// The id of the computer a row came from (through its file).
    #[inline]
    pub fn computer_id(&self, e: &PortEvent) -> Symbol {
        self.sources.get(e.source as usize).map_or(Symbol::EMPTY, |s| s.computer)
    }

    /// The name of the computer a row came from; `""` when unknown.
    pub fn computer(&self, e: &PortEvent) -> &str {
        self.computers.name(self.computer_id(e))
    }

    pub fn source_path(&self, e: &PortEvent) -> Option<&Arc<Path>> {
        self.sources.get(e.source as usize).map(|s| &s.path)
    }

    /// True when events are in time order (a single file almost always is).
    fn is_time_ordered(&self) -> bool {
        use rayon::prelude::*;
        // A pass over every row, memory-bound: on all cores, in runs that overlap by a row.
        const RUN: usize = 1 << 16;
        let n = self.events.len();
        (0..n.div_ceil(RUN)).into_par_iter().all(|k| {
            let run = &self.events[k * RUN..n.min((k + 1) * RUN + 1)];
            run.windows(2).all(|w| w[0].time <= w[1].time)
        })
    }

    /// Orders events by time, keeping file order for equal times.
    pub fn sort_by_time(&mut self) {
        if !self.is_time_ordered() {
            use rayon::slice::ParallelSliceMut;
            self.events.par_sort_by_key(|e| e.time);
        }
    }
}

/// Shared with the loading thread's owner: how far loading got, and a way to stop it.
#[derive(Debug, Default)]
pub struct LoadProgress {
    pub bytes_total: std::sync::atomic::AtomicU64,
    pub bytes_done: std::sync::atomic::AtomicU64,
    pub rows: std::sync::atomic::AtomicU64,
    /// Rows a source announced before sending them (a ClickHouse load), 0 when it did not:
    /// progress is then told in bytes.
    pub rows_expected: std::sync::atomic::AtomicU64,
    pub cancel: std::sync::atomic::AtomicBool,
}

impl LoadProgress {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub use crate::logs::text::MAX_LINE_BYTES;

/// What a stream reads into: a PORTS log, whose names, addresses, files and malformed lines
/// the streamed rows' ids point into (its row vector is left as it is), alone or as part of
/// a whole log set, which the consumer then sees.
pub trait PortsOwner {
    fn ports_mut(&mut self) -> &mut PortsLog;
}

impl PortsOwner for PortsLog {
    fn ports_mut(&mut self) -> &mut PortsLog {
        self
    }
}

/// One block of a stream's rows.
#[derive(Debug, Clone, Copy)]
pub struct RowBlock<'a> {
    /// The rows, in file order, with the log's ids; each names its file (`source`, an index
    /// in the log's `sources`) and line (`line`). The slice is reused for the next block.
    pub rows: &'a [PortEvent],
    /// Bytes of the file's text (after decoding) read up to the end of these rows.
    pub parsed_bytes: u64,
}

/// Streams one PORTS file to `consume`, block by block in file order, keeping no rows:
/// names and addresses are interned into `owner`'s log as they are met (memory grows with
/// the distinct values only), malformed lines are counted and kept (capped) there, and the
/// file is added to its `sources` before the first rows. A block holds at most a couple of
/// megabytes of text; its rows buffer is reused, so memory stays bounded by two blocks and
/// the distinct values, whatever the file's size.
///
/// `consume` runs on the calling thread while the next block is parsed on the others, and
/// sees `owner` with every name and address of its rows already interned.
pub fn stream_file<T: PortsOwner + ?Sized>(
    owner: &mut T,
    path: &Path,
    progress: &LoadProgress,
    consume: &mut impl FnMut(&T, &RowBlock<'_>),
) -> Result<(), LogError> {
    let file = std::fs::File::open(path).map_err(|e| LogError::io(path, e))?;
    stream_from(owner, path, file, progress, consume)
}

/// [`stream_file`] from any reader (bytes in memory for tests and fuzzing); `path` names it.
pub fn stream_from<T: PortsOwner + ?Sized>(
    owner: &mut T,
    path: &Path,
    file: impl io::Read,
    progress: &LoadProgress,
    consume: &mut impl FnMut(&T, &RowBlock<'_>),
) -> Result<(), LogError> {
    block::stream(owner, path, file, progress, BLOCK_BYTES, consume)
}

/// Reads one PORTS file and appends it to `log`.
pub fn read_into(log: &mut PortsLog, path: &Path, progress: &LoadProgress) -> Result<(), LogError> {
    let file = std::fs::File::open(path).map_err(|e| LogError::io(path, e))?;
    let size = file.metadata().ok().map(|m| m.len());
    read_from(log, path, file, size, progress)
}

/// Reads PORTS text from any reader (a file, or bytes in memory for tests and fuzzing);
/// `path` names it in issues. The rows go to `log.events`: the stream of [`stream_from`]
/// with a consumer that keeps every row.
pub fn read_from(
    log: &mut PortsLog,
    path: &Path,
    file: impl io::Read,
    size_hint: Option<u64>,
    progress: &LoadProgress,
) -> Result<(), LogError> {
    read_blocks(log, path, file, size_hint, progress, BLOCK_BYTES)
}

/// [`read_from`] in blocks of at most `block_bytes`.
fn read_blocks(
    log: &mut PortsLog,
    path: &Path,
    file: impl io::Read,
    size_hint: Option<u64>,
    progress: &LoadProgress,
    block_bytes: usize,
) -> Result<(), LogError> {
    // The rows are kept aside while the log is lent to the stream, then put back.
    let mut events = std::mem::take(&mut log.events);
    let first = events.len();
    let read = block::stream(log, path, file, progress, block_bytes, &mut |_: &PortsLog, block: &RowBlock<'_>| {
        events.extend_from_slice(block.rows);
        make_room(&mut events, size_hint, first, block.parsed_bytes);
    });
    log.events = events;
    read
}

/// Parses text that continues a file already partly read (a file being followed as it
/// grows) into `log`, as rows of source `source` numbered from `first_line`. Unless `at_end`
/// (the file is finished), a partial last line or a quoted record still open is left for the
/// next call. Returns (bytes used, lines used).
pub fn append_complete(
    log: &mut PortsLog,
    bytes: &[u8],
    (source, path): (u16, &Arc<Path>),
    first_line: u32,
    at_end: bool,
) -> (usize, u32) {
    let mut rows = std::mem::take(&mut log.events);
    let mut known = Known::default();
    let pieces = parse_pieces(&mut rows, bytes, at_end, source, first_line, &known);
    let used = merge_pieces(log, &mut rows, pieces, &mut known, path, first_line);
    log.events = rows;
    used
}

/// Reads PORTS files into one time-ordered log.
pub fn read_ports(paths: &[&Path], progress: &LoadProgress) -> Result<PortsLog, LogError> {
    let mut log = PortsLog::default();
    for p in paths {
        read_into(&mut log, p, progress)?;
    }
    log.sort_by_time();
    Ok(log)
}

#[cfg(test)]
mod tests;
