//! Consistent PR-INITIAL + PR-PORTS + PR-PIDS sets of any size, for benchmarks and tests:
//! a made-up Windows XP machine whose processes, users, services and modules agree across the
//! three logs, with PIDS blocks recorded when a process starts new activity, as Port Reporter
//! did. The same seed writes the same bytes.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDateTime, TimeDelta};

use crate::logs::header::{LogKind, Version, file_name};
use crate::logs::initial::{self, InitialLog};
use crate::logs::pids::{self, LogHeader};
use crate::logs::ports::{self, RowOut};
use crate::model::{
    Address, LoadedModule, Modules, PortField, PortMapping, PortStatistics, ProcessBlock, Protocol, Service, TcpState,
    make_datetime,
};

/// A deterministic xorshift generator: benchmarks must see the same data every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What a process of the made-up machine does on the network.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Habit {
    /// Browses: TCP to many web servers on 80/443.
    Browser,
    /// Talks to a few fixed servers.
    Client(&'static [(&'static str, u16)]),
    /// Sends UDP from ephemeral ports.
    Udp,
    /// Accepts connections on a listening port.
    Server(u16),
}

struct Proc {
    pid: u32,
    name: &'static str,
    user: Option<&'static str>,
    image: &'static str,
    services: &'static [(&'static str, &'static str)],
    weight: u64,
    habit: Habit,
    v6: bool,
}

const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 103);
const LOCAL_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0x10, 0, 0, 0, 0x103);

const NETSVCS: &[(&str, &str)] = &[
    ("AudioSrv", "Windows Audio"),
    ("BITS", "Background Intelligent Transfer Service"),
    ("CryptSvc", "Cryptographic Services"),
    ("Dhcp", "DHCP Client"),
    ("EventSystem", "COM+ Event System"),
    ("lanmanserver", "Server"),
    ("lanmanworkstation", "Workstation"),
    ("Schedule", "Task Scheduler"),
    ("W32Time", "Windows Time"),
    ("winmgmt", "Windows Management Instrumentation"),
    ("wuauserv", "Automatic Updates"),
];

