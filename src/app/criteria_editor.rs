//! The criteria editor: add, edit, enable/disable and delete criteria; invalid patterns are
//! shown beside the pattern, never as a crash.
//!
//! A criterion flags the rows it matches or allows them (clears their flag, whatever flagged
//! them): allow criteria are drawn in green, their count is of the rows they cleared. A list
//! criterion's file is chosen with the file dialog; the line under its pattern says how many
//! entries the list holds and which lines could not be read, from the list the criteria job
//! loaded (never read on the UI thread).
//!
//! A criteria file may hold a hundred thousand criteria: only the criteria in view are laid
//! out, and their errors come from the set's last compilation (a criterion edited since is
//! compiled on its own), so a frame costs the same whatever the set's size.

use egui::{Color32, RichText, Ui};

use crate::analysis::criteria::{CompiledSet, CriteriaSet, Criterion, Effect, Evaluation, Field, MatchKind};
use crate::analysis::geoip::GeoIp;

/// The height of one criterion's block in the list: every block has the same lines (name,
/// pattern, error or list summary or blank, message), so the list can lay out only those in
/// view.
const BLOCK_HEIGHT: f32 = 118.0;

/// Text colour of allow criteria: the opposite of the grid's red.
pub const ALLOWED: Color32 = Color32::from_rgb(0x30, 0xA0, 0x50);

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
    /// Choose the list file of this criterion (index in the set).
    pub choose_list: Option<usize>,
}

/// Draws the list of criteria; edits `criteria` in place. `compiled` is the last compilation
/// (possibly of an older version of the set); `geo` the GeoIP databases open, which country
/// and AS criteria need.
pub fn editor_ui(
    ui: &mut Ui,
    criteria: &mut CriteriaSet,
    counts: &[usize],
    compiled: &CompiledSet,
    geo: Option<&GeoIp>,
) -> EditorEvents {
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
            let compiled_now = c.enabled && compiled.source.criteria.get(i) == Some(&*c);
            let error = match compiled_now {
                true => compiled.error(i).map(ToString::to_string),
                false if c.enabled || !c.pattern.trim().is_empty() => c.check().err().map(|e| e.to_string()),
                false => None,
            };
            let note = match (c.kind, compiled_now) {
                (MatchKind::List, true) => list_summary(compiled, i),
                (MatchKind::List, false) if c.enabled && error.is_none() => Some("Reading the list...".to_string()),
                _ => missing_database(c.field, geo).map(str::to_string),
            };
            let size = egui::vec2(ui.available_width(), BLOCK_HEIGHT);
            ui.allocate_ui_with_layout(size, egui::Layout::top_down(egui::Align::Min), |ui| {
                ui.set_min_height(BLOCK_HEIGHT);
                ui.push_id(i, |ui| {
                    ui.horizontal(|ui| {
                        events.changed |= ui.checkbox(&mut c.enabled, "").on_hover_text("Enabled").changed();
                        let label = ui.label("Name");
                        let mut name = egui::TextEdit::singleline(&mut c.name).desired_width(160.0);
                        if c.effect == Effect::Allow {
                            name = name.text_color(ALLOWED);
                        }
                        events.changed |= ui.add(name).labelled_by(label.id).changed();
                        for effect in Effect::ALL {
                            let text = RichText::new(effect_title(effect));
                            let text =
                                if effect == Effect::Allow && c.effect == effect { text.color(ALLOWED) } else { text };
                            events.changed |= ui
                                .selectable_value(&mut c.effect, effect, text)
                                .on_hover_text(effect_hint(effect))
                                .changed();
                        }
                        let count = counts.get(i).copied().unwrap_or(0);
                        match c.effect {
                            Effect::Flag => ui.label(RichText::new(format!("{count} rows")).weak()),
                            Effect::Allow => ui.label(RichText::new(format!("{count} rows cleared")).color(ALLOWED)),
                        };
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
                        let hint = if c.kind == MatchKind::List { "a list file" } else { "" };
                        events.changed |= ui
                            .add(egui::TextEdit::singleline(&mut c.pattern).desired_width(220.0).hint_text(hint))
                            .labelled_by(label.id)
                            .changed();
                        if c.kind == MatchKind::List && ui.button("Choose list file...").clicked() {
                            events.choose_list = Some(i);
                        }
                    });
                    match (error, note) {
                        (Some(err), _) => {
                            ui.label(
                                RichText::new(format!("Invalid: {err}")).color(Color32::from_rgb(0xE0, 0x80, 0x20)),
                            );
                        }
                        (None, Some(note)) => {
                            ui.label(RichText::new(note).weak());
                        }
                        (None, None) => {
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

/// The status bar's count of rows allow criteria cleared (each once), shown while the set has
/// an allow criterion.
pub fn allowed_status(ui: &mut Ui, evaluation: &Evaluation, criteria: &CriteriaSet) {
    let has_allow = || criteria.criteria.iter().any(|c| c.enabled && c.effect == Effect::Allow);
    if evaluation.allowed_rows == 0 && !has_allow() {
        return;
    }
    ui.separator();
    let allowed = super::numbers::thousands(evaluation.allowed_rows as u64);
    ui.label(RichText::new(format!("Rows allowed: {allowed}")).color(ALLOWED))
        .on_hover_text("Rows a flag criterion matched that an allow criterion cleared");
}

/// What a country or AS criterion lacks while its database is not open (it matches nothing).
fn missing_database(field: Field, geo: Option<&GeoIp>) -> Option<&'static str> {
    let open = match field {
        Field::Country => geo.is_some_and(|g| g.country_database().is_some()),
        Field::Asn => geo.is_some_and(|g| g.network_database().is_some()),
        _ => true,
    };
    (!open).then_some("Matches nothing until a database is open: View › GeoIP databases...")
}

/// How the effect toggle names an effect.
fn effect_title(effect: Effect) -> &'static str {
    match effect {
        Effect::Flag => "Flag",
        Effect::Allow => "Allow",
    }
}

fn effect_hint(effect: Effect) -> &'static str {
    match effect {
        Effect::Flag => "Rows this criterion matches are flagged (red, with a notification)",
        Effect::Allow => "Rows this criterion matches are never flagged, whatever else matches them",
    }
}

/// What the last compilation read of criterion `index`'s list: its entries and unreadable
/// lines. The compiled criteria are in index order.
fn list_summary(compiled: &CompiledSet, index: usize) -> Option<String> {
    let at = compiled.compiled.binary_search_by_key(&index, |(i, _)| *i).ok()?;
    compiled.compiled[at].1.list().map(|list| list.summary())
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
