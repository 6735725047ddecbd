//! The desktop app. It draws from the core's structures (a shared, read-only [`Dataset`]) and
//! never parses or blocks a frame: loading, filtering, sorting, criteria, statistics and file
//! dialogs run as [`jobs`] and report back.
//!
//! Where things are: this file holds the app's state and the order of a frame;
//! [`handling`] starts the background jobs and takes in their results; `panels` draws the
//! menu bar, status bar, side panels and tabs; `windows` the floating windows (criteria, DNS
//! server, notification); `actions` what the keyboard and pickers do; `names` the reverse
//! DNS; `live_ui` live capture; `clickhouse_ui` File › Open from ClickHouse; [`file_dialog`] which file dialog a pick uses, and the
//! built-in one; `numbers` how counts are written; `status` the status bar's
//! note, which fades.

mod actions;
pub mod changes_view;
mod clickhouse_ui;
pub mod criteria_editor;
pub mod detail;
pub mod file_dialog;
mod geo;
pub mod grid;
mod handling;
pub mod initial_view;
pub mod jobs;
mod lists;
pub mod live;
mod live_ui;
mod names;
mod numbers;
mod panels;
pub mod settings;
pub mod stats_view;
mod status;
#[cfg(test)]
mod tests;
mod timeline;
mod windows;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use crate::analysis::criteria::Evaluation;
use crate::analysis::dataset::Dataset;
use crate::analysis::dns::DnsCache;
use crate::analysis::resolver::DnsResolver;
use crate::analysis::time_range::TimeRange;
use crate::analysis::view::{Column, Drill, Filter};
use grid::GridState;
use handling::Work;
use jobs::Jobs;
use settings::Settings;

/// The app's main tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tab {
    #[default]
    Grid,
    Statistics,
    Initial,
}

/// The notification shown before a flagged row's detail: each matching criterion's name and
/// message, as Port Reporter Parser did.
struct Notification {
    row: u32,
    hits: Vec<Hit>,
}

/// One criterion that flagged the row.
struct Hit {
    name: String,
    message: String,
    /// For a list criterion, the entry that matched (`203.0.113.0/24 — bad.netset line 213`).
    entry: Option<String>,
}

/// What narrows the grid: the quick filter, one box per column, a statistics drill-down.
struct Filters {
    quick: String,
    columns: Vec<String>,
    show_columns: bool,
    /// Ctrl+F was pressed: focus the quick filter on the next frame.
    focus_quick: bool,
    drill: Option<Drill>,
    /// The timeline's selection.
    range: TimeRange,
}

impl Filters {
    fn filter(&self) -> Filter {
        Filter {
            quick: self.quick.clone(),
            columns: Column::ALL.iter().copied().zip(self.columns.iter().cloned()).collect(),
            drill: self.drill.clone(),
            range: self.range,
        }
    }

    /// Text filters (not a drill-down) that host names can satisfy once they arrive.
    fn has_text(&self) -> bool {
        !self.quick.trim().is_empty() || self.columns.iter().any(|f| !f.trim().is_empty())
    }
}

/// Which floating windows and panels are open.
#[derive(Default)]
struct Open {
    criteria: bool,
    malformed: bool,
    dns_server: bool,
}

/// Reverse DNS: the resolver (once turned on) and when names last changed the flags.
struct Names {
    resolver: Option<Arc<DnsResolver>>,
    /// Set by the resolver thread when names arrive.
    arrived: Arc<AtomicBool>,
    last_evaluation: Option<Instant>,
    /// The DNS server window's text, applied only when it reads as an address.
    server_text: String,
    /// Why the text was not applied.
    server_problem: Option<String>,
}

