//! Which process holds each socket, and who that process is.
//!
//! The kernel names a socket's owner nowhere but in `/proc/PID/fd` (links `socket:[INODE]`), and
//! reading every process's descriptors is what makes `ss -p` slow. So who holds each inode is
//! kept between polls ([`holders`]), and a poll only reads the descriptors of
//! - processes that appeared since the last poll — and, for a socket a new process holds that
//!   nobody was known to hold, the same descriptor of its parent (a fork copies them);
//! - processes that let go of a socket held by more than one process. At every poll the process
//!   named for each such socket is looked at again: its descriptor link (one per socket), or,
//!   for a process named for more than [`EXACT_RECHECKS`] shared sockets, its number of
//!   descriptors (one `stat`: Linux 6.2+ gives it as the size of `/proc/PID/fd`), its
//!   descriptors being read again when that number changed. So when a parent or child closes
//!   its copy the log names the process that still holds the socket from the next poll; a
//!   holder named in its place is looked at in the same poll, as what the cache knew of it
//!   may be old;
//! - when a socket's inode is still unknown after that, the other processes, those of the
//!   socket's user first, stopping as soon as every unknown inode is found (a process read
//!   again may turn out to have let go of another socket: that one is looked for too, in the
//!   same poll, so an owned socket is never logged ownerless in between).
//!
//! Listing `/proc` itself costs about 2 µs per process, a fifth of a millisecond on a desktop
//! and a millisecond on a busy server: a poll lists it only when the kernel has given out a PID
//! since the last listing (the last field of `/proc/loadavg`; a fork always takes one), and at
//! least every [`LIST_EVERY`] polls, to forget the processes that exited.
//!
//! An inode no process turns out to hold (a kernel socket, or another user's when we run
//! unprivileged) is remembered as such until a new process claims it or the socket goes, so it
//! does not start a search on every poll.
//!
//! A socket passed over a Unix socket to a process already running, whose sender then closes
//! it, is followed only when the receiver's descriptors are read for another reason (or the
//! sender exits): nothing cheap tells that such a process has changed. And a process named for
//! many shared sockets (a server that forked a child holding copies of all its connections, as
//! Redis does to save) that closes one of them and opens another file in the same poll keeps
//! the same number of descriptors: that socket is followed at the process's next change.
//!
//! Process details (name, executable, user, service) are read once per process, when it first
//! owns a socket, and again after its descriptors are read again (it may have exec'd).

mod holders;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::dir::Dir;
use nix::fcntl::{OFlag, readlinkat};
use nix::sys::stat::Mode;
use nix::unistd::{Uid, User};
use rustc_hash::{FxHashMap, FxHashSet};

use crate::collector::modules;
use crate::collector::services::Services;
use crate::collector::sockets::Socket;
use crate::collector::source::{ProcessInfo, ProcessName};
use crate::model::Modules;
use holders::{Holder, Holders};

/// Polls between two listings of `/proc` when no PID was given out.
const LIST_EVERY: u64 = 20;

/// Shared sockets a process may be named for and still have each one's link looked at again at
/// every poll (one `readlink` each, about 3 µs); beyond, its number of descriptors is looked at
/// instead (one `stat`, about 1.3 µs), so that a process holding copies of 10,000 sockets costs
/// a poll microseconds, not 30 ms.
const EXACT_RECHECKS: usize = 32;

/// What the owner cache has done since it was made: tests and the benchmark check that a
/// steady poll reads no descriptor folder.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanStats {
    /// `/proc/PID/fd` folders read.
    pub fd_dirs: u64,
    /// Descriptor links read.
    pub fd_links: u64,
    /// Looks at holders of sockets shared by processes: a descriptor link read again, or a
    /// process's number of descriptors.
    pub rechecks: u64,
    /// Listings of `/proc`.
    pub listings: u64,
}

