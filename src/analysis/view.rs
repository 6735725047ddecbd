//! What the grid shows: which rows, in which order, and each cell's text.
//!
//! A view is a permutation of row indices, computed off the UI thread: filters are matched
//! once per distinct value (module names, users, addresses, ports) and rows by table look-up,
//! and sorting compares integer keys (names by precomputed rank), so both stay fast on ten
//! million rows.
//!
//! Building a view looks at a cancel flag between chunks of rows: a filter typed one key
//! further makes the running one stale, and it stops within a chunk instead of finishing.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use crate::analysis::dns::HostNames;
use crate::analysis::time_range::TimeRange;
use crate::logs::ports::PortsLog;
use crate::model::{Address, PortEvent};

/// The grid's columns, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Column {
    Time,
    /// The computer the row came from (see [`crate::logs::computers`]).
    Computer,
    Protocol,
    Local,
    Remote,
    Host,
    /// The remote address's country (ISO code), from the GeoIP database open.
    Country,
    /// The remote address's autonomous system (`AS13335 CLOUDFLARENET`), from the ASN database.
    Asn,
    Pid,
    Module,
    User,
}

impl Column {
    pub const ALL: [Column; 11] = [
        Column::Time,
        Column::Computer,
        Column::Protocol,
        Column::Local,
        Column::Remote,
        Column::Host,
        Column::Country,
        Column::Asn,
        Column::Pid,
        Column::Module,
        Column::User,
    ];

    /// The columns shown: Country and AS only while a GeoIP database is open (`places`), so
    /// that a grid without one has no columns that can only be empty.
    pub fn shown(places: bool) -> Vec<Column> {
        Column::ALL.into_iter().filter(|c| places || !matches!(c, Column::Country | Column::Asn)).collect()
    }

    pub fn title(self) -> &'static str {
        match self {
            Column::Time => "Date/time",
            Column::Computer => "Computer",
            Column::Protocol => "Protocol",
            Column::Local => "Local IP:port",
            Column::Remote => "Remote IP:port",
            // The remote address's DNS name: "Remote host", so that it is not taken for the
            // computer the row came from.
            Column::Host => "Remote host",
            Column::Country => "Country",
            Column::Asn => "AS",
            Column::Pid => "PID",
            Column::Module => "Module",
            Column::User => "User",
        }
    }
}

/// Sort order of the grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Sort {
    pub column: Column,
    pub descending: bool,
}

/// Text filters: a quick filter over every column, and one per column (case-insensitive
/// substrings; empty means no filter), plus an exact drill-down from a statistics entry and a
/// time range (the timeline's selection).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub quick: String,
    pub columns: Vec<(Column, String)>,
    pub drill: Option<Drill>,
    pub range: TimeRange,
}

impl Filter {
    pub fn is_empty(&self) -> bool {
        self.quick.trim().is_empty()
            && self.columns.iter().all(|(_, t)| t.trim().is_empty())
            && self.drill.is_none()
            && self.range.is_all()
    }

    /// The same filter over every time: what the timeline counts, so that a selection can be
    /// widened.
    pub fn without_range(&self) -> Filter {
        Filter { range: TimeRange::ALL, ..self.clone() }
    }
}

/// The rows behind one statistics entry: exactly the rows that entry counted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Drill {
    LocalTcpPort(u16),
    Process(String),
    RemoteIp(std::net::IpAddr),
    User(String),
    Hour(u32),
    Pid(u32),
    /// The rows of one computer (the Computers view).
    Computer(String),
    /// A process's rows by one user (per-process usage).
    ProcessUser {
        process: String,
        user: String,
    },
    /// The rows of one Beaconing entry: a process of a computer and a remote address and port.
    Beacon {
        computer: String,
        process: String,
        remote_ip: std::net::IpAddr,
        remote_port: u16,
    },
    /// A listener of the Changes view: its listening rows (names without regard to case).
    Listener {
        computer: String,
        protocol: crate::model::Protocol,
        port: u16,
        process: String,
    },
    /// A new process of the Changes view: its rows on its computer.
    ComputerProcess {
        computer: String,
        process: String,
    },
    /// A new remote endpoint of the Changes view: the process's rows to it.
    Endpoint {
        computer: String,
        process: String,
        ip: std::net::IpAddr,
        port: u16,
    },
    /// Rows whose remote address the GeoIP database places in this country.
    Country(crate::analysis::geoip::Country),
    /// Rows whose remote address is in this autonomous system.
    Asn(u32),
}

impl Drill {
    /// How the filter chip names it.
    pub fn label(&self) -> String {
        match self {
            Drill::LocalTcpPort(p) => format!("local TCP port {p}"),
            Drill::Process(m) => format!("process {m}"),
            Drill::RemoteIp(ip) => format!("remote IP {ip}"),
            Drill::User(u) => format!("user {u}"),
            Drill::Hour(h) => format!("hour {h:02}:00-{h:02}:59"),
            Drill::Pid(p) => format!("PID {p}"),
            Drill::Computer(c) => format!("computer {c}"),
            Drill::ProcessUser { process, user } => {
                format!("{process} as {}", if user.is_empty() { "(no user)" } else { user })
            }
            Drill::Beacon { computer, process, remote_ip, remote_port } => {
                let on = if computer.is_empty() { String::new() } else { format!(" on {computer}") };
                let remote = endpoint(Address::Ip(*remote_ip), Some(remote_port.to_string()));
                format!("{process} to {remote}{on}")
            }
            Drill::Listener { computer, protocol, port, process } => {
                format!("{process} listening on {protocol} {port}{}", on(computer))
            }
            Drill::ComputerProcess { computer, process } => format!("process {process}{}", on(computer)),
            Drill::Endpoint { computer, process, ip, port } => {
                format!("{process} to {}{}", std::net::SocketAddr::new(*ip, *port), on(computer))
            }
            Drill::Country(c) => format!("remote country {c}"),
            Drill::Asn(n) => format!("remote AS{n}"),
        }
    }

    /// For drill-downs by where the remote address is: which address ids match, decided once
    /// per address rather than once per row.
    fn addr_marks(&self, log: &PortsLog, hosts: &dyn HostNames) -> Option<Vec<bool>> {
        let placed = |a: Address| a.ip().and_then(|ip| hosts.place(ip));
        match self {
            Drill::Country(c) => {
                Some(log.addrs.iter().map(|(_, a)| placed(a).and_then(|p| p.country) == Some(*c)).collect())
            }
            Drill::Asn(n) => Some(
                log.addrs
                    .iter()
                    .map(|(_, a)| placed(a).and_then(|p| p.network).is_some_and(|net| net.number == *n))
                    .collect(),
            ),
            _ => None,
        }
    }

