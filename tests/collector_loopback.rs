//! The collector on real sockets, on loopback only (127.0.0.1 and ::1): this process opens
//! listeners, connects to them and closes everything, and the collector must log each step
//! under this process's PID, name and user; the files it writes must read back, row for row,
//! with the project's own readers. A child process with a hostile name (set with
//! prctl(PR_SET_NAME)) must come out of PR-PORTS byte for byte.
//!
//! Other tests of this binary run in parallel and the machine has other sockets, so every
//! assertion looks only at the ports these tests opened. Waits are bounded.
//!
//! A forked child holds copies of every descriptor of this process until it closes them, the
//! sockets of the tests running beside it included, and the collector reads a new process's
//! descriptors first: a poll in that window sees those sockets change owner to the child.
//! Tests that fork and tests that check whose sockets they are therefore take [`SERIAL`].

use std::ffi::CString;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use prparser::collector::folder::LogFolder;
use prparser::collector::writer::{Format, LogWriter, WriterOptions};
use prparser::collector::{
    Backend, Batch, Change, Collector, CollectorEvent, SocketChange, SystemClock, SystemSource, host, record,
};
use prparser::logs::ports::LoadProgress;
use prparser::logs::set::{self, LogSet};
use prparser::model::{Address, Modules, PortField, ProcessBlock, TcpState};

type Live = Collector<SystemSource, SystemClock>;

/// Held by tests that fork, and by tests whose assertions name the owner of their sockets.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one may still run.
    SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn own_name() -> String {
    let raw = std::fs::read("/proc/self/comm").expect("comm");
    String::from_utf8(raw.strip_suffix(b"\n").unwrap_or(&raw).to_vec()).expect("the test binary's name is UTF-8")
}

fn own_user() -> String {
    let uid = nix::unistd::geteuid();
    nix::unistd::User::from_uid(uid).ok().flatten().map_or_else(|| uid.to_string(), |u| u.name)
}

struct Run {
    collector: Live,
    writer: LogWriter<LogFolder>,
    batches: Vec<Batch>,
    dir: tempfile::TempDir,
}

