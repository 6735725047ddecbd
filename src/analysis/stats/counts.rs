//! The five row-count views as one accumulator: local TCP port usage, process usage, remote
//! IP usage, user context usage and port usage by hour. Counts are kept per id of the log's
//! tables (and per port number), so the memory they take is that of the tables, not the rows.

use crate::analysis::aggregate::{Accumulate, Batch, PerId, Tables};
use crate::model::{AddrId, Protocol, Symbol};

use super::{HourCount, IpCount, PortCount, ProcessCount, RowStats, UserCount, ranked};

#[derive(Debug, Clone)]
pub struct RowCounts {
    rows: u64,
    tcp_ports: PerId,
    modules: PerId,
    users: PerId,
    remote: PerId,
    hours: [u64; 24],
}

impl Default for RowCounts {
    fn default() -> RowCounts {
        let mut tcp_ports = PerId::default();
        tcp_ports.fit(1 << 16);
        RowCounts {
            rows: 0,
            tcp_ports,
            modules: PerId::default(),
            users: PerId::default(),
            remote: PerId::default(),
            hours: [0; 24],
        }
    }
}

impl Accumulate for RowCounts {
    type Output = RowStats;

    fn add(&mut self, batch: &Batch<'_>) {
        let t = &batch.tables;
        self.modules.fit(t.modules.len());
        self.users.fit(t.users.len());
        self.remote.fit(t.addrs.len());
        batch.for_each(|e| {
            self.rows += 1;
            if e.protocol == Protocol::Tcp {
                self.tcp_ports.bump(usize::from(e.local_port));
            }
            self.modules.bump(e.module.0 as usize);
            self.users.bump(e.user.0 as usize);
            self.remote.bump(e.remote_ip.0 as usize);
            self.hours[e.hour() as usize % 24] += 1;
        });
    }

    fn merge(&mut self, other: RowCounts) {
        self.rows += other.rows;
        self.tcp_ports.merge(other.tcp_ports);
        self.modules.merge(other.modules);
        self.users.merge(other.users);
        self.remote.merge(other.remote);
        self.hours.iter_mut().zip(other.hours).for_each(|(a, b)| *a += b);
    }

    fn finish(self, t: Tables<'_>) -> RowStats {
        let tcp = self.tcp_ports.nonzero().map(|(p, c)| (p as u16, c)).collect();
        let names = |counts: &PerId, table: &crate::intern::Interner| -> Vec<(String, u64)> {
            counts
                .nonzero()
                .filter(|(s, _)| *s != 0)
                .map(|(s, c)| (table.resolve(Symbol(s as u32)).to_string(), c))
                .collect()
        };
        let remote = self
            .remote
            .nonzero()
            .filter_map(|(id, c)| {
                let addr = t.addrs.resolve(AddrId(id as u32));
                addr.is_specific().then(|| addr.ip()).flatten().map(|ip| (ip, c))
            })
            .collect();
        RowStats {
            rows: self.rows,
            local_tcp_port_usage: ranked(tcp, |port, count, percent| PortCount { port, count, percent }),
            process_usage: ranked(names(&self.modules, t.modules), |process, count, percent| ProcessCount {
                process,
                count,
                percent,
            }),
            remote_ip_usage: ranked(remote, |ip, count, percent| IpCount { ip, count, percent }),
            user_context_usage: ranked(names(&self.users, t.users), |user, count, percent| UserCount {
                user,
                count,
                percent,
            }),
            port_usage_by_hour: (0..24).map(|h| HourCount { hour: h, count: self.hours[h as usize] }).collect(),
        }
    }
}