/// A process as the cache knows it.
#[derive(Debug)]
struct Proc {
    /// Start time in clock ticks since boot: a PID reused by a new process has another.
    start: Option<u64>,
    /// Owner of `/proc/PID` (the effective uid), to search a socket's user's processes first.
    uid: u32,
    /// The poll that last listed it.
    seen: u64,
    /// The poll that last read its descriptors.
    scanned: u64,
    /// The poll in which its descriptors last showed a socket we were looking for.
    active: u64,
    /// Its socket descriptors when they were last read: (inode, lowest descriptor), by inode.
    sockets: Vec<(u64, u32)>,
    /// How many descriptors it had then, sockets or not.
    fd_count: u64,
    /// False when its descriptors may not be read (another user's process, unprivileged).
    fds_readable: bool,
    info: Option<Arc<ProcessInfo>>,
}

/// The inode → owner cache and the process details behind it.
#[derive(Debug)]
pub struct Owners {
    proc_root: PathBuf,
    poll: u64,
    holders: Holders,
    procs: FxHashMap<u32, Proc>,
    /// Inodes no process was found holding, with the poll that last saw their socket.
    unattributable: FxHashMap<u64, u64>,
    /// Holders named in place of one that let go, not looked at since.
    promoted: Vec<(u64, Holder)>,
    /// The last poll's sockets' inodes and owners, in the kernel's order, and the holders'
    /// change count then. While no owner has changed, a socket at the same place with the
    /// same inode has the same owner: a steady poll walks this list in step with the kernel's
    /// (which keeps its order from poll to poll) instead of looking up every inode in a map
    /// too large for the cache.
    last: Vec<(u64, Option<u32>)>,
    last_changes: u64,
    /// The last PID given out when `/proc` was last listed, and the poll that listed it.
    listed: Option<(u32, u64)>,
    users: FxHashMap<u32, String>,
    idle: FxHashMap<u32, Arc<ProcessInfo>>,
    services: Services,
    stats: ScanStats,
}

impl Owners {
    /// `proc_root` is where procfs is mounted: `/proc`, or a fixture folder in tests.
    pub fn new(proc_root: &Path) -> Owners {
        Owners {
            proc_root: proc_root.to_path_buf(),
            poll: 0,
            holders: Holders::default(),
            procs: FxHashMap::default(),
            unattributable: FxHashMap::default(),
            promoted: Vec::new(),
            last: Vec::new(),
            last_changes: u64::MAX,
            listed: None,
            users: FxHashMap::default(),
            idle: FxHashMap::default(),
            services: Services::system(),
            stats: ScanStats::default(),
        }
    }

    pub fn stats(&self) -> ScanStats {
        self.stats
    }

    /// The owner of each socket, in order. A socket no process holds gets `None` when the
    /// kernel keeps no owner (inode 0: TIME_WAIT, not yet accepted) and the PID 0
    /// `System Idle` owner with the socket's user otherwise (invisible to us).
    pub fn resolve(&mut self, sockets: &[Socket]) -> Vec<Option<Arc<ProcessInfo>>> {
        self.poll += 1;
        let poll = self.poll;
        // Read before listing: a process made during the listing makes the next poll list again.
        let last_pid = read_last_pid(&self.proc_root);
        let quiet =
            matches!((last_pid, self.listed), (Some(pid), Some((then, at))) if pid == then && poll - at < LIST_EVERY);
        if !quiet {
            self.listed = last_pid.map(|pid| (pid, poll));
            self.stats.listings += 1;
            for pid in self.list_processes() {
                self.scan_new(pid);
            }
        }
        self.recheck_shared();
        self.check_promoted();
        let unchanged = self.holders.changes() == self.last_changes;
        let mut pids: Vec<Option<u32>> = sockets
            .iter()
            .enumerate()
            .map(|(i, s)| match self.last.get(i) {
                Some(&(inode, pid)) if unchanged && inode == s.inode => pid,
                _ => self.holders.owner(s.inode),
            })
            .collect();
        loop {
            let mut wanted = FxHashSet::default();
            let mut uids = FxHashSet::default();
            for (s, pid) in sockets.iter().zip(&pids) {
                if pid.is_some() || s.inode == 0 {
                    continue;
                }
                match self.unattributable.get_mut(&s.inode) {
                    Some(seen) => *seen = poll,
                    None => {
                        wanted.insert(s.inode);
                        uids.insert(s.uid);
                    }
                }
            }
            if wanted.is_empty() {
                break;
            }
            self.search(&mut wanted, &uids);
            self.unattributable.extend(wanted.into_iter().map(|inode| (inode, poll)));
            // The processes read again may have let go of sockets found before: look again,
            // and search for any socket left without a holder.
            self.check_promoted();
            for (pid, s) in pids.iter_mut().zip(sockets) {
                *pid = self.holders.owner(s.inode);
            }
        }
        self.unattributable.retain(|_, seen| *seen == poll);
        self.last.clear();
        self.last.extend(sockets.iter().zip(&pids).map(|(s, pid)| (s.inode, *pid)));
        self.last_changes = self.holders.changes();
        // Sockets of one process come in runs: its details are looked up once per run.
        let mut last: Option<(u32, Option<Arc<ProcessInfo>>)> = None;
        let mut owners = Vec::with_capacity(sockets.len());
        for (s, pid) in sockets.iter().zip(pids) {
            let owner = match pid {
                None if s.inode == 0 => None,
                None => Some(self.idle_owner(s.uid)),
                Some(pid) => {
                    let info = match &last {
                        Some((p, info)) if *p == pid => info.clone(),
                        _ => {
                            let info = self.info(pid);
                            last = Some((pid, info.clone()));
                            info
                        }
                    };
                    Some(info.or_else(|| self.other_holder(s.inode)).unwrap_or_else(|| self.idle_owner(s.uid)))
                }
            };
            owners.push(owner);
        }
        owners
    }

