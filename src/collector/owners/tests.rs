//! The owner cache on a fixture /proc tree: descriptor links are plain symbolic links whose
//! text is `socket:[INODE]`, so every case — a new process, a new socket in an old one, an
//! exit, a PID reused, a socket nobody visible holds — is built without real processes.

use std::os::unix::fs::symlink;

use super::*;
use crate::model::{Protocol, TcpState};

struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        Fixture { root: tempfile::tempdir().expect("tempdir") }
    }

    fn path(&self) -> &Path {
        self.root.path()
    }

    /// A process with a name, a start time and descriptors (inode 0 stands for a file that is
    /// no socket), started by PID 1. The name goes into comm, stat and status raw, as the
    /// kernel writes it.
    fn process(&self, pid: u32, name: impl AsRef<[u8]>, start: u64, inodes: &[u64]) {
        self.process_of(1, pid, name, start, inodes);
    }

    /// A process started by `parent`.
    fn process_of(&self, parent: u32, pid: u32, name: impl AsRef<[u8]>, start: u64, inodes: &[u64]) {
        let name = name.as_ref();
        let base = self.path().join(pid.to_string());
        std::fs::create_dir_all(base.join("fd")).expect("mkdir");
        std::fs::write(base.join("comm"), [name, b"\n"].concat()).expect("comm");
        let stat_fields = (5..=21).map(|i| i.to_string()).collect::<Vec<_>>().join(" ");
        let stat =
            [format!("{pid} (").as_bytes(), name, format!(") S {parent} {stat_fields} {start} 0 0\n").as_bytes()]
                .concat();
        std::fs::write(base.join("stat"), stat).expect("stat");
        std::fs::write(base.join("status"), [b"Name:\t", name, b"\nUid:\t0\t0\t0\t0\n"].concat()).expect("status");
        std::fs::write(base.join("cgroup"), "0::/user.slice/user-0.slice/session-1.scope\n").expect("cgroup");
        let program = [b"/usr/bin/", name].concat();
        std::fs::write(base.join("maps"), [b"5555000-5556000 r-xp 0 0:0 1 ", &program[..], b"\n"].concat())
            .expect("maps");
        let _ = symlink(OsStr::from_bytes(&program), base.join("exe"));
        self.descriptors(pid, inodes);
    }

    /// Replaces a process's descriptors.
    fn descriptors(&self, pid: u32, inodes: &[u64]) {
        let fd = self.path().join(pid.to_string()).join("fd");
        std::fs::remove_dir_all(&fd).expect("rm");
        std::fs::create_dir(&fd).expect("mkdir");
        for (i, inode) in inodes.iter().enumerate() {
            let target = if *inode == 0 { "/dev/null".to_string() } else { format!("socket:[{inode}]") };
            symlink(target, fd.join(i.to_string())).expect("link");
        }
    }

    fn exit(&self, pid: u32) {
        std::fs::remove_dir_all(self.path().join(pid.to_string())).expect("rm");
    }
}

fn socket(port: u16, inode: u64, uid: u32) -> Socket {
    Socket {
        protocol: Protocol::Tcp,
        local: std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        remote: "0.0.0.0:0".parse().expect("addr"),
        state: Some(TcpState::Listening),
        inode,
        uid,
    }
}

fn pids(owners: &[Option<Arc<ProcessInfo>>]) -> Vec<Option<u32>> {
    owners.iter().map(|o| o.as_ref().map(|i| i.pid)).collect()
}

#[test]
fn a_steady_poll_reads_no_descriptors() {
    let f = Fixture::new();
    f.process(100, "web", 1, &[0, 1000, 1001]);
    f.process(200, "shell", 2, &[0]);
    let mut owners = Owners::new(f.path());
    let sockets = vec![socket(80, 1000, 0), socket(443, 1001, 0)];
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100), Some(100)]);
    assert_eq!(
        owners.stats(),
        ScanStats { fd_dirs: 2, fd_links: 4, rechecks: 0, listings: 1 },
        "the first poll reads every process"
    );
    let info = owners.resolve(&sockets)[0].clone().expect("owner");
    assert_eq!(owners.stats().fd_dirs, 2, "the second reads none");
    assert_eq!((info.name.as_bytes(), info.exe.as_deref()), (&b"web"[..], Some("/usr/bin/web")));
    assert_eq!((info.uid, info.user.as_deref()), (Some(0), Some("root")));
    assert!(info.services.is_empty());
}

#[test]
fn a_new_socket_of_a_known_process_is_searched_for_once() {
    let f = Fixture::new();
    f.process(100, "web", 1, &[1000]);
    f.process(200, "db", 2, &[2000]);
    let mut owners = Owners::new(f.path());
    owners.resolve(&[socket(80, 1000, 0), socket(5432, 2000, 0)]);
    f.descriptors(100, &[1000, 1002]);
    let before = owners.stats().fd_dirs;
    let found = owners.resolve(&[socket(80, 1000, 0), socket(5432, 2000, 0), socket(81, 1002, 0)]);
    assert_eq!(pids(&found), vec![Some(100), Some(200), Some(100)]);
    assert!(owners.stats().fd_dirs - before <= 2, "a search reads at most the known processes");
    let before = owners.stats().fd_dirs;
    owners.resolve(&[socket(80, 1000, 0), socket(5432, 2000, 0), socket(81, 1002, 0)]);
    assert_eq!(owners.stats().fd_dirs, before);
}

