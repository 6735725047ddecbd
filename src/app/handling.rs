//! Starting the background jobs and taking in what they report.
//!
//! Loads, views, flags and statistics each have a [`Slot`]: a request made while its kind of
//! job runs cancels that job and starts once it has stopped, built from the app's state at
//! that moment (the dataset, filter and sort then current), so a result never describes an
//! older state than the one on screen.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use super::clickhouse_ui::{Cut, ServerLoad};
use super::jobs::{Done, Pick, Request, Slot, SpawnError, Ticket};
use super::{PrParserApp, Tab, stats_view};
use crate::analysis::changes::Baseline;
use crate::analysis::criteria::{self, CompiledSet, Evaluation};
use crate::analysis::dataset::Dataset;
use crate::analysis::view;
use crate::error::LogError;
use crate::logs::ports::LoadProgress;

/// Open these paths, or this part of a ClickHouse database.
#[derive(Clone)]
pub(super) enum LoadRequest {
    Files(Vec<PathBuf>),
    ClickHouse(Arc<ServerLoad>),
}

impl Request for LoadRequest {
    fn merge(self, newer: Self) -> Self {
        newer
    }
}

/// Compute the grid's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ViewRequest {
    /// Filter and sort every row.
    Full,
    /// Only the time range changed: narrow the rows passing the other filters, kept from the
    /// last view, without matching text again.
    Range,
    /// Merge these rows (appended live) into the current view.
    Extend(Range<usize>),
}

impl Request for ViewRequest {
    fn merge(self, newer: Self) -> Self {
        match (self, newer) {
            (ViewRequest::Extend(a), ViewRequest::Extend(b)) => {
                ViewRequest::Extend(a.start.min(b.start)..a.end.max(b.end))
            }
            (ViewRequest::Range, ViewRequest::Range) => ViewRequest::Range,
            _ => ViewRequest::Full,
        }
    }
}

/// Where log row `row` stands in the grid's rows `rows`.
fn position(rows: &[u32], row: u32) -> Option<usize> {
    rows.iter().position(|&r| r == row)
}

/// What a view job reads.
struct ViewJob<'a> {
    log: &'a crate::logs::ports::PortsLog,
    hosts: &'a dyn crate::analysis::dns::HostNames,
    filter: &'a view::Filter,
    sort: Option<view::Sort>,
    cancel: &'a std::sync::atomic::AtomicBool,
}

impl ViewJob<'_> {
    /// The grid's rows and the rows passing the filter but its range: `kept` (those of the
    /// last view) narrowed to a new range, or extended by rows appended live, or found anew.
    fn run(
        &self,
        request: ViewRequest,
        old: &[u32],
        kept: Option<Arc<view::Passing>>,
    ) -> Result<(Vec<u32>, Arc<view::Passing>), view::Cancelled> {
        let (log, hosts, filter, cancel) = (self.log, self.hosts, self.filter, self.cancel);
        let fresh = || view::Passing::of(log, hosts, filter, cancel).map(Arc::new);
        match request {
            ViewRequest::Extend(added) => {
                let rows = view::extend(log, hosts, old, added.clone(), filter, self.sort, cancel)?;
                let passing = match kept.filter(|p| p.filter == filter.without_range()) {
                    Some(p) => Arc::new(p.extended(log, hosts, added, cancel)?),
                    None => fresh()?,
                };
                Ok((rows, passing))
            }
            ViewRequest::Full | ViewRequest::Range => {
                let passing = match kept {
                    Some(p) if request == ViewRequest::Range && p.fits(filter, log.events.len()) => p,
                    _ => fresh()?,
                };
                Ok((view::build_from(log, hosts, &passing, &filter.range, self.sort, cancel)?, passing))
            }
        }
    }
}

/// Evaluate the criteria.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum FlagsRequest {
    All,
    /// Rows appended live, to join onto the current evaluation.
    Rows(Range<usize>),
}

