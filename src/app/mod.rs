//! The desktop app. It draws from the core's structures (a shared, read-only [`Dataset`]) and
//! never parses or blocks a frame: loading, filtering, sorting, criteria and file dialogs run
//! as [`jobs`] and report back.

pub mod criteria_editor;
pub mod detail;
pub mod grid;
pub mod jobs;
pub mod settings;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use egui::{Key, KeyboardShortcut, Modifiers, RichText};

use crate::analysis::criteria::{self, Evaluation};
use crate::analysis::dataset::Dataset;
use crate::analysis::dns::DnsCache;
use crate::analysis::view::{self, Column, Filter, Sort};
use crate::logs::ports::LoadProgress;
use grid::{GridInput, GridState};
use jobs::{Done, Jobs, Pick};
use settings::Settings;

const OPEN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
const FIND: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);
const COPY: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::C);
const NEXT_FLAGGED: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::F3);
const PREV_FLAGGED: KeyboardShortcut = KeyboardShortcut::new(Modifiers::SHIFT, Key::F3);

/// Malformed lines listed in the panel (the count in the status bar stays exact).
const MALFORMED_LISTED: usize = 10_000;

struct Loading {
    progress: Arc<LoadProgress>,
    paths: Vec<PathBuf>,
}

/// The notification shown before a flagged row's detail: each matching criterion's name and
/// message, as Port Reporter Parser did.
struct Notification {
    row: u32,
    hits: Vec<(String, String)>,
}

pub struct PrParserApp {
    settings: Settings,
    jobs: Jobs,
    dns: Arc<DnsCache>,
    load_generation: u64,
    loading: Option<Loading>,
    data: Option<Arc<Dataset>>,
    error: Option<String>,
    view: Arc<Vec<u32>>,
    view_generation: u64,
    view_busy: bool,
    evaluation: Arc<Evaluation>,
    eval_generation: u64,
    eval_busy: bool,
    grid: GridState,
    detail: detail::DetailState,
    quick_filter: String,
    column_filters: Vec<String>,
    show_column_filters: bool,
    focus_filter: bool,
    notification: Option<Notification>,
    /// The row whose detail is shown (after any notification was acknowledged).
    shown_row: Option<u32>,
    criteria_open: bool,
    malformed_open: bool,
    message: Option<String>,
}

/// The bundled sample logs: beside the working directory when run with `cargo run`, else
/// where the crate was built.
pub fn default_paths() -> Vec<PathBuf> {
    let local = PathBuf::from("sample-logs");
    if local.is_dir() {
        return vec![local];
    }
    vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs")]
}

impl PrParserApp {
    /// The app as eframe starts it: settings from storage, then the given paths, else the
    /// most recent ones, else the sample logs.
    pub fn new(cc: &eframe::CreationContext<'_>, paths: Vec<PathBuf>) -> PrParserApp {
        let settings: Settings = cc.storage.and_then(|s| eframe::get_value(s, Settings::KEY)).unwrap_or_default();
        PrParserApp::with_settings(cc.egui_ctx.clone(), settings, paths)
    }

    pub fn with_settings(ctx: egui::Context, settings: Settings, paths: Vec<PathBuf>) -> PrParserApp {
        ctx.set_theme(if settings.dark { egui::Theme::Dark } else { egui::Theme::Light });
        let paths = if !paths.is_empty() {
            paths
        } else {
            settings.recent.first().filter(|r| r.iter().all(|p| p.exists())).cloned().unwrap_or_else(default_paths)
        };
        let mut app = PrParserApp {
            jobs: Jobs::new(ctx),
            dns: Arc::new(DnsCache::default()),
            load_generation: 0,
            loading: None,
            data: None,
            error: None,
            view: Arc::new(Vec::new()),
            view_generation: 0,
            view_busy: false,
            evaluation: Arc::new(Evaluation::default()),
            eval_generation: 0,
            eval_busy: false,
            grid: GridState::default(),
            detail: detail::DetailState::default(),
            quick_filter: String::new(),
            column_filters: vec![String::new(); Column::ALL.len()],
            show_column_filters: false,
            focus_filter: false,
            notification: None,
            shown_row: None,
            criteria_open: false,
            malformed_open: false,
            message: None,
            settings,
        };
        app.open(paths);
        app
    }

