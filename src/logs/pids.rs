//! PR-PIDS: one process block per new network activity of a process, each introduced by
//! `Log entry below recorded at: <time>` between two `=====` lines.
//!
//! The header ([`LogHeader`]) is shared with PR-INITIAL, which reads it with the same
//! [`HeaderReader`]. No sample shows what Port Reporter printed after `recorded at:` (the KB
//! shows the placeholder `<Date and Time>`), so the reader takes the ctime form of `System
//! Date:`, the PORTS form and ISO, and keeps a block whose time it cannot read, without a time.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::Serialize;

use crate::error::LogError;
use crate::logs::header::{LogKind, Version, parse_version_line};
use crate::logs::process_block::{
    BlockStream, EOL, Issues, LineSink, MAX_PROCESS_LOG_BYTES, SEPARATOR, clean, digits, is_mappings_unavailable,
    is_separator, parse_log, process_id_rest, read_log_capped, strip_prefix_ci, write_block,
};
use crate::logs::text::LineIssue;
use crate::model::{ModuleDetail, ProcessBlock, make_datetime};

/// The first lines of a PIDS or INITIAL log. A field is `None` when its line was missing or
/// unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LogHeader {
    pub version: Option<Version>,
    pub system_date: Option<NaiveDateTime>,
    pub computer_name: Option<String>,
    pub operating_system: Option<String>,
}

/// A PR-PIDS log as read.
#[derive(Debug, Clone, PartialEq)]
pub struct PidsLog {
    pub path: Arc<Path>,
    pub header: LogHeader,
    pub blocks: Vec<ProcessBlock>,
    pub warnings: Vec<LineIssue>,
    /// `false` when the log says `Port to process mappings are not available on this system.`
    /// (Windows 2000): the absence of blocks is then no sign of a damaged file.
    pub mappings_available: bool,
}

/// Reads the header lines of a PIDS or INITIAL log, wherever they turn up outside a block.
///
/// Version 1.01 puts the computer name on the line after `Local computer name:`, so after an
/// empty one the reader takes the next line it cannot otherwise place as the name.
#[derive(Debug, Default)]
pub struct HeaderReader {
    pub header: LogHeader,
    /// Which log the kind line (`Process detail log`, `Service initialization log`) named.
    pub kind: Option<LogKind>,
    expect_name: bool,
}

/// The header line that names a PIDS log.
pub const PIDS_KIND_LINE: &str = "Process detail log";
/// The header line that names an INITIAL log.
pub const INITIAL_KIND_LINE: &str = "Service initialization log";

impl HeaderReader {
    /// A file-level warning when the header named another kind of log than `expected` (whose
    /// kind line is `kind_line`), or none.
    pub fn check_kind(&self, expected: LogKind, kind_line: &str, issues: &mut Issues) {
        match self.kind {
            Some(kind) if kind == expected => {}
            Some(kind) => issues.file_level(format!("the header says this is a {kind} log, not {expected}")),
            None => issues.file_level(format!("no `{kind_line}` line: the header is missing or damaged")),
        }
    }

    /// Whether the previous line was an empty `Local computer name:`; resets the flag, because
    /// only the very next line may hold the name.
    pub fn take_expect_name(&mut self) -> bool {
        std::mem::take(&mut self.expect_name)
    }

    /// Takes a trimmed line if it is a header line (or the awaited computer name). Repeated
    /// header lines (a header written again mid-file) keep the first value.
    pub fn feed(&mut self, t: &str, number: u32, wanted_name: bool, issues: &mut Issues) -> bool {
        if let Some(version) = parse_version_line(t) {
            if t.to_ascii_lowercase().contains("port usage log") {
                self.kind.get_or_insert(LogKind::Ports);
            }
            self.header.version.get_or_insert(version);
        } else if t.eq_ignore_ascii_case(PIDS_KIND_LINE) {
            self.kind.get_or_insert(LogKind::Pids);
        } else if t.eq_ignore_ascii_case(INITIAL_KIND_LINE) {
            self.kind.get_or_insert(LogKind::Initial);
        } else if let Some(rest) = strip_prefix_ci(t, "System Date:") {
            match parse_log_time(rest) {
                Some(date) => _ = self.header.system_date.get_or_insert(date),
                None => issues.warn(number, "System Date is not a readable date", t),
            }
        } else if let Some(rest) = strip_prefix_ci(t, "Local computer name:") {
            self.computer_name_line(rest);
        } else if let Some(rest) = strip_prefix_ci(t, "Operating System:") {
            self.header.operating_system.get_or_insert_with(|| rest.trim().to_string());
        } else if wanted_name {
            self.set_computer_name(t);
        } else {
            return false;
        }
        true
    }

