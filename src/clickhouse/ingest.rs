//! `prparser ingest`: loads log sets into ClickHouse, once.
//!
//! Each file is known by its computer and file name in the ingested-files table, with the
//! length loaded and a SHA-256 of those bytes. A file seen before with the same length and
//! hash is not read again; one that has grown (its loaded part unchanged) is read and only its
//! new rows are sent; one whose loaded part changed is left alone and reported.
//!
//! Rows go in batches (100,000 rows unless told otherwise), each a single insert: ClickHouse 18.16 writes
//! an insert of under a million rows into an unpartitioned MergeTree as one part, so a batch
//! is in whole or not at all. A batch's key is its file and lines; before sending anything
//! of a file, the ingest asks the server for the last line of that file it holds and sends
//! only the rows after it. Rows of a file are sent in line order, so a retry after a failure
//! mid-way (server gone, disk full) completes the load without a duplicate. The file's row in
//! the ingested-files table is written last, once all its rows are in.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::Serialize;

use super::client::{ClickHouseError, Client, number, text};
use super::schema::{self, BLOCKS, FILES, PORTS};
use crate::error::LogError;
use crate::logs::ports::{LoadProgress, RowBlock};
use crate::logs::set::{self, LogSet};
use crate::model::{Modules, PortEvent, ProcessBlock};

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error(transparent)]
    Log(#[from] LogError),
}

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Files read (new or grown).
    pub files_loaded: usize,
    /// Files already in, unchanged: not read.
    pub files_unchanged: usize,
    pub rows: u64,
    pub blocks: u64,
    /// Malformed lines of the PORTS files read (not inserted; counted per file).
    pub malformed: u64,
    /// Files whose part already loaded has changed since (not a file that grew): left alone.
    pub changed: Vec<String>,
    /// Rows whose time ClickHouse's `DateTime` cannot hold (before 1970, after 2105): not
    /// inserted.
    pub out_of_range: u64,
}

/// One PORTS, PIDS or INITIAL file to load: who, what, how much.
#[derive(Debug, Clone)]
struct FileLoad {
    computer: String,
    name: String,
    kind: &'static str,
    length: u64,
    hash: String,
    /// The last line of the file the server holds (0: none).
    loaded_through: u32,
}

/// Loads the logs `paths` name into the database of `client`, creating its tables when
/// missing, `batch_rows` rows per insert (at most a million: see the module's docs).
pub fn run(
    client: &Client,
    paths: &[PathBuf],
    batch_rows: usize,
    progress: &LoadProgress,
) -> Result<Summary, IngestError> {
    let batch_rows = batch_rows.clamp(1, 1_000_000);
    schema::create(client)?;
    let mut plan = set::plan(paths)?;
    let known = known_files(client)?;
    let landed_rows = last_lines(client, PORTS)?;
    let landed_blocks = last_lines(client, BLOCKS)?;
    let mut summary = Summary::default();
    let mut loads: HashMap<PathBuf, FileLoad> = HashMap::new();
    let computers = plan.computers.clone();
    for (list, kind) in [(&mut plan.ports, "PORTS"), (&mut plan.pids, "PIDS"), (&mut plan.initials, "INITIAL")] {
        let mut keep = Vec::new();
        for path in list.drain(..) {
            let computer = computers.name(computers.of_file(&path)).to_string();
            let name = file_name(&path);
            let length = std::fs::metadata(&path).map_err(|e| LogError::io(&path, e))?.len();
            let key = (computer.clone(), name.clone());
            let landed = if kind == "PORTS" { &landed_rows } else { &landed_blocks };
            let loaded_through = landed.get(&key).copied().unwrap_or(0);
            let hash = match known.get(&key) {
                None => hash_prefix(&path, length)?,
                Some((old_len, old_hash)) if *old_len <= length && hash_prefix(&path, *old_len)? == *old_hash => {
                    if *old_len == length {
                        summary.files_unchanged += 1;
                        continue;
                    }
                    hash_prefix(&path, length)?
                }
                Some(_) => {
                    summary.changed.push(path.display().to_string());
                    continue;
                }
            };
            loads.insert(path.clone(), FileLoad { computer, name, kind, length, hash, loaded_through });
            keep.push(path);
        }
        *list = keep;
    }
    summary.files_loaded = loads.len();
    if loads.is_empty() {
        return Ok(summary);
    }
    let mut streaming = set::stream_plan(plan, progress)?;
    summary.blocks = send_blocks(client, &streaming.set, &loads, batch_rows, &mut summary.out_of_range)?;
    let mut sender = RowSender::new(client, &loads, batch_rows);
    let streamed = streaming.stream_ports(progress, &mut |set: &LogSet, block: &RowBlock<'_>| {
        if sender.failed.is_none() {
            sender.add(set, block.rows);
            if sender.failed.is_some() {
                progress.cancel.store(true, Ordering::Relaxed);
            }
        }
    });
    if let Some(err) = sender.failed.take() {
        return Err(err.into());
    }
    streamed?;
    sender.flush();
    if let Some(err) = sender.failed.take() {
        return Err(err.into());
    }
    summary.rows = sender.sent;
    summary.out_of_range += sender.out_of_range;
    let set = streaming.set;
    let mut files = String::new();
    for source in &set.ports.sources {
        if let Some(load) = loads.get(source.path.as_ref()) {
            summary.malformed += source.malformed;
            file_row(&mut files, load, source.rows, source.malformed);
        }
    }
    for (path, blocks) in
        set.pids.iter().map(|l| (&l.path, l.blocks.len())).chain(set.initials.iter().map(|l| (&l.path, l.blocks.len())))
    {
        if let Some(load) = loads.get(path.as_ref()) {
            file_row(&mut files, load, blocks as u64, 0);
        }
    }
    client.insert(FILES, files.as_bytes())?;
    Ok(summary)
}

