//! The body of a process block, the part PR-PIDS and PR-INITIAL share: `Process ID:`, user,
//! services, port table, `Port Statistics`, loaded modules.
//!
//! Port Reporter wrote these blocks for people reading them in Notepad, not for programs: columns
//! are separated by whatever runs of tabs and spaces lined them up on the author's screen, states
//! can be two words, names contain spaces and parentheses, and the samples we have disagree on
//! blank lines. So the reader recognises each line by its own shape, in any order, and turns a
//! line it cannot place into a [`LineIssue`] instead of giving up on the file.
//!
//! The writer produces the layout of the knowledge-base sample (KB 837243), tabs included. Text
//! fields (process names, user contexts, service names, module paths) have their control
//! characters replaced by spaces on the way out, so a hostile process name such as
//! `"x)\r\nUser context: SYSTEM"` cannot forge a line. A block therefore carries names cleaned,
//! not byte for byte: the PR-PORTS log is where names round-trip exactly.

use std::borrow::Cow;
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::error::LogError;
use crate::logs::issues::KeptIssues;
use crate::logs::text::{
    Line, LineIssue, LineReader, MAX_LINE_BYTES, TextReader, field_text, numbered_lines, shared_path,
};
use crate::model::{
    Address, LoadedModule, ModuleDetail, Modules, PortField, PortMapping, PortStatistics, ProcessBlock, Protocol,
    Service, StateShare, TcpState,
};

/// Line ending of everything the writers produce: Port Reporter ran on Windows and its users
/// open the logs in Notepad, which before Windows 10 shows a bare LF file as one line.
pub const EOL: &str = "\r\n";

/// The separator Port Reporter writes between PIDS entries and between INITIAL blocks.
pub const SEPARATOR: &str = "======================================================";

/// The header line of a block's port table, as in the KB sample.
pub const PORT_TABLE_HEADER: &str = "PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port";

/// Windows 2000 cannot map ports to processes; both PIDS and INITIAL then say so instead.
pub const MAPPINGS_UNAVAILABLE: &str = "Port to process mappings are not available on this system.";

/// PIDS and INITIAL text read from one file at most: their blocks take several times the
/// memory of their text, so a multi-gigabyte file (real ones are megabytes) is read this far
/// and the rest is skipped with a warning, instead of exhausting memory.
pub const MAX_PROCESS_LOG_BYTES: u64 = 256 << 20;

/// A reader of PIDS or INITIAL lines, fed one line at a time.
pub trait LineSink {
    /// The log the reader makes of the whole file.
    type Log;
    fn line(&mut self, number: u32, line: &str);
    fn issues(&mut self) -> &mut Issues;
    /// Ends the file: checks what only the whole file tells (counts announced, the header's
    /// kind) and gives the log named by `path`.
    fn finish(self, path: &Arc<Path>) -> Self::Log;
}

/// Reads a PIDS or INITIAL log from bytes in memory with `sink`. Never fails: a reading error
/// becomes a file-level warning, and what was read before it still loads.
pub fn parse_log<S: LineSink>(path: &Arc<Path>, raw: &[u8], mut sink: S) -> S::Log {
    if let Err(e) = read_lines(raw, MAX_PROCESS_LOG_BYTES, &mut sink) {
        sink.issues().file_level(e.to_string());
    }
    sink.finish(path)
}

/// Reads a PIDS or INITIAL log from `raw`, at most `cap` bytes of text, with the reader
/// `sink` makes for the log's shared path. Fails only when reading fails.
pub fn read_log_capped<S: LineSink>(
    path: &Path,
    raw: impl io::Read,
    cap: u64,
    sink: impl FnOnce(&Arc<Path>) -> S,
) -> Result<S::Log, LogError> {
    let shared = shared_path(path);
    let mut reader = sink(&shared);
    read_lines(raw, cap, &mut reader).map_err(|e| LogError::io(path, e))?;
    Ok(reader.finish(&shared))
}

/// Streams the lines of a PIDS or INITIAL file (any encoding [`TextReader`] knows) to `sink`,
/// holding one line at a time. Over-long lines and the text past `cap` bytes become warnings.
pub fn read_lines(raw: impl io::Read, cap: u64, sink: &mut impl LineSink) -> io::Result<()> {
    let mut lines = LineReader::new(TextReader::new(raw)?);
    while let Some(line) = lines.next_line()? {
        match line {
            Line::Text(number, bytes) => sink.line(number, &field_text(bytes)),
            Line::TooLong(number, head) => sink.issues().warn(
                number,
                format!("line longer than {MAX_LINE_BYTES} bytes; skipped"),
                &field_text(head),
            ),
        }
        if lines.consumed() > cap {
            sink.issues().file_level(format!("file larger than {} MiB: the rest is not read", cap >> 20));
            break;
        }
    }
    Ok(())
}

/// A port row has at most nine columns plus the words of a process name; a longer "row" is
/// garbage, and collecting its columns would cost memory per whitespace character.
const MAX_COLUMNS: usize = 64;

/// Shortest run of `=` taken for a separator: the samples use 54 and 77, the lab sheet 5.
const SEPARATOR_MIN: usize = 5;

/// The column a statistics count is aligned to, with tab stops of 8 (derived from the sample:
/// `LISTENING state: ` + one tab, `SYN SENT state: ` + two).
const STATE_COUNT_COLUMN: usize = 40;

/// Warnings of one file, counted and kept as [`KeptIssues`] are: a hostile file of millions
/// of bad lines would otherwise cost a warning (path, reason, excerpt) per line, far more
/// memory than the file itself.
#[derive(Debug)]
pub struct Issues {
    file: Arc<Path>,
    kept: KeptIssues,
}

impl Issues {
    pub fn new(file: &Arc<Path>) -> Issues {
        Issues { file: Arc::clone(file), kept: KeptIssues::default() }
    }

    /// Records a problem with line `line` whose text was `text`.
    pub fn warn(&mut self, line: u32, reason: impl Into<String>, text: &str) {
        self.kept.add_with(|| LineIssue::new(&self.file, line, reason, text.as_bytes()));
    }

    /// Records a problem with the file as a whole.
    pub fn file_level(&mut self, reason: impl Into<String>) {
        self.kept.add_with(|| LineIssue::file_level(&self.file, reason));
    }

    /// The issues, with one closing note for those beyond the cap.
    pub fn into_vec(self) -> Vec<LineIssue> {
        self.kept.into_listed(&self.file)
    }
}

/// `text` without `prefix`, compared ignoring ASCII case; `None` when it does not start so.
pub fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { text.get(prefix.len()..) } else { None }
}

/// A line made only of `=` (at least five): the end of a block.
pub fn is_separator(line: &str) -> bool {
    let t = line.trim();
    t.len() >= SEPARATOR_MIN && t.bytes().all(|b| b == b'=')
}

