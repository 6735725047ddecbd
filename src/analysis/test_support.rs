//! Small in-memory log sets for the analysis unit tests.

use std::path::Path;

use crate::logs::pids::parse_pids;
use crate::logs::ports::{LoadProgress, read_from};
use crate::logs::set::LogSet;
use crate::logs::text::shared_path;

/// A set of several computers' PORTS texts, each its own file of that computer, its rows
/// sorted by time with the others'.
pub fn fleet_from(computers: &[(&str, &str)]) -> LogSet {
    let mut set = LogSet::default();
    for (computer, ports) in computers {
        let path = Path::new(computer).join("PR-PORTS-t.log");
        set.ports.computers.assign(&path, computer);
        read_from(&mut set.ports, &path, ports.as_bytes(), None, &LoadProgress::default()).expect("in-memory read");
    }
    set.ports.sort_by_time();
    set
}

/// A set from PORTS text and optional PIDS text.
pub fn set_from(ports: &str, pids: Option<&str>) -> LogSet {
    let mut set = LogSet::default();
    read_from(&mut set.ports, Path::new("PR-PORTS-t.log"), ports.as_bytes(), None, &LoadProgress::default())
        .expect("in-memory read");
    set.ports.sort_by_time();
    if let Some(text) = pids {
        set.pids.push(parse_pids(&shared_path(Path::new("PR-PIDS-t.log")), 0, text.as_bytes()));
    }
    set
}