#[test]
fn the_sockets_user_is_searched_first() {
    let f = Fixture::new();
    f.process(100, "a", 1, &[]);
    f.process(200, "b", 2, &[]);
    let mut owners = Owners::new(f.path());
    owners.resolve(&[]);
    // The fixture's folders belong to the user running the test, like the socket: the search
    // stops at the first process holding it.
    f.descriptors(100, &[3000]);
    let me = nix::unistd::geteuid().as_raw();
    let before = owners.stats().fd_dirs;
    assert_eq!(pids(&owners.resolve(&[socket(1, 3000, me)])), vec![Some(100)]);
    assert_eq!(owners.stats().fd_dirs - before, 1, "stopped at the first process holding it");
}

#[test]
fn an_inode_nobody_visible_holds_is_system_idle_and_not_searched_again() {
    let f = Fixture::new();
    f.process(100, "web", 1, &[1000]);
    let mut owners = Owners::new(f.path());
    let sockets = vec![socket(80, 1000, 0), socket(22, 4242, 0), socket(5000, 0, 0)];
    let found = owners.resolve(&sockets);
    assert_eq!(pids(&found), vec![Some(100), Some(0), None]);
    let idle = found[1].clone().expect("idle owner");
    assert_eq!((idle.name.as_bytes(), idle.user.as_deref()), (&b"System Idle"[..], Some("root")));
    let before = owners.stats().fd_dirs;
    owners.resolve(&sockets);
    assert_eq!(owners.stats().fd_dirs, before, "a known-unattributable inode starts no search");
    f.process(300, "late", 3, &[4242]);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100), Some(300), None], "a new process claims it");
}

#[test]
fn exits_and_reused_pids() {
    let f = Fixture::new();
    f.process(100, "parent", 1, &[1000]);
    f.process(101, "child", 2, &[1000]);
    let mut owners = Owners::new(f.path());
    let sockets = [socket(80, 1000, 0)];
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100)]);
    f.exit(100);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(101)], "the inheritor is found");
    f.exit(101);
    f.process(101, "reused", 9, &[1001]);
    let found = owners.resolve(&[socket(80, 1000, 0), socket(81, 1001, 0)]);
    assert_eq!(pids(&found), vec![Some(0), Some(101)]);
    assert_eq!(found[1].as_ref().map(|i| i.name.as_bytes()), Some(&b"reused"[..]));
}

/// A server listens, forks, and closes its copy: the child holds the socket alone, and the
/// very next poll names it. Until then both hold it and the parent, its first holder, is named.
#[test]
fn a_fork_whose_parent_closes_its_copy_passes_to_the_child() {
    let f = Fixture::new();
    f.process(100, "server", 1, &[0, 1000]);
    let mut owners = Owners::new(f.path());
    let sockets = [socket(80, 1000, 0)];
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100)]);
    f.process_of(100, 101, "worker", 2, &[0, 1000]);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100)], "both hold it: the first holder");
    let before = owners.stats();
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100)]);
    let after = owners.stats();
    assert_eq!(
        (after.fd_dirs - before.fd_dirs, after.rechecks - before.rechecks),
        (0, 1),
        "a steady poll only looks again at the named holder's link"
    );
    f.descriptors(100, &[0]);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(101)], "the next poll names the child");
    assert_eq!(owners.resolve(&sockets)[0].as_ref().map(|i| i.name.as_bytes()), Some(&b"worker"[..]));
}

/// The mirror case: the socket is first seen after the fork, when the child is read before
/// its parent. The parent made it, so it is named; when the child closes its copy nothing
/// changes; when the parent has forked again and closes its own, the new child is named.
#[test]
fn a_fork_whose_child_closes_its_copy_stays_with_the_parent() {
    let f = Fixture::new();
    f.process(100, "server", 1, &[0]);
    let mut owners = Owners::new(f.path());
    assert!(owners.resolve(&[]).is_empty());
    f.descriptors(100, &[0, 1000]);
    f.process_of(100, 101, "worker", 2, &[0, 1000]);
    let sockets = [socket(80, 1000, 0)];
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100)], "the parent, not the child read first");
    f.descriptors(101, &[0]);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100)]);
    f.process_of(100, 102, "worker", 3, &[0, 1000]);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100)]);
    f.descriptors(100, &[0]);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(102)]);
}

