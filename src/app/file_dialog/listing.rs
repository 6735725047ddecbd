//! Folder listings for the built-in dialog, read on their own threads. `egui_file` asks its
//! file system for a folder synchronously, from the frame; this one answers at once with what
//! it has (the last listing of that folder, or "Reading...") and reads the folder in the
//! background, so a slow network mount never holds a frame. When a listing of the folder on
//! screen arrives, [`Listing::take_arrived`] tells the dialog to ask again.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use egui_file::vfs::{Vfs, VfsFile};

/// One entry of a folder. Whether it is a folder is known from the listing: drawing it
/// touches no disk.
#[derive(Debug, Clone)]
pub struct Entry {
    path: PathBuf,
    name: String,
    is_dir: bool,
    selected: bool,
}

impl VfsFile for Entry {
    fn is_file(&self) -> bool {
        !self.is_dir
    }

    fn is_dir(&self) -> bool {
        self.is_dir
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn selected(&self) -> bool {
        self.selected
    }

    fn set_selected(&mut self, selected: bool) {
        self.selected = selected;
    }

    fn get_file_name(&self) -> &str {
        &self.name
    }
}

/// A folder as listed with or without its hidden entries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    path: PathBuf,
    hidden: bool,
}

#[derive(Default)]
struct Folder {
    /// The last listing read, or why it could not be.
    entries: Option<Result<Arc<Vec<Entry>>, String>>,
    /// Read since the dialog last asked: the next ask takes it instead of reading again.
    fresh: bool,
    reading: bool,
}

#[derive(Default)]
struct State {
    folders: HashMap<Key, Folder>,
    /// The folder the dialog shows (the last one it asked for).
    shown: Option<Key>,
    arrived: bool,
}

struct Shared {
    state: Mutex<State>,
    ctx: egui::Context,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The built-in dialog's file system: listings read off the UI thread.
#[derive(Clone)]
pub struct Listing {
    shared: Arc<Shared>,
}

impl Listing {
    pub fn new(ctx: egui::Context) -> Listing {
        Listing { shared: Arc::new(Shared { state: Mutex::new(State::default()), ctx }) }
    }

    /// True once after a listing of the folder on screen arrived: the dialog should ask again.
    pub fn take_arrived(&self) -> bool {
        std::mem::take(&mut self.shared.lock().arrived)
    }

    /// No folder being read, and nothing read that the dialog has not asked for again.
    pub fn is_idle(&self) -> bool {
        let state = self.shared.lock();
        !state.arrived && !state.folders.values().any(|f| f.reading)
    }

    /// Whether `path` is in its folder's last listing; `None` when that folder was not read.
    pub fn contains(&self, path: &Path) -> Option<bool> {
        let (folder, name) = (path.parent()?, path.file_name()?);
        let state = self.shared.lock();
        let key = Key { path: folder.to_path_buf(), hidden: true };
        let listed = state.folders.get(&key).or_else(|| state.folders.get(&Key { hidden: false, ..key }))?;
        match listed.entries.as_ref()? {
            Ok(entries) => Some(entries.iter().any(|e| e.path.file_name() == Some(name))),
            Err(_) => None,
        }
    }

    fn start_reading(&self, key: Key) {
        let shared = Arc::clone(&self.shared);
        let thread_key = key.clone();
        let started = std::thread::Builder::new().name("dialog-listing".into()).spawn(move || {
            let result = read(&thread_key);
            let mut state = shared.lock();
            if state.shown.as_ref() == Some(&thread_key) {
                state.arrived = true;
            }
            let folder = state.folders.entry(thread_key).or_default();
            folder.entries = Some(result.map(Arc::new));
            folder.fresh = true;
            folder.reading = false;
            drop(state);
            shared.ctx.request_repaint();
        });
        if let Err(e) = started {
            let mut state = self.shared.lock();
            let folder = state.folders.entry(key).or_default();
            folder.entries = Some(Err(format!("cannot start a thread to read this folder: {e}")));
            folder.reading = false;
        }
    }
}

impl Vfs for Listing {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        Err(io::Error::other(format!("{}: folders are not created from this dialog", path.display())))
    }

    fn rename(&self, from: &Path, _to: &Path) -> io::Result<()> {
        Err(io::Error::other(format!("{}: files are not renamed from this dialog", from.display())))
    }

