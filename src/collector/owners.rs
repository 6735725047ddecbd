//! Which process holds each socket, and who that process is.
//!
//! The kernel names a socket's owner nowhere but in `/proc/PID/fd` (links `socket:[INODE]`), and
//! reading every process's descriptors is what makes `ss -p` slow. So the inode → PID map is
//! kept between polls, and a poll only reads the descriptors of
//! - processes that appeared since the last poll, and
//! - when a socket's inode is still unknown after that, the other processes, those of the
//!   socket's user first, stopping as soon as every unknown inode is found.
//!
//! An inode no process turns out to hold (a kernel socket, or another user's when we run
//! unprivileged) is remembered as such until a new process claims it or the socket goes, so it
//! does not start a search on every poll.
//!
//! Process details (name, executable, user, service) are read once per process, when it first
//! owns a socket, and again after its descriptors are read again (it may have exec'd).

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

/// What the owner cache has done since it was made: tests and the benchmark check that a
/// steady poll reads no descriptors.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ScanStats {
    /// `/proc/PID/fd` folders read.
    pub fd_dirs: u64,
    /// Descriptor links read.
    pub fd_links: u64,
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
    /// Socket inodes found in its descriptors when they were last read.
    inodes: Vec<u64>,
    /// False when its descriptors may not be read (another user's process, unprivileged).
    fds_readable: bool,
    info: Option<Arc<ProcessInfo>>,
}

/// The inode → owner cache and the process details behind it.
#[derive(Debug)]
pub struct Owners {
    proc_root: PathBuf,
    poll: u64,
    inode_owner: FxHashMap<u64, u32>,
    procs: FxHashMap<u32, Proc>,
    /// Inodes no process was found holding, with the poll that last saw their socket.
    unattributable: FxHashMap<u64, u64>,
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
            inode_owner: FxHashMap::default(),
            procs: FxHashMap::default(),
            unattributable: FxHashMap::default(),
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
        let new_pids = self.list_processes();
        for &pid in &new_pids {
            self.scan(pid);
        }
        let mut wanted = FxHashSet::default();
        let mut uids = FxHashSet::default();
        let mut pids: Vec<Option<u32>> = Vec::with_capacity(sockets.len());
        for s in sockets {
            let pid = if s.inode == 0 { None } else { self.inode_owner.get(&s.inode).copied() };
            if pid.is_none() && s.inode != 0 {
                match self.unattributable.get_mut(&s.inode) {
                    Some(seen) => *seen = poll,
                    None => {
                        wanted.insert(s.inode);
                        uids.insert(s.uid);
                    }
                }
            }
            pids.push(pid);
        }
        if !wanted.is_empty() {
            self.search(&mut wanted, &uids);
            // The search may also have moved inodes found before it (a PID reused): look again.
            for (pid, s) in pids.iter_mut().zip(sockets) {
                *pid = if s.inode == 0 { None } else { self.inode_owner.get(&s.inode).copied() };
            }
            self.unattributable.extend(wanted.into_iter().map(|inode| (inode, poll)));
        }
        self.unattributable.retain(|_, seen| *seen == poll);
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
                    Some(info.unwrap_or_else(|| self.idle_owner(s.uid)))
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
                self.release(pid, &p.inodes);
            }
        }
        new_pids.sort_unstable();
        new_pids
    }

    /// Drops the inodes a process was known to hold from the map.
    fn release(&mut self, pid: u32, inodes: &[u64]) {
        for inode in inodes {
            if self.inode_owner.get(inode) == Some(&pid) {
                self.inode_owner.remove(inode);
            }
        }
    }

    /// Reads a process's descriptors (again), recording the sockets it holds. Returns the
    /// inodes found.
    fn scan(&mut self, pid: u32) -> Vec<u64> {
        let base = self.proc_root.join(pid.to_string());
        let start = read_start_time(&base);
        let uid = std::fs::metadata(&base).map_or(u32::MAX, |m| m.uid());
        let (inodes, fds_readable) = match self.read_fds(&base) {
            Some(inodes) => (inodes, true),
            None => (Vec::new(), false),
        };
        let old = self.procs.insert(
            pid,
            Proc {
                start,
                uid,
                seen: self.poll,
                scanned: self.poll,
                active: 0,
                inodes: inodes.clone(),
                fds_readable,
                info: None,
            },
        );
        if let Some(old) = old {
            self.release(pid, &old.inodes);
            if let Some(p) = self.procs.get_mut(&pid)
                && old.start == start
            {
                p.active = old.active;
            }
        }
        for &inode in &inodes {
            self.inode_owner.entry(inode).or_insert(pid);
            self.unattributable.remove(&inode);
        }
        inodes
    }

    /// The socket inodes among a process's descriptors; `None` when they may not be read.
    fn read_fds(&mut self, base: &Path) -> Option<Vec<u64>> {
        let mut dir =
            Dir::open(&base.join("fd"), OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty()).ok()?;
        self.stats.fd_dirs += 1;
        let names: Vec<std::ffi::CString> =
            dir.iter().flatten().map(|e| e.file_name().to_owned()).filter(|n| n.as_bytes()[0] != b'.').collect();
        let mut inodes = Vec::new();
        for name in names {
            self.stats.fd_links += 1;
            if let Ok(target) = readlinkat(&dir, name.as_c_str())
                && let Some(inode) = socket_inode(OsStr::as_bytes(&target))
            {
                inodes.push(inode);
            }
        }
        Some(inodes)
    }

    /// Reads the descriptors of known processes until every wanted inode is found: first those
    /// of the sockets' users, most recently active first, then the rest.
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

/// Field 22 of `/proc/PID/stat`, counted after the name's closing parenthesis (the name may
/// hold spaces and parentheses).
fn read_start_time(base: &Path) -> Option<u64> {
    let raw = std::fs::read(base.join("stat")).ok()?;
    let close = raw.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&raw[close + 1..]).ok()?;
    rest.split_ascii_whitespace().nth(19)?.parse().ok()
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
