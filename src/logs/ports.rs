//! PR-PORTS: one CSV line per new socket or TCP state change.
//!
//! The reader is the hot path of the whole tool (logs of millions of lines), so it works on
//! bytes, splits a block of lines across threads, and parses each distinct address or name
//! once per chunk. What it accepts, beyond plain CSV:
//! - `yy/m/d` dates with or without padding or the year's leading zero, `h:m:s` unpadded times;
//! - 10 fields, 9 (user context missing with its comma) and 7 (Windows 2000);
//! - `*` and empty remote ports and addresses, bare IPv6 addresses (also `[..]`, or with a zone);
//! - RFC 4180 quoting (a quoted field may span lines); a module name with unquoted commas is
//!   rebuilt when the last field is a bracketed user context;
//! - header lines, also repeated mid-file (concatenated logs), are skipped, not malformed;
//! - a truncated last line is reported as such.
//!
//! Every other line becomes a [`LineIssue`] and reading goes on.

use std::borrow::Cow;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};
use rustc_hash::FxHashMap;

use crate::intern::{AddrTable, Interner};
use crate::logs::header::{self, Version};
use crate::logs::text::{self, LineIssue, field_text, trim_cr};
use crate::model::{AddrId, Address, PortEvent, PortField, Protocol, RowShape, Symbol, make_datetime};

/// The column line of the 10-field format.
pub const FORMAT_LINE: &str =
    "date,time,protocol,local port,local IP address,remote port,remote IP address,PID,module,user context";

/// A quoted field may hold line breaks, but a record is never longer than this: past it the
/// opening line is reported malformed and reading resumes on the next line.
pub const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Why a line is not a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    FieldCount(usize),
    Date,
    Time,
    Protocol,
    LocalPort,
    LocalIp,
    RemotePort,
    RemoteIp,
    Pid,
    UnterminatedQuote,
    Truncated,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::FieldCount(n) => write!(f, "expected 7, 9 or 10 comma-separated fields, found {n}"),
            Malformed::Date => f.write_str("unreadable date (expected yy/m/d)"),
            Malformed::Time => f.write_str("unreadable time (expected h:m:s)"),
            Malformed::Protocol => f.write_str("unknown protocol (expected TCP or UDP)"),
            Malformed::LocalPort => f.write_str("unreadable local port"),
            Malformed::LocalIp => f.write_str("unreadable local IP address"),
            Malformed::RemotePort => f.write_str("unreadable remote port"),
            Malformed::RemoteIp => f.write_str("unreadable remote IP address"),
            Malformed::Pid => f.write_str("unreadable PID"),
            Malformed::UnterminatedQuote => f.write_str("quoted field never closed"),
            Malformed::Truncated => f.write_str("truncated last line (the file ends mid-row)"),
        }
    }
}

/// A line's fields, split on commas with RFC 4180 quoting, into `fields` (cleared first; the
/// vector is reused from line to line so the hot path does not allocate).
fn split_fields<'a>(line: &'a [u8], fields: &mut Vec<Cow<'a, [u8]>>) -> Result<(), Malformed> {
    fields.clear();
    if memchr::memchr(b'"', line).is_none() {
        let mut start = 0;
        for comma in memchr::memchr_iter(b',', line) {
            fields.push(Cow::Borrowed(&line[start..comma]));
            start = comma + 1;
        }
        fields.push(Cow::Borrowed(&line[start..]));
        return Ok(());
    }
    let mut rest = line;
    loop {
        if let Some(quoted) = rest.strip_prefix(b"\"") {
            let mut value = Vec::new();
            let mut i = 0;
            loop {
                let Some(q) = memchr::memchr(b'"', &quoted[i..]) else {
                    return Err(Malformed::UnterminatedQuote);
                };
                value.extend_from_slice(&quoted[i..i + q]);
                i += q + 1;
                if quoted.get(i) == Some(&b'"') {
                    value.push(b'"');
                    i += 1;
                } else {
                    break;
                }
            }
            // Text between the closing quote and the next comma is kept, as lenient readers do.
            let after = &quoted[i..];
            let end = memchr::memchr(b',', after).unwrap_or(after.len());
            value.extend_from_slice(&after[..end]);
            fields.push(Cow::Owned(value));
            match after.get(end) {
                Some(_) => rest = &after[end + 1..],
                None => return Ok(()),
            }
        } else {
            let end = memchr::memchr(b',', rest).unwrap_or(rest.len());
            fields.push(Cow::Borrowed(&rest[..end]));
            match rest.get(end) {
                Some(_) => rest = &rest[end + 1..],
                None => return Ok(()),
            }
        }
    }
}

/// True when a line ends inside a quoted field, so the record continues on the next line.
fn ends_inside_quotes(line: &[u8]) -> bool {
    // Inside a field that opened with a quote every quote toggles the state, so an escaped
    // `""` leaves it unchanged; quotes in unquoted fields are literal.
    let mut quoted_field = false;
    let mut in_quotes = false;
    let mut at_field_start = true;
    for &b in line {
        if at_field_start {
            quoted_field = b == b'"';
        }
        if quoted_field && b == b'"' {
            in_quotes = !in_quotes;
        }
        at_field_start = !in_quotes && b == b',';
    }
    in_quotes
}

