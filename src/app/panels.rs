//! The window's fixed parts: the menu bar, the status bar, the malformed-lines and detail
//! panels, and the tab in the middle (grid, statistics, INITIAL log).

use std::sync::atomic::Ordering;

use egui::RichText;

use super::actions::OPEN;
use super::handling::LoadRequest;
use super::jobs::Pick;
use super::numbers::thousands;
use super::{PrParserApp, Tab, criteria_editor, default_paths, detail, grid, initial_view, stats_view};
use crate::analysis::view::{Column, Sort};
use crate::logs::text::LineIssue;

/// Malformed lines and warnings listed in the panel, each (the count in the status bar stays
/// exact).
const MALFORMED_LISTED: usize = 10_000;

impl PrParserApp {
    pub(super) fn panels_ui(&mut self, ui: &mut egui::Ui) {
        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        if self.open.malformed {
            egui::Panel::bottom("malformed").resizable(true).default_size(160.0).show(ui, |ui| self.malformed_ui(ui));
        }
        if self.settings.show_detail
            && self.tab == Tab::Grid
            && let (Some(row), Some(data)) = (self.shown_row, self.data.clone())
        {
            egui::Panel::right("detail").resizable(true).default_size(420.0).show(ui, |ui| {
                detail::detail_ui(ui, &mut self.detail, &data, row);
            });
        }
        egui::CentralPanel::default().show(ui, |ui| self.central_ui(ui));
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| self.file_menu(ui));
            ui.menu_button("View", |ui| self.view_menu(ui));
            ui.menu_button("Live", |ui| self.live_menu(ui));
            if ui.button("Criteria...").clicked() {
                self.open.criteria = true;
            }
            ui.separator();
            for (tab, title) in [(Tab::Grid, "Grid"), (Tab::Statistics, "Statistics"), (Tab::Initial, "INITIAL log")] {
                if ui.selectable_label(self.tab == tab, title).clicked() {
                    self.tab = tab;
                }
            }
            ui.separator();
            let label = ui.label("Filter");
            let filter = ui
                .add(
                    egui::TextEdit::singleline(&mut self.filters.quick)
                        .hint_text("any column (Ctrl+F)")
                        .desired_width(240.0)
                        .id(egui::Id::unique("quick-filter")),
                )
                .labelled_by(label.id);
            if self.filters.focus_quick {
                filter.request_focus();
                self.filters.focus_quick = false;
            }
            if filter.changed() {
                self.refresh_view();
            }
            if ui.button("< Flagged").on_hover_text("Previous flagged row (Shift+F3)").clicked() {
                self.jump_flagged(false);
            }
            if ui.button("Flagged >").on_hover_text("Next flagged row (F3)").clicked() {
                self.jump_flagged(true);
            }
        });
        if let Some(drill) = &self.filters.drill {
            let label = format!("Grid filtered to {}", drill.label());
            let mut clear = false;
            ui.horizontal(|ui| {
                ui.label(RichText::new(label).strong());
                clear = ui.button("Clear").on_hover_text("Show all rows again").clicked();
            });
            if clear {
                self.filters.drill = None;
                self.refresh_view();
            }
        }
        self.range_chip_ui(ui);
        if self.filters.show_columns {
            let mut changed = false;
            ui.horizontal(|ui| {
                let shown = Column::shown(self.geo.geo.is_some());
                for (c, text) in
                    Column::ALL.iter().zip(self.filters.columns.iter_mut()).filter(|(c, _)| shown.contains(c))
                {
                    changed |=
                        ui.add(egui::TextEdit::singleline(text).hint_text(c.title()).desired_width(110.0)).changed();
                }
            });
            if changed {
                self.refresh_view();
            }
        }
    }

    fn file_menu(&mut self, ui: &mut egui::Ui) {
        if ui.add(egui::Button::new("Open logs...").shortcut_text(ui.ctx().format_shortcut(&OPEN))).clicked() {
            self.pick(Pick::OpenLogs);
        }
        if ui.button("Open folder...").clicked() {
            self.pick(Pick::OpenFolder);
        }
        if ui.button("Open from ClickHouse...").clicked() {
            self.show_clickhouse_window();
        }
        if ui.button("Open sample logs").clicked() {
            self.open(default_paths());
        }
        ui.separator();
        if ui.button("Export view as CSV...").clicked() {
            self.pick(Pick::ExportCsv);
        }
        if ui.button("Export view as JSON...").clicked() {
            self.pick(Pick::ExportJson);
        }
        ui.separator();
        ui.menu_button("Recent", |ui| {
            let mut chosen = None;
            for paths in &self.settings.recent {
                let label = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
                if ui.button(label).clicked() {
                    chosen = Some(paths.clone());
                }
            }
            if self.settings.recent.is_empty() {
                ui.label("No recent logs");
            }
            if let Some(paths) = chosen {
                self.open(paths);
            }
        });
    }

    fn view_menu(&mut self, ui: &mut egui::Ui) {
        if ui.checkbox(&mut self.settings.dark, "Dark theme").changed() {
            ui.ctx().set_theme(if self.settings.dark { egui::Theme::Dark } else { egui::Theme::Light });
        }
        ui.checkbox(&mut self.settings.show_timeline, "Timeline");
        ui.checkbox(&mut self.filters.show_columns, "Column filters");
        ui.checkbox(&mut self.open.malformed, "Malformed lines");
        ui.checkbox(&mut self.settings.show_detail, "Detail panel");
        ui.separator();
        let mut resolve = self.settings.resolve_dns;
        if ui
            .checkbox(&mut resolve, "Resolve remote IPs")
            .on_hover_text("Reverse DNS of remote addresses. Off by default: lookups tell the DNS server which addresses this log holds.")
            .changed()
        {
            self.set_resolve_dns(resolve);
        }
        if ui.button("GeoIP databases...").clicked() {
            self.geo.window = true;
        }
        if ui.button("DNS server...").clicked() {
            self.open.dns_server = true;
            self.names.server_text = self.settings.dns_server.clone();
            self.names.server_problem = None;
        }
        ui.separator();
        ui.checkbox(&mut self.settings.builtin_file_dialog, "Use built-in file dialog").on_hover_text(
            "The app's own file dialog, even where the desktop has one (some desktop dialogs cannot see hidden folders or network mounts).",
        );
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if self.loading_ui(ui) {
                return;
            }
            let Some(data) = &self.data else {
                ui.label("No logs loaded");
                return;
            };
            let log = &data.set.ports;
            ui.label(format!("Rows loaded: {}", thousands(log.events.len() as u64)));
            self.clickhouse_status(ui);
            ui.separator();
            ui.label(format!("Rows shown: {}", thousands(self.view.len() as u64)));
            ui.separator();
            let flagged = thousands(self.evaluation.flagged_rows as u64);
            ui.label(RichText::new(format!("Rows flagged: {flagged}")).color(grid::FLAGGED));
            criteria_editor::allowed_status(ui, &self.evaluation, &self.settings.criteria);
            if self.settings.criteria.criteria.is_empty()
                && ui
                    .link("No criteria yet")
                    .on_hover_text("Criteria flag rows in red: add some, or load the examples")
                    .clicked()
            {
                self.open.criteria = true;
            }
            ui.separator();
            if ui.link(format!("Malformed lines: {}", thousands(log.malformed.count()))).clicked() {
                self.open.malformed = !self.open.malformed;
            }
            let warnings = data.set.warnings().count();
            if warnings > 0 {
                ui.separator();
                if ui.link(format!("Warnings: {}", thousands(warnings as u64))).clicked() {
                    self.open.malformed = !self.open.malformed;
                }
            }
            if !self.work.view.is_idle() || !self.work.flags.is_idle() || !self.work.stats.is_idle() {
                ui.separator();
                ui.spinner();
            }
            self.live_status(ui);
            if self.no_flagged_notice {
                ui.separator();
                ui.label("No flagged rows in this view.");
            }
            let now = ui.input(|i| i.time);
            if let Some((note, left)) = self.message.shown_at(now) {
                ui.separator();
                ui.label(note);
                ui.ctx().request_repaint_after(std::time::Duration::from_secs_f64(left));
            }
        });
    }

    /// The progress of a load, with Cancel; false when nothing is loading.
    fn loading_ui(&mut self, ui: &mut egui::Ui) -> bool {
        if let Some((LoadRequest::ClickHouse(server), p)) = self.work.load.current() {
            let expected = p.rows_expected.load(Ordering::Relaxed);
            let rows = p.rows.load(Ordering::Relaxed);
            ui.spinner();
            ui.add(egui::ProgressBar::new((rows as f32 / expected.max(1) as f32).min(1.0)).desired_width(240.0).text(
                format!("Loading from {}: {} of {} rows", server.source(), thousands(rows), thousands(expected)),
            ));
        } else if let Some((_, p)) = self.work.load.current() {
            let total = p.bytes_total.load(Ordering::Relaxed).max(1);
            let done = p.bytes_done.load(Ordering::Relaxed);
            let rows = p.rows.load(Ordering::Relaxed);
            ui.spinner();
            ui.add(egui::ProgressBar::new((done as f32 / total as f32).min(1.0)).desired_width(240.0).text(format!(
                "Loading: {} MB of {} MB, {} rows",
                thousands(done >> 20),
                thousands(total >> 20),
                thousands(rows)
            )));
        } else if self.work.load.waiting().is_some() {
            ui.spinner();
            ui.label("Loading: waiting for the cancelled load to stop");
        } else {
            return false;
        }
        if ui.button("Cancel").clicked() {
            self.cancel_load();
        }
        true
    }

    fn malformed_ui(&mut self, ui: &mut egui::Ui) {
        let Some(data) = &self.data else {
            return;
        };
        let log = &data.set.ports;
        ui.horizontal(|ui| {
            ui.strong(format!("Malformed lines: {}", log.malformed.count()));
            if ui.button("Close").clicked() {
                self.open.malformed = false;
            }
        });
        // Only the lines in view are formatted: the list may hold twenty thousand.
        let malformed = &log.malformed[..log.malformed.len().min(MALFORMED_LISTED)];
        let warnings = data.set.warnings().take(MALFORMED_LISTED).count();
        egui::ScrollArea::vertical().id_salt("malformed-list").auto_shrink([false, false]).show_rows(
            ui,
            grid::ROW_HEIGHT,
            malformed.len() + warnings,
            |ui, range| {
                let shown_malformed = malformed.get(range.start.min(malformed.len())..range.end.min(malformed.len()));
                for m in shown_malformed.unwrap_or(&[]) {
                    ui.label(RichText::new(malformed_text(m)).monospace());
                }
                let skip = range.start.saturating_sub(malformed.len());
                let take = range.end.saturating_sub(malformed.len().max(range.start));
                for w in data.set.warnings().skip(skip).take(take) {
                    ui.label(RichText::new(format!("warning: {w}")).monospace());
                }
            },
        );
    }

    fn central_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(err) = &self.error {
            let dismissed = ui
                .horizontal(|ui| {
                    let dismiss = ui.button("Dismiss").on_hover_text("Hide this error").clicked();
                    ui.add(egui::Label::new(RichText::new(err).color(grid::FLAGGED)).wrap());
                    dismiss
                })
                .inner;
            if dismissed {
                self.error = None;
            }
        }
        match self.tab {
            Tab::Grid => self.grid_tab(ui),
            Tab::Statistics => self.stats_tab(ui),
            Tab::Initial => {
                if let Some(data) = self.data.clone() {
                    let flags = &self.evaluation.initial_flags;
                    initial_view::initial_ui(ui, &mut self.initial, &data.set.initials, flags);
                }
            }
        }
    }

    fn stats_tab(&mut self, ui: &mut egui::Ui) {
        if self.data.is_none() {
            return;
        }
        self.stats_wanted();
        let bundle = self.stats.clone();
        let selected = self.grid.selected.is_some();
        let hosts = self.ui_hosts();
        let events = stats_view::stats_ui(ui, &mut self.stats_state, bundle.as_deref(), &hosts, selected);
        // The Changes tab reads every row, so its lists are computed only once it is shown.
        let changes_missing = bundle.as_ref().is_some_and(|b| b.changes.is_none());
        if events.process_changed
            || (self.stats_state.tab == stats_view::StatsTab::Changes && changes_missing && self.work.stats.is_idle())
        {
            self.refresh_stats();
        }
        if let Some(choice) = events.baseline {
            self.set_baseline(choice);
        }
        if let Some(drill) = events.drill {
            self.filters.drill = Some(drill);
            self.tab = Tab::Grid;
            self.refresh_view();
        }
        if events.export_csv {
            self.pick(Pick::ExportStatsCsv);
        }
        if events.export_png {
            self.pick(Pick::ExportPlotPng);
        }
    }

    fn grid_tab(&mut self, ui: &mut egui::Ui) {
        let Some(data) = self.data.clone() else {
            if self.work.load_is_idle() {
                ui.vertical_centered(|ui| {
                    ui.add_space(40.0);
                    ui.heading("Open a Port Reporter log");
                    ui.label("File > Open (Ctrl+O), or drop PR-PORTS, PR-PIDS or PR-INITIAL logs or a folder here.");
                });
            }
            return;
        };
        if self.settings.show_timeline {
            self.timeline_ui(ui);
        }
        let (hosts, columns) = (self.ui_hosts(), self.shown_columns());
        let input = grid::GridInput {
            log: &data.set.ports,
            hosts: &hosts,
            columns: &columns,
            view: &self.view,
            flagged: &self.evaluation.flagged,
            sort: self.settings.sort,
        };
        let events = grid::grid_ui(ui, &mut self.grid, &input);
        if let Some(text) = events.copy {
            ui.ctx().copy_text(text);
        }
        if let Some(column) = events.sort {
            self.settings.sort = match self.settings.sort {
                Some(Sort { column: c, descending: false }) if c == column => Some(Sort { column, descending: true }),
                Some(Sort { column: c, descending: true }) if c == column => None,
                _ => Some(Sort { column, descending: false }),
            };
            self.refresh_view();
        }
        if let Some((_, row)) = events.selected {
            self.select(row);
        }
    }
}

/// One malformed line as the panel lists it: where, why, and what it held.
fn malformed_text(m: &LineIssue) -> String {
    format!("{}:{}: {} - {}", m.file.display(), m.line, m.reason, m.excerpt)
}
