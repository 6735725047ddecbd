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
//! Processes and remote endpoints do not depend on the rows' order: they are counted on all
//! cores by a [`ChangeRows`] accumulator, by the log's ids. Listeners are read one row after
//! another in time order (as the logs' files are written, or sorted), because the XP quirk
//! pairs neighbouring rows ([`listeners`]); that pass describes only the listening-looking
//! rows, the others only move its clock. What is kept is bounded by the distinct keys reported
//! and the rows of a few seconds.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Serialize, Serializer};

use crate::analysis::aggregate::{Batch, Pieces, Tables, over_rows};
use crate::analysis::time_range::{TimeRange, iso};
use crate::error::LogError;
use crate::intern::AddrTable;
use crate::logs::computers::ComputerTable;
use crate::logs::header;
use crate::logs::ports::{LoadProgress, RowBlock};
use crate::logs::process_block::name_key;
use crate::logs::set::{self, LogSet};
use crate::model::{AddrId, ModuleDetail, PortEvent, PortMapping, ProcessBlock, Protocol, Symbol};

pub mod listeners;
mod rows;

use listeners::{Pairing, RowKind, Socket};
pub use rows::ChangeRows;
use rows::{EndpointSeen, Endpoints, ProcessSeen, Sides, endpoint_ids, merge_endpoints, process_ids};

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

/// The view's order of ports taken ([`NewListener`], [`OwnerChange`]): by first_seen, then
/// computer, protocol, port and process, so both lists read alike and ties never depend on
/// the order the scan found them in.
type PortOrder<'a> = (NaiveDateTime, &'a str, Protocol, u16, &'a str);

impl NewListener {
    fn port_order(&self) -> PortOrder<'_> {
        (self.first_seen, &self.computer, self.protocol, self.port, &self.process)
    }
}

impl OwnerChange {
    fn port_order(&self) -> PortOrder<'_> {
        (self.first_seen, &self.computer, self.protocol, self.port, &self.process)
    }
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

impl Changes {
    /// The view from its entries in any order: each list put in the view's order, and only
    /// the [`MAX_ENDPOINTS`] endpoints with most rows kept. The local scanner and the
    /// ClickHouse report both finish through it, so their lists are ordered alike.
    pub fn ordered(
        baseline: BaselineOut,
        mut new_listeners: Vec<NewListener>,
        mut owner_changes: Vec<OwnerChange>,
        mut new_processes: Vec<NewProcess>,
        mut new_remote_endpoints: Vec<NewEndpoint>,
    ) -> Changes {
        new_listeners.sort_by(|a, b| a.port_order().cmp(&b.port_order()));
        owner_changes.sort_by(|a, b| a.port_order().cmp(&b.port_order()));
        new_processes
            .sort_by(|a, b| (a.first_seen, &a.computer, &a.process).cmp(&(b.first_seen, &b.computer, &b.process)));
        // As [`Ranked`] orders them.
        new_remote_endpoints.sort_by(|a, b| {
            (std::cmp::Reverse(a.rows), a.first_seen, &a.computer, &a.process, a.remote_ip, a.remote_port).cmp(&(
                std::cmp::Reverse(b.rows),
                b.first_seen,
                &b.computer,
                &b.process,
                b.remote_ip,
                b.remote_port,
            ))
        });
        new_remote_endpoints.truncate(MAX_ENDPOINTS);
        Changes { baseline, new_listeners, owner_changes, new_processes, new_remote_endpoints }
    }
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

/// A remote endpoint of the loaded set's rows in the scanner's ids, but for the address: the
/// set's id (what came after is only ever of one set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RowEndpoint {
    computer: u32,
    name: u32,
    addr: u32,
    port: u16,
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
    /// By the loaded set's ids, as its rows were counted (per process, by
    /// [`rows::process_key`]): there can be millions, so they are not copied into the
    /// scanner's ids; [`After::names`] and [`After::computers`] map them.
    endpoints: FxHashMap<u64, Endpoints>,
    /// The scanner's name id of each of the set's module ids (`UNSET`: none of its rows).
    names: Vec<u32>,
    computers: Vec<u32>,
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