    fn computer_name_line(&mut self, rest: &str) {
        if rest.trim().is_empty() {
            self.expect_name = self.header.computer_name.is_none();
        } else {
            self.set_computer_name(rest);
        }
    }

    /// Version 1.0 writes `Local computer name:<ComputerName>`: the brackets are not part of
    /// the name.
    fn set_computer_name(&mut self, text: &str) {
        let t = text.trim();
        let name = t.strip_prefix('<').and_then(|n| n.strip_suffix('>')).unwrap_or(t).trim();
        self.header.computer_name.get_or_insert_with(|| name.to_string());
    }
}

/// Reads a time as Port Reporter may have printed it: ctime (`Sat Jan 24 08:49:31 2004`, the
/// weekday optional), the PORTS form (`04/1/24 8:52:21`, `04/1/24,8:52:21`, fields unpadded,
/// two-digit years), ISO (`2004-01-24 08:52:21`, `2004-01-24T08:52:21`) and the US form
/// `1/24/2004 8:52:21 AM`.
pub fn parse_log_time(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    parse_ctime(t).or_else(|| parse_numeric_time(t))
}

fn parse_ctime(t: &str) -> Option<NaiveDateTime> {
    let words: Vec<&str> = t.split_whitespace().take(6).collect();
    let (month, day, time, year) = match words.as_slice() {
        [_, m, d, time, y] | [m, d, time, y] => (*m, *d, *time, *y),
        _ => return None,
    };
    let (h, mi, s) = parse_hms(time)?;
    make_datetime(digits(year)?, month_number(month)?, digits(day)?, h, mi, s)
}

fn month_number(word: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let key = word.get(..3)?.to_ascii_lowercase();
    let index = MONTHS.iter().position(|m| *m == key)?;
    u32::try_from(index + 1).ok()
}

fn parse_numeric_time(t: &str) -> Option<NaiveDateTime> {
    let (date, rest) = t.split_once(|c: char| c == ',' || c == 'T' || c.is_whitespace())?;
    let (time, pm) = split_meridiem(rest.trim());
    let (y, m, d) = parse_date(date)?;
    let (h, mi, s) = parse_hms(time)?;
    let h = match pm {
        None => h,
        Some(_) if !(1..=12).contains(&h) => return None,
        Some(pm) => h % 12 + if pm { 12 } else { 0 },
    };
    make_datetime(y, m, d, h, mi, s)
}

/// `y/m/d` (PORTS), `m/d/yyyy` (US: a four-digit last field) or `y-m-d` (ISO).
fn parse_date(date: &str) -> Option<(u32, u32, u32)> {
    let sep = if date.contains('/') { '/' } else { '-' };
    let parts: Vec<&str> = date.splitn(4, sep).collect();
    let [a, b, c] = parts.as_slice() else {
        return None;
    };
    if sep == '/' && c.len() == 4 && a.len() <= 2 {
        Some((digits(c)?, digits(a)?, digits(b)?))
    } else {
        Some((digits(a)?, digits(b)?, digits(c)?))
    }
}

fn parse_hms(time: &str) -> Option<(u32, u32, u32)> {
    let parts: Vec<&str> = time.splitn(4, ':').collect();
    match parts.as_slice() {
        [h, m, s] => Some((digits(h)?, digits(m)?, digits(s)?)),
        [h, m] => Some((digits(h)?, digits(m)?, 0)),
        _ => None,
    }
}

