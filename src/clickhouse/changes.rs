//! The Changes view from the server ([`crate::analysis::changes`] is the local one): ClickHouse
//! groups the rows and port tables by the view's keys, and prparser compares the baseline's
//! groups with what came after and orders the lists with the local view's own
//! [`Changes::ordered`]. What crosses the network is a row per key (listener, process,
//! endpoint), never a PORTS row.
//!
//! - Listeners of PORTS rows: the server groups the listening-looking rows by computer,
//!   protocol, local port, process and side (baseline, after, neither), with the first row's
//!   time, PID and user and the count. The XP quirk is paired there too: a "listening" TCP row
//!   with a random remote port is dropped when a connection row of the same computer, local
//!   port and PID comes within [`QUIRK_SECONDS`] after it (or in the same second), found by an
//!   equality join of each connection's second and the three before it.
//! - Listeners of snapshots: the port-tables table (written at ingest, listeners judged within
//!   their table), grouped alike; the default baseline is each computer's earliest PR-INITIAL,
//!   chosen here from the server's list of INITIAL logs as the local view chooses it.
//! - Processes: rows grouped by computer, process and side; the baseline's processes of its
//!   snapshots too.
//! - Remote endpoints: grouped by computer, process, remote address and port after the
//!   baseline, those the baseline had left out in the server (`NOT IN` the baseline's), and
//!   only the first [`MAX_ENDPOINTS`] (ties at the cut included) fetched.
//!
//! Process names compare without regard to case, as locally: prparser reads the distinct names
//! the server holds, keys them with [`name_key`], and the server groups by that key (a
//! `transform` of the names whose key differs from them).
//!
//! Where it can differ from the local view (see README): the local view pairs the XP quirk in
//! the order rows were written, the server by their times, so the two differ only where a
//! computer's clock goes back within 3 s of a quirk row (both pair each computer's rows on
//! their own, so interleaved files of several computers agree); ties
//! within one second are broken by line here; a process name spelled in several cases is
//! shown as spelled first in a snapshot, else in the earliest row; and a baseline of other logs
//! (`--baseline PATH`) is not offered.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use chrono::NaiveDateTime;

use super::client::{ClickHouseError, Client, datetime, number, quote, text};
use super::schema::{PORT_TABLES, PORTS, row_filter};
use crate::analysis::changes::listeners::QUIRK_SECONDS;
use crate::analysis::changes::{
    BaselineOut, Changes, MAX_ENDPOINTS, NewEndpoint, NewListener, NewProcess, OwnerChange,
};
use crate::analysis::time_range::TimeRange;
use crate::logs::header::parse_file_name;
use crate::logs::process_block::name_key;
use crate::model::Protocol;

/// What the rows after are compared with, of the kinds the server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerBaseline {
    /// Each computer's earliest PR-INITIAL.
    #[default]
    Initial,
    /// The rows, snapshots and PIDS blocks before this time.
    Until(NaiveDateTime),
}

/// Addresses that are no peer, as the logs' text (ingest writes addresses canonically).
const NO_PEER: &str = "('', '*', '0.0.0.0', '::')";
const UNSPECIFIED: &str = "('0.0.0.0', '::')";
/// A listening-looking row or entry ([`crate::analysis::changes::listeners::may_listen`]).
const LISTENING: &str = "(protocol = 'UDP' AND remote_ip IN ('', '*', '0.0.0.0', '::')) \
     OR (protocol = 'TCP' AND remote_ip IN ('0.0.0.0', '::'))";
/// A remote side that is an endpoint: a specific address and a numbered port.
const ENDPOINT: &str = "remote_ip NOT IN ('', '*', '0.0.0.0', '::') AND match(remote_port, '^[0-9]+$')";

fn maybe_quirk() -> String {
    format!(
        "protocol = 'TCP' AND remote_ip IN {UNSPECIFIED} AND pid IS NOT NULL \
         AND match(remote_port, '^[0-9]+$') AND remote_port != '0'"
    )
}

