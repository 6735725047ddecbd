//! What changed: the listeners, port owners, processes and remote endpoints seen after a
//! baseline that the baseline did not have.
//!
//! The baseline is one of ([`Baseline`]):
//! - by default, the earliest PR-INITIAL snapshot of each computer: the ports open when the
//!   service first started. A later restart's snapshot, the PIDS blocks and every PORTS row
//!   are what came after. A computer with no PR-INITIAL has an empty baseline, so all of it
//!   is new.
//! - another log set (`--baseline PATH`, last month's logs say): everything in it is the
//!   baseline, everything loaded came after. Computers are matched by name; a baseline that
//!   holds a single computer is the baseline of every loaded computer (a reference machine,
//!   or the same machine whose folder was named differently).
//! - the loaded rows, snapshots and PIDS blocks before a time (`--baseline-until T`); those
//!   from T on came after.
//!
//! What came after is limited to the report's time range; the baseline is not (it is the
//! history the range is compared with). A listener seen after the baseline only in a
//! snapshot (a restart's PR-INITIAL, a PIDS block) is listed with `rows` 0: `rows` counts
//! PORTS rows. New processes and remote endpoints are counted from PORTS rows; in the
//! baseline, snapshots count too. Every key includes the computer, so a listener new on one
//! machine is new there even if another had it; process names compare without regard to case,
//! as Windows does ([`name_key`]).
//!
//! The scanner reads rows one after another in time order (as the logs' files are written,
//! or sorted), because the XP quirk pairs neighbouring rows ([`listeners`]); what it keeps is
//! bounded by the distinct keys it reports and the rows of a few seconds.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Serialize, Serializer};

use crate::analysis::aggregate::Tables;
use crate::analysis::time_range::{TimeRange, iso};
use crate::error::LogError;
use crate::intern::AddrTable;
use crate::logs::computers::ComputerTable;
use crate::logs::header;
use crate::logs::ports::{LoadProgress, RowBlock};
use crate::logs::process_block::name_key;
use crate::logs::set::{self, LogSet};
use crate::model::{AddrId, PortEvent, PortField, PortMapping, ProcessBlock, Protocol, Symbol};

pub mod listeners;

use listeners::{Pairing, RowKind, Socket};

/// At most this many new remote endpoints are listed, those with most rows.
pub const MAX_ENDPOINTS: usize = 1000;

/// What the rows after are compared with.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Baseline {
    /// The earliest PR-INITIAL of each computer.
    #[default]
    Initial,
    /// Everything in these logs or folders.
    Paths(Vec<PathBuf>),
    /// The loaded logs before this time.
    Until(NaiveDateTime),
}

/// The baseline as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BaselineOut {
    /// The PR-INITIAL files taken, one per computer that has one.
    Initial {
        files: Vec<String>,
    },
    Path {
        paths: Vec<String>,
    },
    Until {
        #[serde(serialize_with = "time")]
        until: NaiveDateTime,
    },
}

/// A listener whose (computer, protocol, local port, process name) the baseline did not have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewListener {
    pub computer: String,
    #[serde(serialize_with = "protocol")]
    pub protocol: Protocol,
    pub port: u16,
    pub process: String,
    /// Of its first row; `None` on Windows 2000 rows.
    pub pid: Option<u32>,
    pub user: String,
    #[serde(serialize_with = "time")]
    pub first_seen: NaiveDateTime,
    /// PORTS rows of the listener (0 when only a snapshot showed it).
    pub rows: u64,
}

/// A (computer, protocol, local port) the baseline had listened on by other processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OwnerChange {
    pub computer: String,
    #[serde(serialize_with = "protocol")]
    pub protocol: Protocol,
    pub port: u16,
    /// The names the baseline had on it, sorted.
    pub baseline_processes: Vec<String>,
    pub process: String,
    pub pid: Option<u32>,
    #[serde(serialize_with = "time")]
    pub first_seen: NaiveDateTime,
}

