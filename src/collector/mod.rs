//! `portreporter`, the collector: Port Reporter for Linux. It polls the kernel's TCP and UDP
//! socket tables, finds the process behind each socket, and reports what changed — new
//! sockets, sockets gone, TCP state changes — as [`CollectorEvent`]s, which [`writer`] turns
//! into the three Port Reporter logs (or JSON lines).
//!
//! The pieces, each small and testable on its own:
//! - [`source`]: what is observed, behind the [`Source`] trait — [`SystemSource`] (sockets
//!   from [`sockets`]: netlink sock_diag or `/proc/net`; owners from [`owners`], [`services`],
//!   [`modules`]) or the scripted [`FakeSource`];
//! - [`diff`]: change detection between polls;
//! - [`record`]: events as the crate's log model (rows, port tables, process blocks);
//! - [`writer`] over [`folder`]: files, rotation, permissions, retries; [`jsonl`]: JSON lines;
//! - [`events`]: the service's own events (ids 100–112) for the journal.
//!
//! # Using it in a program (the app's live capture)
//!
//! ```no_run
//! use prparser::collector::{Backend, Collector, CollectorEvent, SystemClock, SystemSource};
//!
//! # fn main() -> Result<(), prparser::collector::CollectorError> {
//! let mut collector = Collector::new(SystemSource::open(Backend::Netlink)?, SystemClock);
//! loop {
//!     let batch = collector.poll()?; // the first poll is the start snapshot
//!     for event in &batch.events {
//!         match event {
//!             CollectorEvent::Initial(initial) => println!("{} sockets at start", initial.sockets.len()),
//!             CollectorEvent::Socket(change) => {
//!                 let row = prparser::collector::record::row(batch.time.naive_local(), &change.observed);
//!                 let module = String::from_utf8_lossy(row.module);
//!                 println!("{:?} {}:{} pid {:?} {module}", change.change, row.local_ip, row.local_port, row.pid);
//!             }
//!             CollectorEvent::Process(p) => println!("process {} ({}) now has {} sockets", p.info.pid, p.info.name, p.sockets.len()),
//!         }
//!     }
//!     std::thread::sleep(std::time::Duration::from_millis(500));
//! }
//! # }
//! ```
//!
//! A poll takes a few milliseconds (README, "portreporter"); run it on its own thread and
//! send the batches over a channel. A connection that opens and closes between two polls is
//! never seen: the socket tables are read, not traced.

pub mod clock;
pub mod diff;
pub mod error;
pub mod events;
pub mod folder;
pub mod host;
pub mod jsonl;
pub mod modules;
pub mod owners;
pub mod record;
pub mod services;
pub mod sockets;
pub mod source;
pub mod system;
pub mod writer;

use std::sync::Arc;

use chrono::{DateTime, FixedOffset};
use rustc_hash::FxHashMap;

pub use clock::{Clock, ManualClock, SystemClock};
pub use diff::{Change, SocketChange};
pub use error::CollectorError;
pub use sockets::{Backend, Socket};
pub use source::{FakeSource, Observed, ProcessInfo, ProcessName, Source};
pub use system::SystemSource;

use crate::model::Modules;
use diff::Tracker;

/// What one poll found, stamped with the time the poll began.
#[derive(Debug, Clone)]
pub struct Batch {
    pub time: DateTime<FixedOffset>,
    pub events: Vec<CollectorEvent>,
}

/// Something the logs record.
#[derive(Debug, Clone)]
pub enum CollectorEvent {
    /// The first poll: every socket and every process owning one (PR-INITIAL).
    Initial(Initial),
    /// A socket changed (a PR-PORTS row, unless it went away).
    Socket(SocketChange),
    /// A process started network activity or its set of sockets changed (a PR-PIDS block).
    Process(ProcessEvent),
}

/// The start snapshot.
#[derive(Debug, Clone)]
pub struct Initial {
    pub sockets: Vec<Observed>,
    /// One per process owning a socket, by PID.
    pub processes: Vec<ProcessEvent>,
}

