//! PR-INITIAL: the snapshot Port Reporter takes when its service starts: a header, a table of
//! every port with its process (`27 mappings found`, then `PID:Process  Port ...` rows), and one
//! process block per process, in the shape of a PR-PIDS block without its `recorded at` line.
//!
//! The table's first column glues PID and process name (`0:System Idle`, `2424:Virtual PC.exe`)
//! and the name may contain spaces, so the name ends where the last `TCP`/`UDP` column followed
//! by a port number starts.

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use crate::error::LogError;
use crate::logs::header::LogKind;
pub use crate::logs::pids::LogHeader;
use crate::logs::pids::{HeaderReader, INITIAL_KIND_LINE, write_header_lines};
use crate::logs::process_block::{
    BlockStream, EOL, Issues, LineSink, MAPPINGS_UNAVAILABLE, MAX_PROCESS_LOG_BYTES, SEPARATOR, clean, columns_at,
    digits, is_mappings_unavailable, is_separator, parse_columns, parse_log, process_id_rest, read_log_capped,
    strip_prefix_ci, write_block, write_row_tail,
};
use crate::logs::text::LineIssue;
use crate::model::{PortMapping, ProcessBlock, Protocol};

/// A PR-INITIAL log as read.
#[derive(Debug, Clone, PartialEq)]
pub struct InitialLog {
    pub path: Arc<Path>,
    pub header: LogHeader,
    /// The count the log announces (`27 mappings found`); the rows actually read are `mappings`.
    pub mappings_found: Option<u32>,
    pub mappings: Vec<PortMapping>,
    /// `false` when the log says `Port to process mappings are not available on this system.`
    /// (Windows 2000).
    pub mappings_available: bool,
    pub blocks: Vec<ProcessBlock>,
    pub warnings: Vec<LineIssue>,
}

const TABLE_TITLE: &str = "TCP/UDP Port to Process Mappings at service start-up";

/// The mapping table's header line, as in the KB sample.
const TABLE_HEADER: &str = "PID:Process\t\tPort\t\tLocal IP\tState\t\t Remote IP:Port";

/// The separator between the table and the first block: longer than the others in the sample.
const TABLE_END: &str = "=============================================================================";

/// The sample puts two tabs after `pid:name` up to 13 characters and one from 15 on; 14 is not
/// shown, two tabs it is.
const ONE_TAB_FROM: usize = 15;

/// Reads a mapping table row (`0:System Idle\t\tTCP 4857  \t169.254.66.8 \tTIME WAIT\t 169.254.44.123:80`).
/// `None` when the line does not start with `pid:`, so it is no row at all.
pub fn parse_mapping_row(line: &str) -> Option<Result<PortMapping, String>> {
    let (pid, rest) = line.trim().split_once(':')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let Some(pid) = digits(pid) else {
        return Some(Err("row PID is too large".into()));
    };
    Some(parse_named_columns(pid, rest))
}

/// Splits `System Idle\t\tTCP 4857 ...` at the last protocol column that a port number follows:
/// a name may contain `TCP 80` itself, the columns after the real protocol never do.
fn parse_named_columns(pid: u32, rest: &str) -> Result<PortMapping, String> {
    let cols = columns_at(rest)?;
    let is_split = |i: usize| {
        let proto = cols.get(i).is_some_and(|(_, c)| Protocol::parse(c.as_bytes()).is_some());
        proto && cols.get(i + 1).is_some_and(|(_, c)| digits::<u16>(c).is_some())
    };
    let at = (0..cols.len()).rev().find(|&i| is_split(i)).ok_or("row has no protocol and port columns")?;
    let start = cols.get(at).map_or(0, |(offset, _)| *offset);
    let name = rest.get(..start).unwrap_or("").trim();
    let tail: Vec<&str> = cols.iter().skip(at).map(|(_, c)| *c).collect();
    let mut mapping = parse_columns(pid, &tail)?;
    mapping.process = (!name.is_empty()).then(|| name.to_string());
    Ok(mapping)
}

/// `27 mappings found` → `Some(Some(27))`; `Some(None)` when the count is unreadable.
fn parse_mappings_found(t: &str) -> Option<Option<u32>> {
    let words: Vec<&str> = t.split_whitespace().take(4).collect();
    let [count, noun, found] = words.as_slice() else {
        return None;
    };
    let noun_ok = noun.eq_ignore_ascii_case("mappings") || noun.eq_ignore_ascii_case("mapping");
    (noun_ok && found.eq_ignore_ascii_case("found")).then(|| digits(count))
}

