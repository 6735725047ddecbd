//! The app's File › Open from ClickHouse: the PORTS rows and process blocks an ingest put in
//! a database, for some computers and a time range, read back into the same [`Dataset`] a
//! file load builds, so the grid, drill-down, criteria, statistics and timeline work on them
//! unchanged.
//!
//! What comes back, and how:
//! - Rows: those of the chosen computers (all when none is chosen) in the half-open time range,
//!   in time order (ties by computer, file and line), at most a cap of them (the earliest):
//!   [`Loaded::matching`] says how many matched, so a view cut by the cap says so. They are
//!   streamed as `TabSeparated` lines and decoded one by one: 10 million rows are never one
//!   answer in memory.
//! - Files: each row keeps the file and line ingest recorded. A file is known by its computer
//!   and name (two machines' logs share names), so it appears as `COMPUTER/PR-PORTS-....log`.
//! - Process blocks: every block of the chosen computers, whatever the time range (a row links
//!   to the latest block of its PID at or before it, however old), as `JSONEachRow`. A PIDS or
//!   INITIAL log is dated by the `System Date` of its header where ingest kept it (with the
//!   INITIAL start-up table, in `port_tables`), else by the stamp of its file name (Port
//!   Reporter names a set by the time it started, which is that date).
//!   The schema keeps services by name, modules by path and a block's port table, but not
//!   services' display names, modules' base addresses, a block's port statistics, or whether
//!   a block said its modules could not be read: the detail view shows what there is.
//! - Malformed lines: their number per file, as counted at ingest (the lines themselves
//!   are not in the database), one entry per file in the malformed-lines list.
//!
//! The SQL stays within what ClickHouse 18.16 accepts.

use std::borrow::Cow;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{NaiveDate, NaiveDateTime};
use rustc_hash::FxHashMap;
use serde::Deserialize;

use super::client::{ClickHouseError, Client, first_line, number, text};
use super::schema::{self, BLOCKS, FILES, PORT_TABLES, PORTS, computer_filter, row_filter};
use crate::analysis::dataset::Dataset;
use crate::analysis::time_range::TimeRange;
use crate::logs::computers::ComputerTable;
use crate::logs::header;
use crate::logs::initial::InitialLog;
use crate::logs::pids::{LogHeader, PidsLog};
use crate::logs::ports::{LoadProgress, PortsLog, PortsSource, parse_address};
use crate::logs::set::LogSet;
use crate::logs::text::{Encoding, LineIssue};
use crate::model::{
    AddrId, LoadedModule, Modules, PortEvent, PortField, PortMapping, ProcessBlock, Protocol, RowShape, Service,
};

/// Rows loaded unless told otherwise: as many as the app holds comfortably.
pub const DEFAULT_CAP: u64 = 10_000_000;

/// Rows between two looks at the cancel flag and two progress updates.
const ROWS_PER_TICK: u64 = 4096;

/// What to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Only these computers, by their names in the database; none: every computer.
    pub computers: Vec<String>,
    pub range: TimeRange,
    /// At most this many rows (at least one).
    pub cap: u64,
}

/// A dataset read from a database, and how much of what matched it holds.
#[derive(Debug)]
pub struct Loaded {
    pub dataset: Dataset,
    /// Rows that matched the computers and time range; more than the dataset holds when the
    /// cap cut the load.
    pub matching: u64,
}

impl Loaded {
    /// Rows loaded.
    pub fn rows(&self) -> u64 {
        self.dataset.set.ports.events.len() as u64
    }