/// The Windows 2000 line that replaces all process detail.
pub fn is_mappings_unavailable(line: &str) -> bool {
    strip_prefix_ci(line.trim(), "Port to process mappings are not available").is_some()
}

/// What follows `Process ID:` when the line is one.
pub fn process_id_rest(line: &str) -> Option<&str> {
    strip_prefix_ci(line.trim_start(), "Process ID:")
}

/// Parses a decimal number made only of ASCII digits; `str::parse` alone would take `+5`.
pub(crate) fn digits<T: FromStr>(text: &str) -> Option<T> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Reads `664 (iexplore.exe)`: the name is everything between the first `(` after the PID and
/// the last `)`, because names may themselves hold parentheses (`Setup (x86).exe`). A missing
/// name gives `Ok((pid, None))`.
pub fn parse_process_id(rest: &str) -> Result<(u32, Option<String>), String> {
    let rest = rest.trim_start();
    let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let (number, after) = rest.split_at(end);
    let pid = digits(number).ok_or("Process ID is not a number")?;
    let Some(open) = after.find('(') else {
        return Ok((pid, None));
    };
    let inner = after.get(open + 1..).unwrap_or("");
    let name = match inner.rfind(')') {
        Some(close) => inner.get(..close).unwrap_or(inner),
        None => inner.trim_end(),
    };
    Ok((pid, Some(name.to_string())))
}

/// Reads an address column that may hold an IPv4, a bare or bracketed IPv6 address, or `*`.
fn parse_local(text: &str) -> Result<Address, String> {
    if text == "*" {
        return Ok(Address::Any);
    }
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    bare.parse::<IpAddr>().map(Address::Ip).map_err(|_| format!("local address {} is not an IP address", short(text)))
}

/// Reads the remote column: `v4:port`, `[v6]:port`, a bare address (no port, as in INITIAL
/// tables and for IPv6 written without brackets), `*:*` or `*`. `None` means the text is not a
/// remote address at all (it is then a state word).
pub fn parse_remote(text: &str) -> Option<(Address, PortField)> {
    if text == "*" {
        return Some((Address::Any, PortField::Empty));
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some((Address::Ip(ip), PortField::Empty));
    }
    let (host, port) = match text.strip_prefix('[') {
        Some(inner) => {
            let (host, after) = inner.split_once(']')?;
            let port = if after.is_empty() { "" } else { after.strip_prefix(':')? };
            (Address::Ip(host.parse().ok()?), port)
        }
        None => {
            let (host, port) = text.rsplit_once(':')?;
            (remote_host(host)?, port)
        }
    };
    Some((host, remote_port(port)?))
}

fn remote_host(text: &str) -> Option<Address> {
    match text {
        "" => Some(Address::Empty),
        "*" => Some(Address::Any),
        _ => text.parse().ok().map(Address::Ip),
    }
}

fn remote_port(text: &str) -> Option<PortField> {
    match text {
        "" => Some(PortField::Empty),
        "*" => Some(PortField::Any),
        _ => digits(text).map(PortField::Num),
    }
}

/// At most the first 40 characters of a value, for quoting it in a warning.
fn short(text: &str) -> String {
    let mut out: String = text.chars().take(40).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    format!("{out:?}")
}

/// The whitespace-separated columns of a line, or an error when there are absurdly many.
pub(crate) fn columns(text: &str) -> Result<Vec<&str>, String> {
    Ok(columns_at(text)?.into_iter().map(|(_, col)| col).collect())
}

/// The columns of a line with their byte offsets, so a caller can take the text between two
/// columns verbatim (a process name with its own spaces).
pub(crate) fn columns_at(text: &str) -> Result<Vec<(usize, &str)>, String> {
    let mut cols = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                if cols.len() == MAX_COLUMNS {
                    return Err("too many columns for a port table row".into());
                }
                cols.push((s, text.get(s..i).unwrap_or("")));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    Ok(cols)
}

/// Reads the columns from the protocol on: `TCP 4867 0.0.0.0 LISTENING 0.0.0.0:4225`,
/// `UDP 4817 127.0.0.1 *:*`, `TCP 4873 169.254.66.8 SYN SENT 169.254.44.12:80`. The last column
/// is the remote address when it reads as one; whatever lies between it and the local address is
/// the state. UDP rows get no state whatever the column says (INITIAL writes `LISTENING` or `*:*`
/// there), as [`PortMapping::state`] promises.
pub(crate) fn parse_columns(pid: u32, cols: &[&str]) -> Result<PortMapping, String> {
    let [proto, port, local, rest @ ..] = cols else {
        return Err("port table row has too few columns".into());
    };
    let protocol = Protocol::parse(proto.as_bytes()).ok_or("protocol is neither TCP nor UDP")?;
    let local_port = digits(port).ok_or_else(|| format!("local port {} is not a port number", short(port)))?;
    let local_ip = parse_local(local)?;
    let (state_words, (remote_ip, remote_port)) = if let Some((last, words)) = rest.split_last()
        && let Some(remote) = parse_remote(last)
    {
        (words, remote)
    } else {
        (rest, (Address::Empty, PortField::Empty))
    };
    let state = match protocol {
        Protocol::Udp => None,
        Protocol::Tcp => parse_state_column(state_words),
    };
    Ok(PortMapping { pid, process: None, protocol, local_port, local_ip, state, remote_ip, remote_port })
}

fn parse_state_column(words: &[&str]) -> Option<TcpState> {
    let text = words.join(" ");
    if text == "*:*" || text == "*" { None } else { TcpState::parse(&text) }
}

/// True for `664\tTCP 4867 ...`: a number, then a protocol.
fn looks_like_row(line: &str) -> bool {
    let mut cols = line.split_whitespace();
    cols.next().is_some_and(|c| c.bytes().all(|b| b.is_ascii_digit()))
        && cols.next().is_some_and(|c| Protocol::parse(c.as_bytes()).is_some())
}

/// Reads a block's port table row (`664\tTCP 4867  \t0.0.0.0 \tLISTENING\t 0.0.0.0:4225`).
pub fn parse_port_row(line: &str) -> Result<PortMapping, String> {
    let cols = columns(line)?;
    let (first, rest) = cols.split_first().ok_or("empty port table row")?;
    let pid = digits(first).ok_or("row PID is not a number")?;
    parse_columns(pid, rest)
}

/// Reads `path (0xBASE)`. The base is the last parenthesised group, and only when it is hex, so
/// `C:\Program Files (x86)\a.dll (0x10000000)` keeps its `(x86)`.
pub fn parse_module(line: &str) -> LoadedModule {
    let t = line.trim();
    if let Some(body) = t.strip_suffix(')')
        && let Some(open) = body.rfind('(')
        && let Some(base) = body.get(open + 1..).and_then(parse_hex)
    {
        let path = body.get(..open).unwrap_or("").trim_end();
        return LoadedModule { path: path.to_string(), base: Some(base) };
    }
    LoadedModule { path: t.to_string(), base: None }
}