fn connection() -> String {
    format!("protocol = 'TCP' AND remote_ip NOT IN {NO_PEER} AND pid IS NOT NULL")
}

/// Seconds since 1970 of an answer's `toUInt32(time)`.
fn time_of(value: &serde_json::Value) -> NaiveDateTime {
    chrono::DateTime::from_timestamp(number(value) as i64, 0).map_or(NaiveDateTime::MIN, |t| t.naive_utc())
}

/// The ordering value the queries give first appearances: `(seconds + 1) << 32 | within`
/// (0 seconds: a snapshot without a time, which comes before any time).
fn time_of_ord(ord: u64) -> NaiveDateTime {
    match ord >> 32 {
        0 => NaiveDateTime::MIN,
        s => chrono::DateTime::from_timestamp(s as i64 - 1, 0).map_or(NaiveDateTime::MIN, |t| t.naive_utc()),
    }
}

/// Where a row or table goes: 0 the baseline, 1 after it, 2 neither (after, out of range).
struct Sides {
    rows: String,
    tables: String,
}

impl Sides {
    fn new(baseline: ServerBaseline, range: &TimeRange, earliest: &[(String, String)]) -> Sides {
        // The range alone (`1` and its bounds); the computers are chosen elsewhere.
        let in_range = row_filter(&[], range);
        let timed = match baseline {
            ServerBaseline::Until(until) => format!("multiIf(time < {}, 0, {in_range}, 1, 2)", datetime(until)),
            ServerBaseline::Initial => format!("if({in_range}, 1, 2)"),
        };
        // A snapshot without a time is after the baseline when no range is asked for; a PIDS
        // block without one is in neither.
        let untimed = if range.is_all() { "if(kind = 'INITIAL', 1, 2)" } else { "2" };
        let first = if baseline == ServerBaseline::Initial && !earliest.is_empty() {
            let list: Vec<String> = earliest.iter().map(|(c, f)| quote(&format!("{c}/{f}"))).collect();
            format!("kind = 'INITIAL' AND concat(computer, '/', file) IN ({})", list.join(", "))
        } else {
            "0".to_string()
        };
        Sides { tables: format!("multiIf({first}, 0, timed = 0, {untimed}, {timed})"), rows: timed }
    }
}

/// Process names by the key they compare by, and how each key is shown.
struct Names {
    /// `transform(column, ...)` pieces: the names whose key is not the name itself.
    from: Vec<String>,
    to: Vec<String>,
    shown: HashMap<String, String>,
}

impl Names {
    /// `column` as its key, in SQL.
    fn key(&self, column: &str) -> String {
        if self.from.is_empty() {
            return column.to_string();
        }
        let list = |names: &[String]| names.iter().map(|n| quote(n)).collect::<Vec<_>>().join(", ");
        format!("transform({column}, [{}], [{}], {column})", list(&self.from), list(&self.to))
    }

    fn shown(&self, key: &str) -> String {
        self.shown.get(key).cloned().unwrap_or_else(|| key.to_string())
    }
}

type ListenKey = (String, Protocol, u16, String);

/// A listener after the baseline: its first appearance (snapshots before rows at the same
/// time), PID and user, and its PORTS rows.
#[derive(Debug, Clone)]
struct Seen {
    /// Seconds, snapshot (0) or row (1), then place within the second.
    first: (u64, u8, u64),
    pid: Option<u32>,
    user: String,
    rows: u64,
}