    /// True when the cap left matching rows out.
    pub fn is_partial(&self) -> bool {
        self.matching > self.rows()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    ClickHouse(#[from] ClickHouseError),
    #[error("ClickHouse at {server}: database {database} holds no prparser tables (run prparser ingest first)")]
    NotIngested { server: String, database: String },
    #[error("ClickHouse at {server}: more than 65,535 {kind} files in the rows chosen; choose fewer computers")]
    TooManyFiles { server: String, kind: &'static str },
    #[error("cancelled")]
    Cancelled,
}

/// The computers the database holds rows or files of, by name.
pub fn computers(client: &Client) -> Result<Vec<String>, LoadError> {
    ingested(client)?;
    let rows = client.select(&format!(
        "SELECT DISTINCT computer FROM (SELECT computer FROM {FILES} UNION ALL SELECT DISTINCT computer FROM {PORTS}) \
         WHERE computer != '' ORDER BY computer"
    ))?;
    Ok(rows.iter().filter_map(|r| r.first()).map(|v| text(v).to_string()).collect())
}

/// Loads what `request` asks for; `Err(Cancelled)` once `progress` is cancelled.
pub fn load(client: &Client, request: &Request, progress: &LoadProgress) -> Result<Loaded, LoadError> {
    ingested(client)?;
    let of_computers = computer_filter(&request.computers);
    let filter = row_filter(&request.computers, &request.range);
    let matching = client
        .select(&format!("SELECT count() FROM {PORTS} WHERE {filter}"))?
        .first()
        .and_then(|r| r.first())
        .map_or(0, number);
    let cap = request.cap.max(1);
    let expected = matching.min(cap);
    progress.rows_expected.store(expected, Ordering::Relaxed);
    let mut set = LogSet::default();
    read_blocks(client, &of_computers, &mut set)?;
    date_initials(client, &of_computers, &mut set)?;
    check(progress)?;
    let mut rows = RowBuilder::new(client.server(), std::mem::take(&mut set.ports.computers));
    let answer = client.stream(&rows_sql(&filter, cap))?;
    let received = rows.read(answer, progress)?;
    if received < expected {
        return Err(LoadError::ClickHouse(ClickHouseError::Server {
            server: client.server().to_string(),
            message: format!("the answer ended after {received} of {expected} rows"),
        }));
    }
    set.ports = rows.finish();
    count_malformed(client, &of_computers, &mut set.ports)?;
    check(progress)?;
    let dataset = Dataset::from_set(Vec::new(), set);
    check(progress)?;
    Ok(Loaded { dataset, matching: matching.max(received) })
}

fn check(progress: &LoadProgress) -> Result<(), LoadError> {
    if progress.cancelled() { Err(LoadError::Cancelled) } else { Ok(()) }
}

/// Refuses a database without the ingest's tables (a mistyped name, or nothing ingested).
fn ingested(client: &Client) -> Result<(), LoadError> {
    if schema::exists(client)? {
        Ok(())
    } else {
        Err(LoadError::NotIngested { server: client.server().to_string(), database: client.database().to_string() })
    }
}

/// The rows query: the earliest `cap` rows matching `filter`, in the order the grid shows
/// them before any sort.
fn rows_sql(filter: &str, cap: u64) -> String {
    format!(
        "SELECT computer, time, protocol, local_ip, local_port, remote_ip, remote_port, pid, module, user, file, line \
         FROM {PORTS} WHERE {filter} ORDER BY time, computer, file, line LIMIT {cap} FORMAT TabSeparated"
    )
}

/// The name a file of `computer` goes by in the dataset: two machines' logs share names.
fn file_path(computer: &str, file: &str) -> PathBuf {
    Path::new(computer).join(file)
}

/// One line of the rows answer, its text fields unescaped.
#[derive(Debug, Clone, PartialEq)]
struct Row<'a> {
    computer: Cow<'a, str>,
    time: NaiveDateTime,
    protocol: Protocol,
    local_ip: Cow<'a, str>,
    local_port: u16,
    remote_ip: Cow<'a, str>,
    remote_port: PortField,
    pid: Option<u32>,
    module: Cow<'a, str>,
    user: Cow<'a, str>,
    file: Cow<'a, str>,
    line: u32,
}

/// The fields of one `TabSeparated` line, unescaped into buffers reused from line to line
/// (ten million rows are not a hundred million allocations).
#[derive(Debug, Default)]
struct Fields {
    bufs: Vec<Vec<u8>>,
    /// `\N`: NULL.
    null: Vec<bool>,
    len: usize,
}

impl Fields {
    fn split(&mut self, line: &[u8]) {
        self.len = 0;
        for raw in line.split(|&b| b == b'\t') {
            if self.bufs.len() == self.len {
                self.bufs.push(Vec::new());
                self.null.push(false);
            }
            let buf = &mut self.bufs[self.len];
            buf.clear();
            self.null[self.len] = raw == b"\\N";
            if !self.null[self.len] {
                unescape(raw, buf);
            }
            self.len += 1;
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    /// Field `i`; `None` for NULL or past the end.
    fn get(&self, i: usize) -> Option<&[u8]> {
        (i < self.len && !self.null[i]).then(|| self.bufs[i].as_slice())
    }

    /// Field `i` as text (NULL: empty); bytes that are not UTF-8 are replaced, not refused.
    fn text(&self, i: usize) -> Cow<'_, str> {
        String::from_utf8_lossy(self.get(i).unwrap_or_default())
    }
}

/// Undoes `TabSeparated`'s escapes (`\t`, `\n`, `\\`, ...).
fn unescape(raw: &[u8], out: &mut Vec<u8>) {
    if !raw.contains(&b'\\') {
        out.extend_from_slice(raw);
        return;
    }
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'0') => out.push(0),
            Some(b'b') => out.push(8),
            Some(b'f') => out.push(12),
            Some(&other) => out.push(other),
            None => out.push(b'\\'),
        }
    }
}