    /// Whether a row matches; `marks` are the drill's [`Drill::addr_marks`], when it has them.
    fn matches(&self, log: &PortsLog, e: &PortEvent, marks: Option<&[bool]>) -> bool {
        use chrono::Timelike;
        match self {
            Drill::LocalTcpPort(p) => e.protocol == crate::model::Protocol::Tcp && e.local_port == *p,
            Drill::Process(m) => !e.module.is_empty() && log.module(e) == m,
            Drill::RemoteIp(ip) => log.remote_ip(e) == Address::Ip(*ip),
            Drill::User(u) => !e.user.is_empty() && log.user(e) == u,
            Drill::Hour(h) => e.time.hour() == *h,
            Drill::Pid(p) => e.pid() == Some(*p),
            Drill::Computer(c) => log.computer(e) == c,
            Drill::ProcessUser { process, user } => {
                log.module(e).eq_ignore_ascii_case(process) && !e.module.is_empty() && log.user(e) == user
            }
            Drill::Beacon { computer, process, remote_ip, remote_port } => {
                e.remote_port() == crate::model::PortField::Num(*remote_port)
                    && log.remote_ip(e) == Address::Ip(*remote_ip)
                    && !e.module.is_empty()
                    && log.module(e) == process
                    && log.computer(e) == computer
            }
            Drill::Listener { computer, protocol, port, process } => {
                e.protocol == *protocol
                    && e.local_port == *port
                    && crate::analysis::changes::listeners::may_listen(e.protocol, log.remote_ip(e))
                    && log.module(e).eq_ignore_ascii_case(process)
                    && log.computer(e).eq_ignore_ascii_case(computer)
            }
            Drill::ComputerProcess { computer, process } => {
                log.module(e).eq_ignore_ascii_case(process) && log.computer(e).eq_ignore_ascii_case(computer)
            }
            Drill::Endpoint { computer, process, ip, port } => {
                log.remote_ip(e) == Address::Ip(*ip)
                    && e.remote_port() == crate::model::PortField::Num(*port)
                    && log.module(e).eq_ignore_ascii_case(process)
                    && log.computer(e).eq_ignore_ascii_case(computer)
            }
            Drill::Country(_) | Drill::Asn(_) => {
                marks.and_then(|m| m.get(e.remote_ip.0 as usize)).copied().unwrap_or(false)
            }
        }
    }
}

/// ` on PC1` after a Changes entry's label; nothing for the unknown computer.
fn on(computer: &str) -> String {
    if computer.is_empty() { String::new() } else { format!(" on {computer}") }
}

/// `address:port` as the grid shows it; IPv6 in brackets when a port follows.
pub fn endpoint(addr: Address, port: Option<String>) -> String {
    match (addr, port) {
        (Address::Ip(std::net::IpAddr::V6(v6)), Some(p)) if !p.is_empty() => format!("[{v6}]:{p}"),
        (a, Some(p)) if !p.is_empty() => format!("{a}:{p}"),
        (a, _) => a.to_string(),
    }
}

/// The text of one cell.
pub fn cell_text(log: &PortsLog, hosts: &dyn HostNames, e: &PortEvent, column: Column) -> String {
    match column {
        Column::Time => match time_digits(&e.time) {
            Some(text) => String::from_utf8_lossy(&text).into_owned(),
            None => e.time.format("%Y-%m-%d %H:%M:%S").to_string(),
        },
        Column::Computer => log.computer(e).to_string(),
        Column::Protocol => e.protocol.to_string(),
        Column::Local => endpoint(log.local_ip(e), Some(e.local_port.to_string())),
        Column::Remote => endpoint(log.remote_ip(e), Some(e.remote_port().to_string())),
        Column::Host => log.remote_ip(e).ip().and_then(|ip| hosts.host_name(ip)).unwrap_or_default(),
        Column::Country => place_text(hosts, log.remote_ip(e), Column::Country),
        Column::Asn => place_text(hosts, log.remote_ip(e), Column::Asn),
        Column::Pid => e.pid().map(|p| p.to_string()).unwrap_or_default(),
        Column::Module => log.module(e).to_string(),
        Column::User => log.user(e).to_string(),
    }
}

/// The Country or AS cell of a remote address: empty when no database is open or it does not
/// know the address (and, on the UI thread, until the address was looked up).
fn place_text(hosts: &dyn HostNames, addr: Address, column: Column) -> String {
    let Some(place) = addr.ip().and_then(|ip| hosts.place(ip)) else {
        return String::new();
    };
    match column {
        Column::Country => place.country.map(|c| c.to_string()),
        _ => place.network.map(|n| n.to_string()),
    }
    .unwrap_or_default()
}