/// Where the reader is in an INITIAL log.
struct InitialReader {
    header: HeaderReader,
    blocks: BlockStream,
    issues: Issues,
    /// The announced count with the line that announced it.
    mappings_found: Option<(u32, u32)>,
    mappings: Vec<PortMapping>,
    mappings_available: bool,
    /// Past the table: from the first separator or `Process ID:` line on, rows belong to blocks.
    in_blocks: bool,
}

impl LineSink for InitialReader {
    type Log = InitialLog;

    fn line(&mut self, number: u32, line: &str) {
        self.read_line(number, line);
    }

    fn issues(&mut self) -> &mut Issues {
        &mut self.issues
    }

    fn finish(mut self, path: &Arc<Path>) -> InitialLog {
        if let Some((number, n)) = self.mappings_found
            && usize::try_from(n).ok() != Some(self.mappings.len())
        {
            let reason = format!("{n} mappings announced, {} rows read", self.mappings.len());
            self.issues.warn(number, reason, "");
        }
        self.header.check_kind(LogKind::Initial, INITIAL_KIND_LINE, &mut self.issues);
        InitialLog {
            path: Arc::clone(path),
            header: self.header.header,
            mappings_found: self.mappings_found.map(|(_, n)| n),
            mappings: self.mappings,
            mappings_available: self.mappings_available,
            blocks: self.blocks.into_blocks(),
            warnings: self.issues.into_vec(),
        }
    }
}

impl InitialReader {
    fn new(path: &Arc<Path>, source: u16) -> InitialReader {
        InitialReader {
            header: HeaderReader::default(),
            blocks: BlockStream::new(source),
            issues: Issues::new(path),
            mappings_found: None,
            mappings: Vec::new(),
            mappings_available: true,
            in_blocks: false,
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
            return;
        }
        let placed = self.block_line(number, line, t)
            || (!self.in_blocks && self.table_line(number, line, t))
            || self.header.feed(t, number, wanted_name, &mut self.issues);
        if !placed {
            self.issues.warn(number, "unexpected line", line);
        }
    }

    fn block_line(&mut self, number: u32, line: &str, t: &str) -> bool {
        if is_separator(t) {
            self.blocks.close();
        } else if let Some(rest) = process_id_rest(t) {
            self.blocks.start(rest, number, None, line, &mut self.issues);
        } else {
            return self.blocks.feed(line, number, &mut self.issues);
        }
        self.in_blocks = true;
        true
    }

    fn table_line(&mut self, number: u32, line: &str, t: &str) -> bool {
        if strip_prefix_ci(t, "TCP/UDP Port to Process Mappings").is_some() || strip_prefix_ci(t, "PID:").is_some() {
            return true;
        }
        if let Some(count) = parse_mappings_found(t) {
            match count {
                Some(n) => _ = self.mappings_found.get_or_insert((number, n)),
                None => self.issues.warn(number, "mapping count is not a number", line),
            }
            return true;
        }
        match parse_mapping_row(t) {
            None => return false,
            Some(Ok(mapping)) => self.mappings.push(mapping),
            Some(Err(reason)) => self.issues.warn(number, reason, line),
        }
        true
    }
}

/// Reads an INITIAL log from bytes in memory, in any encoding [`read_initial_from`] knows.
/// Never fails: whatever cannot be read becomes a warning.
pub fn parse_initial(path: &Arc<Path>, source: u16, raw: &[u8]) -> InitialLog {
    parse_log(path, raw, InitialReader::new(path, source))
}

/// Reads an INITIAL log file in any encoding [`crate::logs::text::TextReader`] knows.
pub fn read_initial(path: &Path, source: u16) -> Result<InitialLog, LogError> {
    let file = std::fs::File::open(path).map_err(|e| LogError::io(path, e))?;
    read_initial_from(path, source, file)
}

/// Reads an INITIAL log from any reader, a line at a time; `path` names it in warnings. Fails
/// only when reading fails.
pub fn read_initial_from(path: &Path, source: u16, raw: impl io::Read) -> Result<InitialLog, LogError> {
    read_initial_capped(path, source, raw, MAX_PROCESS_LOG_BYTES)
}

