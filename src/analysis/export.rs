//! Exports of what the app shows: the grid's current view as CSV or JSON, and any statistics
//! table as CSV.
//!
//! Logs come from machines that may be compromised, and an exported CSV is opened in a
//! spreadsheet: a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return would be
//! taken as a formula (CSV injection). Such cells are prefixed with `'`, as OWASP advises; every
//! other cell is written unchanged (RFC 4180 quoting by the csv crate), so exports round-trip.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;

use crate::analysis::dns::HostNames;
use crate::analysis::view::{Column, cell_text};
use crate::logs::ports::PortsLog;
use crate::model::PortEvent;

/// A cell made safe for spreadsheets.
pub fn neutralize(cell: &str) -> Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn csv_error(e: csv::Error) -> io::Error {
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

/// Writes a table (header, then rows) as CSV with neutralised cells.
pub fn write_table_csv<W: Write>(w: W, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(w);
    out.write_record(header.iter().map(|h| neutralize(h).into_owned())).map_err(csv_error)?;
    for row in rows {
        out.write_record(row.iter().map(|c| neutralize(c).into_owned())).map_err(csv_error)?;
    }
    out.flush()
}

/// The grid's rows, in view order, as CSV with the grid's `columns`.
pub fn write_rows_csv<W: Write>(
    w: W,
    log: &PortsLog,
    hosts: &dyn HostNames,
    columns: &[Column],
    rows: &[u32],
) -> io::Result<()> {
    let header: Vec<&str> = columns.iter().map(|c| c.title()).collect();
    let records = rows
        .iter()
        .filter_map(|&i| log.events.get(i as usize))
        .map(|e| columns.iter().map(|c| cell_text(log, hosts, e, *c)).collect::<Vec<_>>());
    write_table_csv(w, &header, records)
}

/// A row as JSON: typed values where the log has them. The export adds its host name;
/// `prparser follow` adds the criteria that flag it.
#[derive(Serialize)]
pub struct JsonRow<'a> {
    time: String,
    computer: &'a str,
    protocol: &'a str,
    local_ip: String,
    local_port: u16,
    remote_ip: String,
    remote_port: String,
    pid: Option<u32>,
    module: &'a str,
    user: &'a str,
    file: String,
    line: u32,
}

impl<'a> JsonRow<'a> {
    pub fn new(log: &'a PortsLog, e: &PortEvent) -> JsonRow<'a> {
        JsonRow {
            time: e.time.format("%Y-%m-%dT%H:%M:%S").to_string(),
            computer: log.computer(e),
            protocol: e.protocol.as_str(),
            local_ip: log.local_ip(e).to_string(),
            local_port: e.local_port,
            remote_ip: log.remote_ip(e).to_string(),
            remote_port: e.remote_port().to_string(),
            pid: e.pid(),
            module: log.module(e),
            user: log.user(e),
            file: log.source_path(e).map(|p| p.display().to_string()).unwrap_or_default(),
            line: e.line,
        }
    }
}

#[derive(Serialize)]
struct ExportRow<'a> {
    #[serde(flatten)]
    row: JsonRow<'a>,
    host: Option<String>,
    /// From the GeoIP databases open, when they know the remote address.
    country: Option<String>,
    asn: Option<u32>,
    as_organization: Option<String>,
}

/// The grid's rows, in view order, as a JSON array (streamed; valid for any content).
pub fn write_rows_json<W: Write>(mut w: W, log: &PortsLog, hosts: &dyn HostNames, rows: &[u32]) -> io::Result<()> {
    w.write_all(b"[")?;
    for (n, e) in rows.iter().filter_map(|&i| log.events.get(i as usize)).enumerate() {
        if n > 0 {
            w.write_all(b",")?;
        }
        w.write_all(b"\n  ")?;
        let ip = log.remote_ip(e).ip();
        let host = ip.and_then(|ip| hosts.host_name(ip));
        let place = ip.and_then(|ip| hosts.place(ip)).unwrap_or_default();
        let row = ExportRow {
            row: JsonRow::new(log, e),
            host,
            country: place.country.map(|c| c.to_string()),
            asn: place.network.as_ref().map(|n| n.number),
            as_organization: place.network.map(|n| n.organization.to_string()),
        };
        serde_json::to_writer(&mut w, &row).map_err(io::Error::other)?;
    }
    w.write_all(b"\n]\n")?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::dns::NoHostNames;
    use crate::analysis::test_support::set_from;

    #[test]
    fn formula_cells_are_neutralised_and_others_untouched() {
        for (cell, want) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("svchost.exe", "svchost.exe"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralize(cell), want);
        }
    }

    const PORTS: &str = "08/6/30,10:0:0,TCP,1447,192.168.1.103,80,65.55.200.252,1900,\"=cmd|' /C calc'!A0\",<NT AUTHORITY\\SYSTEM>\n\
08/6/30,10:0:1,UDP,137,::1,*,*,4,\"a,b \"\"q\"\"\nline\",\n";

    #[test]
    fn csv_export_round_trips_except_formulas() {
        let set = set_from(PORTS, None);
        let mut out = Vec::new();
        write_rows_csv(&mut out, &set.ports, &NoHostNames, &Column::ALL, &[1, 0]).expect("write");
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let header: Vec<String> = reader.headers().expect("header").iter().map(String::from).collect();
        assert_eq!(
            header,
            [
                "Date/time",
                "Computer",
                "Protocol",
                "Local IP:port",
                "Remote IP:port",
                "Remote host",
                "Country",
                "AS",
                "PID",
                "Module",
                "User"
            ]
        );
        let rows: Vec<Vec<String>> =
            reader.records().map(|r| r.expect("record").iter().map(String::from).collect()).collect();
        assert_eq!(
            rows[0],
            ["2008-06-30 10:00:01", "", "UDP", "[::1]:137", "*:*", "", "", "", "4", "a,b \"q\"\nline", ""]
        );
        assert_eq!(rows[1][9], "'=cmd|' /C calc'!A0");
        assert_eq!(rows[1][10], "NT AUTHORITY\\SYSTEM");
    }

    #[test]
    fn json_export_is_valid_for_any_content() {
        let set = set_from(PORTS, None);
        let mut out = Vec::new();
        write_rows_json(&mut out, &set.ports, &NoHostNames, &[0, 1]).expect("write");
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
        assert_eq!(v[0]["module"], "=cmd|' /C calc'!A0");
        assert_eq!(v[1]["module"], "a,b \"q\"\nline");
        assert_eq!(v[1]["remote_port"], "*");
        assert_eq!(v[1]["pid"], 4);
        assert_eq!(v[0]["line"], 1);
        let empty = {
            let mut o = Vec::new();
            write_rows_json(&mut o, &set.ports, &NoHostNames, &[]).expect("write");
            o
        };
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&empty).expect("json"), serde_json::json!([]));
    }
}