impl Request for FlagsRequest {
    fn merge(self, newer: Self) -> Self {
        match (self, newer) {
            (FlagsRequest::Rows(a), FlagsRequest::Rows(b)) => {
                FlagsRequest::Rows(a.start.min(b.start)..a.end.max(b.end))
            }
            _ => FlagsRequest::All,
        }
    }
}

/// What a flags job evaluates: every row with the criteria as they are now, or new rows with
/// the compilation the current evaluation used.
enum FlagsJob {
    All(criteria::CriteriaSet),
    Rows(Arc<CompiledSet>, Range<usize>),
}

/// Compute the statistics over the grid's current rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct StatsRequest;

impl Request for StatsRequest {
    fn merge(self, newer: Self) -> Self {
        newer
    }
}

/// The app's four kinds of slot job.
#[derive(Default)]
pub(super) struct Work {
    pub load: Slot<LoadRequest, LoadProgress>,
    pub view: Slot<ViewRequest>,
    pub flags: Slot<FlagsRequest>,
    pub stats: Slot<StatsRequest>,
}

impl Work {
    pub fn is_idle(&self) -> bool {
        self.load.is_idle() && self.view.is_idle() && self.flags.is_idle() && self.stats.is_idle()
    }

    pub fn load_is_idle(&self) -> bool {
        self.load.is_idle()
    }

    /// Nothing reads the dataset but the UI: live rows can be taken in.
    pub fn dataset_free(&self) -> bool {
        self.load.is_idle() && self.view.is_idle() && self.flags.is_idle() && self.stats.is_idle()
    }

    /// Forgets the jobs about the dataset on screen (a new one replaces it).
    fn cancel_dataset_jobs(&mut self) {
        self.view.cancel();
        self.flags.cancel();
        self.stats.cancel();
    }
}

impl PrParserApp {
    /// Starts loading `paths` in the background (a running load is cancelled first).
    pub fn open(&mut self, paths: Vec<PathBuf>) {
        self.load_from(LoadRequest::Files(paths));
    }

    /// Starts a load of files or from a server (a running load is cancelled first).
    pub(super) fn load_from(&mut self, request: LoadRequest) {
        self.live.stop();
        self.error = None;
        if let Some(request) = self.work.load.ask(request) {
            self.start_load(request);
        }
    }

    /// Cancel on the progress bar: the load stops and nothing of it is shown or remembered.
    pub(super) fn cancel_load(&mut self) {
        self.work.load.cancel();
    }

    fn start_load(&mut self, request: LoadRequest) {
        let Ticket { generation, request, flag } = self.work.load.start(request);
        let started = match request {
            LoadRequest::Files(paths) => self.jobs.spawn("load", move || Done::Loaded {
                generation,
                result: Dataset::open(&paths, &flag).map(Arc::new),
                opened: super::settings::for_recent(&paths),
            }),
            LoadRequest::ClickHouse(server) => self.jobs.spawn("clickhouse-load", move || {
                let client = crate::clickhouse::client::Client::new(server.connection.clone());
                let result = crate::clickhouse::load::load(&client, &server.request, &flag)
                    .map(|loaded| (Arc::new(loaded.dataset), loaded.matching));
                Done::FromClickHouse { generation, result }
            }),
        };
        if let Err(e) = started {
            self.work.load.not_started();
            self.error = Some(format!("Could not open: {e}"));
        }
    }

    /// Recomputes the grid's rows (filter and sort) in the background.
    pub(super) fn refresh_view(&mut self) {
        self.request_view(ViewRequest::Full);
    }

    pub(super) fn request_view(&mut self, request: ViewRequest) {
        if self.data.is_some()
            && let Some(request) = self.work.view.ask(request)
        {
            self.start_view(request);
        }
    }