/// [`read_initial_from`] with the text read at most `cap` bytes long.
pub fn read_initial_capped(path: &Path, source: u16, raw: impl io::Read, cap: u64) -> Result<InitialLog, LogError> {
    read_log_capped(path, raw, cap, |shared| InitialReader::new(shared, source))
}

/// Writes an INITIAL log in the layout of the KB sample, with the blank line the 1.01 lab
/// sample shows before the table header. Each block is followed by a separator, so a reader
/// never has to guess where the last one ends. Process names in the table are cleaned like
/// every block text field (see [`crate::logs::process_block`]); an empty name reads back as
/// `None`.
pub fn write_initial<W: Write>(w: &mut W, log: &InitialLog) -> io::Result<()> {
    write_header_lines(w, &log.header, INITIAL_KIND_LINE)?;
    if !log.mappings_available {
        write!(w, "{MAPPINGS_UNAVAILABLE}{EOL}")?;
    }
    let table = log.mappings_available || log.mappings_found.is_some() || !log.mappings.is_empty();
    if table {
        write_table(w, log)?;
    }
    if table || !log.blocks.is_empty() {
        write!(w, "{TABLE_END}{EOL}")?;
    }
    for block in &log.blocks {
        write_block(w, block)?;
        write!(w, "{SEPARATOR}{EOL}")?;
    }
    Ok(())
}

