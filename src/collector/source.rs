//! What the collector observes, behind a trait: the real system ([`super::system::SystemSource`],
//! the kernel's socket tables and /proc) or a scripted [`FakeSource`], so that change
//! detection, PIDS bookkeeping and rotation are tested deterministically, without sockets.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::collector::error::CollectorError;
use crate::collector::sockets::Socket;
use crate::model::{Modules, Service};

/// A process that owns sockets, as far as the collector could see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The kernel's name for it (`/proc/PID/comm`, at most 15 bytes, any bytes a program sets).
    pub name: String,
    /// The executable's path; `None` when we may not read it (another user's process).
    pub exe: Option<String>,
    /// Effective user id.
    pub uid: Option<u32>,
    /// The user's name from the user database, else the uid as digits.
    pub user: Option<String>,
    /// The systemd unit the process runs in, when it is a service.
    pub services: Vec<Service>,
}

/// The PID under which a socket no process can be found is logged, as the original did.
pub const IDLE_PID: u32 = 0;
/// The process name that goes with [`IDLE_PID`].
pub const IDLE_NAME: &str = "System Idle";

impl ProcessInfo {
    /// The stand-in owner of a socket no visible process holds: PID 0 `System Idle`, with the
    /// socket's user when the kernel kept one.
    pub fn idle(user: Option<String>) -> ProcessInfo {
        ProcessInfo { pid: IDLE_PID, name: IDLE_NAME.to_string(), exe: None, uid: None, user, services: Vec::new() }
    }

    /// Whether this is a real process, one that gets PIDS blocks.
    pub fn is_process(&self) -> bool {
        self.pid != IDLE_PID
    }
}

/// A socket with the process holding it; `None` when no process could be found (the owner is
/// gone, as for TIME_WAIT leftovers, or it is invisible to us).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub socket: Socket,
    pub owner: Option<Arc<ProcessInfo>>,
}

/// The collector's view of the system.
pub trait Source {
    /// Every TCP and UDP socket now, each with its owner.
    fn observe(&mut self) -> Result<Vec<Observed>, CollectorError>;

    /// The loaded modules of a process: `None` when the process is gone,
    /// [`Modules::NotAccessible`] when we may not look.
    fn modules(&mut self, pid: u32) -> Option<Modules>;
}

/// A scripted source: tests set [`FakeSource::sockets`] before each poll.
#[derive(Debug, Default, Clone)]
pub struct FakeSource {
    pub sockets: Vec<Observed>,
    /// Modules by PID; a PID without an entry is a process that is gone.
    pub modules: FxHashMap<u32, Modules>,
    /// When set, the next [`Source::observe`] fails with this message, once.
    pub fail_next: Option<String>,
}

impl Source for FakeSource {
    fn observe(&mut self) -> Result<Vec<Observed>, CollectorError> {
        if let Some(message) = self.fail_next.take() {
            return Err(CollectorError::SocketTable { backend: "fake", source: std::io::Error::other(message) });
        }
        Ok(self.sockets.clone())
    }

    fn modules(&mut self, pid: u32) -> Option<Modules> {
        self.modules.get(&pid).cloned()
    }
}
