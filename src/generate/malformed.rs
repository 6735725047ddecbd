//! Lines a PORTS reader must count as malformed and read past: each breaks one field of an
//! otherwise ordinary row (or the row itself), the ways a damaged or hand-edited log breaks.
//! None holds a quote (an unclosed quote would swallow the lines after it, as RFC 4180 says it
//! should) and none looks like a header line (those are skipped, not counted).

use std::io::{self, Write};

use chrono::{Datelike, NaiveDateTime, Timelike};

/// How many different malformed lines there are; [`write`] takes a number below this.
pub(super) const KINDS: u64 = 10;

/// Writes malformed line `kind` (modulo [`KINDS`]) at `time`, with CRLF.
pub(super) fn write(w: &mut impl Write, time: NaiveDateTime, kind: u64) -> io::Result<()> {
    let date = format!("{:02}/{}/{}", time.year().rem_euclid(100), time.month(), time.day());
    let clock = format!("{}:{}:{}", time.hour(), time.minute(), time.second());
    let mut fields = [
        date.as_str(),
        clock.as_str(),
        "TCP",
        "1447",
        "192.168.1.103",
        "80",
        "65.55.200.252",
        "1092",
        "svchost.exe",
        "<NT AUTHORITY\\SYSTEM>",
    ];
    let line = match kind % KINDS {
        0 => fields[..4].join(","),
        1 => return w.write_all(b"-- log damaged: disk full --\r\n"),
        k => {
            let (at, value) = match k {
                2 => (0, "08/13/32"),
                3 => (1, "25:7:61"),
                4 => (2, "ICMP"),
                5 => (3, "70000"),
                6 => (4, "192.168.1.300"),
                7 => (5, "http"),
                8 => (6, "intranet-gw"),
                _ => (7, "12ab"),
            };
            fields[at] = value;
            fields.join(",")
        }
    };
    write!(w, "{line}\r\n")
}
