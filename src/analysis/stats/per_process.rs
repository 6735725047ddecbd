//! Per-process usage by user (Port Reporter Parser's "iexplore.exe usage", for any process) as
//! an accumulator: the rows of one module name (without regard to case), by user, each user
//! with the remote hosts it reached. It keeps a count per (user, remote address) of that
//! process, never rows.

use rustc_hash::FxHashMap;

use crate::analysis::aggregate::{Accumulate, Batch, PerId, Tables};
use crate::model::{AddrId, Symbol};

use super::{IpCount, UserUsage, ranked};

#[derive(Debug, Clone)]
pub struct ProcessUsage {
    process: String,
    /// Whether each module id (of the tables seen so far) is the process.
    wanted: Vec<bool>,
    /// The process's rows by user id.
    users: PerId,
    /// Its rows by (user, remote address), specific addresses only.
    hosts: FxHashMap<(Symbol, AddrId), u64>,
}

impl ProcessUsage {
    pub fn new(process: &str) -> ProcessUsage {
        ProcessUsage {
            process: process.to_string(),
            wanted: Vec::new(),
            users: PerId::default(),
            hosts: FxHashMap::default(),
        }
    }

    /// Decides for the module names added to the table since the last batch.
    fn fit(&mut self, t: &Tables<'_>) {
        let known = self.wanted.len();
        let process = &self.process;
        self.wanted.extend(t.modules.iter().skip(known).map(|(_, m)| !m.is_empty() && m.eq_ignore_ascii_case(process)));
    }
}

impl Accumulate for ProcessUsage {
    type Output = Vec<UserUsage>;

    fn add(&mut self, batch: &Batch<'_>) {
        self.fit(&batch.tables);
        self.users.fit(batch.tables.users.len());
        let addrs = batch.tables.addrs;
        batch.for_each(|e| {
            if !self.wanted.get(e.module.0 as usize).copied().unwrap_or(false) {
                return;
            }
            self.users.bump(e.user.0 as usize);
            if addrs.resolve(e.remote_ip).is_specific() {
                *self.hosts.entry((e.user, e.remote_ip)).or_default() += 1;
            }
        });
    }

    fn merge(&mut self, other: ProcessUsage) {
        self.users.merge(other.users);
        for (key, n) in other.hosts {
            *self.hosts.entry(key).or_default() += n;
        }
    }

    fn finish(self, t: Tables<'_>) -> Vec<UserUsage> {
        let mut hosts: FxHashMap<Symbol, Vec<(std::net::IpAddr, u64)>> = FxHashMap::default();
        for ((user, addr), n) in self.hosts {
            if let Some(ip) = t.addrs.resolve(addr).ip() {
                hosts.entry(user).or_default().push((ip, n));
            }
        }
        let pairs =
            self.users.nonzero().map(|(u, n)| ((t.users.resolve(Symbol(u as u32)).to_string(), u), n)).collect();
        ranked(pairs, |(user, id), count, percent| {
            let list = hosts.remove(&Symbol(id as u32)).unwrap_or_default();
            let remote_hosts = ranked(list, |ip, count, percent| IpCount { ip, count, percent });
            UserUsage { user, count, percent, remote_hosts }
        })
    }
}
