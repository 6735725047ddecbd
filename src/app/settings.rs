//! What the app remembers between runs (eframe's storage: a file in the user's data folder).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::analysis::criteria::CriteriaSet;
use crate::analysis::view::Sort;

/// Recent entries kept in File > Recent.
pub const MAX_RECENT: usize = 10;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub recent: Vec<Vec<PathBuf>>,
    pub last_folder: Option<PathBuf>,
    /// The criteria in use; they come back on the next start.
    pub criteria: CriteriaSet,
    /// The file the criteria were last loaded from or saved to.
    pub criteria_file: Option<PathBuf>,
    pub dark: bool,
    pub sort: Option<Sort>,
    pub show_detail: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            recent: Vec::new(),
            last_folder: None,
            criteria: CriteriaSet::default(),
            criteria_file: None,
            dark: true,
            sort: None,
            show_detail: true,
        }
    }
}

impl Settings {
    pub const KEY: &'static str = "prparser-settings";

    /// Puts an opened set of paths first in the recent list.
    pub fn remember(&mut self, paths: &[PathBuf]) {
        self.recent.retain(|r| r != paths);
        self.recent.insert(0, paths.to_vec());
        self.recent.truncate(MAX_RECENT);
        if let Some(first) = paths.first() {
            let folder = if first.is_dir() { Some(first.clone()) } else { first.parent().map(PathBuf::from) };
            self.last_folder = folder.or(self.last_folder.take());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_list_is_most_recent_first_without_duplicates() {
        let mut s = Settings::default();
        for name in ["a", "b", "a", "c"] {
            s.remember(&[PathBuf::from(format!("/logs/{name}/PR-PORTS-1-1-1-1-1-1.log"))]);
        }
        let names: Vec<String> = s.recent.iter().map(|r| r[0].display().to_string()).collect();
        assert_eq!(
            names,
            [
                "/logs/c/PR-PORTS-1-1-1-1-1-1.log",
                "/logs/a/PR-PORTS-1-1-1-1-1-1.log",
                "/logs/b/PR-PORTS-1-1-1-1-1-1.log"
            ]
        );
        assert_eq!(s.last_folder, Some(PathBuf::from("/logs/c")));
    }
}
