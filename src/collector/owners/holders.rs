//! Which processes hold each socket inode, in the order they were found; the first is the owner
//! the logs name. One process holds most sockets. After a fork parent and child both do, until
//! one of them closes its copy, and a descriptor passed over a Unix socket is held by sender
//! and receiver alike: those shared sockets are the ones whose owner can change while every
//! process lives, so they are kept apart, for the owner cache to re-check at every poll.
//!
//! One exception to "first found": the service manager (PID 1) is named only while it alone
//! holds a socket. With socket activation systemd makes a listener and hands it to the service
//! it starts, keeping its own copy; an administrator looking at port 631 wants `cupsd`, not
//! `systemd`.
//!
//! The first holder of every inode sits in one flat map (what a steady poll looks up, once per
//! socket); further holders, rare, in another.

use rustc_hash::FxHashMap;

/// The service manager's PID.
const INIT_PID: u32 = 1;

/// A process holding a socket, and one descriptor number it holds it at (its lowest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Holder {
    pub pid: u32,
    pub fd: u32,
}

#[derive(Debug, Default)]
pub(super) struct Holders {
    first: FxHashMap<u64, Holder>,
    more: FxHashMap<u64, Vec<Holder>>,
    /// Counts the changes of who is named for an inode: while it stays, every owner does.
    changes: u64,
}

impl Holders {
    /// The PID the logs name for an inode: its first holder still holding it.
    pub fn owner(&self, inode: u64) -> Option<u32> {
        self.first.get(&inode).map(|h| h.pid)
    }

    /// A number that changes whenever the owner of some inode may have.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    /// Whether any process is known to hold the inode.
    pub fn is_held(&self, inode: u64) -> bool {
        self.first.contains_key(&inode)
    }

    /// The holders after the first, in the order found.
    pub fn others(&self, inode: u64) -> &[Holder] {
        self.more.get(&inode).map_or(&[], Vec::as_slice)
    }

    /// The named holder of every inode held by more than one process: those whose name
    /// changes when they let go.
    pub fn named_shared(&self) -> impl Iterator<Item = (u64, Holder)> + '_ {
        self.more.keys().filter_map(|inode| Some((*inode, *self.first.get(inode)?)))
    }

    /// Records that `holder.pid` holds the inode: behind the holders already known (ahead of
    /// PID 1 alone), or, if it was one of them, in its place with the descriptor updated.
    pub fn add(&mut self, inode: u64, holder: Holder) {
        match self.first.get_mut(&inode) {
            None => {
                self.first.insert(inode, holder);
                self.changes += 1;
            }
            Some(first) if first.pid == holder.pid => first.fd = holder.fd,
            Some(first) => {
                let more = self.more.entry(inode).or_default();
                if let Some(known) = more.iter_mut().find(|h| h.pid == holder.pid) {
                    known.fd = holder.fd;
                } else if first.pid == INIT_PID {
                    more.insert(0, std::mem::replace(first, holder));
                    self.changes += 1;
                } else {
                    more.push(holder);
                }
            }
        }
    }

    /// Records that `pid` no longer holds the inode. When it was the named holder, the next
    /// one, if any, is named instead, and returned: what the cache knew of it may be old.
    pub fn remove(&mut self, inode: u64, pid: u32) -> Option<Holder> {
        let first = self.first.get(&inode)?;
        if first.pid == pid {
            self.changes += 1;
            match self.more.get_mut(&inode) {
                Some(more) => {
                    let next = more.remove(0);
                    if more.is_empty() {
                        self.more.remove(&inode);
                    }
                    self.first.insert(inode, next);
                    return Some(next);
                }
                None => {
                    self.first.remove(&inode);
                }
            }
        } else if let Some(more) = self.more.get_mut(&inode) {
            more.retain(|h| h.pid != pid);
            if more.is_empty() {
                self.more.remove(&inode);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pid: u32, fd: u32) -> Holder {
        Holder { pid, fd }
    }

    #[test]
    fn the_first_holder_owns_until_it_lets_go() {
        let mut holders = Holders::default();
        holders.add(7, h(100, 3));
        assert_eq!(holders.owner(7), Some(100));
        assert_eq!(holders.named_shared().count(), 0);
        holders.add(7, h(101, 3));
        holders.add(7, h(100, 5)); // the same holder at another descriptor keeps its place
        assert_eq!(holders.owner(7), Some(100));
        assert_eq!(holders.named_shared().collect::<Vec<_>>(), vec![(7, h(100, 5))]);
        assert_eq!(holders.remove(7, 100), Some(h(101, 3)), "the next holder is named");
        assert_eq!((holders.owner(7), holders.others(7), holders.named_shared().count()), (Some(101), &[][..], 0));
        assert_eq!(holders.remove(7, 101), None);
        assert!(!holders.is_held(7));
    }

    /// Socket activation: systemd made the listener, the service holds it too.
    #[test]
    fn pid_1_is_named_only_while_alone() {
        let mut holders = Holders::default();
        holders.add(5, h(INIT_PID, 40));
        assert_eq!(holders.owner(5), Some(INIT_PID));
        holders.add(5, h(631, 3));
        assert_eq!((holders.owner(5), holders.others(5)), (Some(631), &[h(INIT_PID, 40)][..]));
        holders.add(5, h(632, 3));
        assert_eq!(holders.others(5), &[h(INIT_PID, 40), h(632, 3)][..]);
        assert_eq!(holders.remove(5, 631), Some(h(INIT_PID, 40)));
    }

    #[test]
    fn a_later_holder_letting_go_changes_no_owner() {
        let mut holders = Holders::default();
        for pid in [100, 101, 102] {
            holders.add(9, h(pid, 4));
        }
        assert_eq!(holders.remove(9, 101), None);
        assert_eq!((holders.owner(9), holders.others(9)), (Some(100), &[h(102, 4)][..]));
        assert_eq!((holders.remove(9, 555), holders.remove(10, 100)), (None, None));
        assert_eq!(holders.owner(9), Some(100));
    }
}