/// `YYYY-MM-DD hh:mm:ss`, as ClickHouse writes a `DateTime`, read without a format string
/// (chrono's parser costs more than the rest of a row). 18.16 writes the first second of 1970
/// (0 seconds) as `0000-00-00 00:00:00`.
fn parse_datetime(text: &[u8]) -> Option<NaiveDateTime> {
    if text == b"0000-00-00 00:00:00" {
        return Some(chrono::DateTime::UNIX_EPOCH.naive_utc());
    }
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, b' ', h0, h1, b':', i0, i1, b':', s0, s1] = *text else {
        return None;
    };
    let n = |digits: &[u8]| {
        digits.iter().try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(n(&[y0, y1, y2, y3])? as i32, n(&[m0, m1])?, n(&[d0, d1])?)?;
    date.and_hms_opt(n(&[h0, h1])?, n(&[i0, i1])?, n(&[s0, s1])?)
}

/// Field `i` as a number, or why not.
fn field_number<T: std::str::FromStr>(fields: &Fields, i: usize, what: &str) -> Result<T, String> {
    let text = fields.text(i);
    text.parse().map_err(|_| format!("unreadable {what} {text:?}"))
}

/// Reads one line of the rows answer; why not, when it is not a row.
fn decode(fields: &Fields) -> Result<Row<'_>, String> {
    if fields.len() != 12 {
        return Err(format!("{} fields where a row has 12", fields.len()));
    }
    let time = parse_datetime(fields.get(1).unwrap_or_default())
        .ok_or_else(|| format!("unreadable time {:?}", fields.text(1)))?;
    let protocol = Protocol::parse(fields.get(2).unwrap_or_default())
        .ok_or_else(|| format!("unknown protocol {:?}", fields.text(2)))?;
    let remote_port = match fields.get(6).unwrap_or_default() {
        b"" => PortField::Empty,
        b"*" => PortField::Any,
        _ => PortField::Num(field_number(fields, 6, "remote port")?),
    };
    let pid = match fields.get(7) {
        None => None,
        Some(_) => Some(field_number(fields, 7, "PID")?),
    };
    Ok(Row {
        computer: fields.text(0),
        time,
        protocol,
        local_ip: fields.text(3),
        local_port: field_number(fields, 4, "local port")?,
        remote_ip: fields.text(5),
        remote_port,
        pid,
        module: fields.text(8),
        user: fields.text(9),
        file: fields.text(10),
        line: field_number(fields, 11, "line number")?,
    })
}