impl Run {
    fn start(backend: Backend) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = WriterOptions { format: Format::Text, max_bytes: 100 << 20, header: host::log_header() };
        let writer = LogWriter::new(LogFolder::open(dir.path()).expect("folder"), options);
        let collector = Collector::new(SystemSource::open(backend).expect("socket tables"), SystemClock);
        let mut run = Run { collector, writer, batches: Vec::new(), dir };
        run.poll();
        run
    }

    fn poll(&mut self) -> &Batch {
        let batch = self.collector.poll().expect("poll");
        let notices = self.writer.write(&batch);
        assert!(notices.iter().all(|n| n.id.code() <= 103), "{notices:?}");
        self.batches.push(batch);
        self.batches.last().expect("just pushed")
    }

    /// Polls until `done` holds for the changes seen so far, for at most 30 seconds (a bound
    /// for a hung test, not a figure: a loaded machine makes polls slow).
    fn poll_until(&mut self, what: &str, done: impl Fn(&[&SocketChange]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.poll();
            if done(&self.changes()) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: not seen within 30 s; changes: {:#?}", self.changes());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn changes(&self) -> Vec<&SocketChange> {
        self.batches
            .iter()
            .flat_map(|b| &b.events)
            .filter_map(|e| match e {
                CollectorEvent::Socket(c) => Some(c),
                _ => None,
            })
            .collect()
    }

    fn finish(mut self) -> (LogSet, Vec<Batch>, tempfile::TempDir) {
        assert!(self.writer.close().is_empty());
        let set = set::open(&[self.dir.path().to_path_buf()], &LoadProgress::default()).expect("read back");
        (set, self.batches, self.dir)
    }
}

/// The changes of the socket at `local` (and, if given, talking to `remote`), in order.
fn history(
    changes: &[&SocketChange],
    local: SocketAddr,
    remote: Option<SocketAddr>,
) -> Vec<(Change, Option<TcpState>, u32)> {
    changes
        .iter()
        .filter(|c| c.observed.socket.local == local && remote.is_none_or(|r| c.observed.socket.remote == r))
        .map(|c| (c.change, c.observed.socket.state.clone(), c.observed.owner.as_ref().map_or(0, |o| o.pid)))
        .collect()
}

#[test]
fn loopback_sockets_are_logged_under_this_process_and_read_back() {
    let _serial = serial();
    let me = std::process::id();
    let mut run = Run::start(Backend::Netlink);

    let l4 = TcpListener::bind("127.0.0.1:0").expect("bind v4");
    let l6 = TcpListener::bind("[::1]:0").expect("bind v6");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    let (a4, a6, au) = (l4.local_addr().expect("a"), l6.local_addr().expect("a"), udp.local_addr().expect("a"));
    run.poll_until("the listeners", |c| [a4, a6, au].iter().all(|a| !history(c, *a, None).is_empty()));

    let c4 = TcpStream::connect(a4).expect("connect v4");
    let (s4, _) = l4.accept().expect("accept v4");
    let c6 = TcpStream::connect(a6).expect("connect v6");
    let (s6, _) = l6.accept().expect("accept v6");
    let (p4, p6) = (c4.local_addr().expect("a"), c6.local_addr().expect("a"));
    run.poll_until("the connections", |c| !history(c, p4, Some(a4)).is_empty() && !history(c, a6, Some(p6)).is_empty());

    // The client closes first: its side waits in TIME_WAIT, owned by nobody; the server's goes.
    drop(c4);
    drop(s4);
    drop(c6);
    drop(s6);
    drop(l4);
    drop(udp);
    run.poll_until("the closes", |c| {
        history(c, p4, Some(a4)).iter().any(|h| h.1 == Some(TcpState::TimeWait))
            && history(c, a4, None).iter().any(|h| h.0 == Change::Gone)
            && history(c, a4, Some(p4)).iter().any(|h| h.0 == Change::Gone)
            && history(c, au, None).iter().any(|h| h.0 == Change::Gone)
    });

    let changes = run.changes();
    let listen = Some(TcpState::Listening);
    let established = Some(TcpState::Established);
    assert_eq!(
        history(&changes, a4, Some(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))),
        vec![(Change::New, listen.clone(), me), (Change::Gone, listen.clone(), me)]
    );
    assert_eq!(history(&changes, a6, Some(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0))))[0], (Change::New, listen, me));
    assert_eq!(history(&changes, au, None), vec![(Change::New, None, me), (Change::Gone, None, me)]);
    let client = history(&changes, p4, Some(a4));
    assert_eq!(client.first(), Some(&(Change::New, established.clone(), me)));
    assert_eq!(client.last().map(|h| (h.1.clone(), h.2)), Some((Some(TcpState::TimeWait), 0)), "{client:?}");
    assert_eq!(history(&changes, a4, Some(p4)).first(), Some(&(Change::New, established, me)));

    // Every event names this process, its name and user.
    let mine: Vec<&&SocketChange> =
        changes.iter().filter(|c| c.observed.owner.as_ref().is_some_and(|o| o.pid == me)).collect();
    assert!(mine.len() >= 8);
    for c in &mine {
        let owner = c.observed.owner.as_ref().expect("owner");
        assert_eq!((owner.name.as_bytes(), owner.user.clone()), (own_name().as_bytes(), Some(own_user())));
    }

    let (set, batches, _dir) = run.finish();
    assert_eq!(set.ports.malformed.count(), 0, "{:?}", set.ports.malformed.first());
    assert_eq!(set.warnings().count(), 0, "{:?}", set.warnings().next());
    assert_eq!(set.initials.len(), 1);

    // Round trip: every row the collector meant to write is in PR-PORTS, in order.
    let expected: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            b.events.iter().filter_map(move |e| match e {
                CollectorEvent::Socket(c) if c.is_row() => {
                    let r = record::row(b.time.naive_local(), &c.observed);
                    Some(format!(
                        "{} {} {}:{} {}:{} {:?} {} {}",
                        r.time.format("%F %T"),
                        r.protocol,
                        r.local_ip,
                        r.local_port,
                        r.remote_ip,
                        r.remote_port,
                        r.pid,
                        String::from_utf8_lossy(r.module),
                        r.user.unwrap_or("")
                    ))
                }
                _ => None,
            })
        })
        .collect();
    let read: Vec<String> = set
        .ports
        .events
        .iter()
        .map(|e| {
            format!(
                "{} {} {}:{} {}:{} {:?} {} {}",
                e.time.format("%F %T"),
                e.protocol,
                set.ports.local_ip(e),
                e.local_port,
                set.ports.remote_ip(e),
                e.remote_port(),
                e.pid(),
                set.ports.module(e),
                set.ports.user(e)
            )
        })
        .collect();
    assert_eq!(read, expected);

    // The rows as the original wrote them: listeners with an empty remote port, UDP with `*`,
    // TIME_WAIT leftovers as PID 0 System Idle without a user, IPv6 bare.
    let row = |port: u16, remote_port: PortField| {
        set.ports
            .events
            .iter()
            .find(|e| e.local_port == port && e.remote_port() == remote_port)
            .unwrap_or_else(|| panic!("no row for port {port} / {remote_port:?}"))
    };
    let listener = row(a4.port(), PortField::Empty);
    assert_eq!(set.ports.remote_ip(listener), Address::Ip(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    assert_eq!(
        (listener.pid(), set.ports.module(listener), set.ports.user(listener)),
        (Some(me), own_name().as_str(), own_user().as_str())
    );
    let v6 = row(a6.port(), PortField::Empty);
    assert_eq!(set.ports.local_ip(v6), Address::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)));
    assert_eq!(set.ports.local_ip(row(au.port(), PortField::Any)), Address::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    let time_wait = set
        .ports
        .events
        .iter()
        .rfind(|e| e.local_port == p4.port() && e.remote_port() == PortField::Num(a4.port()))
        .expect("TIME_WAIT row");
    assert_eq!((time_wait.pid(), set.ports.module(time_wait), set.ports.user(time_wait)), (Some(0), "System Idle", ""));

    // PR-PIDS: a block for this process when its listeners appeared, with its modules.
    let exe = std::fs::read_link("/proc/self/exe").expect("exe").to_string_lossy().into_owned();
    let block = set
        .pids
        .iter()
        .flat_map(|p| &p.blocks)
        .find(|b| b.pid == me && b.ports.iter().any(|m| m.local_port == a4.port()))
        .expect("a PIDS block listing the v4 listener");
    assert_eq!(block.process, own_name());
    assert_eq!(block.user.as_deref(), Some(own_user().as_str()));
    assert!(block.recorded_at.is_some());
    let Modules::Listed(modules) = &block.modules else {
        panic!("modules not listed: {:?}", block.modules);
    };
    assert_eq!(modules[0].path, exe, "the program first");
    assert!(modules.iter().all(|m| m.base.is_some()));
    assert!(modules.iter().any(|m| m.path.contains("libc")), "{modules:?}");
    let v4 = block.ports.iter().find(|m| m.local_port == a4.port()).expect("row");
    assert_eq!(v4.state, Some(TcpState::Listening));
    assert!(
        set.pids
            .iter()
            .flat_map(|p| &p.blocks)
            .any(|b| b.pid == me && b.ports.iter().all(|m| m.local_port != a4.port())),
        "a later block without the closed listener"
    );
}

