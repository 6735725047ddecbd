//! The drill-down: the process detail (from PIDS or INITIAL) behind the selected row.

use egui::{RichText, Ui};

use crate::analysis::dataset::Dataset;
use crate::analysis::index::BlockRef;
use crate::analysis::view::endpoint;
use crate::model::{Modules, ProcessBlock};

/// State of the detail panel: the module search box.
#[derive(Debug, Default, Clone)]
pub struct DetailState {
    pub module_search: String,
}

const TIME: &str = "%Y-%m-%d %H:%M:%S";

pub fn detail_ui(ui: &mut Ui, state: &mut DetailState, data: &Dataset, row: u32) {
    let Some(e) = data.set.ports.events.get(row as usize) else {
        return;
    };
    let log = &data.set.ports;
    ui.heading(format!(
        "{} (PID {})",
        non_empty(log.module(e), "(no module)"),
        e.pid().map_or("-".into(), |p| p.to_string())
    ));
    ui.label(format!("Row time: {}", e.time.format(TIME)));
    if let Some(path) = log.source_path(e) {
        ui.label(RichText::new(format!("{} line {}", path.display(), e.line)).weak());
    }
    ui.separator();
    let Some((id, block)) = data.block_of_row(row as usize) else {
        ui.label(RichText::new("No PIDS data for this row.").strong());
        ui.label(
            "No process block of this PID and program was recorded near this time in the PR-PIDS or PR-INITIAL logs.",
        );
        return;
    };
    let source = match data.index.block_ref(id) {
        Some(BlockRef::Pids { file, .. }) => data.set.pids.get(file as usize).map(|l| l.path.display().to_string()),
        Some(BlockRef::Initial { file, .. }) => {
            data.set.initials.get(file as usize).map(|l| l.path.display().to_string())
        }
        None => None,
    };
    let recorded = data.index.block_time(id).map_or("unknown".to_string(), |t| t.format(TIME).to_string());
    ui.label(format!("Block recorded at: {recorded}"));
    if let Some(source) = source {
        ui.label(RichText::new(format!("{source} line {}", block.line)).weak());
    }
    egui::ScrollArea::vertical().id_salt("detail-scroll").auto_shrink([false, false]).show(ui, |ui| {
        block_ui(ui, state, block);
    });
}

fn non_empty<'a>(s: &'a str, fallback: &'a str) -> &'a str {
    if s.is_empty() { fallback } else { s }
}

/// One process block: process, user, services, ports, statistics, modules.
pub fn block_ui(ui: &mut Ui, state: &mut DetailState, block: &ProcessBlock) {
    egui::Grid::new("block-facts").num_columns(2).show(ui, |ui| {
        ui.label("Process");
        ui.label(format!("{} (PID {})", block.process, block.pid));
        ui.end_row();
        ui.label("User");
        ui.label(block.user.as_deref().unwrap_or(if block.system_process { "System Process" } else { "-" }));
        ui.end_row();
    });
    egui::CollapsingHeader::new(format!("Services ({})", block.services.len())).default_open(true).show(ui, |ui| {
        if block.services.is_empty() {
            ui.label("Process doesn't appear to be a service");
        }
        for s in &block.services {
            ui.label(format!("{} - {}", s.name, s.display_name.as_deref().unwrap_or("")));
        }
    });
    egui::CollapsingHeader::new(format!("Ports ({})", block.ports.len())).default_open(true).show(ui, |ui| {
        egui::Grid::new("block-ports").striped(true).num_columns(4).show(ui, |ui| {
            for h in ["Protocol", "Local", "State", "Remote"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for p in &block.ports {
                ui.label(p.protocol.as_str());
                ui.label(endpoint(p.local_ip, Some(p.local_port.to_string())));
                ui.label(p.state.as_ref().map_or(String::new(), |s| s.to_string()));
                ui.label(endpoint(p.remote_ip, Some(p.remote_port.to_string())));
                ui.end_row();
            }
        });
        let st = &block.port_statistics;
        ui.label(format!(
            "TCP mappings: {}   UDP mappings: {}",
            st.tcp_mappings.map_or("-".into(), |n| n.to_string()),
            st.udp_mappings.map_or("-".into(), |n| n.to_string())
        ));
        for share in &st.states {
            let pct = share.percent.map_or(String::new(), |p| format!(" = {p:.2}%"));
            ui.label(format!("TCP ports in a {} state: {}{pct}", share.state, share.count));
        }
    });
    egui::CollapsingHeader::new("Loaded modules").default_open(true).show(ui, |ui| match &block.modules {
        Modules::Listed(list) => {
            ui.add(egui::TextEdit::singleline(&mut state.module_search).hint_text("Search modules"));
            let needle = state.module_search.to_lowercase();
            let shown: Vec<_> =
                list.iter().filter(|m| needle.is_empty() || m.path.to_lowercase().contains(&needle)).collect();
            ui.label(RichText::new(format!("{} of {} modules", shown.len(), list.len())).weak());
            for m in shown {
                let base = m.base.map_or(String::new(), |b| format!("  (0x{b:08X})"));
                ui.label(format!("{}{base}", m.path));
            }
        }
        Modules::NotAccessible => {
            ui.label("Could not access module information for this process");
        }
        Modules::Absent => {
            ui.label("No module list recorded.");
        }
    });
}
