//! Turning batches of events into log files, with the original's rotation: a new set of files
//! at start, at local midnight, and when a file reaches the size limit. Text format: PR-INITIAL
//! (start only), PR-PORTS, PR-PIDS, written by [`crate::logs`]; JSON lines: one
//! `PR-EVENTS-<stamp>.jsonl`.
//!
//! Every record is rendered whole before it is written, and bytes that could not be written
//! (disk full, I/O error) stay queued for the same file and are retried on the next batch, so
//! a failure neither loses nor duplicates a record and never leaves half a line behind. While
//! writes fail, rotation waits (a new set must not start before the old one is complete), and
//! past [`MAX_PENDING`] new records are dropped and counted rather than eating memory.
//!
//! Stamps only go up: a set started in the same second as the last one (a tiny size limit) or
//! whose name is taken gets the next second, so names stay unique and every set is newer than
//! the one before. (The names do not sort as text: the original's stamps are not zero-padded,
//! so `19-55-8` sorts after `19-55-50`; readers order files by the time in their names.)
//!
//! The first set is different from the later ones: a program calls [`LogWriter::start`], which
//! fails when it cannot be created (the folder is unusable: nothing would ever be logged), where
//! a later set that cannot be created is reported (event 109) and tried again a minute later,
//! the current files staying in use meanwhile.

use std::io::{self, Write};
use std::str::FromStr;
use std::sync::Arc;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta, Timelike};

use crate::collector::error::CollectorError;
use crate::collector::events::{EventId, Notice};
use crate::collector::folder::Storage;
use crate::collector::host::FORMAT_VERSION;
use crate::collector::{Batch, CollectorEvent, Initial, jsonl, record};
use crate::logs::header::{LogKind, file_name};
use crate::logs::initial::{self, InitialLog};
use crate::logs::pids::{self, LogHeader};
use crate::logs::ports;

/// Bytes kept for a file while its writes fail; beyond, new records are dropped (event 107).
pub const MAX_PENDING: usize = 16 << 20;
/// Buffered bytes that make the writer write before the end of a batch.
const FLUSH_AT: usize = 256 << 10;
/// Later names tried when a file name is taken.
const NAME_TRIES: u32 = 60;
/// After files could not be created, the wait before trying again (and reporting again).
const RETRY_CREATE_AFTER: TimeDelta = TimeDelta::seconds(60);

/// What the files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// The three Port Reporter logs.
    #[default]
    Text,
    /// One JSON object per event.
    Jsonl,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "text" => Ok(Format::Text),
            "jsonl" => Ok(Format::Jsonl),
            other => Err(format!("unknown format {other:?}: use text or jsonl")),
        }
    }
}

/// How the writer writes.
#[derive(Debug, Clone)]
pub struct WriterOptions {
    pub format: Format,
    /// A file that would grow past this many bytes with its next record is closed and a new
    /// set started. The program takes it in KB (1000..102400, as the original); tests use a
    /// few hundred bytes.
    pub max_bytes: u64,
    /// Header of the PIDS and INITIAL logs; `System Date:` is set per file.
    pub header: LogHeader,
}

/// The streams of a set of files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Initial,
    Ports,
    Pids,
    Events,
}

/// A failure episode of one file.
#[derive(Debug, Default)]
struct Failure {
    attempts: u32,
    dropped: u64,
}

/// One open file and the bytes on their way to it.
#[derive(Debug)]
struct Stream<F> {
    kind: Kind,
    name: String,
    file: F,
    /// Bytes written or queued.
    size: u64,
    /// Size of its header: a file holding only that is never rotated for size.
    header_len: u64,
    pending: Vec<u8>,
    failing: Option<Failure>,
}

#[derive(Debug)]
struct OpenSet<F> {
    day: NaiveDate,
    streams: Vec<Stream<F>>,
}

impl<F> OpenSet<F> {
    fn clean(&self) -> bool {
        self.streams.iter().all(|s| s.pending.is_empty())
    }
}

/// Why a new set of files starts.
#[derive(Debug, Clone, Copy)]
enum Opening<'a> {
    Start(Option<&'a Initial>),
    Midnight,
    Size,
}

/// The log files of a run.
#[derive(Debug)]
pub struct LogWriter<S: Storage> {
    storage: S,
    options: WriterOptions,
    set: Option<OpenSet<S::File>>,
    last_stamp: Option<NaiveDateTime>,
    started: bool,
    /// Set after files could not be created: no new attempt before then.
    retry_at: Option<NaiveDateTime>,
}

impl<S: Storage> LogWriter<S> {
    pub fn new(storage: S, options: WriterOptions) -> LogWriter<S> {
        LogWriter { storage, options, set: None, last_stamp: None, started: false, retry_at: None }
    }