fn machine() -> Vec<Proc> {
    let sys = Some("NT AUTHORITY\\SYSTEM");
    vec![
        Proc {
            pid: 4,
            name: "System",
            user: None,
            image: "",
            services: &[],
            weight: 4,
            habit: Habit::Server(445),
            v6: false,
        },
        Proc {
            pid: 0,
            name: "System Idle",
            user: None,
            image: "",
            services: &[],
            weight: 1,
            habit: Habit::Client(&[("192.168.1.20", 445)]),
            v6: false,
        },
        Proc {
            pid: 952,
            name: "svchost.exe",
            user: sys,
            image: "C:\\WINDOWS\\system32\\svchost.exe",
            services: &[("RpcSs", "Remote Procedure Call (RPC)")],
            weight: 3,
            habit: Habit::Server(135),
            v6: false,
        },
        Proc {
            pid: 1092,
            name: "svchost.exe",
            user: sys,
            image: "C:\\WINDOWS\\System32\\svchost.exe",
            services: NETSVCS,
            weight: 8,
            habit: Habit::Client(&[("65.55.200.252", 80), ("207.46.248.248", 443), ("65.54.51.253", 80)]),
            v6: false,
        },
        Proc {
            pid: 1260,
            name: "svchost.exe",
            user: Some("NT AUTHORITY\\NETWORK SERVICE"),
            image: "C:\\WINDOWS\\system32\\svchost.exe",
            services: &[("Dnscache", "DNS Client")],
            weight: 10,
            habit: Habit::Udp,
            v6: true,
        },
        Proc {
            pid: 1228,
            name: "svchost.exe",
            user: Some("NT AUTHORITY\\LOCAL SERVICE"),
            image: "C:\\WINDOWS\\system32\\svchost.exe",
            services: &[("SSDPSRV", "SSDP Discovery Service"), ("upnphost", "Universal Plug and Play Device Host")],
            weight: 3,
            habit: Habit::Udp,
            v6: false,
        },
        Proc {
            pid: 748,
            name: "lsass.exe",
            user: sys,
            image: "C:\\WINDOWS\\system32\\lsass.exe",
            services: &[
                ("PolicyAgent", "IPSEC Services"),
                ("ProtectedStorage", "Protected Storage"),
                ("SamSs", "Security Accounts Manager"),
            ],
            weight: 2,
            habit: Habit::Client(&[("192.168.1.10", 389), ("192.168.1.10", 88)]),
            v6: false,
        },
        Proc {
            pid: 3312,
            name: "iexplore.exe",
            user: Some("CORP\\alice"),
            image: "C:\\Program Files\\Internet Explorer\\iexplore.exe",
            services: &[],
            weight: 25,
            habit: Habit::Browser,
            v6: true,
        },
        Proc {
            pid: 3480,
            name: "iexplore.exe",
            user: Some("CORP\\bob"),
            image: "C:\\Program Files\\Internet Explorer\\iexplore.exe",
            services: &[],
            weight: 15,
            habit: Habit::Browser,
            v6: false,
        },
        Proc {
            pid: 4100,
            name: "firefox.exe",
            user: Some("CORP\\alice"),
            image: "C:\\Program Files\\Mozilla Firefox\\firefox.exe",
            services: &[],
            weight: 12,
            habit: Habit::Browser,
            v6: true,
        },
        Proc {
            pid: 2120,
            name: "OUTLOOK.EXE",
            user: Some("CORP\\bob"),
            image: "C:\\Program Files\\Microsoft Office\\OFFICE11\\OUTLOOK.EXE",
            services: &[],
            weight: 6,
            habit: Habit::Client(&[("192.168.1.25", 135), ("192.168.1.25", 443)]),
            v6: false,
        },
        Proc {
            pid: 3764,
            name: "msmsgs.exe",
            user: Some("CORP\\alice"),
            image: "C:\\Program Files\\Messenger\\msmsgs.exe",
            services: &[],
            weight: 4,
            habit: Habit::Client(&[("207.46.4.113", 1863)]),
            v6: false,
        },
        Proc {
            pid: 2424,
            name: "Virtual PC.exe",
            user: Some("CORP\\alice"),
            image: "C:\\Program Files\\Microsoft Virtual PC\\Virtual PC.exe",
            services: &[],
            weight: 3,
            habit: Habit::Udp,
            v6: false,
        },
        Proc {
            pid: 1904,
            name: "inetinfo.exe",
            user: sys,
            image: "C:\\WINDOWS\\system32\\inetsrv\\inetinfo.exe",
            services: &[("W3SVC", "World Wide Web Publishing")],
            weight: 5,
            habit: Habit::Server(80),
            v6: false,
        },
        Proc {
            pid: 6660,
            name: "svchost.exe",
            user: Some("CORP\\bob"),
            image: "C:\\Documents and Settings\\bob\\Local Settings\\Temp\\svchost.exe",
            services: &[],
            weight: 1,
            habit: Habit::Client(&[("203.0.113.66", 6667)]),
            v6: false,
        },
    ]
}

fn modules_of(p: &Proc) -> Modules {
    if p.pid == 4 || p.pid == 0 {
        return Modules::NotAccessible;
    }
    let mut list = vec![LoadedModule { path: p.image.to_string(), base: Some(0x0040_0000) }];
    for (i, dll) in [
        "ntdll.dll",
        "kernel32.dll",
        "ADVAPI32.dll",
        "RPCRT4.dll",
        "USER32.dll",
        "GDI32.dll",
        "WS2_32.dll",
        "WS2HELP.dll",
        "mswsock.dll",
        "DNSAPI.dll",
    ]
    .iter()
    .enumerate()
    {
        list.push(LoadedModule {
            path: format!("C:\\WINDOWS\\system32\\{dll}"),
            base: Some(0x7700_0000 + 0x10_0000 * i as u64),
        });
    }
    if p.habit == Habit::Browser {
        list.push(LoadedModule { path: "C:\\WINDOWS\\system32\\WININET.dll".into(), base: Some(0x7620_0000) });
        list.push(LoadedModule { path: "C:\\WINDOWS\\system32\\urlmon.dll".into(), base: Some(0x1A40_0000) });
    }
    if p.pid == 6660 {
        list.push(LoadedModule {
            path: "C:\\Documents and Settings\\bob\\Local Settings\\Temp\\ircbot.dll".into(),
            base: Some(0x1000_0000),
        });
    }
    Modules::Listed(list)
}

/// The remote servers browsers visit: a fixed pool, mostly IPv4, some IPv6.
fn web_pool(rng: &mut Rng) -> Vec<IpAddr> {
    (0..3000)
        .map(|i| {
            if i % 10 == 9 {
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, (rng.below(64)) as u16, 0, 0, 0, 0, (rng.below(65535)) as u16))
            } else {
                let first = [64, 65, 72, 74, 207, 209, 216][rng.below(7) as usize];
                IpAddr::V4(Ipv4Addr::new(first, rng.below(256) as u8, rng.below(256) as u8, 1 + rng.below(254) as u8))
            }
        })
        .collect()
}

