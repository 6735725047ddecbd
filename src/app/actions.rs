//! What the person's keys, clicks on rows and picked files do: selecting (with the flag
//! notification), jumping between flagged rows, shortcuts and exports.

use std::path::PathBuf;
use std::sync::Arc;

use egui::{Key, KeyboardShortcut, Modifiers};

use super::changes_view::BaselineChoice;
use super::jobs::{Done, ExportError, Pick};
use super::{Hit, Notification, PrParserApp, stats_view};
use crate::analysis::changes::Baseline;
use crate::analysis::{criteria, export, view};

pub(super) const OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const FIND: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);
const COPY: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::C);
const NEXT_FLAGGED: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::F3);
const PREV_FLAGGED: KeyboardShortcut = KeyboardShortcut::new(Modifiers::SHIFT, Key::F3);

impl PrParserApp {
    /// Writes the grid's current rows (filter and sort applied) to a file, in the background.
    pub fn export_view(&mut self, path: PathBuf, json: bool) {
        let (Some(data), view) = (self.data.clone(), Arc::clone(&self.view)) else {
            return;
        };
        let (hosts, columns) = (self.job_hosts(), self.shown_columns());
        let started = self.jobs.spawn("export", move || {
            let result = std::fs::File::create(&path).and_then(|f| {
                let w = std::io::BufWriter::new(f);
                if json {
                    export::write_rows_json(w, &data.set.ports, &hosts, &view)
                } else {
                    export::write_rows_csv(w, &data.set.ports, &hosts, &columns, &view)
                }
            });
            Done::Exported { what: format!("{} rows", view.len()), path, result: result.map_err(ExportError::from) }
        });
        match started {
            Ok(()) => self.exports_pending += 1,
            Err(e) => self.not_started(e),
        }
    }

    pub(super) fn export_stats(&mut self, path: PathBuf) {
        let Some(bundle) = self.stats.clone() else {
            return;
        };
        let (tab, list, hosts) = (self.stats_state.tab, self.stats_state.changes.list, self.job_hosts());
        let started = self.jobs.spawn("export-stats", move || {
            let (header, rows) = stats_view::table_csv(tab, list, &bundle, &hosts);
            let result = std::fs::File::create(&path).and_then(|f| export::write_table_csv(f, &header, rows));
            Done::Exported {
                what: format!("the {} table", tab.title()),
                path,
                result: result.map_err(ExportError::from),
            }
        });
        match started {
            Ok(()) => self.exports_pending += 1,
            Err(e) => self.not_started(e),
        }
    }

    /// The Changes tab's *Set baseline...*: a folder is asked for first; the rows before the
    /// selected row are those before its time.
    pub(super) fn set_baseline(&mut self, choice: BaselineChoice) {
        let baseline = match choice {
            BaselineChoice::Initial => Baseline::Initial,
            BaselineChoice::Folder => return self.pick(Pick::BaselineFolder),
            BaselineChoice::BeforeSelectedRow => {
                let time = self
                    .grid
                    .selected
                    .zip(self.data.as_ref())
                    .and_then(|(row, data)| data.set.ports.events.get(row as usize).map(|e| e.time));
                let Some(time) = time else { return };
                Baseline::Until(time)
            }
        };
        self.stats_state.changes.baseline = baseline;
        self.refresh_stats();
    }

    /// Saves the plot as PNG: the next rendered frame is captured and the plot cut out of it.
    pub(super) fn export_plot(&mut self, path: PathBuf) {
        let Some(rect) = self.stats_state.plot_rect else {
            return;
        };
        self.exports_pending += 1;
        let tx = self.jobs.sender();
        let ctx = self.jobs.context();
        let ppp = ctx.pixels_per_point();
        self.jobs.context().request_screenshot(move |image| {
            let plot = image.region(&rect, Some(ppp));
            let [w, h] = plot.size;
            let rgba: Vec<u8> = plot.pixels.iter().flat_map(|c| c.to_array()).collect();
            let icon = egui::IconData { rgba, width: w as u32, height: h as u32 };
            use eframe::icon_data::IconDataExt;
            let result = icon
                .to_png_bytes()
                .map_err(ExportError::Png)
                .and_then(|png| std::fs::write(&path, png).map_err(ExportError::from));
            let _ = tx.send(Done::Exported { what: "the plot".into(), path, result });
            ctx.request_repaint();
        });
        self.jobs.context().request_repaint();
    }

    /// A row was chosen: a flagged row shows its notification first, then its detail.
    pub(super) fn select(&mut self, row: u32) {
        let flagged = self.evaluation.flagged.get(row as usize).copied().unwrap_or(false);
        if flagged && let Some(data) = &self.data {
            let hosts = self.ui_hosts();
            let ctx =
                criteria::Context { set: &data.set, index: &data.index, row_blocks: &data.row_blocks, hosts: &hosts };
            let compiled = &self.evaluation.compiled;
            let verdict = criteria::explain_row(compiled, &ctx, row as usize);
            let hits = if verdict.flagged() { verdict.flagged_by } else { Vec::new() }
                .into_iter()
                .filter_map(|m| {
                    let c = compiled.source.criteria.get(m.criterion)?;
                    let entry = m.entry.map(|e| e.to_string());
                    Some(Hit { name: c.name.clone(), message: c.message.clone(), entry })
                })
                .collect::<Vec<_>>();
            if !hits.is_empty() {
                self.notification = Some(Notification { row, hits });
                return;
            }
        }
        self.shown_row = Some(row);
    }

    /// Moves the selection to the next (or previous) flagged row of the view, wrapping around.
    pub(super) fn jump_flagged(&mut self, forward: bool) {
        let len = self.view.len();
        if len == 0 {
            return;
        }
        let start = self.grid.selected_pos.unwrap_or(if forward { len - 1 } else { 0 });
        let flagged = |pos: usize| self.evaluation.flagged.get(self.view[pos] as usize).copied().unwrap_or(false);
        let found = (1..=len)
            .map(|k| if forward { (start + k) % len } else { (start + len - k % len) % len })
            .find(|&p| flagged(p));
        match found {
            Some(pos) => {
                let row = self.view[pos];
                self.grid.selected = Some(row);
                self.grid.selected_pos = Some(pos);
                self.grid.reveal(pos);
                self.select(row);
            }
            None => self.no_flagged_notice = true,
        }
    }

    pub(super) fn shortcuts(&mut self, ctx: &egui::Context) {
        // Shift+F3 is consumed before F3 so that it is not also taken as F3.
        let (open, find, copy, prev, next) = ctx.input_mut(|i| {
            (
                i.consume_shortcut(&OPEN),
                i.consume_shortcut(&FIND),
                i.consume_shortcut(&COPY),
                i.consume_shortcut(&PREV_FLAGGED),
                i.consume_shortcut(&NEXT_FLAGGED),
            )
        });
        if open {
            self.pick(Pick::OpenLogs);
        }
        if find {
            self.filters.focus_quick = true;
        }
        if next {
            self.jump_flagged(true);
        }
        if prev {
            self.jump_flagged(false);
        }
        if copy
            && !ctx.egui_wants_keyboard_input()
            && let (Some(data), Some(row)) = (&self.data, self.grid.selected)
            && let Some(e) = data.set.ports.events.get(row as usize)
        {
            ctx.copy_text(view::row_text(&data.set.ports, &self.ui_hosts(), &self.shown_columns(), e));
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        if !dropped.is_empty() {
            self.open(dropped);
        }
    }
}