    /// Names of the files being written now.
    pub fn current_files(&self) -> Vec<String> {
        self.set.iter().flat_map(|s| s.streams.iter().map(|f| f.name.clone())).collect()
    }

    /// Opens the first set of files (with PR-INITIAL from the start snapshot, the first poll's
    /// batch) and writes the batch. An error when the files cannot be created: the folder is
    /// unusable, and a service had better stop than run logging nothing.
    pub fn start(&mut self, batch: &Batch) -> Result<Vec<Notice>, CollectorError> {
        let mut notices = Vec::new();
        if !self.started {
            self.open_first(batch, &mut notices)
                .map_err(|why| CollectorError::Files { folder: self.storage.location(), why })?;
        }
        self.write_events(batch, &mut notices);
        Ok(notices)
    }

    /// Writes one batch: opens the first set if [`LogWriter::start`] did not (a first set that
    /// cannot be created is then reported and tried again, like a later one), rotates at
    /// midnight and at the size limit, retries what earlier batches could not write. Returns
    /// what happened worth reporting.
    pub fn write(&mut self, batch: &Batch) -> Vec<Notice> {
        let now = batch.time.naive_local();
        let mut notices = Vec::new();
        self.flush(&mut notices);
        let due = self.retry_at.is_none_or(|at| now >= at);
        let opened = match &self.set {
            None if !self.started => self.open_first(batch, &mut notices),
            None if due => self.open_set(now, Opening::Start(None), &mut notices),
            Some(set) if set.day != now.date() && set.clean() && due => {
                self.open_set(now, Opening::Midnight, &mut notices)
            }
            _ => Ok(()),
        };
        if let Err(why) = opened {
            self.cannot_create(now, &why, &mut notices);
        }
        self.write_events(batch, &mut notices);
        notices
    }

    /// Opens the first set of a run, with the start snapshot of `batch` if it holds one.
    fn open_first(&mut self, batch: &Batch, notices: &mut Vec<Notice>) -> Result<(), String> {
        let initial = batch.events.iter().find_map(|e| match e {
            CollectorEvent::Initial(i) => Some(i),
            _ => None,
        });
        self.started = true;
        self.open_set(batch.time.naive_local(), Opening::Start(initial), notices)
    }

    /// Renders and queues the records of a batch, then writes what the files take.
    fn write_events(&mut self, batch: &Batch, notices: &mut Vec<Notice>) {
        let now = batch.time.naive_local();
        let mut record = Vec::new();
        for event in &batch.events {
            for &kind in self.kinds_of(event) {
                record.clear();
                if let Err(e) = self.render(&mut record, kind, batch, event) {
                    notices.push(Notice::new(EventId::WriteFailed, format!("cannot render an event: {e}")));
                    continue;
                }
                self.append(kind, &record, now, notices);
            }
        }
        self.flush(notices);
    }

    /// Writes what is still queued, once more, and closes the files.
    pub fn close(&mut self) -> Vec<Notice> {
        let mut notices = Vec::new();
        self.flush(&mut notices);
        if let Some(set) = self.set.take() {
            for s in set.streams.iter().filter(|s| !s.pending.is_empty()) {
                notices.push(Notice::new(
                    EventId::DataDropped,
                    format!("{} bytes for {} could not be written before closing", s.pending.len(), s.name),
                ));
            }
        }
        notices
    }