/// Builds a PORTS log from rows as they arrive.
struct RowBuilder {
    server: String,
    log: PortsLog,
    /// Source index by computer, then file.
    sources: FxHashMap<String, FxHashMap<String, u16>>,
    /// Each address text parsed once.
    addrs: FxHashMap<String, AddrId>,
}

impl RowBuilder {
    fn new(server: &str, computers: ComputerTable) -> RowBuilder {
        RowBuilder {
            server: server.to_string(),
            log: PortsLog { computers, ..PortsLog::default() },
            sources: FxHashMap::default(),
            addrs: FxHashMap::default(),
        }
    }

    /// Reads the rows answer to its end; returns the rows read.
    fn read(&mut self, mut answer: impl BufRead, progress: &LoadProgress) -> Result<u64, LoadError> {
        let mut line = Vec::new();
        let mut fields = Fields::default();
        let mut received = 0u64;
        loop {
            line.clear();
            let n = answer.read_until(b'\n', &mut line).map_err(|e| self.error(format!("answer cut off: {e}")))?;
            if n == 0 {
                return Ok(received);
            }
            if line.last() == Some(&b'\n') {
                line.pop();
            }
            fields.split(&line);
            match decode(&fields) {
                Ok(row) => self.push(&row)?,
                // A server that fails mid-answer writes its exception where rows were, at
                // the start of a line or after the part of a row it had sent.
                Err(_) if let Some(at) = line.windows(6).position(|w| w == b"Code: ") => {
                    return Err(self.error(first_line(&String::from_utf8_lossy(&line[at..]))));
                }
                Err(why) => return Err(self.error(format!("row {} of the answer: {why}", received + 1))),
            }
            received += 1;
            if received.is_multiple_of(ROWS_PER_TICK) {
                progress.rows.store(received, Ordering::Relaxed);
                check(progress)?;
            }
        }
    }

    fn error(&self, message: String) -> LoadError {
        LoadError::ClickHouse(ClickHouseError::Server { server: self.server.clone(), message })
    }

    fn push(&mut self, row: &Row<'_>) -> Result<(), LoadError> {
        let source = self.source(&row.computer, &row.file)?;
        let local_ip = self.addr(&row.local_ip);
        let remote_ip = self.addr(&row.remote_ip);
        let log = &mut self.log;
        let shape = match row.pid {
            None => RowShape::W2k,
            Some(_) if row.user.is_empty() => RowShape::NoUser,
            Some(_) => RowShape::Full,
        };
        let mut e = PortEvent::new(
            row.time,
            row.protocol,
            row.local_port,
            local_ip,
            row.remote_port,
            remote_ip,
            row.pid,
            log.modules.intern(&row.module),
            log.users.intern(&row.user),
            shape,
        );
        e.line = row.line;
        e.source = source;
        log.events.push(e);
        if let Some(s) = log.sources.get_mut(usize::from(source)) {
            s.rows += 1;
        }
        Ok(())
    }

    fn addr(&mut self, text: &str) -> AddrId {
        if let Some(&id) = self.addrs.get(text) {
            return id;
        }
        let id = self.log.addrs.intern(parse_address(text.as_bytes()).unwrap_or(crate::model::Address::Empty));
        self.addrs.insert(text.to_string(), id);
        id
    }

    fn source(&mut self, computer: &str, file: &str) -> Result<u16, LoadError> {
        if let Some(&i) = self.sources.get(computer).and_then(|files| files.get(file)) {
            return Ok(i);
        }
        let index = u16::try_from(self.log.sources.len())
            .map_err(|_| LoadError::TooManyFiles { server: self.server.clone(), kind: "PORTS" })?;
        let path: Arc<Path> = Arc::from(file_path(computer, file));
        let id = self.log.computers.assign(&path, computer);
        self.log.sources.push(PortsSource {
            path,
            version: None,
            encoding: Encoding::Utf8OrAnsi,
            partner: None,
            rows: 0,
            malformed: 0,
            computer: id,
        });
        self.sources.entry(computer.to_string()).or_default().insert(file.to_string(), index);
        Ok(index)
    }

