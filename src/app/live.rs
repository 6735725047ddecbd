//! Live capture: a background thread follows a log folder (or runs the collector into one and
//! follows that) and sends each poll's new rows to the UI over a channel. The UI never waits
//! on it: it takes what has arrived when it draws. Stopping drops the thread's stop channel,
//! which wakes it at once from its wait between polls; it then ends on its own (a poll in
//! progress takes milliseconds), closing the collector's files.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use crate::collector::folder::LogFolder;
use crate::collector::writer::{Format, LogWriter, WriterOptions};
use crate::collector::{Backend, Collector, SystemClock, SystemSource, host};
use crate::logs::follow::{FollowBatch, Follower, Start};

/// How often the folder is polled (the collector's default interval too).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Size limit of the capture's files before rotation (the collector's default).
const CAPTURE_MAX_BYTES: u64 = 5000 * 1024;

/// What the thread reports.
pub enum LiveMsg {
    Batch(Box<FollowBatch>),
    /// Something to show in the status bar (the collector's notices).
    Note(String),
}

/// A running live session.
pub struct Live {
    folder: PathBuf,
    capturing: bool,
    rx: Receiver<LiveMsg>,
    /// Dropped to stop the thread.
    _stop: Sender<()>,
}

impl Live {
    /// Follows `folder`: its oldest PORTS file from the start, then the newer ones.
    pub fn follow(folder: PathBuf, ctx: egui::Context) -> Result<Live, String> {
        if !folder.is_dir() {
            return Err(format!("{} is not a folder", folder.display()));
        }
        let (tx, rx) = channel();
        let (stop, stop_rx) = channel();
        let follower = Follower::new(&folder, Start::Oldest);
        spawn("live-follow", move || {
            let mut run = Running { follower: Some(follower), tx, ctx };
            loop {
                let more = run.forward();
                if !run.wait(&stop_rx, more) {
                    return;
                }
            }
        })?;
        Ok(Live { folder, capturing: false, rx, _stop: stop })
    }

    /// Runs the collector on this machine, writing the three logs into `folder` (created 0700
    /// if missing, resolved as the collector's own folder: see `collector::folder`), and
    /// follows what it writes.
    pub fn capture(folder: PathBuf, ctx: egui::Context) -> Result<Live, String> {
        let storage = LogFolder::open_with_mode(&folder, 0o700).map_err(|e| e.to_string())?;
        let source = SystemSource::open(Backend::Netlink)
            .or_else(|_| SystemSource::open(Backend::Procfs))
            .map_err(|e| format!("cannot read the socket tables: {e}"))?;
        let options = WriterOptions { format: Format::Text, max_bytes: CAPTURE_MAX_BYTES, header: host::log_header() };
        let (tx, rx) = channel();
        let (stop, stop_rx) = channel();
        let at = folder.clone();
        spawn("live-capture", move || {
            let mut writer = LogWriter::new(storage, options);
            let mut collector = Collector::new(source, SystemClock);
            let mut run = Running { follower: None, tx, ctx };
            loop {
                match collector.poll() {
                    Ok(batch) => {
                        for notice in writer.write(&batch) {
                            run.note(notice.to_string());
                        }
                    }
                    Err(e) => run.note(format!("capture: {e}; this poll was skipped")),
                }
                if run.follower.is_none() {
                    // Follow the set this run writes (the folder may hold older ones).
                    let ports = writer.current_files().into_iter().find(|n| n.starts_with("PR-PORTS-"));
                    run.follower = ports.map(|name| Follower::from_file(&at.join(name)));
                }
                let more = run.forward();
                if !run.wait(&stop_rx, more) {
                    break;
                }
            }
            for notice in writer.close() {
                run.note(notice.to_string());
            }
        })?;
        Ok(Live { folder, capturing: true, rx, _stop: stop })
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    pub fn capturing(&self) -> bool {
        self.capturing
    }

    /// What arrived since the last call.
    pub fn take(&self) -> Vec<LiveMsg> {
        self.rx.try_iter().collect()
    }
}

/// `$XDG_DATA_HOME/prparser/capture`, by default `~/.local/share/prparser/capture`.
pub fn capture_folder() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".local/share")))?;
    Some(data.join("prparser").join("capture"))
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<(), String> {
    std::thread::Builder::new()
        .name(format!("prparser-{name}"))
        .spawn(work)
        .map(|_| ())
        .map_err(|e| format!("cannot start a thread: {e}"))
}

/// The thread's side.
struct Running {
    follower: Option<Follower>,
    tx: Sender<LiveMsg>,
    ctx: egui::Context,
}

impl Running {
    /// Polls the follower and sends what it found; true when more is waiting.
    fn forward(&mut self) -> bool {
        let Some(follower) = self.follower.as_mut() else {
            return false;
        };
        let batch = follower.poll();
        let more = batch.more;
        if !batch.is_empty() {
            let _ = self.tx.send(LiveMsg::Batch(Box::new(batch)));
            self.ctx.request_repaint();
        }
        more
    }

    fn note(&self, text: String) {
        let _ = self.tx.send(LiveMsg::Note(text));
        self.ctx.request_repaint();
    }

    /// Waits for the next poll; false when the session was stopped (or the app is gone).
    fn wait(&self, stop: &Receiver<()>, more: bool) -> bool {
        let wait = if more { Duration::ZERO } else { POLL_INTERVAL };
        match stop.recv_timeout(wait) {
            Err(RecvTimeoutError::Timeout) => true,
            Ok(()) | Err(RecvTimeoutError::Disconnected) => false,
        }
    }
}