#[test]
fn procfs_sees_the_same_sockets_with_the_same_owners() {
    let _serial = serial();
    let me = std::process::id();
    let mut run = Run::start(Backend::Procfs);
    let listener = TcpListener::bind("[::1]:0").expect("bind");
    let at = listener.local_addr().expect("addr");
    run.poll_until("the listener", |c| history(c, at, None).iter().any(|h| h.2 == me));
    drop(listener);
    run.poll_until("its close", |c| history(c, at, None).iter().any(|h| h.0 == Change::Gone));
}

/// A child that names itself with prctl(PR_SET_NAME), listens on 127.0.0.1 and waits to be
/// killed. Between fork and death it only makes system calls, as a child of a threaded
/// process must, and it keeps no descriptor but its own socket and the pipe to its parent.
fn spawn_hostile_child(name: &CString) -> (nix::unistd::Pid, u16) {
    let (read_end, write_end) = nix::unistd::pipe().expect("pipe");
    let address = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(Ipv4Addr::LOCALHOST).to_be() },
        sin_zero: [0; 8],
    };
    let length = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: the child only calls async-signal-safe functions (system calls) on memory
    // prepared before the fork, and leaves through _exit.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => unsafe {
            use std::os::fd::AsRawFd;
            let mut bound = address;
            let mut bound_length = length;
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            if libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0) != 0
                || fd < 0
                || libc::bind(fd, (&raw const address).cast(), length) != 0
                || libc::listen(fd, 1) != 0
                || libc::getsockname(fd, (&raw mut bound).cast(), &mut bound_length) != 0
            {
                libc::_exit(1);
            }
            // The fork copied every descriptor of this test process, the sockets of the tests
            // running beside it included: close them, or they would outlive those tests' closes.
            let keep = [fd, write_end.as_raw_fd()];
            for other in 3..65_536 {
                if !keep.contains(&other) {
                    libc::close(other);
                }
            }
            let port = u16::from_be(bound.sin_port).to_ne_bytes();
            if libc::write(write_end.as_raw_fd(), port.as_ptr().cast(), 2) != 2 {
                libc::_exit(1);
            }
            loop {
                libc::pause();
            }
        },
        nix::unistd::ForkResult::Parent { child } => {
            drop(write_end);
            let mut port = [0u8; 2];
            let mut file = std::fs::File::from(read_end);
            std::io::Read::read_exact(&mut file, &mut port).expect("the child's port");
            (child, u16::from_ne_bytes(port))
        }
    }
}