fn file_row(out: &mut String, load: &FileLoad, rows: u64, malformed: u64) {
    #[derive(Serialize)]
    struct FileRow<'a> {
        computer: &'a str,
        file: &'a str,
        kind: &'a str,
        length: u64,
        hash: &'a str,
        rows: u64,
        malformed: u64,
    }
    let row = FileRow {
        computer: &load.computer,
        file: &load.name,
        kind: load.kind,
        length: load.length,
        hash: &load.hash,
        rows,
        malformed,
    };
    if let Ok(json) = serde_json::to_string(&row) {
        out.push_str(&json);
        out.push('\n');
    }
}

/// The name a file is known by: its file name (the folder it was read from may differ
/// between runs).
fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

/// SHA-256 of the first `length` bytes of the file, in hex.
fn hash_prefix(path: &Path, length: u64) -> Result<String, LogError> {
    let file = std::fs::File::open(path).map_err(|e| LogError::io(path, e))?;
    let mut reader = file.take(length);
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader.read(&mut buf).map_err(|e| LogError::io(path, e))?;
        if n == 0 {
            break;
        }
        context.update(&buf[..n]);
    }
    let mut out = String::with_capacity(64);
    for b in context.finish().as_ref() {
        let _ = write!(out, "{b:02x}");
    }
    Ok(out)
}

type FileKey = (String, String);

/// The latest load of every file: its length and hash.
fn known_files(client: &Client) -> Result<HashMap<FileKey, (u64, String)>, ClickHouseError> {
    let rows = client.select(&format!(
        "SELECT computer, file, max(length), argMax(hash, length) FROM {FILES} GROUP BY computer, file"
    ))?;
    Ok(rows
        .iter()
        .filter(|r| r.len() == 4)
        .map(|r| ((text(&r[0]).to_string(), text(&r[1]).to_string()), (number(&r[2]), text(&r[3]).to_string())))
        .collect())
}

/// The last line of each file that `table` holds.
fn last_lines(client: &Client, table: &str) -> Result<HashMap<FileKey, u32>, ClickHouseError> {
    let rows = client.select(&format!("SELECT computer, file, max(line) FROM {table} GROUP BY computer, file"))?;
    Ok(rows
        .iter()
        .filter(|r| r.len() == 3)
        .map(|r| {
            let line = u32::try_from(number(&r[2])).unwrap_or(u32::MAX);
            ((text(&r[0]).to_string(), text(&r[1]).to_string()), line)
        })
        .collect())
}

/// `DateTime` holds seconds since 1970 in 32 unsigned bits.
fn in_datetime_range(t: &NaiveDateTime) -> bool {
    (1970..=2105).contains(&t.year())
}