    fn start_view(&mut self, request: ViewRequest) {
        let Some(data) = self.data.clone() else {
            return;
        };
        let Ticket { generation, request, flag } = self.work.view.start(request);
        let (filter, sort, hosts, old) =
            (self.filters.filter(), self.settings.sort, self.job_hosts(), Arc::clone(&self.view));
        let (kept, selected) = (self.timeline.passing.clone(), self.grid.selected);
        let started = self.jobs.spawn("view", move || {
            let job = ViewJob { log: &data.set.ports, hosts: &hosts, filter: &filter, sort, cancel: &flag };
            let result = job.run(request, &old, kept);
            let selected = selected.map(|s| (s, result.as_ref().ok().and_then(|(rows, _)| position(rows, s))));
            Done::View { generation, result, selected }
        });
        if let Err(e) = started {
            self.work.view.not_started();
            self.not_started(e);
        }
    }

    /// Re-evaluates the criteria over all rows in the background.
    pub(super) fn refresh_flags(&mut self) {
        self.request_flags(FlagsRequest::All);
    }

    pub(super) fn request_flags(&mut self, request: FlagsRequest) {
        if self.data.is_some()
            && let Some(request) = self.work.flags.ask(request)
        {
            self.start_flags(request);
        }
    }

    fn start_flags(&mut self, request: FlagsRequest) {
        let Some(data) = self.data.clone() else {
            return;
        };
        // New rows join the current evaluation only if it is of these criteria and ends
        // where they begin.
        let joins = |r: &Range<usize>| {
            self.evaluation.flagged.len() == r.start && self.evaluation.compiled.source == self.settings.criteria
        };
        let request = match request {
            FlagsRequest::Rows(r) if joins(&r) => FlagsRequest::Rows(r),
            _ => FlagsRequest::All,
        };
        let Ticket { generation, request, .. } = self.work.flags.start(request);
        // Compiling is left to the job: a set may hold a hundred thousand criteria.
        let job = match request {
            FlagsRequest::All => FlagsJob::All(self.settings.criteria.clone()),
            FlagsRequest::Rows(rows) => FlagsJob::Rows(Arc::clone(&self.evaluation.compiled), rows),
        };
        let hosts = self.job_hosts();
        let started = self.jobs.spawn("criteria", move || {
            let ctx =
                criteria::Context { set: &data.set, index: &data.index, row_blocks: &data.row_blocks, hosts: &hosts };
            let evaluation = match job {
                FlagsJob::All(set) => criteria::evaluate(&set, &ctx),
                FlagsJob::Rows(compiled, rows) => criteria::evaluate_rows(compiled, &ctx, rows),
            };
            Done::Flags { generation, evaluation }
        });
        if let Err(e) = started {
            self.work.flags.not_started();
            self.not_started(e);
        }
    }

    /// Recomputes the statistics over the current view, in the background.
    pub(super) fn refresh_stats(&mut self) {
        self.stats_dirty = false;
        if self.data.is_some()
            && let Some(request) = self.work.stats.ask(StatsRequest)
        {
            self.start_stats(request);
        }
    }

    fn start_stats(&mut self, request: StatsRequest) {
        let Some(data) = self.data.clone() else {
            return;
        };
        let Ticket { generation, .. } = self.work.stats.start(request);
        let view = Arc::clone(&self.view);
        let evaluation = Arc::clone(&self.evaluation);
        let process = self.stats_state.process.clone();
        let baseline =
            (self.stats_state.tab == stats_view::StatsTab::Changes).then(|| self.stats_state.changes.baseline.clone());
        let geo = self.geo.geo.clone();
        let started = self.jobs.spawn("stats", move || Done::Stats {
            generation,
            bundle: Box::new(stats_view::compute(
                &data,
                &view,
                &process,
                &evaluation.flagged,
                baseline.as_ref(),
                geo.as_ref(),
            )),
        });
        if let Err(e) = started {
            self.work.stats.not_started();
            self.not_started(e);
        }
    }

    /// A job could not start: say so (its slot is already free).
    pub(super) fn not_started(&mut self, e: SpawnError) {
        self.error = Some(e.to_string());
    }

