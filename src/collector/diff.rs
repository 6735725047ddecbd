//! Change detection between two polls: a new socket, a socket gone, a TCP state change, a
//! socket that changed hands.
//!
//! A socket is known by protocol, both endpoints and inode. The inode alone cannot be the key:
//! a connection that enters TIME_WAIT loses its file (inode 0), and an accepted connection gets
//! one only when the program calls accept(). So sockets not found under the same key are paired
//! by their endpoints first, and only what is left is new or gone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::collector::sockets::Socket;
use crate::collector::source::{Observed, ProcessInfo};
use crate::model::Protocol;

/// What happened to a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Not there at the last poll.
    New,
    /// Its TCP state changed (and maybe its owner with it: TIME_WAIT has none).
    State,
    /// Same state, another owner: accepted, inherited, or its process exec'd another program.
    Owner,
    /// Not there any more.
    Gone,
}

/// One change, with the socket as it is now (as it was, for [`Change::Gone`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketChange {
    pub change: Change,
    pub observed: Observed,
    /// The socket as it was at the last poll, for state and owner changes.
    pub before: Option<Observed>,
}

impl SocketChange {
    /// Whether the change is a PR-PORTS row: a new socket or a new state or owner, not a
    /// socket going away (the original logged none for that either).
    pub fn is_row(&self) -> bool {
        self.change != Change::Gone
    }

    /// Whether a process's set of sockets changed with it: a socket came or went, or passed
    /// from one owner to another (a connection entering TIME_WAIT leaves its process).
    pub fn moves_between_processes(&self) -> bool {
        match (&self.change, &self.before) {
            (Change::New | Change::Gone | Change::Owner, _) => true,
            (Change::State, Some(before)) => owner_key(&before.owner) != owner_key(&self.observed.owner),
            (Change::State, None) => false,
        }
    }
}

type Key = (Protocol, SocketAddr, SocketAddr, u64);
type Endpoints = (Protocol, SocketAddr, SocketAddr);

fn key(s: &Socket) -> Key {
    (s.protocol, s.local, s.remote, s.inode)
}

fn endpoints(k: &Key) -> Endpoints {
    (k.0, k.1, k.2)
}

/// The PID and name of an owner: what a row shows. No owner and PID 0 are the same to a reader.
fn owner_key(owner: &Option<Arc<ProcessInfo>>) -> (u32, &[u8]) {
    owner.as_ref().map_or((0, &[][..]), |o| (o.pid, if o.is_process() { o.name.as_bytes() } else { &[][..] }))
}

/// A socket of the last polls and the poll that last saw it.
#[derive(Debug)]
struct Entry {
    observed: Observed,
    seen: u64,
}

/// The sockets of the last poll.
///
/// They are kept in the order the kernel listed them, which does not change from one poll to
/// the next for sockets that stay, so a steady poll matches each socket against the next entry
/// in line — a sequential walk, no hashing, no random memory access — and only a socket out of
/// line is looked up in the index. (A hash map alone spent most of a 10,000-socket poll on cache
/// misses.) The index uses the standard library's randomly seeded SipHash: endpoints are chosen
/// by remote peers, and a fixed hash over them could be made to collide on purpose.
#[derive(Debug, Default)]
pub struct Tracker {
    slots: Vec<Option<Entry>>,
    index: HashMap<Key, usize>,
    poll: u64,
}

impl Tracker {
    /// Every socket of the last poll, in no particular order.
    pub fn sockets(&self) -> impl Iterator<Item = &Observed> {
        self.slots.iter().flatten().map(|e| &e.observed)
    }