fn parse_hex(text: &str) -> Option<u64> {
    let t = text.trim();
    let hex = strip_prefix_ci(t, "0x")?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok()
}

/// Reads what follows `TCP ports in a`: `LISTENING state: \t2 = 50.00%`.
fn parse_state_share(rest: &str) -> Result<StateShare, String> {
    let at = rest.to_ascii_lowercase().rfind("state:").ok_or("statistics line without `state:`")?;
    let name = rest.get(..at).unwrap_or("").trim();
    let state = TcpState::parse(name).ok_or("statistics line names no state")?;
    let value = rest.get(at + "state:".len()..).unwrap_or("").trim();
    let (count, percent) = match value.split_once('=') {
        Some((count, percent)) => (count.trim(), Some(parse_percent(percent)?)),
        None => (value, None),
    };
    let count = digits(count).ok_or("statistics count is not a number")?;
    Ok(StateShare { state, count, percent })
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim_end();
    let unsigned = number.strip_prefix('-').unwrap_or(number);
    let plain = !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    match number.parse::<f64>() {
        Ok(p) if plain && p.is_finite() => Ok(p),
        _ => Err("statistics percentage is not a number".into()),
    }
}

fn parse_count(text: &str) -> Result<u32, String> {
    digits(text.trim()).ok_or_else(|| "mapping count is not a number".into())
}

/// The outcome of offering a line to one group of rules: `None` when the line is not theirs.
type Claim = Option<Result<(), String>>;

/// Builds one [`ProcessBlock`] from its lines.
#[derive(Debug)]
pub struct BlockParser {
    block: ProcessBlock,
    /// After `Loaded modules:`: lines that are nothing else are module paths.
    in_modules: bool,
}

impl BlockParser {
    /// Starts a block at its `Process ID:` line (`rest` is what follows the colon). A block
    /// whose PID cannot be read cannot be matched to anything, so it is refused.
    pub fn start(
        rest: &str,
        line: u32,
        source: u16,
        recorded_at: Option<NaiveDateTime>,
    ) -> Result<BlockParser, String> {
        let (pid, process) = parse_process_id(rest)?;
        let block = ProcessBlock {
            recorded_at,
            source,
            line,
            pid,
            process: process.unwrap_or_default(),
            user: None,
            system_process: false,
            services: Vec::new(),
            ports: Vec::new(),
            port_statistics: PortStatistics::default(),
            modules: Modules::Absent,
        };
        Ok(BlockParser { block, in_modules: false })
    }

    /// Takes one line of the block body; blank lines are skipped, lines it cannot place become
    /// warnings.
    pub fn feed(&mut self, line: &str, number: u32, issues: &mut Issues) {
        let t = line.trim();
        if t.is_empty() {
            return;
        }
        if let Err(reason) = self.apply(t, number, issues) {
            issues.warn(number, reason, line);
        }
    }

    pub fn finish(self) -> ProcessBlock {
        self.block
    }

    fn apply(&mut self, t: &str, number: u32, issues: &mut Issues) -> Result<(), String> {
        // A module line with a base is a module even if its path reads like a keyword.
        if self.in_modules && t.ends_with(')') {
            let module = parse_module(t);
            if module.base.is_some() {
                self.push_module(module);
                return Ok(());
            }
        }
        if let Some(done) = self.identity_line(t).or_else(|| self.service_line(t)) {
            return done;
        }
        if let Some(done) = self.port_line(t, number, issues).or_else(|| self.statistics_line(t)) {
            return done;
        }
        if let Some(done) = self.module_section_line(t) {
            return done;
        }
        if self.in_modules {
            self.push_module(parse_module(t));
            return Err("module line without a base address".into());
        }
        Err("unrecognised line in a process block".into())
    }

    fn identity_line(&mut self, t: &str) -> Claim {
        if let Some(user) = strip_prefix_ci(t, "User context:") {
            self.block.user = Some(user.trim().to_string());
        } else if t.eq_ignore_ascii_case("System Process") {
            self.block.system_process = true;
        } else if strip_prefix_ci(t, "Process doesn").is_none() {
            return None;
        }
        Some(Ok(()))
    }

    fn service_line(&mut self, t: &str) -> Claim {
        if let Some(name) = strip_prefix_ci(t, "Service Name:") {
            let service = Service { name: name.trim().to_string(), display_name: None, service_type: None };
            self.block.services.push(service);
            return Some(Ok(()));
        }
        let (value, is_display) = match strip_prefix_ci(t, "Display Name:") {
            Some(v) => (v, true),
            None => (strip_prefix_ci(t, "Service Type:")?, false),
        };
        let Some(last) = self.block.services.last_mut() else {
            return Some(Err("service detail without a `Service Name:` line".into()));
        };
        let slot = if is_display { &mut last.display_name } else { &mut last.service_type };
        if slot.is_some() {
            return Some(Err("service detail repeated for one service".into()));
        }
        *slot = Some(value.trim().to_string());
        Some(Ok(()))
    }

    fn port_line(&mut self, t: &str, number: u32, issues: &mut Issues) -> Claim {
        let mut cols = t.split_whitespace();
        let first = cols.next()?;
        if first.eq_ignore_ascii_case("PID") && cols.next().is_some_and(|c| c.eq_ignore_ascii_case("Port")) {
            return Some(Ok(()));
        }
        if !looks_like_row(t) {
            return None;
        }
        Some(parse_port_row(t).map(|row| {
            if row.pid != self.block.pid {
                issues.warn(number, format!("row PID {} differs from the block's PID {}", row.pid, self.block.pid), t);
            }
            self.block.ports.push(row);
        }))
    }

    fn statistics_line(&mut self, t: &str) -> Claim {
        let stats = &mut self.block.port_statistics;
        if t.eq_ignore_ascii_case("Port Statistics") {
            Some(Ok(()))
        } else if let Some(n) = strip_prefix_ci(t, "TCP mappings:") {
            Some(parse_count(n).map(|n| stats.tcp_mappings = Some(n)))
        } else if let Some(n) = strip_prefix_ci(t, "UDP mappings:") {
            Some(parse_count(n).map(|n| stats.udp_mappings = Some(n)))
        } else {
            let rest = strip_prefix_ci(t, "TCP ports in a")?;
            Some(parse_state_share(rest).map(|share| stats.states.push(share)))
        }
    }

    fn module_section_line(&mut self, t: &str) -> Claim {
        if strip_prefix_ci(t, "Loaded modules:").is_some() {
            if !matches!(self.block.modules, Modules::Listed(_)) {
                self.block.modules = Modules::Listed(Vec::new());
            }
            self.in_modules = true;
        } else if strip_prefix_ci(t, "Could not access module information").is_some() {
            self.block.modules = Modules::NotAccessible;
            self.in_modules = false;
        } else {
            return None;
        }
        Some(Ok(()))
    }

