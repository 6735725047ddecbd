//! PR-PORTS: one CSV line per new socket or TCP state change.
//!
//! The reader is the hot path of the whole tool (logs of millions of lines), so it works on
//! bytes and splits a block of lines across threads; the next block is read while one is
//! parsed. Each piece of a block writes its rows straight into the log's row vector, and
//! reads the usual row shape in one pass (`fast.rs`) whose shortcuts key on exact bytes;
//! anything else goes through the general, quote-aware path (`general.rs`), which gives the
//! same rows. Each distinct address or name is parsed once per piece at most, and once per
//! file when the fast path meets it again (`fast::Known`). The parallel block driver (pieces,
//! their sinks, the merge of their tables) is `block.rs`; writing PORTS files, `writer.rs`.
//! What it accepts, beyond plain CSV:
//! - `yy/m/d` dates with or without padding or the year's leading zero, `h:m:s` unpadded times;
//! - 10 fields, 9 (user context missing with its comma) and 7 (Windows 2000);
//! - `*` and empty remote ports and addresses, bare IPv6 addresses (also `[..]`, or with a zone);
//! - RFC 4180 quoting (a quoted field may span lines); a module name with unquoted commas is
//!   rebuilt when the last field is a bracketed user context;
//! - header lines, also repeated mid-file (concatenated logs), are skipped, not malformed;
//! - a truncated last line is reported as such.
//!
//! Every other line becomes a [`LineIssue`] and reading goes on.

mod block;
mod fast;
mod general;
mod writer;

use std::io;
use std::path::Path;
use std::sync::Arc;

use crate::intern::{AddrTable, Interner};
use crate::logs::header::{self, Version};
use crate::logs::issues::KeptIssues;
use crate::logs::text::{self, LineIssue, field_text};
use crate::model::{Address, PortEvent};

use block::{BLOCK_BYTES, FileRef, make_room, parse_block};
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
}

/// One or more PORTS files as a single, time-ordered log.
#[derive(Debug, Clone, Default)]
pub struct PortsLog {
    pub events: Vec<PortEvent>,
    pub modules: Interner,
    pub users: Interner,
    pub addrs: AddrTable,
    pub sources: Vec<PortsSource>,
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
    pub cancel: std::sync::atomic::AtomicBool,
}

impl LoadProgress {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }
}

pub use crate::logs::text::MAX_LINE_BYTES;

/// Reads one PORTS file and appends it to `log`.
pub fn read_into(log: &mut PortsLog, path: &Path, progress: &LoadProgress) -> Result<(), crate::error::LogError> {
    let file = std::fs::File::open(path).map_err(|e| crate::error::LogError::io(path, e))?;
    let size = file.metadata().ok().map(|m| m.len());
    read_from(log, path, file, size, progress)
}

