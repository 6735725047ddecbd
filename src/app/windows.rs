//! The floating windows: the criteria editor, the DNS server, the flagged-row notification
//! and the live notice.

use std::sync::Arc;

use egui::{Key, RichText};

use super::jobs::Pick;
use super::{PrParserApp, criteria_editor, grid};
use crate::analysis::criteria::CriteriaSet;

impl PrParserApp {
    pub(super) fn windows_ui(&mut self, ctx: &egui::Context) {
        self.criteria_ui(ctx);
        self.dns_settings_ui(ctx);
        self.geoip_window(ctx);
        self.clickhouse_window(ctx);
        self.notification_ui(ctx);
        self.live_alert_ui(ctx);
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
            for hit in &n.hits {
                ui.separator();
                ui.strong(&hit.name);
                if let Some(entry) = &hit.entry {
                    ui.label(RichText::new(entry).monospace());
                }
                if !hit.message.is_empty() {
                    ui.label(&hit.message);
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
        let mut open = self.open.criteria;
        let evaluation = Arc::clone(&self.evaluation);
        let geo = self.geo.geo.clone();
        let mut events = criteria_editor::EditorEvents::default();
        egui::Window::new("Criteria").open(&mut open).default_width(560.0).show(ctx, |ui| {
            let (counts, compiled) = (&evaluation.per_criterion, &evaluation.compiled);
            events = criteria_editor::editor_ui(ui, &mut self.settings.criteria, counts, compiled, geo.as_deref());
        });
        self.open.criteria = open;
        if events.changed {
            self.refresh_flags();
        }
        if let Some(index) = events.choose_list {
            self.choose_list(index);
        }
        if events.load {
            self.pick(Pick::LoadCriteria);
        }
        if events.save {
            self.pick(Pick::SaveCriteria);
        }
        if events.load_examples {
            match CriteriaSet::from_json(criteria_editor::EXAMPLE_CRITERIA) {
                Ok(examples) => {
                    self.settings.criteria = examples;
                    self.settings.criteria_file = None;
                    self.refresh_flags();
                }
                Err(e) => self.error = Some(format!("the built-in example criteria do not read: {e}")),
            }
        }
    }

    /// The DNS server window. Apply checks the address, starts lookups with the new server
    /// (what the previous one could not name is asked again), closes the window and says in
    /// the status bar what took effect; an address that cannot be read keeps the window open
    /// with the reason.
    fn dns_settings_ui(&mut self, ctx: &egui::Context) {
        let mut open = self.open.dns_server;
        let mut apply = false;
        egui::Window::new("DNS server").open(&mut open).show(ctx, |ui| {
            ui.label("Reverse lookups go to this server (ip or ip:port); empty uses the system's resolver.");
            let label = ui.label("Server");
            let field = ui.add(egui::TextEdit::singleline(&mut self.names.server_text)).labelled_by(label.id);
            if let Some(problem) = &self.names.server_problem {
                ui.colored_label(grid::FLAGGED, problem);
            }
            apply = ui.button("Apply").clicked() || (field.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)));
        });
        self.open.dns_server = open;
        if apply {
            self.apply_dns_server();
        }
    }
}