    fn finish(self) -> PortsLog {
        self.log
    }
}

/// A process block as the schema holds it.
#[derive(Debug, Deserialize)]
struct BlockRow {
    computer: String,
    kind: String,
    file: String,
    line: u32,
    time: String,
    timed: u8,
    pid: u32,
    process: String,
    user: String,
    system_process: u8,
    services: Vec<String>,
    modules: Vec<String>,
    port_table: String,
}

impl BlockRow {
    fn block(self, source: u16) -> ProcessBlock {
        let recorded_at =
            (self.timed != 0).then(|| NaiveDateTime::parse_from_str(&self.time, "%Y-%m-%d %H:%M:%S").ok()).flatten();
        let ports: Vec<PortMapping> = serde_json::from_str(&self.port_table).unwrap_or_default();
        let modules = if self.modules.is_empty() {
            Modules::Absent
        } else {
            Modules::Listed(self.modules.into_iter().map(|path| LoadedModule { path, base: None }).collect())
        };
        ProcessBlock {
            recorded_at,
            source,
            line: self.line,
            pid: self.pid,
            process: self.process,
            user: (!self.user.is_empty()).then_some(self.user),
            system_process: self.system_process != 0,
            services: self
                .services
                .into_iter()
                .map(|name| Service { name, display_name: None, service_type: None })
                .collect(),
            ports,
            port_statistics: Default::default(),
            modules,
        }
    }
}

/// Reads the process blocks of the computers `of_computers` selects into `set`'s PIDS and
/// INITIAL logs, one log per file, and assigns each file its computer in `set.ports`.
fn read_blocks(client: &Client, of_computers: &str, set: &mut LogSet) -> Result<(), LoadError> {
    let sql = format!(
        "SELECT computer, kind, file, line, time, timed, pid, process, user, system_process, services, modules, \
         port_table FROM {BLOCKS} WHERE {of_computers} ORDER BY computer, kind, file, line FORMAT JSONEachRow"
    );
    let server = client.server().to_string();
    let unreadable =
        |message: String| LoadError::ClickHouse(ClickHouseError::Server { server: server.clone(), message });
    let mut line = String::new();
    let mut answer = client.stream(&sql)?;
    let mut current: Option<(String, String, String)> = None;
    loop {
        line.clear();
        if answer.read_line(&mut line).map_err(|e| unreadable(format!("answer cut off: {e}")))? == 0 {
            return Ok(());
        }
        if line.trim().is_empty() {
            continue;
        }
        let row: BlockRow = match serde_json::from_str(&line) {
            Ok(row) => row,
            Err(_) if let Some(at) = line.find("Code: ") => return Err(unreadable(first_line(&line[at..]))),
            Err(e) => return Err(unreadable(format!("unreadable process block: {e}"))),
        };
        let key = (row.computer.clone(), row.kind.clone(), row.file.clone());
        if current.as_ref() != Some(&key) {
            new_block_log(set, &row).map_err(|kind| LoadError::TooManyFiles { server: server.clone(), kind })?;
            current = Some(key);
        }
        // `new_block_log` checked that the file's index fits in 16 bits.
        if row.kind == "INITIAL" {
            let source = set.initials.len().saturating_sub(1) as u16;
            if let Some(log) = set.initials.last_mut() {
                log.blocks.push(row.block(source));
            }
        } else {
            let source = set.pids.len().saturating_sub(1) as u16;
            if let Some(log) = set.pids.last_mut() {
                log.blocks.push(row.block(source));
            }
        }
    }
}