/// Reads PORTS text from any reader (a file, or bytes in memory for tests and fuzzing);
/// `path` names it in issues.
pub fn read_from(
    log: &mut PortsLog,
    path: &Path,
    file: impl io::Read,
    size_hint: Option<u64>,
    progress: &LoadProgress,
) -> Result<(), crate::error::LogError> {
    use std::sync::atomic::Ordering;

    let err = |e| crate::error::LogError::io(path, e);
    let shared = text::shared_path(path);
    let source = u16::try_from(log.sources.len()).map_err(|_| crate::error::LogError::NotALog {
        path: path.into(),
        reason: "too many files in one log (65,535 at most)".into(),
    })?;
    let rows_before = log.events.len();
    let malformed_before = log.malformed.count();

    // UTF-16 (rare, from editors) is transcoded as it streams in; other text passes through.
    let mut stream = text::TextReader::new(file).map_err(err)?;
    let encoding = stream.encoding();

    // Blocks start small so that small files cost little, and grow to BLOCK_BYTES. While a
    // block is parsed, the next one is read into the other of two buffers, after room for
    // what the parse leaves over (a partial last line, or a quoted record still open): the
    // read, a copy out of the page cache, would otherwise keep the other cores waiting.
    // `cur[start..end]` holds unparsed text. Buffers only grow (so are zeroed once).
    let mut block = 64 << 10;
    let mut cur: Vec<u8> = vec![0; block];
    let mut spare: Vec<u8> = Vec::new();
    let got = text::read_full(&mut stream, &mut cur).map_err(err)?;
    progress.bytes_done.fetch_add(got as u64, Ordering::Relaxed);
    let (mut start, mut end) = (0, got);
    let mut at_eof = got < block;
    let mut known = Known::default();
    let mut parsed_bytes: u64 = 0;
    let mut next_line: u32 = 1;
    let mut version = None;
    let mut partner = None;
    let mut header_done = false;
    let mut skipping_long_line = false;
    loop {
        if progress.cancelled() {
            return Err(crate::error::LogError::Cancelled);
        }
        if skipping_long_line {
            match memchr::memchr(b'\n', &cur[start..end]) {
                Some(i) => {
                    start += i + 1;
                    skipping_long_line = false;
                    next_line = next_line.saturating_add(1);
                }
                None => start = end,
            }
        }
        let data = &cur[start..end];
        if !header_done && !skipping_long_line {
            let (v, p, done) = read_header(data);
            version = version.or(v);
            partner = partner.or(p);
            header_done = done || at_eof;
        }
        let next_block = (block * 2).min(BLOCK_BYTES);
        let partial = if at_eof { 0 } else { data.len() - memchr::memrchr(b'\n', data).map_or(0, |i| i + 1) };
        let room = partial + MAX_RECORD_BYTES;
        if !at_eof && spare.len() < room + next_block {
            spare.resize(room + next_block, 0);
        }
        let file_ref = FileRef { source, path: &shared, progress };
        let mut parsed = (0, 0);
        let read = rayon::in_place_scope(|s| {
            s.spawn(|_| parsed = parse_block(log, data, at_eof, &file_ref, next_line, &mut known));
            if at_eof { Ok(0) } else { text::read_full(&mut stream, &mut spare[room..room + next_block]) }
        });
        let (used, lines) = parsed;
        next_line = next_line.saturating_add(lines);
        parsed_bytes += used as u64;
        make_room(&mut log.events, size_hint, rows_before, parsed_bytes);
        if at_eof {
            break;
        }
        let got = read.map_err(err)?;
        progress.bytes_done.fetch_add(got as u64, Ordering::Relaxed);
        let mut left = &cur[start + used..end];
        if left.len() > MAX_LINE_BYTES {
            log.malformed.add_with(|| {
                LineIssue::new(&shared, next_line, format!("line longer than {MAX_LINE_BYTES} bytes; skipped"), left)
            });
            left = &[];
            skipping_long_line = true;
        }
        // What is left over goes just before the new text (`room` is enough by construction;
        // the other branch only keeps this correct if it were not).
        if left.len() <= room {
            spare[room - left.len()..room].copy_from_slice(left);
            start = room - left.len();
        } else {
            let mut joined = left.to_vec();
            joined.extend_from_slice(&spare[room..room + got]);
            spare = joined;
            start = 0;
        }
        end = start + left.len() + got;
        std::mem::swap(&mut cur, &mut spare);
        at_eof = got < next_block;
        block = next_block;
    }
    log.sources.push(PortsSource {
        path: shared,
        version,
        encoding,
        partner,
        rows: (log.events.len() - rows_before) as u64,
        malformed: log.malformed.count() - malformed_before,
    });
    Ok(())
}

/// Version and partner from the first lines; `done` once a data line or the column line is seen.
fn read_header(buf: &[u8]) -> (Option<Version>, Option<Result<String, String>>, bool) {
    let mut version = None;
    let mut partner = None;
    for (_, line) in text::numbered_lines(buf, 1).take(8) {
        let line = field_text(line);
        if line.starts_with(|c: char| c.is_ascii_digit()) {
            return (version, partner, true);
        }
        version = version.or_else(|| header::parse_version_line(&line));
        partner = partner.or_else(|| header::partner_from_header(&line));
        if line.trim_start().to_ascii_lowercase().starts_with("date,time,protocol") {
            return (version, partner, true);
        }
    }
    (version, partner, false)
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
    let progress = LoadProgress::default();
    let file = FileRef { source, path, progress: &progress };
    parse_block(log, bytes, at_end, &file, first_line, &mut Known::default())
}

/// Reads PORTS files into one time-ordered log.
pub fn read_ports(paths: &[&Path], progress: &LoadProgress) -> Result<PortsLog, crate::error::LogError> {
    let mut log = PortsLog::default();
    for p in paths {
        read_into(&mut log, p, progress)?;
    }
    log.sort_by_time();
    Ok(log)
}

#[cfg(test)]
mod tests;