struct Event {
    protocol: Protocol,
    local_ip: Address,
    local_port: u16,
    remote_ip: Address,
    remote_port: PortField,
    state: Option<TcpState>,
}

fn event_for(p: &Proc, rng: &mut Rng, pool: &[IpAddr]) -> Event {
    let ephemeral = 1025 + rng.below(4000) as u16;
    let v6 = p.v6 && rng.below(4) == 0;
    let local = if v6 { Address::Ip(IpAddr::V6(LOCAL_V6)) } else { Address::Ip(IpAddr::V4(LOCAL_V4)) };
    match p.habit {
        Habit::Browser => {
            let candidates: Vec<&IpAddr> = pool.iter().filter(|ip| ip.is_ipv6() == v6).collect();
            let ip = candidates.get(rng.below(candidates.len() as u64) as usize).map_or(pool[0], |ip| **ip);
            let port = if rng.below(3) == 0 { 80 } else { 443 };
            Event {
                protocol: Protocol::Tcp,
                local_ip: local,
                local_port: ephemeral,
                remote_ip: Address::Ip(ip),
                remote_port: PortField::Num(port),
                state: Some(TcpState::Established),
            }
        }
        Habit::Client(servers) => {
            let (ip, port) = servers[rng.below(servers.len() as u64) as usize];
            let ip = ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
            Event {
                protocol: Protocol::Tcp,
                local_ip: Address::Ip(IpAddr::V4(LOCAL_V4)),
                local_port: ephemeral,
                remote_ip: Address::Ip(ip),
                remote_port: PortField::Num(port),
                state: Some(if p.pid == 0 { TcpState::TimeWait } else { TcpState::Established }),
            }
        }
        Habit::Udp => {
            let local = if rng.below(3) == 0 { Address::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) } else { local };
            Event {
                protocol: Protocol::Udp,
                local_ip: local,
                local_port: ephemeral,
                remote_ip: Address::Any,
                remote_port: PortField::Any,
                state: None,
            }
        }
        Habit::Server(port) => {
            if rng.below(5) == 0 {
                Event {
                    protocol: Protocol::Tcp,
                    local_ip: Address::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    local_port: port,
                    remote_ip: Address::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                    remote_port: PortField::Empty,
                    state: Some(TcpState::Listening),
                }
            } else {
                let peer = Ipv4Addr::new(192, 168, 1, 2 + rng.below(200) as u8);
                Event {
                    protocol: Protocol::Tcp,
                    local_ip: Address::Ip(IpAddr::V4(LOCAL_V4)),
                    local_port: port,
                    remote_ip: Address::Ip(IpAddr::V4(peer)),
                    remote_port: PortField::Num(1025 + rng.below(4000) as u16),
                    state: Some(TcpState::Established),
                }
            }
        }
    }
}

fn block_for(p: &Proc, ports: Vec<PortMapping>) -> ProcessBlock {
    let tcp = ports.iter().filter(|m| m.protocol == Protocol::Tcp).count() as u32;
    let udp = ports.len() as u32 - tcp;
    ProcessBlock {
        recorded_at: None,
        source: 0,
        line: 0,
        pid: p.pid,
        process: p.name.to_string(),
        user: p.user.map(str::to_string),
        system_process: p.pid == 4,
        services: p
            .services
            .iter()
            .map(|(n, d)| Service {
                name: n.to_string(),
                display_name: Some(d.to_string()),
                service_type: Some("shares a process with other services".into()),
            })
            .collect(),
        ports,
        port_statistics: PortStatistics { tcp_mappings: Some(tcp), udp_mappings: Some(udp), states: Vec::new() },
        modules: modules_of(p),
    }
}

fn mapping(p: &Proc, ev: &Event) -> PortMapping {
    PortMapping {
        pid: p.pid,
        process: None,
        protocol: ev.protocol,
        local_port: ev.local_port,
        local_ip: ev.local_ip,
        state: ev.state.clone(),
        remote_ip: ev.remote_ip,
        remote_port: ev.remote_port,
    }
}

/// A new PIDS block is written for a process after this many of its rows ("new activity").
const ROWS_PER_BLOCK: u64 = 400;