/// A decimal number of at most `max`, surrounding blanks allowed.
fn parse_dec(bytes: &[u8], max: u64) -> Option<u64> {
    let t = bytes.trim_ascii();
    if t.is_empty() || t.len() > 10 {
        return None;
    }
    let mut v: u64 = 0;
    for &c in t {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + u64::from(d);
    }
    (v <= max).then_some(v)
}

fn parse_u16(bytes: &[u8]) -> Option<u16> {
    parse_dec(bytes, u64::from(u16::MAX)).map(|v| v as u16)
}

fn parse_u32(bytes: &[u8]) -> Option<u32> {
    parse_dec(bytes, u64::from(u32::MAX)).map(|v| v as u32)
}

/// `a<sep>b<sep>c`, three numbers (dates and times).
fn parse_triplet(bytes: &[u8], sep: u8) -> Option<(u32, u32, u32)> {
    let t = bytes.trim_ascii();
    let mut it = memchr::memchr_iter(sep, t);
    let i = it.next()?;
    let j = it.next()?;
    if it.next().is_some() {
        return None;
    }
    Some((parse_u32(&t[..i])?, parse_u32(&t[i + 1..j])?, parse_u32(&t[j + 1..])?))
}

/// Parses an address field: an IPv4 or IPv6 address (bare, bracketed or with a `%zone`),
/// `*`, or empty.
pub fn parse_address(bytes: &[u8]) -> Option<Address> {
    let t = bytes.trim_ascii();
    match t {
        b"" => return Some(Address::Empty),
        b"*" => return Some(Address::Any),
        _ => {}
    }
    let t = t.strip_prefix(b"[").and_then(|t| t.strip_suffix(b"]")).unwrap_or(t);
    let t = match memchr::memchr(b'%', t) {
        Some(i) => &t[..i],
        None => t,
    };
    std::str::from_utf8(t).ok()?.parse().ok().map(Address::Ip)
}

fn parse_port_field(bytes: &[u8]) -> Option<PortField> {
    match bytes.trim_ascii() {
        b"" => Some(PortField::Empty),
        b"*" => Some(PortField::Any),
        t => parse_u16(t).map(PortField::Num),
    }
}

/// Header lines that may appear at the top of a file or again in the middle of it.
pub fn is_header_line(line: &[u8]) -> bool {
    let t = line.trim_ascii_start();
    let starts = |p: &[u8]| t.len() >= p.len() && t[..p.len()].eq_ignore_ascii_case(p);
    starts(b"Port Reporter") || starts(b"Check PR-") || starts(b"Log format") || starts(b"date,time,protocol")
}

