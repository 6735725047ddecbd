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
use super::port_tables;
use super::schema::{self, BLOCKS, FILES, PORT_TABLES, PORTS};
use crate::error::LogError;
use crate::logs::ports::{LoadProgress, RowBlock};
use crate::logs::set::{self, LogSet};
use crate::model::{ModuleDetail, Modules, PortEvent, ProcessBlock};

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
    /// The last line of the file the server holds (0: none): of its rows for a PORTS log, of
    /// its process blocks for a PIDS or INITIAL log.
    loaded_through: u32,
    /// The last line of the file the port-tables table holds (0: none).
    tables_through: u32,
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
    let landed_tables = last_lines(client, PORT_TABLES)?;
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
            let tables_through = landed_tables.get(&key).copied().unwrap_or(0);
            let hash = match known.get(&key) {
                None => hash_prefix(&path, length)?,
                Some((old_len, old_hash)) if *old_len <= length && hash_prefix(&path, *old_len)? == *old_hash => {
                    // A PIDS or INITIAL log loaded by a prparser that wrote no port tables is
                    // read again for them (its blocks are not sent again).
                    let tables_behind = match kind {
                        "PIDS" => tables_through < loaded_through,
                        "INITIAL" => tables_through < port_tables::INITIAL_TABLE_LINE,
                        _ => false,
                    };
                    if *old_len == length && !tables_behind {
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
            loads.insert(path.clone(), FileLoad { computer, name, kind, length, hash, loaded_through, tables_through });
            keep.push(path);
        }
        *list = keep;
    }
    summary.files_loaded = loads.len();
    if loads.is_empty() {
        return Ok(summary);
    }
    let mut streaming = set::stream_plan(plan, progress, ModuleDetail::All)?;
    replace_unfinished(client, &streaming.set, &mut loads)?;
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

/// Rows of one table gathered into batches and sent as they fill.
struct Batches<'a> {
    client: &'a Client,
    table: &'a str,
    buf: String,
    pending: usize,
    batch_rows: usize,
    sent: u64,
}

impl<'a> Batches<'a> {
    fn new(client: &'a Client, table: &'a str, batch_rows: usize) -> Batches<'a> {
        Batches { client, table, buf: String::new(), pending: 0, batch_rows, sent: 0 }
    }

    /// Counts the row just appended to `buf`; sends the batch once full.
    fn added(&mut self) -> Result<(), ClickHouseError> {
        self.pending += 1;
        if self.pending >= self.batch_rows { self.flush() } else { Ok(()) }
    }

    fn flush(&mut self) -> Result<(), ClickHouseError> {
        if self.pending > 0 {
            self.client.insert(self.table, self.buf.as_bytes())?;
            self.sent += self.pending as u64;
            self.buf.clear();
            self.pending = 0;
        }
        Ok(())
    }
}

/// Sends the process blocks of the PIDS and INITIAL logs being loaded, after the last line
/// the server holds of each, and their port tables likewise (the tables are sent after the
/// blocks, each table keyed by its own last line, so a retry completes either); returns how
/// many blocks were sent.
fn send_blocks(
    client: &Client,
    set: &LogSet,
    loads: &HashMap<PathBuf, FileLoad>,
    batch_rows: usize,
    out_of_range: &mut u64,
) -> Result<u64, ClickHouseError> {
    let logs = set.pids.iter().map(|l| (&l.path, &l.blocks)).chain(set.initials.iter().map(|l| (&l.path, &l.blocks)));
    let mut blocks = Batches::new(client, BLOCKS, batch_rows);
    for (path, list) in logs {
        let Some(load) = loads.get(path.as_ref()) else { continue };
        for block in list.iter().filter(|b| b.line > load.loaded_through) {
            if block.recorded_at.is_some_and(|t| !in_datetime_range(&t)) {
                *out_of_range += 1;
                continue;
            }
            block_row(&mut blocks.buf, load, block);
            blocks.added()?;
        }
    }
    blocks.flush()?;
    let mut tables = Batches::new(client, PORT_TABLES, batch_rows);
    for log in &set.initials {
        let Some(load) = loads.get(log.path.as_ref()) else { continue };
        let time = port_tables::initial_time(log);
        if load.tables_through < port_tables::INITIAL_TABLE_LINE && time.is_none_or(|t| in_datetime_range(&t)) {
            port_tables::push_initial(&mut tables.buf, &load.computer, &load.name, log);
            tables.added()?;
        }
    }
    for log in &set.pids {
        let Some(load) = loads.get(log.path.as_ref()) else { continue };
        for block in log.blocks.iter().filter(|b| b.line > load.tables_through) {
            if block.recorded_at.is_none_or(|t| in_datetime_range(&t)) {
                port_tables::push_block(&mut tables.buf, &load.computer, &load.name, block);
                tables.added()?;
            }
        }
    }
    tables.flush()?;
    Ok(blocks.sent)
}