fn write_table<W: Write>(w: &mut W, log: &InitialLog) -> io::Result<()> {
    write!(w, "{TABLE_TITLE}{EOL}")?;
    if let Some(n) = log.mappings_found {
        write!(w, "{n} mappings found{EOL}")?;
    }
    write!(w, "{EOL}{TABLE_HEADER}{EOL}")?;
    for mapping in &log.mappings {
        let lead = format!("{}:{}", mapping.pid, clean(mapping.process.as_deref().unwrap_or("")));
        let tabs = if lead.chars().count() < ONE_TAB_FROM { "\t\t" } else { "\t" };
        write!(w, "{lead}{tabs}")?;
        write_row_tail(w, mapping)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::header::Version;
    use crate::logs::pids::tests::Noise;
    use crate::model::{Address, Modules, PortField, TcpState, make_datetime};
    use std::net::{IpAddr, Ipv4Addr};

    fn file() -> Arc<Path> {
        Arc::from(Path::new("PR-INITIAL-04-01-24-8-49-30.log"))
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> Address {
        Address::Ip(IpAddr::V4(Ipv4Addr::new(a, b, c, d)))
    }

    fn reasons(issues: &[LineIssue]) -> Vec<(u32, &str)> {
        issues.iter().map(|i| (i.line, i.reason.as_str())).collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn mapping(
        pid: u32,
        name: &str,
        protocol: Protocol,
        port: u16,
        local: Address,
        state: Option<TcpState>,
        remote: Address,
        remote_port: PortField,
    ) -> PortMapping {
        PortMapping {
            pid,
            process: Some(name.into()),
            protocol,
            local_port: port,
            local_ip: local,
            state,
            remote_ip: remote,
            remote_port,
        }
    }

    /// The INITIAL sample of KB 837243 (version 1.0) with its line breaks restored: the whole
    /// table and the first two blocks, the second one's module list cut short.
    const KB_INITIAL: &str = "Port Reporter Version 1.0 Log File
Service initialization log
System Date: <Date and Time>
Local computer name:<ComputerName>
TCP/UDP Port to Process Mappings at service start-up
36 mappings found
PID:Process\t\tPort\t\tLocal IP\tState\t\t Remote IP:Port
0:System Idle\t\tTCP 4857  \t169.254.66.8 \tTIME WAIT\t 169.254.44.123:80
4:System\t\tTCP 445  \t0.0.0.0 \tLISTENING\t 0.0.0.0:6246
4:System\t\tTCP 1026  \t0.0.0.0 \tLISTENING\t 0.0.0.0:28726
4:System\t\tTCP 139  \t169.254.66.8 \tLISTENING\t 0.0.0.0:34925
4:System\t\tUDP 445  \t0.0.0.0 \t\t\t *:*
4:System\t\tUDP 137  \t169.254.66.8 \t\t\t *:*
4:System\t\tUDP 138  \t169.254.66.8 \t\t\t *:*
664:iexplore.exe\tTCP 4867  \t0.0.0.0 \tLISTENING\t 0.0.0.0:4225
664:iexplore.exe\tTCP 4870  \t0.0.0.0 \tLISTENING\t 0.0.0.0:45070
664:iexplore.exe\tTCP 4871  \t0.0.0.0 \tLISTENING\t 0.0.0.0:18494
664:iexplore.exe\tTCP 4872  \t0.0.0.0 \tLISTENING\t 0.0.0.0:6182
664:iexplore.exe\tTCP 4867  \t169.254.66.8 \tESTABLISHED\t 169.254.44.123:80
664:iexplore.exe\tTCP 4870  \t169.254.66.8 \tESTABLISHED\t 207.68.177.62:80
664:iexplore.exe\tTCP 4871  \t169.254.66.8 \tESTABLISHED\t 207.46.248.110:80
664:iexplore.exe\tTCP 4872  \t169.254.66.8 \tESTABLISHED\t 207.46.248.110:80
664:iexplore.exe\tUDP 4817  \t127.0.0.1 \t\t\t *:*
748:lsass.exe\t\tUDP 500  \t0.0.0.0 \t\t\t *:*
952:svchost.exe\tTCP 135  \t0.0.0.0 \tLISTENING\t 0.0.0.0:2096
1092:svchost.exe\tTCP 1025  \t0.0.0.0 \tLISTENING\t 0.0.0.0:2064
1092:svchost.exe\tTCP 3002  \t127.0.0.1 \tLISTENING\t 0.0.0.0:49193
1092:svchost.exe\tTCP 3003  \t127.0.0.1 \tLISTENING\t 0.0.0.0:39078
1092:svchost.exe\tUDP 123  \t169.254.66.8 \t\t\t *:*
1092:svchost.exe\tUDP 123  \t127.0.0.1 \t\t\t *:*
1192:svchost.exe\tUDP 3009  \t0.0.0.0 \t\t\t *:*
1192:svchost.exe\tUDP 3015  \t0.0.0.0 \t\t\t *:*
1192:svchost.exe\tUDP 3016  \t0.0.0.0 \t\t\t *:*
1228:svchost.exe\tTCP 5000  \t0.0.0.0 \tLISTENING\t 0.0.0.0:45223
1228:svchost.exe\tUDP 1900  \t169.254.66.8 \t\t\t *:*
1228:svchost.exe\tUDP 1900  \t127.0.0.1 \t\t\t *:*
1536:alg.exe\t\tTCP 3001  \t127.0.0.1 \tLISTENING\t 0.0.0.0:2064
1568:InoRpc.exe\tTCP 42510  \t0.0.0.0 \tLISTENING\t 0.0.0.0:14373
1568:InoRpc.exe\tUDP 43508  \t169.254.66.8 \t\t\t *:*
3764:msmsgs.exe\tTCP 16521  \t169.254.66.8 \tLISTENING\t 0.0.0.0:45294
3764:msmsgs.exe\tUDP 4803  \t0.0.0.0 \t\t\t *:*
3764:msmsgs.exe\tUDP 9160  \t169.254.66.8 \t\t\t *:*
3764:msmsgs.exe\tUDP 9586  \t169.254.66.8 \t\t\t *:*
=============================================================================
Process ID: 4 (System)
System Process
PID\tPort\t\tLocal IP\tState\t\t Remote IP:Port
4\tTCP 445  \t0.0.0.0 \tLISTENING\t 0.0.0.0:6246
4\tTCP 1026  \t0.0.0.0 \tLISTENING\t 0.0.0.0:28726
4\tTCP 139  \t169.254.66.8 \tLISTENING\t 0.0.0.0:34925
4\tUDP 445  \t0.0.0.0 \t\t\t *:*
4\tUDP 137  \t169.254.66.8 \t\t\t *:*
4\tUDP 138  \t169.254.66.8 \t\t\t *:*
Port Statistics
TCP mappings: 3
UDP mappings: 3
TCP ports in a LISTENING state: \t3 = 100.00%
Could not access module information for this process
======================================================
Process ID: 748 (lsass.exe)
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
Port Statistics
TCP mappings: 0
UDP mappings: 1
Loaded modules:
D:\\WINDOWS\\system32\\lsass.exe (0x01000000)
D:\\WINDOWS\\System32\\ntdll.dll (0x77F50000)
D:\\WINDOWS\\system32\\kernel32.dll (0x77E60000)
======================================================
";

    /// The lab sheet's INITIAL sample (version 1.01): its two screenshots joined, blank lines and
    /// the line holding one space kept.
    const LAB_INITIAL: &str = "Port Reporter version 1.01 Log File
Service initialization log
System Date: Mon Jun 30 10:17:54 2008
Local computer name:
PC12347
Operating System: windows xp
TCP/UDP Port to Process Mappings at service start-up
27 mappings found

PID:Process      Port      Local IP      State      Remote IP:Port
4:System         TCP 445     0.0.0.0      LISTENING   0.0.0.0
4:System         TCP 139     192.168.1.103  LISTENING   0.0.0.0
4:System         UDP 445     0.0.0.0      *:*        *:*
4:System         UDP 137     192.168.1.103  LISTENING   *:*
4:System         UDP 138     192.168.1.103  LISTENING   *:*
204:svchost.exe UDP 1029    0.0.0.0      *:*        *:*
204:svchost.exe UDP 1068    0.0.0.0      *:*        *:*
336:svchost.exe UDP 1900    127.0.0.1    *:*        *:*
336:svchost.exe UDP 1900    192.168.1.103  LISTENING   *:*
372:WINWORD.EXE UDP 1445    127.0.0.1    *:*        *:*
732:avgemc.exe  TCP 10110   127.0.0.1    LISTENING   0.0.0.0
788:cvpncl.exe  UDP 62515   127.0.0.1    *:*        *:*
788:cvpncl.exe  UDP 62517   127.0.0.1    *:*        *:*
788:cvpncl.exe  UDP 62519   127.0.0.1    *:*        *:*
788:cvpncl.exe  UDP 62521   127.0.0.1    *:*        *:*
788:cvpncl.exe  UDP 62523   127.0.0.1    *:*        *:*
788:cvpncl.exe  UDP 62524   127.0.0.1    *:*        *:*
896:lnssatt.exe TCP 1170    0.0.0.0      LISTENING   0.0.0.0
1600:lsass.exe  UDP 500     0.0.0.0      *:*        *:*
1600:lsass.exe  UDP 4500    0.0.0.0      *:*        *:*
1820:svchost.exe TCP 135     0.0.0.0      LISTENING   0.0.0.0
1900:svchost.exe UDP 123     127.0.0.1    *:*        *:*
1900:svchost.exe UDP 1030    127.0.0.1    *:*        *:*
1900:svchost.exe UDP 68      192.168.1.103  LISTENING   *:*
1900:svchost.exe UDP 123     192.168.1.103  LISTENING   *:*
2460:alg.exe     TCP 1034    127.0.0.1    LISTENING   0.0.0.0
3312:iexplore.exe UDP 1425   127.0.0.1    *:*        *:*
=====
=====
Process ID: 4 (System)
System Process
PID      Port          Local IP        State           Remote IP:Port
4        TCP 445        0.0.0.0       LISTENING      0.0.0.0
4        TCP 139        192.168.1.103  LISTENING      0.0.0.0
4        UDP 445        0.0.0.0       *:*            *:*
4        UDP 137        192.168.1.103  *:*            *:*
4        UDP 138        192.168.1.103  *:*            *:*

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

    #[test]
    fn kb_sample_reads_exactly() {
        let log = parse_initial(&file(), 1, KB_INITIAL.as_bytes());
        assert_eq!(reasons(&log.warnings), vec![(3, "System Date is not a readable date")]);
        assert_eq!(
            log.header,
            LogHeader {
                version: Some(Version("1.0".into())),
                system_date: None,
                computer_name: Some("ComputerName".into()),
                operating_system: None
            }
        );
        assert_eq!((log.mappings_found, log.mappings.len(), log.mappings_available), (Some(36), 36, true));
        assert_eq!(
            log.mappings[0],
            mapping(
                0,
                "System Idle",
                Protocol::Tcp,
                4857,
                v4(169, 254, 66, 8),
                Some(TcpState::TimeWait),
                v4(169, 254, 44, 123),
                PortField::Num(80)
            )
        );
        assert_eq!(
            log.mappings[4],
            mapping(4, "System", Protocol::Udp, 445, v4(0, 0, 0, 0), None, Address::Any, PortField::Any)
        );
        assert_eq!(
            log.mappings[17],
            mapping(
                952,
                "svchost.exe",
                Protocol::Tcp,
                135,
                v4(0, 0, 0, 0),
                Some(TcpState::Listening),
                v4(0, 0, 0, 0),
                PortField::Num(2096)
            )
        );
        let blocks: Vec<_> =
            log.blocks.iter().map(|b| (b.pid, b.process.as_str(), b.line, b.source, b.services.len())).collect();
        assert_eq!(blocks, vec![(4, "System", 45, 1, 0), (748, "lsass.exe", 60, 1, 3)]);
        assert!(log.blocks[0].system_process);
        assert_eq!(log.blocks[0].modules, Modules::NotAccessible);
        assert_eq!(log.blocks[1].recorded_at, None);
    }

    #[test]
    fn lab_sample_reads_without_warnings() {
        let log = parse_initial(&file(), 0, LAB_INITIAL.as_bytes());
        assert_eq!(log.warnings, vec![]);
        assert_eq!(
            log.header,
            LogHeader {
                version: Some(Version("1.01".into())),
                system_date: make_datetime(8, 6, 30, 10, 17, 54),
                computer_name: Some("PC12347".into()),
                operating_system: Some("windows xp".into()),
            }
        );
        assert_eq!((log.mappings_found, log.mappings.len()), (Some(27), 27));
        assert_eq!(
            log.mappings[0],
            mapping(
                4,
                "System",
                Protocol::Tcp,
                445,
                v4(0, 0, 0, 0),
                Some(TcpState::Listening),
                v4(0, 0, 0, 0),
                PortField::Empty
            )
        );
        // UDP rows: `LISTENING` or `*:*` in the state column, no state either way.
        assert_eq!(
            log.mappings[3],
            mapping(4, "System", Protocol::Udp, 137, v4(192, 168, 1, 103), None, Address::Any, PortField::Any)
        );
        assert_eq!(
            log.mappings[5],
            mapping(204, "svchost.exe", Protocol::Udp, 1029, v4(0, 0, 0, 0), None, Address::Any, PortField::Any)
        );
        assert_eq!(log.mappings[26].process.as_deref(), Some("iexplore.exe"));
        let blocks: Vec<_> = log.blocks.iter().map(|b| (b.pid, b.process.as_str(), b.line, b.ports.len())).collect();
        assert_eq!(blocks, vec![(4, "System", 40, 5), (1308, "smss.exe", 58, 0)]);
    }

    #[test]
    fn names_with_spaces_end_at_the_protocol_column() {
        let row = |t: &str| parse_mapping_row(t).expect("a row").expect("readable");
        assert_eq!(
            row("2424:Virtual PC.exe\tTCP 1262  \t0.0.0.0 \tLISTENING\t 0.0.0.0:2192").process.as_deref(),
            Some("Virtual PC.exe")
        );
        assert_eq!(row("9:my TCP 80  tool.exe UDP 81 1.2.3.4 *:* *:*").process.as_deref(), Some("my TCP 80  tool.exe"));
        assert_eq!(row("9:x TCP\tTCP 81 1.2.3.4 LISTENING 0.0.0.0").process.as_deref(), Some("x TCP"));
        let unnamed = row("9:\tUDP 81 ::1 *:*");
        assert_eq!((unnamed.process, unnamed.local_ip), (None, Address::Ip("::1".parse().expect("ip"))));
        assert!(parse_mapping_row("System Date: x").is_none());
        assert!(parse_mapping_row("9:System").expect("a row").is_err());
        assert!(parse_mapping_row("99999999999:System TCP 1 0.0.0.0").expect("a row").is_err());
    }

    #[test]
    fn count_mismatch_and_bad_rows_are_warnings() {
        let text = "Service initialization log\n3 mappings found\nPID:Process Port\n4:System TCP 445 0.0.0.0 LISTENING 0.0.0.0\n4:System TCP x 0.0.0.0\nLog entry below recorded at: 04/1/24 8:52:21\n=====\n4:System TCP 445 0.0.0.0 LISTENING 0.0.0.0\n";
        let log = parse_initial(&file(), 0, text.as_bytes());
        assert_eq!(log.mappings.len(), 1);
        assert_eq!(
            reasons(&log.warnings),
            vec![
                (5, "row has no protocol and port columns"),
                (6, "unexpected line"),
                (8, "unexpected line"),
                (2, "3 mappings announced, 1 rows read"),
            ]
        );
    }

    #[test]
    fn windows_2000_log() {
        let text = "Port Reporter Version 1.0 Log File\r\nService initialization log\r\nSystem Date: Sat Jan 24 08:49:31 2004\r\nLocal computer name:W2K\r\nPort to process mappings are not available on this system.\r\n";
        let log = parse_initial(&file(), 0, text.as_bytes());
        assert_eq!(
            (log.mappings_available, log.mappings_found, log.mappings.len(), log.blocks.len()),
            (false, None, 0, 0)
        );
        assert_eq!(log.warnings, vec![]);
        let mut out = Vec::new();
        write_initial(&mut out, &log).expect("write");
        assert_eq!(String::from_utf8(out).expect("utf8"), text);
    }

    #[test]
    fn indented_name_on_the_next_line() {
        let text = "Port Reporter version 1.01 Log File\nService initialization log\nLocal computer name:\n TEST\nTCP/UDP Port to Process Mappings at service start-up\n0 mappings found\n";
        let log = parse_initial(&file(), 0, text.as_bytes());
        assert_eq!((log.header.computer_name.as_deref(), log.mappings_found), (Some("TEST"), Some(0)));
        assert_eq!(log.warnings, vec![]);
    }

    #[test]
    fn writer_reproduces_the_kb_sample() {
        let log = parse_initial(&file(), 1, KB_INITIAL.as_bytes());
        let mut out = Vec::new();
        write_initial(&mut out, &log).expect("write");
        // What the writer cannot or does not reproduce: the unreadable `<Date and Time>`, the
        // angle brackets of the placeholder name, and the blank line before the table header
        // that the KB page lost.
        let expected = KB_INITIAL
            .replace("System Date: <Date and Time>\n", "")
            .replace("<ComputerName>", "ComputerName")
            .replace("found\n", "found\n\n")
            .replace('\n', "\r\n");
        assert_eq!(String::from_utf8(out).expect("utf8"), expected);
    }

    fn round_trip(log: &InitialLog) -> InitialLog {
        let mut out = Vec::new();
        write_initial(&mut out, log).expect("write");
        parse_initial(&log.path, 0, &out)
    }

    #[test]
    fn logs_round_trip_including_ipv6_and_udp() {
        let mut log = parse_initial(&file(), 0, LAB_INITIAL.as_bytes());
        let v6 = |s: &str| Address::Ip(s.parse().expect("ipv6"));
        log.mappings.push(mapping(
            7,
            "Virtual PC (2).exe",
            Protocol::Tcp,
            443,
            v6("fe80::1"),
            Some(TcpState::SynSent),
            v6("2001:db8::1"),
            PortField::Num(80),
        ));
        log.mappings.push(mapping(
            7,
            "Virtual PC (2).exe",
            Protocol::Udp,
            53,
            v6("::"),
            None,
            Address::Any,
            PortField::Any,
        ));
        log.mappings_found = Some(29);
        let back = round_trip(&log);
        assert_eq!(back.warnings, vec![]);
        assert_eq!(
            (&back.header, back.mappings_found, &back.mappings),
            (&log.header, log.mappings_found, &log.mappings)
        );
        let lines: Vec<u32> = back.blocks.iter().map(|b| b.line).collect();
        let mut expected = log.blocks.clone();
        for (block, line) in expected.iter_mut().zip(&lines) {
            block.line = *line;
        }
        assert_eq!(back.blocks, expected);
        assert_eq!(lines, vec![41, 55]);
    }

    #[test]
    fn read_initial_reads_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("PR-INITIAL-08-06-30-10-17-54.log");
        assert!(matches!(read_initial(&path, 0), Err(LogError::Io { .. })));
        std::fs::write(&path, LAB_INITIAL.replace('\n', "\r\n")).expect("write");
        let log = read_initial(&path, 2).expect("read");
        assert_eq!((log.mappings.len(), log.blocks.len(), log.warnings.len()), (27, 2, 0));
        assert_eq!(log.blocks[1].source, 2);
    }

    #[test]
    fn no_input_makes_the_reader_panic() {
        let mut noise = Noise(0x2545_F491_4F6C_DD1D);
        for _ in 0..4000 {
            parse_initial(&file(), 0, &noise.text());
        }
        for sample in [KB_INITIAL, LAB_INITIAL] {
            let bytes = sample.as_bytes();
            for end in 0..=bytes.len() {
                parse_initial(&file(), 0, &bytes[..end]);
            }
        }
    }
}