    /// Which of the current set's rows are the baseline and which came after.
    fn sides(&self) -> Sides {
        let until = match &self.baseline {
            Baseline::Until(t) => Some(*t),
            _ => None,
        };
        Sides { all_base: self.role == Role::Baseline, until, range: self.range }
    }

    /// An accumulator for the current set's processes and remote endpoints, to be fed every
    /// PORTS row of the set (on any core, in any order) and given back to
    /// [`ChangeScanner::absorb`].
    pub fn counter(&self) -> ChangeRows {
        ChangeRows::new(self.sides())
    }

    /// Takes the current set's next PORTS row for its listeners (rows in time order within
    /// each file; `tables` the set's PORTS tables). Its processes and endpoints are counted
    /// by a [`ChangeScanner::counter`].
    pub fn pair(&mut self, tables: &Tables<'_>, e: &PortEvent) {
        self.pair_counted(tables, e, true);
    }

    /// [`ChangeScanner::pair`] for a row that may count as what came after only when
    /// `counted`. Only a listening-looking row costs more than its kind and a comparison of
    /// times: the rest only move the pairing's clock or, for a connection, its second's list.
    #[inline]
    fn pair_counted(&mut self, tables: &Tables<'_>, e: &PortEvent, counted: bool) {
        let kind = RowKind::of(e.protocol, tables.remote_ip(e), e.remote_port(), e.pid());
        let computer = match kind {
            RowKind::Other => 0,
            _ => self.log_computer(tables, tables.computer(e).0),
        };
        let socket = Socket { computer, port: e.local_port, pid: e.pid };
        let heard =
            matches!(kind, RowKind::MaybeQuirk | RowKind::Listener).then(|| self.heard(tables, e, computer, counted));
        let record = &mut self.record;
        self.pairing.row_or_pass(e.time, socket, kind, heard, &mut |h| record.heard(h));
    }

    /// What a listening-looking row is to the record, should it turn out a listener.
    fn heard(&mut self, tables: &Tables<'_>, e: &PortEvent, computer: u32, counted: bool) -> Heard {
        let side = match self.side(Some(e.time)) {
            Side::After if !counted => Side::Skip,
            side => side,
        };
        let name = self.log_name(tables, e.module.0);
        let user = self.log_user(tables, e.user.0);
        let key = ListenKey { computer, protocol: e.protocol, port: e.local_port, name };
        Heard { side, key, time: e.time, pid: e.pid(), user, rows: 1 }
    }

    /// Takes in what a [`ChangeScanner::counter`] counted of the current set (`tables` the
    /// set's PORTS tables, as they are after its last row).
    pub fn absorb(&mut self, rows: ChangeRows, tables: &Tables<'_>) {
        for (k, endpoints) in rows.base {
            let (c, m) = process_ids(k);
            let (computer, name) = (self.log_computer(tables, c), self.log_name(tables, m));
            self.record.before.processes.insert((computer, name));
            self.record.before.computers.insert(computer);
            for e in endpoints {
                let (addr, port) = endpoint_ids(e);
                let Some(ip) = tables.addrs.resolve(AddrId(addr)).ip() else { continue };
                self.record.before.endpoints.insert(EndpointKey { computer, name, ip, port });
            }
        }
        if rows.after.is_empty() {
            return;
        }
        for (k, p) in rows.after {
            let (c, m) = process_ids(k);
            let mut seen = p.seen;
            seen.users = seen.users.iter().map(|&u| self.log_user(tables, u)).collect();
            seen.users.dedup();
            let key = (self.log_computer(tables, c), self.log_name(tables, m));
            match self.record.after.processes.get_mut(&key) {
                Some(mine) => mine.merge(seen),
                None => _ = self.record.after.processes.insert(key, seen),
            }
            match self.record.after.endpoints.get_mut(&k) {
                Some(mine) => merge_endpoints(mine, p.endpoints),
                None => _ = self.record.after.endpoints.insert(k, p.endpoints),
            }
        }
        let after = &mut self.record.after;
        after.names.clone_from(&self.module_ids);
        after.computers.clone_from(&self.computer_ids);
    }

