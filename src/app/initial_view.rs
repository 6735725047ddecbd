//! The PR-INITIAL view: the snapshot taken when the service started — header, the port to
//! process mapping table with the criteria applied, and each process's detail.

use egui::{RichText, Ui};
use egui_extras::{Column as TableColumn, TableBuilder};

use crate::analysis::view::endpoint;
use crate::app::detail::{DetailState, block_ui};
use crate::app::grid::FLAGGED;
use crate::logs::initial::InitialLog;

#[derive(Debug, Default, Clone)]
pub struct InitialState {
    /// Which INITIAL log of the set is shown.
    pub log: usize,
    /// The selected mapping row.
    pub selected: Option<usize>,
    pub detail: DetailState,
}

/// `flags` holds, per log, a flag per mapping: the criteria's verdicts, computed with the
/// rows' (see [`crate::analysis::criteria::Evaluation::initial_flags`]), never per frame.
pub fn initial_ui(ui: &mut Ui, state: &mut InitialState, logs: &[InitialLog], flags: &[Vec<bool>]) {
    if logs.is_empty() {
        ui.label("No PR-INITIAL log was opened with these logs.");
        return;
    }
    if logs.len() > 1 {
        ui.horizontal(|ui| {
            ui.label("INITIAL log");
            egui::ComboBox::from_id_salt("initial-log")
                .selected_text(file_name(&logs[state.log.min(logs.len() - 1)]))
                .show_ui(ui, |ui| {
                    for (i, log) in logs.iter().enumerate() {
                        if ui.selectable_label(state.log == i, file_name(log)).clicked() {
                            state.log = i;
                            state.selected = None;
                        }
                    }
                });
        });
    }
    let log = &logs[state.log.min(logs.len() - 1)];
    header_ui(ui, log);
    ui.separator();
    if !log.mappings_available {
        ui.label("Port to process mappings are not available on this system (Windows 2000).");
        return;
    }
    let block_of = |pid: u32| log.blocks.iter().find(|b| b.pid == pid);
    let flagged: &[bool] = flags.get(state.log.min(logs.len() - 1)).map_or(&[], Vec::as_slice);
    ui.label(format!(
        "{} mappings at service start-up, {} flagged",
        log.mappings.len(),
        flagged.iter().filter(|f| **f).count()
    ));
    egui::Panel::right("initial-detail").resizable(true).default_size(420.0).show(ui, |ui| {
        match state.selected.and_then(|i| log.mappings.get(i)).and_then(|m| block_of(m.pid)) {
            Some(block) => block_ui(ui, &mut state.detail, block),
            None if state.selected.is_some() => {
                ui.label("No process block for this PID in the INITIAL log.");
            }
            None => {
                ui.label("Select a mapping to see its process.");
            }
        }
    });
    mapping_table(ui, state, log, flagged);
}

fn file_name(log: &InitialLog) -> String {
    log.path.file_name().map_or_else(|| log.path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn header_ui(ui: &mut Ui, log: &InitialLog) {
    let h = &log.header;
    egui::Grid::new("initial-header").num_columns(2).show(ui, |ui| {
        ui.label("File");
        ui.label(log.path.display().to_string());
        ui.end_row();
        ui.label("Computer");
        ui.label(h.computer_name.as_deref().unwrap_or("-"));
        ui.end_row();
        ui.label("Operating system");
        ui.label(h.operating_system.as_deref().unwrap_or("-"));
        ui.end_row();
        ui.label("System date");
        ui.label(h.system_date.map_or("-".into(), |d| d.format("%Y-%m-%d %H:%M:%S").to_string()));
        ui.end_row();
        ui.label("Version");
        ui.label(h.version.as_ref().map_or("-", |v| v.0.as_str()));
        ui.end_row();
    });
    if !log.warnings.is_empty() {
        ui.label(RichText::new(format!("{} warnings while reading this log", log.warnings.len())).weak());
    }
}

fn mapping_table(ui: &mut Ui, state: &mut InitialState, log: &InitialLog, flagged: &[bool]) {
    TableBuilder::new(ui)
        .id_salt("initial-mappings")
        .striped(true)
        .resizable(true)
        .sense(egui::Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(TableColumn::initial(70.0))
        .column(TableColumn::initial(150.0).clip(true))
        .column(TableColumn::initial(60.0))
        .column(TableColumn::initial(170.0).clip(true))
        .column(TableColumn::initial(110.0))
        .column(TableColumn::remainder().clip(true))
        .header(24.0, |mut header| {
            for title in ["PID", "Process", "Protocol", "Local IP:port", "State", "Remote IP:port"] {
                header.col(|ui| {
                    ui.strong(title);
                });
            }
        })
        .body(|body| {
            body.rows(20.0, log.mappings.len(), |mut row| {
                let i = row.index();
                let Some(m) = log.mappings.get(i) else {
                    return;
                };
                row.set_selected(state.selected == Some(i));
                let red = flagged.get(i).copied().unwrap_or(false);
                let cells = [
                    m.pid.to_string(),
                    m.process.clone().unwrap_or_default(),
                    m.protocol.to_string(),
                    endpoint(m.local_ip, Some(m.local_port.to_string())),
                    m.state.as_ref().map_or(String::new(), |s| s.to_string()),
                    endpoint(m.remote_ip, Some(m.remote_port.to_string())),
                ];
                for text in cells {
                    row.col(|ui| {
                        let rich = if red { RichText::new(text).color(FLAGGED) } else { RichText::new(text) };
                        if ui.add(egui::Label::new(rich).selectable(false).sense(egui::Sense::click())).clicked() {
                            state.selected = Some(i);
                        }
                    });
                }
                if row.response().clicked() {
                    state.selected = Some(i);
                }
            });
        });
}