/// Splits a trailing `AM`/`PM` off a time: `Some(true)` for PM.
fn split_meridiem(time: &str) -> (&str, Option<bool>) {
    let cut = |suffix: &str| {
        let head = time.len().checked_sub(suffix.len())?;
        let tail = time.get(head..)?;
        tail.eq_ignore_ascii_case(suffix).then(|| time.get(..head).unwrap_or("").trim_end())
    };
    match (cut("AM"), cut("PM")) {
        (Some(t), _) => (t, Some(false)),
        (_, Some(t)) => (t, Some(true)),
        _ => (time, None),
    }
}

/// `Sat Jan 24 08:49:31 2004`, as `System Date:` shows it (ctime, day padded with a space).
pub fn format_ctime(t: NaiveDateTime) -> String {
    t.format("%a %b %e %H:%M:%S %Y").to_string()
}

/// `04/1/24 8:52:21`: the date and time fields of a PORTS row, unpadded. The KB tells users to
/// find a PORTS event's detail by searching the PIDS log for the row's date and time, so the
/// entry carries them in the same spelling. Years outside 1970–2069 get four digits so they do
/// not come back a century off; seconds are the finest unit.
pub fn format_ports_time(t: NaiveDateTime) -> String {
    let y = t.year();
    let year = if (1970..2070).contains(&y) { format!("{:02}", y.rem_euclid(100)) } else { y.to_string() };
    format!("{year}/{}/{} {}:{}:{}", t.month(), t.day(), t.hour(), t.minute(), t.second())
}

/// Writes the header lines shared by PIDS and INITIAL; `kind_line` names the log. Fields that
/// are `None` are left out (the computer-name line stays, empty). Version 1.0 logs get the name
/// on the same line, later versions on the next, as each version did.
pub(crate) fn write_header_lines<W: Write>(w: &mut W, header: &LogHeader, kind_line: &str) -> io::Result<()> {
    if let Some(version) = &header.version {
        write!(w, "Port Reporter Version {} Log File{EOL}", clean(&version.0))?;
    }
    write!(w, "{kind_line}{EOL}")?;
    if let Some(date) = header.system_date {
        write!(w, "System Date: {}{EOL}", format_ctime(date))?;
    }
    let same_line = header.version.as_ref().is_some_and(|v| v.0 == "1.0");
    match &header.computer_name {
        Some(name) if same_line => write!(w, "Local computer name:{}{EOL}", clean(name))?,
        Some(name) => write!(w, "Local computer name:{EOL}{}{EOL}", clean(name))?,
        None => write!(w, "Local computer name:{EOL}")?,
    }
    if let Some(os) = &header.operating_system {
        write!(w, "Operating System: {}{EOL}", clean(os))?;
    }
    Ok(())
}

/// Where the reader is in a PIDS log.
struct PidsReader {
    header: HeaderReader,
    blocks: BlockStream,
    issues: Issues,
    /// The time of the last `Log entry` line not yet used by a block, with its line number.
    pending: Option<(u32, Option<NaiveDateTime>)>,
    mappings_available: bool,
}

impl LineSink for PidsReader {
    type Log = PidsLog;

    fn line(&mut self, number: u32, line: &str) {
        self.read_line(number, line);
    }

    fn issues(&mut self) -> &mut Issues {
        &mut self.issues
    }

    fn finish(mut self, path: &Arc<Path>) -> PidsLog {
        if let Some((number, _)) = self.pending.take() {
            self.issues.warn(number, "log entry without a process block", "");
        }
        self.header.check_kind(LogKind::Pids, PIDS_KIND_LINE, &mut self.issues);
        PidsLog {
            path: Arc::clone(path),
            header: self.header.header,
            blocks: self.blocks.into_blocks(),
            warnings: self.issues.into_vec(),
            mappings_available: self.mappings_available,
        }
    }
}

impl PidsReader {
    fn new(path: &Arc<Path>, source: u16, detail: ModuleDetail) -> PidsReader {
        PidsReader {
            header: HeaderReader::default(),
            blocks: BlockStream::keeping(source, detail),
            issues: Issues::new(path),
            pending: None,
            mappings_available: true,
        }
    }

    fn read_line(&mut self, number: u32, line: &str) {
        let t = line.trim();
        if t.is_empty() {
            return;
        }
        let wanted_name = self.header.take_expect_name();
        if is_mappings_unavailable(t) {
            self.mappings_available = false;
        } else if !self.entry_line(number, line, t) && !self.header.feed(t, number, wanted_name, &mut self.issues) {
            self.issues.warn(number, "line outside any process block", line);
        }
    }