/// Writes the three logs into `out` (created if missing); returns a one-line summary.
pub fn write_set(out: &Path, rows: u64, seed: u64) -> io::Result<String> {
    std::fs::create_dir_all(out)?;
    let start = make_datetime(8, 6, 30, 0, 0, 0).ok_or_else(|| io::Error::other("bad start date"))?;
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let procs = machine();
    let pool = web_pool(&mut rng);
    let total_weight: u64 = procs.iter().map(|p| p.weight).sum();
    let path = |kind| out.join(file_name(kind, start));
    let (ports_path, pids_path, initial_path) = (path(LogKind::Ports), path(LogKind::Pids), path(LogKind::Initial));

    let header = LogHeader {
        version: Some(Version("1.01".into())),
        system_date: Some(start),
        computer_name: Some("PC12347".into()),
        operating_system: Some("windows xp".into()),
    };
    write_initial(&initial_path, &header, &procs, &mut rng, &pool)?;

    let mut ports_out = BufWriter::with_capacity(1 << 20, File::create(&ports_path)?);
    let mut pids_out = BufWriter::with_capacity(1 << 20, File::create(&pids_path)?);
    let pids_name = file_name(LogKind::Pids, start);
    ports::write_header(&mut ports_out, "1.01", &pids_name)?;
    pids::write_header(&mut pids_out, &header)?;

    let mut seen = vec![0u64; procs.len()];
    let mut time: NaiveDateTime = start;
    for _ in 0..rows {
        time += TimeDelta::seconds(rng.below(3) as i64);
        let mut pick = rng.below(total_weight);
        let i = procs
            .iter()
            .position(|p| {
                pick < p.weight || {
                    pick -= p.weight;
                    false
                }
            })
            .unwrap_or(0);
        let p = &procs[i];
        let ev = event_for(p, &mut rng, &pool);
        let row = RowOut {
            time,
            protocol: ev.protocol,
            local_port: ev.local_port,
            local_ip: ev.local_ip,
            remote_port: ev.remote_port,
            remote_ip: ev.remote_ip,
            pid: Some(p.pid),
            module: p.name,
            user: p.user,
        };
        ports::write_row(&mut ports_out, &row)?;
        if seen[i].is_multiple_of(ROWS_PER_BLOCK) {
            pids::write_entry(&mut pids_out, time, &block_for(p, vec![mapping(p, &ev)]))?;
        }
        seen[i] += 1;
    }
    ports_out.flush()?;
    pids_out.flush()?;
    Ok(format!("wrote {rows} rows: {}, {}, {}", ports_path.display(), pids_path.display(), initial_path.display()))
}

fn write_initial(path: &PathBuf, header: &LogHeader, procs: &[Proc], rng: &mut Rng, pool: &[IpAddr]) -> io::Result<()> {
    let mut blocks = Vec::new();
    let mut mappings = Vec::new();
    for p in procs.iter().filter(|p| p.pid != 6660) {
        let ev = event_for(p, rng, pool);
        let m = mapping(p, &ev);
        mappings.push(PortMapping { process: Some(p.name.to_string()), ..m.clone() });
        blocks.push(block_for(p, vec![m]));
    }
    let log = InitialLog {
        path: Arc::from(path.as_path()),
        header: header.clone(),
        mappings_found: Some(mappings.len() as u32),
        mappings,
        mappings_available: true,
        blocks,
        warnings: Vec::new(),
    };
    let mut w = BufWriter::new(File::create(path)?);
    initial::write_initial(&mut w, &log)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::ports::LoadProgress;
    use crate::logs::set;

    #[test]
    fn generated_sets_read_back_whole_and_consistent() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_set(dir.path(), 5000, 7).expect("generate");
        let set = set::open(&[dir.path().to_path_buf()], &LoadProgress::default()).expect("open");
        assert_eq!(set.ports.events.len(), 5000);
        assert_eq!(set.ports.malformed_count, 0, "{:?}", set.ports.malformed.first());
        assert_eq!(set.warnings().count(), 0, "{:?}", set.warnings().next());
        assert_eq!(set.initials.len(), 1);
        assert_eq!(set.initials[0].blocks.len(), machine().len() - 1);
        let index = crate::analysis::index::PidsIndex::build(&set);
        let unmatched = set.ports.events.iter().filter(|e| index.lookup_event(&set, e).is_none()).count();
        assert_eq!(unmatched, 0, "every generated row has a PIDS or INITIAL block");
    }

    #[test]
    fn the_same_seed_writes_the_same_bytes() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        write_set(a.path(), 300, 3).expect("generate");
        write_set(b.path(), 300, 3).expect("generate");
        let name = "PR-PORTS-08-06-30-0-0-0.log";
        let read = |d: &Path| std::fs::read(d.join(name)).expect("read");
        assert_eq!(read(a.path()), read(b.path()));
    }
}