    fn push_module(&mut self, module: LoadedModule) {
        match &mut self.block.modules {
            Modules::Listed(list) => list.push(module),
            other => *other = Modules::Listed(vec![module]),
        }
    }
}

/// The blocks of a log as its lines arrive: a `Process ID:` line opens one, a separator (or
/// whatever the log reader decides ends a block) closes it.
#[derive(Debug)]
pub struct BlockStream {
    source: u16,
    detail: ModuleDetail,
    open: Option<BlockParser>,
    /// The lines after an unreadable `Process ID:` line belong to no block; they are dropped
    /// quietly (one warning was given) until the next block boundary.
    skipping: bool,
    blocks: Vec<ProcessBlock>,
}

impl BlockStream {
    pub fn new(source: u16) -> BlockStream {
        BlockStream::keeping(source, ModuleDetail::All)
    }

    /// A stream that keeps `detail` of each block's module list.
    pub fn keeping(source: u16, detail: ModuleDetail) -> BlockStream {
        BlockStream { source, detail, open: None, skipping: false, blocks: Vec::new() }
    }

    /// Ends the open block, if any.
    pub fn close(&mut self) {
        if let Some(parser) = self.open.take() {
            let mut block = parser.finish();
            if self.detail == ModuleDetail::ImageOnly {
                block.keep_image_only();
            }
            self.blocks.push(block);
        }
        self.skipping = false;
    }

    /// Opens a block at a `Process ID:` line (`rest` follows the colon).
    pub fn start(
        &mut self,
        rest: &str,
        number: u32,
        recorded_at: Option<NaiveDateTime>,
        line: &str,
        issues: &mut Issues,
    ) {
        self.close();
        match BlockParser::start(rest, number, self.source, recorded_at) {
            Ok(parser) => {
                if parser.block.process.is_empty() && !rest.contains('(') {
                    issues.warn(number, "Process ID line without a process name", line);
                }
                self.open = Some(parser);
            }
            Err(reason) => {
                issues.warn(number, format!("{reason}; the lines of this block are skipped"), line);
                self.skipping = true;
            }
        }
    }

    /// Gives a line to the open block. `false` when no block is open: the line is the caller's.
    pub fn feed(&mut self, line: &str, number: u32, issues: &mut Issues) -> bool {
        match &mut self.open {
            Some(parser) => parser.feed(line, number, issues),
            None if self.skipping => {}
            None => return false,
        }
        true
    }

    pub fn into_blocks(mut self) -> Vec<ProcessBlock> {
        self.close();
        self.blocks
    }
}

/// Reads the process blocks of a text holding nothing else (blocks separated by `=====` lines),
/// numbering lines from `first_line`. Lines outside any block become warnings.
pub fn parse_blocks(
    file: &Arc<Path>,
    source: u16,
    text: &[u8],
    first_line: u32,
) -> (Vec<ProcessBlock>, Vec<LineIssue>) {
    let mut issues = Issues::new(file);
    let mut stream = BlockStream::new(source);
    for (number, bytes) in numbered_lines(text, first_line) {
        let line = field_text(bytes);
        if is_separator(&line) {
            stream.close();
        } else if let Some(rest) = process_id_rest(&line) {
            stream.start(rest, number, None, &line, &mut issues);
        } else if !stream.feed(&line, number, &mut issues) && !line.trim().is_empty() {
            issues.warn(number, "line outside any process block", &line);
        }
    }
    (stream.into_blocks(), issues.into_vec())
}

/// A text field made safe to write on one line: control characters (CR, LF, TAB, NUL, C1) and
/// Unicode line/paragraph separators become spaces. Borrowed when nothing had to change.
pub fn clean(text: &str) -> Cow<'_, str> {
    if text.contains(unwritable) {
        Cow::Owned(text.chars().map(|c| if unwritable(c) { ' ' } else { c }).collect())
    } else {
        Cow::Borrowed(text)
    }
}

