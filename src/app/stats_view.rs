//! The statistics tabs: a sortable table per view of the core, with a bar chart where a
//! picture says more. The figures are computed off the UI thread over the grid's current
//! rows; clicking an entry filters the grid to exactly the rows it counted.

use egui::{RichText, Ui};
use egui_extras::{Column as TableColumn, TableBuilder};
use egui_plot::{Bar, BarChart, Plot};

use super::changes_view::{self, BaselineChoice, ChangeList, ChangesState};
use crate::analysis::changes::{Baseline, ChangeScanner, Changes, Role};
use crate::analysis::dataset::Dataset;
use std::sync::Arc;

use crate::analysis::dns::HostNames;
use crate::analysis::geoip::GeoIp;
use crate::analysis::stats::beaconing::{self, Beacon};
use crate::analysis::stats::computers::{self, ComputerUsage};
use crate::analysis::stats::geo::RemotePlaces;
use crate::analysis::stats::{self, Masquerade, RowStats, SvchostEntry, UserUsage};
use crate::analysis::time_range::TimeRange;
use crate::analysis::view::Drill;
use crate::logs::ports::LoadProgress;

/// Everything the tabs show, computed together in the background.
#[derive(Debug, Clone, Default)]
pub struct StatsBundle {
    pub rows: RowStats,
    pub svchost: Vec<SvchostEntry>,
    pub masquerading: Vec<Masquerade>,
    /// The process of the per-process tab, and its usage by user.
    pub process: String,
    pub per_process: Vec<UserUsage>,
    pub beaconing: Vec<Beacon>,
    /// The Changes tab's lists, when it asked for them (it reads every row of the set, and
    /// a baseline folder, so only then); an error when the baseline could not be read.
    pub changes: Option<Result<Changes, String>>,
    pub computers: Vec<ComputerUsage>,
    /// Remote countries and ASNs, each present while its database is open.
    pub places: RemotePlaces,
}

/// Computes the bundle over `view` (row indices), for per-process usage of `process`, the
/// Changes lists since `baseline` when one is given, and remote countries and ASNs from `geo`;
/// `flagged[i]` tells whether row `i` stays flagged.
pub fn compute(
    data: &Dataset,
    view: &[u32],
    process: &str,
    flagged: &[bool],
    baseline: Option<&Baseline>,
    geo: Option<&Arc<GeoIp>>,
) -> StatsBundle {
    let log = &data.set.ports;
    let rows = stats::row_stats(log, Some(view));
    let process = if process.is_empty() { default_process(&rows) } else { process.to_string() };
    StatsBundle {
        per_process: stats::per_process_usage(log, &process, Some(view)),
        svchost: stats::svchost_enumeration(&data.set),
        masquerading: stats::masquerading(&data.set),
        beaconing: beaconing::beaconing(log, Some(view)),
        computers: computers::computer_usage(log, Some(view), flagged),
        places: geo.map(|g| stats::remote_places(log, Some(view), g)).unwrap_or_default(),
        rows,
        process,
        changes: baseline.map(|b| changes(data, view, b)),
    }
}

/// What changed among the grid's rows (`view`) since `baseline`: every row of the set takes
/// part in the baseline and in pairing the XP quirk, only the grid's rows count as after.
fn changes(data: &Dataset, view: &[u32], baseline: &Baseline) -> Result<Changes, String> {
    let mut scanner = ChangeScanner::new(baseline.clone(), TimeRange::default());
    scanner.read_baseline(&LoadProgress::default()).map_err(|e| e.to_string())?;
    scanner.scan_set(Role::Loaded, &data.set, Some(view));
    Ok(scanner.finish(&data.set.ports.addrs))
}