    /// True when no job is running: the tests wait for this.
    pub fn is_idle(&self) -> bool {
        self.loading.is_none() && !self.view_busy && !self.eval_busy
    }

    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        self.data.as_ref()
    }

    /// Starts loading `paths` in the background (a running load is cancelled).
    pub fn open(&mut self, paths: Vec<PathBuf>) {
        if let Some(old) = self.loading.take() {
            old.progress.cancel.store(true, Ordering::Relaxed);
        }
        self.load_generation += 1;
        let generation = self.load_generation;
        let progress = Arc::new(LoadProgress::default());
        self.loading = Some(Loading { progress: Arc::clone(&progress), paths: paths.clone() });
        self.error = None;
        self.jobs.spawn("load", move || Done::Loaded {
            generation,
            result: Dataset::open(&paths, &progress).map(Arc::new).map_err(|e| e.to_string()),
        });
    }

    fn filter(&self) -> Filter {
        Filter {
            quick: self.quick_filter.clone(),
            columns: Column::ALL.iter().copied().zip(self.column_filters.iter().cloned()).collect(),
        }
    }

    /// Recomputes the grid's rows (filter and sort) in the background.
    fn refresh_view(&mut self) {
        let Some(data) = self.data.clone() else {
            return;
        };
        self.view_generation += 1;
        let generation = self.view_generation;
        let filter = self.filter();
        let sort = self.settings.sort;
        let dns = Arc::clone(&self.dns);
        self.view_busy = true;
        self.jobs
            .spawn("view", move || Done::View { generation, rows: view::build(&data.set.ports, &*dns, &filter, sort) });
    }

    /// Re-evaluates the criteria over all rows in the background.
    fn refresh_flags(&mut self) {
        let Some(data) = self.data.clone() else {
            return;
        };
        self.eval_generation += 1;
        let generation = self.eval_generation;
        let criteria = self.settings.criteria.clone();
        let dns = Arc::clone(&self.dns);
        self.eval_busy = true;
        self.jobs.spawn("criteria", move || {
            let ctx =
                criteria::Context { set: &data.set, index: &data.index, row_blocks: &data.row_blocks, hosts: &*dns };
            Done::Flags { generation, evaluation: criteria::evaluate(&criteria, &ctx) }
        });
    }

    fn handle(&mut self, done: Done) {
        match done {
            Done::Loaded { generation, result } if generation == self.load_generation => {
                let paths = self.loading.take().map(|l| l.paths).unwrap_or_default();
                match result {
                    Ok(data) => {
                        self.settings.remember(&paths);
                        self.data = Some(data);
                        self.grid = GridState::default();
                        self.shown_row = None;
                        self.notification = None;
                        self.view = Arc::new(Vec::new());
                        self.evaluation = Arc::new(Evaluation::default());
                        self.refresh_view();
                        self.refresh_flags();
                    }
                    Err(e) if e == crate::error::LogError::Cancelled.to_string() => {}
                    Err(e) => self.error = Some(e),
                }
            }
            Done::Loaded { .. } => {}
            Done::View { generation, rows } if generation == self.view_generation => {
                self.view_busy = false;
                self.grid.selected_pos = self.grid.selected.and_then(|s| rows.iter().position(|&r| r == s));
                self.view = Arc::new(rows);
                if let Some(pos) = self.grid.selected_pos {
                    self.grid.reveal(pos);
                }
            }
            Done::View { .. } => {}
            Done::Flags { generation, evaluation } if generation == self.eval_generation => {
                self.eval_busy = false;
                self.evaluation = Arc::new(evaluation);
            }
            Done::Flags { .. } => {}
            Done::Picked { purpose, paths } => self.picked(purpose, paths),
            Done::CriteriaLoaded { path, result } => match result {
                Ok(set) => {
                    self.settings.criteria = set;
                    self.settings.criteria_file = Some(path);
                    self.refresh_flags();
                }
                Err(e) => self.error = Some(e),
            },
            Done::CriteriaSaved { path, result } => match result {
                Ok(()) => {
                    self.message = Some(format!("Criteria saved to {}", path.display()));
                    self.settings.criteria_file = Some(path);
                }
                Err(e) => self.error = Some(e),
            },
        }
    }

    fn picked(&mut self, purpose: Pick, paths: Vec<PathBuf>) {
        let Some(first) = paths.first().cloned() else {
            return;
        };
        match purpose {
            Pick::OpenLogs | Pick::OpenFolder => self.open(paths),
            Pick::LoadCriteria => self.jobs.spawn("criteria-load", move || Done::CriteriaLoaded {
                result: criteria::CriteriaSet::load(&first).map_err(|e| e.to_string()),
                path: first,
            }),
            Pick::SaveCriteria => {
                let set = self.settings.criteria.clone();
                self.jobs.spawn("criteria-save", move || Done::CriteriaSaved {
                    result: set.save(&first).map_err(|e| e.to_string()),
                    path: first,
                });
            }
        }
    }

    /// Opens a native file dialog on its own thread (it blocks until the person answers).
    fn pick(&self, purpose: Pick) {
        let folder = self.settings.last_folder.clone();
        self.jobs.spawn("dialog", move || {
            let mut dialog = rfd::FileDialog::new();
            if let Some(folder) = folder {
                dialog = dialog.set_directory(folder);
            }
            let paths = match purpose {
                Pick::OpenLogs => {
                    dialog.add_filter("Port Reporter logs", &["log", "txt", "csv"]).pick_files().unwrap_or_default()
                }
                Pick::OpenFolder => dialog.pick_folder().into_iter().collect(),
                Pick::LoadCriteria => dialog.add_filter("Criteria", &["json"]).pick_file().into_iter().collect(),
                Pick::SaveCriteria => dialog
                    .add_filter("Criteria", &["json"])
                    .set_file_name("criteria.json")
                    .save_file()
                    .into_iter()
                    .collect(),
            };
            Done::Picked { purpose, paths }
        });
    }

    /// A row was chosen: a flagged row shows its notification first, then its detail.
    fn select(&mut self, row: u32) {
        let flagged = self.evaluation.flagged.get(row as usize).copied().unwrap_or(false);
        if flagged && let Some(data) = &self.data {
            let ctx = criteria::Context {
                set: &data.set,
                index: &data.index,
                row_blocks: &data.row_blocks,
                hosts: &*self.dns,
            };
            let hits = criteria::matching_criteria(&self.settings.criteria, &ctx, row as usize)
                .into_iter()
                .filter_map(|i| self.settings.criteria.criteria.get(i))
                .map(|c| (c.name.clone(), c.message.clone()))
                .collect::<Vec<_>>();
            if !hits.is_empty() {
                self.notification = Some(Notification { row, hits });
                return;
            }
        }
        self.shown_row = Some(row);
    }

    /// Moves the selection to the next (or previous) flagged row of the view, wrapping around.
    fn jump_flagged(&mut self, forward: bool) {
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
            None => self.message = Some("No flagged rows in this view.".into()),
        }
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
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
            self.focus_filter = true;
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
            ctx.copy_text(view::row_text(&data.set.ports, &*self.dns, e));
        }
        let dropped: Vec<PathBuf> = ctx.input(|i| i.raw.dropped_files.iter().map(|f| f.path().to_path_buf()).collect());
        if !dropped.is_empty() {
            self.open(dropped);
        }
    }

    fn menu_ui(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| {
                if ui.add(egui::Button::new("Open logs...").shortcut_text(ui.ctx().format_shortcut(&OPEN))).clicked() {
                    self.pick(Pick::OpenLogs);
                }
                if ui.button("Open folder...").clicked() {
                    self.pick(Pick::OpenFolder);
                }
                if ui.button("Open sample logs").clicked() {
                    self.open(default_paths());
                }
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
            });
            ui.menu_button("View", |ui| {
                if ui.checkbox(&mut self.settings.dark, "Dark theme").changed() {
                    ui.ctx().set_theme(if self.settings.dark { egui::Theme::Dark } else { egui::Theme::Light });
                }
                ui.checkbox(&mut self.show_column_filters, "Column filters");
                ui.checkbox(&mut self.malformed_open, "Malformed lines");
                ui.checkbox(&mut self.settings.show_detail, "Detail panel");
            });
            if ui.button("Criteria...").clicked() {
                self.criteria_open = true;
            }
            ui.separator();
            let label = ui.label("Filter");
            let filter = ui
                .add(
                    egui::TextEdit::singleline(&mut self.quick_filter)
                        .hint_text("any column (Ctrl+F)")
                        .desired_width(240.0)
                        .id(egui::Id::unique("quick-filter")),
                )
                .labelled_by(label.id);
            if self.focus_filter {
                filter.request_focus();
                self.focus_filter = false;
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
        if self.show_column_filters {
            let mut changed = false;
            ui.horizontal(|ui| {
                for (c, text) in Column::ALL.iter().zip(self.column_filters.iter_mut()) {
                    changed |=
                        ui.add(egui::TextEdit::singleline(text).hint_text(c.title()).desired_width(110.0)).changed();
                }
            });
            if changed {
                self.refresh_view();
            }
        }
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if let Some(loading) = &self.loading {
                let p = &loading.progress;
                let total = p.bytes_total.load(Ordering::Relaxed).max(1);
                let done = p.bytes_done.load(Ordering::Relaxed);
                let rows = p.rows.load(Ordering::Relaxed);
                ui.spinner();
                ui.add(
                    egui::ProgressBar::new((done as f32 / total as f32).min(1.0)).desired_width(240.0).text(format!(
                        "Loading: {} MB of {} MB, {rows} rows",
                        done >> 20,
                        total >> 20
                    )),
                );
                if ui.button("Cancel").clicked() {
                    p.cancel.store(true, Ordering::Relaxed);
                    self.loading = None;
                }
                return;
            }
            let Some(data) = &self.data else {
                ui.label("No logs loaded");
                return;
            };
            let log = &data.set.ports;
            ui.label(format!("Rows loaded: {}", log.events.len()));
            ui.separator();
            ui.label(format!("Rows shown: {}", self.view.len()));
            ui.separator();
            ui.label(RichText::new(format!("Rows flagged: {}", self.evaluation.flagged_rows)).color(grid::FLAGGED));
            ui.separator();
            if ui.link(format!("Malformed lines: {}", log.malformed_count)).clicked() {
                self.malformed_open = !self.malformed_open;
            }
            let warnings = data.set.warnings().count();
            if warnings > 0 {
                ui.separator();
                if ui.link(format!("Warnings: {warnings}")).clicked() {
                    self.malformed_open = !self.malformed_open;
                }
            }
            if self.view_busy || self.eval_busy {
                ui.separator();
                ui.spinner();
            }
            if let Some(m) = &self.message {
                ui.separator();
                ui.label(m);
            }
        });
    }

    fn malformed_ui(&mut self, ui: &mut egui::Ui) {
        let Some(data) = &self.data else {
            return;
        };
        let log = &data.set.ports;
        ui.horizontal(|ui| {
            ui.strong(format!("Malformed lines: {}", log.malformed_count));
            if ui.button("Close").clicked() {
                self.malformed_open = false;
            }
        });
        let issues: Vec<String> = log
            .malformed
            .iter()
            .take(MALFORMED_LISTED)
            .map(|m| format!("{}:{}: {} - {}", m.file.display(), m.line, m.reason, m.excerpt))
            .chain(data.set.warnings().take(MALFORMED_LISTED).map(|w| format!("warning: {w}")))
            .collect();
        egui::ScrollArea::vertical().id_salt("malformed-list").auto_shrink([false, false]).show_rows(
            ui,
            grid::ROW_HEIGHT,
            issues.len(),
            |ui, range| {
                for line in &issues[range] {
                    ui.label(RichText::new(line).monospace());
                }
            },
        );
    }

    fn notification_ui(&mut self, ctx: &egui::Context) {
        let Some(n) = &self.notification else {
            return;
        };
        let mut acknowledged = false;
        egui::Modal::new(egui::Id::unique("flag-notification")).show(ctx, |ui| {
            ui.set_max_width(460.0);
            ui.heading(RichText::new("Flagged row").color(grid::FLAGGED));
            ui.label("This row matches your criteria:");
            for (name, message) in &n.hits {
                ui.separator();
                ui.strong(name);
                if !message.is_empty() {
                    ui.label(message);
                }
            }
            ui.separator();
            if ui.button("OK").clicked() || ui.input(|i| i.key_pressed(Key::Enter)) {
                acknowledged = true;
            }
        });
        if acknowledged && let Some(n) = self.notification.take() {
            self.shown_row = Some(n.row);
        }
    }

    fn criteria_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.criteria_open;
        let counts = self.evaluation.per_criterion.clone();
        let mut events = criteria_editor::EditorEvents::default();
        egui::Window::new("Criteria").open(&mut open).default_width(560.0).show(ctx, |ui| {
            events = criteria_editor::editor_ui(ui, &mut self.settings.criteria, &counts);
        });
        self.criteria_open = open;
        if events.changed {
            self.refresh_flags();
        }
        if events.load {
            self.pick(Pick::LoadCriteria);
        }
        if events.save {
            self.pick(Pick::SaveCriteria);
        }
    }

    fn central_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(err) = &self.error {
            ui.colored_label(grid::FLAGGED, format!("Could not open: {err}"));
        }
        let Some(data) = self.data.clone() else {
            if self.loading.is_none() {
                ui.vertical_centered(|ui| {
                    ui.add_space(40.0);
                    ui.heading("Open a Port Reporter log");
                    ui.label("File > Open (Ctrl+O), or drop PR-PORTS, PR-PIDS or PR-INITIAL logs or a folder here.");
                });
            }
            return;
        };
        let input = GridInput {
            log: &data.set.ports,
            hosts: &*self.dns,
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

impl eframe::App for PrParserApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        for done in self.jobs.poll() {
            self.handle(done);
        }
        let ctx = ui.ctx().clone();
        self.shortcuts(&ctx);
        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        if self.malformed_open {
            egui::Panel::bottom("malformed").resizable(true).default_size(160.0).show(ui, |ui| self.malformed_ui(ui));
        }
        if self.settings.show_detail
            && let (Some(row), Some(data)) = (self.shown_row, self.data.clone())
        {
            egui::Panel::right("detail").resizable(true).default_size(420.0).show(ui, |ui| {
                detail::detail_ui(ui, &mut self.detail, &data, row);
            });
        }
        egui::CentralPanel::default().show(ui, |ui| self.central_ui(ui));
        self.criteria_ui(&ctx);
        self.notification_ui(&ctx);
        if self.loading.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, Settings::KEY, &self.settings);
    }
}