/// A process with all its sockets and its loaded modules.
#[derive(Debug, Clone)]
pub struct ProcessEvent {
    pub info: Arc<ProcessInfo>,
    pub sockets: Vec<Socket>,
    pub modules: Modules,
}

/// Polls a [`Source`] and reports changes.
#[derive(Debug)]
pub struct Collector<S, C> {
    source: S,
    clock: C,
    tracker: Tracker,
    started: bool,
}

impl<S: Source, C: Clock> Collector<S, C> {
    pub fn new(source: S, clock: C) -> Collector<S, C> {
        Collector { source, clock, tracker: Tracker::default(), started: false }
    }

    /// The source, to script a [`FakeSource`] between polls or read [`SystemSource`] figures.
    pub fn source_mut(&mut self) -> &mut S {
        &mut self.source
    }

    /// Reads the system once. The first successful poll returns the start snapshot
    /// ([`CollectorEvent::Initial`]); later ones the socket changes, then a process event for
    /// every process whose set of sockets changed, by PID.
    pub fn poll(&mut self) -> Result<Batch, CollectorError> {
        let time = self.clock.now();
        let observed = self.source.observe()?;
        let changes = self.tracker.update(observed);
        if !self.started {
            self.started = true;
            let sockets: Vec<Observed> = changes.into_iter().map(|c| c.observed).collect();
            let mut owners = FxHashMap::default();
            for o in &sockets {
                note_owner(&mut owners, &o.owner);
            }
            let processes = self.process_events(owners);
            return Ok(Batch { time, events: vec![CollectorEvent::Initial(Initial { sockets, processes })] });
        }
        let mut touched = FxHashMap::default();
        for c in changes.iter().filter(|c| c.moves_between_processes()) {
            if let Some(before) = &c.before {
                note_owner(&mut touched, &before.owner);
            }
            note_owner(&mut touched, &c.observed.owner);
        }
        let mut events: Vec<CollectorEvent> = changes.into_iter().map(CollectorEvent::Socket).collect();
        events.extend(self.process_events(touched).into_iter().map(CollectorEvent::Process));
        Ok(Batch { time, events })
    }

    /// The process events of the given processes, from the sockets they hold now (a process
    /// whose last socket went away gets an empty table); a process that is gone gets none.
    fn process_events(&mut self, owners: FxHashMap<u32, Arc<ProcessInfo>>) -> Vec<ProcessEvent> {
        if owners.is_empty() {
            return Vec::new();
        }
        let mut held: FxHashMap<u32, (Arc<ProcessInfo>, Vec<Socket>)> = FxHashMap::default();
        for o in self.tracker.sockets() {
            if let Some(owner) = &o.owner
                && owners.contains_key(&owner.pid)
            {
                held.entry(owner.pid).or_insert_with(|| (Arc::clone(owner), Vec::new())).1.push(o.socket.clone());
            }
        }
        let mut owners: Vec<(u32, Arc<ProcessInfo>)> = owners.into_iter().collect();
        owners.sort_unstable_by_key(|(pid, _)| *pid);
        let mut events = Vec::new();
        for (pid, last_seen) in owners {
            let Some(modules) = self.source.modules(pid) else {
                continue;
            };
            let (info, mut sockets) = held.remove(&pid).unwrap_or((last_seen, Vec::new()));
            sockets.sort_by_key(|s| (s.protocol, s.local, s.remote));
            events.push(ProcessEvent { info, sockets, modules });
        }
        events
    }
}

/// Notes the owner of a socket if it is a real process (not PID 0).
fn note_owner(owners: &mut FxHashMap<u32, Arc<ProcessInfo>>, owner: &Option<Arc<ProcessInfo>>) {
    if let Some(o) = owner.as_ref().filter(|o| o.is_process()) {
        owners.insert(o.pid, Arc::clone(o));
    }
}

#[cfg(test)]
mod tests;