/// What the logs say about a child named `name`: the PR-PORTS row's module and user as read
/// back, the raw bytes of PR-PORTS, and the PIDS block of the child.
struct Logged {
    module: String,
    user: String,
    raw: Vec<u8>,
    block: Option<ProcessBlock>,
}

/// Starts a child named `name`, polls until the collector has seen its listener, and returns
/// what the logs say about it after reading the files back.
fn log_a_child_named(name: &[u8]) -> Logged {
    let mut run = Run::start(Backend::Netlink);
    let (child, port) = spawn_hostile_child(&CString::new(name).expect("name"));
    let guard = Child(child);
    let pid = child.as_raw() as u32;
    run.poll_until("the child's listener", |c| {
        c.iter()
            .any(|c| c.observed.socket.local.port() == port && c.observed.owner.as_ref().is_some_and(|o| o.pid == pid))
    });
    drop(guard);
    let (set, _, dir) = run.finish();
    let raw: Vec<u8> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("PR-PORTS-"))
        .flat_map(|e| std::fs::read(e.path()).expect("read"))
        .collect();
    assert_eq!(set.ports.malformed.count(), 0, "{:?}\n{}", set.ports.malformed, String::from_utf8_lossy(&raw));
    let row = set.ports.events.iter().find(|e| e.local_port == port).expect("the child's row");
    assert_eq!(row.pid(), Some(pid));
    let block = set.pids.iter().flat_map(|p| &p.blocks).find(|b| b.pid == pid).cloned();
    Logged { module: set.ports.module(row).to_string(), user: set.ports.user(row).to_string(), raw, block }
}