    fn read_folder(
        &self,
        path: &Path,
        _show_system_files: bool,
        show_files_filter: &egui_file::Filter<PathBuf>,
        show_hidden: bool,
    ) -> Result<Vec<Box<dyn VfsFile>>, io::Error> {
        let key = Key { path: path.to_path_buf(), hidden: show_hidden };
        let mut state = self.shared.lock();
        state.shown = Some(key.clone());
        let folder = state.folders.entry(key.clone()).or_default();
        let entries = folder.entries.clone();
        let read_again = !std::mem::take(&mut folder.fresh) && !folder.reading;
        if read_again {
            folder.reading = true;
        }
        drop(state);
        if read_again {
            self.start_reading(key);
        }
        match entries {
            None => Err(io::Error::other(format!("Reading {}...", path.display()))),
            Some(Err(message)) => Err(io::Error::other(message)),
            Some(Ok(entries)) => Ok(entries
                .iter()
                .filter(|e| e.is_dir || show_files_filter(&e.path))
                .map(|e| Box::new(e.clone()) as Box<dyn VfsFile>)
                .collect()),
        }
    }
}

/// Lists a folder: its subfolders, then its regular files (links followed), each by name
/// without regard to case; names starting with a dot only when hidden entries are wanted.
fn read(key: &Key) -> Result<Vec<Entry>, String> {
    let cannot = |e: io::Error| format!("cannot read {}: {e}", key.path.display());
    let mut entries = Vec::new();
    for item in std::fs::read_dir(&key.path).map_err(cannot)? {
        let Ok(item) = item else { continue };
        let name = item.file_name().to_string_lossy().into_owned();
        if !key.hidden && name.starts_with('.') {
            continue;
        }
        let path = item.path();
        let Ok(kind) = item.file_type() else { continue };
        let kind = if kind.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(m) => m.file_type(),
                Err(_) => continue,
            }
        } else {
            kind
        };
        if kind.is_dir() || kind.is_file() {
            entries.push(Entry { path, name, is_dir: kind.is_dir(), selected: false });
        }
    }
    entries.sort_by_cached_key(|e| (!e.is_dir, e.name.to_lowercase()));
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(listing: &Listing, path: &Path, hidden: bool) -> Result<Vec<String>, String> {
        let all: egui_file::Filter<PathBuf> = Box::new(|_| true);
        listing
            .read_folder(path, false, &all, hidden)
            .map(|v| v.iter().map(|e| e.get_file_name().to_string()).collect())
            .map_err(|e| e.to_string())
    }

    /// Asks until the background read has answered (bounded: a read that never ends fails).
    fn wait_for(listing: &Listing) {
        for _ in 0..2000 {
            if listing.take_arrived() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        panic!("the listing never arrived");
    }

    #[test]
    fn a_folder_is_read_in_the_background_then_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["b.log", "A.log", ".hidden.log"] {
            std::fs::write(dir.path().join(f), "").expect("file");
        }
        std::fs::create_dir(dir.path().join("zlogs")).expect("dir");
        std::os::unix::fs::symlink(dir.path().join("A.log"), dir.path().join("link.log")).expect("link");
        std::os::unix::fs::symlink(dir.path().join("gone"), dir.path().join("dangling.log")).expect("link");
        let listing = Listing::new(egui::Context::default());

        let reading = format!("Reading {}...", dir.path().display());
        assert_eq!(names(&listing, dir.path(), false), Err(reading), "the first ask never waits");
        wait_for(&listing);
        assert_eq!(
            names(&listing, dir.path(), false),
            Ok(vec!["zlogs".into(), "A.log".into(), "b.log".into(), "link.log".into()])
        );
        assert_eq!(listing.contains(&dir.path().join("b.log")), Some(true));
        assert_eq!(listing.contains(&dir.path().join("c.log")), Some(false));
        assert_eq!(listing.contains(Path::new("/nowhere/c.log")), None);

        // Asking again (Refresh) reads again, serving the last listing meanwhile.
        std::fs::write(dir.path().join("c.log"), "").expect("file");
        assert_eq!(names(&listing, dir.path(), false).map(|n| n.len()), Ok(4));
        wait_for(&listing);
        assert_eq!(names(&listing, dir.path(), false).map(|n| n.len()), Ok(5));

        names(&listing, dir.path(), true).expect_err("hidden entries are another listing");
        wait_for(&listing);
        assert_eq!(names(&listing, dir.path(), true).map(|n| n.contains(&".hidden.log".to_string())), Ok(true));
    }

    #[test]
    fn a_folder_that_cannot_be_read_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("missing");
        let listing = Listing::new(egui::Context::default());
        names(&listing, &missing, false).expect_err("reading");
        wait_for(&listing);
        let said = names(&listing, &missing, false).expect_err("an error");
        assert!(said.starts_with(&format!("cannot read {}: ", missing.display())), "{said}");
    }
}
