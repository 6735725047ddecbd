//! The Changes statistics tab: what is new since a baseline (see [`crate::analysis::changes`]),
//! one sortable table per list, an entry's link filtering the grid to its rows, and *Set
//! baseline...* to compare with other logs or with the rows before the selected one.

use chrono::NaiveDateTime;
use egui::{RichText, Ui};
use egui_extras::{Column as TableColumn, TableBuilder};

use crate::analysis::changes::{Baseline, BaselineOut, Changes};
use crate::analysis::time_range::iso;
use crate::analysis::view::Drill;

/// The four lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChangeList {
    #[default]
    Listeners,
    Owners,
    Processes,
    Endpoints,
}

impl ChangeList {
    pub const ALL: [ChangeList; 4] =
        [ChangeList::Listeners, ChangeList::Owners, ChangeList::Processes, ChangeList::Endpoints];

    pub fn title(self) -> &'static str {
        match self {
            ChangeList::Listeners => "New listeners",
            ChangeList::Owners => "Port owner changes",
            ChangeList::Processes => "New processes",
            ChangeList::Endpoints => "New remote endpoints",
        }
    }

    fn len(self, changes: &Changes) -> usize {
        match self {
            ChangeList::Listeners => changes.new_listeners.len(),
            ChangeList::Owners => changes.owner_changes.len(),
            ChangeList::Processes => changes.new_processes.len(),
            ChangeList::Endpoints => changes.new_remote_endpoints.len(),
        }
    }

    /// The table's column titles; the first (the process) is the link to the entry's rows.
    fn columns(self) -> &'static [&'static str] {
        match self {
            ChangeList::Listeners => &["Process", "Protocol", "Port", "PID", "User", "First seen", "Rows", "Computer"],
            ChangeList::Owners => {
                &["Process", "Protocol", "Port", "Baseline processes", "PID", "First seen", "Computer"]
            }
            ChangeList::Processes => &["Process", "First seen", "Rows", "Users", "Computer"],
            ChangeList::Endpoints => &["Process", "Remote IP", "Remote port", "First seen", "Rows", "Computer"],
        }
    }
}

/// A cell, sorted by what it holds (numbers as numbers, times as times).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Cell {
    Num(u64),
    Time(NaiveDateTime),
    Text(String),
}

impl Cell {
    fn text(&self) -> String {
        match self {
            Cell::Num(n) => n.to_string(),
            Cell::Time(t) => iso(*t).replace('T', " "),
            Cell::Text(s) => s.clone(),
        }
    }
}

/// One entry of a list: its cells, in [`ChangeList::columns`] order, and its rows.
#[derive(Debug, Clone)]
struct Line {
    cells: Vec<Cell>,
    drill: Drill,
}

fn pid(p: Option<u32>) -> Cell {
    p.map_or(Cell::Text(String::new()), |p| Cell::Num(p.into()))
}

/// A list's entries in the core's order.
fn lines(list: ChangeList, changes: &Changes) -> Vec<Line> {
    use Cell::{Num, Text, Time};
    let listener = |computer: &str, protocol, port, process: &str| Drill::Listener {
        computer: computer.to_string(),
        protocol,
        port,
        process: process.to_string(),
    };
    match list {
        ChangeList::Listeners => changes
            .new_listeners
            .iter()
            .map(|l| Line {
                cells: vec![
                    Text(l.process.clone()),
                    Text(l.protocol.to_string()),
                    Num(l.port.into()),
                    pid(l.pid),
                    Text(l.user.clone()),
                    Time(l.first_seen),
                    Num(l.rows),
                    Text(l.computer.clone()),
                ],
                drill: listener(&l.computer, l.protocol, l.port, &l.process),
            })
            .collect(),
        ChangeList::Owners => changes
            .owner_changes
            .iter()
            .map(|c| Line {
                cells: vec![
                    Text(c.process.clone()),
                    Text(c.protocol.to_string()),
                    Num(c.port.into()),
                    Text(c.baseline_processes.join(", ")),
                    pid(c.pid),
                    Time(c.first_seen),
                    Text(c.computer.clone()),
                ],
                drill: listener(&c.computer, c.protocol, c.port, &c.process),
            })
            .collect(),
        ChangeList::Processes => changes
            .new_processes
            .iter()
            .map(|p| Line {
                cells: vec![
                    Text(p.process.clone()),
                    Time(p.first_seen),
                    Num(p.rows),
                    Text(p.users.join(", ")),
                    Text(p.computer.clone()),
                ],
                drill: Drill::ComputerProcess { computer: p.computer.clone(), process: p.process.clone() },
            })
            .collect(),
        ChangeList::Endpoints => changes
            .new_remote_endpoints
            .iter()
            .map(|e| Line {
                cells: vec![
                    Text(e.process.clone()),
                    Text(e.remote_ip.to_string()),
                    Num(e.remote_port.into()),
                    Time(e.first_seen),
                    Num(e.rows),
                    Text(e.computer.clone()),
                ],
                drill: Drill::Endpoint {
                    computer: e.computer.clone(),
                    process: e.process.clone(),
                    ip: e.remote_ip,
                    port: e.remote_port,
                },
            })
            .collect(),
    }
}

