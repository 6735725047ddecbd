//! Background work and its results. Everything slow — loading, filtering, sorting, criteria,
//! statistics, file dialogs, exports — runs on its own thread (the heavy parts on rayon's
//! pool) and reports back over a channel; each finished job wakes the UI with
//! `request_repaint`.
//!
//! Loads, views, flags and statistics each run in a [`Slot`]: at most one job of a kind runs
//! at a time; a newer request cancels the running one (its result would be stale) and runs
//! once it has stopped; requests that arrive meanwhile collapse into one.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};

use crate::analysis::criteria::{CriteriaFileError, CriteriaSet, Evaluation};
use crate::analysis::dataset::Dataset;
use crate::analysis::view;
use crate::error::LogError;
use crate::logs::ports::LoadProgress;

/// A finished job. Slot jobs carry the generation they were started with, so the app can
/// tell the result of the job it is waiting for from one it cancelled.
pub enum Done {
    Loaded {
        generation: u64,
        result: Result<Arc<Dataset>, LogError>,
        /// The paths opened, as File › Recent keeps them (`settings::for_recent`).
        opened: super::settings::Opened,
    },
    /// The grid's rows, and the rows passing its filters but the time range (kept for the
    /// timeline and for the next range).
    View {
        generation: u64,
        result: Result<(Vec<u32>, Arc<view::Passing>), view::Cancelled>,
        /// The row selected when the job started, and where it stands in the new rows (found
        /// here rather than by a scan of up to millions of rows on the frame).
        selected: Option<(u32, Option<usize>)>,
    },
    Flags {
        generation: u64,
        evaluation: Evaluation,
    },
    Stats {
        generation: u64,
        bundle: Box<crate::app::stats_view::StatsBundle>,
    },
    /// A load from ClickHouse ended: the dataset and how many rows matched (more than it
    /// holds when the row cap cut it).
    FromClickHouse {
        generation: u64,
        result: Result<(Arc<Dataset>, u64), crate::clickhouse::load::LoadError>,
    },
    /// The computers a ClickHouse database holds.
    ClickHouseComputers {
        result: Result<Vec<String>, crate::clickhouse::load::LoadError>,
    },
    /// The timeline's counts.
    Timeline(crate::app::timeline::TimelineDone),
    /// How the desktop's file dialog ended, and what it was for.
    NativeAnswer {
        purpose: Pick,
        answer: crate::app::file_dialog::Answer,
    },
    /// What the session bus said about a desktop file dialog.
    PortalProbed(crate::app::file_dialog::portal::Portal),
    CriteriaLoaded {
        path: PathBuf,
        result: Result<CriteriaSet, CriteriaFileError>,
    },
    CriteriaSaved {
        result: Result<PathBuf, CriteriaFileError>,
    },
    /// Whether the list files of `compiled` changed on disk since they were read.
    ListsChecked {
        compiled: Arc<crate::analysis::criteria::CompiledSet>,
        changed: bool,
    },
    /// GeoIP databases opened (or why not), for the request of that generation.
    GeoIpOpened {
        generation: u64,
        country: Option<PathBuf>,
        asn: Option<PathBuf>,
        result: Result<crate::analysis::geoip::GeoIp, crate::analysis::geoip::GeoIpError>,
    },
    /// The log's remote addresses were looked up in `geo`.
    GeoIpLocated,
    /// A file was written (an export); `what` says what, for the status bar.
    Exported {
        what: String,
        path: PathBuf,
        result: Result<(), ExportError>,
    },
}

/// Why an export was not written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot encode the image: {0}")]
    Png(String),
}

/// A job that could not be started: the OS refused a thread.
#[derive(Debug, thiserror::Error)]
#[error("cannot start a thread for {job}: {source}")]
pub struct SpawnError {
    job: String,
    #[source]
    source: std::io::Error,
}

/// Why a file dialog was opened. What each asks for is in `file_dialog::spec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    OpenLogs,
    OpenFolder,
    /// A folder to follow live.
    FollowFolder,
    LoadCriteria,
    SaveCriteria,
    ExportCsv,
    ExportJson,
    ExportStatsCsv,
    ExportPlotPng,
    /// The address list of a list criterion (which one: `lists::ListWatch`).
    AddressList,
    /// Logs to compare with in the Changes tab.
    BaselineFolder,
    /// A GeoIP country (or city) database.
    GeoIpCountry,
    /// A GeoIP ASN database.
    GeoIpAsn,
}

