//! The file dialog drawn by the app (`egui_file`), for desktops where no portal answers or
//! when the person prefers it. It lists folders through [`Listing`] (off the UI thread), hides
//! hidden files until asked, and asks before a save replaces a file.
//!
//! Keys: Tab and the arrow keys move between entries and buttons, Enter or Space activates
//! one; typing a path in the top field and Enter goes there (or opens that file); Enter in
//! the name field confirms; Alt+Up goes to the parent folder; Escape cancels.

use std::path::PathBuf;

use egui::{Key, KeyboardShortcut, Modifiers};
use egui_file::{FileDialog, State};

use super::super::jobs::Pick;
use super::listing::Listing;
use super::spec::Mode;

const PARENT: KeyboardShortcut = KeyboardShortcut::new(Modifiers::ALT, Key::ArrowUp);

/// What the dialog did this frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Open,
    Picked(Vec<PathBuf>),
    Cancelled,
}

pub struct BuiltInDialog {
    purpose: Pick,
    dialog: FileDialog,
    listing: Listing,
    /// A save whose file exists, waiting for Replace or Cancel.
    replacing: Option<PathBuf>,
}

impl BuiltInDialog {
    /// The dialog for `purpose`, open in `folder`.
    pub fn new(ctx: &egui::Context, purpose: Pick, folder: PathBuf) -> BuiltInDialog {
        let spec = purpose.spec();
        let listing = Listing::new(ctx.clone());
        let dialog = match spec.mode {
            Mode::OpenFiles => FileDialog::open_file().multi_select(true),
            Mode::OpenFile => FileDialog::open_file(),
            Mode::Folder => FileDialog::select_folder(),
            Mode::Save { name } => FileDialog::save_file().default_filename(name),
        };
        let mut dialog = dialog
            .title(spec.title)
            .id(egui::Id::unique("builtin-file-dialog"))
            .initial_path(folder)
            .show_new_folder(false)
            .show_rename(false)
            .keep_on_top(true)
            .default_size([640.0, 480.0])
            .with_fs(Box::new(listing.clone()));
        if let Some(filter) = spec.filter {
            dialog = dialog.show_files_filter(Box::new(move |path| filter.keeps(path)));
        }
        dialog.open();
        BuiltInDialog { purpose, dialog, listing, replacing: None }
    }

    pub fn purpose(&self) -> Pick {
        self.purpose
    }

    /// No folder being read for it.
    pub fn is_idle(&self) -> bool {
        self.listing.is_idle()
    }

    /// Draws the dialog (or the replace question) and says how it stands.
    pub fn show(&mut self, ctx: &egui::Context) -> Outcome {
        if let Some(path) = self.replacing.clone() {
            return self.replace_ui(ctx, path);
        }
        if self.listing.take_arrived() {
            let folder = self.dialog.directory().to_path_buf();
            self.dialog.set_path(folder);
        }
        if ctx.input_mut(|i| i.consume_shortcut(&PARENT))
            && let Some(parent) = self.dialog.directory().parent().map(PathBuf::from)
        {
            self.dialog.set_path(parent);
        }
        match self.dialog.show(ctx).state() {
            State::Open | State::Closed => Outcome::Open,
            State::Cancelled => Outcome::Cancelled,
            State::Selected => self.selected(),
        }
    }

    fn selected(&mut self) -> Outcome {
        let mut paths: Vec<PathBuf> = self.dialog.selection().into_iter().map(PathBuf::from).collect();
        if paths.is_empty() {
            paths.extend(self.dialog.path().map(PathBuf::from));
        }
        if let (Mode::Save { .. }, Some(path)) = (self.purpose.spec().mode, paths.first())
            && self.listing.contains(path).unwrap_or_else(|| path.exists())
        {
            self.replacing = Some(path.clone());
            return Outcome::Open;
        }
        if paths.is_empty() { Outcome::Cancelled } else { Outcome::Picked(paths) }
    }

    fn replace_ui(&mut self, ctx: &egui::Context, path: PathBuf) -> Outcome {
        let mut answer = None;
        egui::Modal::new(egui::Id::unique("builtin-file-dialog-replace")).show(ctx, |ui| {
            ui.heading("Replace the file?");
            ui.label(format!("{} already exists. Replacing it overwrites what it holds.", path.display()));
            ui.horizontal(|ui| {
                if ui.button("Replace").clicked() {
                    answer = Some(true);
                }
                if ui.button("Keep it").clicked() || ui.input(|i| i.key_pressed(Key::Escape)) {
                    answer = Some(false);
                }
            });
        });
        match answer {
            Some(true) => Outcome::Picked(vec![path]),
            Some(false) => {
                self.replacing = None;
                self.dialog.open();
                Outcome::Open
            }
            None => Outcome::Open,
        }
    }
}