/// A process name with rows after the baseline and none in it (rows without a process name,
/// Windows 2000's, name none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewProcess {
    pub computer: String,
    pub process: String,
    #[serde(serialize_with = "time")]
    pub first_seen: NaiveDateTime,
    pub rows: u64,
    /// Its rows' user contexts, sorted (empty ones left out).
    pub users: Vec<String>,
}

/// A (computer, process, remote IP, remote port) first seen after the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NewEndpoint {
    pub computer: String,
    pub process: String,
    pub remote_ip: IpAddr,
    pub remote_port: u16,
    #[serde(serialize_with = "time")]
    pub first_seen: NaiveDateTime,
    pub rows: u64,
}

/// The Changes view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    pub baseline: BaselineOut,
    /// By first_seen.
    pub new_listeners: Vec<NewListener>,
    /// By first_seen.
    pub owner_changes: Vec<OwnerChange>,
    /// By first_seen.
    pub new_processes: Vec<NewProcess>,
    /// The [`MAX_ENDPOINTS`] with most rows, by rows descending, then first_seen.
    pub new_remote_endpoints: Vec<NewEndpoint>,
}

/// `TCP`/`UDP`, as the logs and exported rows write it.
fn protocol<S: Serializer>(p: &Protocol, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(p.as_str())
}

fn time<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&iso(*t))
}

/// Which log set the scanner is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The set given as the baseline: all of it is the baseline.
    Baseline,
    /// The loaded logs.
    Loaded,
}

/// Where an observation goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Base,
    After,
    /// After the baseline but outside the range.
    Skip,
}

/// Strings by id, compared as their key says.
#[derive(Debug, Default)]
struct Names {
    shown: Vec<String>,
    ids: FxHashMap<String, u32>,
}

impl Names {
    fn id(&mut self, key: String, shown: &str) -> u32 {
        let next = self.shown.len() as u32;
        *self.ids.entry(key).or_insert_with(|| {
            self.shown.push(shown.to_string());
            next
        })
    }

