//! The rows of the port-tables table ([`super::schema::PORT_TABLES`]) that `prparser ingest`
//! writes: one per PR-INITIAL log (its mapping table at service start) and one per PIDS block,
//! each entry named and judged as the local Changes view names and judges it
//! ([`crate::analysis::changes`]), so the server's Changes view groups the same listeners,
//! processes and endpoints.
//!
//! Whether an entry is a listener is decided here, within its table, because the XP quirk's
//! "listening" entry stands beside its connection's entry in the same table
//! ([`listeners::table_listeners`]); the server cannot read the table's JSON (18.16 has no
//! JSON functions), so the entries go in as parallel arrays.

use std::fmt::Write as _;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::analysis::changes::listeners;
use crate::logs::header;
use crate::logs::initial::InitialLog;
use crate::model::{PortMapping, ProcessBlock};

/// The line an INITIAL log's mapping table is keyed by: before any of its blocks.
pub const INITIAL_TABLE_LINE: u32 = 1;

#[derive(Serialize)]
struct TableRow<'a> {
    computer: &'a str,
    time: String,
    timed: u8,
    kind: &'a str,
    file: &'a str,
    line: u32,
    processes: Vec<&'a str>,
    pid: Vec<u32>,
    process: Vec<&'a str>,
    user: Vec<&'a str>,
    protocol: Vec<&'static str>,
    local_port: Vec<u16>,
    remote_ip: Vec<String>,
    remote_port: Vec<String>,
    listener: Vec<u8>,
}

/// When an INITIAL snapshot was taken: the time its header gives, else its file name's stamp
/// (what the local view takes).
pub fn initial_time(log: &InitialLog) -> Option<NaiveDateTime> {
    log.header
        .system_date
        .or_else(|| log.path.file_name().and_then(|n| n.to_str()).and_then(header::parse_file_name).map(|(_, s)| s))
}

/// Appends the JSON row of an INITIAL log's mapping table. Each entry is named by the table
/// (`4:System`), else by the block of its PID; its user is that block's. The processes are
/// the entries' and the blocks' names: all of them are the baseline when this snapshot is.
pub fn push_initial(out: &mut String, computer: &str, file: &str, log: &InitialLog) {
    let block_of = |m: &PortMapping| log.blocks.iter().find(|b| b.pid == m.pid);
    let named: Vec<(&str, &str)> = log
        .mappings
        .iter()
        .map(|m| {
            let block = block_of(m);
            let name = m.process.as_deref().or_else(|| block.map(|b| b.process.as_str())).unwrap_or("");
            (name, block.and_then(|b| b.user.as_deref()).unwrap_or(""))
        })
        .collect();
    let mut processes: Vec<&str> = named.iter().map(|(n, _)| *n).collect();
    processes.extend(log.blocks.iter().map(|b| b.process.as_str()));
    push(out, computer, file, "INITIAL", INITIAL_TABLE_LINE, initial_time(log), processes, &log.mappings, &|i| {
        named.get(i).copied().unwrap_or(("", ""))
    });
}

/// Appends the JSON row of a PIDS block's port table: every entry is the block's process.
pub fn push_block(out: &mut String, computer: &str, file: &str, block: &ProcessBlock) {
    let who = (block.process.as_str(), block.user.as_deref().unwrap_or(""));
    push(out, computer, file, "PIDS", block.line, block.recorded_at, vec![who.0], &block.ports, &|_| who);
}

#[allow(clippy::too_many_arguments)]
fn push<'a>(
    out: &mut String,
    computer: &'a str,
    file: &'a str,
    kind: &'a str,
    line: u32,
    time: Option<NaiveDateTime>,
    processes: Vec<&'a str>,
    entries: &'a [PortMapping],
    who: &dyn Fn(usize) -> (&'a str, &'a str),
) {
    let listening = listeners::table_listeners(entries);
    let mut stamp = String::new();
    match time {
        Some(t) => {
            let _ = write!(stamp, "{}", t.format("%Y-%m-%d %H:%M:%S"));
        }
        None => stamp.push_str("1970-01-01 00:00:00"),
    }
    let row = TableRow {
        computer,
        time: stamp,
        timed: u8::from(time.is_some()),
        kind,
        file,
        line,
        processes,
        pid: entries.iter().map(|e| e.pid).collect(),
        process: (0..entries.len()).map(|i| who(i).0).collect(),
        user: (0..entries.len()).map(|i| who(i).1).collect(),
        protocol: entries.iter().map(|e| e.protocol.as_str()).collect(),
        local_port: entries.iter().map(|e| e.local_port).collect(),
        remote_ip: entries.iter().map(|e| e.remote_ip.to_string()).collect(),
        remote_port: entries.iter().map(|e| e.remote_port.to_string()).collect(),
        listener: (0..entries.len()).map(|i| u8::from(listening.contains(&i))).collect(),
    };
    if let Ok(json) = serde_json::to_string(&row) {
        out.push_str(&json);
        out.push('\n');
    }
}
