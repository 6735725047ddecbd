//! The made-up Windows XP machine: its processes, users, services and modules, and what each
//! does on the network. PORTS rows, PIDS blocks and the INITIAL snapshot are all drawn from
//! this one table, which is what keeps the three logs consistent.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::model::{
    Address, LoadedModule, Modules, PortField, PortMapping, PortStatistics, ProcessBlock, Protocol, Service, TcpState,
};

/// A deterministic xorshift generator: benchmarks must see the same data every run.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What a process of the made-up machine does on the network.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Habit {
    /// Browses: TCP to many web servers on 80/443.
    Browser,
    /// Talks to a few fixed servers.
    Client(&'static [([u8; 4], u16)]),
    /// Sends UDP from ephemeral ports.
    Udp,
    /// Accepts connections on a listening port.
    Server(u16),
}

/// Which rows a process writes: the ordinary ones write the plain rows; the others exist for
/// the shapes that need a name of their kind.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Ordinary,
    /// A module name that RFC 4180 must quote (a comma, a quote), on one line.
    Quoted,
    /// A module name holding a line break: its quoted field spans two lines.
    Multiline,
    /// A module name and user outside ASCII.
    NonAscii,
}

pub(super) struct Proc {
    pub(super) pid: u32,
    pub(super) name: &'static str,
    pub(super) user: Option<&'static str>,
    image: &'static str,
    services: &'static [(&'static str, &'static str)],
    weight: u64,
    habit: Habit,
    pub(super) kind: Kind,
    /// Started after the service did, so it is not in the INITIAL snapshot.
    pub(super) late: bool,
}

pub(super) const LOCAL_V4: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 103);
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

const fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

const SYSTEM: Option<&str> = Some("NT AUTHORITY\\SYSTEM");

/// A process with the fields most share filled in.
const fn proc(pid: u32, name: &'static str, user: Option<&'static str>, image: &'static str, habit: Habit) -> Proc {
    Proc { pid, name, user, image, services: &[], weight: 1, habit, kind: Kind::Ordinary, late: false }
}

fn processes() -> Vec<Proc> {
    let svchost = "C:\\WINDOWS\\system32\\svchost.exe";
    let ie = "C:\\Program Files\\Internet Explorer\\iexplore.exe";
    vec![
        Proc { weight: 4, ..proc(4, "System", None, "", Habit::Server(445)) },
        proc(0, "System Idle", None, "", Habit::Client(&[([192, 168, 1, 20], 445)])),
        Proc {
            services: &[("RpcSs", "Remote Procedure Call (RPC)")],
            weight: 3,
            ..proc(952, "svchost.exe", SYSTEM, svchost, Habit::Server(135))
        },
        Proc {
            services: NETSVCS,
            weight: 8,
            ..proc(
                1092,
                "svchost.exe",
                SYSTEM,
                "C:\\WINDOWS\\System32\\svchost.exe",
                Habit::Client(&[([65, 55, 200, 252], 80), ([207, 46, 248, 248], 443), ([65, 54, 51, 253], 80)]),
            )
        },
        Proc {
            services: &[("Dnscache", "DNS Client")],
            weight: 10,
            ..proc(1260, "svchost.exe", Some("NT AUTHORITY\\NETWORK SERVICE"), svchost, Habit::Udp)
        },
        Proc {
            services: &[("SSDPSRV", "SSDP Discovery Service"), ("upnphost", "Universal Plug and Play Device Host")],
            weight: 3,
            ..proc(1228, "svchost.exe", Some("NT AUTHORITY\\LOCAL SERVICE"), svchost, Habit::Udp)
        },
        Proc {
            services: &[
                ("PolicyAgent", "IPSEC Services"),
                ("ProtectedStorage", "Protected Storage"),
                ("SamSs", "Security Accounts Manager"),
            ],
            weight: 2,
            ..proc(
                748,
                "lsass.exe",
                SYSTEM,
                "C:\\WINDOWS\\system32\\lsass.exe",
                Habit::Client(&[([192, 168, 1, 10], 389), ([192, 168, 1, 10], 88)]),
            )
        },
        Proc { weight: 25, ..proc(3312, "iexplore.exe", Some("CORP\\alice"), ie, Habit::Browser) },
        Proc { weight: 15, ..proc(3480, "iexplore.exe", Some("CORP\\bob"), ie, Habit::Browser) },
        Proc {
            weight: 12,
            ..proc(
                4100,
                "firefox.exe",
                Some("CORP\\alice"),
                "C:\\Program Files\\Mozilla Firefox\\firefox.exe",
                Habit::Browser,
            )
        },
        Proc {
            weight: 6,
            ..proc(
                2120,
                "OUTLOOK.EXE",
                Some("CORP\\bob"),
                "C:\\Program Files\\Microsoft Office\\OFFICE11\\OUTLOOK.EXE",
                Habit::Client(&[([192, 168, 1, 25], 135), ([192, 168, 1, 25], 443)]),
            )
        },
        Proc {
            weight: 4,
            ..proc(
                3764,
                "msmsgs.exe",
                Some("CORP\\alice"),
                "C:\\Program Files\\Messenger\\msmsgs.exe",
                Habit::Client(&[([207, 46, 4, 113], 1863)]),
            )
        },
        Proc {
            weight: 3,
            ..proc(
                2424,
                "Virtual PC.exe",
                Some("CORP\\alice"),
                "C:\\Program Files\\Microsoft Virtual PC\\Virtual PC.exe",
                Habit::Udp,
            )
        },
        Proc {
            services: &[("W3SVC", "World Wide Web Publishing")],
            weight: 5,
            ..proc(1904, "inetinfo.exe", SYSTEM, "C:\\WINDOWS\\system32\\inetsrv\\inetinfo.exe", Habit::Server(80))
        },
        Proc {
            late: true,
            ..proc(
                6660,
                "svchost.exe",
                Some("CORP\\bob"),
                "C:\\Documents and Settings\\bob\\Local Settings\\Temp\\svchost.exe",
                Habit::Client(&[([203, 0, 113, 66], 6667)]),
            )
        },
        Proc {
            kind: Kind::Quoted,
            weight: 2,
            ..proc(
                5150,
                "evil, inc.exe",
                Some("CORP\\mallory"),
                "C:\\Program Files\\Evil, Inc\\evil, inc.exe",
                Habit::Client(&[([203, 0, 113, 80], 443), ([203, 0, 113, 81], 8080)]),
            )
        },
        Proc {
            kind: Kind::Quoted,
            ..proc(
                5152,
                "Acme \"Sync\", v2.exe",
                Some("CORP\\bob"),
                "C:\\Program Files\\Acme\\acmesync.exe",
                Habit::Browser,
            )
        },
        Proc {
            kind: Kind::Multiline,
            ..proc(
                5154,
                "Contoso\nUpdater.exe",
                Some("CORP\\alice"),
                "C:\\Program Files\\Contoso\\Updater.exe",
                Habit::Client(&[([198, 51, 100, 7], 443)]),
            )
        },
        Proc {
            kind: Kind::NonAscii,
            weight: 2,
            ..proc(
                5160,
                "Büro-Sync.exe",
                Some("CORP\\jürgen"),
                "C:\\Programme\\Büro–Sync\\Büro-Sync.exe",
                Habit::Client(&[([192, 168, 1, 30], 445)]),
            )
        },
        Proc {
            kind: Kind::NonAscii,
            ..proc(5162, "Café Olé.exe", Some("CORP\\andré"), "C:\\Programme\\Café Olé\\Café Olé.exe", Habit::Udp)
        },
    ]
}