    /// Separators, `Log entry` lines, `Process ID:` lines and the lines of an open block.
    fn entry_line(&mut self, number: u32, line: &str, t: &str) -> bool {
        if is_separator(t) {
            self.blocks.close();
        } else if let Some(rest) = strip_prefix_ci(t, "Log entry below recorded at:") {
            self.blocks.close();
            self.new_entry(number, rest, line);
        } else if let Some(rest) = process_id_rest(t) {
            let recorded_at = match self.pending.take() {
                Some((_, at)) => at,
                None => {
                    self.issues.warn(number, "process block without a `Log entry below recorded at:` line", line);
                    None
                }
            };
            self.blocks.start(rest, number, recorded_at, line, &mut self.issues);
        } else {
            return self.blocks.feed(line, number, &mut self.issues);
        }
        true
    }

    fn new_entry(&mut self, number: u32, rest: &str, line: &str) {
        if let Some((previous, _)) = self.pending {
            self.issues.warn(previous, "log entry without a process block", "");
        }
        let at = parse_log_time(rest);
        if at.is_none() {
            self.issues.warn(number, "unreadable time after `recorded at:`; the block has no time", line);
        }
        self.pending = Some((number, at));
    }
}

/// Reads a PIDS log from bytes in memory, in any encoding [`read_pids_from`] knows. Never
/// fails: whatever cannot be read becomes a warning.
pub fn parse_pids(path: &Arc<Path>, source: u16, raw: &[u8]) -> PidsLog {
    parse_log(path, raw, PidsReader::new(path, source, ModuleDetail::All))
}

/// Reads a PIDS log file in any encoding [`crate::logs::text::TextReader`] knows.
pub fn read_pids(path: &Path, source: u16) -> Result<PidsLog, LogError> {
    read_pids_keeping(path, source, ModuleDetail::All)
}

/// [`read_pids`] keeping `detail` of each block's module list.
pub fn read_pids_keeping(path: &Path, source: u16, detail: ModuleDetail) -> Result<PidsLog, LogError> {
    let file = std::fs::File::open(path).map_err(|e| LogError::io(path, e))?;
    read_log_capped(path, file, MAX_PROCESS_LOG_BYTES, |shared| PidsReader::new(shared, source, detail))
}

/// Reads a PIDS log from any reader, a line at a time; `path` names it in warnings. Fails
/// only when reading fails (the file vanished or shrank under the reader, a disk error).
pub fn read_pids_from(path: &Path, source: u16, raw: impl io::Read) -> Result<PidsLog, LogError> {
    read_pids_capped(path, source, raw, MAX_PROCESS_LOG_BYTES)
}

/// [`read_pids_from`] with the text read at most `cap` bytes long.
pub fn read_pids_capped(path: &Path, source: u16, raw: impl io::Read, cap: u64) -> Result<PidsLog, LogError> {
    read_log_capped(path, raw, cap, |shared| PidsReader::new(shared, source, ModuleDetail::All))
}

/// Writes the header of a PIDS log.
pub fn write_header<W: Write>(w: &mut W, header: &LogHeader) -> io::Result<()> {
    write_header_lines(w, header, PIDS_KIND_LINE)
}

/// Writes one entry: separator, `Log entry below recorded at:` in the PORTS spelling (see
/// [`format_ports_time`]), separator, block. `recorded_at` wins over `block.recorded_at`.
pub fn write_entry<W: Write>(w: &mut W, recorded_at: NaiveDateTime, block: &ProcessBlock) -> io::Result<()> {
    let at = format_ports_time(recorded_at);
    write!(w, "{SEPARATOR}{EOL}Log entry below recorded at: {at}{EOL}{SEPARATOR}{EOL}")?;
    write_block(w, block)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Address, Modules, PortField, TcpState};

    fn file() -> Arc<Path> {
        Arc::from(Path::new("PR-PIDS-04-01-24-8-49-30.log"))
    }

    fn dt(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        make_datetime(y, mo, d, h, mi, s).expect("valid date")
    }

    fn reasons(issues: &[LineIssue]) -> Vec<(u32, &str)> {
        issues.iter().map(|i| (i.line, i.reason.as_str())).collect()
    }

    /// The PIDS sample of KB 837243 with its line breaks restored; the module lists are cut short.
    pub(crate) const KB_PIDS: &str = "Port Reporter Version 1.0 Log File