    /// The scanner's id of the set's computer `id`.
    fn log_computer(&mut self, tables: &Tables<'_>, id: u32) -> u32 {
        self.memoized(|s| &mut s.computer_ids, id, |s| s.computer_id(tables.computers.name(Symbol(id))))
    }

    /// The scanner's id of the set's module name `id`.
    fn log_name(&mut self, tables: &Tables<'_>, id: u32) -> u32 {
        self.memoized(|s| &mut s.module_ids, id, |s| s.name_id(tables.modules.resolve(Symbol(id))))
    }

    /// The scanner's id of the set's user `id`.
    fn log_user(&mut self, tables: &Tables<'_>, id: u32) -> u32 {
        self.memoized(|s| &mut s.user_ids, id, |s| s.user_id(tables.users.resolve(Symbol(id))))
    }

    /// The scanner's id of a set's id, kept in `ids` (one of the per-set tables) by the set's
    /// id: rows repeat a few ids millions of times, so each is looked up by name (`intern`)
    /// only the first time.
    fn memoized(&mut self, ids: fn(&mut Self) -> &mut Vec<u32>, id: u32, intern: impl FnOnce(&mut Self) -> u32) -> u32 {
        let at = id as usize;
        if let Some(&known) = ids(self).get(at)
            && known != UNSET
        {
            return known;
        }
        let new = intern(self);
        let ids = ids(self);
        if ids.len() <= at {
            ids.resize(at + 1, UNSET);
        }
        if let Some(slot) = ids.get_mut(at) {
            *slot = new;
        }
        new
    }

    /// Reads a set's PORTS rows streamed block by block: processes and endpoints counted on
    /// all cores, beside the listeners read in order.
    pub fn stream(&mut self, pieces: &mut Pieces<ChangeRows>, tables: &Tables<'_>, rows: &[PortEvent]) {
        rayon::join(|| pieces.add(Batch::new(*tables, rows)), || rows.iter().for_each(|e| self.pair(tables, e)));
    }

