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
    pub module: &'a str,
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
            write_csv_field(w, &bracketed)?;
        }
    }
    w.write_all(b"\r\n")
}

fn write_csv_field(w: &mut impl Write, field: &str) -> io::Result<()> {
    let needs_quotes = field.contains([',', '"', '\r', '\n']) || field.starts_with(' ') || field.ends_with(' ');
    if needs_quotes { write!(w, "\"{}\"", field.replace('"', "\"\"")) } else { w.write_all(field.as_bytes()) }
}