/// The Changes view of the rows `of_computers` selects (the tables too), after the baseline
/// and within `range`.
pub fn changes(
    client: &Client,
    of_computers: &str,
    range: &TimeRange,
    baseline: ServerBaseline,
) -> Result<Changes, ClickHouseError> {
    let initials = client.select(&format!(
        "SELECT computer, file, toUInt32(time), timed FROM {PORT_TABLES} WHERE kind = 'INITIAL' AND {of_computers}"
    ))?;
    let earliest = earliest_initials(&initials);
    let sides = Sides::new(baseline, range, &earliest);
    let names = names(client, of_computers)?;

    let mut base_listeners: HashSet<ListenKey> = HashSet::new();
    let mut after: HashMap<ListenKey, Seen> = HashMap::new();
    for (source, rows) in [
        (0u8, table_listeners(client, of_computers, &sides, &names)?),
        (1, row_listeners(client, of_computers, &sides, &names)?),
    ] {
        for r in rows.iter().filter(|r| r.len() == 9) {
            let Some(protocol) = Protocol::parse(text(&r[1]).as_bytes()) else { continue };
            let key = (text(&r[0]).to_string(), protocol, number(&r[2]) as u16, text(&r[3]).to_string());
            if number(&r[4]) == 0 {
                base_listeners.insert(key);
                continue;
            }
            let pid = match &r[6] {
                serde_json::Value::Number(n) => n.as_i64(),
                v => text(v).parse().ok(),
            };
            let seen = Seen {
                first: (number(&r[5]) >> 32, source, number(&r[5]) & 0xffff_ffff),
                pid: pid.and_then(|p| u32::try_from(p).ok()),
                user: text(&r[7]).to_string(),
                rows: number(&r[8]),
            };
            match after.get_mut(&key) {
                Some(old) => {
                    let rows = old.rows + seen.rows;
                    if seen.first < old.first {
                        *old = seen;
                    }
                    old.rows = rows;
                }
                None => _ = after.insert(key, seen),
            }
        }
    }
    let mut owners: HashMap<(String, Protocol, u16), BTreeSet<String>> = HashMap::new();
    for (c, p, port, name) in &base_listeners {
        owners.entry((c.clone(), *p, *port)).or_default().insert(name.clone());
    }
    let mut new_listeners = Vec::new();
    let mut owner_changes = Vec::new();
    for (key, seen) in &after {
        let (computer, protocol, port, name) = key;
        let first_seen = time_of_ord(seen.first.0 << 32);
        if !base_listeners.contains(key) {
            new_listeners.push(NewListener {
                computer: computer.clone(),
                protocol: *protocol,
                port: *port,
                process: names.shown(name),
                pid: seen.pid,
                user: seen.user.clone(),
                first_seen,
                rows: seen.rows,
            });
        }
        if let Some(before) = owners.get(&(computer.clone(), *protocol, *port))
            && !before.contains(name)
        {
            let mut baseline_processes: Vec<String> = before.iter().map(|n| names.shown(n)).collect();
            baseline_processes.sort();
            owner_changes.push(OwnerChange {
                computer: computer.clone(),
                protocol: *protocol,
                port: *port,
                baseline_processes,
                process: names.shown(name),
                pid: seen.pid,
                first_seen,
            });
        }
    }
    let new_processes = processes(client, of_computers, &sides, &names)?;
    let new_remote_endpoints = endpoints(client, of_computers, &sides, &names)?;
    let out = match baseline {
        ServerBaseline::Initial => BaselineOut::Initial { files: earliest.into_iter().map(|(_, f)| f).collect() },
        ServerBaseline::Until(until) => BaselineOut::Until { until },
    };
    Ok(Changes::ordered(out, new_listeners, owner_changes, new_processes, new_remote_endpoints))
}