    pub(super) fn handle(&mut self, done: Done) {
        match done {
            Done::Loaded { generation, result, opened } => {
                let Some(finished) = self.work.load.finish(generation) else {
                    return;
                };
                if finished.current {
                    match (result, &finished.request) {
                        (Ok(data), LoadRequest::Files(paths)) => {
                            self.settings.remember(&opened);
                            let title = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ");
                            self.set_title(&title);
                            self.show_data(data);
                        }
                        (Err(LogError::Cancelled), _) => {}
                        (Err(e), _) => self.error = Some(format!("Could not open: {e}")),
                        (Ok(_), LoadRequest::ClickHouse(_)) => {}
                    }
                }
                if let Some(next) = finished.next {
                    self.start_load(next);
                }
            }
            Done::FromClickHouse { generation, result } => {
                let Some(finished) = self.work.load.finish(generation) else {
                    return;
                };
                if finished.current
                    && let LoadRequest::ClickHouse(server) = &finished.request
                {
                    match result {
                        Ok((data, matching)) => {
                            self.clickhouse_opened(server);
                            let source = server.source();
                            self.set_title(&source);
                            let rows = data.set.ports.events.len() as u64;
                            self.show_data(data);
                            self.source = Some((source, Cut { rows, matching }));
                        }
                        Err(crate::clickhouse::load::LoadError::Cancelled) => {}
                        Err(e) => {
                            self.clickhouse.problem = Some(e.to_string());
                            self.error = Some(format!("Could not open: {e}"));
                        }
                    }
                }
                if let Some(next) = finished.next {
                    self.start_load(next);
                }
            }
            Done::ClickHouseComputers { result } => self.computers_fetched(result),
            Done::View { generation, result, selected } => {
                let Some(finished) = self.work.view.finish(generation) else {
                    return;
                };
                if finished.current
                    && let Ok((rows, passing)) = result
                {
                    self.timeline.passing = Some(passing);
                    self.grid.selected_pos = match (self.grid.selected, selected) {
                        (Some(now), Some((then, pos))) if now == then => pos,
                        // Selected while the job ran (the person clicked a row of the old
                        // view): only then is the new view searched here.
                        (Some(now), _) => position(&rows, now),
                        (None, _) => None,
                    };
                    self.view = Arc::new(rows);
                    self.no_flagged_notice = false;
                    // A live merge leaves the grid where the person is reading.
                    if !matches!(finished.request, ViewRequest::Extend(_))
                        && let Some(pos) = self.grid.selected_pos
                    {
                        self.grid.reveal(pos);
                    }
                    self.stats_dirty = true;
                }
                if let Some(next) = finished.next {
                    self.start_view(next);
                }
            }
            Done::Flags { generation, evaluation } => {
                let Some(finished) = self.work.flags.finish(generation) else {
                    return;
                };
                if finished.current {
                    self.no_flagged_notice = false;
                    match finished.request {
                        FlagsRequest::All => self.evaluation = Arc::new(evaluation),
                        FlagsRequest::Rows(rows) => self.join_flags(rows.start, evaluation),
                    }
                    // The Computers view counts flagged rows.
                    self.stats_dirty = true;
                }
                if let Some(next) = finished.next {
                    self.start_flags(next);
                }
            }
            Done::Stats { generation, bundle } => {
                let Some(finished) = self.work.stats.finish(generation) else {
                    return;
                };
                if finished.current {
                    self.stats = Some(Arc::from(bundle));
                }
                if let Some(next) = finished.next {
                    self.start_stats(next);
                }
            }
            Done::Timeline(done) => self.timeline_done(done),
            Done::NativeAnswer { purpose, answer } => self.native_answered(purpose, answer),
            Done::PortalProbed(portal) => self.portal_probed(portal),
            Done::CriteriaLoaded { path, result } => match result {
                Ok(set) => {
                    self.settings.criteria = set;
                    self.settings.criteria_file = Some(path);
                    self.refresh_flags();
                }
                Err(e) => self.error = Some(e.to_string()),
            },
            Done::CriteriaSaved { result } => match result {
                Ok(path) => {
                    self.message.say(format!("Criteria saved to {}", path.display()));
                    self.settings.criteria_file = Some(path);
                }
                Err(e) => self.error = Some(e.to_string()),
            },
            Done::ListsChecked { compiled, changed } => self.lists_checked(&compiled, changed),
            Done::GeoIpOpened { generation, country, asn, result } => {
                self.geoip_opened(generation, (country, asn), result);
            }
            Done::GeoIpLocated => self.geoip_located(),
            Done::Exported { what, path, result } => {
                self.exports_pending = self.exports_pending.saturating_sub(1);
                match result {
                    Ok(()) => self.message.say(format!("Exported {what} to {}", path.display())),
                    Err(e) => self.error = Some(format!("cannot export to {}: {e}", path.display())),
                }
            }
        }
    }

