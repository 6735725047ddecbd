//! DNS servers on loopback for tests: a real one (dnsmasq, answering PTR queries from a fixed
//! table and NXDOMAIN for every other reverse name), one that never answers (a server that is
//! down), and a link that loses the first queries on their way to a real one. Tests never use
//! the machine's resolver. `.ci/run` installs dnsmasq (Debian's `dnsmasq-base`).

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hickory_resolver::proto::rr::Name;

/// A dnsmasq on 127.0.0.1, stopped when dropped.
pub struct TestDns {
    pub addr: SocketAddr,
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestDns {
    /// PTR queries the server has received so far (dnsmasq logs each one before answering).
    pub fn queries(&self) -> usize {
        std::fs::read_to_string(&self.log).map(|log| log.matches("query[PTR]").count()).unwrap_or(0)
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn dnsmasq() -> &'static str {
    ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("dnsmasq is not installed: apt-get install dnsmasq-base (.ci/run does)")
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0").and_then(|s| s.local_addr()).expect("a free loopback port").port()
}

/// Starts dnsmasq answering `names` (address, host name) on a free loopback port.
pub fn start(names: &[(&str, &str)]) -> TestDns {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("dnsmasq.log");
    let mut args = vec![
        "--no-daemon".to_string(),
        "--conf-file=/dev/null".into(),
        "--listen-address=127.0.0.1".into(),
        "--bind-interfaces".into(),
        "--no-resolv".into(),
        "--no-hosts".into(),
        "--pid-file=".into(),
        // Reverse names are answered from the table only: NXDOMAIN for the rest, nothing forwarded.
        "--local=/in-addr.arpa/".into(),
        "--local=/ip6.arpa/".into(),
        "--log-queries".into(),
        format!("--log-facility={}", log.display()),
    ];
    // As root dnsmasq would switch to `nobody`, who cannot write the log in our temp folder.
    if nix::unistd::geteuid().is_root() {
        args.push("--user=root".into());
    }
    for (ip, host) in names {
        let ip: IpAddr = ip.parse().expect("test ip");
        let reverse = Name::from(ip).to_ascii();
        args.push(format!("--ptr-record={},{host}", reverse.trim_end_matches('.')));
    }
    // The port is free when chosen and could be taken before dnsmasq binds it: try a few.
    for _ in 0..5 {
        let addr = SocketAddr::from(([127, 0, 0, 1], free_udp_port()));
        let mut child = Command::new(dnsmasq())
            .args(&args)
            .arg(format!("--port={}", addr.port()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if child.try_wait().expect("dnsmasq status").is_some() {
                break;
            }
            // dnsmasq holds the port once it listens.
            if UdpSocket::bind(addr).is_err() {
                return TestDns { addr, child, log, _dir: dir };
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("dnsmasq did not listen on {addr} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    panic!("dnsmasq did not start on five free ports");
}

/// The DNS message id of a datagram (its first two bytes).
fn message_id(datagram: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*datagram.first()?, *datagram.get(1)?]))
}

/// How many queries a series of datagrams held: the resolver library resends a query with
/// the same id within one try, and each new try is a new query with a new (random) id.
fn queries_in(ids: &[u16]) -> usize {
    ids.iter().enumerate().filter(|(i, id)| *i == 0 || ids[i - 1] != **id).count()
}

/// A loopback UDP socket that takes queries and never answers: a server that is down.
pub struct Silent {
    pub addr: SocketAddr,
    socket: UdpSocket,
    ids: Mutex<Vec<u16>>,
}

impl Silent {
    pub fn new() -> Silent {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        socket.set_nonblocking(true).expect("non-blocking");
        Silent { addr: socket.local_addr().expect("addr"), socket, ids: Mutex::new(Vec::new()) }
    }

    /// Queries received so far (not datagrams: see [`queries_in`]).
    pub fn queries(&self) -> usize {
        let mut ids = self.ids.lock().expect("ids");
        let mut buf = [0u8; 1500];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            ids.extend(message_id(&buf[..n]));
        }
        queries_in(&ids)
    }
}

/// A relay on loopback that loses the first query (every datagram carrying its id) and
/// passes the others to `server`, and its answers back: a server that did not answer at first.
pub struct LossyLink {
    pub addr: SocketAddr,
    ids: Arc<Mutex<Vec<u16>>>,
    stop: Arc<AtomicBool>,
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl LossyLink {
    pub fn new(server: SocketAddr) -> LossyLink {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        socket.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let addr = socket.local_addr().expect("addr");
        let ids = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, halt) = (Arc::clone(&ids), Arc::clone(&stop));
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            // Bounded: a test relay never outlives a minute.
            for _ in 0..1200 {
                if halt.load(Ordering::Relaxed) {
                    return;
                }
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Some(id) = message_id(&buf[..n]) else {
                    continue;
                };
                let lost = {
                    let Ok(mut seen) = seen.lock() else {
                        return;
                    };
                    seen.push(id);
                    seen[0] == id
                };
                if lost {
                    continue;
                }
                let Ok(upstream) = UdpSocket::bind("127.0.0.1:0") else {
                    continue;
                };
                let _ = upstream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut answer = [0u8; 1500];
                if upstream.send_to(&buf[..n], server).is_ok()
                    && let Ok((m, _)) = upstream.recv_from(&mut answer)
                {
                    let _ = socket.send_to(&answer[..m], from);
                }
            }
        });
        LossyLink { addr, ids, stop }
    }

    /// Queries that reached the link, the lost one included.
    pub fn queries(&self) -> usize {
        queries_in(&self.ids.lock().expect("ids"))
    }
}