/// What [`clean`] writes as a space.
fn unwritable(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// A character of a process name as compared across logs: as [`clean`] writes it, in lower
/// case (ASCII only, as Windows compares file names).
#[inline]
fn name_char(c: char) -> char {
    if unwritable(c) { ' ' } else { c.to_ascii_lowercase() }
}

/// A process name in the form names are compared in (see [`same_name`]).
pub fn name_key(name: &str) -> String {
    name.chars().map(name_char).collect()
}

/// Whether `name` (as any log holds it) is the process whose [`name_key`] is `key`. The
/// PORTS log keeps a line break or tab of a name inside its quotes; PIDS and INITIAL logs,
/// which cannot quote, write it as a space ([`clean`]); the same process must match in both.
pub fn same_name(key: &str, name: &str) -> bool {
    let mut want = key.chars();
    name.chars().all(|c| want.next() == Some(name_char(c))) && want.next().is_none()
}

/// Writes one block in the KB layout, ending with a line ending (no separator).
///
/// `parse(write(block)) == block` for every block a log can produce; the text cannot carry:
/// control characters in text fields (written as spaces), surrounding whitespace of user,
/// service and module text (trimmed on reading), percentages beyond two decimals, a state on a
/// UDP row, an empty local address (written `*`), and a base-less module path ending in `(0x…)`.
pub fn write_block<W: Write>(w: &mut W, block: &ProcessBlock) -> io::Result<()> {
    write_identity(w, block)?;
    write_services(w, block)?;
    write_port_table(w, &block.ports)?;
    write_statistics(w, &block.port_statistics)?;
    write_modules(w, &block.modules)
}

fn write_identity<W: Write>(w: &mut W, block: &ProcessBlock) -> io::Result<()> {
    write!(w, "Process ID: {} ({}){EOL}", block.pid, clean(&block.process))?;
    if block.system_process {
        write!(w, "System Process{EOL}")?;
    }
    if let Some(user) = &block.user {
        write!(w, "User context: {}{EOL}", clean(user))?;
    }
    Ok(())
}

fn write_services<W: Write>(w: &mut W, block: &ProcessBlock) -> io::Result<()> {
    if block.services.is_empty() && !block.system_process {
        write!(w, "Process doesn't appear to be a service{EOL}")?;
    }
    for service in &block.services {
        write!(w, "Service Name: {}{EOL}", clean(&service.name))?;
        if let Some(display) = &service.display_name {
            write!(w, "Display Name: {}{EOL}", clean(display))?;
        }
        if let Some(kind) = &service.service_type {
            write!(w, "Service Type: {}{EOL}", clean(kind))?;
        }
    }
    Ok(())
}

fn write_port_table<W: Write>(w: &mut W, ports: &[PortMapping]) -> io::Result<()> {
    if ports.is_empty() {
        return Ok(());
    }
    write!(w, "{PORT_TABLE_HEADER}{EOL}")?;
    for row in ports {
        write!(w, "{}\t", row.pid)?;
        write_row_tail(w, row)?;
    }
    Ok(())
}

/// Writes a row from the protocol on, line ending included:
/// `TCP 4867  \t0.0.0.0 \tLISTENING\t 0.0.0.0:4225` or `UDP 4817  \t127.0.0.1 \t\t\t *:*`.
pub(crate) fn write_row_tail<W: Write>(w: &mut W, row: &PortMapping) -> io::Result<()> {
    let local = match row.local_ip {
        Address::Ip(ip) => ip.to_string(),
        Address::Any | Address::Empty => "*".to_string(),
    };
    write!(w, "{} {}  \t{local} \t", row.protocol, row.local_port)?;
    match (&row.state, row.protocol) {
        (Some(state), Protocol::Tcp) => write!(w, "{}\t", clean(state.as_log_str()))?,
        _ => write!(w, "\t\t")?,
    }
    write!(w, " {}{EOL}", remote_text(row.remote_ip, row.remote_port))
}

/// The remote column: brackets around an IPv6 address only when a port follows, so that a bare
/// address reads back as an address and never as `address:port`.
pub fn remote_text(ip: Address, port: PortField) -> String {
    match (ip, port) {
        (ip, PortField::Empty) => ip.to_string(),
        (Address::Ip(IpAddr::V6(v6)), port) => format!("[{v6}]:{port}"),
        (ip, port) => format!("{ip}:{port}"),
    }
}

fn write_statistics<W: Write>(w: &mut W, stats: &PortStatistics) -> io::Result<()> {
    write!(w, "Port Statistics{EOL}")?;
    if let Some(n) = stats.tcp_mappings {
        write!(w, "TCP mappings: {n}{EOL}")?;
    }
    if let Some(n) = stats.udp_mappings {
        write!(w, "UDP mappings: {n}{EOL}")?;
    }
    for share in &stats.states {
        let head = format!("TCP ports in a {} state: ", clean(share.state.as_log_str()));
        write!(w, "{head}{}{}", tabs_to(head.chars().count(), STATE_COUNT_COLUMN), share.count)?;
        match share.percent {
            Some(p) if p.is_finite() => write!(w, " = {p:.2}%{EOL}")?,
            _ => write!(w, "{EOL}")?,
        }
    }
    Ok(())
}

/// The tabs that move from column `from` to column `to` (tab stops every 8), at least one.
pub(crate) fn tabs_to(from: usize, to: usize) -> String {
    let mut col = from;
    let mut tabs = String::new();
    loop {
        tabs.push('\t');
        col = (col / 8 + 1) * 8;
        if col >= to {
            return tabs;
        }
    }
}

fn write_modules<W: Write>(w: &mut W, modules: &Modules) -> io::Result<()> {
    match modules {
        Modules::Absent => Ok(()),
        Modules::NotAccessible => write!(w, "Could not access module information for this process{EOL}"),
        Modules::Listed(list) => {
            write!(w, "Loaded modules:{EOL}")?;
            for module in list {
                match module.base {
                    Some(base) => write!(w, "{} (0x{base:08X}){EOL}", clean(&module.path))?,
                    None => write!(w, "{}{EOL}", clean(&module.path))?,
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::issues::MAX_KEPT_ISSUES;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn file() -> Arc<Path> {
        Arc::from(Path::new("PR-PIDS-04-01-24-8-49-30.log"))
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Address {
        Address::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    fn row(
        pid: u32,
        protocol: Protocol,
        port: u16,
        local: Address,
        state: Option<TcpState>,
        remote: (Address, PortField),
    ) -> PortMapping {
        PortMapping {
            pid,
            process: None,
            protocol,
            local_port: port,
            local_ip: local,
            state,
            remote_ip: remote.0,
            remote_port: remote.1,
        }
    }

    fn module(path: &str, base: u64) -> LoadedModule {
        LoadedModule { path: path.into(), base: Some(base) }
    }

    fn parse_one(text: &str) -> (ProcessBlock, Vec<LineIssue>) {
        let (mut blocks, issues) = parse_blocks(&file(), 3, text.as_bytes(), 1);
        assert_eq!(blocks.len(), 1, "{issues:?}");
        (blocks.remove(0), issues)
    }

    fn reasons(issues: &[LineIssue]) -> Vec<(u32, &str)> {
        issues.iter().map(|i| (i.line, i.reason.as_str())).collect()
    }

    /// The first block of the KB 837243 PIDS sample, line breaks restored, module list cut
    /// after the entries with spaces and short names.
    const KB_IEXPLORE: &str = "Process ID: 664 (iexplore.exe)\r
User context: MYDOMAIN\\user\r
Process doesn't appear to be a service\r
PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port\r
664\tTCP 4867  \t0.0.0.0 \tLISTENING\t 0.0.0.0:4225\r
664\tTCP 4873  \t0.0.0.0 \tLISTENING\t 0.0.0.0:45070\r
664\tTCP 4867  \t169.254.66.8  \tESTABLISHED\t 169.254.44.12:80\r
664\tTCP 4873  \t169.254.66.8  \tSYN SENT\t 169.254.44.12:80\r
664\tUDP 4817  \t127.0.0.1 \t\t\t *:*\r
Port Statistics\r
TCP mappings: 4\r
UDP mappings: 1\r
TCP ports in a LISTENING state: \t2 = 50.00%\r
TCP ports in a SYN SENT state: \t\t1 = 25.00%\r
TCP ports in a ESTABLISHED state: \t1 = 25.00%\r
Loaded modules:\r
D:\\Program Files\\Internet Explorer\\iexplore.exe (0x00400000)\r
D:\\WINDOWS\\System32\\ntdll.dll (0x77F50000)\r
D:\\Program Files\\Adobe\\Acrobat 6.0\\Reader\\ActiveX\\AcroIEHelper.dll (0x10000000)\r
D:\\PROGRA~1\\Java\\J2RE14~1.2\\bin\\client\\jvm.dll (0x04F20000)\r
";

    fn kb_iexplore() -> ProcessBlock {
        let any = (Address::Any, PortField::Any);
        ProcessBlock {
            recorded_at: None,
            source: 3,
            line: 1,
            pid: 664,
            process: "iexplore.exe".into(),
            user: Some("MYDOMAIN\\user".into()),
            system_process: false,
            services: vec![],
            ports: vec![
                row(
                    664,
                    Protocol::Tcp,
                    4867,
                    v4(0, 0, 0, 0),
                    Some(TcpState::Listening),
                    (v4(0, 0, 0, 0), PortField::Num(4225)),
                ),
                row(
                    664,
                    Protocol::Tcp,
                    4873,
                    v4(0, 0, 0, 0),
                    Some(TcpState::Listening),
                    (v4(0, 0, 0, 0), PortField::Num(45070)),
                ),
                row(
                    664,
                    Protocol::Tcp,
                    4867,
                    v4(169, 254, 66, 8),
                    Some(TcpState::Established),
                    (v4(169, 254, 44, 12), PortField::Num(80)),
                ),
                row(
                    664,
                    Protocol::Tcp,
                    4873,
                    v4(169, 254, 66, 8),
                    Some(TcpState::SynSent),
                    (v4(169, 254, 44, 12), PortField::Num(80)),
                ),
                row(664, Protocol::Udp, 4817, v4(127, 0, 0, 1), None, any),
            ],
            port_statistics: PortStatistics {
                tcp_mappings: Some(4),
                udp_mappings: Some(1),
                states: vec![
                    StateShare { state: TcpState::Listening, count: 2, percent: Some(50.0) },
                    StateShare { state: TcpState::SynSent, count: 1, percent: Some(25.0) },
                    StateShare { state: TcpState::Established, count: 1, percent: Some(25.0) },
                ],
            },
            modules: Modules::Listed(vec![
                module("D:\\Program Files\\Internet Explorer\\iexplore.exe", 0x0040_0000),
                module("D:\\WINDOWS\\System32\\ntdll.dll", 0x77F5_0000),
                module("D:\\Program Files\\Adobe\\Acrobat 6.0\\Reader\\ActiveX\\AcroIEHelper.dll", 0x1000_0000),
                module("D:\\PROGRA~1\\Java\\J2RE14~1.2\\bin\\client\\jvm.dll", 0x04F2_0000),
            ]),
        }
    }

    #[test]
    fn kb_pids_block_reads_exactly() {
        let (block, issues) = parse_one(KB_IEXPLORE);
        assert_eq!(issues, vec![]);
        assert_eq!(block, kb_iexplore());
    }

    #[test]
    fn writer_reproduces_the_kb_layout_except_the_padding_of_one_address() {
        let mut out = Vec::new();
        write_block(&mut out, &kb_iexplore()).expect("write");
        // The sample pads 169.254.66.8 with two spaces on two rows and one on others; the writer
        // always uses one.
        let expected = KB_IEXPLORE.replace("169.254.66.8  \t", "169.254.66.8 \t");
        assert_eq!(String::from_utf8(out).expect("utf8"), expected);
    }

    /// The System block of the KB INITIAL sample.
    const KB_SYSTEM: &str = "Process ID: 4 (System)
System Process
PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port
4\tTCP 445  \t0.0.0.0 \tLISTENING\t 0.0.0.0:6246
4\tUDP 445  \t0.0.0.0 \t\t\t *:*
Port Statistics
TCP mappings: 3
UDP mappings: 3
TCP ports in a LISTENING state: \t3 = 100.00%
Could not access module information for this process
";

    #[test]
    fn system_process_block_without_modules() {
        let (block, issues) = parse_one(KB_SYSTEM);
        assert_eq!(issues, vec![]);
        assert_eq!((block.pid, block.process.as_str(), block.system_process, &block.user), (4, "System", true, &None));
        assert_eq!(block.modules, Modules::NotAccessible);
        assert_eq!(block.ports.len(), 2);
        assert_eq!(block.ports[1], row(4, Protocol::Udp, 445, v4(0, 0, 0, 0), None, (Address::Any, PortField::Any)));
        assert_eq!(
            block.port_statistics.states,
            vec![StateShare { state: TcpState::Listening, count: 3, percent: Some(100.0) }]
        );
    }

    #[test]
    fn services_with_and_without_type() {
        let text = "Process ID: 748 (lsass.exe)
User context: NT AUTHORITY\\SYSTEM
Service Name: PolicyAgent
Display Name: IPSEC Services
Service Type: shares a process with other services
Service Name: ProtectedStorage
Display Name: Protected Storage
Service Name: SamSs
Display Name: Security Accounts Manager
Service Type: shares a process with other services
PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port
748\tUDP 500  \t0.0.0.0 \t\t\t *:*
";
        let (block, issues) = parse_one(text);
        assert_eq!(issues, vec![]);
        let shares = Some("shares a process with other services".to_string());
        assert_eq!(
            block.services,
            vec![
                Service {
                    name: "PolicyAgent".into(),
                    display_name: Some("IPSEC Services".into()),
                    service_type: shares.clone()
                },
                Service {
                    name: "ProtectedStorage".into(),
                    display_name: Some("Protected Storage".into()),
                    service_type: None
                },
                Service {
                    name: "SamSs".into(),
                    display_name: Some("Security Accounts Manager".into()),
                    service_type: shares
                },
            ]
        );
        assert_eq!(block.user.as_deref(), Some("NT AUTHORITY\\SYSTEM"));
        assert_eq!(block.modules, Modules::Absent);
    }

    /// The lab sheet's INITIAL blocks (version 1.01): space-aligned columns, `*:*` in the state
    /// column of UDP rows, blank lines and a line holding one space.
    #[test]
    fn lab_blocks_with_blank_and_whitespace_lines() {
        let text = "Process ID: 4 (System)
System Process
PID      Port          Local IP        State           Remote IP:Port
4        TCP 445        0.0.0.0       LISTENING      0.0.0.0
4        UDP 137        192.168.1.103  *:*            *:*

Port Statistics
TCP mappings: 2
UDP mappings: 3

TCP ports in a LISTENING state:      2 = 100.00%

Could not access module information for this process
=====

Process ID: 1308 (smss.exe)
User context: NT AUTHORITY\\SYSTEM
Process doesn't appear to be a service

\x20
Port Statistics
TCP mappings: 0
UDP mappings: 0

Loaded modules:
\\SystemRoot\\System32\\smss.exe (0x48580000)
C:\\WINDOWS\\system32\\ntdll.dll (0x7c900000)
";
        let (blocks, issues) = parse_blocks(&file(), 0, text.as_bytes(), 1);
        assert_eq!(issues, vec![]);
        assert_eq!(blocks.len(), 2);
        assert_eq!(
            blocks[0].ports,
            vec![
                row(
                    4,
                    Protocol::Tcp,
                    445,
                    v4(0, 0, 0, 0),
                    Some(TcpState::Listening),
                    (v4(0, 0, 0, 0), PortField::Empty)
                ),
                row(4, Protocol::Udp, 137, v4(192, 168, 1, 103), None, (Address::Any, PortField::Any)),
            ]
        );
        let smss = &blocks[1];
        assert_eq!((smss.pid, smss.process.as_str(), smss.line), (1308, "smss.exe", 16));
        assert_eq!(
            smss.port_statistics,
            PortStatistics { tcp_mappings: Some(0), udp_mappings: Some(0), states: vec![] }
        );
        assert_eq!(
            smss.modules,
            Modules::Listed(vec![
                module("\\SystemRoot\\System32\\smss.exe", 0x4858_0000),
                module("C:\\WINDOWS\\system32\\ntdll.dll", 0x7c90_0000),
            ])
        );
    }

    #[test]
    fn process_names_with_spaces_and_parentheses() {
        assert_eq!(parse_process_id(" 2424 (Virtual PC.exe)"), Ok((2424, Some("Virtual PC.exe".into()))));
        assert_eq!(parse_process_id(" 7 (Setup (x86) (v2).exe)"), Ok((7, Some("Setup (x86) (v2).exe".into()))));
        assert_eq!(parse_process_id(" 7 (a)b)"), Ok((7, Some("a)b".into()))));
        assert_eq!(parse_process_id(" 7 (cut off  "), Ok((7, Some("cut off".into()))));
        assert_eq!(parse_process_id(" 7"), Ok((7, None)));
        assert!(parse_process_id(" x (a)").is_err());
        assert!(parse_process_id(" 99999999999 (a)").is_err());
    }

    #[test]
    fn remote_column_in_every_form() {
        assert_eq!(parse_remote("0.0.0.0:4225"), Some((v4(0, 0, 0, 0), PortField::Num(4225))));
        assert_eq!(parse_remote("0.0.0.0"), Some((v4(0, 0, 0, 0), PortField::Empty)));
        assert_eq!(parse_remote("*:*"), Some((Address::Any, PortField::Any)));
        assert_eq!(parse_remote("*"), Some((Address::Any, PortField::Empty)));
        let v6 = Address::Ip(IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)));
        assert_eq!(parse_remote("[fe80::1]:443"), Some((v6, PortField::Num(443))));
        assert_eq!(parse_remote("[fe80::1]"), Some((v6, PortField::Empty)));
        assert_eq!(parse_remote("fe80::1"), Some((v6, PortField::Empty)));
        assert_eq!(parse_remote("1.2.3.4:*"), Some((v4(1, 2, 3, 4), PortField::Any)));
        assert_eq!(parse_remote("LISTENING"), None);
        assert_eq!(parse_remote("1.2.3.4:99999"), None);
        assert_eq!(parse_remote("[fe80::1]x"), None);
    }

    #[test]
    fn rows_with_two_word_states_ipv6_and_missing_columns() {
        let r = parse_port_row("0\tTCP 4857  \t169.254.66.8 \tTIME WAIT\t 169.254.44.123:80").expect("row");
        assert_eq!(r.state, Some(TcpState::TimeWait));
        let r = parse_port_row("9 TCP 80 fe80::1 ESTABLISHED [2001:db8::2]:5000").expect("row");
        assert_eq!(r.local_ip, Address::Ip("fe80::1".parse().expect("ip")));
        assert_eq!(
            (r.remote_ip, r.remote_port),
            (Address::Ip("2001:db8::2".parse().expect("ip")), PortField::Num(5000))
        );
        let r = parse_port_row("9 UDP 137 192.168.1.103 LISTENING *:*").expect("row");
        assert_eq!(r.state, None);
        let r = parse_port_row("9 TCP 80 1.2.3.4 LISTENING").expect("row");
        assert_eq!(
            (r.state, r.remote_ip, r.remote_port),
            (Some(TcpState::Listening), Address::Empty, PortField::Empty)
        );
        let r = parse_port_row("9 UDP 80 1.2.3.4").expect("row");
        assert_eq!((r.state, r.remote_ip), (None, Address::Empty));
        assert!(parse_port_row("9 TCP 80").is_err());
        assert!(parse_port_row("9 TCP 70000 1.2.3.4").is_err());
        assert!(parse_port_row("9 TCP 80 nowhere").is_err());
    }

    #[test]
    fn module_bases_are_the_last_hex_parentheses() {
        assert_eq!(
            parse_module("C:\\Program Files (x86)\\Virtual PC (v2)\\a b.dll (0x10000000)"),
            module("C:\\Program Files (x86)\\Virtual PC (v2)\\a b.dll", 0x1000_0000)
        );
        assert_eq!(parse_module("C:\\x (0x1) (0X7FF6AB000000)"), module("C:\\x (0x1)", 0x7FF6_AB00_0000));
        assert_eq!(
            parse_module("C:\\Program Files (x86)"),
            LoadedModule { path: "C:\\Program Files (x86)".into(), base: None }
        );
        let huge = "C:\\a (0x12345678901234567)";
        assert_eq!(parse_module(huge), LoadedModule { path: huge.into(), base: None });
    }

    #[test]
    fn statistics_lines_in_every_spacing() {
        assert_eq!(
            parse_state_share(" SYN SENT state: \t\t1 = 25.00%"),
            Ok(StateShare { state: TcpState::SynSent, count: 1, percent: Some(25.0) })
        );
        assert_eq!(
            parse_state_share(" TIME WAIT state:      14 = 48.28%"),
            Ok(StateShare { state: TcpState::TimeWait, count: 14, percent: Some(48.28) })
        );
        assert_eq!(
            parse_state_share(" CLOSED state: 3"),
            Ok(StateShare { state: TcpState::Closed, count: 3, percent: None })
        );
        assert!(parse_state_share(" LISTENING state: x = 1%").is_err());
        assert!(parse_state_share(" LISTENING state: 1 = NaN%").is_err());
        assert!(parse_state_share(" state: 1 = 1%").is_err());
    }

    #[test]
    fn unknown_lines_become_warnings_with_line_numbers() {
        let text = "Process ID: 5 (a.exe)\nwhat is this\nDisplay Name: orphan\nTCP mappings: many\n5 TCP 80 nowhere\n6 TCP 81 0.0.0.0 LISTENING 0.0.0.0:0\n";
        let (block, issues) = parse_one(text);
        assert_eq!(
            reasons(&issues),
            vec![
                (2, "unrecognised line in a process block"),
                (3, "service detail without a `Service Name:` line"),
                (4, "mapping count is not a number"),
                (5, "local address \"nowhere\" is not an IP address"),
                (6, "row PID 6 differs from the block's PID 5"),
            ]
        );
        assert_eq!(issues[0].file, file());
        assert_eq!(block.ports.len(), 1);
    }

    #[test]
    fn unreadable_process_id_skips_its_block_with_one_warning() {
        let text =
            "Process ID: abc (x)\nUser context: a\nLoaded modules:\nC:\\a.dll (0x1)\n=====\nProcess ID: 5 (b)\nstray\n";
        let (blocks, issues) = parse_blocks(&file(), 0, text.as_bytes(), 1);
        assert_eq!(blocks.len(), 1);
        assert_eq!(
            reasons(&issues),
            vec![
                (1, "Process ID is not a number; the lines of this block are skipped"),
                (7, "unrecognised line in a process block")
            ]
        );
    }

    #[test]
    fn module_lines_without_base_are_kept_and_flagged() {
        let (block, issues) = parse_one("Process ID: 5 (a)\nLoaded modules:\nC:\\odd path\nC:\\b.dll (0x2)\n");
        assert_eq!(
            block.modules,
            Modules::Listed(vec![LoadedModule { path: "C:\\odd path".into(), base: None }, module("C:\\b.dll", 2)])
        );
        assert_eq!(reasons(&issues), vec![(3, "module line without a base address")]);
    }

    fn rich_block() -> ProcessBlock {
        let v6 = |s: &str| Address::Ip(s.parse().expect("ipv6"));
        ProcessBlock {
            recorded_at: None,
            source: 3,
            line: 1,
            pid: 1092,
            process: "Virtual PC (beta) (x).exe".into(),
            user: Some("NT AUTHORITY\\NETWORK SERVICE".into()),
            system_process: false,
            services: vec![
                Service { name: "Dhcp".into(), display_name: Some("DHCP Client".into()), service_type: None },
                Service { name: "Netman".into(), display_name: None, service_type: Some("shares a process".into()) },
            ],
            ports: vec![
                row(1092, Protocol::Tcp, 80, v6("::"), Some(TcpState::Listening), (v6("::"), PortField::Empty)),
                row(
                    1092,
                    Protocol::Tcp,
                    4873,
                    v6("fe80::1"),
                    Some(TcpState::TimeWait),
                    (v6("2001:db8::2"), PortField::Num(443)),
                ),
                row(1092, Protocol::Udp, 123, v6("::1"), None, (Address::Any, PortField::Any)),
                row(1092, Protocol::Udp, 124, v4(1, 2, 3, 4), None, (Address::Any, PortField::Empty)),
                row(1092, Protocol::Tcp, 5, v4(1, 2, 3, 4), None, (Address::Empty, PortField::Empty)),
                row(
                    1092,
                    Protocol::Tcp,
                    6,
                    v4(1, 2, 3, 4),
                    Some(TcpState::Other("WEIRD STATE".into())),
                    (Address::Empty, PortField::Num(9)),
                ),
            ],
            port_statistics: PortStatistics {
                tcp_mappings: Some(3),
                udp_mappings: None,
                states: vec![
                    StateShare { state: TcpState::LastAck, count: 1, percent: Some(33.33) },
                    StateShare { state: TcpState::FinWait2, count: 2, percent: None },
                ],
            },
            modules: Modules::Listed(vec![
                module("C:\\Program Files (x86)\\a b.dll", 0x7FF6_AB00_0000),
                LoadedModule { path: "C:\\no base".into(), base: None },
            ]),
        }
    }

    fn round_trip(block: &ProcessBlock) -> ProcessBlock {
        let mut out = Vec::new();
        write_block(&mut out, block).expect("write");
        let (mut blocks, _) = parse_blocks(&file(), block.source, &out, block.line);
        assert_eq!(blocks.len(), 1);
        blocks.remove(0)
    }

    #[test]
    fn blocks_round_trip_including_ipv6_and_udp() {
        for block in [kb_iexplore(), rich_block()] {
            assert_eq!(round_trip(&block), block);
        }
        let mut system = kb_iexplore();
        system.system_process = true;
        system.user = None;
        system.modules = Modules::NotAccessible;
        system.ports.clear();
        assert_eq!(round_trip(&system), system);
        system.modules = Modules::Absent;
        system.port_statistics = PortStatistics::default();
        assert_eq!(round_trip(&system), system);
    }

    #[test]
    fn text_fields_cannot_forge_lines() {
        let mut block = rich_block();
        block.process = "evil)\r\nUser context: NT AUTHORITY\\SYSTEM\n(".into();
        block.user = Some("u\u{2028}Service Name: fake".into());
        block.services[0].name = "x\nLoaded modules:".into();
        block.modules = Modules::Listed(vec![module("C:\\a.dll\r\nC:\\forged.dll", 1)]);
        let mut out = Vec::new();
        write_block(&mut out, &block).expect("write");
        let text = String::from_utf8(out).expect("utf8");
        assert!(text.contains("Process ID: 1092 (evil)  User context: NT AUTHORITY\\SYSTEM ()\r\n"));
        let back = round_trip(&block);
        assert_eq!(back.process, "evil)  User context: NT AUTHORITY\\SYSTEM (");
        assert_eq!(back.user.as_deref(), Some("u Service Name: fake"));
        assert_eq!(back.services.len(), 2);
        assert_eq!(back.services[0].name, "x Loaded modules:");
        assert_eq!(back.modules, Modules::Listed(vec![module("C:\\a.dll  C:\\forged.dll", 1)]));
    }

    #[test]
    fn statistics_tabs_align_to_column_forty() {
        assert_eq!(tabs_to(32, 40), "\t");
        assert_eq!(tabs_to(31, 40), "\t\t");
        assert_eq!(tabs_to(34, 40), "\t");
        assert_eq!(tabs_to(45, 40), "\t");
    }

    #[test]
    fn issues_are_capped() {
        let text = "junk\n".repeat(MAX_KEPT_ISSUES + 5);
        let (_, issues) = parse_blocks(&file(), 0, text.as_bytes(), 1);
        assert_eq!(issues.len(), MAX_KEPT_ISSUES + 1);
        assert_eq!(issues[MAX_KEPT_ISSUES].reason, "5 more issues not listed");
        assert_eq!(issues[0].excerpt, "junk");
    }

    #[test]
    fn ansi_names_are_read_as_windows_1252() {
        let (block, _) = parse_one("Process ID: 5 (caf\u{e9}.exe)\nUser context: DOM\\J\u{fc}rgen\n");
        assert_eq!(block.process, "café.exe");
        let (blocks, _) = parse_blocks(&file(), 0, b"Process ID: 5 (caf\xE9.exe)\n", 1);
        assert_eq!(blocks[0].process, "café.exe");
    }

    #[test]
    fn keeping_the_image_only_keeps_the_image_path() {
        let text = crate::logs::pids::tests::KB_PIDS;
        let mut block = crate::logs::pids::parse_pids(&file(), 0, text.as_bytes()).blocks.remove(0);
        block.process = "svchost.exe".into();
        block.modules = Modules::Listed(vec![
            module("C:\\WINDOWS\\system32\\ntdll.dll", 1),
            module("C:\\Temp\\SVCHOST.EXE", 2),
            module("C:\\WINDOWS\\system32\\kernel32.dll", 3),
        ]);
        block.keep_image_only();
        assert_eq!(block.modules, Modules::Listed(vec![module("C:\\Temp\\SVCHOST.EXE", 2)]));
        // No module named as the process: the first listed is its image.
        block.process = "other.exe".into();
        block.modules = Modules::Listed(vec![module("C:\\a.exe", 1), module("C:\\b.dll", 2)]);
        block.keep_image_only();
        assert_eq!(block.image_path(), Some("C:\\a.exe"));
        assert_eq!(block.modules, Modules::Listed(vec![module("C:\\a.exe", 1)]));
        for none in [Modules::Listed(Vec::new()), Modules::NotAccessible, Modules::Absent] {
            block.modules = none.clone();
            block.keep_image_only();
            assert_eq!(block.modules, none);
        }
    }
}