/// Each computer's earliest INITIAL log, as the local view takes it: by the time it was
/// taken, one with a time before one without, then in the order logs are opened (by the
/// stamp in their names, then name; then computer here, where the local view has the path);
/// listed in that order.
fn earliest_initials(rows: &[Vec<serde_json::Value>]) -> Vec<(String, String)> {
    let mut logs: Vec<(Option<NaiveDateTime>, String, String, Option<NaiveDateTime>)> = rows
        .iter()
        .filter(|r| r.len() == 4)
        .map(|r| {
            let file = text(&r[1]).to_string();
            let stamp = parse_file_name(&file).map(|(_, s)| s);
            let when = (number(&r[3]) != 0).then(|| time_of(&r[2]));
            (stamp, file, text(&r[0]).to_string(), when)
        })
        .collect();
    logs.sort_by(|a, b| (a.0, &a.1, &a.2).cmp(&(b.0, &b.1, &b.2)));
    let mut first: HashMap<&str, usize> = HashMap::new();
    for (i, (_, _, computer, when)) in logs.iter().enumerate() {
        match first.get(computer.as_str()) {
            Some(&j) => {
                let better = match (when, logs[j].3) {
                    (Some(a), Some(b)) => *a < b,
                    (Some(_), None) => true,
                    _ => false,
                };
                if better {
                    first.insert(computer, i);
                }
            }
            None => _ = first.insert(computer, i),
        }
    }
    let mut taken: Vec<usize> = first.into_values().collect();
    taken.sort_unstable();
    taken.into_iter().map(|i| (logs[i].2.clone(), logs[i].1.clone())).collect()
}

/// The process names the rows and tables hold, keyed; each key shown as spelled first in a
/// snapshot, else in the earliest row.
fn names(client: &Client, of_computers: &str) -> Result<Names, ClickHouseError> {
    let mut spellings: Vec<((u8, u64), String)> = Vec::new();
    for (source, sql) in [
        (
            0u8,
            format!(
                "SELECT p, min(if(timed = 1, toUInt64(toUInt32(time)) + 1, 0)) FROM {PORT_TABLES} \
                 ARRAY JOIN processes AS p WHERE {of_computers} GROUP BY p"
            ),
        ),
        (1, format!("SELECT module, min(toUInt32(time)) FROM {PORTS} WHERE {of_computers} GROUP BY module")),
    ] {
        for r in client.select(&sql)?.iter().filter(|r| r.len() == 2) {
            spellings.push(((source, number(&r[1])), text(&r[0]).to_string()));
        }
    }
    spellings.sort();
    let mut names = Names { from: Vec::new(), to: Vec::new(), shown: HashMap::new() };
    let mut keyed = HashSet::new();
    for (_, name) in spellings {
        let key = name_key(&name);
        if key != name && keyed.insert(name.clone()) {
            names.from.push(name.clone());
            names.to.push(key.clone());
        }
        names.shown.entry(key).or_insert(name);
    }
    Ok(names)
}

/// Listeners of the snapshots: per key and side, the first entry's order, PID and user.
fn table_listeners(
    client: &Client,
    of_computers: &str,
    sides: &Sides,
    names: &Names,
) -> Result<Vec<Vec<serde_json::Value>>, ClickHouseError> {
    client.select(&format!(
        "SELECT computer, e_protocol, e_port, {name} AS name, side, min(ord), argMin(e_pid64, ord), argMin(e_user, ord), 0 \
         FROM (SELECT computer, e_protocol, e_port, e_process, e_user, toInt64(e_pid) AS e_pid64, {side} AS side, \
               if(timed = 1, toUInt64(toUInt32(time)) + 1, 0) * 4294967296 \
               + if(kind = 'INITIAL', toUInt64(i), toUInt64(line) + 2147483648) AS ord \
               FROM {PORT_TABLES} ARRAY JOIN protocol AS e_protocol, local_port AS e_port, process AS e_process, \
               user AS e_user, pid AS e_pid, listener AS e_listener, arrayEnumerate(pid) AS i \
               WHERE {of_computers} AND e_listener = 1) \
         WHERE side != 2 GROUP BY computer, e_protocol, e_port, name, side",
        name = names.key("e_process"),
        side = sides.tables,
    ))
}