Process detail log
System Date: Sat Jan 24 08:49:31 2004
Local computer name:<ComputerName>
======================================================
Log entry below recorded at: <Date and Time>
======================================================
Process ID: 664 (iexplore.exe)
User context: MYDOMAIN\\user
Process doesn't appear to be a service
PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port
664\tTCP 4867  \t0.0.0.0 \tLISTENING\t 0.0.0.0:4225
664\tTCP 4873  \t0.0.0.0 \tLISTENING\t 0.0.0.0:45070
664\tTCP 4867  \t169.254.66.8  \tESTABLISHED\t 169.254.44.12:80
664\tTCP 4873  \t169.254.66.8  \tSYN SENT\t 169.254.44.12:80
664\tUDP 4817  \t127.0.0.1 \t\t\t *:*
Port Statistics
TCP mappings: 4
UDP mappings: 1
TCP ports in a LISTENING state: \t2 = 50.00%
TCP ports in a SYN SENT state: \t\t1 = 25.00%
TCP ports in a ESTABLISHED state: \t1 = 25.00%
Loaded modules:
D:\\Program Files\\Internet Explorer\\iexplore.exe (0x00400000)
D:\\WINDOWS\\System32\\ntdll.dll (0x77F50000)
======================================================
Log entry below recorded at: <Date and Time>
======================================================
Process ID: 3764 (msmsgs.exe)
User context: MYDOMAIN\\user
Process doesn't appear to be a service
PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port
3764\tTCP 16521  \t169.254.66.8 \tLISTENING\t 0.0.0.0:45294
3764\tUDP 55441  \t169.254.66.8 \t\t\t *:*
Port Statistics
TCP mappings: 1
UDP mappings: 3
TCP ports in a LISTENING state: \t1 = 100.00%
Loaded modules:
D:\\Program Files\\Messenger\\msmsgs.exe (0x00400000)
======================================================
Log entry below recorded at: <Date and Time>
======================================================
Process ID: 2424 (Virtual PC.exe)
User context: MYDOMAIN\\user
Process doesn't appear to be a service
PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port
2424\tTCP 1262  \t169.254.66.8 \tESTABLISHED\t 169.254.5.214:1745
2424\tUDP 2686  \t0.0.0.0 \t\t\t *:*
Port Statistics
TCP mappings: 29
UDP mappings: 2
TCP ports in a LISTENING state: \t15 = 51.72%
TCP ports in a ESTABLISHED state: \t14 = 48.28%
Loaded modules:
C:\\Program Files\\Microsoft Virtual PC\\Virtual PC.exe (0x00400000)
C:\\Documents and Settings\\user\\Application Data\\Microsoft\\Virtual PC\\VPCKeyboard.dll (0x10000000)
";

    #[test]
    fn kb_sample_reads_with_placeholder_times_flagged() {
        let log = parse_pids(&file(), 2, KB_PIDS.as_bytes());
        assert_eq!(
            log.header,
            LogHeader {
                version: Some(Version("1.0".into())),
                system_date: Some(dt(4, 1, 24, 8, 49, 31)),
                computer_name: Some("ComputerName".into()),
                operating_system: None,
            }
        );
        assert!(log.mappings_available);
        let unreadable = "unreadable time after `recorded at:`; the block has no time";
        assert_eq!(reasons(&log.warnings), vec![(6, unreadable), (27, unreadable), (42, unreadable)]);
        let summary: Vec<_> = log
            .blocks
            .iter()
            .map(|b| (b.pid, b.process.as_str(), b.line, b.source, b.recorded_at, b.ports.len()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (664, "iexplore.exe", 8, 2, None, 5),
                (3764, "msmsgs.exe", 29, 2, None, 2),
                (2424, "Virtual PC.exe", 44, 2, None, 2)
            ]
        );
        let vpc = &log.blocks[2];
        assert_eq!(vpc.port_statistics.states[0].percent, Some(51.72));
        assert_eq!(vpc.ports[0].remote_port, PortField::Num(1745));
        assert_eq!(vpc.ports[0].state, Some(TcpState::Established));
        assert_eq!(log.blocks[0].ports[3].state, Some(TcpState::SynSent));
        let Modules::Listed(modules) = &vpc.modules else { panic!("modules expected") };
        assert_eq!(
            modules[1].path,
            "C:\\Documents and Settings\\user\\Application Data\\Microsoft\\Virtual PC\\VPCKeyboard.dll"
        );
    }

    #[test]
    fn every_time_spelling() {
        let t = dt(4, 1, 24, 8, 52, 21);
        for text in [
            "04/1/24 8:52:21",
            "04/1/24,8:52:21",
            "4/1/24 8:52:21",
            "04/01/24 08:52:21",
            "2004/1/24 8:52:21",
            "2004-01-24 08:52:21",
            "2004-01-24T08:52:21",
            "Sat Jan 24 08:52:21 2004",
            "sat jan 24 8:52:21 2004",
            "Jan 24 08:52:21 2004",
            "1/24/2004 8:52:21 AM",
            "  04/1/24  8:52:21  ",
        ] {
            assert_eq!(parse_log_time(text), Some(t), "{text}");
        }
        assert_eq!(parse_log_time("Sat Jan  4 08:49:31 2004"), Some(dt(4, 1, 4, 8, 49, 31)));
        assert_eq!(parse_log_time("1/24/2004 12:05:00 AM"), Some(dt(4, 1, 24, 0, 5, 0)));
        assert_eq!(parse_log_time("1/24/2004 1:05:00 PM"), Some(dt(4, 1, 24, 13, 5, 0)));
        assert_eq!(parse_log_time("99/12/31 23:59:59"), Some(dt(1999, 12, 31, 23, 59, 59)));
        for bad in
            ["<Date and Time>", "", "04/13/24 8:52:21", "04/1/24 25:00:00", "1/24/2004 13:00:00 PM", "Foo Jan 24"]
        {
            assert_eq!(parse_log_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn writer_times_use_the_ports_spelling() {
        assert_eq!(format_ports_time(dt(4, 1, 24, 8, 52, 2)), "04/1/24 8:52:2");
        assert_eq!(format_ports_time(dt(2071, 1, 2, 3, 4, 5)), "2071/1/2 3:4:5");
        assert_eq!(format_ctime(dt(4, 1, 4, 8, 49, 31)), "Sun Jan  4 08:49:31 2004");
    }

    #[test]
    fn version_101_header_with_the_name_on_the_next_line() {
        let text = "Port Reporter version 1.01 Log File\nProcess detail log\nSystem Date: Mon Jun 30 10:17:54 2008\nLocal computer name:\n TEST\nOperating System: windows xp\n";
        let log = parse_pids(&file(), 0, text.as_bytes());
        assert_eq!(log.warnings, vec![]);
        assert_eq!(
            log.header,
            LogHeader {
                version: Some(Version("1.01".into())),
                system_date: Some(dt(8, 6, 30, 10, 17, 54)),
                computer_name: Some("TEST".into()),
                operating_system: Some("windows xp".into()),
            }
        );
        let no_name =
            "Port Reporter version 1.01 Log File\nProcess detail log\nLocal computer name:\nOperating System: x\n";
        let log = parse_pids(&file(), 0, no_name.as_bytes());
        assert_eq!((log.header.computer_name, log.warnings), (None, vec![]));
    }

    #[test]
    fn windows_2000_log_is_not_damaged() {
        let text = "Port Reporter Version 1.0 Log File\r\nProcess detail log\r\nSystem Date: Sat Jan 24 08:49:31 2004\r\nLocal computer name:W2K\r\nPort to process mappings are not available on this system.\r\n";
        let log = parse_pids(&file(), 0, text.as_bytes());
        assert_eq!((log.mappings_available, log.blocks.len(), log.warnings), (false, 0, vec![]));
        assert_eq!(log.header.computer_name.as_deref(), Some("W2K"));
    }

    #[test]
    fn readable_entry_times_and_misplaced_lines() {
        let text = "Process detail log\n=====\nLog entry below recorded at: 04/1/24,8:52:21\n=====\nProcess ID: 5 (a)\n=====\nLog entry below recorded at: 04/1/24 8:52:22\nstray\nProcess ID: 6 (b)\nProcess ID: 7 (c)\nLog entry below recorded at: 04/1/24 8:52:23\n";
        let log = parse_pids(&file(), 0, text.as_bytes());
        let times: Vec<_> = log.blocks.iter().map(|b| (b.pid, b.recorded_at)).collect();
        assert_eq!(times, vec![(5, Some(dt(4, 1, 24, 8, 52, 21))), (6, Some(dt(4, 1, 24, 8, 52, 22))), (7, None)]);
        assert_eq!(
            reasons(&log.warnings),
            vec![
                (8, "line outside any process block"),
                (10, "process block without a `Log entry below recorded at:` line"),
                (11, "log entry without a process block"),
            ]
        );
    }

    #[test]
    fn wrong_or_missing_kind_is_a_file_warning() {
        let log = parse_pids(&file(), 0, b"Port Reporter version 1.01 Log File\nService initialization log\n");
        assert_eq!(log.warnings.len(), 1);
        assert_eq!(
            (log.warnings[0].line, log.warnings[0].reason.as_str()),
            (0, "the header says this is a PR-INITIAL log, not PR-PIDS")
        );
        let log = parse_pids(&file(), 0, b"");
        assert_eq!(reasons(&log.warnings), vec![(0, "no `Process detail log` line: the header is missing or damaged")]);
    }

    #[test]
    fn log_round_trips_through_the_writer() {
        let original = parse_pids(&file(), 1, KB_PIDS.as_bytes());
        let times = [dt(4, 1, 24, 8, 52, 21), dt(4, 1, 24, 22, 6, 2), dt(8, 6, 30, 10, 17, 58)];
        let mut out = Vec::new();
        write_header(&mut out, &original.header).expect("header");
        for (block, at) in original.blocks.iter().zip(times) {
            write_entry(&mut out, at, block).expect("entry");
        }
        let text = String::from_utf8(out.clone()).expect("utf8");
        assert!(text.starts_with("Port Reporter Version 1.0 Log File\r\nProcess detail log\r\nSystem Date: Sat Jan 24 08:49:31 2004\r\nLocal computer name:ComputerName\r\n======================================================\r\nLog entry below recorded at: 04/1/24 8:52:21\r\n"));
        let back = parse_pids(&file(), 1, &out);
        assert_eq!(back.warnings, vec![]);
        assert_eq!(back.header, original.header);
        let mut expected = original.blocks.clone();
        // The writer keeps the sample's line count, so the blocks start on the same lines.
        let lines = [8, 29, 44];
        for ((block, at), line) in expected.iter_mut().zip(times).zip(lines) {
            block.recorded_at = Some(at);
            block.line = line;
        }
        assert_eq!(back.blocks, expected);
    }

    #[test]
    fn header_round_trips_in_both_name_layouts() {
        for version in ["1.0", "1.01"] {
            let header = LogHeader {
                version: Some(Version(version.into())),
                system_date: Some(dt(8, 6, 30, 10, 17, 54)),
                computer_name: Some("PC12347".into()),
                operating_system: Some("windows xp".into()),
            };
            let mut out = Vec::new();
            write_header(&mut out, &header).expect("header");
            let log = parse_pids(&file(), 0, &out);
            assert_eq!((log.header, log.warnings), (header, vec![]));
        }
        let mut out = Vec::new();
        write_header(&mut out, &LogHeader::default()).expect("header");
        assert_eq!(parse_pids(&file(), 0, &out).header, LogHeader::default());
    }

    #[test]
    fn ipv6_and_udp_rows_round_trip_in_a_log() {
        let text = "Process detail log\nLocal computer name:x\n=====\nLog entry below recorded at: 04/1/24 8:52:21\n=====\nProcess ID: 9 (v6.exe)\nUser context: D\\u\nProcess doesn't appear to be a service\n9 TCP 443 :: LISTENING [::]:0\n9 UDP 53 fe80::1 *:*\nPort Statistics\n";
        let log = parse_pids(&file(), 0, text.as_bytes());
        assert_eq!(log.warnings, vec![]);
        let block = &log.blocks[0];
        assert_eq!(block.ports[0].local_ip, Address::Ip("::".parse().expect("ip")));
        assert_eq!(block.ports[1].remote_ip, Address::Any);
        let mut out = Vec::new();
        write_header(&mut out, &log.header).expect("header");
        write_entry(&mut out, dt(4, 1, 24, 8, 52, 21), block).expect("entry");
        let back = parse_pids(&file(), 0, &out);
        assert_eq!(back.blocks[0].ports, block.ports);
    }

    #[test]
    fn read_pids_reports_io_errors_and_decodes_utf16() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("PR-PIDS-04-01-24-8-49-30.log");
        assert!(matches!(read_pids(&missing, 0), Err(LogError::Io { .. })));
        let mut raw = vec![0xFF, 0xFE];
        raw.extend(KB_PIDS.encode_utf16().flat_map(|u| u.to_le_bytes()));
        std::fs::write(&missing, raw).expect("write");
        let log = read_pids(&missing, 4).expect("read");
        assert_eq!(log.blocks.len(), 3);
        assert_eq!(log.blocks[0].source, 4);
        assert_eq!(&*log.path, missing.as_path());
    }

    /// Xorshift64: reproducible noise without a new crate.
    pub(crate) struct Noise(pub u64);

    impl Noise {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// Random bytes, or a soup of the words the parsers look for.
        pub(crate) fn text(&mut self) -> Vec<u8> {
            const WORDS: [&str; 28] = [
                "Process ID: 4 ",
                "(",
                ")",
                "=====",
                "\n",
                "\r\n",
                "\t",
                " ",
                "\n4\tTCP 80 ",
                "\n4 UDP 5 ",
                "0.0.0.0 ",
                "SYN SENT\t ",
                "4",
                "65536",
                ":",
                "*:*",
                "[::1]:",
                "0x",
                "Loaded modules:\n",
                "Local computer name:",
                "\u{e9}",
                "\u{2028}",
                "state: ",
                "TCP ports in a ",
                "Log entry below recorded at: ",
                "12 mappings found",
                "\n4:System Idle TCP 8 ",
                "Service Name: ",
            ];
            let len = (self.next() % 300) as usize;
            let mut out = Vec::with_capacity(len * 4);
            let soup = self.next().is_multiple_of(2);
            for _ in 0..len {
                let r = self.next();
                if soup {
                    out.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
                } else {
                    out.push((r >> 8) as u8);
                }
            }
            out
        }
    }

    #[test]
    fn no_input_makes_the_reader_panic() {
        let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
        for _ in 0..4000 {
            let bytes = noise.text();
            let log = parse_pids(&file(), 0, &bytes);
            assert!(log.warnings.len() <= crate::logs::issues::MAX_KEPT_ISSUES + 1);
        }
        let kb = KB_PIDS.as_bytes();
        for end in 0..=kb.len() {
            parse_pids(&file(), 0, &kb[..end]);
        }
    }

    #[test]
    fn a_log_read_keeping_the_image_only_has_the_same_blocks_but_their_module_lists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("PR-PIDS-04-01-24-8-49-30.log");
        std::fs::write(&path, KB_PIDS).expect("write");
        let all = read_pids(&path, 0).expect("read");
        let image = read_pids_keeping(&path, 0, ModuleDetail::ImageOnly).expect("read");
        let seen = |log: &PidsLog| -> Vec<_> {
            log.blocks
                .iter()
                .map(|b| (b.pid, b.process.clone(), b.image_path().map(str::to_string), b.ports.len()))
                .collect()
        };
        assert_eq!(seen(&image), seen(&all));
        assert!(all.blocks.iter().any(|b| matches!(&b.modules, Modules::Listed(l) if l.len() > 1)));
        assert!(image.blocks.iter().all(|b| !matches!(&b.modules, Modules::Listed(l) if l.len() > 1)));
        assert_eq!(image.warnings, all.warnings);
    }
}