    /// The streams an event is written to.
    fn kinds_of(&self, event: &CollectorEvent) -> &'static [Kind] {
        match (self.options.format, event) {
            (Format::Jsonl, _) => &[Kind::Events],
            (Format::Text, CollectorEvent::Socket(c)) if c.is_row() => &[Kind::Ports],
            (Format::Text, CollectorEvent::Process(_)) => &[Kind::Pids],
            // The start snapshot went to PR-INITIAL when the set was opened.
            (Format::Text, _) => &[],
        }
    }

    fn render(&self, out: &mut Vec<u8>, kind: Kind, batch: &Batch, event: &CollectorEvent) -> io::Result<()> {
        let now = batch.time.naive_local();
        match (kind, event) {
            (Kind::Events, event) => jsonl::write_event(out, &batch.time, event).map_err(io::Error::other),
            (Kind::Ports, CollectorEvent::Socket(c)) => ports::write_row(out, &record::row(now, &c.observed)),
            (Kind::Pids, CollectorEvent::Process(p)) => pids::write_entry(out, now, &record::block(p, None)),
            _ => Ok(()),
        }
    }

    /// Queues a record for its stream, starting a new set first if the file would pass the
    /// size limit.
    fn append(&mut self, kind: Kind, bytes: &[u8], now: NaiveDateTime, notices: &mut Vec<Notice>) {
        let len = bytes.len() as u64;
        let full = self.stream(kind).is_some_and(|s| s.size > s.header_len && s.size + len > self.options.max_bytes);
        if full && self.retry_at.is_none_or(|at| now >= at) {
            self.flush(notices);
            if self.set.as_ref().is_some_and(OpenSet::clean)
                && let Err(why) = self.open_set(now, Opening::Size, notices)
            {
                self.cannot_create(now, &why, notices);
            }
        }
        let Some(s) = self.stream_mut(kind) else {
            return;
        };
        if s.pending.len() + bytes.len() > MAX_PENDING {
            let failure = s.failing.get_or_insert_with(Failure::default);
            if failure.dropped == 0 {
                notices.push(Notice::new(
                    EventId::DataDropped,
                    format!("{}: writes keep failing and {MAX_PENDING} bytes wait; dropping new records", s.name),
                ));
            }
            failure.dropped += 1;
            return;
        }
        s.pending.extend_from_slice(bytes);
        s.size += len;
        if s.pending.len() >= FLUSH_AT && s.failing.is_none() {
            write_pending(s, notices);
        }
    }

    fn stream(&self, kind: Kind) -> Option<&Stream<S::File>> {
        self.set.as_ref()?.streams.iter().find(|s| s.kind == kind)
    }

    fn stream_mut(&mut self, kind: Kind) -> Option<&mut Stream<S::File>> {
        self.set.as_mut()?.streams.iter_mut().find(|s| s.kind == kind)
    }

    fn flush(&mut self, notices: &mut Vec<Notice>) {
        if let Some(set) = &mut self.set {
            for s in &mut set.streams {
                write_pending(s, notices);
            }
        }
    }

    /// Starts a new set of files (the old one, if any, is complete: callers check); why not,
    /// when it cannot.
    fn open_set(&mut self, now: NaiveDateTime, opening: Opening<'_>, notices: &mut Vec<Notice>) -> Result<(), String> {
        let mut stamp = now.with_nanosecond(0).unwrap_or(now);
        if let Some(last) = self.last_stamp
            && stamp <= last
        {
            stamp = last + TimeDelta::seconds(1);
        }
        let kinds: &[Kind] = match (self.options.format, opening) {
            (Format::Jsonl, _) => &[Kind::Events],
            (Format::Text, Opening::Start(Some(_))) => &[Kind::Initial, Kind::Ports, Kind::Pids],
            (Format::Text, _) => &[Kind::Ports, Kind::Pids],
        };
        for _ in 0..NAME_TRIES {
            match self.create_streams(kinds, stamp, opening, notices) {
                Ok(Some(streams)) => {
                    self.last_stamp = Some(stamp);
                    let names: Vec<&str> = streams.iter().map(|s| s.name.as_str()).collect();
                    notices.push(opened_notice(opening, &names, &self.storage.location(), self.previous_name()));
                    self.set = Some(OpenSet { day: now.date(), streams });
                    self.retry_at = None;
                    return Ok(());
                }
                Ok(None) => stamp += TimeDelta::seconds(1),
                Err(e) => return Err(e.to_string()),
            }
        }
        Err(format!("no free name after {NAME_TRIES} tries"))
    }

    /// Event 109, and no new attempt for a minute: what the event says is what happens.
    fn cannot_create(&mut self, now: NaiveDateTime, why: &str, notices: &mut Vec<Notice>) {
        self.retry_at = Some(now + RETRY_CREATE_AFTER);
        let still = if self.set.is_some() { "the current files stay in use" } else { "nothing is logged meanwhile" };
        notices.push(Notice::new(
            EventId::CannotCreate,
            format!(
                "cannot create log files in {}: {why}; {still}; next try in {} s",
                self.storage.location(),
                RETRY_CREATE_AFTER.num_seconds()
            ),
        ));
    }

    /// The PORTS (or EVENTS) file of the set being replaced, for the rotation message.
    fn previous_name(&self) -> Option<String> {
        let set = self.set.as_ref()?;
        set.streams.iter().find(|s| matches!(s.kind, Kind::Ports | Kind::Events)).map(|s| s.name.clone())
    }

    /// Creates the files of a set under `stamp`; `Ok(None)` when a name is taken.
    fn create_streams(
        &mut self,
        kinds: &[Kind],
        stamp: NaiveDateTime,
        opening: Opening<'_>,
        notices: &mut Vec<Notice>,
    ) -> io::Result<Option<Vec<Stream<S::File>>>> {
        let names: Vec<String> = kinds.iter().map(|k| stream_name(*k, stamp)).collect();
        if let Some((name, what)) = names.iter().find_map(|n| self.storage.occupant(n).map(|w| (n, w))) {
            notices.push(refused(name, what, &self.storage.location()));
            return Ok(None);
        }
        let mut streams = Vec::new();
        for (kind, name) in kinds.iter().zip(names) {
            let file = match self.storage.create(&name) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    notices.push(refused(&name, "taken", &self.storage.location()));
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            let mut header = Vec::new();
            self.write_header(&mut header, *kind, stamp, opening)?;
            streams.push(Stream {
                kind: *kind,
                name,
                file,
                size: header.len() as u64,
                header_len: header.len() as u64,
                pending: header,
                failing: None,
            });
        }
        Ok(Some(streams))
    }

    fn write_header(
        &self,
        out: &mut Vec<u8>,
        kind: Kind,
        stamp: NaiveDateTime,
        opening: Opening<'_>,
    ) -> io::Result<()> {
        let header = LogHeader { system_date: Some(stamp), ..self.options.header.clone() };
        match kind {
            Kind::Ports => ports::write_header(out, FORMAT_VERSION, &stream_name(Kind::Pids, stamp)),
            Kind::Pids => pids::write_header(out, &header),
            Kind::Initial => {
                let Opening::Start(Some(snapshot)) = opening else {
                    return Ok(());
                };
                initial::write_initial(out, &initial_log(snapshot, header, stamp))
            }
            Kind::Events => Ok(()),
        }
    }
}