    /// Takes the sockets of a new poll; returns what changed: the poll's changed sockets in the
    /// order given, then the new ones, then the sockets gone, ordered by endpoints.
    pub fn update(&mut self, now: Vec<Observed>) -> Vec<SocketChange> {
        self.poll += 1;
        let poll = self.poll;
        let mut changes = Vec::new();
        let mut unmatched = Vec::new();
        let mut cursor = 0;
        for observed in now {
            let k = key(&observed.socket);
            let in_line = self.slots.get(cursor).and_then(Option::as_ref).is_some_and(|e| key(&e.observed.socket) == k);
            let at = if in_line { Some(cursor) } else { self.index.get(&k).copied() };
            let Some(entry) =
                at.and_then(|i| self.slots.get_mut(i)).and_then(Option::as_mut).filter(|e| e.seen != poll)
            else {
                unmatched.push((k, observed));
                continue;
            };
            entry.seen = poll;
            cursor = at.map_or(cursor, |i| i + 1);
            if let Some(change) = compare(&entry.observed, &observed) {
                let before = std::mem::replace(&mut entry.observed, observed);
                changes.push(SocketChange { change, observed: entry.observed.clone(), before: Some(before) });
            }
        }
        let mut by_endpoints: HashMap<Endpoints, Vec<usize>> = HashMap::new();
        if !unmatched.is_empty() {
            for (i, entry) in self.slots.iter().enumerate() {
                if let Some(e) = entry.as_ref().filter(|e| e.seen != poll) {
                    by_endpoints.entry(endpoints(&key(&e.observed.socket))).or_default().push(i);
                }
            }
        }
        for (k, observed) in unmatched {
            let old = by_endpoints.get_mut(&endpoints(&k)).and_then(Vec::pop).and_then(|i| self.take(i));
            let change = match &old {
                Some(old) => compare(old, &observed),
                None => Some(Change::New),
            };
            if let Some(change) = change {
                changes.push(SocketChange { change, observed: observed.clone(), before: old });
            }
            self.index.insert(k, self.slots.len());
            self.slots.push(Some(Entry { observed, seen: poll }));
        }
        let mut gone = Vec::new();
        for i in 0..self.slots.len() {
            if self.slots[i].as_ref().is_some_and(|e| e.seen != poll)
                && let Some(observed) = self.take(i)
            {
                gone.push(observed);
            }
        }
        gone.sort_unstable_by_key(|o| key(&o.socket));
        changes.extend(gone.into_iter().map(|observed| SocketChange { change: Change::Gone, observed, before: None }));
        self.compact();
        changes
    }

    /// Empties a slot, returning its socket.
    fn take(&mut self, i: usize) -> Option<Observed> {
        let entry = self.slots.get_mut(i)?.take()?;
        self.index.remove(&key(&entry.observed.socket));
        Some(entry.observed)
    }

    /// Drops the empty slots once they are a quarter of all, keeping the order.
    fn compact(&mut self) {
        let empty = self.slots.iter().filter(|s| s.is_none()).count();
        if empty <= self.slots.len() / 4 {
            return;
        }
        self.slots.retain(Option::is_some);
        self.index.clear();
        for (i, entry) in self.slots.iter().enumerate() {
            if let Some(e) = entry {
                self.index.insert(key(&e.observed.socket), i);
            }
        }
    }
}