/// Per-chunk tables: every distinct name or address text is decoded once.
#[derive(Default)]
struct ChunkTables<'a> {
    modules: FxHashMap<Cow<'a, [u8]>, Symbol>,
    module_list: Vec<Cow<'a, [u8]>>,
    users: FxHashMap<Cow<'a, [u8]>, Symbol>,
    user_list: Vec<Cow<'a, [u8]>>,
    addrs: FxHashMap<&'a [u8], AddrId>,
    /// Dotted-quad addresses, the common case, keyed by value: cheaper than hashing text.
    v4: FxHashMap<u32, AddrId>,
    addr_list: Vec<Address>,
    last_date: Option<(&'a [u8], NaiveDate)>,
    /// The previous row's local address, module and user: runs of rows repeat them.
    last_local: Option<(&'a [u8], AddrId)>,
    last_module: Option<(&'a [u8], Symbol)>,
    last_user: Option<(&'a [u8], Symbol)>,
}

fn intern_local<'a>(
    map: &mut FxHashMap<Cow<'a, [u8]>, Symbol>,
    list: &mut Vec<Cow<'a, [u8]>>,
    text: Cow<'a, [u8]>,
) -> Symbol {
    if text.is_empty() {
        return Symbol::EMPTY;
    }
    if let Some(&s) = map.get(&text) {
        return s;
    }
    list.push(text.clone());
    let s = Symbol(list.len() as u32);
    map.insert(text, s);
    s
}

/// [`intern_local`] behind a one-entry cache of the previous row's value.
fn cached_intern<'a>(
    last: &mut Option<(&'a [u8], Symbol)>,
    map: &mut FxHashMap<Cow<'a, [u8]>, Symbol>,
    list: &mut Vec<Cow<'a, [u8]>>,
    text: Cow<'a, [u8]>,
) -> Symbol {
    match text {
        Cow::Borrowed(b) => match *last {
            Some((prev, sym)) if prev == b => sym,
            _ => {
                let sym = intern_local(map, list, Cow::Borrowed(b));
                *last = Some((b, sym));
                sym
            }
        },
        owned => intern_local(map, list, owned),
    }
}

/// A dotted quad without leading zeros (which the standard parser refuses too), as a number.
fn parse_ipv4_fast(b: &[u8]) -> Option<u32> {
    if !(7..=15).contains(&b.len()) {
        return None;
    }
    let (mut out, mut octet, mut digits, mut dots) = (0u32, 0u32, 0u32, 0u32);
    for &c in b {
        if c == b'.' {
            if digits == 0 || dots == 3 {
                return None;
            }
            out = out << 8 | octet;
            (octet, digits, dots) = (0, 0, dots + 1);
        } else {
            let d = c.wrapping_sub(b'0');
            if d > 9 || (digits == 1 && octet == 0) {
                return None;
            }
            octet = octet * 10 + u32::from(d);
            digits += 1;
            if octet > 255 {
                return None;
            }
        }
    }
    (dots == 3 && digits > 0).then_some(out << 8 | octet)
}

impl<'a> ChunkTables<'a> {
    fn addr(&mut self, bytes: &'a [u8]) -> Option<AddrId> {
        if let Some(v4) = parse_ipv4_fast(bytes) {
            let next = AddrId(self.addr_list.len() as u32);
            let id = *self.v4.entry(v4).or_insert(next);
            if id == next {
                self.addr_list.push(Address::Ip(std::net::Ipv4Addr::from(v4).into()));
            }
            return Some(id);
        }
        if let Some(&id) = self.addrs.get(bytes) {
            return Some(id);
        }
        let addr = parse_address(bytes)?;
        self.addr_list.push(addr);
        let id = AddrId(self.addr_list.len() as u32 - 1);
        self.addrs.insert(bytes, id);
        Some(id)
    }

    fn date(&mut self, bytes: &'a [u8]) -> Option<NaiveDate> {
        if let Some((b, d)) = self.last_date
            && b == bytes
        {
            return Some(d);
        }
        let (y, m, d) = parse_triplet(bytes, b'/')?;
        let date = make_datetime(y, m, d, 0, 0, 0)?.date();
        self.last_date = Some((bytes, date));
        Some(date)
    }

    /// Turns a line's fields into an event with chunk-local ids.
    fn row(&mut self, fields: &mut [Cow<'a, [u8]>]) -> Result<PortEvent, Malformed> {
        let n = fields.len();
        let shape = match n {
            10 => RowShape::Full,
            9 => RowShape::NoUser,
            7 => RowShape::W2k,
            n if n > 10 => RowShape::Full,
            n => return Err(Malformed::FieldCount(n)),
        };
        let date = match &fields[0] {
            Cow::Borrowed(b) => self.date(b),
            Cow::Owned(b) => parse_triplet(b, b'/').and_then(|(y, m, d)| Some(make_datetime(y, m, d, 0, 0, 0)?.date())),
        }
        .ok_or(Malformed::Date)?;
        let (h, mi, s) = parse_triplet(&fields[1], b':').ok_or(Malformed::Time)?;
        let time = date.and_hms_opt(h, mi, s).ok_or(Malformed::Time)?;
        let protocol = Protocol::parse(fields[2].trim_ascii()).ok_or(Malformed::Protocol)?;
        let local_port = parse_u16(&fields[3]).ok_or(Malformed::LocalPort)?;
        let local_ip = match (&fields[4], self.last_local) {
            (Cow::Borrowed(b), Some((last, id))) if *b == last => id,
            (Cow::Borrowed(b), _) => {
                let b: &'a [u8] = b;
                let id = self.addr(b).ok_or(Malformed::LocalIp)?;
                self.last_local = Some((b, id));
                id
            }
            (Cow::Owned(_), _) => self.addr_field(std::mem::take(&mut fields[4])).ok_or(Malformed::LocalIp)?,
        };
        let remote_port = parse_port_field(&fields[5]).ok_or(Malformed::RemotePort)?;
        let remote_ip = self.addr_field(std::mem::take(&mut fields[6])).ok_or(Malformed::RemoteIp)?;
        if shape == RowShape::W2k {
            return Ok(PortEvent::new(
                time,
                protocol,
                local_port,
                local_ip,
                remote_port,
                remote_ip,
                None,
                Symbol::EMPTY,
                Symbol::EMPTY,
                shape,
            ));
        }
        let pid = parse_u32(&fields[7]).ok_or(Malformed::Pid)?;
        let (module, user) = split_module_and_user(fields)?;
        let module = cached_intern(&mut self.last_module, &mut self.modules, &mut self.module_list, module);
        let user = match user {
            Some(u) => cached_intern(&mut self.last_user, &mut self.users, &mut self.user_list, u),
            None => Symbol::EMPTY,
        };
        let shape = if n == 9 { RowShape::NoUser } else { shape };
        Ok(PortEvent::new(time, protocol, local_port, local_ip, remote_port, remote_ip, Some(pid), module, user, shape))
    }

    fn addr_field(&mut self, field: Cow<'a, [u8]>) -> Option<AddrId> {
        match field {
            Cow::Borrowed(b) => self.addr(b),
            Cow::Owned(b) => {
                let addr = parse_address(&b)?;
                self.addr_list.push(addr);
                Some(AddrId(self.addr_list.len() as u32 - 1))
            }
        }
    }
}

/// A row's module name and user context (without brackets), as read.
type ModuleAndUser<'a> = (Cow<'a, [u8]>, Option<Cow<'a, [u8]>>);

/// The module and user context of a 9-, 10- or longer row. A longer row is a module name
/// with unquoted commas: accepted when its last field is a bracketed user context (or
/// empty), since the original never quoted module names.
fn split_module_and_user<'a>(fields: &mut [Cow<'a, [u8]>]) -> Result<ModuleAndUser<'a>, Malformed> {
    let n = fields.len();
    if n == 9 {
        return Ok((std::mem::take(&mut fields[8]), None));
    }
    let last = std::mem::take(&mut fields[n - 1]);
    let bracketed = last.is_empty() || (last.first() == Some(&b'<') && last.last() == Some(&b'>'));
    if n > 10 && !bracketed {
        return Err(Malformed::FieldCount(n));
    }
    let user = strip_brackets(last);
    if n == 10 {
        return Ok((std::mem::take(&mut fields[8]), Some(user)));
    }
    let joined = fields[8..n - 1].join(&b","[..]);
    Ok((Cow::Owned(joined), Some(user)))
}