/// Listeners of PORTS rows, the XP quirk's rows left out: per key and side, the first row's
/// order, PID and user, and the rows.
fn row_listeners(
    client: &Client,
    of_computers: &str,
    sides: &Sides,
    names: &Names,
) -> Result<Vec<Vec<serde_json::Value>>, ClickHouseError> {
    let quirk = maybe_quirk();
    let seconds: Vec<String> = (0..=QUIRK_SECONDS).map(|s| s.to_string()).collect();
    client.select(&format!(
        "SELECT computer, protocol, local_port, {name} AS name, side, min(ord), argMin(p, ord), argMin(user, ord), count() \
         FROM (SELECT computer, protocol, local_port, module, user, p, t, side, ord, maybe_quirk \
               FROM (SELECT computer, protocol, local_port, module, user, ifNull(toInt64(pid), -1) AS p, \
                     toInt64(toUInt32(time)) AS t, {side} AS side, \
                     (toUInt64(toUInt32(time)) + 1) * 4294967296 + line AS ord, ({quirk}) AS maybe_quirk \
                     FROM {PORTS} WHERE {of_computers} AND ({LISTENING})) AS listening \
               ANY LEFT JOIN \
               (SELECT DISTINCT computer, local_port, ifNull(toInt64(pid), -1) AS p, \
                toInt64(toUInt32(time)) - arrayJoin([{seconds}]) AS t, toUInt8(1) AS paired \
                FROM {PORTS} WHERE {of_computers} AND {connection} \
                AND (computer, local_port, ifNull(toInt64(pid), -1)) IN \
                    (SELECT computer, local_port, ifNull(toInt64(pid), -1) FROM {PORTS} WHERE {of_computers} AND {quirk})) \
               AS connections USING (computer, local_port, p, t) \
               WHERE side != 2 AND NOT (maybe_quirk AND paired = 1)) \
         GROUP BY computer, protocol, local_port, name, side",
        name = names.key("module"),
        side = sides.rows,
        seconds = seconds.join(", "),
        connection = connection(),
    ))
}

/// Processes with rows after the baseline that neither its rows nor its snapshots had.
fn processes(
    client: &Client,
    of_computers: &str,
    sides: &Sides,
    names: &Names,
) -> Result<Vec<NewProcess>, ClickHouseError> {
    let mut before: HashSet<(String, String)> = client
        .select(&format!(
            "SELECT DISTINCT computer, {name} FROM {PORT_TABLES} ARRAY JOIN processes AS p \
             WHERE {of_computers} AND {side} = 0",
            name = names.key("p"),
            side = sides.tables,
        ))?
        .iter()
        .filter(|r| r.len() == 2)
        .map(|r| (text(&r[0]).to_string(), text(&r[1]).to_string()))
        .collect();
    let rows = client.select(&format!(
        "SELECT computer, {name} AS name, side, min(toUInt32(time)), count(), groupUniqArrayIf(user, user != '') \
         FROM (SELECT computer, module, user, time, {side} AS side FROM {PORTS} WHERE {of_computers}) \
         WHERE side != 2 GROUP BY computer, name, side",
        name = names.key("module"),
        side = sides.rows,
    ))?;
    for r in rows.iter().filter(|r| r.len() == 6 && number(&r[2]) == 0) {
        before.insert((text(&r[0]).to_string(), text(&r[1]).to_string()));
    }
    Ok(rows
        .iter()
        .filter(|r| r.len() == 6 && number(&r[2]) == 1)
        .filter(|r| !text(&r[1]).is_empty() && !before.contains(&(text(&r[0]).to_string(), text(&r[1]).to_string())))
        .map(|r| {
            let mut users: Vec<String> =
                r[5].as_array().map(|a| a.iter().map(|u| text(u).to_string()).collect()).unwrap_or_default();
            users.sort();
            NewProcess {
                computer: text(&r[0]).to_string(),
                process: names.shown(text(&r[1])),
                first_seen: time_of(&r[3]),
                rows: number(&r[4]),
                users,
            }
        })
        .collect())
}