/// What changed between two sightings of one socket, if anything.
fn compare(old: &Observed, new: &Observed) -> Option<Change> {
    let same_owner = |a: &Option<Arc<ProcessInfo>>, b: &Option<Arc<ProcessInfo>>| match (a, b) {
        // The owner cache hands out one description per process: the common case.
        (Some(a), Some(b)) if Arc::ptr_eq(a, b) => true,
        _ => owner_key(a) == owner_key(b),
    };
    if old.socket.state != new.socket.state {
        Some(Change::State)
    } else if !same_owner(&old.owner, &new.owner) {
        Some(Change::Owner)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TcpState;

    fn owner(pid: u32, name: &str) -> Option<Arc<ProcessInfo>> {
        Some(Arc::new(ProcessInfo {
            pid,
            name: name.into(),
            exe: None,
            uid: Some(1000),
            user: Some("alice".into()),
            services: Vec::new(),
        }))
    }

    fn tcp(local: &str, remote: &str, state: TcpState, inode: u64, who: Option<Arc<ProcessInfo>>) -> Observed {
        Observed {
            socket: Socket {
                protocol: Protocol::Tcp,
                local: local.parse().expect("local"),
                remote: remote.parse().expect("remote"),
                state: Some(state),
                inode,
                uid: 1000,
            },
            owner: who,
        }
    }

    fn kinds(changes: &[SocketChange]) -> Vec<(Change, u16, u64)> {
        changes.iter().map(|c| (c.change, c.observed.socket.local.port(), c.observed.socket.inode)).collect()
    }

    #[test]
    fn new_state_change_and_gone() {
        let mut t = Tracker::default();
        let listen = tcp("127.0.0.1:80", "0.0.0.0:0", TcpState::Listening, 10, owner(7, "web"));
        let syn = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::SynSent, 11, owner(8, "curl"));
        assert_eq!(
            kinds(&t.update(vec![listen.clone(), syn.clone()])),
            vec![(Change::New, 80, 10), (Change::New, 5000, 11)]
        );
        assert!(t.update(vec![listen.clone(), syn.clone()]).is_empty(), "nothing changed");
        let est = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::Established, 11, owner(8, "curl"));
        let changes = t.update(vec![listen.clone(), est.clone()]);
        assert_eq!(kinds(&changes), vec![(Change::State, 5000, 11)]);
        assert_eq!(changes[0].before.as_ref().and_then(|b| b.socket.state.clone()), Some(TcpState::SynSent));
        let changes = t.update(vec![est]);
        assert_eq!(kinds(&changes), vec![(Change::Gone, 80, 10)]);
        assert!(!changes[0].is_row());
    }

    #[test]
    fn time_wait_is_a_state_change_of_the_same_connection_without_owner() {
        let mut t = Tracker::default();
        let est = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::Established, 11, owner(8, "curl"));
        t.update(vec![est]);
        let tw = tcp("127.0.0.1:5000", "127.0.0.1:80", TcpState::TimeWait, 0, None);
        let changes = t.update(vec![tw]);
        assert_eq!(kinds(&changes), vec![(Change::State, 5000, 0)]);
        assert!(changes[0].observed.owner.is_none());
        assert_eq!(owner_key(&changes[0].before.as_ref().expect("before").owner), (8, &b"curl"[..]));
    }

    #[test]
    fn an_accepted_connection_gets_its_owner() {
        let mut t = Tracker::default();
        t.update(vec![tcp("127.0.0.1:80", "127.0.0.1:5000", TcpState::Established, 0, None)]);
        let accepted = tcp("127.0.0.1:80", "127.0.0.1:5000", TcpState::Established, 12, owner(7, "web"));
        assert_eq!(kinds(&t.update(vec![accepted])), vec![(Change::Owner, 80, 12)]);
    }

    #[test]
    fn same_endpoints_under_reuseport_stay_apart() {
        let mut t = Tracker::default();
        let a = tcp("0.0.0.0:80", "0.0.0.0:0", TcpState::Listening, 1, owner(7, "web"));
        let b = tcp("0.0.0.0:80", "0.0.0.0:0", TcpState::Listening, 2, owner(9, "web"));
        assert_eq!(t.update(vec![a.clone(), b.clone()]).len(), 2);
        assert!(t.update(vec![b.clone(), a]).is_empty());
        assert_eq!(kinds(&t.update(vec![b])), vec![(Change::Gone, 80, 1)]);
        assert_eq!(t.sockets().count(), 1);
    }

    #[test]
    fn reordering_departures_and_compaction_keep_every_socket_once() {
        let mut t = Tracker::default();
        let sockets: Vec<Observed> = (0..100u16)
            .map(|i| {
                let local = format!("127.0.0.1:{}", 1000 + i);
                tcp(&local, "0.0.0.0:0", TcpState::Listening, u64::from(i) + 1, owner(7, "web"))
            })
            .collect();
        assert_eq!(t.update(sockets.clone()).len(), 100);
        let mut reversed = sockets.clone();
        reversed.reverse();
        assert!(t.update(reversed).is_empty(), "the kernel's order is no change");
        let changes = t.update(sockets[..40].to_vec());
        assert_eq!(changes.len(), 60);
        assert!(changes.iter().all(|c| c.change == Change::Gone));
        assert_eq!(t.sockets().count(), 40);
        assert!(t.update(sockets[..40].to_vec()).is_empty(), "nothing changes across the compaction");
        let mut back: Vec<Observed> = sockets[50..].to_vec();
        back.extend(sockets[..40].iter().cloned());
        let changes = t.update(back);
        assert_eq!(changes.len(), 50);
        assert!(changes.iter().all(|c| c.change == Change::New));
        assert_eq!(t.sockets().count(), 90);
        assert!(t.update(sockets[..40].iter().chain(&sockets[50..]).cloned().collect()).is_empty());
    }

    #[test]
    fn a_reused_pid_under_another_name_is_a_new_owner() {
        let mut t = Tracker::default();
        t.update(vec![tcp("0.0.0.0:80", "0.0.0.0:0", TcpState::Listening, 1, owner(7, "web"))]);
        let exec = tcp("0.0.0.0:80", "0.0.0.0:0", TcpState::Listening, 1, owner(7, "other"));
        assert_eq!(kinds(&t.update(vec![exec])), vec![(Change::Owner, 80, 1)]);
    }
}
