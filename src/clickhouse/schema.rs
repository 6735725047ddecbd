//! The tables `prparser ingest` writes and `prparser report --clickhouse` reads (README,
//! "ClickHouse"). Plain MergeTree tables ordered by computer and time, no partitioning (one
//! insert of under a million rows is then one part: all there or not at all), and only types
//! ClickHouse 18.16 knows: addresses are text as the logs write them, not IPv4/IPv6 columns.
//! Times are the logs' own local times, without zone, in `DateTime('UTC')`: read and written
//! as UTC, so an hour of the logs is the same hour in the server, whatever its time zone.

use super::client::{ClickHouseError, Client, datetime, quote};
use crate::analysis::time_range::TimeRange;

/// PORTS rows: one per line of a PR-PORTS log (or the collector's).
pub const PORTS: &str = "ports";
/// Process blocks of PR-PIDS and PR-INITIAL logs.
pub const BLOCKS: &str = "process_blocks";
/// One row per file and load: how much of it is in, and its malformed lines.
pub const FILES: &str = "ingested_files";
/// The port tables the Changes view reads: one row per PR-INITIAL log (its mapping table at
/// service start) and per PIDS block, the table's entries as parallel arrays, each entry's
/// process and user named as the local view names them, and whether it is a listener (decided
/// within its table at ingest: the XP quirk's entry stands beside its connection there).
pub const PORT_TABLES: &str = "port_tables";

/// The SQL condition on the `computer` column: the names given, or every computer (no
/// condition, rather than a list of them all).
pub fn computer_filter(computers: &[String]) -> String {
    if computers.is_empty() {
        "1".to_string()
    } else {
        format!("computer IN ({})", computers.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "))
    }
}

/// The SQL condition on PORTS rows: computers and the half-open time range.
pub fn row_filter(computers: &[String], range: &TimeRange) -> String {
    let mut filter = computer_filter(computers);
    if let Some(from) = range.from {
        filter.push_str(&format!(" AND time >= {}", datetime(from)));
    }
    if let Some(to) = range.to {
        filter.push_str(&format!(" AND time < {}", datetime(to)));
    }
    filter
}

const TABLES: [(&str, &str); 4] = [
    (
        PORTS,
        "computer String, time DateTime('UTC'), protocol String, \
         local_ip String, local_port UInt16, remote_ip String, remote_port String, \
         pid Nullable(UInt32), module String, user String, file String, line UInt32",
    ),
    (
        BLOCKS,
        "computer String, time DateTime('UTC'), timed UInt8, kind String, pid UInt32, process String, \
         user String, system_process UInt8, services Array(String), modules Array(String), \
         image_path String, has_image UInt8, port_table String, file String, line UInt32",
    ),
    (
        PORT_TABLES,
        "computer String, time DateTime('UTC'), timed UInt8, kind String, file String, line UInt32, \
         processes Array(String), pid Array(UInt32), process Array(String), user Array(String), \
         protocol Array(String), local_port Array(UInt16), remote_ip Array(String), remote_port Array(String), \
         listener Array(UInt8)",
    ),
    (
        FILES,
        "computer String, file String, kind String, length UInt64, hash String, rows UInt64, \
         malformed UInt64, ingested DateTime('UTC') DEFAULT now()",
    ),
];

/// The statements that create the database and its tables; each is a no-op when its object
/// exists.
pub fn statements(database: &str) -> Vec<String> {
    let mut out = vec![format!("CREATE DATABASE IF NOT EXISTS {database}")];
    for (table, columns) in TABLES {
        let order = if table == FILES { "(computer, file)" } else { "(computer, time)" };
        out.push(format!(
            "CREATE TABLE IF NOT EXISTS {database}.{table} ({columns}) ENGINE = MergeTree() ORDER BY {order}"
        ));
    }
    out
}

/// Creates what is missing.
pub fn create(client: &Client) -> Result<(), ClickHouseError> {
    for sql in statements(client.database()) {
        client.execute(&sql)?;
    }
    Ok(())
}

/// Whether the database holds the ingest's tables (a report on an empty server says so
/// rather than failing on a missing table).
pub fn exists(client: &Client) -> Result<bool, ClickHouseError> {
    let sql = format!(
        "SELECT count() FROM system.tables WHERE database = {} AND name IN ({}, {}, {})",
        super::client::quote(client.database()),
        super::client::quote(PORTS),
        super::client::quote(BLOCKS),
        super::client::quote(FILES)
    );
    let rows = client.select(&sql)?;
    Ok(rows.first().and_then(|r| r.first()).map(super::client::number) == Some(3))
}

/// Whether the database holds `table` (one the ingest added later than the others: a
/// database loaded by an older prparser lacks it until the next ingest).
pub fn holds(client: &Client, table: &str) -> Result<bool, ClickHouseError> {
    let sql = format!(
        "SELECT count() FROM system.tables WHERE database = {} AND name = {}",
        super::client::quote(client.database()),
        super::client::quote(table)
    );
    let rows = client.select(&sql)?;
    Ok(rows.first().and_then(|r| r.first()).map(super::client::number) == Some(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::time_range::parse_time;

    #[test]
    fn the_filter_names_computers_and_a_half_open_range() {
        assert_eq!(row_filter(&[], &TimeRange::ALL), "1");
        let range = TimeRange::new(parse_time("2008-06-30T10:00:00").ok(), parse_time("08/6/30 11:00:00").ok())
            .expect("a range");
        assert_eq!(
            row_filter(&["ALPHA".into(), "o'brien".into()], &range),
            "computer IN ('ALPHA', 'o\\'brien') AND time >= toDateTime('2008-06-30 10:00:00', 'UTC') \
             AND time < toDateTime('2008-06-30 11:00:00', 'UTC')"
        );
        let from_only = TimeRange::new(parse_time("2008-07-01").ok(), None).expect("a range");
        assert_eq!(row_filter(&[], &from_only), "1 AND time >= toDateTime('2008-07-01 00:00:00', 'UTC')");
    }
}