/// iexplore.exe, as the original Parser had, when the log has it; else the busiest process.
fn default_process(rows: &RowStats) -> String {
    rows.process_usage
        .iter()
        .find(|p| p.process.eq_ignore_ascii_case("iexplore.exe"))
        .or_else(|| rows.process_usage.first())
        .map(|p| p.process.clone())
        .unwrap_or_default()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum StatsTab {
    #[default]
    LocalTcpPorts,
    Processes,
    RemoteIps,
    Users,
    Computers,
    Hours,
    Svchost,
    PerProcess,
    Masquerading,
    Beaconing,
    /// What is new since a baseline: its own tables (`changes_view`).
    Changes,
    RemoteCountries,
    RemoteAsns,
}

impl StatsTab {
    pub const ALL: [StatsTab; 13] = [
        StatsTab::LocalTcpPorts,
        StatsTab::Processes,
        StatsTab::RemoteIps,
        StatsTab::Users,
        StatsTab::Computers,
        StatsTab::Hours,
        StatsTab::Svchost,
        StatsTab::PerProcess,
        StatsTab::Masquerading,
        StatsTab::Beaconing,
        StatsTab::Changes,
        StatsTab::RemoteCountries,
        StatsTab::RemoteAsns,
    ];

    pub fn title(self) -> &'static str {
        match self {
            StatsTab::LocalTcpPorts => "Local TCP ports",
            StatsTab::Processes => "Processes",
            StatsTab::RemoteIps => "Remote IPs",
            StatsTab::Users => "User contexts",
            StatsTab::Computers => "Computers",
            StatsTab::Hours => "Port usage by hour",
            StatsTab::Svchost => "svchost.exe",
            StatsTab::PerProcess => "Per-process usage",
            StatsTab::Masquerading => "Masquerading",
            StatsTab::Beaconing => "Beaconing",
            StatsTab::Changes => "Changes",
            StatsTab::RemoteCountries => "Remote countries",
            StatsTab::RemoteAsns => "Remote ASNs",
        }
    }

    /// The columns of the tab's table, each named for what it holds.
    pub fn columns(self) -> Columns {
        let rows = |key, detail| Columns { key, count: Some("Rows"), percent: true, detail };
        match self {
            StatsTab::LocalTcpPorts => rows("Local port", None),
            StatsTab::Processes => rows("Process", None),
            StatsTab::RemoteIps => rows("Remote IP", Some("Host")),
            StatsTab::Users => rows("User", None),
            StatsTab::Computers => rows("Computer", Some("First and last row, flagged rows")),
            StatsTab::Hours => rows("Hour", None),
            StatsTab::Svchost => {
                Columns { key: "PID", count: Some("Services"), percent: false, detail: Some("Service names") }
            }
            StatsTab::PerProcess => rows("User", Some("Remote hosts")),
            StatsTab::Masquerading => {
                Columns { key: "PID (process)", count: None, percent: false, detail: Some("Image path") }
            }
            StatsTab::Beaconing => Columns {
                key: "Process to remote",
                count: Some("Connections"),
                percent: false,
                detail: Some("Score (0 to 1), median interval, computer"),
            },
            // Each of its lists has columns of its own (changes_view); the first is the process.
            StatsTab::Changes => Columns { key: "Process", count: None, percent: false, detail: None },
            StatsTab::RemoteCountries => rows("Country", None),
            StatsTab::RemoteAsns => rows("AS", Some("Organisation")),
        }
    }

    /// Whether the tab has figures in `bundle`: the GeoIP views only while their database is
    /// open.
    fn present(self, bundle: Option<&StatsBundle>) -> bool {
        let places = bundle.map(|b| &b.places);
        match self {
            StatsTab::RemoteCountries => places.is_some_and(|p| p.countries.is_some()),
            StatsTab::RemoteAsns => places.is_some_and(|p| p.asns.is_some()),
            _ => true,
        }
    }
}

/// The columns a statistics table shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Columns {
    pub key: &'static str,
    /// The title of the count column (what is counted), if the table has one.
    pub count: Option<&'static str>,
    /// Whether the table has a share-of-rows column.
    pub percent: bool,
    /// The title of the text column after the figures, if the table has one.
    pub detail: Option<&'static str>,
}

/// One line of a statistics table.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    /// A second text column (host name, services, path, remote hosts); empty when unused.
    pub detail: String,
    pub count: Option<u64>,
    pub percent: Option<f64>,
    pub drill: Option<Drill>,
}

