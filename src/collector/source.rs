//! What the collector observes, behind a trait: the real system ([`super::system::SystemSource`],
//! the kernel's socket tables and /proc) or a scripted [`FakeSource`], so that change
//! detection, PIDS bookkeeping and rotation are tested deterministically, without sockets.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::collector::error::CollectorError;
use crate::collector::sockets::Socket;
use crate::logs::text::field_text;
use crate::model::{Modules, Service};

/// A process's name as the kernel keeps it (`/proc/PID/comm`): up to 15 bytes, any byte but
/// NUL, set by the program itself (prctl(PR_SET_NAME)), so not necessarily UTF-8. The bytes
/// are kept as they are: a name is evidence, and replacing what is not UTF-8 with U+FFFD
/// would make `\xffa` and `\xfea` one name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ProcessName(Box<[u8]>);

impl ProcessName {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_utf8(&self) -> bool {
        std::str::from_utf8(&self.0).is_ok()
    }

    /// The name where the log formats need text (PR-PIDS and PR-INITIAL process blocks): the
    /// name itself when it is UTF-8, else each byte as its Windows-1252 character — exactly
    /// what the readers make of a PR-PORTS field that is not UTF-8, so that a row written
    /// with the raw bytes still finds its block, and no byte is lost (every byte has its own
    /// character).
    pub fn log_text(&self) -> Cow<'_, str> {
        field_text(&self.0)
    }

    /// The name for display and JSON: bytes that are not UTF-8 become U+FFFD.
    pub fn lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }
}

impl From<&[u8]> for ProcessName {
    fn from(bytes: &[u8]) -> ProcessName {
        ProcessName(bytes.into())
    }
}

impl From<&str> for ProcessName {
    fn from(name: &str) -> ProcessName {
        ProcessName(name.as_bytes().into())
    }
}

impl From<String> for ProcessName {
    fn from(name: String) -> ProcessName {
        ProcessName(name.into_bytes().into_boxed_slice())
    }
}

impl fmt::Display for ProcessName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lossy())
    }
}

/// A process that owns sockets, as far as the collector could see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// The kernel's name for it.
    pub name: ProcessName,
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
        ProcessInfo { pid: IDLE_PID, name: IDLE_NAME.into(), exe: None, uid: None, user, services: Vec::new() }
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
            return Err(CollectorError::SocketTable { backend: "fake", error: std::io::Error::other(message) });
        }
        Ok(self.sockets.clone())
    }

    fn modules(&mut self, pid: u32) -> Option<Modules> {
        self.modules.get(&pid).cloned()
    }
}
