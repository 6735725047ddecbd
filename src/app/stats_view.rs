//! The statistics tabs: a sortable table per view of the core, with a bar chart where a
//! picture says more. The figures are computed off the UI thread over the grid's current
//! rows; clicking an entry filters the grid to exactly the rows it counted.

use egui::{RichText, Ui};
use egui_extras::{Column as TableColumn, TableBuilder};
use egui_plot::{Bar, BarChart, Plot};

use crate::analysis::dataset::Dataset;
use crate::analysis::dns::HostNames;
use crate::analysis::stats::{self, Masquerade, RowStats, SvchostEntry, UserUsage};
use crate::analysis::view::Drill;

/// Everything the tabs show, computed together in the background.
#[derive(Debug, Clone, Default)]
pub struct StatsBundle {
    pub rows: RowStats,
    pub svchost: Vec<SvchostEntry>,
    pub masquerading: Vec<Masquerade>,
    /// The process of the per-process tab, and its usage by user.
    pub process: String,
    pub per_process: Vec<UserUsage>,
}

/// Computes the bundle over `view` (row indices), for per-process usage of `process`.
pub fn compute(data: &Dataset, view: &[u32], process: &str) -> StatsBundle {
    let log = &data.set.ports;
    let rows = stats::row_stats(log, Some(view));
    let process = if process.is_empty() { default_process(&rows) } else { process.to_string() };
    StatsBundle {
        per_process: stats::per_process_usage(log, &process, Some(view)),
        svchost: stats::svchost_enumeration(&data.set),
        masquerading: stats::masquerading(&data.set),
        rows,
        process,
    }
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
    Hours,
    Svchost,
    PerProcess,
    Masquerading,
}

impl StatsTab {
    pub const ALL: [StatsTab; 8] = [
        StatsTab::LocalTcpPorts,
        StatsTab::Processes,
        StatsTab::RemoteIps,
        StatsTab::Users,
        StatsTab::Hours,
        StatsTab::Svchost,
        StatsTab::PerProcess,
        StatsTab::Masquerading,
    ];

    pub fn title(self) -> &'static str {
        match self {
            StatsTab::LocalTcpPorts => "Local TCP ports",
            StatsTab::Processes => "Processes",
            StatsTab::RemoteIps => "Remote IPs",
            StatsTab::Users => "User contexts",
            StatsTab::Hours => "Port usage by hour",
            StatsTab::Svchost => "svchost.exe",
            StatsTab::PerProcess => "Per-process usage",
            StatsTab::Masquerading => "Masquerading",
        }
    }
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