    /// The loaded modules of a process, `None` when it is gone.
    pub fn modules(&mut self, pid: u32) -> Option<Modules> {
        let exe = self.procs.get(&pid).and_then(|p| p.info.as_ref()).and_then(|i| i.exe.clone());
        modules::read(&self.proc_root.join(pid.to_string()), exe.as_deref())
    }

    /// Lists `/proc`, marks the processes seen, forgets the ones gone; returns the new PIDs.
    fn list_processes(&mut self) -> Vec<u32> {
        let mut new_pids = Vec::new();
        if let Ok(entries) = std::fs::read_dir(&self.proc_root) {
            for entry in entries.flatten() {
                let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                match self.procs.get_mut(&pid) {
                    Some(p) => p.seen = self.poll,
                    None => new_pids.push(pid),
                }
            }
        }
        let poll = self.poll;
        let gone: Vec<u32> = self.procs.iter().filter(|(_, p)| p.seen != poll).map(|(pid, _)| *pid).collect();
        for pid in gone {
            if let Some(p) = self.procs.remove(&pid) {
                for &(inode, _) in &p.sockets {
                    self.release(inode, pid);
                }
            }
        }
        new_pids.sort_unstable();
        new_pids
    }

    /// Reads a new process's descriptors. A socket it holds that no process was known to hold
    /// may have come with a fork, made by its parent after the parent's descriptors were last
    /// read: the parent's descriptor of the same number is looked at, and if it is the same
    /// socket the parent is its first holder (it made it).
    fn scan_new(&mut self, pid: u32) {
        let base = self.proc_root.join(pid.to_string());
        let (start, parent) = read_stat(&base);
        let read = self.read_fds(pid, &base);
        if let (Some(parent), Some((sockets, _))) = (parent, &read)
            && parent != pid
            && self.procs.get(&parent).is_some_and(|p| p.fds_readable)
        {
            let fd_dir = self.proc_root.join(parent.to_string()).join("fd");
            let mut inherited = Vec::new();
            for &(inode, fd) in sockets.iter().filter(|(inode, _)| !self.holders.is_held(*inode)) {
                self.stats.fd_links += 1;
                if link_inode(&fd_dir.join(fd.to_string())) == Some(inode) {
                    inherited.push((inode, fd));
                }
            }
            if !inherited.is_empty()
                && let Some(p) = self.procs.get_mut(&parent)
            {
                for &(inode, fd) in &inherited {
                    self.holders.add(inode, Holder { pid: parent, fd });
                    self.unattributable.remove(&inode);
                }
                p.sockets.extend(inherited);
                p.sockets.sort_unstable();
                p.sockets.dedup_by_key(|(inode, _)| *inode);
            }
        }
        self.record(pid, &base, start, read);
    }