/// A socket passed to a process that is not the maker's child (over a Unix socket) is first
/// known by its receiver. When a search for another socket reads the receiver again and finds
/// it let go of the first, that one is looked for in the same poll: it is never logged as
/// PID 0 `System Idle` for a poll while its maker still holds it.
#[test]
fn a_socket_let_go_during_a_search_is_found_in_the_same_poll() {
    let f = Fixture::new();
    f.process(300, "maker", 1, &[0]);
    let mut owners = Owners::new(f.path());
    owners.resolve(&[]);
    f.descriptors(300, &[0, 1000]);
    f.process(200, "receiver", 2, &[0, 1000]);
    assert_eq!(pids(&owners.resolve(&[socket(80, 1000, 0)])), vec![Some(200)]);
    // The receiver closes it and opens another: the search for 2000 reads 200 first (lower PID).
    f.descriptors(200, &[0, 2000]);
    let found = owners.resolve(&[socket(80, 1000, 0), socket(81, 2000, 0)]);
    assert_eq!(pids(&found), vec![Some(300), Some(200)]);
}

/// `/proc` is listed only when a PID was given out since the last listing, and every
/// `LIST_EVERY` polls anyway (to forget processes that exited).
#[test]
fn proc_is_listed_again_when_a_pid_was_given_out() {
    let f = Fixture::new();
    let loadavg = |last: u32| std::fs::write(f.path().join("loadavg"), format!("0.20 0.18 0.12 1/80 {last}\n"));
    loadavg(100).expect("loadavg");
    f.process(100, "web", 1, &[1000]);
    let mut owners = Owners::new(f.path());
    let sockets = [socket(80, 1000, 0), socket(81, 1001, 0)];
    assert_eq!(pids(&owners.resolve(&sockets[..1])), vec![Some(100)]);
    // A process whose PID the kernel has not reported yet is not looked for by listing; its
    // socket is found by the search for unknown sockets among the known processes' instead —
    // here there is none, so it is nobody's for now.
    f.process(101, "late", 2, &[1001]);
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100), Some(0)]);
    loadavg(101).expect("loadavg");
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100), Some(101)], "a new PID: listed, read");
    f.exit(101);
    f.process(102, "later", 3, &[1002]);
    let sockets = [socket(80, 1000, 0), socket(82, 1002, 0)];
    for _ in 1..LIST_EVERY {
        owners.resolve(&sockets);
    }
    assert_eq!(pids(&owners.resolve(&sockets)), vec![Some(100), Some(102)], "listed after LIST_EVERY polls");
}

#[test]
fn hostile_names_are_kept_byte_for_byte() {
    let f = Fixture::new();
    f.process(100, "a,b\"c\nd", 1, &[1000]);
    // stat prints the name raw; the start time is counted from the last parenthesis.
    let mut owners = Owners::new(f.path());
    let found = owners.resolve(&[socket(80, 1000, 0)]);
    assert_eq!(found[0].as_ref().map(|i| i.name.as_bytes()), Some(&b"a,b\"c\nd"[..]));
    assert_eq!(read_stat(&f.path().join("100")), (Some(1), Some(1)));
    assert!(matches!(owners.modules(100), Some(Modules::Listed(list)) if list.len() == 1));
    assert_eq!(owners.modules(999), None);
}

/// A name that is not UTF-8 (set with prctl, as any process may) keeps its bytes and costs the
/// process neither its user nor its modules: `/proc/PID/status` starts with that name.
#[test]
fn a_name_that_is_not_utf8_keeps_its_bytes_and_its_user() {
    let f = Fixture::new();
    f.process(100, b"\xffbad,x", 1, &[1000]);
    f.process(101, "caf\u{e9}", 2, &[1001]);
    let mut owners = Owners::new(f.path());
    let found = owners.resolve(&[socket(80, 1000, 0), socket(81, 1001, 0)]);
    let odd = found[0].clone().expect("owner");
    assert_eq!((odd.name.as_bytes(), odd.uid, odd.user.as_deref()), (&b"\xffbad,x"[..], Some(0), Some("root")));
    assert!(!odd.name.is_utf8());
    let cafe = found[1].clone().expect("owner");
    assert_eq!((cafe.name.as_bytes(), cafe.user.as_deref()), ("caf\u{e9}".as_bytes(), Some("root")));
    assert_eq!(odd.exe.as_deref(), Some("/usr/bin/\u{fffd}bad,x"));
    let Some(Modules::Listed(list)) = owners.modules(100) else {
        panic!("a mapped path that is not UTF-8 made the modules unreadable");
    };
    assert_eq!(list.iter().map(|m| m.path.as_str()).collect::<Vec<_>>(), vec!["/usr/bin/\u{fffd}bad,x"]);
}

#[test]
fn links_and_status_lines() {
    assert_eq!(socket_inode(b"socket:[12345]"), Some(12345));
    assert_eq!(socket_inode(b"pipe:[12345]"), None);
    assert_eq!(socket_inode(b"socket:[x]"), None);
    assert_eq!(effective_uid(b"Name:\tx\nUid:\t1000\t1001\t1000\t1000\n"), Some(1001));
    assert_eq!(effective_uid(b"Name:\t\xffbad,x\nUmask:\t0022\nUid:\t0\t65534\t0\t0\n"), Some(65534));
}
