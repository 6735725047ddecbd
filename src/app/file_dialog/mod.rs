//! File dialogs: every picker goes through [`PrParserApp::pick`], which takes the desktop's
//! dialog where a portal's FileChooser answers and the app's own ([`builtin`]) where none
//! does or where the person chose it (View › Use built-in file dialog). The portal is asked
//! once, off the UI thread, and the answer kept; a native dialog that fails (rather than
//! being cancelled) hands over to the built-in one for the rest of the session. The first
//! time the built-in dialog stands in, the status bar says why.
//!
//! To add a picker: a [`Pick`] variant, its line in [`spec`], and what its paths do in
//! `handling::picked`.

mod builtin;
mod listing;
mod native;
pub mod portal;
pub mod spec;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::PrParserApp;
use super::jobs::{Done, Pick};
use builtin::{BuiltInDialog, Outcome};
pub use native::Answer;
use portal::{Choice, Portal, PortalCheck};

/// How long a pick waits for the session bus before the built-in dialog takes it: the probe
/// bounds its calls, but not a bus that accepts a connection and never finishes the handshake.
const PORTAL_PATIENCE: Duration = Duration::from_secs(10);

/// What the app knows and has open of its file dialogs.
pub(super) struct Dialogs {
    check: PortalCheck,
    /// The portal's answer, once asked.
    portal: Option<Portal>,
    /// When the portal was asked, while no answer has come.
    probing: Option<Instant>,
    /// A pick waiting for the portal's answer.
    waiting: Option<Pick>,
    /// The status bar has said why the built-in dialog is used.
    told: bool,
    open: Option<BuiltInDialog>,
}

impl Dialogs {
    pub fn new(check: PortalCheck) -> Dialogs {
        Dialogs { check, portal: None, probing: None, waiting: None, told: false, open: None }
    }

    /// Nothing being looked up: no portal question pending, no folder being read for the
    /// built-in dialog.
    pub fn is_idle(&self) -> bool {
        self.probing.is_none() && self.open.as_ref().is_none_or(BuiltInDialog::is_idle)
    }
}

impl PrParserApp {
    /// Opens a file dialog for `purpose`: the desktop's or the app's own, as decided above.
    pub(super) fn pick(&mut self, purpose: Pick) {
        match portal::choose(self.settings.builtin_file_dialog, self.dialogs.portal.as_ref()) {
            Choice::Native => self.pick_native(purpose),
            Choice::BuiltIn { why } => self.pick_builtin(purpose, why),
            Choice::Ask => {
                self.dialogs.waiting = Some(purpose);
                self.ask_portal();
            }
        }
    }

    fn ask_portal(&mut self) {
        if self.dialogs.probing.is_some() {
            return;
        }
        let check = Arc::clone(&self.dialogs.check);
        match self.jobs.spawn("portal-probe", move || Done::PortalProbed(check())) {
            Ok(()) => self.dialogs.probing = Some(Instant::now()),
            Err(e) => self.portal_probed(Portal::Failed(e.to_string())),
        }
    }

    pub(super) fn portal_probed(&mut self, portal: Portal) {
        self.dialogs.probing = None;
        self.dialogs.portal = Some(portal);
        if let Some(purpose) = self.dialogs.waiting.take() {
            self.pick(purpose);
        }
    }

    /// Where a dialog opens: the last folder used, made absolute (paths given on the command
    /// line are often relative, and neither dialog can go up from `sample-logs`).
    fn start_folder(&self) -> Option<PathBuf> {
        let folder = self.settings.last_folder.clone()?;
        Some(std::path::absolute(&folder).unwrap_or(folder))
    }

    fn pick_native(&mut self, purpose: Pick) {
        let folder = self.start_folder();
        let started = self.jobs.spawn("dialog", move || Done::NativeAnswer {
            purpose,
            answer: native::ask(purpose.spec(), folder.as_deref()),
        });
        if let Err(e) = started {
            self.not_started(e);
        }
    }

    pub(super) fn native_answered(&mut self, purpose: Pick, answer: Answer) {
        match answer {
            Answer::Picked(paths) => self.picked_in_dialog(purpose, paths),
            Answer::Cancelled => {}
            Answer::Failed(e) => {
                self.dialogs.portal = Some(Portal::Failed(e));
                self.dialogs.told = false;
                self.pick(purpose);
            }
        }
    }

    fn pick_builtin(&mut self, purpose: Pick, why: Option<String>) {
        if let Some(why) = why
            && !self.dialogs.told
        {
            self.message.say(why);
            self.dialogs.told = true;
        }
        let folder = self.start_folder().or_else(|| std::env::var_os("HOME").map(PathBuf::from));
        let folder = folder.or_else(|| std::env::current_dir().ok()).unwrap_or_else(|| PathBuf::from("/"));
        self.dialogs.open = Some(BuiltInDialog::new(&self.jobs.context(), purpose, folder));
    }

    /// The built-in dialog's part of the frame.
    pub(super) fn file_dialog_ui(&mut self, ctx: &egui::Context) {
        if self.settings.builtin_file_dialog
            && let Some(purpose) = self.dialogs.waiting.take()
        {
            self.pick(purpose);
        }
        if let Some(asked) = self.dialogs.probing {
            if asked.elapsed() < PORTAL_PATIENCE {
                ctx.request_repaint_after(Duration::from_millis(500));
            } else {
                let waited = format!("the session bus did not answer within {} s", PORTAL_PATIENCE.as_secs());
                self.portal_probed(Portal::Failed(waited));
            }
        }
        let Some(dialog) = self.dialogs.open.as_mut() else {
            return;
        };
        let purpose = dialog.purpose();
        match dialog.show(ctx) {
            Outcome::Open => {}
            Outcome::Cancelled => self.dialogs.open = None,
            Outcome::Picked(paths) => {
                self.dialogs.open = None;
                self.picked_in_dialog(purpose, paths);
            }
        }
    }

    /// Paths chosen in either dialog: the next dialog starts where this one ended.
    fn picked_in_dialog(&mut self, purpose: Pick, paths: Vec<PathBuf>) {
        if let Some(first) = paths.first() {
            let folder = if purpose.spec().mode == spec::Mode::Folder { Some(first.as_path()) } else { first.parent() };
            if let Some(folder) = folder.filter(|f| *f != Path::new("")) {
                self.settings.last_folder = Some(folder.to_path_buf());
            }
        }
        self.picked(purpose, paths);
    }
}