fn strip_brackets(field: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    let t = field.as_ref();
    let start = usize::from(t.first() == Some(&b'<'));
    let end = t.len() - usize::from(t.len() > start && t.last() == Some(&b'>'));
    if start == 0 && end == t.len() {
        return field;
    }
    match field {
        Cow::Borrowed(b) => Cow::Borrowed(&b[start..end]),
        Cow::Owned(b) => Cow::Owned(b[start..end].to_vec()),
    }
}

/// What one chunk of lines produced, with chunk-local ids and line numbers.
struct ChunkOut<'a> {
    events: Vec<PortEvent>,
    tables: ChunkTables<'a>,
    /// (0-based line offset in the chunk, reason, excerpt source)
    issues: Vec<(u32, Malformed, &'a [u8])>,
    malformed: u64,
    lines: u32,
    /// Bytes of the chunk that form complete records; the rest waits for more input.
    consumed: usize,
}

/// Parses the records of `buf`. Unless `at_eof`, a final line without a line end (or a quoted
/// record still open at the end) is left unconsumed for the next read.
fn parse_chunk(buf: &[u8], at_eof: bool, has_quotes: bool, events: Vec<PortEvent>) -> ChunkOut<'_> {
    let mut out =
        ChunkOut { events, tables: ChunkTables::default(), issues: Vec::new(), malformed: 0, lines: 0, consumed: 0 };
    if !has_quotes {
        parse_plain(buf, at_eof, &mut out);
        return out;
    }
    let mut fields: Vec<Cow<'_, [u8]>> = Vec::with_capacity(12);
    let mut pos = 0;
    while pos < buf.len() {
        let rest = &buf[pos..];
        let (line, line_len, terminated) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1, true),
            None => (rest, rest.len(), false),
        };
        if !terminated && !at_eof {
            break;
        }
        let line = trim_cr(line);
        let first_byte = line.first().copied();
        if line.trim_ascii().is_empty()
            || (!first_byte.is_some_and(|b| b.is_ascii_digit() || b == b'"') && is_header_line(line))
        {
            pos += line_len;
            out.lines += 1;
            continue;
        }
        // A record whose quoted field runs over the line end takes the following lines too.
        let (record, record_len, record_lines) = if has_quotes && ends_inside_quotes(line) {
            match extend_record(rest, at_eof) {
                Extent::Complete(rec, len, lines) => (rec, len, lines),
                Extent::NeedMore => break,
                Extent::Unterminated => (line, line_len, 1),
            }
        } else {
            (line, line_len, 1)
        };
        let result = split_fields(record, &mut fields).and_then(|()| out.tables.row(&mut fields));
        match result {
            Ok(mut ev) => {
                ev.line = out.lines;
                out.events.push(ev);
            }
            Err(reason) => {
                let reason = if !terminated && record_len == rest.len() { Malformed::Truncated } else { reason };
                out.malformed += 1;
                out.issues.push((out.lines, reason, record));
            }
        }
        pos += record_len;
        out.lines += record_lines;
    }
    out.consumed = pos;
    out
}

/// The hot path for quote-free text: common rows are read by [`ChunkTables::fast_row`] in a
/// single pass; any other line goes through the general splitter.
fn parse_plain<'a>(buf: &'a [u8], at_eof: bool, out: &mut ChunkOut<'a>) {
    let mut fields: Vec<Cow<'a, [u8]>> = Vec::with_capacity(12);
    let mut pos = 0;
    while pos < buf.len() {
        if let Some((mut ev, next)) = out.tables.fast_row(buf, pos) {
            ev.line = out.lines;
            out.lines += 1;
            out.events.push(ev);
            pos = next;
            continue;
        }
        let rest = &buf[pos..];
        let (line, len, terminated) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], i + 1, true),
            None => (rest, rest.len(), false),
        };
        if !terminated && !at_eof {
            break;
        }
        general_line(out, trim_cr(line), &mut fields, terminated);
        pos += len;
    }
    out.consumed = pos;
}

