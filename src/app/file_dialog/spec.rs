//! What each picker asks for, whichever dialog shows it: one line per [`Pick`], so a new
//! picker (a baseline folder, a list file, a GeoIP database) is a variant and a line here.

use super::super::jobs::Pick;

/// What a dialog lets the person choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One or more existing files.
    OpenFiles,
    /// One existing file.
    OpenFile,
    /// One folder.
    Folder,
    /// A file to write, with the name proposed.
    Save { name: &'static str },
}

/// The files a dialog lists: a label and the extensions it keeps (folders are always listed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filter {
    pub label: &'static str,
    pub extensions: &'static [&'static str],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub title: &'static str,
    pub mode: Mode,
    pub filter: Option<Filter>,
}

const LOGS: Filter = Filter { label: "Port Reporter logs", extensions: &["log", "txt", "csv"] };
const JSON: Filter = Filter { label: "JSON", extensions: &["json"] };
const CSV: Filter = Filter { label: "CSV", extensions: &["csv"] };
const MMDB: Filter = Filter { label: "MaxMind databases", extensions: &["mmdb"] };
const PNG: Filter = Filter { label: "PNG image", extensions: &["png"] };

impl Pick {
    pub const fn spec(self) -> Spec {
        use Mode::*;
        let (title, mode, filter) = match self {
            Pick::OpenLogs => ("Open logs", OpenFiles, Some(LOGS)),
            Pick::OpenFolder => ("Open folder", Folder, None),
            Pick::FollowFolder => ("Follow a log folder", Folder, None),
            Pick::LoadCriteria => ("Load criteria", OpenFile, Some(JSON)),
            Pick::SaveCriteria => ("Save criteria as", Save { name: "criteria.json" }, Some(JSON)),
            Pick::ExportCsv => ("Export view as CSV", Save { name: "prparser-view.csv" }, Some(CSV)),
            Pick::ExportJson => ("Export view as JSON", Save { name: "prparser-view.json" }, Some(JSON)),
            Pick::ExportStatsCsv => ("Export table as CSV", Save { name: "prparser-statistics.csv" }, Some(CSV)),
            Pick::ExportPlotPng => ("Export plot as PNG", Save { name: "prparser-plot.png" }, Some(PNG)),
            // Lists come as .netset, .ipset, .txt or no extension at all: every file is shown.
            Pick::AddressList => ("Choose an address list", OpenFile, None),
            Pick::BaselineFolder => ("Choose the baseline's log folder", Folder, None),
            Pick::GeoIpCountry => ("Choose a country database", OpenFile, Some(MMDB)),
            Pick::GeoIpAsn => ("Choose an ASN database", OpenFile, Some(MMDB)),
        };
        Spec { title, mode, filter }
    }
}

impl Filter {
    /// True when `path`'s extension is one of the filter's, in any case (`.LOG` as `.log`).
    pub fn keeps(&self, path: &std::path::Path) -> bool {
        let ext = path.extension().and_then(|e| e.to_str());
        ext.is_some_and(|e| self.extensions.iter().any(|x| x.eq_ignore_ascii_case(e)))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn filters_keep_their_extensions_in_any_case() {
        assert!(LOGS.keeps(Path::new("/logs/PR-PORTS-1-1-1-1-1-1.LOG")));
        assert!(LOGS.keeps(Path::new("ports.csv")));
        assert!(!LOGS.keeps(Path::new("notes.json")));
        assert!(!LOGS.keeps(Path::new("README")));
    }
}
