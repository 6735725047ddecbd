//! The criteria editor: add, edit, enable/disable and delete criteria; invalid patterns are
//! shown beside the pattern, never as a crash.
//!
//! A criteria file may hold a hundred thousand criteria: only the criteria in view are laid
//! out, and their errors come from the set's last compilation (a criterion edited since is
//! compiled on its own), so a frame costs the same whatever the set's size.

use egui::{Color32, RichText, Ui};

use crate::analysis::criteria::{CompiledSet, CriteriaSet, Criterion, Effect, Field, MatchKind};

/// The height of one criterion's block in the list: every block has the same lines (name,
/// pattern, error or blank, message), so the list can lay out only those in view.
const BLOCK_HEIGHT: f32 = 118.0;

/// The example criteria shipped in `assets/`, built in so that a first start can offer them
/// wherever the program is installed.
pub const EXAMPLE_CRITERIA: &str = include_str!("../../assets/example-criteria.json");

/// What the editor asks the app to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EditorEvents {
    /// The criteria changed: re-evaluate.
    pub changed: bool,
    pub load: bool,
    pub save: bool,
    pub load_examples: bool,
}

/// Draws the list of criteria; edits `criteria` in place. `compiled` is the last compilation
/// (possibly of an older version of the set).
pub fn editor_ui(ui: &mut Ui, criteria: &mut CriteriaSet, counts: &[usize], compiled: &CompiledSet) -> EditorEvents {
    let mut events = EditorEvents::default();
    ui.horizontal(|ui| {
        if ui.button("Add criterion").clicked() {
            criteria.criteria.push(Criterion {
                name: format!("Criterion {}", criteria.criteria.len() + 1),
                field: Field::Module,
                kind: MatchKind::Exact,
                pattern: String::new(),
                enabled: true,
                message: String::new(),
                effect: Effect::Flag,
            });
            events.changed = true;
        }
        events.load = ui.button("Load...").clicked();
        events.save = ui.button("Save as...").clicked();
        ui.label(RichText::new(format!("{} criteria", criteria.criteria.len())).weak());
    });
    ui.separator();
    if criteria.criteria.is_empty() {
        ui.label(
            "No criteria yet. A criterion turns the rows it matches red, and opening such a row shows \
             its message. Start from the example criteria (IRC ports, a program running from a Temp \
             folder, an administrator browsing, link-local peers, remote desktop), load a criteria \
             file, or add your own.",
        );
        events.load_examples = ui.button("Load example criteria").clicked();
        return events;
    }
    let mut delete = None;
    let total = criteria.criteria.len();
    egui::ScrollArea::vertical().id_salt("criteria-list").show_rows(ui, BLOCK_HEIGHT, total, |ui, range| {
        for i in range {
            let Some(c) = criteria.criteria.get_mut(i) else {
                break;
            };
            let error = match compiled.source.criteria.get(i) {
                Some(then) if c.enabled && then == &*c => compiled.error(i).map(ToString::to_string),
                _ if c.enabled || !c.pattern.trim().is_empty() => c.check().err().map(|e| e.to_string()),
                _ => None,
            };
            let size = egui::vec2(ui.available_width(), BLOCK_HEIGHT);
            ui.allocate_ui_with_layout(size, egui::Layout::top_down(egui::Align::Min), |ui| {
                ui.set_min_height(BLOCK_HEIGHT);
                ui.push_id(i, |ui| {
                    ui.horizontal(|ui| {
                        events.changed |= ui.checkbox(&mut c.enabled, "").on_hover_text("Enabled").changed();
                        let label = ui.label("Name");
                        events.changed |= ui
                            .add(egui::TextEdit::singleline(&mut c.name).desired_width(160.0))
                            .labelled_by(label.id)
                            .changed();
                        let count = counts.get(i).copied().unwrap_or(0);
                        ui.label(RichText::new(format!("{count} rows")).weak());
                        if ui.button("Delete").clicked() {
                            delete = Some(i);
                        }
                    });
                    ui.horizontal(|ui| {
                        egui::ComboBox::from_id_salt("field").selected_text(c.field.label()).show_ui(ui, |ui| {
                            for f in Field::ALL {
                                events.changed |= ui.selectable_value(&mut c.field, f, f.label()).changed();
                            }
                        });
                        egui::ComboBox::from_id_salt("kind").selected_text(c.kind.label()).show_ui(ui, |ui| {
                            for k in MatchKind::ALL {
                                events.changed |= ui.selectable_value(&mut c.kind, k, k.label()).changed();
                            }
                        });
                        let label = ui.label("Pattern");
                        events.changed |= ui
                            .add(egui::TextEdit::singleline(&mut c.pattern).desired_width(220.0))
                            .labelled_by(label.id)
                            .changed();
                    });
                    match error {
                        Some(err) => {
                            ui.label(
                                RichText::new(format!("Invalid: {err}")).color(Color32::from_rgb(0xE0, 0x80, 0x20)),
                            );
                        }
                        None => {
                            ui.label("");
                        }
                    }
                    let label = ui.label("Message");
                    events.changed |= ui
                        .add(
                            egui::TextEdit::multiline(&mut c.message)
                                .desired_rows(1)
                                .desired_width(f32::INFINITY)
                                .hint_text("Shown when a flagged row is opened"),
                        )
                        .labelled_by(label.id)
                        .changed();
                    ui.separator();
                });
            });
        }
    });
    if let Some(i) = delete {
        criteria.criteria.remove(i);
        events.changed = true;
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_examples_read_as_the_assets_file_does() {
        let examples = CriteriaSet::from_json(EXAMPLE_CRITERIA).expect("the examples parse");
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/example-criteria.json");
        assert_eq!(Some(examples.clone()), CriteriaSet::load(&file).ok());
        assert_eq!(examples.criteria.len(), 5);
        assert!(examples.criteria.iter().all(|c| c.compile().is_ok()), "every example compiles");
    }
}
