//! Background work and its results. Everything slow — loading, filtering, sorting, criteria,
//! file dialogs — runs on its own thread (the heavy parts on rayon's pool) and reports back
//! over a channel; each finished job wakes the UI with `request_repaint`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};

use crate::analysis::criteria::{CriteriaSet, Evaluation};
use crate::analysis::dataset::Dataset;

/// A finished job. Results carry the generation they were asked for; the app drops stale ones
/// (a newer filter was typed while an older one was still running).
pub enum Done {
    Loaded {
        generation: u64,
        result: Result<Arc<Dataset>, String>,
    },
    View {
        generation: u64,
        rows: Vec<u32>,
    },
    Flags {
        generation: u64,
        evaluation: Evaluation,
    },
    /// Criteria over rows a live session added, from row `first` on.
    LiveFlags {
        generation: u64,
        first: usize,
        evaluation: Evaluation,
    },
    /// The view with rows a live session added merged in.
    LiveView {
        generation: u64,
        rows: Vec<u32>,
    },
    /// Paths picked in a file dialog, and what for.
    Picked {
        purpose: Pick,
        paths: Vec<PathBuf>,
    },
    CriteriaLoaded {
        path: PathBuf,
        result: Result<CriteriaSet, String>,
    },
    CriteriaSaved {
        path: PathBuf,
        result: Result<(), String>,
    },
    Stats {
        generation: u64,
        bundle: Box<crate::app::stats_view::StatsBundle>,
    },
    /// Something could not even start (a thread); shown as an error.
    Failed(String),
    /// A file was written (an export); `what` says what, for the status bar.
    Exported {
        what: String,
        path: PathBuf,
        result: Result<(), String>,
    },
}

/// Why a file dialog was opened.
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
}

pub struct Jobs {
    tx: Sender<Done>,
    rx: Receiver<Done>,
    ctx: egui::Context,
}

impl Jobs {
    pub fn new(ctx: egui::Context) -> Jobs {
        let (tx, rx) = channel();
        Jobs { tx, rx, ctx }
    }

    /// Runs `work` on a new thread; its result arrives through [`Jobs::poll`].
    pub fn spawn(&self, name: &str, work: impl FnOnce() -> Done + Send + 'static) {
        let tx = self.tx.clone();
        let ctx = self.ctx.clone();
        let spawned = std::thread::Builder::new().name(format!("prparser-{name}")).spawn(move || {
            let done = work();
            // The app may have closed; nothing to report then.
            let _ = tx.send(done);
            ctx.request_repaint();
        });
        if let Err(e) = spawned {
            let _ =
                self.tx.send(Done::Loaded { generation: u64::MAX, result: Err(format!("cannot start a thread: {e}")) });
        }
    }

    /// Runs `work` on a new thread that reports nothing back.
    pub fn spawn_detached(&self, name: &str, work: impl FnOnce() + Send + 'static) {
        if let Err(e) = std::thread::Builder::new().name(format!("prparser-{name}")).spawn(work) {
            let _ = self.tx.send(Done::Failed(format!("cannot start a thread: {e}")));
        }
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
