//! The Beaconing view from the server: ClickHouse groups the candidate rows (a process name,
//! a specific remote address, a numbered remote port) by candidate and socket and returns,
//! per candidate, the start of each connection (a socket's rows within the state-change window
//! of the one before are one connection); prparser scores those times as the local report
//! does ([`crate::analysis::stats::beaconing`]). What crosses the network is a time per
//! connection, not a row.

use std::collections::HashMap;
use std::net::IpAddr;

use super::client::{ClickHouseError, Client, number, text};
use super::schema::PORTS;
use crate::analysis::stats::beaconing::{Beacon, MIN_CONNECTIONS, STATE_CHANGE_WINDOW_S, rank};

/// The scored candidates of the rows `filter` selects, best first, at most `limit`.
pub fn beacons(client: &Client, filter: &str, limit: usize) -> Result<Vec<Beacon>, ClickHouseError> {
    let spans: HashMap<String, i64> = client
        .select(&format!(
            "SELECT computer, toInt64(toUInt32(max(time))) - toInt64(toUInt32(min(time))) FROM {PORTS} \
             WHERE {filter} GROUP BY computer"
        ))?
        .iter()
        .filter(|r| r.len() == 2)
        .map(|r| (text(&r[0]).to_string(), signed(&r[1])))
        .collect();
    // Per socket, its distinct row times in order; a time more than the window after the one
    // before starts a connection (the first always does).
    let sockets = format!(
        "SELECT computer, module, remote_ip, remote_port, \
         arraySort(groupUniqArray(toUInt32(time))) AS ts, \
         arrayFilter((t, before) -> t - before > {STATE_CHANGE_WINDOW_S}, ts, arrayPushFront(arrayPopBack(ts), toUInt32(0))) AS starts \
         FROM {PORTS} WHERE {filter} AND module != '' AND remote_ip NOT IN ('', '*', '0.0.0.0', '::') \
         AND match(remote_port, '^[0-9]+$') \
         GROUP BY computer, module, remote_ip, remote_port, ifNull(pid, 4294967295), local_port, protocol"
    );
    let rows = client.select(&format!(
        "SELECT computer, module, remote_ip, remote_port, arraySort(groupArrayArray(starts)) AS times \
         FROM ({sockets}) GROUP BY computer, module, remote_ip, remote_port \
         HAVING length(times) >= {MIN_CONNECTIONS}"
    ))?;
    let mut list: Vec<Beacon> = rows
        .iter()
        .filter(|r| r.len() == 5)
        .filter_map(|r| {
            let computer = text(&r[0]).to_string();
            let times: Vec<i64> = r[4].as_array()?.iter().map(signed).collect();
            let span = spans.get(&computer).copied().unwrap_or(0).max(0);
            let remote = (text(&r[2]).parse::<IpAddr>().ok()?, text(&r[3]).parse().ok()?);
            Some(Beacon::scored(computer, text(&r[1]).to_string(), remote, &times, span))
        })
        .collect();
    rank(&mut list);
    list.truncate(limit);
    Ok(list)
}

/// A number of an answer that may be negative or written as a string.
fn signed(value: &serde_json::Value) -> i64 {
    match value {
        serde_json::Value::Number(n) => n.as_i64().unwrap_or(0),
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        other => number(other) as i64,
    }
}
