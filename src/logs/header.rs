//! What a log file's name and first lines say: which of the three logs it is, its version,
//! its time stamp, and which partner files belong with it.
//!
//! A log is untrusted input, so the partner named in a `Check PR-PIDS-...` header is only ever
//! looked up as a bare file name in the log's own folder: a header naming `../x` or an
//! absolute path is reported and ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::Serialize;

use crate::model::make_datetime;

/// The three Port Reporter logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum LogKind {
    Initial,
    Ports,
    Pids,
}

impl LogKind {
    pub fn tag(self) -> &'static str {
        match self {
            LogKind::Initial => "INITIAL",
            LogKind::Ports => "PORTS",
            LogKind::Pids => "PIDS",
        }
    }
}

impl fmt::Display for LogKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PR-{}", self.tag())
    }
}

/// `Port Reporter Version 1.01 Log File`: the version text after `Version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Version(pub String);

/// Parses a `PR-<KIND>-yy-mm-dd-h-m-s.log` file name, accepting every padding.
pub fn parse_file_name(name: &str) -> Option<(LogKind, NaiveDateTime)> {
    let rest = name.strip_prefix("PR-").or_else(|| name.strip_prefix("pr-"))?;
    let (kind, rest) = [LogKind::Initial, LogKind::Ports, LogKind::Pids].into_iter().find_map(|k| {
        let tag = k.tag();
        let head = rest.get(..tag.len())?;
        head.eq_ignore_ascii_case(tag).then(|| (k, &rest[tag.len()..]))
    })?;
    let rest = rest.strip_prefix('-')?;
    let stem = rest.strip_suffix(".log").or_else(|| rest.strip_suffix(".LOG"))?;
    let parts: Vec<u32> = stem.split('-').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [y, mo, d, h, mi, s] = parts.as_slice() else {
        return None;
    };
    Some((kind, make_datetime(*y, *mo, *d, *h, *mi, *s)?))
}

/// The name the collector gives a new file: `PR-PORTS-04-01-24-8-49-30.log` (date padded,
/// time not, as in the knowledge-base example).
pub fn file_name(kind: LogKind, stamp: NaiveDateTime) -> String {
    format!(
        "PR-{}-{:02}-{:02}-{:02}-{}-{}-{}.log",
        kind.tag(),
        stamp.year().rem_euclid(100),
        stamp.month(),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second()
    )
}

/// Reads `Port Reporter Version 1.01 Log File...` (any case of `version`).
pub fn parse_version_line(line: &str) -> Option<Version> {
    let lower = line.to_ascii_lowercase();
    let rest = lower.trim_start().strip_prefix("port reporter version")?;
    let start = line.len() - rest.len();
    let version = line[start..].split_whitespace().next()?;
    Some(Version(version.to_string()))
}

/// Which log a file holds, from its first lines (the name may have been changed).
pub fn detect_kind(head: &str) -> Option<LogKind> {
    let lower = head.to_ascii_lowercase();
    if lower.contains("port usage log") || lower.contains("log format:") {
        Some(LogKind::Ports)
    } else if lower.contains("process detail log") {
        Some(LogKind::Pids)
    } else if lower.contains("service initialization log") {
        Some(LogKind::Initial)
    } else {
        None
    }
}

/// The partner named by `Check PR-PIDS-08-06-30-10-17-54.log for corresponding process data`.
/// Returns an error message for a name that would leave the folder.
pub fn partner_from_header(line: &str) -> Option<Result<String, String>> {
    let rest = line.trim().strip_prefix("Check ")?;
    let name = rest.strip_suffix("for corresponding process data").unwrap_or(rest).trim();
    if name.is_empty() {
        return None;
    }
    if name.contains(['/', '\\', '\0']) || name.contains("..") || name.contains(':') {
        return Some(Err(format!("header names partner {name:?} outside the log's folder; ignored")));
    }
    match parse_file_name(name) {
        Some((LogKind::Pids, _)) => Some(Ok(name.to_string())),
        _ => Some(Err(format!("header names {name:?}, which is not a PR-PIDS log name; ignored"))),
    }
}

/// The partner files of a PORTS log, found in its own folder.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Partners {
    pub pids: Option<PathBuf>,
    pub initial: Option<PathBuf>,
    /// Why a partner is missing, for the caller to show as a warning.
    pub problems: Vec<String>,
}

/// Finds the PIDS log a PORTS log names (or, failing that, the PIDS log with its stamp) and
/// the INITIAL log of its stamp (or the latest earlier one: the start of its rotation chain).
/// Only plain files directly in the log's folder are considered.
pub fn find_partners(ports_path: &Path, header_partner: Option<Result<String, String>>) -> Partners {
    let mut partners = Partners::default();
    let folder = ports_path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let siblings = list_logs(folder);
    let own_stamp = ports_path.file_name().and_then(|n| n.to_str()).and_then(parse_file_name).map(|(_, stamp)| stamp);

    let named = match header_partner {
        Some(Ok(name)) => Some(name),
        Some(Err(problem)) => {
            partners.problems.push(problem);
            None
        }
        None => None,
    };
    let pids_stamp = named.as_deref().and_then(parse_file_name).map(|(_, s)| s).or(own_stamp);
    partners.pids = named
        .as_ref()
        .and_then(|name| siblings.iter().find(|(p, _, _)| p.file_name().is_some_and(|f| f == name.as_str())))
        .or_else(|| siblings.iter().find(|(_, k, s)| *k == LogKind::Pids && Some(*s) == pids_stamp))
        .map(|(p, _, _)| p.clone());
    if partners.pids.is_none() {
        let wanted = named.unwrap_or_else(|| "a PR-PIDS log with the same stamp".to_string());
        partners.problems.push(format!("process data log {wanted} not found in {}", folder.display()));
    }

    if let Some(stamp) = own_stamp {
        partners.initial = siblings
            .iter()
            .filter(|(_, k, s)| *k == LogKind::Initial && *s <= stamp)
            .max_by_key(|(_, _, s)| *s)
            .map(|(p, _, _)| p.clone());
    }
    if partners.initial.is_none() {
        partners.problems.push(format!("no PR-INITIAL log for this PR-PORTS log in {}", folder.display()));
    }
    partners
}