/// The current list as CSV rows, under its column titles (the core's order).
pub fn csv(list: ChangeList, changes: &Changes) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rows = lines(list, changes).into_iter().map(|l| l.cells.iter().map(Cell::text).collect()).collect();
    (list.columns().to_vec(), rows)
}

/// What the tab shows and compares with.
#[derive(Debug, Clone, Default)]
pub struct ChangesState {
    pub list: ChangeList,
    /// The column sorted by and whether descending; none: the core's order.
    pub sort: Option<(usize, bool)>,
    pub baseline: Baseline,
}

/// What the person asked for as the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaselineChoice {
    /// Each computer's earliest PR-INITIAL.
    Initial,
    /// A folder of logs (a dialog asks which).
    Folder,
    /// The rows before the row selected in the grid.
    BeforeSelectedRow,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChangesEvents {
    pub drill: Option<Drill>,
    pub baseline: Option<BaselineChoice>,
    pub export_csv: bool,
}

/// The baseline in words.
fn baseline_text(baseline: &BaselineOut) -> String {
    match baseline {
        BaselineOut::Initial { files } if files.is_empty() => {
            "each computer's earliest PR-INITIAL (none loaded: everything is new)".to_string()
        }
        BaselineOut::Initial { files } => {
            let names: Vec<&str> = files.iter().map(|f| crate::model::file_name(f)).collect();
            format!("each computer's earliest PR-INITIAL ({})", names.join(", "))
        }
        BaselineOut::Path { paths } => format!("the logs in {}", paths.join(", ")),
        BaselineOut::Until { until } => format!("the rows before {}", iso(*until).replace('T', " ")),
    }
}

/// The tab: `changes` is `None` while it is computed, an error when the baseline could not be
/// read. `selected_row` says whether a grid row is selected (for *rows before the selected
/// row*).
pub fn changes_ui(
    ui: &mut Ui,
    state: &mut ChangesState,
    changes: Option<&Result<Changes, String>>,
    selected_row: bool,
) -> ChangesEvents {
    let mut events = ChangesEvents::default();
    ui.horizontal(|ui| {
        ui.menu_button("Set baseline...", |ui| {
            if ui.button("Each computer's earliest PR-INITIAL").clicked() {
                events.baseline = Some(BaselineChoice::Initial);
            }
            if ui.button("Logs in a folder...").clicked() {
                events.baseline = Some(BaselineChoice::Folder);
            }
            let before = ui
                .add_enabled(selected_row, egui::Button::new("Rows before the selected row"))
                .on_disabled_hover_text("Select a row in the grid first");
            if before.clicked() {
                events.baseline = Some(BaselineChoice::BeforeSelectedRow);
            }
        });
        match changes {
            Some(Ok(c)) => {
                ui.label(format!("Baseline: {}", baseline_text(&c.baseline)));
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, format!("The baseline could not be read: {e}"));
            }
            None => {
                ui.spinner();
            }
        }
    });
    let Some(Ok(changes)) = changes else {
        return events;
    };
    ui.horizontal_wrapped(|ui| {
        for list in ChangeList::ALL {
            let title = format!("{} ({})", list.title(), list.len(changes));
            if ui.selectable_label(state.list == list, title).clicked() && state.list != list {
                state.list = list;
                state.sort = None;
            }
        }
        events.export_csv = ui.button("Export table as CSV...").clicked();
        ui.label(
            RichText::new("after the baseline, among the rows shown in the grid; click a process for its rows").weak(),
        );
    });
    let mut list = lines(state.list, changes);
    if let Some((column, descending)) = state.sort {
        list.sort_by(|a, b| {
            let order = a.cells.get(column).cmp(&b.cells.get(column));
            if descending { order.reverse() } else { order }
        });
    }
    table_ui(ui, state, &list, &mut events);
    events
}