/// Names with a comma and a quote, with a line break, and the issue's own: a comma, a doubled
/// quote and a line break in one field, written `"a,b""c<LF>d"` (the reader must take the escaped
/// `""` for a quote inside the field and read on past the line break). One after the other: the
/// collector sees every process, so a child of a parallel test would turn up in these logs.
#[test]
fn hostile_process_names_round_trip_through_pr_ports() {
    let _serial = serial();
    for (name, written) in
        [("a,b\"c", ",\"a,b\"\"c\","), ("x\ny,z<w>", ",\"x\ny,z<w>\","), ("a,b\"c\nd", ",\"a,b\"\"c\nd\",")]
    {
        let logged = log_a_child_named(name.as_bytes());
        assert_eq!(logged.module, name);
        let raw = String::from_utf8(logged.raw).expect("UTF-8 names write UTF-8 logs");
        assert!(raw.contains(written), "quoted, quotes doubled, line breaks inside the quotes: {raw}");
    }
}

/// A name that is not UTF-8 keeps its user in every log and its bytes in PR-PORTS: written as
/// they are (quoted, for the comma), read back as Windows-1252 like the original's ANSI logs;
/// the PR-PIDS block carries that same reading, so the row finds its block.
#[test]
fn a_name_that_is_not_utf8_keeps_its_user_and_its_bytes() {
    let _serial = serial();
    let logged = log_a_child_named(b"\xffbad,x");
    let user = format!("<{}>", own_user());
    let written = [&b",\"\xffbad,x\","[..], user.as_bytes(), b"\r\n"].concat();
    assert!(
        logged.raw.windows(written.len()).any(|w| w == written),
        "the name's bytes, quoted, then the user: {}",
        String::from_utf8_lossy(&logged.raw)
    );
    assert_eq!((logged.module.as_str(), logged.user.as_str()), ("\u{ff}bad,x", own_user().as_str()));
    let block = logged.block.expect("a PIDS block for the child");
    assert_eq!((block.process.as_str(), block.user.as_deref()), ("\u{ff}bad,x", Some(own_user().as_str())));
}

/// A child forked while this process holds `listeners`: it keeps its copies of the listeners
/// and two pipes and closes every other descriptor (the fork copied all of this test process's,
/// the sockets of the tests running beside it included), says it is ready, and closes its copy
/// of the first listener when told to. Between fork and death it only makes system calls.
struct Holder {
    child: Child,
    command: std::fs::File,
    answer: std::fs::File,
}

impl Holder {
    fn fork(listeners: &[&TcpListener]) -> Holder {
        use std::os::fd::AsRawFd;
        let (command_read, command_write) = nix::unistd::pipe().expect("pipe");
        let (answer_read, answer_write) = nix::unistd::pipe().expect("pipe");
        let mut keep = vec![listeners[0].as_raw_fd(), command_read.as_raw_fd(), answer_write.as_raw_fd()];
        keep.extend(listeners[1..].iter().map(|l| l.as_raw_fd()));
        // SAFETY: the child only calls async-signal-safe functions (system calls) on values
        // prepared before the fork, and leaves through _exit.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => unsafe {
                for other in 3..65_536 {
                    if !keep.contains(&other) {
                        libc::close(other);
                    }
                }
                let mut byte = [0u8; 1];
                if libc::write(keep[2], b"r".as_ptr().cast(), 1) != 1
                    || libc::read(keep[1], byte.as_mut_ptr().cast(), 1) != 1
                    || libc::close(keep[0]) != 0
                    || libc::write(keep[2], b"c".as_ptr().cast(), 1) != 1
                {
                    libc::_exit(1);
                }
                loop {
                    libc::pause();
                }
            },
            nix::unistd::ForkResult::Parent { child } => {
                drop((command_read, answer_write));
                let mut holder =
                    Holder { child: Child(child), command: command_write.into(), answer: answer_read.into() };
                holder.expect_answer(b'r');
                holder
            }
        }
    }

    fn pid(&self) -> u32 {
        self.child.0.as_raw() as u32
    }

    /// Tells the child to close its copy of the listener and waits until it has.
    fn close_its_copy(&mut self) {
        std::io::Write::write_all(&mut self.command, b"c").expect("tell the child");
        self.expect_answer(b'c');
    }

    fn expect_answer(&mut self, want: u8) {
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut self.answer, &mut byte).expect("the child's answer");
        assert_eq!(byte[0], want);
    }
}