/// How threads are started: by the OS, or (in the app's own tests) refused, to check that a
/// job that cannot start leaves no busy state behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Threads {
    Os,
    #[cfg(test)]
    Refused,
}

pub struct Jobs {
    tx: Sender<Done>,
    rx: Receiver<Done>,
    ctx: egui::Context,
    threads: Threads,
}

impl Jobs {
    pub fn new(ctx: egui::Context) -> Jobs {
        let (tx, rx) = channel();
        Jobs { tx, rx, ctx, threads: Threads::Os }
    }

    /// Makes every later spawn fail, as when the OS has no threads left.
    #[cfg(test)]
    pub fn refuse_threads(&mut self) {
        self.threads = Threads::Refused;
    }

    /// Runs `work` on a new thread; its result arrives through [`Jobs::poll`].
    pub fn spawn(&self, name: &str, work: impl FnOnce() -> Done + Send + 'static) -> Result<(), SpawnError> {
        let tx = self.tx.clone();
        let ctx = self.ctx.clone();
        self.spawn_detached(name, move || {
            let done = work();
            // The app may have closed; nothing to report then.
            let _ = tx.send(done);
            ctx.request_repaint();
        })
    }

    /// Runs `work` on a new thread that reports nothing back.
    pub fn spawn_detached(&self, name: &str, work: impl FnOnce() + Send + 'static) -> Result<(), SpawnError> {
        let builder = std::thread::Builder::new().name(format!("prparser-{name}"));
        let spawned = match self.threads {
            Threads::Os => builder.spawn(work).map(|_| ()),
            #[cfg(test)]
            Threads::Refused => Err(std::io::Error::new(std::io::ErrorKind::WouldBlock, "no threads left")),
        };
        spawned.map_err(|source| SpawnError { job: name.to_string(), source })
    }

    /// For callbacks that report from elsewhere (a screenshot).
    pub fn sender(&self) -> Sender<Done> {
        self.tx.clone()
    }

    pub fn context(&self) -> egui::Context {
        self.ctx.clone()
    }

    pub fn poll(&self) -> Vec<Done> {
        self.rx.try_iter().collect()
    }
}

/// What a running job watches to stop early.
pub trait CancelFlag: Default + Send + Sync {
    fn cancel(&self);
}

impl CancelFlag for AtomicBool {
    fn cancel(&self) {
        self.store(true, Ordering::Relaxed);
    }
}

impl CancelFlag for LoadProgress {
    fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// A request for a slot's kind of job.
pub trait Request: Clone {
    /// One request doing the work of `self` and of `newer` (asked later), so that requests
    /// piling up while a job stops run once.
    fn merge(self, newer: Self) -> Self;
}

/// The job of a slot that is running: what it was asked, and the flag it watches.
struct Running<R, F> {
    generation: u64,
    request: R,
    flag: Arc<F>,
    cancelled: bool,
}

/// One kind of background job: at most one runs; a newer request cancels it and waits.
pub struct Slot<R, F = AtomicBool> {
    generation: u64,
    running: Option<Running<R, F>>,
    pending: Option<R>,
}

impl<R, F> Default for Slot<R, F> {
    fn default() -> Self {
        Slot { generation: 0, running: None, pending: None }
    }
}

/// A job to start now: the generation its result must carry and the flag it must watch.
pub struct Ticket<R, F> {
    pub generation: u64,
    pub request: R,
    pub flag: Arc<F>,
}

/// What became of a slot when one of its jobs reported.
pub struct Finished<R> {
    /// What that job was asked.
    pub request: R,
    /// False when it was cancelled: its result is stale and must be dropped.
    pub current: bool,
    /// The request that waited for it to stop, to start now.
    pub next: Option<R>,
}

impl<R: Request, F: CancelFlag> Slot<R, F> {
    /// Asks for `request`. Returns it when it can start now; while a job runs, that job is
    /// cancelled (its work is redone as part of the waiting request) and `None` is returned:
    /// the request starts when [`Slot::finish`] hands it back.
    pub fn ask(&mut self, request: R) -> Option<R> {
        let Some(running) = self.running.as_mut() else {
            return Some(request);
        };
        if !running.cancelled {
            running.cancelled = true;
            running.flag.cancel();
            self.pending = Some(running.request.clone());
        }
        self.pending = Some(match self.pending.take() {
            Some(waiting) => waiting.merge(request),
            None => request,
        });
        None
    }

