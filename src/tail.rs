//! `prparser follow`: a followed log's rows printed as they are written, one line each, with
//! the criteria that flag them — `tail -F` for Port Reporter logs, for scripts and terminals.
//!
//! Rows come from a [`Follower`] (so rotations, partial lines and truncation behave as in the
//! app) and go through a [`Dataset`] so that module-path criteria can see each row's PIDS
//! entry. A row is printed once, when it is read: a module-path criterion sees the PIDS entry
//! known at that moment (the collector writes a process's entry just after its first rows, and
//! the follower takes the newest entry only once the next begins or the file has been quiet
//! for [`crate::logs::follow::PIDS_QUIET`]; a row printed before its entry arrived is not
//! matched, as a printed line cannot be taken back).
//!
//! Allow criteria clear flags here as everywhere. An address list that changes on disk is read
//! again before the next rows are flagged (a note says so), as the app does.

use std::io::{self, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::analysis::criteria::{self, CompiledSet, CriteriaSet};
use crate::analysis::dataset::Dataset;
use crate::analysis::dns::{HostNames, NoHostNames};
use crate::analysis::export::JsonRow;
use crate::analysis::geoip::GeoIp;
use crate::logs::follow::{Follower, Start};
use crate::logs::set::LogSet;

/// How rows are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Aligned text for a person.
    Text,
    /// One JSON object per line, for pipelines.
    JsonLines,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub style: Style,
    pub interval: Duration,
    /// Print flagged rows only.
    pub flagged_only: bool,
    /// Print rows from this time on only (rows before it are read, not printed or counted).
    pub from: Option<chrono::NaiveDateTime>,
    /// Stop after this long (`None`: until `stop` says so).
    pub duration: Option<Duration>,
    /// GeoIP databases for country and AS criteria.
    pub geo: Option<std::sync::Arc<GeoIp>>,
}

#[derive(Serialize)]
struct FollowRow<'a> {
    #[serde(flatten)]
    row: JsonRow<'a>,
    flagged_by: Vec<&'a str>,
}

/// What a run printed, for its caller's summary.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Totals {
    pub rows: u64,
    pub flagged: u64,
    pub malformed: u64,
}

/// Follows `path` (a log folder, or a PR-PORTS file and those rotated after it) and prints its
/// rows to `out`, file notes and malformed lines to `notes`, until `stop` returns true or the
/// duration ends. Everything already in the files is printed first, then what is appended.
pub fn run(
    path: &Path,
    criteria: &CriteriaSet,
    options: &Options,
    out: &mut dyn Write,
    notes: &mut dyn Write,
    stop: &dyn Fn() -> bool,
) -> io::Result<Totals> {
    let mut follower = if path.is_dir() { Follower::new(path, Start::Oldest) } else { Follower::from_file(path) };
    let mut compiled = std::sync::Arc::new(CompiledSet::new(criteria));
    let mut data = Dataset::from_set(vec![path.to_path_buf()], LogSet::default());
    let mut totals = Totals::default();
    let began = Instant::now();
    let over = |began: Instant| options.duration.is_some_and(|d| began.elapsed() >= d);
    while !stop() && !over(began) {
        if compiled.lists_changed() {
            compiled = std::sync::Arc::new(CompiledSet::new(criteria));
            writeln!(notes, "prparser: address lists changed on disk, read again")?;
            for (i, list) in compiled.lists() {
                writeln!(notes, "prparser: criterion {:?}: {}", criteria.criteria[i].name, list.summary())?;
            }
            for (i, err) in &compiled.broken {
                writeln!(notes, "prparser: criterion {:?} cannot be used: {err}", criteria.criteria[*i].name)?;
            }
        }
        let batch = follower.poll();
        let more = batch.more;
        for note in &batch.notes {
            writeln!(notes, "prparser: {note}")?;
        }
        for issue in &batch.ports.malformed {
            writeln!(notes, "prparser: malformed: {issue}")?;
        }
        totals.malformed += batch.ports.malformed.count();
        let added = data.append(batch).map_err(io::Error::other)?;
        let hosts: &dyn HostNames = match &options.geo {
            Some(geo) => &**geo,
            None => &NoHostNames,
        };
        let ctx = criteria::Context { set: &data.set, index: &data.index, row_blocks: &data.row_blocks, hosts };
        let eval = criteria::evaluate_rows(std::sync::Arc::clone(&compiled), &ctx, added.rows.clone());
        for (row, flagged) in added.rows.clone().zip(eval.flagged) {
            if data.set.ports.events.get(row).is_none_or(|e| options.from.is_some_and(|from| e.time < from)) {
                continue;
            }
            let names: Vec<&str> = if flagged {
                criteria::matching_criteria_compiled(&compiled, &ctx, row)
                    .into_iter()
                    .filter_map(|i| criteria.criteria.get(i).map(|c| c.name.as_str()))
                    .collect()
            } else {
                Vec::new()
            };
            totals.rows += 1;
            totals.flagged += u64::from(flagged);
            if flagged || !options.flagged_only {
                print_row(out, &data, row, names, options.style)?;
            }
        }
        out.flush()?;
        if !more {
            sleep_unless(options.interval, stop);
        }
    }
    Ok(totals)
}

/// Sleeps in short steps so that a stop request is seen quickly.
fn sleep_unless(total: Duration, stop: &dyn Fn() -> bool) {
    let step = Duration::from_millis(50);
    let until = Instant::now() + total;
    while !stop() {
        let now = Instant::now();
        if now >= until {
            break;
        }
        std::thread::sleep(step.min(until - now));
    }
}

fn print_row(out: &mut dyn Write, data: &Dataset, row: usize, flagged_by: Vec<&str>, style: Style) -> io::Result<()> {
    let log = &data.set.ports;
    let Some(e) = log.events.get(row) else {
        return Ok(());
    };
    match style {
        Style::JsonLines => {
            let json = FollowRow { row: JsonRow::new(log, e), flagged_by };
            serde_json::to_writer(&mut *out, &json).map_err(io::Error::other)?;
            writeln!(out)
        }
        Style::Text => {
            let pid = e.pid().map(|p| p.to_string()).unwrap_or_default();
            // Names come from the log and may hold control characters: shown escaped, so a
            // hostile module name cannot rewrite the terminal or fake a line.
            write!(
                out,
                "{}  {:<3}  {:>21} -> {:<21}  {:>6}  {}  {}",
                e.time.format("%Y-%m-%d %H:%M:%S"),
                e.protocol.as_str(),
                format!("{}:{}", log.local_ip(e), e.local_port),
                format!("{}:{}", log.remote_ip(e), e.remote_port()),
                pid,
                printable(log.module(e)),
                printable(log.user(e)),
            )?;
            if flagged_by.is_empty() {
                writeln!(out)
            } else {
                writeln!(out, "  FLAGGED: {}", printable(&flagged_by.join(", ")))
            }
        }
    }
}

/// Text with its control characters escaped (`\n`, `\u{1b}`), the rest as it is.
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        assert_eq!(printable("NT AUTHORITY\\SYSTEM"), "NT AUTHORITY\\SYSTEM");
        assert_eq!(printable("a\nb\u{1b}[2Jc"), "a\\nb\\u{1b}[2Jc");
        assert_eq!(printable("caf\u{e9}"), "caf\u{e9}");
    }
}