/// Writes as much of a stream's queue as the file takes; reports the start and the end of a
/// failure episode once each.
fn write_pending<F: Write>(s: &mut Stream<F>, notices: &mut Vec<Notice>) {
    let mut written = 0;
    let result = loop {
        if written == s.pending.len() {
            break Ok(());
        }
        match s.file.write(&s.pending[written..]) {
            Ok(0) => break Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e),
        }
    };
    s.pending.drain(..written);
    match result {
        Ok(()) => {
            if let Some(failure) = s.failing.take()
                && failure.attempts > 0
            {
                let dropped = match failure.dropped {
                    0 => String::new(),
                    n => format!("; {n} records were dropped meanwhile"),
                };
                notices.push(Notice::new(
                    EventId::WriteRecovered,
                    format!("{}: writing works again after {} failed attempts{dropped}", s.name, failure.attempts),
                ));
            }
        }
        Err(e) => {
            let failure = s.failing.get_or_insert_with(Failure::default);
            if failure.attempts == 0 {
                notices.push(Notice::new(
                    EventId::WriteFailed,
                    format!("cannot write {}: {e}; {} bytes kept, retrying at every poll", s.name, s.pending.len()),
                ));
            }
            failure.attempts += 1;
        }
    }
}

fn stream_name(kind: Kind, stamp: NaiveDateTime) -> String {
    match kind {
        Kind::Initial => file_name(LogKind::Initial, stamp),
        Kind::Ports => file_name(LogKind::Ports, stamp),
        Kind::Pids => file_name(LogKind::Pids, stamp),
        Kind::Events => {
            let ports = file_name(LogKind::Ports, stamp);
            let stem = ports.strip_prefix("PR-PORTS-").and_then(|s| s.strip_suffix(".log")).unwrap_or(&ports);
            format!("PR-EVENTS-{stem}.jsonl")
        }
    }
}

fn refused(name: &str, what: &str, folder: &str) -> Notice {
    Notice::new(
        EventId::FileRefused,
        format!("{name} in {folder} is {what}: refused (not opened, not followed); using the next second's name"),
    )
}

fn opened_notice(opening: Opening<'_>, names: &[&str], folder: &str, previous: Option<String>) -> Notice {
    let names = names.join(", ");
    match opening {
        Opening::Start(_) => Notice::new(
            EventId::CreatedLogFiles,
            format!(
                "The Port Reporter service successfully created log files in the following directory: {folder} ({names})"
            ),
        ),
        Opening::Midnight => {
            Notice::new(EventId::Rotated, format!("local midnight: new log files {names} in {folder}"))
        }
        Opening::Size => Notice::new(
            EventId::Rotated,
            format!("{} reached the size limit: new log files {names} in {folder}", previous.unwrap_or_default()),
        ),
    }
}

/// The start snapshot as an INITIAL log.
fn initial_log(snapshot: &Initial, header: LogHeader, stamp: NaiveDateTime) -> InitialLog {
    let mappings: Vec<_> = snapshot.sockets.iter().map(record::initial_mapping).collect();
    InitialLog {
        path: Arc::from(std::path::Path::new(&file_name(LogKind::Initial, stamp))),
        header,
        mappings_found: Some(mappings.len() as u32),
        mappings,
        mappings_available: true,
        blocks: snapshot.processes.iter().map(|p| record::block(p, None)).collect(),
        warnings: Vec::new(),
    }
}

#[cfg(test)]
mod tests;