/// A line the fast path did not take: a header, a blank, an unusual row, or a malformed one.
fn general_line<'a>(out: &mut ChunkOut<'a>, line: &'a [u8], fields: &mut Vec<Cow<'a, [u8]>>, terminated: bool) {
    let number = out.lines;
    out.lines += 1;
    let first = line.first().copied().unwrap_or(b' ');
    if !first.is_ascii_digit() && (line.trim_ascii().is_empty() || is_header_line(line)) {
        return;
    }
    match split_fields(line, fields).and_then(|()| out.tables.row(fields)) {
        Ok(mut ev) => {
            ev.line = number;
            out.events.push(ev);
        }
        Err(reason) => {
            out.malformed += 1;
            out.issues.push((number, if terminated { reason } else { Malformed::Truncated }, line));
        }
    }
}

/// A position in a chunk, for reading a row field by field without splitting it first.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The text up to the next comma (consumed); `None` at a line end or the chunk's end.
    fn field(&mut self) -> Option<&'a [u8]> {
        let rest = self.buf.get(self.at..)?;
        let i = rest.iter().position(|&b| b == b',' || b == b'\n')?;
        self.at += i + 1;
        (rest[i] == b',').then(|| &rest[..i])
    }

    /// Up to ten digits followed by `delim` (consumed).
    fn number(&mut self, delim: u8) -> Option<u32> {
        let start = self.at;
        let mut v: u64 = 0;
        while let Some(&b) = self.buf.get(self.at) {
            self.at += 1;
            let d = b.wrapping_sub(b'0');
            if d <= 9 {
                v = v * 10 + u64::from(d);
            } else if b == delim && self.at - 1 > start && self.at - 1 - start <= 10 {
                return u32::try_from(v).ok();
            } else {
                return None;
            }
        }
        None
    }

    /// The rest of the line and the position after its `\n`; `None` if the chunk ends first
    /// or the rest holds another comma.
    fn last_field(&mut self) -> Option<(&'a [u8], usize)> {
        let start = self.at;
        let end = start + memchr::memchr2(b',', b'\n', &self.buf[start..])?;
        (self.buf[end] == b'\n').then(|| (trim_cr(&self.buf[start..end]), end + 1))
    }
}

impl<'a> ChunkTables<'a> {
    /// Reads the common 9- and 10-field row shapes straight from the chunk, with exactly the
    /// results the general path would give; `None` sends the line to the general path.
    fn fast_row(&mut self, buf: &'a [u8], start: usize) -> Option<(PortEvent, usize)> {
        let mut c = Cursor { buf, at: start };
        let date = self.date(c.field()?)?;
        let (h, m, s) = (c.number(b':')?, c.number(b':')?, c.number(b',')?);
        let time = date.and_hms_opt(h, m, s)?;
        let protocol = match c.field()? {
            b"TCP" => Protocol::Tcp,
            b"UDP" => Protocol::Udp,
            _ => return None,
        };
        let local_port = u16::try_from(c.number(b',')?).ok()?;
        let local_text = c.field()?;
        let local_ip = match self.last_local {
            Some((last, id)) if last == local_text => id,
            _ => {
                let id = self.addr(local_text)?;
                self.last_local = Some((local_text, id));
                id
            }
        };
        let remote_port = match c.field()? {
            b"*" => PortField::Any,
            b"" => PortField::Empty,
            digits => PortField::Num(parse_u16(digits)?),
        };
        let remote_ip = self.addr(c.field()?)?;
        let pid = c.number(b',')?;
        let mut probe = Cursor { buf, at: c.at };
        let (module, user, shape, next) = match probe.field() {
            Some(module) => {
                let (user, next) = probe.last_field()?;
                (module, Some(user), RowShape::Full, next)
            }
            None => {
                let (module, next) = c.last_field()?;
                (module, None, RowShape::NoUser, next)
            }
        };
        let module =
            cached_intern(&mut self.last_module, &mut self.modules, &mut self.module_list, Cow::Borrowed(module));
        let user = match user {
            Some(u) => cached_intern(
                &mut self.last_user,
                &mut self.users,
                &mut self.user_list,
                strip_brackets(Cow::Borrowed(u)),
            ),
            None => Symbol::EMPTY,
        };
        let ev = PortEvent::new(
            time,
            protocol,
            local_port,
            local_ip,
            remote_port,
            remote_ip,
            Some(pid),
            module,
            user,
            shape,
        );
        Some((ev, next))
    }
}

enum Extent<'a> {
    /// The record, its length with line ends, and how many lines it spans.
    Complete(&'a [u8], usize, u32),
    NeedMore,
    Unterminated,
}

