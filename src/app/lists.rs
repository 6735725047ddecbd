//! Address lists in the app: choosing a list criterion's file with the file dialog, and
//! reloading lists when their files change on disk.
//!
//! Lists are read by the criteria job, never on the UI thread (a list may hold a million
//! entries): the editor shows what the last evaluation's compilation read. Every
//! [`CHECK_EVERY`] while list criteria are in use, a background job asks whether a list file
//! changed (a `stat` per file); if one did, the criteria are evaluated again, which reloads
//! that file alone.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::PrParserApp;
use super::jobs::{Done, Pick};
use crate::analysis::criteria::{CompiledSet, MatchKind};

/// How often list files are checked for changes.
const CHECK_EVERY: Duration = Duration::from_secs(2);

/// The app's list state: the criterion a list is being chosen for, and the change check.
#[derive(Debug, Default)]
pub(super) struct ListWatch {
    /// The criterion (index in the set) whose list file the open dialog chooses.
    choosing: Option<usize>,
    /// A check is running.
    checking: bool,
    last_check: Option<Instant>,
}

impl PrParserApp {
    /// Opens the file dialog for criterion `index`'s list.
    pub(super) fn choose_list(&mut self, index: usize) {
        self.lists.choosing = Some(index);
        self.pick(Pick::AddressList);
    }

    /// A list file was chosen: the criterion names it by its absolute path (settings keep it
    /// whatever the working directory of the next start), and the criteria are evaluated
    /// again, which reads it.
    pub(super) fn list_chosen(&mut self, path: PathBuf) {
        let Some(index) = self.lists.choosing.take() else {
            return;
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        let Some(c) = self.settings.criteria.criteria.get_mut(index) else {
            return;
        };
        c.kind = MatchKind::List;
        c.pattern = path.display().to_string();
        self.refresh_flags();
    }

    /// Starts a check of the list files when one is due (see the module's docs).
    pub(super) fn watch_lists(&mut self, ctx: &egui::Context) {
        let compiled = Arc::clone(&self.evaluation.compiled);
        if self.data.is_none() || !uses_lists(&compiled) {
            return;
        }
        ctx.request_repaint_after(CHECK_EVERY);
        if self.lists.checking || self.lists.last_check.is_some_and(|t| t.elapsed() < CHECK_EVERY) {
            return;
        }
        self.lists.last_check = Some(Instant::now());
        let started = self.jobs.spawn("list-check", move || {
            let changed = compiled.lists_changed();
            Done::ListsChecked { compiled, changed }
        });
        match started {
            Ok(()) => self.lists.checking = true,
            Err(e) => self.not_started(e),
        }
    }

    /// A check reported: a changed list re-evaluates the criteria, if they are still the ones
    /// checked.
    pub(super) fn lists_checked(&mut self, compiled: &Arc<CompiledSet>, changed: bool) {
        self.lists.checking = false;
        if changed && Arc::ptr_eq(compiled, &self.evaluation.compiled) {
            self.message.say("An address list changed on disk: reloaded".to_string());
            self.refresh_flags();
        }
    }
}

/// Whether an enabled criterion of the set reads a list.
fn uses_lists(compiled: &CompiledSet) -> bool {
    compiled.source.criteria.iter().any(|c| c.enabled && c.kind == MatchKind::List)
}