/// Starts the PIDS or INITIAL log of the file `row` belongs to.
fn new_block_log(set: &mut LogSet, row: &BlockRow) -> Result<(), &'static str> {
    let path: Arc<Path> = Arc::from(file_path(&row.computer, &row.file));
    set.ports.computers.assign(&path, &row.computer);
    let header = LogHeader {
        system_date: header::parse_file_name(&row.file).map(|(_, stamp)| stamp),
        computer_name: Some(row.computer.clone()),
        ..LogHeader::default()
    };
    if row.kind == "INITIAL" {
        u16::try_from(set.initials.len()).map_err(|_| "INITIAL")?;
        // Said where the INITIAL tab's empty table would otherwise read as "no mappings".
        set.problems.push(LineIssue::file_level(
            &path,
            "its start-up port table is not loaded from ClickHouse (the INITIAL tab lists none); its process blocks are",
        ));
        set.initials.push(InitialLog {
            path,
            header,
            mappings_found: None,
            mappings: Vec::new(),
            mappings_available: true,
            blocks: Vec::new(),
            warnings: Vec::new(),
        });
    } else {
        u16::try_from(set.pids.len()).map_err(|_| "PIDS")?;
        set.pids.push(PidsLog { path, header, blocks: Vec::new(), warnings: Vec::new(), mappings_available: true });
    }
    Ok(())
}

/// Dates INITIAL logs by the `System Date` of their header where the database has it (ingest
/// keeps it with the log's start-up table in `port_tables`; a database ingested before that
/// table existed does not), rather than by their file name's stamp: INITIAL blocks describe
/// rows from that time on.
fn date_initials(client: &Client, of_computers: &str, set: &mut LogSet) -> Result<(), LoadError> {
    if set.initials.is_empty() || !schema::holds(client, PORT_TABLES)? {
        return Ok(());
    }
    let rows = client.select(&format!(
        "SELECT computer, file, toString(time) FROM {PORT_TABLES} \
         WHERE kind = 'INITIAL' AND timed = 1 AND {of_computers}"
    ))?;
    for r in rows.iter().filter(|r| r.len() == 3) {
        let path = file_path(text(&r[0]), text(&r[1]));
        let date = parse_datetime(text(&r[2]).as_bytes());
        if let (Some(log), Some(date)) = (set.initials.iter_mut().find(|l| *l.path == *path), date) {
            log.header.system_date = Some(date);
        }
    }
    Ok(())
}