    /// Flags of rows appended live, joined onto the evaluation of the rows before them.
    fn join_flags(&mut self, first: usize, evaluation: Evaluation) {
        if self.evaluation.flagged.len() != first {
            self.refresh_flags();
            return;
        }
        let new_flagged = evaluation.flagged_rows;
        let first_flagged = evaluation.flagged.iter().position(|f| *f).map(|i| (first + i) as u32);
        Arc::make_mut(&mut self.evaluation).add(evaluation);
        if let Some(row) = first_flagged {
            self.live.alert_new_flags(row, new_flagged);
        }
    }

    /// The window's title: the app's name and what it shows.
    fn set_title(&self, what: &str) {
        self.jobs.context().send_viewport_cmd(egui::ViewportCommand::Title(format!("Port Reporter Parser - {what}")));
    }

    /// Shows a new dataset from scratch: view, flags and names computed anew.
    pub(super) fn show_data(&mut self, data: Arc<Dataset>) {
        self.work.cancel_dataset_jobs();
        self.data = Some(data);
        self.source = None;
        self.grid = super::grid::GridState::default();
        self.shown_row = None;
        self.notification = None;
        self.view = Arc::new(Vec::new());
        self.evaluation = Arc::new(Evaluation::default());
        self.filters.drill = None;
        self.filters.range = crate::analysis::time_range::TimeRange::ALL;
        self.timeline.reset();
        self.stats = None;
        self.stats_dirty = true;
        self.initial = super::initial_view::InitialState::default();
        self.refresh_view();
        self.refresh_flags();
        self.request_names();
        self.locate_places();
    }

    /// The statistics tab asks for its figures once the grid's rows are settled.
    pub(super) fn stats_wanted(&mut self) {
        if self.tab == Tab::Statistics && self.stats_dirty && self.work.view.is_idle() {
            self.refresh_stats();
        }
    }

    pub(super) fn picked(&mut self, purpose: Pick, paths: Vec<PathBuf>) {
        let Some(first) = paths.first().cloned() else {
            return;
        };
        match purpose {
            Pick::OpenLogs | Pick::OpenFolder => self.open(paths),
            Pick::FollowFolder => self.follow_folder(first),
            Pick::LoadCriteria => {
                let started = self.jobs.spawn("criteria-load", move || Done::CriteriaLoaded {
                    result: criteria::CriteriaSet::load(&first),
                    path: first,
                });
                if let Err(e) = started {
                    self.not_started(e);
                }
            }
            Pick::SaveCriteria => {
                let set = self.settings.criteria.clone();
                let started = self
                    .jobs
                    .spawn("criteria-save", move || Done::CriteriaSaved { result: set.save(&first).map(|()| first) });
                if let Err(e) = started {
                    self.not_started(e);
                }
            }
            Pick::ExportCsv | Pick::ExportJson => self.export_view(first, purpose == Pick::ExportJson),
            Pick::ExportStatsCsv => self.export_stats(first),
            Pick::ExportPlotPng => self.export_plot(first),
            Pick::AddressList => self.list_chosen(first),
            Pick::BaselineFolder => {
                self.stats_state.changes.baseline = Baseline::Paths(vec![first]);
                self.refresh_stats();
            }
            Pick::GeoIpCountry | Pick::GeoIpAsn => self.geoip_chosen(purpose, first),
        }
    }
}