    /// Reads a known process's descriptors again. Returns the inodes found.
    fn scan(&mut self, pid: u32) -> Vec<u64> {
        let base = self.proc_root.join(pid.to_string());
        let (start, _) = read_stat(&base);
        let read = self.read_fds(pid, &base);
        let inodes = read.iter().flat_map(|(sockets, _)| sockets).map(|(inode, _)| *inode).collect();
        self.record(pid, &base, start, read);
        inodes
    }

    /// Notes that `pid` let go of a socket; a holder named in its place is to be looked at.
    fn release(&mut self, inode: u64, pid: u32) {
        if let Some(next) = self.holders.remove(inode, pid) {
            self.promoted.push((inode, next));
        }
    }

    /// Stores what a read of a process's descriptors found (`None`: they may not be read) and
    /// updates the holders: a socket it still holds keeps its place among its holders, one it
    /// let go of passes to the next, and a new one is added behind those known.
    fn record(&mut self, pid: u32, base: &Path, start: Option<u64>, read: Option<(Vec<(u64, u32)>, u64)>) {
        let uid = std::fs::metadata(base).map_or(u32::MAX, |m| m.uid());
        let fds_readable = read.is_some();
        let (sockets, fd_count) = read.unwrap_or_default();
        let old = self.procs.remove(&pid);
        // A PID reused by a new process: nothing of the old one carries over.
        let same = old.as_ref().is_some_and(|o| o.start == start);
        let (before, active) = match &old {
            Some(o) if same => (o.sockets.as_slice(), o.active),
            Some(o) => {
                for &(inode, _) in &o.sockets {
                    self.release(inode, pid);
                }
                (&[][..], 0)
            }
            None => (&[][..], 0),
        };
        let mut old_sockets = before.iter().peekable();
        for &(inode, fd) in &sockets {
            while let Some(&&(gone, _)) = old_sockets.peek().filter(|(o, _)| *o < inode) {
                self.release(gone, pid);
                old_sockets.next();
            }
            old_sockets.next_if(|(o, _)| *o == inode);
            self.holders.add(inode, Holder { pid, fd });
            self.unattributable.remove(&inode);
        }
        for &(gone, _) in old_sockets {
            self.release(gone, pid);
        }
        let poll = self.poll;
        let proc = Proc { start, uid, seen: poll, scanned: poll, active, sockets, fd_count, fds_readable, info: None };
        self.procs.insert(pid, proc);
    }

    /// Looks again at the process named for each socket shared by processes (see the module
    /// documentation) and reads again the descriptors of those that changed.
    fn recheck_shared(&mut self) {
        // Per process: how many shared sockets it is named for, and the first links of them
        // (all of them when they are few enough to be looked at one by one).
        let mut named: FxHashMap<u32, (usize, Vec<(u64, u32)>)> = FxHashMap::default();
        for (inode, holder) in self.holders.named_shared() {
            let (count, links) = named.entry(holder.pid).or_default();
            *count += 1;
            if links.len() < EXACT_RECHECKS {
                links.push((inode, holder.fd));
            }
        }
        let mut changed: Vec<u32> = Vec::new();
        for (pid, (count, mut links)) in named {
            let fd_dir = self.proc_root.join(pid.to_string()).join("fd");
            if count > EXACT_RECHECKS {
                self.stats.rechecks += 1;
                let descriptors = std::fs::metadata(&fd_dir).map_or(0, |m| m.len());
                if descriptors > 0 {
                    if self.procs.get(&pid).is_none_or(|p| p.fd_count != descriptors) {
                        changed.push(pid);
                    }
                    continue;
                }
                // A kernel before 6.2 gives no number: every link is looked at.
                links = self.holders.named_shared().filter(|(_, h)| h.pid == pid).map(|(i, h)| (i, h.fd)).collect();
            }
            if self.links_changed(&fd_dir, links) {
                changed.push(pid);
            }
        }
        for pid in changed {
            if self.procs.contains_key(&pid) {
                self.scan(pid);
            }
        }
    }