/// Counts the malformed lines ingest found in the computers' PORTS files (their latest load),
/// one entry per file.
fn count_malformed(client: &Client, of_computers: &str, log: &mut PortsLog) -> Result<(), LoadError> {
    let rows = client.select(&format!(
        "SELECT computer, file, argMax(malformed, length) FROM {FILES} \
         WHERE kind = 'PORTS' AND {of_computers} GROUP BY computer, file ORDER BY computer, file"
    ))?;
    for r in rows.iter().filter(|r| r.len() == 3) {
        let (computer, file, count) = (text(&r[0]), text(&r[1]), number(&r[2]));
        if count == 0 {
            continue;
        }
        let path: Arc<Path> = Arc::from(file_path(computer, file));
        if let Some(source) = log.sources.iter_mut().find(|s| s.path == path) {
            source.malformed = count;
        }
        let reason =
            format!("{count} malformed lines, counted at ingest (the database keeps their number, not their text)");
        log.malformed.add_counted(LineIssue::file_level(&path, reason), count);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str) -> Fields {
        let mut out = Fields::default();
        out.split(line.as_bytes());
        out
    }

    fn texts(f: &Fields) -> Vec<Option<String>> {
        (0..f.len()).map(|i| f.get(i).map(|b| String::from_utf8_lossy(b).into_owned())).collect()
    }

    #[test]
    fn the_rows_query_orders_by_time_and_stops_at_the_cap() {
        let sql = rows_sql("1", 25);
        assert!(
            sql.ends_with("FROM ports WHERE 1 ORDER BY time, computer, file, line LIMIT 25 FORMAT TabSeparated"),
            "{sql}"
        );
    }

    #[test]
    fn tab_separated_fields_are_unescaped_and_null_is_none() {
        assert_eq!(
            texts(&fields("a\\tb\tc\\\\d\\ne\t\\N\t\t\\'x")),
            vec![Some("a\tb".into()), Some("c\\d\ne".into()), None, Some(String::new()), Some("'x".into())]
        );
    }

    #[test]
    fn fields_reuse_their_buffers_and_replace_bytes_that_are_not_utf8() {
        let mut f = fields("a\tbb\tccc");
        f.split(b"x\t\xffy");
        assert_eq!(texts(&f), vec![Some("x".to_string()), Some("\u{fffd}y".to_string())]);
        assert_eq!(f.get(2), None, "past the end");
    }

    #[test]
    fn datetimes_read_in_their_one_format() {
        assert_eq!(parse_datetime(b"2008-06-30 10:00:09").map(|t| t.to_string()), Some("2008-06-30 10:00:09".into()));
        assert_eq!(parse_datetime(b"1970-01-01 00:00:00").map(|t| t.to_string()), Some("1970-01-01 00:00:00".into()));
        assert_eq!(
            parse_datetime(b"0000-00-00 00:00:00").map(|t| t.to_string()),
            Some("1970-01-01 00:00:00".into()),
            "18.16's zero"
        );
        for bad in
            [&b"2008-02-30 10:00:00"[..], b"2008-06-30 24:00:00", b"2008-06-30T10:00:00", b"2008-6-30 10:00:00", b"x"]
        {
            assert_eq!(parse_datetime(bad), None, "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn a_row_decodes_with_its_file_line_and_missing_pid() {
        let f = fields(
            "ALPHA\t2008-06-30 10:00:10\tTCP\t10.0.0.1\t1025\t192.0.2.10\t443\t1234\tapp.exe\tALPHA\\\\ann\tPR-PORTS-08-06-30-10-0-0.log\t5",
        );
        let row = decode(&f).expect("a row");
        assert_eq!(
            (&*row.computer, row.time.to_string(), row.protocol, row.local_port, row.remote_port, row.pid),
            ("ALPHA", "2008-06-30 10:00:10".to_string(), Protocol::Tcp, 1025, PortField::Num(443), Some(1234))
        );
        assert_eq!(
            (&*row.module, &*row.user, &*row.file, row.line),
            ("app.exe", "ALPHA\\ann", "PR-PORTS-08-06-30-10-0-0.log", 5)
        );
        let w2k = fields("W2K\t2005-07-06 13:44:04\tUDP\t0.0.0.0\t137\t*\t*\t\\N\t\t\tPR-PORTS-05-07-6-13-44-4.log\t9");
        let row = decode(&w2k).expect("a row");
        assert_eq!((row.pid, row.remote_port, &*row.remote_ip), (None, PortField::Any, "*"));
        let bad = fields("ALPHA\t2008-06-30 10:00:10\tICMP\t10.0.0.1\t1\t\t\t1\tx\t\tf\t1");
        assert_eq!(decode(&bad), Err("unknown protocol \"ICMP\"".to_string()));
        assert_eq!(
            decode(&fields("Code: 241, e.displayText() = DB::Exception: Memory limit")).map(|_| ()),
            Err("1 fields where a row has 12".to_string())
        );
    }

    #[test]
    fn rows_build_one_source_per_computer_and_file() {
        let answer = "A\t2008-06-30 10:00:00\tTCP\t10.0.0.1\t1\t192.0.2.1\t80\t7\tx.exe\tu\tPR-PORTS-1.log\t5\n\
                      B\t2008-06-30 10:00:01\tTCP\t10.0.0.2\t2\t192.0.2.1\t80\t7\tx.exe\tu\tPR-PORTS-1.log\t5\n\
                      A\t2008-06-30 10:00:02\tUDP\t10.0.0.1\t3\t*\t*\t\\N\t\t\tPR-PORTS-1.log\t6\n";
        let mut builder = RowBuilder::new("http://127.0.0.1:1", ComputerTable::default());
        let progress = LoadProgress::default();
        assert_eq!(builder.read(answer.as_bytes(), &progress).expect("rows"), 3);
        let log = builder.finish();
        let places: Vec<String> = log
            .events
            .iter()
            .map(|e| format!("{} {}:{}", log.computer(e), log.source_path(e).expect("a file").display(), e.line))
            .collect();
        assert_eq!(places, ["A A/PR-PORTS-1.log:5", "B B/PR-PORTS-1.log:5", "A A/PR-PORTS-1.log:6"]);
        assert_eq!(log.sources.iter().map(|s| s.rows).collect::<Vec<_>>(), [2, 1]);
        assert_eq!(log.events[2].shape(), RowShape::W2k);

        let failing = "A\t2008-06-30 10:00:00\tTCP\t10.0.0.1\t1\t192.0.2.1\t80\t7\tx.exe\tu\tf\t5\n\
                       A\t2008-06-30 10:00:01\tTCP\tCode: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded, e.what() = DB::Exception\n";
        let mut builder = RowBuilder::new("http://127.0.0.1:1", ComputerTable::default());
        let err = builder.read(failing.as_bytes(), &progress).expect_err("the server's exception");
        assert_eq!(err.to_string(), "ClickHouse at http://127.0.0.1:1: Memory limit (for query) exceeded");
    }

    /// Cancel is seen within a tick of rows, as a file load sees it within a block.
    #[test]
    fn a_cancelled_load_stops_reading() {
        let row = "A\t2008-06-30 10:00:00\tTCP\t10.0.0.1\t1\t192.0.2.1\t80\t7\tx.exe\tu\tf\t5\n";
        let answer = row.repeat(3 * ROWS_PER_TICK as usize);
        let progress = LoadProgress::default();
        let mut builder = RowBuilder::new("http://127.0.0.1:1", ComputerTable::default());
        assert_eq!(builder.read(answer.as_bytes(), &progress).expect("rows"), 3 * ROWS_PER_TICK);
        assert_eq!(progress.rows.load(Ordering::Relaxed), 3 * ROWS_PER_TICK);
        progress.cancel.store(true, Ordering::Relaxed);
        let mut builder = RowBuilder::new("http://127.0.0.1:1", ComputerTable::default());
        assert!(matches!(builder.read(answer.as_bytes(), &progress), Err(LoadError::Cancelled)));
        assert_eq!(builder.finish().events.len(), ROWS_PER_TICK as usize, "stopped at the first tick");
    }

    #[test]
    fn a_block_row_becomes_a_process_block_timed_or_not() {
        let json = r#"{"computer":"A","kind":"PIDS","file":"PR-PIDS-08-06-30-10-0-0.log","line":12,"time":"2008-06-30 10:00:00","timed":1,"pid":1234,"process":"app.exe","user":"A\\ann","system_process":0,"services":["Svc"],"modules":["C:\\app.exe"],"port_table":"[]"}"#;
        let row: BlockRow = serde_json::from_str(json).expect("a block row");
        let block = row.block(3);
        assert_eq!(block.recorded_at.map(|t| t.to_string()), Some("2008-06-30 10:00:00".to_string()));
        assert_eq!((block.source, block.line, block.pid, block.user.as_deref()), (3, 12, 1234, Some("A\\ann")));
        assert_eq!(block.image_path(), Some("C:\\app.exe"));
        assert_eq!(block.services[0].name, "Svc");
        let untimed =
            json.replace("\"timed\":1", "\"timed\":0").replace("\"modules\":[\"C:\\\\app.exe\"]", "\"modules\":[]");
        let block = serde_json::from_str::<BlockRow>(&untimed).expect("a block row").block(0);
        assert_eq!((block.recorded_at, block.modules), (None, Modules::Absent));
    }
}