/// `YYYY-MM-DD HH:MM:SS` for years 0..=9999, written digit by digit: the quick filter writes
/// it for every row, and chrono's formatting machinery made that the slowest part of a filter.
fn time_digits(t: &chrono::NaiveDateTime) -> Option<[u8; 19]> {
    use chrono::{Datelike, Timelike};
    let year = u32::try_from(t.year()).ok().filter(|y| *y <= 9999)?;
    let mut text = *b"0000-00-00 00:00:00";
    for (at, width, value) in
        [(0, 4, year), (5, 2, t.month()), (8, 2, t.day()), (11, 2, t.hour()), (14, 2, t.minute()), (17, 2, t.second())]
    {
        let mut v = value;
        for i in (at..at + width).rev() {
            text[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    }
    Some(text)
}

/// A row's `columns` as tab-separated text, for the clipboard.
pub fn row_text(log: &PortsLog, hosts: &dyn HostNames, columns: &[Column], e: &PortEvent) -> String {
    columns.iter().map(|c| cell_text(log, hosts, e, *c)).collect::<Vec<_>>().join("\t")
}

/// Per-value answers to "does this value's text contain the needle?".
struct Matches {
    needle: String,
    modules: Vec<bool>,
    users: Vec<bool>,
    addrs: Vec<bool>,
    hosts: Vec<bool>,
    /// By address id: whether its country, or its AS as the grid shows it, matches.
    countries: Vec<bool>,
    networks: Vec<bool>,
    /// By file: whether the file's computer matches.
    computers: Vec<bool>,
    /// By port number: formatting a number per row and per column is what made filtering slow.
    ports: Vec<bool>,
    /// By [`crate::model::Protocol`] discriminant.
    protocols: [bool; 2],
}

impl Matches {
    fn new(log: &PortsLog, hosts: &dyn HostNames, needle: &str) -> Matches {
        let needle = needle.trim().to_lowercase();
        let has = |t: &str| t.to_lowercase().contains(&needle);
        Matches {
            modules: log.modules.iter().map(|(_, m)| has(m)).collect(),
            users: log.users.iter().map(|(_, u)| has(u)).collect(),
            addrs: log.addrs.iter().map(|(_, a)| has(&a.to_string())).collect(),
            hosts: log
                .addrs
                .iter()
                .map(|(_, a)| a.ip().and_then(|ip| hosts.host_name(ip)).is_some_and(|h| has(&h)))
                .collect(),
            countries: log.addrs.iter().map(|(_, a)| has(&place_text(hosts, a, Column::Country))).collect(),
            networks: log.addrs.iter().map(|(_, a)| has(&place_text(hosts, a, Column::Asn))).collect(),
            computers: log.sources.iter().map(|s| has(log.computers.name(s.computer))).collect(),
            ports: (0..=u16::MAX).map(|p| has(&p.to_string())).collect(),
            protocols: [crate::model::Protocol::Tcp, crate::model::Protocol::Udp].map(|p| has(p.as_str())),
            needle,
        }
    }

    /// Whether a column of a row matches. Endpoint and time columns also compare their full
    /// text, so `10.0.0.1:80` or `2008-06-30 10:` match as shown.
    fn column(&self, log: &PortsLog, e: &PortEvent, column: Column) -> bool {
        let text_has = |c: Column| self.needle_in(&cell_text(log, &crate::analysis::dns::NoHostNames, e, c));
        match column {
            Column::Time => {
                self.could_be_time()
                    && match time_digits(&e.time) {
                        Some(text) => memchr::memmem::find(&text, self.needle.as_bytes()).is_some(),
                        None => text_has(Column::Time),
                    }
            }
            Column::Computer => self.computers.get(usize::from(e.source)).copied().unwrap_or(false),
            Column::Protocol => self.protocols[e.protocol as usize],
            Column::Local => {
                self.addrs[e.local_ip.0 as usize]
                    || self.ports[e.local_port as usize]
                    || (self.needle.contains(':') && text_has(Column::Local))
            }
            Column::Remote => {
                self.addrs[e.remote_ip.0 as usize]
                    || self.port_field(e.remote_port())
                    || (self.needle.contains(':') && text_has(Column::Remote))
            }
            Column::Host => self.hosts[e.remote_ip.0 as usize],
            Column::Country => self.countries[e.remote_ip.0 as usize],
            Column::Asn => self.networks[e.remote_ip.0 as usize],
            Column::Pid => e.pid().is_some_and(|p| self.needle_in_number(p)),
            Column::Module => self.modules[e.module.0 as usize],
            Column::User => self.users[e.user.0 as usize],
        }
    }

    fn port_field(&self, port: crate::model::PortField) -> bool {
        match port {
            crate::model::PortField::Num(p) => self.ports[p as usize],
            crate::model::PortField::Any => self.needle == "*",
            crate::model::PortField::Empty => false,
        }
    }

    /// Whether the number's decimal text holds the needle, without allocating per row.
    fn needle_in_number(&self, n: u32) -> bool {
        let mut digits = [0u8; 10];
        let mut at = digits.len();
        let mut n = n;
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        memchr::memmem::find(&digits[at..], self.needle.as_bytes()).is_some()
    }

    fn needle_in(&self, text: &str) -> bool {
        text.to_lowercase().contains(&self.needle)
    }

    /// Dates and times hold only digits and `-: `; other needles cannot match them, and
    /// formatting every row's time would be the slowest part of filtering.
    fn could_be_time(&self) -> bool {
        self.needle.chars().all(|c| c.is_ascii_digit() || "-: ".contains(c))
    }
}

/// The view was not finished: the flag it watched was raised (a newer view was asked for).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the view was cancelled")]
pub struct Cancelled;

/// Rows handled between looks at the cancel flag: about a millisecond of filtering, and
/// enough chunks to keep every core busy.
pub(crate) const CHUNK_ROWS: usize = 1 << 16;

pub(crate) fn check(cancel: &AtomicBool) -> Result<(), Cancelled> {
    if cancel.load(Ordering::Relaxed) { Err(Cancelled) } else { Ok(()) }
}

/// Row indices passing `filter`, ordered by `sort` (stable: equal keys keep log order);
/// `Err` as soon as `cancel` is seen raised.
pub fn build(
    log: &PortsLog,
    hosts: &dyn HostNames,
    filter: &Filter,
    sort: Option<Sort>,
    cancel: &AtomicBool,
) -> Result<Vec<u32>, Cancelled> {
    let passing = Passing::of(log, hosts, filter, cancel)?;
    build_from(log, hosts, &passing, &filter.range, sort, cancel)
}

/// The rows of `passing` within `range`, ordered by `sort`: a view whose other filters were
/// already applied, so that a new time range or sort costs no text matching.
pub fn build_from(
    log: &PortsLog,
    hosts: &dyn HostNames,
    passing: &Passing,
    range: &TimeRange,
    sort: Option<Sort>,
    cancel: &AtomicBool,
) -> Result<Vec<u32>, Cancelled> {
    let mut rows = passing.within(log, range, cancel)?;
    if let Some(sort) = sort {
        sort_rows(log, hosts, &mut rows, sort, cancel)?;
    }
    Ok(rows)
}

/// Where `row` stands in `view`, a view in any order: a scan of every chunk on rayon's pool,
/// the first hit winning (the grid's sorted views are millions of rows, too many to scan in
/// a frame); `Err` as soon as `cancel` is seen raised.
pub fn position(view: &[u32], row: u32, cancel: &AtomicBool) -> Result<Option<usize>, Cancelled> {
    let hits: Vec<Option<usize>> = view
        .par_chunks(CHUNK_ROWS)
        .enumerate()
        .map(|(k, chunk)| {
            check(cancel)?;
            Ok(chunk.iter().position(|&r| r == row).map(|i| k * CHUNK_ROWS + i))
        })
        .collect::<Result<_, Cancelled>>()?;
    Ok(hits.into_iter().flatten().next())
}

/// The rows passing a filter's parts other than its time range, in log order. The timeline
/// counts them (over every time, so that a selection can be widened), and a new range or sort
/// narrows them without matching text again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Passing {
    /// The filter they pass (over every time).
    pub filter: Filter,
    /// The log's rows looked at: `0..seen`.
    pub seen: usize,
    /// The rows passing, ascending; `None` when every one of `0..seen` does (no filter: no
    /// list of ten million numbers kept for nothing).
    rows: Option<Vec<u32>>,
}

impl Passing {
    /// The rows of `log` passing `filter` (its range left aside).
    pub fn of(
        log: &PortsLog,
        hosts: &dyn HostNames,
        filter: &Filter,
        cancel: &AtomicBool,
    ) -> Result<Passing, Cancelled> {
        let filter = filter.without_range();
        let seen = log.events.len();
        let rows = if filter.is_empty() { None } else { Some(filter_rows(log, hosts, &filter, 0..seen, cancel)?) };
        Ok(Passing { filter, seen, rows })
    }

    /// These rows and those of `added` (rows appended live) that pass; computed anew when
    /// `added` does not start where these end.
    pub fn extended(
        &self,
        log: &PortsLog,
        hosts: &dyn HostNames,
        added: std::ops::Range<usize>,
        cancel: &AtomicBool,
    ) -> Result<Passing, Cancelled> {
        if added.start != self.seen {
            return Passing::of(log, hosts, &self.filter, cancel);
        }
        let seen = added.end.min(log.events.len()).max(self.seen);
        let rows = match &self.rows {
            None => None,
            Some(old) => {
                let mut rows = Vec::with_capacity(old.len() + (seen - self.seen));
                rows.extend_from_slice(old);
                rows.append(&mut filter_rows(log, hosts, &self.filter, self.seen..seen, cancel)?);
                Some(rows)
            }
        };
        Ok(Passing { filter: self.filter.clone(), seen, rows })
    }

    /// Whether these are the rows passing `filter` (its range left aside) among a log's first
    /// `rows` rows.
    pub fn fits(&self, filter: &Filter, rows: usize) -> bool {
        self.seen == rows && self.filter == filter.without_range()
    }

    pub fn len(&self) -> usize {
        self.rows.as_ref().map_or(self.seen, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row at position `pos` (below [`Passing::len`]).
    #[inline]
    pub fn row(&self, pos: usize) -> u32 {
        match &self.rows {
            Some(rows) => rows[pos],
            None => pos as u32,
        }
    }

    /// The rows within `range`, in log order.
    pub fn within(&self, log: &PortsLog, range: &TimeRange, cancel: &AtomicBool) -> Result<Vec<u32>, Cancelled> {
        let len = self.len();
        if range.is_all() {
            check(cancel)?;
            return Ok(self.rows.clone().unwrap_or_else(|| (0..len as u32).collect()));
        }
        let chunks: Vec<Vec<u32>> = (0..len.div_ceil(CHUNK_ROWS))
            .into_par_iter()
            .map(|k| {
                check(cancel)?;
                let positions = k * CHUNK_ROWS..((k + 1) * CHUNK_ROWS).min(len);
                Ok(positions
                    .map(|p| self.row(p))
                    .filter(|&r| log.events.get(r as usize).is_some_and(|e| range.contains(e.time)))
                    .collect())
            })
            .collect::<Result<_, Cancelled>>()?;
        Ok(chunks.concat())
    }
}

/// The rows of `range` that pass `filter`, in log order.
fn filter_rows(
    log: &PortsLog,
    hosts: &dyn HostNames,
    filter: &Filter,
    range: std::ops::Range<usize>,
    cancel: &AtomicBool,
) -> Result<Vec<u32>, Cancelled> {
    let events = log.events.get(range.clone()).unwrap_or(&[]);
    let first = range.start as u32;
    if filter.is_empty() {
        return Ok((first..first + events.len() as u32).collect());
    }
    let quick = (!filter.quick.trim().is_empty()).then(|| Matches::new(log, hosts, &filter.quick));
    let per_column: Vec<(Column, Matches)> = filter
        .columns
        .iter()
        .filter(|(_, t)| !t.trim().is_empty())
        .map(|(c, t)| (*c, Matches::new(log, hosts, t)))
        .collect();
    let marks = filter.drill.as_ref().and_then(|d| d.addr_marks(log, hosts));
    check(cancel)?;
    let passes = |e: &PortEvent| {
        filter.range.contains(e.time)
            && filter.drill.as_ref().is_none_or(|d| d.matches(log, e, marks.as_deref()))
            && quick.as_ref().is_none_or(|m| Column::ALL.iter().any(|c| m.column(log, e, *c)))
            && per_column.iter().all(|(c, m)| m.column(log, e, *c))
    };
    let chunks: Vec<Vec<u32>> = events
        .par_chunks(CHUNK_ROWS)
        .enumerate()
        .map(|(k, chunk)| {
            check(cancel)?;
            let base = first + (k * CHUNK_ROWS) as u32;
            Ok(chunk.iter().enumerate().filter(|(_, e)| passes(e)).map(|(i, _)| base + i as u32).collect())
        })
        .collect::<Result<_, Cancelled>>()?;
    Ok(chunks.concat())
}

/// The view after rows `added` were appended to the log: `rows` (the view [`build`] gave
/// with the same filter and sort before) with the added rows that pass the filter merged in
/// where the sort puts them. It equals what [`build`] gives on the grown log, for the cost of
/// the new rows: each is placed by binary search, and the old rows are only copied.
pub fn extend(
    log: &PortsLog,
    hosts: &dyn HostNames,
    rows: &[u32],
    added: std::ops::Range<usize>,
    filter: &Filter,
    sort: Option<Sort>,
    cancel: &AtomicBool,
) -> Result<Vec<u32>, Cancelled> {
    let mut fresh = filter_rows(log, hosts, filter, added, cancel)?;
    let Some(sort) = sort else {
        let mut out = Vec::with_capacity(rows.len() + fresh.len());
        out.extend_from_slice(rows);
        out.append(&mut fresh);
        return Ok(out);
    };
    let keys = SortKeys::new(log, hosts, sort.column);
    let fresh_keys = keys.of_rows(log, &fresh, cancel)?;
    sort_by_keys(&mut fresh, &fresh_keys, sort.descending, cancel)?;
    let mut out = Vec::with_capacity(rows.len() + fresh.len());
    let mut from = 0;
    for &row in &fresh {
        let k = keys.key(log, row);
        // New rows come after old ones of the same key (ties keep ascending row order).
        let before = |&r: &u32| if sort.descending { keys.key(log, r) >= k } else { keys.key(log, r) <= k };
        let at = from + rows[from..].partition_point(before);
        out.extend_from_slice(&rows[from..at]);
        out.push(row);
        from = at;
    }
    out.extend_from_slice(&rows[from..]);
    Ok(out)
}

/// Sorts a view in place (parallel; equal keys keep ascending row order, as a stable sort of
/// the log would).
///
/// Each row's key is computed once into a packed `u64` rather than inside the comparator:
/// comparing through the rows means a cache miss into the ten-million-row event table at every
/// comparison, which made sorting twice as slow as the sort itself. The keys are then radix
/// sorted, and a log that is already in key order (the usual case for time) is only checked,
/// or reversed by runs.
fn sort_rows(
    log: &PortsLog,
    hosts: &dyn HostNames,
    rows: &mut [u32],
    sort: Sort,
    cancel: &AtomicBool,
) -> Result<(), Cancelled> {
    let keys = SortKeys::new(log, hosts, sort.column);
    let row_keys = keys.of_rows(log, rows, cancel)?;
    sort_by_keys(rows, &row_keys, sort.descending, cancel)
}

/// What a column's packed sort key is made of: names and addresses by rank.
struct SortKeys {
    column: Column,
    ranks: Vec<u64>,
}

impl SortKeys {
    fn new(log: &PortsLog, hosts: &dyn HostNames, column: Column) -> SortKeys {
        let names = |table: &crate::intern::Interner| rank(table.iter().map(|(_, s)| s.to_lowercase()));
        let ranks = match column {
            Column::Module => names(&log.modules),
            Column::User => names(&log.users),
            Column::Local | Column::Remote => rank(log.addrs.iter().map(|(_, a)| a)),
            Column::Host => {
                rank(log.addrs.iter().map(|(_, a)| a.ip().and_then(|ip| hosts.host_name(ip)).unwrap_or_default()))
            }
            Column::Computer => rank(log.sources.iter().map(|s| log.computers.name(s.computer).to_lowercase())),
            Column::Country => rank(log.addrs.iter().map(|(_, a)| place_text(hosts, a, Column::Country))),
            // By number; addresses no database places first.
            Column::Asn => rank(log.addrs.iter().map(|(_, a)| a.ip().and_then(|ip| hosts.place(ip)?.network))),
            Column::Time | Column::Protocol | Column::Pid => Vec::new(),
        };
        SortKeys { column, ranks }
    }

    /// The key of each of `rows`, in parallel chunks.
    fn of_rows(&self, log: &PortsLog, rows: &[u32], cancel: &AtomicBool) -> Result<Vec<u64>, Cancelled> {
        let mut keys = vec![0u64; rows.len()];
        keys.par_chunks_mut(CHUNK_ROWS).zip(rows.par_chunks(CHUNK_ROWS)).try_for_each(|(keys, rows)| {
            check(cancel)?;
            for (k, &r) in keys.iter_mut().zip(rows) {
                *k = self.key(log, r);
            }
            Ok(())
        })?;
        Ok(keys)
    }

    fn key(&self, log: &PortsLog, i: u32) -> u64 {
        let ranks = &self.ranks;
        let e = &log.events[i as usize];
        match self.column {
            // Order-preserving map of the signed timestamp onto u64.
            Column::Time => (e.time.and_utc().timestamp() as u64) ^ (1 << 63),
            Column::Computer => ranks.get(usize::from(e.source)).copied().unwrap_or(0),
            Column::Protocol => e.protocol as u64,
            Column::Local => (ranks[e.local_ip.0 as usize] << 17) | u64::from(e.local_port),
            Column::Remote => {
                (ranks[e.remote_ip.0 as usize] << 17) | e.remote_port().num().map_or(0, |p| u64::from(p) + 1)
            }
            Column::Host | Column::Country | Column::Asn => ranks[e.remote_ip.0 as usize],
            Column::Pid => e.pid().map_or(u64::MAX, u64::from),
            Column::Module => ranks[e.module.0 as usize],
            Column::User => ranks[e.user.0 as usize],
        }
    }
}

/// Orders `rows` by `keys` (one per row, same positions); ties end in ascending row order.
fn sort_by_keys(rows: &mut [u32], keys: &[u64], descending: bool, cancel: &AtomicBool) -> Result<(), Cancelled> {
    let ascending_rows = rows.par_windows(2).all(|w| w[0] < w[1]);
    if ascending_rows && keys.par_windows(2).all(|w| w[0] <= w[1]) {
        if descending {
            reverse_keeping_ties(rows, keys);
        }
        return Ok(());
    }
    if ascending_rows {
        return radix_sort(rows, keys, descending, cancel);
    }
    let mut pairs: Vec<(u64, u32)> =
        keys.par_iter().zip(rows.par_iter()).map(|(&k, &r)| (if descending { !k } else { k }, r)).collect();
    check(cancel)?;
    pairs.par_sort_unstable();
    rows.par_iter_mut().zip(pairs.par_iter()).for_each(|(r, p)| *r = p.1);
    Ok(())
}

/// From ascending keys to descending ones, each run of equal keys keeping its row order.
fn reverse_keeping_ties(rows: &mut [u32], keys: &[u64]) {
    let mut end = rows.len();
    let mut out = Vec::with_capacity(rows.len());
    while end > 0 {
        let k = keys[end - 1];
        let mut start = end - 1;
        while start > 0 && keys[start - 1] == k {
            start -= 1;
        }
        out.extend_from_slice(&rows[start..end]);
        end = start;
    }
    rows.copy_from_slice(&out);
}

/// Least-significant-digit radix sort on the keys' span (`key - min`), 16 bits a pass: it is
/// stable, so rows given in ascending order keep that order among equal keys, and the columns'
/// keys span few bits (a module rank: one pass; an address and port, a PID or the hours of a
/// log's times: two or three), where it beats a comparison sort on two cores.
fn radix_sort(rows: &mut [u32], keys: &[u64], descending: bool, cancel: &AtomicBool) -> Result<(), Cancelled> {
    const DIGIT: u32 = 16;
    let (min, max) = keys
        .par_iter()
        .fold(|| (u64::MAX, 0), |(lo, hi), &k| (lo.min(k), hi.max(k)))
        .reduce(|| (u64::MAX, 0), |a, b| (a.0.min(b.0), a.1.max(b.1)));
    let span = max.saturating_sub(min);
    let mut src: Vec<(u64, u32)> =
        keys.par_iter().zip(rows.par_iter()).map(|(&k, &r)| (if descending { max - k } else { k - min }, r)).collect();
    let mut dst = vec![(0u64, 0u32); src.len()];
    let bits = 64 - span.leading_zeros();
    let mut shift = 0;
    while shift < bits.max(1) {
        check(cancel)?;
        let digit = |k: u64| ((k >> shift) & ((1 << DIGIT) - 1)) as usize;
        let mut next = vec![0usize; 1 << DIGIT];
        for &(k, _) in &src {
            next[digit(k)] += 1;
        }
        let mut total = 0;
        for slot in &mut next {
            let n = *slot;
            *slot = total;
            total += n;
        }
        for &(k, r) in &src {
            let d = digit(k);
            dst[next[d]] = (k, r);
            next[d] += 1;
        }
        std::mem::swap(&mut src, &mut dst);
        shift += DIGIT;
    }
    rows.par_iter_mut().zip(src.par_iter()).for_each(|(r, p)| *r = p.1);
    Ok(())
}

/// The rank of each value in sorted order, so rows compare by integer.
fn rank<T: Ord>(values: impl Iterator<Item = T>) -> Vec<u64> {
    let values: Vec<T> = values.collect();
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].cmp(&values[*b]));
    let mut ranks = vec![0; values.len()];
    for (r, i) in order.into_iter().enumerate() {
        ranks[i] = r as u64;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dns::{DnsCache, Lookup, NoHostNames};
    use crate::analysis::test_support::set_from;

    const PORTS: &str = "\
08/6/30,10:0:2,TCP,1447,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,10:0:1,TCP,1448,192.168.1.103,6667,203.0.113.66,6660,svchost.exe,<CORP\\bob>
08/6/30,10:0:3,UDP,137,192.168.1.103,*,*,4,System,
08/6/30,10:0:0,TCP,49201,2001:db8::10,443,2001:db8::1,3312,iexplore.exe,<CORP\\alice>
";

    fn built(log: &PortsLog, hosts: &dyn HostNames, filter: &Filter, sort: Option<Sort>) -> Vec<u32> {
        build(log, hosts, filter, sort, &AtomicBool::new(false)).expect("not cancelled")
    }

    fn extended(
        log: &PortsLog,
        hosts: &dyn HostNames,
        rows: &[u32],
        added: std::ops::Range<usize>,
        filter: &Filter,
        sort: Option<Sort>,
    ) -> Vec<u32> {
        extend(log, hosts, rows, added, filter, sort, &AtomicBool::new(false)).expect("not cancelled")
    }

    #[test]
    fn a_raised_flag_stops_filtering_and_sorting() {
        let set = set_from(PORTS, None);
        let log = &set.ports;
        let raised = AtomicBool::new(true);
        let quick = Filter { quick: "svchost".into(), ..Filter::default() };
        assert_eq!(build(log, &NoHostNames, &quick, None, &raised), Err(Cancelled));
        let by_pid = Some(Sort { column: Column::Pid, descending: false });
        assert_eq!(build(log, &NoHostNames, &Filter::default(), by_pid, &raised), Err(Cancelled));
        assert_eq!(extend(log, &NoHostNames, &[0, 1], 2..4, &quick, None, &raised), Err(Cancelled));
    }

    #[test]
    fn position_finds_a_row_in_a_view_of_any_order_past_one_chunk() {
        let len = CHUNK_ROWS * 2 + 5;
        let view: Vec<u32> = (0..len as u32).rev().collect();
        let calm = AtomicBool::new(false);
        assert_eq!(position(&view, 0, &calm), Ok(Some(len - 1)));
        assert_eq!(position(&view, len as u32 - 1, &calm), Ok(Some(0)));
        assert_eq!(position(&view, (len - CHUNK_ROWS - 3) as u32, &calm), Ok(Some(CHUNK_ROWS + 2)));
        assert_eq!(position(&view, len as u32, &calm), Ok(None), "not in the view");
        assert_eq!(position(&view, 0, &AtomicBool::new(true)), Err(Cancelled));
    }

    fn texts(log: &PortsLog, rows: &[u32], c: Column) -> Vec<String> {
        rows.iter().map(|&i| cell_text(log, &NoHostNames, &log.events[i as usize], c)).collect()
    }

    #[test]
    fn cells_read_as_the_grid_shows_them() {
        let set = set_from(PORTS, None);
        let log = &set.ports;
        let e = &log.events[0];
        assert_eq!(cell_text(log, &NoHostNames, e, Column::Time), "2008-06-30 10:00:00");
        assert_eq!(cell_text(log, &NoHostNames, e, Column::Local), "[2001:db8::10]:49201");
        assert_eq!(cell_text(log, &NoHostNames, e, Column::Remote), "[2001:db8::1]:443");
        let udp = &log.events[3];
        assert_eq!(cell_text(log, &NoHostNames, udp, Column::Remote), "*:*");
        assert_eq!(cell_text(log, &NoHostNames, udp, Column::User), "");
        assert_eq!(
            row_text(log, &NoHostNames, &Column::shown(false), udp),
            "2008-06-30 10:00:03\t\tUDP\t192.168.1.103:137\t*:*\t\t4\tSystem\t"
        );
    }

    /// The Computer column of a fleet's rows: shown, filtered (quick and per column), sorted
    /// by name without regard to case, and drilled into from the Computers view.
    #[test]
    fn the_computer_column() {
        use crate::analysis::test_support::fleet_from;
        let set = fleet_from(&[
            (
                "ws-ann",
                "08/6/30,10:0:0,TCP,1,10.0.0.1,80,192.0.2.1,100,a.exe,<u>\n08/6/30,10:0:3,TCP,2,10.0.0.1,80,192.0.2.1,100,a.exe,<u>\n",
            ),
            ("SRV-DB", "08/6/30,10:0:1,TCP,3,10.0.0.2,50000,192.0.2.2,200,sqlservr.exe,<u>\n"),
            ("WS-BOB", "08/6/30,10:0:2,TCP,4,10.0.0.3,443,192.0.2.3,300,b.exe,<u>\n"),
        ]);
        let log = &set.ports;
        let all: Vec<u32> = (0..4).collect();
        assert_eq!(texts(log, &all, Column::Computer), vec!["ws-ann", "SRV-DB", "WS-BOB", "ws-ann"]);
        assert_eq!(Column::Host.title(), "Remote host");
        let quick = built(log, &NoHostNames, &Filter { quick: "WS-".into(), ..Filter::default() }, None);
        assert_eq!(quick, vec![0, 2, 3]);
        let column = Filter { columns: vec![(Column::Computer, "bob".into())], ..Filter::default() };
        assert_eq!(built(log, &NoHostNames, &column, None), vec![2]);
        let sorted =
            built(log, &NoHostNames, &Filter::default(), Some(Sort { column: Column::Computer, descending: false }));
        assert_eq!(texts(log, &sorted, Column::Computer), vec!["SRV-DB", "ws-ann", "ws-ann", "WS-BOB"]);
        let drill = Filter { drill: Some(Drill::Computer("ws-ann".into())), ..Filter::default() };
        assert_eq!(built(log, &NoHostNames, &drill, None), vec![0, 3]);
        assert_eq!(Drill::Computer("ws-ann".into()).label(), "computer ws-ann");
    }

    /// The Changes view's entries drill into their rows by computer, names without regard
    /// to case; a listener's rows are its listening ones.
    #[test]
    fn changes_entries_drill_into_their_rows_on_their_computer() {
        use crate::analysis::test_support::fleet_from;
        use crate::model::Protocol;
        let set = fleet_from(&[
            (
                "PC1",
                "08/6/30,10:0:0,TCP,4444,0.0.0.0,,0.0.0.0,31,nc.exe,<u>\n08/6/30,10:0:5,TCP,4444,10.0.0.1,51000,10.0.0.9,31,NC.EXE,<u>\n08/6/30,10:0:6,TCP,4444,0.0.0.0,,0.0.0.0,31,NC.EXE,<u>\n",
            ),
            ("PC2", "08/6/30,10:0:1,TCP,4444,0.0.0.0,,0.0.0.0,77,nc.exe,<u>\n"),
        ]);
        let log = &set.ports;
        let rows = |d: Drill| built(log, &NoHostNames, &Filter { drill: Some(d), ..Filter::default() }, None);
        let listener =
            Drill::Listener { computer: "pc1".into(), protocol: Protocol::Tcp, port: 4444, process: "nc.exe".into() };
        assert_eq!(listener.label(), "nc.exe listening on TCP 4444 on pc1");
        assert_eq!(rows(listener), vec![0, 3]);
        assert_eq!(rows(Drill::ComputerProcess { computer: "PC2".into(), process: "NC.exe".into() }), vec![1]);
        let endpoint = Drill::Endpoint {
            computer: "PC1".into(),
            process: "nc.exe".into(),
            ip: "10.0.0.9".parse().expect("ip"),
            port: 51000,
        };
        assert_eq!(endpoint.label(), "nc.exe to 10.0.0.9:51000 on PC1");
        assert_eq!(rows(endpoint), vec![2]);
    }

    #[test]
    fn quick_and_column_filters() {
        let set = set_from(PORTS, None);
        let log = &set.ports;
        let quick = |q: &str| built(log, &NoHostNames, &Filter { quick: q.into(), ..Filter::default() }, None);
        assert_eq!(quick(""), vec![0, 1, 2, 3]);
        assert_eq!(texts(log, &quick("SVCHOST"), Column::Pid), vec!["6660", "1900"]);
        assert_eq!(texts(log, &quick("203.0.113.66:6667"), Column::Pid), vec!["6660"]);
        assert_eq!(texts(log, &quick("10:00:03"), Column::Pid), vec!["4"]);
        assert_eq!(texts(log, &quick("bob"), Column::Pid), vec!["6660"]);
        let by_col = Filter {
            columns: vec![(Column::Module, "svchost".into()), (Column::Remote, "6667".into())],
            ..Filter::default()
        };
        assert_eq!(texts(log, &built(log, &NoHostNames, &by_col, None), Column::Pid), vec!["6660"]);
    }

    #[test]
    fn a_time_range_keeps_rows_from_its_start_to_before_its_end() {
        let set = set_from(PORTS, None);
        let log = &set.ports;
        let range = TimeRange::parse(Some("08/6/30 10:00:01"), Some("2008-06-30T10:00:03")).expect("range");
        let filter = Filter { range, ..Filter::default() };
        assert_eq!(texts(log, &built(log, &NoHostNames, &filter, None), Column::Pid), vec!["6660", "1900"]);
        let svchost = Filter { quick: "svchost".into(), range, ..Filter::default() };
        let by_pid = Some(Sort { column: Column::Pid, descending: true });
        assert_eq!(texts(log, &built(log, &NoHostNames, &svchost, by_pid), Column::Pid), vec!["6660", "1900"]);

        // The rows passing the other filters are kept over every time, and narrowed to a
        // range without matching text again.
        let never = AtomicBool::new(false);
        let passing = Passing::of(log, &NoHostNames, &svchost, &never).expect("not cancelled");
        assert_eq!((passing.len(), passing.row(0), passing.row(1)), (2, 1, 2));
        assert!(passing.fits(&Filter { quick: "svchost".into(), ..Filter::default() }, 4));
        assert!(!passing.fits(&Filter::default(), 4) && !passing.fits(&svchost, 5));
        let later = TimeRange::parse(Some("2008-06-30T10:00:02"), None).expect("range");
        let narrowed = build_from(log, &NoHostNames, &passing, &later, by_pid, &never).expect("not cancelled");
        assert_eq!(texts(log, &narrowed, Column::Pid), vec!["1900"]);
        let everything = Passing::of(log, &NoHostNames, &Filter { range, ..Filter::default() }, &never).expect("ok");
        assert_eq!((everything.len(), everything.row(3)), (4, 3), "a range alone keeps no list");
        let empty = TimeRange::parse(Some("2008-06-30T10:00:02"), Some("2008-06-30T10:00:02")).expect("range");
        assert!(build_from(log, &NoHostNames, &passing, &empty, None, &never).expect("ok").is_empty());
    }

    #[test]
    fn drill_downs_select_exactly_the_rows_an_entry_counted() {
        let set = set_from(PORTS, None);
        let log = &set.ports;
        let drill = |d: Drill| {
            let rows = built(log, &NoHostNames, &Filter { drill: Some(d), ..Filter::default() }, None);
            texts(log, &rows, Column::Pid)
        };
        assert_eq!(drill(Drill::LocalTcpPort(1447)), vec!["1900"]);
        assert_eq!(drill(Drill::LocalTcpPort(137)), Vec::<String>::new(), "137 is UDP");
        assert_eq!(drill(Drill::Process("svchost.exe".into())), vec!["6660", "1900"]);
        assert_eq!(drill(Drill::RemoteIp("2001:db8::1".parse().expect("ip"))), vec!["3312"]);
        assert_eq!(drill(Drill::User("CORP\\bob".into())), vec!["6660"]);
        assert_eq!(drill(Drill::Hour(10)).len(), 4);
        assert_eq!(drill(Drill::Pid(4)), vec!["4"]);
        assert_eq!(drill(Drill::ProcessUser { process: "SVCHOST.EXE".into(), user: "CORP\\bob".into() }), vec!["6660"]);
        assert_eq!(Drill::Hour(9).label(), "hour 09:00-09:59");
    }

    #[test]
    fn sorting_is_stable_and_by_value() {
        let set = set_from(PORTS, None);
        let log = &set.ports;
        let sorted = |c, descending| built(log, &NoHostNames, &Filter::default(), Some(Sort { column: c, descending }));
        assert_eq!(texts(log, &sorted(Column::Pid, false), Column::Pid), vec!["4", "1900", "3312", "6660"]);
        assert_eq!(texts(log, &sorted(Column::Pid, true), Column::Pid), vec!["6660", "3312", "1900", "4"]);
        assert_eq!(texts(log, &sorted(Column::Module, false), Column::Pid), vec!["3312", "6660", "1900", "4"]);
        assert_eq!(texts(log, &sorted(Column::Local, false), Column::Pid), vec!["4", "1900", "6660", "3312"]);
    }

    proptest::proptest! {
        /// Every path of `sort_by_keys` (already ordered, radix sort, pair sort) gives what
        /// a stable comparison sort gives.
        #[test]
        fn key_sorts_agree_with_a_stable_sort(
            keys in proptest::collection::vec(proptest::prop_oneof![0u64..4, 0u64..100_000, proptest::num::u64::ANY], 0..300),
            shuffle in proptest::bool::ANY,
            presorted in proptest::bool::ANY,
            descending in proptest::bool::ANY,
        ) {
            let mut keys = keys;
            if presorted {
                keys.sort();
            }
            let mut rows: Vec<u32> = (0..keys.len() as u32).map(|r| r * 3).collect();
            if shuffle {
                rows.reverse();
            }
            let by_row = |r: u32| keys[(r / 3) as usize];
            let mut expected = rows.clone();
            expected.sort_by(|a, b| {
                let (ka, kb) = (by_row(*a), by_row(*b));
                if descending { kb.cmp(&ka) } else { ka.cmp(&kb) }.then(a.cmp(b))
            });
            let row_keys: Vec<u64> = rows.iter().map(|&r| by_row(r)).collect();
            sort_by_keys(&mut rows, &row_keys, descending, &AtomicBool::new(false)).expect("not cancelled");
            proptest::prop_assert_eq!(rows, expected);
        }
    }

    #[test]
    fn extending_a_view_gives_what_building_it_again_gives() {
        let more = "\
08/6/30,10:0:2,TCP,1450,192.168.1.103,80,65.55.200.252,1900,svchost.exe,<NT AUTHORITY\\SYSTEM>
08/6/30,9:59:0,TCP,22,10.9.9.9,5000,198.51.100.1,77,sshd,<root>
08/6/30,10:0:3,UDP,137,192.168.1.103,*,*,4,System,
08/6/30,10:0:1,TCP,1448,192.168.1.103,6667,203.0.113.66,6661,Svchost.exe,<CORP\\bob>
";
        // In file order, as a followed log grows (`set_from` orders by time).
        let mut grown = PortsLog::default();
        let text = format!("{PORTS}{more}");
        crate::logs::ports::read_from(
            &mut grown,
            std::path::Path::new("PR-PORTS-t.log"),
            text.as_bytes(),
            None,
            &crate::logs::ports::LoadProgress::default(),
        )
        .expect("in-memory read");
        let grown = &grown;
        let mut before = grown.clone();
        before.events.truncate(4);
        let filters = [
            Filter::default(),
            Filter { quick: "svchost".into(), ..Filter::default() },
            Filter { columns: vec![(Column::Protocol, "tcp".into())], ..Filter::default() },
        ];
        for filter in &filters {
            for column in Column::ALL {
                for descending in [false, true] {
                    let sort = Some(Sort { column, descending });
                    for s in [sort, None] {
                        let old = built(&before, &NoHostNames, filter, s);
                        let extended = extended(grown, &NoHostNames, &old, 4..8, filter, s);
                        assert_eq!(extended, built(grown, &NoHostNames, filter, s), "{filter:?} {s:?}");
                    }
                }
            }
        }
        let never = AtomicBool::new(false);
        for filter in &filters {
            let old = Passing::of(&before, &NoHostNames, filter, &never).expect("ok");
            let grown_passing = old.extended(grown, &NoHostNames, 4..8, &never).expect("ok");
            assert_eq!(grown_passing, Passing::of(grown, &NoHostNames, filter, &never).expect("ok"), "{filter:?}");
            assert_eq!(old.extended(grown, &NoHostNames, 5..8, &never).expect("ok"), grown_passing, "a gap: anew");
        }
        let by_time = Some(Sort { column: Column::Time, descending: false });
        let old = built(&before, &NoHostNames, &Filter::default(), by_time);
        assert_eq!(
            extended(grown, &NoHostNames, &old, 4..8, &Filter::default(), by_time),
            vec![5, 3, 1, 7, 0, 4, 2, 6]
        );
    }

    #[test]
    fn host_names_filter_and_sort_once_resolved() {
        let set = set_from(PORTS, None);
        let log = &set.ports;
        let cache = DnsCache::default();
        cache.insert("203.0.113.66".parse().expect("ip"), Lookup::Name("irc.example.net".into()));
        let rows = built(log, &cache, &Filter { quick: "irc.example".into(), ..Filter::default() }, None);
        assert_eq!(texts(log, &rows, Column::Pid), vec!["6660"]);
        assert_eq!(cell_text(log, &cache, &log.events[rows[0] as usize], Column::Host), "irc.example.net");
    }
}