    fn name(&self, id: u32) -> &str {
        self.shown.get(id as usize).map_or("", String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ListenKey {
    computer: u32,
    protocol: Protocol,
    port: u16,
    name: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EndpointKey {
    computer: u32,
    name: u32,
    ip: IpAddr,
    port: u16,
}

/// A remote endpoint of the loaded set's rows, by the set's address id (what came after is
/// only ever of one set, whose ids stay valid while it is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RowEndpoint {
    computer: u32,
    name: u32,
    addr: u32,
    port: u16,
}

/// Kept small: a log can hold millions of endpoints.
#[derive(Debug, Clone, Copy)]
struct EndpointSeen {
    first: NaiveDateTime,
    rows: u32,
}

/// A listener's row or entry, on its way to its side.
#[derive(Debug, Clone, Copy)]
struct Heard {
    side: Side,
    key: ListenKey,
    time: NaiveDateTime,
    pid: Option<u32>,
    user: u32,
    /// 1 for a PORTS row, 0 for a snapshot entry.
    rows: u64,
}

#[derive(Debug, Clone, Copy)]
struct Seen {
    first: NaiveDateTime,
    pid: Option<u32>,
    user: u32,
    rows: u64,
}

#[derive(Debug, Clone)]
struct ProcessSeen {
    first: NaiveDateTime,
    rows: u64,
    users: Vec<u32>,
}

/// What the baseline had.
#[derive(Debug, Default)]
struct Before {
    listeners: FxHashSet<ListenKey>,
    owners: FxHashMap<(u32, Protocol, u16), Vec<u32>>,
    processes: FxHashSet<(u32, u32)>,
    endpoints: FxHashSet<EndpointKey>,
    computers: FxHashSet<u32>,
}

/// What came after.
#[derive(Debug, Default)]
struct After {
    listeners: FxHashMap<ListenKey, Seen>,
    processes: FxHashMap<(u32, u32), ProcessSeen>,
    endpoints: FxHashMap<RowEndpoint, EndpointSeen>,
}

/// The kept record of what was seen, apart from the pairing.
#[derive(Debug, Default)]
struct Record {
    before: Before,
    after: After,
}

impl Record {
    fn heard(&mut self, h: Heard) {
        match h.side {
            Side::Base => {
                self.before.listeners.insert(h.key);
                let owners = self.before.owners.entry((h.key.computer, h.key.protocol, h.key.port)).or_default();
                if !owners.contains(&h.key.name) {
                    owners.push(h.key.name);
                }
                self.before.computers.insert(h.key.computer);
            }
            Side::After => {
                let seen = self.after.listeners.entry(h.key).or_insert(Seen {
                    first: h.time,
                    pid: h.pid,
                    user: h.user,
                    rows: 0,
                });
                seen.rows += h.rows;
                if h.time < seen.first {
                    *seen = Seen { first: h.time, pid: h.pid, user: h.user, rows: seen.rows };
                }
            }
            Side::Skip => {}
        }
    }
}

/// Reads a baseline and what came after, one log set at a time: [`ChangeScanner::begin`]
/// a set, give it its snapshots ([`ChangeScanner::snapshots`]) and its PORTS rows in time
/// order ([`ChangeScanner::row`]), then [`ChangeScanner::finish`].
#[derive(Debug)]
pub struct ChangeScanner {
    baseline: Baseline,
    range: TimeRange,
    role: Role,
    computers: ComputerTable,
    names: Names,
    users: Names,
    /// The current set's ids in the scanner's tables, by the set's ids (`u32::MAX`: not yet).
    module_ids: Vec<u32>,
    user_ids: Vec<u32>,
    computer_ids: Vec<u32>,
    pairing: Pairing<Heard>,
    record: Record,
    /// The PR-INITIAL files the default baseline took.
    initial_files: Vec<String>,
}

const UNSET: u32 = u32::MAX;

impl ChangeScanner {
    pub fn new(baseline: Baseline, range: TimeRange) -> ChangeScanner {
        ChangeScanner {
            baseline,
            range,
            role: Role::Loaded,
            computers: ComputerTable::default(),
            names: Names::default(),
            users: Names::default(),
            module_ids: Vec::new(),
            user_ids: Vec::new(),
            computer_ids: Vec::new(),
            pairing: Pairing::default(),
            record: Record::default(),
            initial_files: Vec::new(),
        }
    }

    /// The baseline asked for.
    pub fn baseline(&self) -> &Baseline {
        &self.baseline
    }

    /// Starts reading a set in `role`: rows of different sets never pair.
    pub fn begin(&mut self, role: Role) {
        self.end_rows();
        self.role = role;
        self.module_ids.clear();
        self.user_ids.clear();
        self.computer_ids.clear();
    }

    fn end_rows(&mut self) {
        let record = &mut self.record;
        std::mem::take(&mut self.pairing).finish(&mut |h| record.heard(h));
    }

    fn side(&self, time: Option<NaiveDateTime>) -> Side {
        if self.role == Role::Baseline {
            return Side::Base;
        }
        match (&self.baseline, time) {
            (Baseline::Until(until), Some(t)) if t < *until => Side::Base,
            (_, Some(t)) if self.range.contains(t) => Side::After,
            (_, None) if self.range.is_all() => Side::After,
            _ => Side::Skip,
        }
    }

    fn name_id(&mut self, name: &str) -> u32 {
        self.names.id(name_key(name), name)
    }

    fn user_id(&mut self, user: &str) -> u32 {
        self.users.id(user.to_string(), user)
    }

    fn computer_id(&mut self, name: &str) -> u32 {
        self.computers.intern(name).0
    }

    /// Takes the current set's snapshots: its PR-INITIAL logs and PIDS blocks.
    pub fn snapshots(&mut self, set: &LogSet) {
        let of_file = |p: &Path| set.ports.computers.name(set.ports.computers.of_file(p)).to_string();
        let earliest = self.earliest_initials(set);
        for (i, log) in set.initials.iter().enumerate() {
            let computer = of_file(&log.path);
            let when = log.header.system_date.or_else(|| file_stamp(&log.path));
            let side = if self.role == Role::Loaded && self.baseline == Baseline::Initial {
                if earliest.contains(&i) {
                    self.initial_files.push(log.path.display().to_string());
                    Side::Base
                } else {
                    self.side(when)
                }
            } else {
                self.side(when)
            };
            let process_of = |m: &PortMapping| -> (String, String) {
                let block = log.blocks.iter().find(|b| b.pid == m.pid);
                let name = m.process.clone().or_else(|| block.map(|b| b.process.clone())).unwrap_or_default();
                (name, block.and_then(|b| b.user.clone()).unwrap_or_default())
            };
            let named: Vec<(String, String)> = log.mappings.iter().map(process_of).collect();
            let when = when.unwrap_or(NaiveDateTime::MIN);
            self.table(&computer, side, when, &log.mappings, &|i| named[i].clone());
            if side == Side::Base {
                let c = self.computer_id(&computer);
                for b in &log.blocks {
                    let n = self.name_id(&b.process);
                    self.record.before.processes.insert((c, n));
                }
            }
        }
        for log in &set.pids {
            let computer = of_file(&log.path);
            for block in &log.blocks {
                // A block whose time could not be read cannot be placed before or after.
                let Some(when) = block.recorded_at else { continue };
                let side = self.side(Some(when));
                let who = (block.process.clone(), block.user.clone().unwrap_or_default());
                self.table(&computer, side, when, &block.ports, &|_| who.clone());
                if side == Side::Base {
                    self.block_process(&computer, block);
                }
            }
        }
    }

    fn block_process(&mut self, computer: &str, block: &ProcessBlock) {
        let c = self.computer_id(computer);
        let n = self.name_id(&block.process);
        self.record.before.processes.insert((c, n));
    }

    /// Indices of the loaded set's PR-INITIAL logs the default baseline takes: each
    /// computer's earliest (by the time it was taken, else its file's stamp; then file order).
    fn earliest_initials(&self, set: &LogSet) -> Vec<usize> {
        let mut first: FxHashMap<Symbol, (Option<NaiveDateTime>, usize)> = FxHashMap::default();
        for (i, log) in set.initials.iter().enumerate() {
            let c = set.ports.computers.of_file(&log.path);
            let when = log.header.system_date.or_else(|| file_stamp(&log.path));
            let better = |(t, _): &(Option<NaiveDateTime>, usize)| match (when, *t) {
                (Some(a), Some(b)) => a < b,
                (Some(_), None) => true,
                _ => false,
            };
            match first.get(&c) {
                Some(old) if !better(old) => {}
                _ => _ = first.insert(c, (when, i)),
            }
        }
        let mut taken: Vec<usize> = first.into_values().map(|(_, i)| i).collect();
        taken.sort_unstable();
        taken
    }

    /// One port table: its listeners (quirk entries left out) and, in the baseline, its
    /// processes and remote endpoints. `who(i)` names entry `i`'s process and user.
    fn table(
        &mut self,
        computer: &str,
        side: Side,
        when: NaiveDateTime,
        entries: &[PortMapping],
        who: &dyn Fn(usize) -> (String, String),
    ) {
        if side == Side::Skip {
            return;
        }
        let c = self.computer_id(computer);
        for i in listeners::table_listeners(entries) {
            let Some(e) = entries.get(i) else { continue };
            let (name, user) = who(i);
            let key = ListenKey { computer: c, protocol: e.protocol, port: e.local_port, name: self.name_id(&name) };
            let user = self.user_id(&user);
            self.record.heard(Heard { side, key, time: when, pid: Some(e.pid), user, rows: 0 });
        }
        if side == Side::Base {
            self.record.before.computers.insert(c);
            for (i, e) in entries.iter().enumerate() {
                let n = self.name_id(&who(i).0);
                self.record.before.processes.insert((c, n));
                if let (Some(ip), Some(port)) =
                    (e.remote_ip.ip().filter(|ip| !ip.is_unspecified()), e.remote_port.num())
                {
                    self.record.before.endpoints.insert(EndpointKey { computer: c, name: n, ip, port });
                }
            }
        }
    }

    /// Takes the current set's next PORTS row (rows in time order within each file;
    /// `tables` the set's PORTS tables).
    pub fn row(&mut self, tables: &Tables<'_>, e: &PortEvent) {
        self.row_counted(tables, e, true);
    }

    /// [`ChangeScanner::row`] for a row that may count as what came after only when
    /// `counted`.
    fn row_counted(&mut self, tables: &Tables<'_>, e: &PortEvent, counted: bool) {
        let side = match self.side(Some(e.time)) {
            Side::After if !counted => Side::Skip,
            side => side,
        };
        let computer = self.row_computer(tables, e);
        let name = self.row_name(tables, e);
        let user = self.row_user(tables, e);
        let kind = RowKind::of(e.protocol, tables.remote_ip(e), e.remote_port(), e.pid());
        let socket = Socket { computer, port: e.local_port, pid: e.pid };
        let key = ListenKey { computer, protocol: e.protocol, port: e.local_port, name };
        let heard = Heard { side, key, time: e.time, pid: e.pid(), user, rows: 1 };
        let record = &mut self.record;
        self.pairing.row(e.time, socket, kind, heard, &mut |h| record.heard(h));
        match side {
            Side::Base => {
                self.record.before.processes.insert((computer, name));
                self.record.before.computers.insert(computer);
                if let Some(key) = endpoint(tables, e, computer, name) {
                    self.record.before.endpoints.insert(key);
                }
            }
            Side::After => {
                let p = self.record.after.processes.entry((computer, name)).or_insert(ProcessSeen {
                    first: e.time,
                    rows: 0,
                    users: Vec::new(),
                });
                p.rows += 1;
                p.first = p.first.min(e.time);
                if !e.user.is_empty() && !p.users.contains(&user) {
                    p.users.push(user);
                }
                if let PortField::Num(port) = e.remote_port()
                    && tables.remote_ip(e).ip().is_some_and(|ip| !ip.is_unspecified())
                {
                    let key = RowEndpoint { computer, name, addr: e.remote_ip.0, port };
                    let seen =
                        self.record.after.endpoints.entry(key).or_insert(EndpointSeen { first: e.time, rows: 0 });
                    seen.first = seen.first.min(e.time);
                    seen.rows = seen.rows.saturating_add(1);
                }
            }
            Side::Skip => {}
        }
    }

    fn row_computer(&mut self, tables: &Tables<'_>, e: &PortEvent) -> u32 {
        let id = tables.computer(e).0 as usize;
        if let Some(&c) = self.computer_ids.get(id)
            && c != UNSET
        {
            return c;
        }
        let c = self.computer_id(tables.computers.name(Symbol(id as u32)));
        cache(&mut self.computer_ids, id, c);
        c
    }

    fn row_name(&mut self, tables: &Tables<'_>, e: &PortEvent) -> u32 {
        let id = e.module.0 as usize;
        if let Some(&n) = self.module_ids.get(id)
            && n != UNSET
        {
            return n;
        }
        let n = self.name_id(tables.module(e));
        cache(&mut self.module_ids, id, n);
        n
    }

    fn row_user(&mut self, tables: &Tables<'_>, e: &PortEvent) -> u32 {
        let id = e.user.0 as usize;
        if let Some(&u) = self.user_ids.get(id)
            && u != UNSET
        {
            return u;
        }
        let u = self.user_id(tables.users.resolve(e.user));
        cache(&mut self.user_ids, id, u);
        u
    }

    /// Reads the logs of a [`Baseline::Paths`] as the baseline (nothing for the other
    /// kinds), streaming their rows; then the scanner is ready for the loaded set.
    pub fn read_baseline(&mut self, progress: &LoadProgress) -> Result<(), LogError> {
        let Baseline::Paths(paths) = &self.baseline else { return Ok(()) };
        let mut streaming = set::open_streaming(paths, progress)?;
        self.begin(Role::Baseline);
        self.snapshots(&streaming.set);
        streaming.stream_ports(progress, &mut |set: &LogSet, block: &RowBlock<'_>| {
            let tables = Tables::of(&set.ports);
            block.rows.iter().for_each(|e| self.row(&tables, e));
        })?;
        self.begin(Role::Loaded);
        Ok(())
    }

    /// Scans a set held in memory in `role`: its snapshots, then its PORTS rows (sorted by
    /// time). With `counted` (indices of rows, the app's grid view), only those rows count as
    /// what came after; every row still counts for the baseline and for pairing the XP quirk.
    pub fn scan_set(&mut self, role: Role, set: &LogSet, counted: Option<&[u32]>) {
        self.begin(role);
        self.snapshots(set);
        let tables = Tables::of(&set.ports);
        let events = &set.ports.events;
        match counted {
            None => events.iter().for_each(|e| self.row_counted(&tables, e, true)),
            Some(rows) => {
                let mut member = vec![0u64; events.len().div_ceil(64)];
                for &i in rows {
                    if let Some(word) = member.get_mut(i as usize / 64) {
                        *word |= 1 << (i % 64);
                    }
                }
                for (i, e) in events.iter().enumerate() {
                    let counted = member.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
                    self.row_counted(&tables, e, counted);
                }
            }
        }
    }

    /// The view; `addrs` is the loaded set's address table (what came after names its
    /// addresses by its ids).
    pub fn finish(mut self, addrs: &AddrTable) -> Changes {
        self.end_rows();
        let base_of = self.single_baseline_computer();
        let before = &self.record.before;
        let after = &self.record.after;
        let computer = |c: u32| self.computers.name(Symbol(c)).to_string();
        let in_base = |c: u32| base_of.unwrap_or(c);

        let mut new_listeners: Vec<NewListener> = after
            .listeners
            .iter()
            .filter(|(k, _)| !before.listeners.contains(&ListenKey { computer: in_base(k.computer), ..**k }))
            .map(|(k, s)| NewListener {
                computer: computer(k.computer),
                protocol: k.protocol,
                port: k.port,
                process: self.names.name(k.name).to_string(),
                pid: s.pid,
                user: self.users.name(s.user).to_string(),
                first_seen: s.first,
                rows: s.rows,
            })
            .collect();
        new_listeners.sort_by(|a, b| {
            (a.first_seen, &a.computer, a.protocol, a.port, &a.process).cmp(&(
                b.first_seen,
                &b.computer,
                b.protocol,
                b.port,
                &b.process,
            ))
        });

        let mut owner_changes: Vec<OwnerChange> = after
            .listeners
            .iter()
            .filter_map(|(k, s)| {
                let owners = before.owners.get(&(in_base(k.computer), k.protocol, k.port))?;
                if owners.contains(&k.name) {
                    return None;
                }
                let mut baseline_processes: Vec<String> =
                    owners.iter().map(|&n| self.names.name(n).to_string()).collect();
                baseline_processes.sort();
                Some(OwnerChange {
                    computer: computer(k.computer),
                    protocol: k.protocol,
                    port: k.port,
                    baseline_processes,
                    process: self.names.name(k.name).to_string(),
                    pid: s.pid,
                    first_seen: s.first,
                })
            })
            .collect();
        owner_changes.sort_by(|a, b| {
            (a.first_seen, &a.computer, a.protocol, a.port, &a.process).cmp(&(
                b.first_seen,
                &b.computer,
                b.protocol,
                b.port,
                &b.process,
            ))
        });

        let mut new_processes: Vec<NewProcess> = after
            .processes
            .iter()
            .filter(|((c, n), _)| !self.names.name(*n).is_empty() && !before.processes.contains(&(in_base(*c), *n)))
            .map(|((c, n), p)| {
                let mut users: Vec<String> = p.users.iter().map(|&u| self.users.name(u).to_string()).collect();
                users.sort();
                NewProcess {
                    computer: computer(*c),
                    process: self.names.name(*n).to_string(),
                    first_seen: p.first,
                    rows: p.rows,
                    users,
                }
            })
            .collect();
        new_processes
            .sort_by(|a, b| (a.first_seen, &a.computer, &a.process).cmp(&(b.first_seen, &b.computer, &b.process)));

        let mut new_remote_endpoints: Vec<NewEndpoint> = after
            .endpoints
            .iter()
            .filter_map(|(k, seen)| {
                let ip = addrs.resolve(AddrId(k.addr)).ip()?;
                let key = EndpointKey { computer: in_base(k.computer), name: k.name, ip, port: k.port };
                (!before.endpoints.contains(&key)).then(|| NewEndpoint {
                    computer: computer(k.computer),
                    process: self.names.name(k.name).to_string(),
                    remote_ip: ip,
                    remote_port: k.port,
                    first_seen: seen.first,
                    rows: seen.rows.into(),
                })
            })
            .collect();
        let order = |a: &NewEndpoint, b: &NewEndpoint| {
            (std::cmp::Reverse(a.rows), a.first_seen, &a.computer, &a.process, a.remote_ip, a.remote_port).cmp(&(
                std::cmp::Reverse(b.rows),
                b.first_seen,
                &b.computer,
                &b.process,
                b.remote_ip,
                b.remote_port,
            ))
        };
        if new_remote_endpoints.len() > MAX_ENDPOINTS {
            new_remote_endpoints.select_nth_unstable_by(MAX_ENDPOINTS - 1, order);
            new_remote_endpoints.truncate(MAX_ENDPOINTS);
        }
        new_remote_endpoints.sort_by(order);

        let baseline = match &self.baseline {
            Baseline::Initial => BaselineOut::Initial { files: self.initial_files.clone() },
            Baseline::Paths(paths) => {
                BaselineOut::Path { paths: paths.iter().map(|p| p.display().to_string()).collect() }
            }
            Baseline::Until(t) => BaselineOut::Until { until: *t },
        };
        Changes { baseline, new_listeners, owner_changes, new_processes, new_remote_endpoints }
    }

    /// The computer every loaded computer is compared with, when the baseline is another log
    /// set holding a single computer.
    fn single_baseline_computer(&self) -> Option<u32> {
        let mut computers = self.record.before.computers.iter();
        match (&self.baseline, computers.next(), computers.next()) {
            (Baseline::Paths(_), Some(&only), None) => Some(only),
            _ => None,
        }
    }
}

fn cache(ids: &mut Vec<u32>, at: usize, id: u32) {
    if ids.len() <= at {
        ids.resize(at + 1, UNSET);
    }
    if let Some(slot) = ids.get_mut(at) {
        *slot = id;
    }
}

/// The row's remote endpoint key, when it has a real peer.
fn endpoint(tables: &Tables<'_>, e: &PortEvent, computer: u32, name: u32) -> Option<EndpointKey> {
    let ip = tables.remote_ip(e).ip().filter(|ip| !ip.is_unspecified())?;
    Some(EndpointKey { computer, name, ip, port: e.remote_port().num()? })
}

/// The stamp in a log's file name.
fn file_stamp(path: &Path) -> Option<NaiveDateTime> {
    path.file_name().and_then(|n| n.to_str()).and_then(header::parse_file_name).map(|(_, s)| s)
}

#[cfg(test)]
mod tests;