/// The entries of a tab's table, in the core's order.
pub fn entries(tab: StatsTab, bundle: &StatsBundle, hosts: &dyn HostNames) -> Vec<Entry> {
    let r = &bundle.rows;
    let counted = |key: String, detail: String, count: u64, percent: Option<f64>, drill: Drill| Entry {
        key,
        detail,
        count: Some(count),
        percent,
        drill: Some(drill),
    };
    match tab {
        StatsTab::LocalTcpPorts => r
            .local_tcp_port_usage
            .iter()
            .map(|c| counted(c.port.to_string(), String::new(), c.count, Some(c.percent), Drill::LocalTcpPort(c.port)))
            .collect(),
        StatsTab::Processes => r
            .process_usage
            .iter()
            .map(|c| {
                counted(c.process.clone(), String::new(), c.count, Some(c.percent), Drill::Process(c.process.clone()))
            })
            .collect(),
        StatsTab::RemoteIps => r
            .remote_ip_usage
            .iter()
            .map(|c| {
                let host = hosts.host_name(c.ip).unwrap_or_default();
                counted(c.ip.to_string(), host, c.count, Some(c.percent), Drill::RemoteIp(c.ip))
            })
            .collect(),
        StatsTab::Users => r
            .user_context_usage
            .iter()
            .map(|c| counted(c.user.clone(), String::new(), c.count, Some(c.percent), Drill::User(c.user.clone())))
            .collect(),
        StatsTab::Hours => r
            .port_usage_by_hour
            .iter()
            .map(|h| {
                let pct = Some(stats::percent(h.count, r.rows));
                counted(format!("{:02}:00", h.hour), String::new(), h.count, pct, Drill::Hour(h.hour))
            })
            .collect(),
        StatsTab::Svchost => bundle
            .svchost
            .iter()
            .map(|s| Entry {
                key: s.pid.to_string(),
                detail: if s.services.is_empty() { "(no services)".into() } else { s.services.join(", ") },
                count: Some(s.services.len() as u64),
                percent: None,
                drill: Some(Drill::Pid(s.pid)),
            })
            .collect(),
        StatsTab::PerProcess => bundle
            .per_process
            .iter()
            .map(|u| {
                let hosts = u
                    .remote_hosts
                    .iter()
                    .take(8)
                    .map(|h| {
                        let name = hosts.host_name(h.ip).map_or(String::new(), |n| format!(" {n}"));
                        format!("{}{name} ({})", h.ip, h.count)
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let user = if u.user.is_empty() { "(no user)".to_string() } else { u.user.clone() };
                let drill = Drill::ProcessUser { process: bundle.process.clone(), user: u.user.clone() };
                counted(user, hosts, u.count, Some(u.percent), drill)
            })
            .collect(),
        StatsTab::Masquerading => bundle
            .masquerading
            .iter()
            .map(|m| Entry {
                key: format!("{} ({})", m.pid, m.process),
                detail: m.path.clone(),
                count: None,
                percent: None,
                drill: Some(Drill::Pid(m.pid)),
            })
            .collect(),
        StatsTab::Computers => bundle
            .computers
            .iter()
            .map(|c| {
                let name = if c.computer.is_empty() { "(unknown)".to_string() } else { c.computer.clone() };
                let pct = Some(stats::percent(c.rows, r.rows));
                counted(name, computer_detail(c), c.rows, pct, Drill::Computer(c.computer.clone()))
            })
            .collect(),
        StatsTab::RemoteCountries => bundle
            .places
            .countries
            .iter()
            .flatten()
            .map(|c| counted(c.country.to_string(), String::new(), c.count, Some(c.percent), Drill::Country(c.country)))
            .collect(),
        StatsTab::RemoteAsns => bundle
            .places
            .asns
            .iter()
            .flatten()
            .map(|a| {
                counted(format!("AS{}", a.asn), a.organization.clone(), a.count, Some(a.percent), Drill::Asn(a.asn))
            })
            .collect(),
        StatsTab::Beaconing => bundle.beaconing.iter().map(beacon_entry).collect(),
        // Its lists are tables of their own, with their own columns (changes_view).
        StatsTab::Changes => Vec::new(),
    }
}

/// A computer's first and last row and its flagged rows.
fn computer_detail(c: &ComputerUsage) -> String {
    let time =
        |t: Option<chrono::NaiveDateTime>| t.map_or(String::new(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
    match c.rows {
        0 => format!("no rows shown; {} flagged", c.flagged),
        _ => format!("{} .. {}; {} flagged", time(c.first), time(c.last), c.flagged),
    }
}

/// A Beaconing entry: the process and where it connects; its score and rhythm beside.
fn beacon_entry(b: &Beacon) -> Entry {
    let remote =
        crate::analysis::view::endpoint(crate::model::Address::Ip(b.remote_ip), Some(b.remote_port.to_string()));
    let on = if b.computer.is_empty() { String::new() } else { format!(", {}", b.computer) };
    Entry {
        key: format!("{} to {remote}", b.process),
        detail: format!("{:.3}, every {:.0} s{on}", b.score, b.median_interval_s),
        count: Some(b.connections),
        percent: None,
        drill: Some(Drill::Beacon {
            computer: b.computer.clone(),
            process: b.process.clone(),
            remote_ip: b.remote_ip,
            remote_port: b.remote_port,
        }),
    }
}

/// Which column a table is sorted by (none: the core's order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TableSort {
    #[default]
    Core,
    KeyAscending,
    KeyDescending,
    CountAscending,
    CountDescending,
}

fn sort_entries(entries: &mut [Entry], sort: TableSort) {
    let numeric = |e: &Entry| e.key.split(['.', ':', ' ']).next().and_then(|k| k.parse::<u64>().ok());
    let by_key = |a: &Entry, b: &Entry| match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.key.cmp(&b.key)),
        _ => a.key.cmp(&b.key),
    };
    match sort {
        TableSort::Core => {}
        TableSort::KeyAscending => entries.sort_by(by_key),
        TableSort::KeyDescending => entries.sort_by(|a, b| by_key(b, a)),
        TableSort::CountAscending => entries.sort_by_key(|e| e.count),
        TableSort::CountDescending => entries.sort_by_key(|e| std::cmp::Reverse(e.count)),
    }
}

/// Tab selection, table sort and the plot's place on screen (for PNG export).
#[derive(Debug, Clone, Default)]
pub struct StatsState {
    pub tab: StatsTab,
    pub sort: TableSort,
    pub process: String,
    pub plot_rect: Option<egui::Rect>,
    pub changes: ChangesState,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsEvents {
    pub drill: Option<Drill>,
    pub process_changed: bool,
    pub export_csv: bool,
    pub export_png: bool,
    /// The Changes tab's *Set baseline...*.
    pub baseline: Option<BaselineChoice>,
}

/// Bars shown for top-N views.
const TOP_BARS: usize = 20;

pub fn stats_ui(
    ui: &mut Ui,
    state: &mut StatsState,
    bundle: Option<&StatsBundle>,
    hosts: &dyn HostNames,
    selected_row: bool,
) -> StatsEvents {
    let mut events = StatsEvents::default();
    ui.horizontal_wrapped(|ui| {
        for tab in StatsTab::ALL.into_iter().filter(|t| t.present(bundle)) {
            if ui.selectable_label(state.tab == tab, tab.title()).clicked() {
                state.tab = tab;
                state.sort = TableSort::Core;
            }
        }
    });
    if state.tab == StatsTab::Changes {
        let changes = bundle.and_then(|b| b.changes.as_ref());
        let asked = changes_view::changes_ui(ui, &mut state.changes, changes, selected_row);
        return StatsEvents { drill: asked.drill, export_csv: asked.export_csv, baseline: asked.baseline, ..events };
    }
    let Some(bundle) = bundle else {
        ui.spinner();
        return events;
    };
    ui.horizontal(|ui| {
        if state.tab == StatsTab::PerProcess {
            ui.label("Process");
            egui::ComboBox::from_id_salt("per-process").selected_text(&bundle.process).show_ui(ui, |ui| {
                for p in &bundle.rows.process_usage {
                    if ui.selectable_label(p.process == bundle.process, &p.process).clicked() {
                        state.process = p.process.clone();
                        events.process_changed = true;
                    }
                }
            });
        }
        events.export_csv = ui.button("Export table as CSV...").clicked();
        if has_plot(state.tab) {
            events.export_png = ui.button("Export plot as PNG...").clicked();
        }
        ui.label(
            RichText::new(format!(
                "over {} rows shown in the grid; click an entry to filter the grid",
                bundle.rows.rows
            ))
            .weak(),
        );
    });
    let mut list = entries(state.tab, bundle, hosts);
    if has_plot(state.tab) {
        let (rect, drill) = plot_ui(ui, state.tab, &list);
        state.plot_rect = Some(rect);
        events.drill = drill;
    }
    sort_entries(&mut list, state.sort);
    table_ui(ui, state, &list, &mut events);
    events
}

fn has_plot(tab: StatsTab) -> bool {
    !matches!(tab, StatsTab::Svchost | StatsTab::Masquerading | StatsTab::Beaconing)
}

/// Bars by hour of day, or the top entries by count; returns where the chart is on screen,
/// and the rows of a bar that was clicked.
fn plot_ui(ui: &mut Ui, tab: StatsTab, list: &[Entry]) -> (egui::Rect, Option<Drill>) {
    if tab != StatsTab::Hours {
        return top_bars_ui(ui, list);
    }
    let bars: Vec<Bar> = list
        .iter()
        .take(24)
        .enumerate()
        .map(|(i, e)| Bar::new(i as f64, e.count.unwrap_or(0) as f64).name(&e.key).width(0.8))
        .collect();
    let response = Plot::new(("stats-plot", tab.title()))
        .height(220.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_y(0.0)
        .x_axis_label("hour of day")
        .y_axis_label("rows")
        .show(ui, |plot| plot.bar_chart(BarChart::new(tab.title(), bars).color(BAR_COLOR)));
    (response.response.rect, None)
}

const BAR_COLOR: egui::Color32 = egui::Color32::from_rgb(0x4a, 0x90, 0xd9);

/// Longest bar: a chart wider than this is hard to read across.
const MAX_BAR: f32 = 640.0;

/// Height of one bar's line in the top-entries chart.
const BAR_LINE: f32 = 16.0;

/// The top entries as horizontal bars, each beside its key (port, process, address, user)
/// and followed by its count: a name a person can read, not a rank to hover. Clicking a bar
/// shows its rows, as clicking its entry in the table does.
fn top_bars_ui(ui: &mut Ui, list: &[Entry]) -> (egui::Rect, Option<Drill>) {
    let mut drill = None;
    let top: Vec<&Entry> = list.iter().filter(|e| e.count.is_some()).take(TOP_BARS).collect();
    let most = top.iter().filter_map(|e| e.count).max().unwrap_or(1).max(1);
    let key_width = 240.0_f32.min(ui.available_width() / 3.0);
    let count_width = 90.0;
    let bar_room =
        (ui.available_width() - key_width - count_width - 2.0 * ui.spacing().item_spacing.x).clamp(40.0, MAX_BAR);
    let response = ui.vertical(|ui| {
        ui.label(RichText::new(format!("Top {} by rows", top.len())).weak());
        for e in &top {
            let count = e.count.unwrap_or(0);
            ui.horizontal(|ui| {
                ui.allocate_ui_with_layout(
                    egui::vec2(key_width, BAR_LINE),
                    egui::Layout::right_to_left(egui::Align::Center),
                    |ui| ui.add(egui::Label::new(&e.key).truncate()),
                );
                let (rect, bar) = ui.allocate_exact_size(egui::vec2(bar_room, BAR_LINE), egui::Sense::click());
                let width = (count as f32 / most as f32 * bar_room).max(1.0);
                let filled =
                    egui::Rect::from_min_size(rect.min + egui::vec2(0.0, 2.0), egui::vec2(width, BAR_LINE - 4.0));
                ui.painter().rect_filled(filled, 2.0, BAR_COLOR);
                let percent = e.percent.map_or(String::new(), |p| format!(" ({p:.2}%)"));
                if bar.on_hover_text(format!("{}: {count} rows{percent}; click for its rows", e.key)).clicked() {
                    drill = e.drill.clone();
                }
                ui.label(count.to_string());
            });
        }
    });
    (response.response.rect, drill)
}

fn table_ui(ui: &mut Ui, state: &mut StatsState, list: &[Entry], events: &mut StatsEvents) {
    let columns = state.tab.columns();
    let mut table = TableBuilder::new(ui)
        .id_salt(("stats-table", state.tab.title()))
        .striped(true)
        .resizable(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(TableColumn::initial(220.0).at_least(60.0).clip(true));
    if columns.count.is_some() {
        table = table.column(TableColumn::initial(90.0));
    }
    if columns.percent {
        table = table.column(TableColumn::initial(80.0));
    }
    if columns.detail.is_some() {
        table = table.column(TableColumn::remainder().at_least(100.0).clip(true));
    }
    table
        .header(24.0, |mut header| {
            header.col(|ui| {
                sort_header(ui, &mut state.sort, columns.key, TableSort::KeyAscending, TableSort::KeyDescending)
            });
            if let Some(title) = columns.count {
                header.col(|ui| {
                    sort_header(ui, &mut state.sort, title, TableSort::CountDescending, TableSort::CountAscending)
                });
            }
            if columns.percent {
                header.col(|ui| {
                    ui.strong("Percent");
                });
            }
            if let Some(title) = columns.detail {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, list.len(), |mut row| {
                let Some(e) = list.get(row.index()) else {
                    return;
                };
                row.col(|ui| {
                    if ui.link(&e.key).on_hover_text("Show these rows in the grid").clicked() {
                        events.drill = e.drill.clone();
                    }
                });
                if columns.count.is_some() {
                    row.col(|ui| {
                        ui.label(e.count.map_or(String::new(), |c| c.to_string()));
                    });
                }
                if columns.percent {
                    row.col(|ui| {
                        ui.label(e.percent.map_or(String::new(), |p| format!("{p:.2}%")));
                    });
                }
                if columns.detail.is_some() {
                    row.col(|ui| {
                        ui.add(egui::Label::new(&e.detail).truncate());
                    });
                }
            });
        });
}

fn sort_header(ui: &mut Ui, sort: &mut TableSort, title: &str, first: TableSort, second: TableSort) {
    let text = if *sort == first || *sort == second {
        let arrow = match *sort {
            TableSort::KeyAscending | TableSort::CountAscending => " (asc)",
            TableSort::KeyDescending | TableSort::CountDescending => " (desc)",
            TableSort::Core => "",
        };
        format!("{title}{arrow}")
    } else {
        title.to_string()
    };
    if ui.add(egui::Button::new(RichText::new(text).strong()).frame(false)).clicked() {
        *sort = if *sort == first {
            second
        } else if *sort == second {
            TableSort::Core
        } else {
            first
        };
    }
}

/// The current tab's table as CSV rows (for export), under the table's column titles.
pub fn table_csv(
    tab: StatsTab,
    list: ChangeList,
    bundle: &StatsBundle,
    hosts: &dyn HostNames,
) -> (Vec<&'static str>, Vec<Vec<String>>) {
    if tab == StatsTab::Changes {
        return match &bundle.changes {
            Some(Ok(changes)) => changes_view::csv(list, changes),
            _ => (Vec::new(), Vec::new()),
        };
    }
    let columns = tab.columns();
    let header = [Some(columns.key), columns.count, columns.percent.then_some("Percent"), columns.detail]
        .into_iter()
        .flatten()
        .collect();
    let rows = entries(tab, bundle, hosts)
        .into_iter()
        .map(|e| {
            let mut row = vec![e.key];
            if columns.count.is_some() {
                row.push(e.count.map_or(String::new(), |c| c.to_string()));
            }
            if columns.percent {
                row.push(e.percent.map_or(String::new(), |p| format!("{p:.2}")));
            }
            if columns.detail.is_some() {
                row.push(e.detail);
            }
            row
        })
        .collect();
    (header, rows)
}