pub struct PrParserApp {
    settings: Settings,
    jobs: Jobs,
    work: Work,
    dns: Arc<DnsCache>,
    data: Option<Arc<Dataset>>,
    /// Stays until the next load or until dismissed.
    error: Option<String>,
    /// Fades after a few seconds.
    message: status::Note,
    /// F3 found no flagged row: said until the rows or their flags change.
    no_flagged_notice: bool,
    view: Arc<Vec<u32>>,
    evaluation: Arc<Evaluation>,
    filters: Filters,
    grid: GridState,
    detail: detail::DetailState,
    notification: Option<Notification>,
    /// The row whose detail is shown (after any notification was acknowledged).
    shown_row: Option<u32>,
    open: Open,
    tab: Tab,
    stats: Option<Arc<stats_view::StatsBundle>>,
    stats_state: stats_view::StatsState,
    /// The grid's rows changed since the statistics were asked for.
    stats_dirty: bool,
    initial: initial_view::InitialState,
    names: Names,
    /// Exports still being written.
    exports_pending: usize,
    live: live_ui::LiveState,
    dialogs: file_dialog::Dialogs,
    lists: lists::ListWatch,
    timeline: timeline::TimelineState,
    geo: geo::GeoState,
    clickhouse: clickhouse_ui::ClickHouseForm,
    /// Where the data on screen came from, when it is a ClickHouse database, and how much of
    /// what matched it holds.
    source: Option<(String, clickhouse_ui::Cut)>,
}

/// The bundled sample logs: beside the working directory when run with `cargo run`, else
/// where the crate was built, else where the Debian package installs them.
pub fn default_paths() -> Vec<PathBuf> {
    let local = PathBuf::from("sample-logs");
    if local.is_dir() {
        return vec![local];
    }
    let built = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    let packaged = PathBuf::from(crate::package::SAMPLE_LOGS);
    if !built.is_dir() && packaged.is_dir() {
        return vec![packaged];
    }
    vec![built]
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
        let paths = if !paths.is_empty() { paths } else { settings.last_opened().unwrap_or_else(default_paths) };
        let mut app = PrParserApp {
            jobs: Jobs::new(ctx),
            work: Work::default(),
            dns: Arc::new(DnsCache::default()),
            data: None,
            error: None,
            message: status::Note::default(),
            no_flagged_notice: false,
            view: Arc::new(Vec::new()),
            evaluation: Arc::new(Evaluation::default()),
            filters: Filters {
                quick: String::new(),
                columns: vec![String::new(); Column::ALL.len()],
                show_columns: false,
                focus_quick: false,
                drill: None,
                range: TimeRange::ALL,
            },
            grid: GridState::default(),
            detail: detail::DetailState::default(),
            notification: None,
            shown_row: None,
            open: Open::default(),
            tab: Tab::Grid,
            stats: None,
            stats_state: stats_view::StatsState::default(),
            stats_dirty: true,
            initial: initial_view::InitialState::default(),
            names: Names {
                resolver: None,
                arrived: Arc::new(AtomicBool::new(false)),
                last_evaluation: None,
                server_text: String::new(),
                server_problem: None,
            },
            exports_pending: 0,
            live: live_ui::LiveState::default(),
            dialogs: file_dialog::Dialogs::new(file_dialog::portal::session_check()),
            lists: lists::ListWatch::default(),
            timeline: timeline::TimelineState::default(),
            geo: geo::GeoState::default(),
            clickhouse: clickhouse_ui::ClickHouseForm::default(),
            source: None,
            settings,
        };
        app.open(paths);
        app.open_saved_geoip();
        app
    }

    /// True when no job is running or waiting (results are drawn in the frame that takes them
    /// in): the tests wait for this.
    pub fn is_idle(&self) -> bool {
        self.work.is_idle()
            && self.exports_pending == 0
            && self.live.idle()
            && self.dialogs.is_idle()
            && self.timeline.is_idle()
            && self.geo.is_idle()
            && self.clickhouse.is_idle()
            && !(self.tab == Tab::Statistics && self.stats_dirty)
    }

    /// The DNS cache the host column reads (tests look into it).
    pub fn dns_cache(&self) -> &Arc<DnsCache> {
        &self.dns
    }

    pub fn dataset(&self) -> Option<&Arc<Dataset>> {
        self.data.as_ref()
    }

    /// What File › Recent lists, most recent first.
    pub fn recent(&self) -> &[Vec<PathBuf>] {
        &self.settings.recent
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
        self.panels_ui(ui);
        self.windows_ui(&ctx);
        self.file_dialog_ui(&ctx);
        self.names_maybe_changed();
        self.watch_lists(&ctx);
        if !self.work.load_is_idle() {
            ctx.request_repaint_after(std::time::Duration::from_millis(50));
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, Settings::KEY, &self.settings);
    }
}
