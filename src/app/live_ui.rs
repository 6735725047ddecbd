//! The app's side of live capture: the Live menu, taking the thread's batches into the
//! dataset, and the notice about new flagged rows.
//!
//! A batch is parsed on the live thread; taking it in ([`Dataset::append`]) costs the new rows
//! only and happens on the UI thread, between frames' work, when no job holds the dataset
//! (`Arc::get_mut`): a job reading it meanwhile sees a consistent set, and nothing is copied.
//! Until then batches wait. The criteria then run on the new rows and the new rows are merged
//! into the grid's view, each as a job ([`crate::analysis::criteria::evaluate_rows`],
//! [`crate::analysis::view::extend`]); the
//! statistics are recomputed over the grown view, as a job too, when their tab is shown.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use egui::RichText;

use super::PrParserApp;
use super::handling::{FlagsRequest, ViewRequest};
use super::jobs::Pick;
use super::live::{self, Live, LiveMsg};
use crate::analysis::criteria::Field;
use crate::analysis::dataset::Dataset;
use crate::logs::follow::{FollowBatch, FollowNote};
use crate::logs::set::LogSet;

/// How soon to try again to take batches in while a job holds the dataset.
const RETRY: Duration = Duration::from_millis(30);

/// New flagged rows not yet looked at.
struct Alert {
    count: usize,
    first_row: u32,
}

#[derive(Default)]
pub struct LiveState {
    session: Option<Live>,
    pending: Vec<FollowBatch>,
    /// The latest note from the files or the collector.
    note: Option<String>,
    alert: Option<Alert>,
}

impl LiveState {
    /// True when nothing waits to be taken in.
    pub fn idle(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn stop(&mut self) {
        self.session = None;
        self.pending.clear();
    }

    /// Counts new flagged rows into the notice (opening it at `first_row` if closed).
    pub(super) fn alert_new_flags(&mut self, first_row: u32, count: usize) {
        let alert = self.alert.get_or_insert(Alert { count: 0, first_row });
        alert.count += count;
    }
}

impl PrParserApp {
    /// Shows the rows of a log folder as they are written: the folder's PORTS files from the
    /// oldest on, then what is appended and the files rotation starts.
    pub fn follow_folder(&mut self, folder: PathBuf) {
        let session = Live::follow(folder.clone(), self.jobs.context());
        self.start_live(folder, session);
    }

    /// Runs the collector on this machine into `folder` and shows what it logs.
    pub fn capture_into(&mut self, folder: PathBuf) {
        let session = Live::capture(folder.clone(), self.jobs.context());
        self.start_live(folder, session);
    }

    pub fn stop_live(&mut self) {
        if self.live.session.is_some() {
            self.message.say("Live capture stopped".into());
        }
        self.live.session = None;
    }

    /// The number of new flagged rows the notice shows, if it is shown.
    pub fn live_alert(&self) -> Option<usize> {
        self.live.alert.as_ref().map(|a| a.count)
    }

    fn start_live(&mut self, folder: PathBuf, session: Result<Live, String>) {
        match session {
            Ok(session) => {
                self.work.load.cancel();
                self.error = None;
                self.live.stop();
                self.live.session = Some(session);
                self.show_data(Arc::new(Dataset::from_set(vec![folder], LogSet::default())));
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Takes in what the live thread sent (each frame).
    pub(super) fn live_frame(&mut self, ctx: &egui::Context) {
        if let Some(session) = &self.live.session {
            for msg in session.take() {
                match msg {
                    LiveMsg::Batch(batch) => {
                        for note in &batch.notes {
                            // Rows read twice or a file gone are worth saying in the open.
                            if !matches!(note, FollowNote::Started(_) | FollowNote::Rotated { .. }) {
                                self.message.say(note.to_string());
                            }
                            self.live.note = Some(note.to_string());
                        }
                        self.live.pending.push(*batch);
                    }
                    LiveMsg::Note(text) => self.live.note = Some(text),
                }
            }
        }
        if self.live.pending.is_empty() {
            return;
        }
        let free = self.work.dataset_free();
        let Some(data) = self.data.as_mut().and_then(|d| if free { Arc::get_mut(d) } else { None }) else {
            ctx.request_repaint_after(RETRY);
            return;
        };
        let first = data.set.ports.events.len();
        let mut relinked = false;
        for batch in self.live.pending.drain(..) {
            match data.append(batch) {
                Ok(appended) => relinked |= !appended.relinked.is_empty(),
                Err(e) => self.message.say(format!("Live rows not added: {e}")),
            }
        }
        let added = first..data.set.ports.events.len();
        let uses_blocks = self.settings.criteria.criteria.iter().any(|c| c.enabled && c.field == Field::ModulePath);
        if relinked && uses_blocks {
            // Rows whose process block came late may now match: evaluate everything again.
            self.refresh_flags();
        } else if !added.is_empty() {
            self.request_flags(FlagsRequest::Rows(added.clone()));
        }
        if !added.is_empty() {
            self.request_view(ViewRequest::Extend(added));
            self.request_names();
            self.locate_places();
        }
    }

    pub(super) fn live_menu(&mut self, ui: &mut egui::Ui) {
        if ui.button("Follow a log folder...").clicked() {
            self.pick(Pick::FollowFolder);
        }
        if ui.button("Capture this machine").on_hover_text("Runs the collector here and shows what it logs").clicked() {
            match live::capture_folder() {
                Some(folder) => self.capture_into(folder),
                None => self.error = Some("no capture folder: neither XDG_DATA_HOME nor HOME is set".into()),
            }
        }
        if ui.add_enabled(self.live.session.is_some(), egui::Button::new("Stop live")).clicked() {
            self.stop_live();
        }
    }

    pub(super) fn live_status(&self, ui: &mut egui::Ui) {
        let Some(session) = &self.live.session else {
            return;
        };
        ui.separator();
        let what = if session.capturing() { "capturing into" } else { "following" };
        let label = ui.label(RichText::new(format!("Live: {what} {}", session.folder().display())).strong());
        if let Some(note) = &self.live.note {
            label.on_hover_text(note);
        }
    }

    /// The non-modal notice about new flagged rows.
    pub(super) fn live_alert_ui(&mut self, ctx: &egui::Context) {
        let Some(alert) = &self.live.alert else {
            return;
        };
        let (count, row) = (alert.count, alert.first_row);
        let (mut go, mut dismiss) = (false, false);
        egui::Window::new("New flagged rows").collapsible(false).resizable(false).show(ctx, |ui| {
            let text =
                if count == 1 { "1 new row is flagged".to_string() } else { format!("{count} new rows are flagged") };
            ui.label(RichText::new(text).color(super::grid::FLAGGED));
            ui.horizontal(|ui| {
                go = ui.button("Go to first").clicked();
                dismiss = ui.button("Dismiss").clicked();
            });
        });
        if go {
            self.live.alert = None;
            match self.view.iter().position(|&r| r == row) {
                Some(pos) => {
                    self.grid.selected = Some(row);
                    self.grid.selected_pos = Some(pos);
                    self.grid.reveal(pos);
                    self.select(row);
                }
                None => self.message.say("The first new flagged row is hidden by the filter.".into()),
            }
        }
        if dismiss {
            self.live.alert = None;
        }
    }
}