/// Every `PR-*` log directly in a folder, with kind and stamp, ordered by stamp then kind.
/// Symlinks and sub-folders are skipped.
pub fn list_logs(folder: &Path) -> Vec<(PathBuf, LogKind, NaiveDateTime)> {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return Vec::new();
    };
    let mut logs: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name();
            let (kind, stamp) = parse_file_name(name.to_str()?)?;
            Some((e.path(), kind, stamp))
        })
        .collect();
    logs.sort_by(|a, b| (a.2, a.1, &a.0).cmp(&(b.2, b.1, &b.0)));
    logs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dt(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> NaiveDateTime {
        make_datetime(y, mo, d, h, mi, s).expect("valid")
    }

    #[test]
    fn file_names_with_every_padding() {
        assert_eq!(parse_file_name("PR-PORTS-04-01-24-8-49-30.log"), Some((LogKind::Ports, dt(4, 1, 24, 8, 49, 30))));
        assert_eq!(parse_file_name("PR-PIDS-05-07-6-13-44-4.log"), Some((LogKind::Pids, dt(5, 7, 6, 13, 44, 4))));
        assert_eq!(
            parse_file_name("PR-INITIAL-08-06-30-10-17-54.log"),
            Some((LogKind::Initial, dt(8, 6, 30, 10, 17, 54)))
        );
        assert_eq!(parse_file_name("PR-PORTS-04-13-24-8-49-30.log"), None);
        assert_eq!(parse_file_name("PR-PORTS-04-01-24-8-49.log"), None);
        assert_eq!(parse_file_name("notes.txt"), None);
    }

    #[test]
    fn writer_names_follow_the_kb_example() {
        assert_eq!(file_name(LogKind::Ports, dt(4, 1, 24, 8, 49, 30)), "PR-PORTS-04-01-24-8-49-30.log");
        assert_eq!(file_name(LogKind::Pids, dt(5, 7, 6, 13, 44, 4)), "PR-PIDS-05-07-06-13-44-4.log");
    }

    #[test]
    fn versions_and_kinds_from_headers() {
        assert_eq!(
            parse_version_line("Port Reporter Version 1.01 Log File - Port usage log"),
            Some(Version("1.01".into()))
        );
        assert_eq!(parse_version_line("Port Reporter version 1.0 Log File"), Some(Version("1.0".into())));
        assert_eq!(parse_version_line("hello"), None);
        assert_eq!(detect_kind("Port Reporter Version 1.0 Log File\nProcess detail log"), Some(LogKind::Pids));
        assert_eq!(
            detect_kind("Port Reporter version 1.01 Log File\nService initialization log"),
            Some(LogKind::Initial)
        );
        assert_eq!(detect_kind("Port Reporter Version 1.01 Log File - Port usage log"), Some(LogKind::Ports));
    }

    #[test]
    fn partner_names_never_leave_the_folder() {
        assert_eq!(
            partner_from_header("Check PR-PIDS-08-06-30-10-17-54.log for corresponding process data"),
            Some(Ok("PR-PIDS-08-06-30-10-17-54.log".into()))
        );
        assert!(matches!(
            partner_from_header("Check ../PR-PIDS-08-06-30-10-17-54.log for corresponding process data"),
            Some(Err(_))
        ));
        assert!(matches!(partner_from_header("Check /etc/passwd for corresponding process data"), Some(Err(_))));
        assert!(matches!(
            partner_from_header("Check C:\\x\\PR-PIDS-08-06-30-10-17-54.log for corresponding process data"),
            Some(Err(_))
        ));
        assert!(matches!(
            partner_from_header("Check PR-PORTS-08-06-30-10-17-54.log for corresponding process data"),
            Some(Err(_))
        ));
        assert_eq!(partner_from_header("date,time,protocol"), None);
    }

    #[test]
    fn partners_are_found_by_name_then_by_stamp() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in
            ["PR-PORTS-04-01-24-8-49-30.log", "PR-PIDS-04-01-24-08-49-30.log", "PR-INITIAL-04-01-24-8-49-30.log"]
        {
            std::fs::write(dir.path().join(name), "x").expect("write");
        }
        let ports = dir.path().join("PR-PORTS-04-01-24-8-49-30.log");
        let p = find_partners(&ports, Some(Ok("PR-PIDS-04-01-24-8-49-30.log".into())));
        assert_eq!(p.pids, Some(dir.path().join("PR-PIDS-04-01-24-08-49-30.log")));
        assert_eq!(p.initial, Some(dir.path().join("PR-INITIAL-04-01-24-8-49-30.log")));
        assert!(p.problems.is_empty());

        let p = find_partners(&ports, Some(Err("bad".into())));
        assert_eq!(p.pids, Some(dir.path().join("PR-PIDS-04-01-24-08-49-30.log")));
        assert_eq!(p.problems, vec!["bad".to_string()]);
    }

    #[test]
    fn missing_partners_are_problems_not_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ports = dir.path().join("PR-PORTS-04-01-24-8-49-30.log");
        std::fs::write(&ports, "x").expect("write");
        let p = find_partners(&ports, Some(Ok("PR-PIDS-04-01-24-8-49-30.log".into())));
        assert_eq!(p.pids, None);
        assert_eq!(p.initial, None);
        assert_eq!(p.problems.len(), 2);
    }
}