/// The columns of a process-block row that a block written further changes, as the server
/// gives them back (its time as seconds).
const BLOCK_CONTENT: [&str; 11] = [
    "time",
    "timed",
    "pid",
    "process",
    "user",
    "system_process",
    "services",
    "modules",
    "image_path",
    "has_image",
    "port_table",
];

/// A PIDS or INITIAL log's last block that the server holds may have been read while the
/// collector was still writing it. When the log is loaded again (it grew), that block is read
/// again and compared with the server's copy; if they differ, the server's copy and its port
/// table are deleted (a mutation, waited for) and the whole block is sent with the rest. The
/// delete comes first, so a run stopped between the two leaves the server as if the block had
/// never been sent, and the next run sends it.
fn replace_unfinished(
    client: &Client,
    set: &LogSet,
    loads: &mut HashMap<PathBuf, FileLoad>,
) -> Result<(), ClickHouseError> {
    let logs = set.pids.iter().map(|l| (&l.path, &l.blocks)).chain(set.initials.iter().map(|l| (&l.path, &l.blocks)));
    for (path, blocks) in logs {
        let Some(load) = loads.get_mut(path.as_ref()) else { continue };
        let last = load.loaded_through;
        if last == 0 {
            continue;
        }
        let file = format!(
            "computer = {} AND file = {}",
            super::client::quote(&load.computer),
            super::client::quote(&load.name)
        );
        let stored = client.select(&format!(
            "SELECT {} FROM {BLOCKS} WHERE {file} AND line = {last}",
            BLOCK_CONTENT.map(|c| if c == "time" { "toUInt32(time)" } else { c }).join(", ")
        ))?;
        let mut now = String::new();
        if let Some(block) = blocks.iter().find(|b| b.line == last) {
            block_row(&mut now, load, block);
        }
        let mut now: Option<serde_json::Value> = serde_json::from_str(now.trim()).ok();
        // Compared as seconds: 18.16 writes the zero time as `0000-00-00 00:00:00`.
        if let Some(time) = now.as_mut().and_then(|n| n.get_mut("time")) {
            let seconds = NaiveDateTime::parse_from_str(time.as_str().unwrap_or(""), "%Y-%m-%d %H:%M:%S")
                .map_or(0, |t| t.and_utc().timestamp());
            *time = serde_json::Value::from(seconds);
        }
        let unchanged = match (stored.as_slice(), &now) {
            ([row], Some(now)) => {
                BLOCK_CONTENT.iter().zip(row).all(|(column, old)| now.get(*column).is_some_and(|new| same(old, new)))
            }
            _ => false,
        };
        if unchanged {
            continue;
        }
        for table in [BLOCKS, PORT_TABLES] {
            delete_where(client, table, &format!("{file} AND line >= {last}"))?;
        }
        load.loaded_through = last - 1;
        load.tables_through = load.tables_through.min(last - 1);
    }
    Ok(())
}

/// Whether a value the server gave back is the one sent (numbers may come back as text).
fn same(old: &serde_json::Value, new: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (old, new) {
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y)),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Number(_) | Value::String(_), Value::Number(_)) => number(old) == number(new),
        _ => false,
    }
}

/// How long a delete may take before the ingest gives up on it.
const MUTATION_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// Deletes `table`'s rows that meet `condition` and waits until the server has (18.16
/// applies a delete in the background and has no setting to wait for it).
fn delete_where(client: &Client, table: &str, condition: &str) -> Result<(), ClickHouseError> {
    let database = client.database();
    client.execute(&format!("ALTER TABLE {database}.{table} DELETE WHERE {condition}"))?;
    let pending = format!(
        "SELECT count() FROM system.mutations WHERE database = {} AND table = {} AND is_done = 0",
        super::client::quote(database),
        super::client::quote(table)
    );
    let started = std::time::Instant::now();
    loop {
        let rows = client.select(&pending)?;
        if rows.first().and_then(|r| r.first()).map_or(0, number) == 0 {
            return Ok(());
        }
        if started.elapsed() > MUTATION_WAIT {
            return Err(ClickHouseError::Server {
                server: client.server().to_string(),
                message: format!(
                    "the delete of a half-written block from {database}.{table} is not done after {} s; run the ingest again once it is",
                    MUTATION_WAIT.as_secs()
                ),
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
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