/// `(rows, first time)` of the candidate at `max`, when candidates tied with it may lie past the
/// `over` fetched (ordered by rows descending, then first time): the last fetched ties with it.
fn tied_past(keys: &[(u64, u64)], max: usize, over: usize) -> Option<(u64, u64)> {
    if keys.len() < over || max == 0 {
        return None;
    }
    let cut = *keys.get(max - 1)?;
    (keys.last() == Some(&cut)).then_some(cut)
}

/// The new remote endpoints with most rows: the server leaves out those the baseline had and
/// gives the first [`MAX_ENDPOINTS`] by rows and first time, and any that tie with the last.
fn endpoints(
    client: &Client,
    of_computers: &str,
    sides: &Sides,
    names: &Names,
) -> Result<Vec<NewEndpoint>, ClickHouseError> {
    let base = format!(
        "SELECT computer, {row_name}, remote_ip, remote_port FROM {PORTS} \
         WHERE {of_computers} AND {ENDPOINT} AND {rows_side} = 0 \
         UNION ALL \
         SELECT computer, {table_name}, e_ip, e_port FROM {PORT_TABLES} \
         ARRAY JOIN process AS e_process, remote_ip AS e_ip, remote_port AS e_port \
         WHERE {of_computers} AND {tables_side} = 0 AND e_ip NOT IN {NO_PEER} AND match(e_port, '^[0-9]+$')",
        row_name = names.key("module"),
        table_name = names.key("e_process"),
        rows_side = sides.rows,
        tables_side = sides.tables,
    );
    let candidates = format!(
        "SELECT computer, name, remote_ip, remote_port, min(toUInt32(time)) AS first, count() AS n \
         FROM (SELECT computer, {name} AS name, remote_ip, remote_port, time FROM {PORTS} \
               WHERE {of_computers} AND {ENDPOINT} AND {side} = 1) \
         WHERE (computer, name, remote_ip, remote_port) NOT IN (SELECT * FROM ({base})) \
         GROUP BY computer, name, remote_ip, remote_port",
        name = names.key("module"),
        side = sides.rows,
    );
    // Most often the first twice as many hold every candidate tied with the last one listed:
    // one pass. Else a second pass fetches up to that one's rows and first time.
    let over = 2 * MAX_ENDPOINTS;
    let mut rows = client.select(&format!("SELECT * FROM ({candidates}) ORDER BY n DESC, first LIMIT {over}"))?;
    let keys: Vec<(u64, u64)> = rows.iter().map(|r| (r.get(5).map_or(0, number), r.get(4).map_or(0, number))).collect();
    if let Some((n, first)) = tied_past(&keys, MAX_ENDPOINTS, over) {
        rows =
            client.select(&format!("SELECT * FROM ({candidates}) WHERE n > {n} OR (n = {n} AND first <= {first})"))?;
    }
    Ok(rows
        .iter()
        .filter(|r| r.len() == 6)
        .filter_map(|r| {
            Some(NewEndpoint {
                computer: text(&r[0]).to_string(),
                process: names.shown(text(&r[1])),
                remote_ip: text(&r[2]).parse::<IpAddr>().ok()?,
                remote_port: text(&r[3]).parse().ok()?,
                first_seen: time_of(&r[4]),
                rows: number(&r[5]),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::tied_past;

    #[test]
    fn a_second_pass_only_when_the_last_fetched_ties_with_the_cut() {
        // Fewer than fetched: every candidate is in.
        assert_eq!(tied_past(&[(5, 1), (4, 1), (4, 2)], 2, 4), None);
        // All fetched past the cut differ from it: its ties are in.
        assert_eq!(tied_past(&[(5, 1), (4, 1), (4, 1), (3, 9)], 2, 4), None);
        // The last fetched ties with the cut: more may follow.
        assert_eq!(tied_past(&[(5, 1), (4, 1), (4, 1), (4, 1)], 2, 4), Some((4, 1)));
        assert_eq!(tied_past(&[(4, 1), (4, 1)], 1, 2), Some((4, 1)));
    }
}