/// `YYYY-MM-DD hh:mm:ss`, as ClickHouse reads a `DateTime`.
fn push_time(out: &mut String, t: &NaiveDateTime) {
    let _ = write!(
        out,
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

fn push_json(out: &mut String, value: &str) {
    if let Ok(json) = serde_json::to_string(value) {
        out.push_str(&json);
    }
}

/// PORTS rows gathered into batches and sent as they fill.
struct RowSender<'a> {
    client: &'a Client,
    loads: &'a HashMap<PathBuf, FileLoad>,
    /// Per source index of the streamed log: its load, once looked up.
    by_source: Vec<Option<&'a FileLoad>>,
    buf: String,
    rows: usize,
    batch_rows: usize,
    sent: u64,
    out_of_range: u64,
    failed: Option<ClickHouseError>,
}

impl<'a> RowSender<'a> {
    fn new(client: &'a Client, loads: &'a HashMap<PathBuf, FileLoad>, batch_rows: usize) -> RowSender<'a> {
        RowSender {
            client,
            loads,
            by_source: Vec::new(),
            buf: String::new(),
            rows: 0,
            batch_rows,
            sent: 0,
            out_of_range: 0,
            failed: None,
        }
    }

    fn load_of(&mut self, set: &LogSet, source: u16) -> Option<&'a FileLoad> {
        let i = usize::from(source);
        if self.by_source.len() <= i {
            let loads = self.loads;
            let found: Vec<Option<&'a FileLoad>> =
                set.ports.sources.iter().map(|s| loads.get(s.path.as_ref())).collect();
            self.by_source = found;
        }
        self.by_source.get(i).copied().flatten()
    }

    fn add(&mut self, set: &LogSet, rows: &[PortEvent]) {
        let log = &set.ports;
        for e in rows {
            let Some(load) = self.load_of(set, e.source) else { continue };
            if e.line <= load.loaded_through {
                continue;
            }
            if !in_datetime_range(&e.time) {
                self.out_of_range += 1;
                continue;
            }
            let b = &mut self.buf;
            b.push_str("{\"computer\":");
            push_json(b, &load.computer);
            b.push_str(",\"time\":\"");
            push_time(b, &e.time);
            let _ = write!(b, "\",\"protocol\":\"{}\",\"local_ip\":\"{}\"", e.protocol, log.local_ip(e));
            let _ = write!(
                b,
                ",\"local_port\":{},\"remote_ip\":\"{}\",\"remote_port\":\"{}\",\"pid\":",
                e.local_port,
                log.remote_ip(e),
                e.remote_port()
            );
            match e.pid() {
                Some(pid) => {
                    let _ = write!(b, "{pid}");
                }
                None => b.push_str("null"),
            }
            b.push_str(",\"module\":");
            push_json(b, log.module(e));
            b.push_str(",\"user\":");
            push_json(b, log.user(e));
            b.push_str(",\"file\":");
            push_json(b, &load.name);
            let _ = writeln!(b, ",\"line\":{}}}", e.line);
            self.rows += 1;
            if self.rows >= self.batch_rows {
                self.flush();
                if self.failed.is_some() {
                    return;
                }
            }
        }
    }

    fn flush(&mut self) {
        if self.rows == 0 || self.failed.is_some() {
            return;
        }
        match self.client.insert(PORTS, self.buf.as_bytes()) {
            Ok(()) => self.sent += self.rows as u64,
            Err(e) => self.failed = Some(e),
        }
        self.buf.clear();
        self.rows = 0;
    }
}

/// Sends the process blocks of the PIDS and INITIAL logs being loaded, after the last line
/// the server holds of each; returns how many were sent.
fn send_blocks(
    client: &Client,
    set: &LogSet,
    loads: &HashMap<PathBuf, FileLoad>,
    batch_rows: usize,
    out_of_range: &mut u64,
) -> Result<u64, ClickHouseError> {
    let logs = set.pids.iter().map(|l| (&l.path, &l.blocks)).chain(set.initials.iter().map(|l| (&l.path, &l.blocks)));
    let mut buf = String::new();
    let (mut pending, mut sent) = (0usize, 0u64);
    for (path, blocks) in logs {
        let Some(load) = loads.get(path.as_ref()) else { continue };
        for block in blocks.iter().filter(|b| b.line > load.loaded_through) {
            if block.recorded_at.is_some_and(|t| !in_datetime_range(&t)) {
                *out_of_range += 1;
                continue;
            }
            block_row(&mut buf, load, block);
            pending += 1;
            if pending >= batch_rows {
                client.insert(BLOCKS, buf.as_bytes())?;
                sent += pending as u64;
                buf.clear();
                pending = 0;
            }
        }
    }
    if pending > 0 {
        client.insert(BLOCKS, buf.as_bytes())?;
        sent += pending as u64;
    }
    Ok(sent)
}

fn block_row(out: &mut String, load: &FileLoad, block: &ProcessBlock) {
    #[derive(Serialize)]
    struct BlockRow<'a> {
        computer: &'a str,
        time: String,
        timed: u8,
        kind: &'a str,
        pid: u32,
        process: &'a str,
        user: &'a str,
        system_process: u8,
        services: Vec<&'a str>,
        modules: Vec<&'a str>,
        image_path: &'a str,
        has_image: u8,
        port_table: String,
        file: &'a str,
        line: u32,
    }
    let mut time = String::new();
    match &block.recorded_at {
        Some(t) => push_time(&mut time, t),
        None => time.push_str("1970-01-01 00:00:00"),
    }
    let modules = match &block.modules {
        Modules::Listed(list) => list.iter().map(|m| m.path.as_str()).collect(),
        Modules::NotAccessible | Modules::Absent => Vec::new(),
    };
    let row = BlockRow {
        computer: &load.computer,
        time,
        timed: u8::from(block.recorded_at.is_some()),
        kind: load.kind,
        pid: block.pid,
        process: &block.process,
        user: block.user.as_deref().unwrap_or(""),
        system_process: u8::from(block.system_process),
        services: block.services.iter().map(|s| s.name.as_str()).collect(),
        modules,
        image_path: block.image_path().unwrap_or(""),
        has_image: u8::from(block.image_path().is_some()),
        port_table: serde_json::to_string(&block.ports).unwrap_or_default(),
        file: &load.name,
        line: block.line,
    };
    if let Ok(json) = serde_json::to_string(&row) {
        out.push_str(&json);
        out.push('\n');
    }
}