/// Finds where a record that opens a quoted field ends, up to [`MAX_RECORD_BYTES`].
fn extend_record(rest: &[u8], at_eof: bool) -> Extent<'_> {
    let mut end = 0;
    let mut lines = 0;
    loop {
        match memchr::memchr(b'\n', &rest[end..]) {
            Some(i) => {
                end += i + 1;
                lines += 1;
            }
            None if at_eof => {
                end = rest.len();
                lines += 1;
            }
            None => return if rest.len() > MAX_RECORD_BYTES { Extent::Unterminated } else { Extent::NeedMore },
        }
        let record = trim_cr(rest[..end].strip_suffix(b"\n").unwrap_or(&rest[..end]));
        if !ends_inside_quotes(record) {
            return Extent::Complete(record, end, lines);
        }
        if end >= rest.len() || end > MAX_RECORD_BYTES {
            return Extent::Unterminated;
        }
    }
}

/// A PORTS file read into the log: what its header said and how much it held.
#[derive(Debug, Clone)]
pub struct PortsSource {
    pub path: Arc<Path>,
    pub version: Option<Version>,
    pub encoding: text::Encoding,
    /// The `Check PR-PIDS-...` partner name, or why it was refused.
    pub partner: Option<Result<String, String>>,
    pub rows: u64,
    pub malformed: u64,
}

/// Issues kept per log; the count of malformed lines stays exact beyond it.
pub const MAX_KEPT_ISSUES: usize = 10_000;

/// One or more PORTS files as a single, time-ordered log.
#[derive(Debug, Clone, Default)]
pub struct PortsLog {
    pub events: Vec<PortEvent>,
    pub modules: Interner,
    pub users: Interner,
    pub addrs: AddrTable,
    pub sources: Vec<PortsSource>,
    /// The first [`MAX_KEPT_ISSUES`] malformed lines.
    pub malformed: Vec<LineIssue>,
    pub malformed_count: u64,
}

impl PortsLog {
    pub fn module(&self, e: &PortEvent) -> &str {
        self.modules.resolve(e.module)
    }

    pub fn user(&self, e: &PortEvent) -> &str {
        self.users.resolve(e.user)
    }

    pub fn local_ip(&self, e: &PortEvent) -> Address {
        self.addrs.resolve(e.local_ip)
    }

    pub fn remote_ip(&self, e: &PortEvent) -> Address {
        self.addrs.resolve(e.remote_ip)
    }

    pub fn source_path(&self, e: &PortEvent) -> Option<&Arc<Path>> {
        self.sources.get(e.source as usize).map(|s| &s.path)
    }

    /// True when events are in time order (a single file almost always is).
    fn is_time_ordered(&self) -> bool {
        self.events.windows(2).all(|w| w[0].time <= w[1].time)
    }

    /// Orders events by time, keeping file order for equal times.
    pub fn sort_by_time(&mut self) {
        if !self.is_time_ordered() {
            use rayon::slice::ParallelSliceMut;
            self.events.par_sort_by_key(|e| e.time);
        }
    }

    /// Folds one parsed chunk in: local ids become this log's ids.
    /// Returns the chunk's emptied event vector for reuse.
    fn absorb(&mut self, mut chunk: ChunkOut<'_>, source: u16, path: &Arc<Path>, first_line: u32) -> Vec<PortEvent> {
        let modules: Vec<Symbol> = std::iter::once(Symbol::EMPTY)
            .chain(chunk.tables.module_list.iter().map(|b| self.modules.intern(&field_text(b))))
            .collect();
        let users: Vec<Symbol> = std::iter::once(Symbol::EMPTY)
            .chain(chunk.tables.user_list.iter().map(|b| self.users.intern(&field_text(b))))
            .collect();
        let addrs: Vec<AddrId> = chunk.tables.addr_list.iter().map(|a| self.addrs.intern(*a)).collect();
        {
            use rayon::prelude::*;
            self.events.par_extend(chunk.events.par_drain(..).map(|mut e| {
                e.module = modules[e.module.0 as usize];
                e.user = users[e.user.0 as usize];
                e.local_ip = addrs[e.local_ip.0 as usize];
                e.remote_ip = addrs[e.remote_ip.0 as usize];
                e.line += first_line;
                e.source = source;
                e
            }));
        }
        self.malformed_count += chunk.malformed;
        let room = MAX_KEPT_ISSUES.saturating_sub(self.malformed.len());
        self.malformed.extend(
            chunk
                .issues
                .into_iter()
                .take(room)
                .map(|(line, reason, text)| LineIssue::new(path, line + first_line, reason.to_string(), text)),
        );
        chunk.events
    }
}

/// Shared with the loading thread's owner: how far loading got, and a way to stop it.
#[derive(Debug, Default)]
pub struct LoadProgress {
    pub bytes_total: std::sync::atomic::AtomicU64,
    pub bytes_done: std::sync::atomic::AtomicU64,
    pub rows: std::sync::atomic::AtomicU64,
    pub cancel: std::sync::atomic::AtomicBool,
}