fn table_ui(ui: &mut Ui, state: &mut ChangesState, list: &[Line], events: &mut ChangesEvents) {
    let columns = state.list.columns();
    let mut table = TableBuilder::new(ui)
        .id_salt(("changes-table", state.list.title()))
        .striped(true)
        .resizable(true)
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(TableColumn::initial(180.0).at_least(60.0).clip(true));
    for title in &columns[1..] {
        let width = if *title == "First seen" { 160.0 } else { 110.0 };
        table = table.column(TableColumn::initial(width).at_least(40.0).clip(true));
    }
    table
        .header(24.0, |mut header| {
            for (i, title) in columns.iter().enumerate() {
                header.col(|ui| sort_header(ui, &mut state.sort, i, title));
            }
        })
        .body(|body| {
            body.rows(20.0, list.len(), |mut row| {
                let Some(line) = list.get(row.index()) else {
                    return;
                };
                for (i, cell) in line.cells.iter().enumerate() {
                    row.col(|ui| {
                        if i == 0 {
                            let name = cell.text();
                            let shown = if name.is_empty() { "(no process)".to_string() } else { name };
                            if ui.link(shown).on_hover_text("Show these rows in the grid").clicked() {
                                events.drill = Some(line.drill.clone());
                            }
                        } else {
                            ui.add(egui::Label::new(cell.text()).truncate());
                        }
                    });
                }
            });
        });
}

/// A column title that sorts by it: ascending, then descending, then the core's order.
fn sort_header(ui: &mut Ui, sort: &mut Option<(usize, bool)>, column: usize, title: &str) {
    let text = match *sort {
        Some((c, false)) if c == column => format!("{title} (asc)"),
        Some((c, true)) if c == column => format!("{title} (desc)"),
        _ => title.to_string(),
    };
    if ui.add(egui::Button::new(RichText::new(text).strong()).frame(false)).clicked() {
        *sort = match *sort {
            Some((c, false)) if c == column => Some((column, true)),
            Some((c, true)) if c == column => None,
            _ => Some((column, false)),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::changes::{NewListener, NewProcess};
    use crate::model::Protocol;

    fn at(h: u32) -> NaiveDateTime {
        chrono::NaiveDate::from_ymd_opt(2008, 6, 30).and_then(|d| d.and_hms_opt(h, 0, 0)).expect("time")
    }

    #[test]
    fn a_list_exports_as_its_table_shows_it() {
        let changes = Changes {
            baseline: BaselineOut::Until { until: at(9) },
            new_listeners: vec![NewListener {
                computer: "PC1".into(),
                protocol: Protocol::Tcp,
                port: 4444,
                process: "nc.exe".into(),
                pid: None,
                user: "PC1\\eve".into(),
                first_seen: at(10),
                rows: 3,
            }],
            owner_changes: vec![],
            new_processes: vec![NewProcess {
                computer: "PC1".into(),
                process: "nc.exe".into(),
                first_seen: at(10),
                rows: 5,
                users: vec!["PC1\\eve".into(), "PC1\\mal".into()],
            }],
            new_remote_endpoints: vec![],
        };
        assert_eq!(
            csv(ChangeList::Listeners, &changes),
            (
                vec!["Process", "Protocol", "Port", "PID", "User", "First seen", "Rows", "Computer"],
                vec![
                    vec!["nc.exe", "TCP", "4444", "", "PC1\\eve", "2008-06-30 10:00:00", "3", "PC1"]
                        .into_iter()
                        .map(String::from)
                        .collect()
                ]
            )
        );
        let (_, rows) = csv(ChangeList::Processes, &changes);
        assert_eq!(rows[0][3], "PC1\\eve, PC1\\mal");
        assert_eq!(baseline_text(&changes.baseline), "the rows before 2008-06-30 09:00:00");
        let initial = BaselineOut::Initial { files: vec!["/case/pc1/PR-INITIAL-08-06-30-22-0-0.log".into()] };
        assert_eq!(baseline_text(&initial), "each computer's earliest PR-INITIAL (PR-INITIAL-08-06-30-22-0-0.log)");
        // Numbers sort as numbers, not as text.
        assert!(Cell::Num(9) < Cell::Num(10));
    }
}
