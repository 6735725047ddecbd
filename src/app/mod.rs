//! The desktop app. It draws from the core's structures (a shared, read-only [`Dataset`]) and
//! never parses or blocks a frame: loading, filtering, sorting, criteria and file dialogs run
//! as [`jobs`] and report back.

pub mod criteria_editor;
pub mod detail;
pub mod grid;
pub mod initial_view;
pub mod jobs;
pub mod live;
mod live_ui;
pub mod settings;
pub mod stats_view;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use egui::{Key, KeyboardShortcut, Modifiers, RichText};

use crate::analysis::criteria::Field;
use crate::analysis::criteria::{self, Evaluation};
use crate::analysis::dataset::Dataset;
use crate::analysis::dns::DnsCache;
use crate::analysis::export;
use crate::analysis::resolver::{DnsResolver, ResolverSettings};
use crate::analysis::view::{self, Column, Drill, Filter, Sort};
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

/// The app's main tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Grid,
    Statistics,
    Initial,
}

/// Criteria using host names are re-evaluated at most this often while names arrive.
const HOST_REEVALUATION: Duration = Duration::from_secs(1);

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
    tab: Tab,
    drill: Option<Drill>,
    stats: Option<Arc<stats_view::StatsBundle>>,
    stats_state: stats_view::StatsState,
    stats_generation: u64,
    stats_dirty: bool,
    initial: initial_view::InitialState,
    resolver: Option<Arc<DnsResolver>>,
    /// Set by the resolver thread when names arrive.
    names_arrived: Arc<AtomicBool>,
    last_host_evaluation: Option<Instant>,
    dns_settings_open: bool,
    /// Exports still being written.
    exports_pending: usize,
    live: live_ui::LiveState,
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
            tab: Tab::Grid,
            drill: None,
            stats: None,
            stats_state: stats_view::StatsState::default(),
            stats_generation: 0,
            stats_dirty: true,
            initial: initial_view::InitialState::default(),
            resolver: None,
            names_arrived: Arc::new(AtomicBool::new(false)),
            last_host_evaluation: None,
            dns_settings_open: false,
            exports_pending: 0,
            live: live_ui::LiveState::default(),
            settings,
        };
        app.open(paths);
        app
    }

    /// True when no job is running: the tests wait for this.
    pub fn is_idle(&self) -> bool {
        self.loading.is_none()
            && !self.view_busy
            && !self.eval_busy
            && self.exports_pending == 0
            && self.live.idle()
            && !(self.tab == Tab::Statistics && self.stats_dirty)
    }

    /// The DNS cache the host column reads (tests look into it).
    pub fn dns_cache(&self) -> &Arc<DnsCache> {
        &self.dns
    }

    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        self.data.as_ref()
    }

    /// Starts loading `paths` in the background (a running load is cancelled).
    pub fn open(&mut self, paths: Vec<PathBuf>) {
        self.live.stop();
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
            drill: self.drill.clone(),
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
                        self.show_data(data);
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
                self.stats_dirty = true;
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
            Done::Stats { generation, bundle } if generation == self.stats_generation => {
                self.stats = Some(Arc::from(bundle));
            }
            Done::Stats { .. } => {}
            Done::Failed(e) => self.error = Some(e),
            Done::Exported { what, path, result } => {
                self.exports_pending = self.exports_pending.saturating_sub(1);
                match result {
                    Ok(()) => self.message = Some(format!("Exported {what} to {}", path.display())),
                    Err(e) => self.error = Some(format!("cannot export to {}: {e}", path.display())),
                }
            }
            Done::LiveFlags { generation, first, evaluation } => self.live_flags(generation, first, evaluation),
            Done::LiveView { generation, rows } => self.live_view(generation, rows),
            Done::CriteriaSaved { path, result } => match result {
                Ok(()) => {
                    self.message = Some(format!("Criteria saved to {}", path.display()));
                    self.settings.criteria_file = Some(path);
                }
                Err(e) => self.error = Some(e),
            },
        }
    }

    /// Shows a new dataset from scratch: view, flags and names computed anew.
    fn show_data(&mut self, data: Arc<Dataset>) {
        self.data = Some(data);
        self.grid = GridState::default();
        self.shown_row = None;
        self.notification = None;
        self.view = Arc::new(Vec::new());
        self.evaluation = Arc::new(Evaluation::default());
        self.drill = None;
        self.stats = None;
        self.initial = initial_view::InitialState::default();
        self.refresh_view();
        self.refresh_flags();
        self.request_names();
    }

    fn picked(&mut self, purpose: Pick, paths: Vec<PathBuf>) {
        let Some(first) = paths.first().cloned() else {
            return;
        };
        match purpose {
            Pick::OpenLogs | Pick::OpenFolder => self.open(paths),
            Pick::FollowFolder => self.follow_folder(first),
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
            Pick::ExportCsv | Pick::ExportJson => self.export_view(first, purpose == Pick::ExportJson),
            Pick::ExportStatsCsv => self.export_stats(first),
            Pick::ExportPlotPng => self.export_plot(first),
        }
    }

    /// Writes the grid's current rows (filter and sort applied) to a file, in the background.
    pub fn export_view(&mut self, path: PathBuf, json: bool) {
        let (Some(data), view) = (self.data.clone(), Arc::clone(&self.view)) else {
            return;
        };
        self.exports_pending += 1;
        let dns = Arc::clone(&self.dns);
        self.jobs.spawn("export", move || {
            let result = std::fs::File::create(&path).and_then(|f| {
                let w = std::io::BufWriter::new(f);
                if json {
                    export::write_rows_json(w, &data.set.ports, &*dns, &view)
                } else {
                    export::write_rows_csv(w, &data.set.ports, &*dns, &view)
                }
            });
            Done::Exported { what: format!("{} rows", view.len()), path, result: result.map_err(|e| e.to_string()) }
        });
    }

    fn export_stats(&mut self, path: PathBuf) {
        let Some(bundle) = self.stats.clone() else {
            return;
        };
        self.exports_pending += 1;
        let (tab, dns) = (self.stats_state.tab, Arc::clone(&self.dns));
        self.jobs.spawn("export-stats", move || {
            let (header, rows) = stats_view::table_csv(tab, &bundle, &*dns);
            let result = std::fs::File::create(&path).and_then(|f| export::write_table_csv(f, &header, rows));
            Done::Exported {
                what: format!("the {} table", tab.title()),
                path,
                result: result.map_err(|e| e.to_string()),
            }
        });
    }

    /// Saves the plot as PNG: the next rendered frame is captured and the plot cut out of it.
    fn export_plot(&mut self, path: PathBuf) {
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
            let result = icon.to_png_bytes().and_then(|png| std::fs::write(&path, png).map_err(|e| e.to_string()));
            let _ = tx.send(Done::Exported { what: "the plot".into(), path, result });
            ctx.request_repaint();
        });
        self.jobs.context().request_repaint();
    }

    /// Recomputes the statistics over the current view, in the background.
    fn refresh_stats(&mut self) {
        let Some(data) = self.data.clone() else {
            return;
        };
        self.stats_dirty = false;
        self.stats_generation += 1;
        let generation = self.stats_generation;
        let view = Arc::clone(&self.view);
        let process = self.stats_state.process.clone();
        self.jobs.spawn("stats", move || Done::Stats {
            generation,
            bundle: Box::new(stats_view::compute(&data, &view, &process)),
        });
    }

    /// Turns reverse DNS on or off (the setting persists).
    pub fn set_resolve_dns(&mut self, on: bool) {
        self.settings.resolve_dns = on;
        if !on {
            self.resolver = None;
            return;
        }
        self.request_names();
    }

    /// Starts the resolver if needed and asks for every remote address of the log.
    fn request_names(&mut self) {
        if !self.settings.resolve_dns {
            return;
        }
        let Some(data) = self.data.clone() else {
            return;
        };
        if self.resolver.is_none() {
            let Some(servers) = self.settings.dns_servers() else {
                self.error =
                    Some(format!("DNS server {:?} is not an address (ip or ip:port)", self.settings.dns_server));
                return;
            };
            let settings = ResolverSettings { servers, ..ResolverSettings::default() };
            let ctx = self.jobs.context();
            let arrived = Arc::clone(&self.names_arrived);
            match DnsResolver::start(settings, Arc::clone(&self.dns), move || {
                arrived.store(true, Ordering::Relaxed);
                ctx.request_repaint();
            }) {
                Ok(r) => self.resolver = Some(Arc::new(r)),
                Err(e) => {
                    self.error = Some(e.to_string());
                    return;
                }
            }
        }
        if let Some(resolver) = self.resolver.clone() {
            // Finding the distinct remote addresses walks every row: not on the UI thread.
            self.jobs.spawn_detached("dns-request", move || {
                let log = &data.set.ports;
                let mut remote = vec![false; log.addrs.len()];
                for e in &log.events {
                    remote[e.remote_ip.0 as usize] = true;
                }
                let ips = log.addrs.iter().filter(|(id, _)| remote[id.0 as usize]).filter_map(|(_, a)| a.ip());
                resolver.request(ips);
            });
        }
    }

    /// New names can flag rows by host-name criteria: re-evaluate, at most once a second.
    fn names_maybe_changed(&mut self) {
        if !self.names_arrived.load(Ordering::Relaxed) {
            return;
        }
        let due = self.last_host_evaluation.is_none_or(|t| t.elapsed() >= HOST_REEVALUATION);
        let uses_hosts = self.settings.criteria.criteria.iter().any(|c| c.enabled && c.field == Field::HostName);
        if !due {
            self.jobs.context().request_repaint_after(HOST_REEVALUATION);
            return;
        }
        self.names_arrived.store(false, Ordering::Relaxed);
        self.last_host_evaluation = Some(Instant::now());
        if uses_hosts {
            self.refresh_flags();
        }
        if !self.quick_filter.trim().is_empty() || self.column_filters.iter().any(|f| !f.trim().is_empty()) {
            self.refresh_view();
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
            let save = |dialog: rfd::FileDialog, name: &str, ext: &str, what: &str| {
                dialog.add_filter(what, &[ext]).set_file_name(name).save_file().into_iter().collect()
            };
            let paths = match purpose {
                Pick::OpenLogs => {
                    dialog.add_filter("Port Reporter logs", &["log", "txt", "csv"]).pick_files().unwrap_or_default()
                }
                Pick::OpenFolder | Pick::FollowFolder => dialog.pick_folder().into_iter().collect(),
                Pick::LoadCriteria => dialog.add_filter("Criteria", &["json"]).pick_file().into_iter().collect(),
                Pick::SaveCriteria => save(dialog, "criteria.json", "json", "Criteria"),
                Pick::ExportCsv => save(dialog, "prparser-view.csv", "csv", "CSV"),
                Pick::ExportJson => save(dialog, "prparser-view.json", "json", "JSON"),
                Pick::ExportStatsCsv => save(dialog, "prparser-statistics.csv", "csv", "CSV"),
                Pick::ExportPlotPng => save(dialog, "prparser-plot.png", "png", "PNG image"),
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
            let compiled = &self.evaluation.compiled;
            let hits = criteria::matching_criteria_compiled(compiled, &ctx, row as usize)
                .into_iter()
                .filter_map(|i| compiled.source.criteria.get(i))
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
            });
            ui.menu_button("View", |ui| {
                if ui.checkbox(&mut self.settings.dark, "Dark theme").changed() {
                    ui.ctx().set_theme(if self.settings.dark { egui::Theme::Dark } else { egui::Theme::Light });
                }
                ui.checkbox(&mut self.show_column_filters, "Column filters");
                ui.checkbox(&mut self.malformed_open, "Malformed lines");
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
                if ui.button("DNS server...").clicked() {
                    self.dns_settings_open = true;
                }
            });
            ui.menu_button("Live", |ui| self.live_menu(ui));
            if ui.button("Criteria...").clicked() {
                self.criteria_open = true;
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
        if let Some(drill) = &self.drill {
            let label = format!("Grid filtered to {}", drill.label());
            let mut clear = false;
            ui.horizontal(|ui| {
                ui.label(RichText::new(label).strong());
                clear = ui.button("Clear").on_hover_text("Show all rows again").clicked();
            });
            if clear {
                self.drill = None;
                self.refresh_view();
            }
        }
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
            if ui.link(format!("Malformed lines: {}", log.malformed.count())).clicked() {
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
            self.live_status(ui);
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
            ui.strong(format!("Malformed lines: {}", log.malformed.count()));
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
        let evaluation = Arc::clone(&self.evaluation);
        let mut events = criteria_editor::EditorEvents::default();
        egui::Window::new("Criteria").open(&mut open).default_width(560.0).show(ctx, |ui| {
            let (counts, compiled) = (&evaluation.per_criterion, &evaluation.compiled);
            events = criteria_editor::editor_ui(ui, &mut self.settings.criteria, counts, compiled);
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
        if self.stats_dirty && !self.view_busy {
            self.refresh_stats();
        }
        let bundle = self.stats.clone();
        let events = stats_view::stats_ui(ui, &mut self.stats_state, bundle.as_deref(), &*self.dns);
        if events.process_changed {
            self.refresh_stats();
        }
        if let Some(drill) = events.drill {
            self.drill = Some(drill);
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

    fn dns_settings_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.dns_settings_open;
        let mut apply = false;
        egui::Window::new("DNS server").open(&mut open).show(ctx, |ui| {
            ui.label("Reverse lookups go to this server (ip or ip:port); empty uses the system's resolver.");
            let label = ui.label("Server");
            ui.add(egui::TextEdit::singleline(&mut self.settings.dns_server)).labelled_by(label.id);
            apply = ui.button("Apply").clicked();
        });
        self.dns_settings_open = open;
        if apply {
            self.resolver = None;
            self.request_names();
        }
    }

    fn grid_tab(&mut self, ui: &mut egui::Ui) {
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
        self.live_frame(&ctx);
        self.shortcuts(&ctx);
        egui::Panel::top("menu").show(ui, |ui| self.menu_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        if self.malformed_open {
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
        self.criteria_ui(&ctx);
        self.dns_settings_ui(&ctx);
        self.names_maybe_changed();
        self.notification_ui(&ctx);
        self.live_alert_ui(&ctx);
        if self.loading.is_some() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, Settings::KEY, &self.settings);
    }
}