/// The table of a tab: column titles (key, detail) and entries, in the core's order.
pub fn entries(tab: StatsTab, bundle: &StatsBundle, hosts: &dyn HostNames) -> (&'static str, &'static str, Vec<Entry>) {
    let r = &bundle.rows;
    let counted = |key: String, detail: String, count: u64, percent: Option<f64>, drill: Drill| Entry {
        key,
        detail,
        count: Some(count),
        percent,
        drill: Some(drill),
    };
    match tab {
        StatsTab::LocalTcpPorts => (
            "Local port",
            "",
            r.local_tcp_port_usage
                .iter()
                .map(|c| {
                    counted(c.port.to_string(), String::new(), c.count, Some(c.percent), Drill::LocalTcpPort(c.port))
                })
                .collect(),
        ),
        StatsTab::Processes => (
            "Process",
            "",
            r.process_usage
                .iter()
                .map(|c| {
                    counted(
                        c.process.clone(),
                        String::new(),
                        c.count,
                        Some(c.percent),
                        Drill::Process(c.process.clone()),
                    )
                })
                .collect(),
        ),
        StatsTab::RemoteIps => (
            "Remote IP",
            "Host",
            r.remote_ip_usage
                .iter()
                .map(|c| {
                    let host = hosts.host_name(c.ip).unwrap_or_default();
                    counted(c.ip.to_string(), host, c.count, Some(c.percent), Drill::RemoteIp(c.ip))
                })
                .collect(),
        ),
        StatsTab::Users => (
            "User",
            "",
            r.user_context_usage
                .iter()
                .map(|c| counted(c.user.clone(), String::new(), c.count, Some(c.percent), Drill::User(c.user.clone())))
                .collect(),
        ),
        StatsTab::Hours => (
            "Hour",
            "",
            r.port_usage_by_hour
                .iter()
                .map(|h| {
                    let pct = Some(stats::percent(h.count, r.rows));
                    counted(format!("{:02}:00", h.hour), String::new(), h.count, pct, Drill::Hour(h.hour))
                })
                .collect(),
        ),
        StatsTab::Svchost => (
            "PID",
            "Services",
            bundle
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
        ),
        StatsTab::PerProcess => (
            "User",
            "Remote hosts",
            bundle
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
        ),
        StatsTab::Masquerading => (
            "PID",
            "Image path",
            bundle
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
        ),
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
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StatsEvents {
    pub drill: Option<Drill>,
    pub process_changed: bool,
    pub export_csv: bool,
    pub export_png: bool,
}

/// Bars shown for top-N views.
const TOP_BARS: usize = 20;

pub fn stats_ui(
    ui: &mut Ui,
    state: &mut StatsState,
    bundle: Option<&StatsBundle>,
    hosts: &dyn HostNames,
) -> StatsEvents {
    let mut events = StatsEvents::default();
    ui.horizontal_wrapped(|ui| {
        for tab in StatsTab::ALL {
            if ui.selectable_label(state.tab == tab, tab.title()).clicked() {
                state.tab = tab;
                state.sort = TableSort::Core;
            }
        }
    });
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
    let (key_title, detail_title, mut list) = entries(state.tab, bundle, hosts);
    if has_plot(state.tab) {
        state.plot_rect = Some(plot_ui(ui, state.tab, &list));
    }
    sort_entries(&mut list, state.sort);
    table_ui(ui, state, key_title, detail_title, &list, &mut events);
    events
}

fn has_plot(tab: StatsTab) -> bool {
    !matches!(tab, StatsTab::Svchost | StatsTab::Masquerading)
}

/// Bars by hour of day, or the top entries by count; returns where the plot is on screen.
fn plot_ui(ui: &mut Ui, tab: StatsTab, list: &[Entry]) -> egui::Rect {
    let bars: Vec<Bar> = list
        .iter()
        .take(if tab == StatsTab::Hours { 24 } else { TOP_BARS })
        .enumerate()
        .map(|(i, e)| {
            let x = if tab == StatsTab::Hours { i as f64 } else { i as f64 + 1.0 };
            Bar::new(x, e.count.unwrap_or(0) as f64).name(&e.key).width(0.8)
        })
        .collect();
    let x_label = if tab == StatsTab::Hours { "hour of day" } else { "rank (hover a bar for its name)" };
    let response = Plot::new(("stats-plot", tab.title()))
        .height(220.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_y(0.0)
        .x_axis_label(x_label)
        .y_axis_label("rows")
        .show(ui, |plot| {
            plot.bar_chart(BarChart::new(tab.title(), bars).color(egui::Color32::from_rgb(0x4a, 0x90, 0xd9)))
        });
    response.response.rect
}

fn table_ui(
    ui: &mut Ui,
    state: &mut StatsState,
    key_title: &str,
    detail_title: &str,
    list: &[Entry],
    events: &mut StatsEvents,
) {
    let with_detail = !detail_title.is_empty();
    let with_count = list.iter().any(|e| e.count.is_some());
    let mut table = TableBuilder::new(ui)
        .id_salt(("stats-table", state.tab.title()))
        .striped(true)
        .resizable(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(TableColumn::initial(220.0).at_least(60.0).clip(true));
    if with_count {
        table = table.column(TableColumn::initial(90.0)).column(TableColumn::initial(80.0));
    }
    if with_detail {
        table = table.column(TableColumn::remainder().at_least(100.0).clip(true));
    }
    table
        .header(24.0, |mut header| {
            header.col(|ui| {
                sort_header(ui, &mut state.sort, key_title, TableSort::KeyAscending, TableSort::KeyDescending)
            });
            if with_count {
                header.col(|ui| {
                    sort_header(ui, &mut state.sort, "Count", TableSort::CountDescending, TableSort::CountAscending)
                });
                header.col(|ui| {
                    ui.strong("Percent");
                });
            }
            if with_detail {
                header.col(|ui| {
                    ui.strong(detail_title);
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
                if with_count {
                    row.col(|ui| {
                        ui.label(e.count.map_or(String::new(), |c| c.to_string()));
                    });
                    row.col(|ui| {
                        ui.label(e.percent.map_or(String::new(), |p| format!("{p:.2}%")));
                    });
                }
                if with_detail {
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

/// The current tab's table as CSV rows (for export).
pub fn table_csv(tab: StatsTab, bundle: &StatsBundle, hosts: &dyn HostNames) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let (key, detail, list) = entries(tab, bundle, hosts);
    let mut header = vec![key, "Count", "Percent"];
    if !detail.is_empty() {
        header.push(detail);
    }
    let rows = list
        .into_iter()
        .map(|e| {
            let mut row = vec![
                e.key,
                e.count.map_or(String::new(), |c| c.to_string()),
                e.percent.map_or(String::new(), |p| format!("{p:.2}")),
            ];
            if !detail.is_empty() {
                row.push(e.detail);
            }
            row
        })
        .collect();
    (header, rows)
}
