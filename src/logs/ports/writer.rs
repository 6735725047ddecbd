//! Writing PORTS files in the original's shapes, with names quoted so they cannot forge lines.

use std::io::{self, Write};

use chrono::{Datelike, NaiveDateTime, Timelike};

use super::FORMAT_LINE;
use crate::model::{Address, PortField, Protocol};

/// Writes the 4-line header of a PORTS file.
pub fn write_header(w: &mut impl Write, version: &str, pids_partner: &str) -> io::Result<()> {
    write!(
        w,
        "Port Reporter Version {version} Log File - Port usage log\r\nCheck {pids_partner} for corresponding process data\r\nLog format:\r\n{FORMAT_LINE}\r\n"
    )
}

/// An event to write: the values a row holds, by reference.
#[derive(Debug, Clone, Copy)]
pub struct RowOut<'a> {
    pub time: NaiveDateTime,
    pub protocol: Protocol,
    pub local_port: u16,
    pub local_ip: Address,
    pub remote_port: PortField,
    pub remote_ip: Address,
    pub pid: Option<u32>,
    /// Bytes, not text: the collector writes a process name that is not UTF-8 as it is (the
    /// readers read such a field as Windows-1252, as in the original's logs).
    pub module: &'a [u8],
    pub user: Option<&'a str>,
}

/// Writes one 10-field row (7 fields when there is no PID) in the original's shapes:
/// `08/6/30,10:17:58,TCP,...,<user>` with CRLF. Module and user are RFC 4180-quoted when they
/// hold a comma, quote or line break, so no name can forge or break a line.
pub fn write_row(w: &mut impl Write, row: &RowOut<'_>) -> io::Result<()> {
    let t = row.time;
    write!(
        w,
        "{:02}/{}/{},{}:{}:{},{},{},{},{},{}",
        t.year().rem_euclid(100),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        row.protocol,
        row.local_port,
        row.local_ip,
        row.remote_port,
        row.remote_ip
    )?;
    if let Some(pid) = row.pid {
        write!(w, ",{pid},")?;
        write_csv_field(w, row.module)?;
        w.write_all(b",")?;
        if let Some(user) = row.user {
            let bracketed = format!("<{user}>");
            write_csv_field(w, bracketed.as_bytes())?;
        }
    }
    w.write_all(b"\r\n")
}

fn write_csv_field(w: &mut impl Write, field: &[u8]) -> io::Result<()> {
    let needs_quotes = field.iter().any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'))
        || field.starts_with(b" ")
        || field.ends_with(b" ");
    if !needs_quotes {
        return w.write_all(field);
    }
    w.write_all(b"\"")?;
    for part in field.split_inclusive(|&b| b == b'"') {
        w.write_all(part)?;
        if part.ends_with(b"\"") {
            w.write_all(b"\"")?;
        }
    }
    w.write_all(b"\"")
}