    /// Whether any of a process's links (inode, descriptor) no longer names its socket.
    fn links_changed(&mut self, fd_dir: &Path, links: Vec<(u64, u32)>) -> bool {
        for (inode, fd) in links {
            self.stats.rechecks += 1;
            self.stats.fd_links += 1;
            if link_inode(&fd_dir.join(fd.to_string())) != Some(inode) {
                return true;
            }
        }
        false
    }

    /// Looks at the holders named in place of one that let go, each one's link: one that let go
    /// too is read again, which may name another, until the named holders hold their sockets.
    fn check_promoted(&mut self) {
        while let Some((inode, holder)) = self.promoted.pop() {
            if self.holders.owner(inode) != Some(holder.pid) || !self.procs.contains_key(&holder.pid) {
                continue;
            }
            self.stats.rechecks += 1;
            self.stats.fd_links += 1;
            let link = self.proc_root.join(holder.pid.to_string()).join("fd").join(holder.fd.to_string());
            if link_inode(&link) != Some(inode) {
                self.scan(holder.pid);
            }
        }
    }

    /// The socket descriptors of a process — (inode, lowest descriptor), by inode — and how many
    /// descriptors it has (when it is this process, without the one open to read them);
    /// `None` when they may not be read.
    fn read_fds(&mut self, pid: u32, base: &Path) -> Option<(Vec<(u64, u32)>, u64)> {
        let mut dir =
            Dir::open(&base.join("fd"), OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
        self.stats.fd_dirs += 1;
        let names: Vec<std::ffi::CString> =
            dir.iter().flatten().map(|e| e.file_name().to_owned()).filter(|n| n.as_bytes()[0] != b'.').collect();
        let mut sockets = Vec::new();
        let count = (names.len() as u64).saturating_sub(u64::from(pid == std::process::id()));
        for name in names {
            self.stats.fd_links += 1;
            if let Ok(target) = readlinkat(&dir, name.as_c_str())
                && let Some(inode) = socket_inode(OsStr::as_bytes(&target))
                && let Some(fd) = std::str::from_utf8(name.as_bytes()).ok().and_then(|n| n.parse().ok())
            {
                sockets.push((inode, fd));
            }
        }
        sockets.sort_unstable();
        sockets.dedup_by_key(|(inode, _)| *inode);
        Some((sockets, count))
    }

    /// Reads the descriptors of known processes until every wanted inode is found: first those
    /// of the sockets' users, most recently active first, then the rest. A process is read at
    /// most once per poll.
    fn search(&mut self, wanted: &mut FxHashSet<u64>, uids: &FxHashSet<u32>) {
        let poll = self.poll;
        let mut candidates: Vec<(bool, u64, u32)> = self
            .procs
            .iter()
            .filter(|(_, p)| p.fds_readable && p.scanned != poll)
            .map(|(pid, p)| (!uids.contains(&p.uid), u64::MAX - p.active, *pid))
            .collect();
        candidates.sort_unstable();
        for (_, _, pid) in candidates {
            if wanted.is_empty() {
                break;
            }
            let found = self.scan(pid);
            let before = wanted.len();
            for inode in &found {
                wanted.remove(inode);
            }
            if wanted.len() != before
                && let Some(p) = self.procs.get_mut(&pid)
            {
                p.active = poll;
            }
        }
    }

    /// The first holder after the owner that can still be described: the owner exited after
    /// `/proc` was listed, and the socket lives on in a process it shared it with.
    fn other_holder(&mut self, inode: u64) -> Option<Arc<ProcessInfo>> {
        let others: Vec<u32> = self.holders.others(inode).iter().map(|h| h.pid).collect();
        others.into_iter().find_map(|pid| self.info(pid))
    }

    /// The details of a process, read on first use after its descriptors were read.
    fn info(&mut self, pid: u32) -> Option<Arc<ProcessInfo>> {
        if let Some(info) = self.procs.get(&pid).and_then(|p| p.info.clone()) {
            return Some(info);
        }
        let base = self.proc_root.join(pid.to_string());
        // Everything under /proc is read as bytes: a process names itself (and so its status
        // file's `Name:` line) with any bytes, which must not cost it its user.
        let name = read_comm(&base)?;
        let exe = std::fs::read_link(base.join("exe")).ok().map(|p| p.to_string_lossy().into_owned());
        let uid = std::fs::read(base.join("status")).ok().and_then(|s| effective_uid(&s));
        let user = uid.map(|u| self.user_name(u));
        let services = std::fs::read(base.join("cgroup"))
            .map(|c| self.services.of(&String::from_utf8_lossy(&c)))
            .unwrap_or_default();
        let info = Arc::new(ProcessInfo { pid, name, exe, uid, user, services });
        if let Some(p) = self.procs.get_mut(&pid) {
            p.info = Some(Arc::clone(&info));
        }
        Some(info)
    }

    fn idle_owner(&mut self, uid: u32) -> Arc<ProcessInfo> {
        if let Some(owner) = self.idle.get(&uid) {
            return Arc::clone(owner);
        }
        let owner = Arc::new(ProcessInfo::idle(Some(self.user_name(uid))));
        self.idle.insert(uid, Arc::clone(&owner));
        owner
    }

    /// The user database's name for a uid (NSS included), else the uid as digits.
    fn user_name(&mut self, uid: u32) -> String {
        self.users
            .entry(uid)
            .or_insert_with(|| match User::from_uid(Uid::from_raw(uid)) {
                Ok(Some(user)) => user.name,
                _ => uid.to_string(),
            })
            .clone()
    }
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// `/proc/PID/comm` holds the name and a newline; the name itself may hold any byte but NUL,
/// newlines included, so only the last newline is taken off.
fn read_comm(base: &Path) -> Option<ProcessName> {
    let raw = std::fs::read(base.join("comm")).ok()?;
    Some(ProcessName::from(raw.strip_suffix(b"\n").unwrap_or(&raw)))
}

/// The start time (field 22) and parent PID (field 4) from `/proc/PID/stat`, counted after the
/// name's closing parenthesis (the name may hold spaces and parentheses).
fn read_stat(base: &Path) -> (Option<u64>, Option<u32>) {
    let Ok(raw) = std::fs::read(base.join("stat")) else {
        return (None, None);
    };
    let Some(rest) = raw.iter().rposition(|&b| b == b')').and_then(|close| std::str::from_utf8(&raw[close + 1..]).ok())
    else {
        return (None, None);
    };
    let mut fields = rest.split_ascii_whitespace();
    let parent = fields.nth(1).and_then(|f| f.parse().ok());
    let start = fields.nth(17).and_then(|f| f.parse().ok());
    (start, parent)
}

/// The last PID the kernel gave out: the last field of `/proc/loadavg`
/// (`0.20 0.18 0.12 1/80 11206`).
fn read_last_pid(proc_root: &Path) -> Option<u32> {
    let text = std::fs::read(proc_root.join("loadavg")).ok()?;
    std::str::from_utf8(&text).ok()?.split_ascii_whitespace().nth(4)?.parse().ok()
}

/// The socket inode a descriptor link names, if it names one.
fn link_inode(link: &Path) -> Option<u64> {
    let target = std::fs::read_link(link).ok()?;
    socket_inode(target.as_os_str().as_bytes())
}

/// The effective uid from `/proc/PID/status` (`Uid:\treal\teffective\tsaved\tfs`). The file
/// starts with `Name:` and the process's name, which need not be UTF-8.
fn effective_uid(status: &[u8]) -> Option<u32> {
    let line = status.split(|&b| b == b'\n').find(|l| l.starts_with(b"Uid:"))?;
    let effective = line.split(|b| b.is_ascii_whitespace()).filter(|f| !f.is_empty()).nth(2)?;
    std::str::from_utf8(effective).ok()?.parse().ok()
}

#[cfg(test)]
mod tests;