impl LoadProgress {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Bytes read per step: big enough to keep both cores busy, small enough that a huge file
/// costs little memory beyond its rows.
const BLOCK_BYTES: usize = 8 << 20;

/// Lines longer than this are never held whole: they are skipped and reported.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Reads one PORTS file and appends it to `log`.
pub fn read_into(log: &mut PortsLog, path: &Path, progress: &LoadProgress) -> Result<(), crate::error::LogError> {
    let file = std::fs::File::open(path).map_err(|e| crate::error::LogError::io(path, e))?;
    let size = file.metadata().ok().map(|m| m.len());
    read_from(log, path, file, size, progress)
}

/// Reads PORTS text from any reader (a file, or bytes in memory for tests and fuzzing);
/// `path` names it in issues.
pub fn read_from(
    log: &mut PortsLog,
    path: &Path,
    mut file: impl io::Read,
    size_hint: Option<u64>,
    progress: &LoadProgress,
) -> Result<(), crate::error::LogError> {
    use std::io::Read;
    use std::sync::atomic::Ordering;

    let err = |e| crate::error::LogError::io(path, e);
    let shared = text::shared_path(path);
    let source = u16::try_from(log.sources.len()).map_err(|_| crate::error::LogError::NotALog {
        path: path.into(),
        reason: "too many files in one log (65,535 at most)".into(),
    })?;
    let rows_before = log.events.len();
    let malformed_before = log.malformed_count;

    let mut head = vec![0u8; 4];
    let n = read_full(&mut file, &mut head).map_err(err)?;
    head.truncate(n);
    let wide =
        head.starts_with(b"\xFF\xFE") || head.starts_with(b"\xFE\xFF") || (n == 4 && (head[1] == 0 || head[0] == 0));
    let (mut stream, encoding) = if wide {
        // UTF-16 is rare and comes from editors: transcode the whole file up front.
        let mut raw = head;
        file.read_to_end(&mut raw).map_err(err)?;
        let (bytes, encoding) = text::decode(&raw);
        (Stream::Whole(io::Cursor::new(bytes.into_owned())), encoding)
    } else {
        let encoding =
            if head.starts_with(b"\xEF\xBB\xBF") { text::Encoding::Utf8Bom } else { text::Encoding::Utf8OrAnsi };
        let skip = if encoding == text::Encoding::Utf8Bom { 3 } else { 0 };
        (Stream::Chained(io::Cursor::new(head[skip.min(n)..].to_vec()).chain(file)), encoding)
    };

    // Blocks start small so that small files cost little, and grow to BLOCK_BYTES. The buffer
    // only grows (so is zeroed once); `filled` bytes of it hold unparsed text.
    let mut block = 64 << 10;
    let mut buf: Vec<u8> = Vec::new();
    let mut filled = 0;
    let mut pool: Vec<Vec<PortEvent>> = Vec::new();
    let mut reserved = false;
    let mut next_line: u32 = 1;
    let mut version = None;
    let mut partner = None;
    let mut header_done = false;
    let mut skipping_long_line = false;
    let mut at_eof = false;
    while !at_eof {
        if progress.cancelled() {
            return Err(crate::error::LogError::Cancelled);
        }
        if buf.len() < filled + block {
            buf.resize(filled + block, 0);
        }
        let got = read_full(&mut stream, &mut buf[filled..filled + block]).map_err(err)?;
        filled += got;
        at_eof = got < block;
        block = (block * 2).min(BLOCK_BYTES);
        progress.bytes_done.fetch_add(got as u64, Ordering::Relaxed);

        if skipping_long_line {
            match memchr::memchr(b'\n', &buf[..filled]) {
                Some(i) => {
                    buf.copy_within(i + 1..filled, 0);
                    filled -= i + 1;
                    skipping_long_line = false;
                    next_line = next_line.saturating_add(1);
                }
                None => {
                    filled = 0;
                    continue;
                }
            }
        }
        if !header_done {
            let (v, p, done) = read_header(&buf[..filled]);
            version = version.or(v);
            partner = partner.or(p);
            header_done = done || at_eof;
        }
        let rows_before_block = log.events.len();
        let file_ref = FileRef { source, path: &shared, progress };
        let (used, lines) = parse_block(log, &buf[..filled], at_eof, &file_ref, next_line, &mut pool);
        next_line = next_line.saturating_add(lines);
        // Once the first block shows how long rows are, make room for the whole file at once
        // instead of growing (and copying) the row vector step by step.
        if !reserved && let Some(total) = size_hint {
            let rows = (log.events.len() - rows_before_block) as u64;
            if rows > 0 && used > 0 {
                let expected = total.saturating_mul(rows) / used as u64;
                log.events.reserve((expected + expected / 16) as usize);
                advise_huge_pages(&mut log.events);
            }
            reserved = true;
        }
        buf.copy_within(used..filled, 0);
        filled -= used;
        if !at_eof && filled > MAX_LINE_BYTES {
            log.malformed_count += 1;
            if log.malformed.len() < MAX_KEPT_ISSUES {
                log.malformed.push(LineIssue::new(
                    &shared,
                    next_line,
                    format!("line longer than {MAX_LINE_BYTES} bytes; skipped"),
                    &buf[..filled],
                ));
            }
            filled = 0;
            skipping_long_line = true;
        }
    }
    log.sources.push(PortsSource {
        path: shared,
        version,
        encoding,
        partner,
        rows: (log.events.len() - rows_before) as u64,
        malformed: log.malformed_count - malformed_before,
    });
    Ok(())
}

/// Asks the kernel to back a large row vector with huge pages: a million rows otherwise
/// cost ten thousand page faults as they are first written.
fn advise_huge_pages(v: &mut Vec<PortEvent>) {
    #[cfg(target_os = "linux")]
    {
        let spare = v.spare_capacity_mut();
        let bytes = std::mem::size_of_val(spare);
        let start = spare.as_mut_ptr() as usize;
        let page = 4096;
        let aligned = start.next_multiple_of(page);
        let len = (bytes.saturating_sub(aligned - start) / page) * page;
        if len >= 2 << 20 {
            // SAFETY: madvise only advises on memory this vector owns (its unused capacity,
            // page-aligned inward); MADV_HUGEPAGE does not change contents or validity.
            unsafe {
                libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}

/// A file as read: transcoded up front (UTF-16), or streamed after its first bytes.
enum Stream<R> {
    Whole(io::Cursor<Vec<u8>>),
    Chained(io::Chain<io::Cursor<Vec<u8>>, R>),
}

impl<R: io::Read> io::Read for Stream<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Whole(c) => c.read(buf),
            Stream::Chained(c) => c.read(buf),
        }
    }
}

/// Fills `buf` as far as the reader allows; returns the bytes read.
fn read_full(r: &mut impl io::Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Version and partner from the first lines; `done` once a data line or the column line is seen.
fn read_header(buf: &[u8]) -> (Option<Version>, Option<Result<String, String>>, bool) {
    let mut version = None;
    let mut partner = None;
    for (_, line) in text::numbered_lines(buf, 1).take(8) {
        let line = field_text(line);
        if line.starts_with(|c: char| c.is_ascii_digit()) {
            return (version, partner, true);
        }
        version = version.or_else(|| header::parse_version_line(&line));
        partner = partner.or_else(|| header::partner_from_header(&line));
        if line.trim_start().to_ascii_lowercase().starts_with("date,time,protocol") {
            return (version, partner, true);
        }
    }
    (version, partner, false)
}

/// The file a block comes from, and where to report progress.
#[derive(Clone, Copy)]
struct FileRef<'a> {
    source: u16,
    path: &'a Arc<Path>,
    progress: &'a LoadProgress,
}

/// Parses the complete records of a block on all cores; returns (bytes consumed, lines consumed).
fn parse_block(
    log: &mut PortsLog,
    buf: &[u8],
    at_eof: bool,
    file: &FileRef<'_>,
    first_line: u32,
    pool: &mut Vec<Vec<PortEvent>>,
) -> (usize, u32) {
    let FileRef { source, path, progress } = *file;
    use rayon::prelude::*;
    // Quoted fields may hold line breaks, so only quote-free blocks are cut at arbitrary lines.
    let has_quotes = memchr::memchr(b'"', buf).is_some();
    let pieces = if has_quotes { 1 } else { rayon::current_num_threads() * 4 };
    let bounds = piece_bounds(buf, pieces);
    // Piece vectors are reused from block to block: fresh memory costs a page fault per page.
    let vectors: Vec<Vec<PortEvent>> = (0..bounds.len()).map(|_| pool.pop().unwrap_or_default()).collect();
    let outs: Vec<ChunkOut<'_>> = bounds
        .par_iter()
        .zip(vectors)
        .map(|(&(s, e, last), events)| {
            let mut out = parse_chunk(&buf[s..e], at_eof && last, has_quotes, events);
            out.consumed += s;
            out
        })
        .collect();
    let mut line = first_line;
    let mut consumed = 0;
    for out in outs {
        let (lines, end) = (out.lines, out.consumed);
        pool.push(log.absorb(out, source, path, line));
        line = line.saturating_add(lines);
        consumed = end;
    }
    progress.rows.store(log.events.len() as u64, std::sync::atomic::Ordering::Relaxed);
    (consumed, line - first_line)
}

/// Splits a buffer into up to `n` pieces that end on line ends; the last piece takes the
/// rest (including an unterminated last line).
fn piece_bounds(buf: &[u8], n: usize) -> Vec<(usize, usize, bool)> {
    let mut bounds = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = buf.len() * k / n;
        if target <= start {
            continue;
        }
        match memchr::memchr(b'\n', &buf[target..]) {
            Some(i) => {
                bounds.push((start, target + i + 1, false));
                start = target + i + 1;
            }
            None => break,
        }
    }
    bounds.push((start, buf.len(), true));
    bounds
}

/// Reads PORTS files into one time-ordered log.
pub fn read_ports(paths: &[&Path], progress: &LoadProgress) -> Result<PortsLog, crate::error::LogError> {
    let mut log = PortsLog::default();
    for p in paths {
        read_into(&mut log, p, progress)?;
    }
    log.sort_by_time();
    Ok(log)
}

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

#[cfg(test)]
mod tests;