/// A weighted choice among some of the machine's processes.
struct Pool {
    members: Vec<usize>,
    total: u64,
}

impl Pool {
    fn new(procs: &[Proc], keep: impl Fn(&Proc) -> bool) -> Pool {
        let members: Vec<usize> = (0..procs.len()).filter(|&i| keep(&procs[i])).collect();
        let total = members.iter().map(|&i| procs[i].weight).sum();
        Pool { members, total }
    }

    fn pick(&self, procs: &[Proc], rng: &mut Rng) -> usize {
        let mut left = rng.below(self.total);
        for &i in &self.members {
            if left < procs[i].weight {
                return i;
            }
            left -= procs[i].weight;
        }
        self.members[0]
    }
}

/// The rows of a shape come from the processes that can write it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Source {
    Ordinary,
    Quoted,
    Multiline,
    NonAscii,
    /// Processes with no user context (System, System Idle).
    NoUser,
}

pub(super) struct Machine {
    pub(super) procs: Vec<Proc>,
    pools: [Pool; 5],
    v4_web: Vec<Ipv4Addr>,
    v6_web: Vec<Ipv6Addr>,
}

impl Machine {
    pub(super) fn new(rng: &mut Rng) -> Machine {
        let procs = processes();
        let pools = [
            Pool::new(&procs, |p| p.kind == Kind::Ordinary),
            Pool::new(&procs, |p| p.kind == Kind::Quoted),
            Pool::new(&procs, |p| p.kind == Kind::Multiline),
            Pool::new(&procs, |p| p.kind == Kind::NonAscii),
            Pool::new(&procs, |p| p.kind == Kind::Ordinary && p.user.is_none()),
        ];
        // The remote servers browsers visit: a fixed pool, one in ten IPv6.
        let (mut v4_web, mut v6_web) = (Vec::new(), Vec::new());
        for i in 0..3000 {
            if i % 10 == 9 {
                v6_web.push(Ipv6Addr::new(0x2001, 0xdb8, rng.below(64) as u16, 0, 0, 0, 0, rng.below(65535) as u16));
            } else {
                let first = [64, 65, 72, 74, 207, 209, 216][rng.below(7) as usize];
                v4_web.push(v4(first, rng.below(256) as u8, rng.below(256) as u8, 1 + rng.below(254) as u8));
            }
        }
        Machine { procs, pools, v4_web, v6_web }
    }

