//! The desktop's own file dialog, asked for through xdg-desktop-portal. Runs on a job thread:
//! the call returns when the person answers.

use std::path::{Path, PathBuf};

use ashpd::desktop::ResponseError;
use ashpd::desktop::file_chooser::{FileFilter, SelectedFiles};

use super::spec::{Mode, Spec};

/// How a native dialog ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Picked(Vec<PathBuf>),
    Cancelled,
    /// The portal did not show a dialog or could not finish it: the built-in one takes over.
    Failed(String),
}

/// Shows the portal's dialog for `spec`, starting in `folder`, and waits for the answer.
pub fn ask(spec: Spec, folder: Option<&Path>) -> Answer {
    // zbus drives its own I/O (async-io); this runtime only waits on the answer.
    let runtime = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(r) => r,
        Err(e) => return Answer::Failed(e.to_string()),
    };
    let filter =
        spec.filter.map(|f| f.extensions.iter().fold(FileFilter::new(f.label), |ff, e| ff.glob(&format!("*.{e}"))));
    let result = runtime.block_on(async {
        let request = match spec.mode {
            Mode::Save { name } => {
                let mut r = SelectedFiles::save_file().title(spec.title).modal(true).current_name(name);
                if let Some(f) = filter {
                    r = r.filter(f);
                }
                r.current_folder::<&Path>(folder)?.send().await
            }
            Mode::OpenFiles | Mode::OpenFile | Mode::Folder => {
                let mut r = SelectedFiles::open_file()
                    .title(spec.title)
                    .modal(true)
                    .multiple(spec.mode == Mode::OpenFiles)
                    .directory(spec.mode == Mode::Folder);
                if let Some(f) = filter {
                    r = r.filter(f);
                }
                r.current_folder::<&Path>(folder)?.send().await
            }
        };
        request?.response()
    });
    match result {
        Ok(files) => Answer::Picked(files.uris().iter().filter_map(|u| file_path(u.as_str())).collect()),
        Err(ashpd::Error::Response(ResponseError::Cancelled)) => Answer::Cancelled,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

/// A `file://` URI as a path (percent-escapes decoded); other schemes are not files here.
fn file_path(uri: &str) -> Option<PathBuf> {
    url::Url::parse(uri).ok().filter(|u| u.scheme() == "file").and_then(|u| u.to_file_path().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_uris_become_paths() {
        assert_eq!(file_path("file:///var/log/PR%20logs/a.log"), Some(PathBuf::from("/var/log/PR logs/a.log")));
        assert_eq!(file_path("https://example.test/a.log"), None);
        assert_eq!(file_path("not a uri"), None);
    }
}
