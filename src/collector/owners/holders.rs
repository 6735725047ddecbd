//! Which processes hold each socket inode, in the order they were found; the first is the owner
//! the logs name. One process holds most sockets. After a fork parent and child both do, until
//! one of them closes its copy, and a descriptor passed over a Unix socket is held by sender
//! and receiver alike: those shared sockets are the ones whose owner can change while every
//! process lives, so they are kept apart, for the owner cache to re-check at every poll.
//!
//! The first holder of every inode sits in one flat map (what a steady poll looks up, once per
//! socket); further holders, rare, in another.

use rustc_hash::FxHashMap;

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
}

impl Holders {
    /// The PID the logs name for an inode: its first holder still holding it.
    pub fn owner(&self, inode: u64) -> Option<u32> {
        self.first.get(&inode).map(|h| h.pid)
    }

    /// Whether any process is known to hold the inode.
    pub fn is_held(&self, inode: u64) -> bool {
        self.first.contains_key(&inode)
    }

    /// The holders after the first, in the order found.
    pub fn others(&self, inode: u64) -> &[Holder] {
        self.more.get(&inode).map_or(&[], Vec::as_slice)
    }

    /// Every holder of every inode held by more than one process.
    pub fn shared(&self) -> Vec<(u64, Holder)> {
        let mut all = Vec::new();
        for (&inode, more) in &self.more {
            if let Some(&first) = self.first.get(&inode) {
                all.push((inode, first));
            }
            all.extend(more.iter().map(|&h| (inode, h)));
        }
        all
    }

    /// Records that `holder.pid` holds the inode: behind the holders already known, or, if it
    /// was one of them, in its place with the descriptor updated.
    pub fn add(&mut self, inode: u64, holder: Holder) {
        match self.first.get_mut(&inode) {
            None => {
                self.first.insert(inode, holder);
            }
            Some(first) if first.pid == holder.pid => first.fd = holder.fd,
            Some(_) => {
                let more = self.more.entry(inode).or_default();
                match more.iter_mut().find(|h| h.pid == holder.pid) {
                    Some(known) => known.fd = holder.fd,
                    None => more.push(holder),
                }
            }
        }
    }

    /// Records that `pid` no longer holds the inode; the next holder, if any, becomes its owner.
    pub fn remove(&mut self, inode: u64, pid: u32) {
        let Some(first) = self.first.get(&inode) else {
            return;
        };
        if first.pid == pid {
            match self.more.get_mut(&inode) {
                Some(more) => {
                    let next = more.remove(0);
                    if more.is_empty() {
                        self.more.remove(&inode);
                    }
                    self.first.insert(inode, next);
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
        assert_eq!((holders.owner(7), holders.shared()), (Some(100), vec![]));
        holders.add(7, h(101, 3));
        holders.add(7, h(100, 5)); // the same holder at another descriptor keeps its place
        assert_eq!(holders.owner(7), Some(100));
        let mut shared = holders.shared();
        shared.sort_by_key(|(_, h)| h.pid);
        assert_eq!(shared, vec![(7, h(100, 5)), (7, h(101, 3))]);
        holders.remove(7, 100);
        assert_eq!((holders.owner(7), holders.others(7), holders.shared()), (Some(101), &[][..], vec![]));
        holders.remove(7, 101);
        assert!(!holders.is_held(7));
    }

    #[test]
    fn a_later_holder_letting_go_changes_no_owner() {
        let mut holders = Holders::default();
        for pid in [100, 101, 102] {
            holders.add(9, h(pid, 4));
        }
        holders.remove(9, 101);
        assert_eq!((holders.owner(9), holders.others(9)), (Some(100), &[h(102, 4)][..]));
        holders.remove(9, 555);
        holders.remove(10, 100);
        assert_eq!(holders.owner(9), Some(100));
    }
}
