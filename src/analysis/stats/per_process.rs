//! Per-process usage by user (Port Reporter Parser's "iexplore.exe usage", for any process) as
//! an accumulator: the rows of one module name (without regard to case), by user, each user
//! with the remote hosts it reached. It keeps a count per (user, remote address) of that
//! process, never rows.

use rustc_hash::FxHashMap;

use crate::analysis::aggregate::{Accumulate, Batch, Tables};
use crate::model::{AddrId, Symbol};

use super::{IpCount, UserUsage, ranked};

#[derive(Debug, Clone)]
pub struct ProcessUsage {
    process: String,
    /// Whether each module id (of the tables seen so far) is the process.
    wanted: Vec<bool>,
    by_user: FxHashMap<Symbol, (u64, FxHashMap<AddrId, u64>)>,
}

impl ProcessUsage {
    pub fn new(process: &str) -> ProcessUsage {
        ProcessUsage { process: process.to_string(), wanted: Vec::new(), by_user: FxHashMap::default() }
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
        let addrs = batch.tables.addrs;
        batch.for_each(|e| {
            if !self.wanted.get(e.module.0 as usize).copied().unwrap_or(false) {
                return;
            }
            let entry = self.by_user.entry(e.user).or_default();
            entry.0 += 1;
            if addrs.resolve(e.remote_ip).is_specific() {
                *entry.1.entry(e.remote_ip).or_default() += 1;
            }
        });
    }

    fn merge(&mut self, other: ProcessUsage) {
        for (user, (rows, hosts)) in other.by_user {
            let entry = self.by_user.entry(user).or_default();
            entry.0 += rows;
            for (addr, n) in hosts {
                *entry.1.entry(addr).or_default() += n;
            }
        }
    }

    fn finish(self, t: Tables<'_>) -> Vec<UserUsage> {
        let users: Vec<(String, u64, Vec<IpCount>)> = self
            .by_user
            .into_iter()
            .map(|(user, (rows, hosts))| {
                let list = hosts.into_iter().filter_map(|(a, c)| t.addrs.resolve(a).ip().map(|ip| (ip, c))).collect();
                (
                    t.users.resolve(user).to_string(),
                    rows,
                    ranked(list, |ip, count, percent| IpCount { ip, count, percent }),
                )
            })
            .collect();
        let mut hosts: FxHashMap<String, Vec<IpCount>> = FxHashMap::default();
        let pairs = users
            .into_iter()
            .map(|(user, rows, list)| {
                hosts.insert(user.clone(), list);
                (user, rows)
            })
            .collect();
        ranked(pairs, |user, count, percent| {
            let remote_hosts = hosts.remove(&user).unwrap_or_default();
            UserUsage { user, count, percent, remote_hosts }
        })
    }
}
