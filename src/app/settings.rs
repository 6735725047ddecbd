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
    /// The timeline above the grid (View › Timeline).
    pub show_timeline: bool,
    /// Reverse DNS of remote addresses: off until the person turns it on (lookups tell the DNS
    /// server which addresses the log holds), then remembered.
    pub resolve_dns: bool,
    /// DNS server to ask (`ip` or `ip:port`); empty for the system's.
    pub dns_server: String,
    /// The app's own file dialog even where the desktop has one (some portals cannot see
    /// hidden folders or network mounts).
    pub builtin_file_dialog: bool,
    /// The GeoIP databases last opened (View › GeoIP databases...): a country (or city)
    /// database and an ASN database, possibly one file for both.
    pub geoip_country: Option<PathBuf>,
    pub geoip_asn: Option<PathBuf>,
    /// The ClickHouse server, database and user last loaded from (File › Open from
    /// ClickHouse...). Never its password: that is kept for the session only.
    pub clickhouse_url: String,
    pub clickhouse_database: String,
    pub clickhouse_user: String,
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
            show_timeline: true,
            resolve_dns: false,
            dns_server: String::new(),
            builtin_file_dialog: false,
            geoip_country: None,
            geoip_asn: None,
            clickhouse_url: "http://127.0.0.1:8123".into(),
            clickhouse_database: "prparser".into(),
            clickhouse_user: String::new(),
        }
    }
}

impl Settings {
    pub const KEY: &'static str = "prparser-settings";

    /// The DNS servers to ask, from `dns_server`; `None` when it cannot be read.
    pub fn dns_servers(&self) -> Option<Vec<std::net::SocketAddr>> {
        parse_dns_server(&self.dns_server)
    }

    /// The paths to open on start when none are given: the most recent ones, if they are
    /// all still there. An empty entry (an older version remembered a cancelled load as one)
    /// is passed over.
    pub fn last_opened(&self) -> Option<Vec<PathBuf>> {
        self.recent.iter().find(|r| !r.is_empty()).filter(|r| r.iter().all(|p| p.exists())).cloned()
    }

    /// Puts an opened set of paths (from [`for_recent`]) first in the recent list, and its
    /// folder in `last_folder`.
    pub fn remember(&mut self, opened: &Opened) {
        let paths = opened.paths.as_slice();
        if paths.is_empty() {
            return;
        }
        self.recent.retain(|r| r != paths && !r.is_empty());
        self.recent.insert(0, paths.to_vec());
        self.recent.truncate(MAX_RECENT);
        self.last_folder = opened.folder.clone().or(self.last_folder.take());
    }
}

/// An opened set of paths as File › Recent keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened {
    /// Canonical where they exist (symlinks and `..` resolved, so one folder is one entry),
    /// else absolute (against the working directory now), so that the entry opens the same
    /// files from any other working directory.
    pub paths: Vec<PathBuf>,
    /// The first path if it is a folder, else the folder that holds it: where the next file
    /// dialog starts.
    pub folder: Option<PathBuf>,
}

/// The paths as File › Recent keeps them. It reads the file system (a network share may
/// take long to answer), so the load job calls it, not a frame.
pub fn for_recent(paths: &[PathBuf]) -> Opened {
    let paths: Vec<PathBuf> = paths
        .iter()
        .map(|p| std::fs::canonicalize(p).or_else(|_| std::path::absolute(p)).unwrap_or_else(|_| p.clone()))
        .collect();
    let folder = paths
        .first()
        .and_then(|first| if first.is_dir() { Some(first.clone()) } else { first.parent().map(PathBuf::from) });
    Opened { paths, folder }
}

/// The servers a DNS server setting names (`ip` or `ip:port`; empty: none, the system's);
/// `None` when the text is not an address.
pub fn parse_dns_server(text: &str) -> Option<Vec<std::net::SocketAddr>> {
    let text = text.trim();
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.parse::<std::net::SocketAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::IpAddr>().ok().map(|ip| std::net::SocketAddr::new(ip, 53)))
        .map(|a| vec![a])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_list_is_most_recent_first_without_duplicates() {
        let mut s = Settings::default();
        for name in ["a", "b", "a", "c"] {
            s.remember(&for_recent(&[PathBuf::from(format!("/logs/{name}/PR-PORTS-1-1-1-1-1-1.log"))]));
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

    #[test]
    fn an_empty_recent_entry_is_never_kept_nor_opened() {
        let here = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
        let mut s = Settings { recent: vec![vec![], vec![here.clone()]], ..Settings::default() };
        assert_eq!(s.last_opened(), Some(vec![here.clone()]));
        s.remember(&for_recent(&[]));
        assert_eq!(s.recent, vec![vec![], vec![here.clone()]], "nothing to remember");
        s.remember(&for_recent(std::slice::from_ref(&here)));
        assert_eq!(s.recent, vec![vec![here]], "the empty entry is dropped");
        s.recent = vec![vec![PathBuf::from("/nonexistent/PR-PORTS-1-1-1-1-1-1.log")]];
        assert_eq!(s.last_opened(), None);
    }

    #[test]
    fn recent_paths_are_absolute_and_canonical_where_they_exist() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = std::fs::canonicalize(tmp.path()).expect("canonical tempdir");
        let logs = root.join("logs");
        std::fs::create_dir(&logs).expect("logs folder");
        std::os::unix::fs::symlink(&logs, root.join("link")).expect("symlink");
        let given = vec![root.join("link"), root.join("logs").join("..").join("logs"), root.join("gone")];
        assert_eq!(for_recent(&given).paths, vec![logs.clone(), logs.clone(), root.join("gone")]);
        assert_eq!(for_recent(&given).folder, Some(logs.clone()), "a folder opened is the next dialog's folder");

        let cwd = std::env::current_dir().expect("cwd");
        let mut s = Settings::default();
        s.remember(&for_recent(&[PathBuf::from("x/PR-PORTS-1-1-1-1-1-1.log"), PathBuf::from("y")]));
        assert_eq!(s.recent, vec![vec![cwd.join("x/PR-PORTS-1-1-1-1-1-1.log"), cwd.join("y")]]);
        assert_eq!(s.last_folder, Some(cwd.join("x")), "the folder of a missing file, absolute too");
    }

    #[test]
    fn dns_server_setting_reads_ip_or_socket_address() {
        let mut s = Settings::default();
        assert_eq!(s.dns_servers(), Some(vec![]));
        s.dns_server = "192.0.2.53".into();
        assert_eq!(s.dns_servers(), Some(vec!["192.0.2.53:53".parse().expect("addr")]));
        s.dns_server = "127.0.0.1:5353".into();
        assert_eq!(s.dns_servers(), Some(vec!["127.0.0.1:5353".parse().expect("addr")]));
        s.dns_server = "[::1]:53".into();
        assert_eq!(s.dns_servers(), Some(vec!["[::1]:53".parse().expect("addr")]));
        s.dns_server = "dns.example".into();
        assert_eq!(s.dns_servers(), None);
        assert!(!Settings::default().resolve_dns, "DNS is opt-in");
    }
}