/// A server listens, forks, and closes its copy: the very next poll logs the child as the
/// listener's owner (an owner change), and no poll logs it without one.
#[test]
fn after_a_fork_the_log_follows_the_child_when_the_parent_closes_its_copy() {
    let _serial = serial();
    let me = std::process::id();
    let mut run = Run::start(Backend::Netlink);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = listener.local_addr().expect("addr");
    run.poll_until("the listener", |c| !history(c, at, None).is_empty());
    let child = Holder::fork(&[&listener]);
    run.poll();
    drop(listener);
    let batch = run.poll().clone();
    let moved: Vec<(Change, u32)> = batch
        .events
        .iter()
        .filter_map(|e| match e {
            CollectorEvent::Socket(c) if c.observed.socket.local == at => {
                Some((c.change, c.observed.owner.as_ref().map_or(0, |o| o.pid)))
            }
            _ => None,
        })
        .collect();
    assert_eq!(moved, vec![(Change::Owner, child.pid())], "the first poll after the parent's close");
    let listen = Some(TcpState::Listening);
    assert_eq!(
        history(&run.changes(), at, None),
        vec![(Change::New, listen.clone(), me), (Change::Owner, listen, child.pid())]
    );
}

/// The mirror case: the listener is first seen after the fork. The parent made it and is
/// logged as its owner; when the child closes its copy, nothing changes — no row names the
/// child, and none names PID 0 `System Idle` for a poll.
#[test]
fn after_a_fork_the_parent_stays_the_owner_when_the_child_closes_its_copy() {
    let _serial = serial();
    let me = std::process::id();
    let mut run = Run::start(Backend::Netlink);
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let at = listener.local_addr().expect("addr");
    let mut child = Holder::fork(&[&listener]);
    run.poll_until("the listener", |c| !history(c, at, None).is_empty());
    child.close_its_copy();
    run.poll();
    run.poll();
    assert_eq!(history(&run.changes(), at, None), vec![(Change::New, Some(TcpState::Listening), me)]);
    drop(listener);
}

/// A process named for many shared sockets (more than the cache looks at link by link, as a
/// server that forked a child holding copies of all its connections): when it closes one, the
/// next poll names the child for that one, and nothing changes for the others.
#[test]
fn after_a_fork_a_process_named_for_many_sockets_closing_one_passes_it_to_the_child() {
    let _serial = serial();
    let me = std::process::id();
    let mut run = Run::start(Backend::Netlink);
    let mut listeners: Vec<TcpListener> = (0..40).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    let addresses: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().expect("addr")).collect();
    run.poll_until("the listeners", |c| addresses.iter().all(|a| history(c, *a, None).iter().any(|h| h.2 == me)));
    let child = Holder::fork(&listeners.iter().collect::<Vec<_>>());
    run.poll();
    let closed = addresses[39];
    drop(listeners.pop());
    let batch = run.poll().clone();
    let mine: Vec<(SocketAddr, Change, u32)> = batch
        .events
        .iter()
        .filter_map(|e| match e {
            CollectorEvent::Socket(c) if addresses.contains(&c.observed.socket.local) => {
                Some((c.observed.socket.local, c.change, c.observed.owner.as_ref().map_or(0, |o| o.pid)))
            }
            _ => None,
        })
        .collect();
    assert_eq!(mine, vec![(closed, Change::Owner, child.pid())], "the first poll after the close");
}

/// Kills and reaps the child when dropped, whatever the test's outcome.
struct Child(nix::unistd::Pid);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(self.0, None);
    }
}