    /// Reads the logs of a [`Baseline::Paths`] as the baseline (nothing for the other
    /// kinds), streaming their rows; then the scanner is ready for the loaded set.
    pub fn read_baseline(&mut self, progress: &LoadProgress) -> Result<(), LogError> {
        let Baseline::Paths(paths) = &self.baseline else { return Ok(()) };
        // The baseline's module lists are not compared: only its processes and port tables.
        let mut streaming = set::stream_plan(set::plan(paths)?, progress, ModuleDetail::ImageOnly)?;
        self.begin(Role::Baseline);
        self.snapshots(&streaming.set);
        let mut pieces = Pieces::new(|| self.counter());
        streaming.stream_ports(progress, &mut |set: &LogSet, block: &RowBlock<'_>| {
            self.stream(&mut pieces, &Tables::of(&set.ports), block.rows);
        })?;
        self.absorb(pieces.merged(), &Tables::of(&streaming.set.ports));
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
        let rows = match counted {
            None => {
                let sides = self.sides();
                rayon::join(
                    || over_rows(Batch::new(tables, events), || ChangeRows::new(sides)),
                    || events.iter().for_each(|e| self.pair(&tables, e)),
                )
                .0
            }
            Some(rows) => {
                let mut member = vec![0u64; events.len().div_ceil(64)];
                for &i in rows {
                    if let Some(word) = member.get_mut(i as usize / 64) {
                        *word |= 1 << (i % 64);
                    }
                }
                let mut counter = self.counter();
                for (i, e) in events.iter().enumerate() {
                    let counted = member.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0);
                    counter.row(&tables, e, counted);
                    self.pair_counted(&tables, e, counted);
                }
                counter
            }
        };
        self.absorb(rows, &tables);
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

        let new_listeners: Vec<NewListener> = after
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

        let owner_changes: Vec<OwnerChange> = after
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

        let new_processes: Vec<NewProcess> = after
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

        let new_remote_endpoints = self.new_endpoints(addrs, in_base, &computer);

        let baseline = match &self.baseline {
            Baseline::Initial => BaselineOut::Initial { files: self.initial_files.clone() },
            Baseline::Paths(paths) => {
                BaselineOut::Path { paths: paths.iter().map(|p| p.display().to_string()).collect() }
            }
            Baseline::Until(t) => BaselineOut::Until { until: *t },
        };
        Changes::ordered(baseline, new_listeners, owner_changes, new_processes, new_remote_endpoints)
    }

    /// The [`MAX_ENDPOINTS`] new remote endpoints with most rows. There may be millions of
    /// candidates, so they are ranked by ids and borrowed names, and only those listed are
    /// written out.
    fn new_endpoints(
        &self,
        addrs: &AddrTable,
        in_base: impl Fn(u32) -> u32,
        computer: &dyn Fn(u32) -> String,
    ) -> Vec<NewEndpoint> {
        let before = &self.record.before;
        let after = &self.record.after;
        let id = |ids: &[u32], i: u32| ids.get(i as usize).copied().unwrap_or(UNSET);
        let scanner_key = |process: u64, endpoint: u64| {
            let (c, m) = process_ids(process);
            let (addr, port) = endpoint_ids(endpoint);
            RowEndpoint { computer: id(&after.computers, c), name: id(&after.names, m), addr, port }
        };
        // Names that differ only in case are one process: their endpoints are added up
        // first (rare: only then is a second table built).
        let one_to_one = |ids: &[u32]| {
            let mut seen = FxHashSet::default();
            ids.iter().filter(|&&i| i != UNSET).all(|&i| seen.insert(i))
        };
        let all =
            || after.endpoints.iter().flat_map(move |(&p, endpoints)| endpoints.iter().map(move |(&e, s)| (p, e, *s)));
        let merged: Option<FxHashMap<RowEndpoint, EndpointSeen>> =
            (!(one_to_one(&after.names) && one_to_one(&after.computers))).then(|| {
                let mut merged: FxHashMap<RowEndpoint, EndpointSeen> = FxHashMap::default();
                for (p, e, seen) in all() {
                    merged.entry(scanner_key(p, e)).and_modify(|mine| mine.merge(seen)).or_insert(seen);
                }
                merged
            });
        let entries: Box<dyn Iterator<Item = (RowEndpoint, EndpointSeen)>> = match &merged {
            Some(m) => Box::new(m.iter().map(|(k, s)| (*k, *s))),
            None => Box::new(all().map(|(p, e, s)| (scanner_key(p, e), s))),
        };
        let mut best: std::collections::BinaryHeap<Ranked<'_>> = std::collections::BinaryHeap::new();
        for (k, seen) in entries {
            let Some(ip) = addrs.resolve(AddrId(k.addr)).ip() else { continue };
            if !before.endpoints.is_empty()
                && before.endpoints.contains(&EndpointKey {
                    computer: in_base(k.computer),
                    name: k.name,
                    ip,
                    port: k.port,
                })
            {
                continue;
            }
            let ranked = Ranked {
                rows: std::cmp::Reverse(seen.rows),
                first: seen.first,
                computer: self.computers.name(Symbol(k.computer)),
                process: self.names.name(k.name),
                ip,
                port: k.port,
                ids: (k.computer, k.name),
            };
            if best.len() < MAX_ENDPOINTS {
                best.push(ranked);
            } else if best.peek().is_some_and(|worst| ranked < *worst) {
                best.pop();
                best.push(ranked);
            }
        }
        best.into_sorted_vec()
            .into_iter()
            .map(|r| NewEndpoint {
                computer: computer(r.ids.0),
                process: r.process.to_string(),
                remote_ip: r.ip,
                remote_port: r.port,
                first_seen: r.first,
                rows: r.rows.0.into(),
            })
            .collect()
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

/// A new remote endpoint in the order the list has: most rows first, then first seen, then
/// computer, process, address and port (the fields compare in this order).
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ranked<'a> {
    rows: std::cmp::Reverse<u32>,
    first: NaiveDateTime,
    computer: &'a str,
    process: &'a str,
    ip: IpAddr,
    port: u16,
    /// Computer and name ids, equal whenever the names above are.
    ids: (u32, u32),
}

/// The stamp in a log's file name.
fn file_stamp(path: &Path) -> Option<NaiveDateTime> {
    path.file_name().and_then(|n| n.to_str()).and_then(header::parse_file_name).map(|(_, s)| s)
}

#[cfg(test)]
mod tests;
