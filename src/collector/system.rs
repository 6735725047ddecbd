//! The real system as a [`Source`]: the kernel's socket tables joined with their owners.

use std::path::Path;

use crate::collector::error::CollectorError;
use crate::collector::owners::{Owners, ScanStats};
use crate::collector::sockets::{Backend, Socket, SocketTable};
use crate::collector::source::{Observed, Source};
use crate::model::Modules;

/// Sockets from netlink or /proc/net, owners from /proc.
#[derive(Debug)]
pub struct SystemSource {
    table: SocketTable,
    owners: Owners,
    buffer: Vec<Socket>,
}

impl SystemSource {
    /// Opens the socket table through `backend`; procfs is read at `/proc`.
    pub fn open(backend: Backend) -> Result<SystemSource, CollectorError> {
        let proc_root = Path::new("/proc");
        Ok(SystemSource {
            table: SocketTable::open(backend, proc_root)?,
            owners: Owners::new(proc_root),
            buffer: Vec::new(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.table.backend()
    }

    /// How many descriptor folders and links the owner cache has read so far.
    pub fn scan_stats(&self) -> ScanStats {
        self.owners.stats()
    }
}

impl Source for SystemSource {
    fn observe(&mut self) -> Result<Vec<Observed>, CollectorError> {
        self.table.read(&mut self.buffer)?;
        let owners = self.owners.resolve(&self.buffer);
        Ok(self.buffer.drain(..).zip(owners).map(|(socket, owner)| Observed { socket, owner }).collect())
    }

    fn modules(&mut self, pid: u32) -> Option<Modules> {
        self.owners.modules(pid)
    }
}