    /// A process that writes rows from `source`, by weight.
    pub(super) fn pick(&self, source: Source, rng: &mut Rng) -> usize {
        let pool = match source {
            Source::Ordinary => &self.pools[0],
            Source::Quoted => &self.pools[1],
            Source::Multiline => &self.pools[2],
            Source::NonAscii => &self.pools[3],
            Source::NoUser => &self.pools[4],
        };
        pool.pick(&self.procs, rng)
    }

    /// What process `p` does next, over IPv6 when `v6`.
    pub(super) fn event(&self, p: &Proc, v6: bool, rng: &mut Rng) -> Event {
        let ephemeral = 1025 + rng.below(4000) as u16;
        let ip = |a: Ipv4Addr| Address::Ip(if v6 { IpAddr::V6(six(a)) } else { IpAddr::V4(a) });
        let local = ip(LOCAL_V4);
        let any = ip(Ipv4Addr::UNSPECIFIED);
        match p.habit {
            Habit::Browser => {
                let remote = if v6 {
                    IpAddr::V6(self.v6_web[rng.below(self.v6_web.len() as u64) as usize])
                } else {
                    IpAddr::V4(self.v4_web[rng.below(self.v4_web.len() as u64) as usize])
                };
                let port = if rng.below(3) == 0 { 80 } else { 443 };
                Event::tcp(local, ephemeral, Address::Ip(remote), PortField::Num(port), TcpState::Established)
            }
            Habit::Client(servers) => {
                let (server, port) = servers[rng.below(servers.len() as u64) as usize];
                let state = if p.pid == 0 { TcpState::TimeWait } else { TcpState::Established };
                Event::tcp(local, ephemeral, ip(Ipv4Addr::from(server)), PortField::Num(port), state)
            }
            Habit::Udp => Event {
                protocol: Protocol::Udp,
                local_ip: if rng.below(3) == 0 { any } else { local },
                local_port: ephemeral,
                remote_ip: Address::Any,
                remote_port: PortField::Any,
                state: None,
            },
            // A listener: an empty remote port and an unspecified remote address.
            Habit::Server(port) if rng.below(5) == 0 => {
                Event::tcp(any, port, any, PortField::Empty, TcpState::Listening)
            }
            Habit::Server(port) => {
                let peer = ip(v4(192, 168, 1, 2 + rng.below(200) as u8));
                Event::tcp(local, port, peer, PortField::Num(1025 + rng.below(4000) as u16), TcpState::Established)
            }
        }
    }
}

/// The machine's IPv6 address for one of its IPv4 addresses: the unspecified address stays
/// unspecified, the machine's own becomes its own IPv6 address, others map into 2001:db8::/32.
fn six(a: Ipv4Addr) -> Ipv6Addr {
    if a.is_unspecified() {
        Ipv6Addr::UNSPECIFIED
    } else if a == LOCAL_V4 {
        LOCAL_V6
    } else {
        let [b0, b1, b2, b3] = a.octets();
        Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, u16::from_be_bytes([b0, b1]), u16::from_be_bytes([b2, b3]))
    }
}

pub(super) struct Event {
    pub(super) protocol: Protocol,
    pub(super) local_ip: Address,
    pub(super) local_port: u16,
    pub(super) remote_ip: Address,
    pub(super) remote_port: PortField,
    state: Option<TcpState>,
}

impl Event {
    fn tcp(local_ip: Address, local_port: u16, remote_ip: Address, remote_port: PortField, state: TcpState) -> Event {
        Event { protocol: Protocol::Tcp, local_ip, local_port, remote_ip, remote_port, state: Some(state) }
    }
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
    if p.kind == Kind::NonAscii {
        // Windows-1252 letters outside Latin-1 (0x80-0x9F) in the process logs only: the
        // PORTS names stay within Latin-1, which DuckDB's `latin-1` reads (see benches/).
        list.push(LoadedModule { path: format!("{}\\€uro–Plug.dll", folder_of(p.image)), base: Some(0x1100_0000) });
    }
    if p.pid == 6660 {
        list.push(LoadedModule {
            path: "C:\\Documents and Settings\\bob\\Local Settings\\Temp\\ircbot.dll".into(),
            base: Some(0x1000_0000),
        });
    }
    Modules::Listed(list)
}

fn folder_of(image: &str) -> &str {
    image.rsplit_once('\\').map_or(image, |(folder, _)| folder)
}

/// The PIDS or INITIAL block describing `p` with these port mappings.
pub(super) fn block_for(p: &Proc, ports: Vec<PortMapping>) -> ProcessBlock {
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

pub(super) fn mapping(p: &Proc, ev: &Event) -> PortMapping {
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