    /// Marks `request` as running and gives what its job needs.
    pub fn start(&mut self, request: R) -> Ticket<R, F> {
        self.generation += 1;
        let flag = Arc::new(F::default());
        self.running = Some(Running {
            generation: self.generation,
            request: request.clone(),
            flag: Arc::clone(&flag),
            cancelled: false,
        });
        Ticket { generation: self.generation, request, flag }
    }

    /// The job could not be started: nothing runs (the caller says why).
    pub fn not_started(&mut self) {
        self.running = None;
    }

    /// Cancels the running job and forgets waiting requests (the person cancelled, or what
    /// they were about is gone).
    pub fn cancel(&mut self) {
        if let Some(running) = self.running.as_mut() {
            running.cancelled = true;
            running.flag.cancel();
        }
        self.pending = None;
    }

    /// A job of this slot reported; `None` when it is not the running one (it cannot be:
    /// one runs at a time).
    pub fn finish(&mut self, generation: u64) -> Option<Finished<R>> {
        if self.running.as_ref().is_none_or(|r| r.generation != generation) {
            return None;
        }
        let running = self.running.take()?;
        Some(Finished { request: running.request, current: !running.cancelled, next: self.pending.take() })
    }

    /// True when nothing runs or waits.
    pub fn is_idle(&self) -> bool {
        self.running.is_none() && self.pending.is_none()
    }

    /// The running job's request and flag, unless it was cancelled.
    pub fn current(&self) -> Option<(&R, &Arc<F>)> {
        self.running.as_ref().filter(|r| !r.cancelled).map(|r| (&r.request, &r.flag))
    }

    /// The request waiting for a cancelled job to stop.
    pub fn waiting(&self) -> Option<&R> {
        self.pending.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Numbers to add up: merging keeps every one, so a lost request shows.
    #[derive(Debug, Clone, PartialEq)]
    struct Sum(Vec<u32>);

    impl Request for Sum {
        fn merge(mut self, newer: Self) -> Self {
            self.0.extend(newer.0);
            self
        }
    }

    #[test]
    fn a_request_while_one_runs_cancels_it_and_waits_collapsed() {
        let mut slot: Slot<Sum> = Slot::default();
        let first = slot.ask(Sum(vec![1])).expect("nothing runs: starts now");
        let ticket = slot.start(first);
        assert!(!slot.is_idle());
        assert_eq!(slot.ask(Sum(vec![2])), None, "waits");
        assert!(ticket.flag.load(Ordering::Relaxed), "the running job was told to stop");
        assert_eq!(slot.ask(Sum(vec![3])), None);
        assert!(slot.current().is_none(), "the running job is cancelled");
        let finished = slot.finish(ticket.generation).expect("the running job");
        assert!(!finished.current, "its result is stale");
        assert_eq!(finished.next, Some(Sum(vec![1, 2, 3])), "one request doing all three");
        let next = slot.start(Sum(vec![1, 2, 3]));
        assert!(!next.flag.load(Ordering::Relaxed));
        assert!(slot.finish(ticket.generation).is_none(), "an old generation is not the running job");
        let finished = slot.finish(next.generation).expect("running");
        assert!(finished.current);
        assert_eq!(finished.next, None);
        assert!(slot.is_idle());
    }

    #[test]
    fn cancel_forgets_waiting_requests_and_a_failed_start_leaves_nothing_busy() {
        let mut slot: Slot<Sum, LoadProgress> = Slot::default();
        let ticket = slot.start(Sum(vec![1]));
        assert_eq!(slot.ask(Sum(vec![2])), None);
        slot.cancel();
        assert!(ticket.flag.cancelled());
        assert!(slot.waiting().is_none());
        let finished = slot.finish(ticket.generation).expect("running");
        assert!(!finished.current && finished.next.is_none());
        assert!(slot.is_idle());
        slot.start(Sum(vec![3]));
        slot.not_started();
        assert!(slot.is_idle());
    }
}
