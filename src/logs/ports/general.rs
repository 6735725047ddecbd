//! The general, quote-aware path: CSV splitting with RFC 4180 quoting, records that span
//! lines, and every row shape the format allows, read into a piece's own tables.

use std::borrow::Cow;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;

use super::block::ChunkOut;
use super::fast::{ShortKey, Stamp, TAIL_SLOTS, Tail};
use super::{MAX_RECORD_BYTES, Malformed};
use crate::logs::text::trim_cr;
use crate::model::{AddrId, Address, PortEvent, PortField, Protocol, RowShape, Symbol, make_datetime};

/// A line's fields, split on commas with RFC 4180 quoting, into `fields` (cleared first; the
/// vector is reused from line to line so the hot path does not allocate).
pub(super) fn split_fields<'a>(line: &'a [u8], fields: &mut Vec<Cow<'a, [u8]>>) -> Result<(), Malformed> {
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
pub(super) fn ends_inside_quotes(line: &[u8]) -> bool {
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
pub(super) fn parse_dec(bytes: &[u8], max: u64) -> Option<u64> {
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

pub(super) fn parse_u16(bytes: &[u8]) -> Option<u16> {
    parse_dec(bytes, u64::from(u16::MAX)).map(|v| v as u16)
}

pub(super) fn parse_u32(bytes: &[u8]) -> Option<u32> {
    parse_dec(bytes, u64::from(u32::MAX)).map(|v| v as u32)
}

/// `a<sep>b<sep>c`, three numbers (dates and times).
pub(super) fn parse_triplet(bytes: &[u8], sep: u8) -> Option<(u32, u32, u32)> {
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

pub(super) fn parse_port_field(bytes: &[u8]) -> Option<PortField> {
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
    // Any `Check ...` line: a header naming a partner outside the folder is refused as a
    // partner (a warning), but it is still a header line, not a malformed row.
    starts(b"Port Reporter") || starts(b"Check ") || starts(b"Log format") || starts(b"date,time,protocol")
}

/// Marks an [`AddrId`] as an index in a chunk's `addr_list`, or a [`Symbol`] as one (from 1)
/// in its `module_list` or `user_list`; unmarked ids are the log's own, found in [`Known`].
/// (A log never holds 2^31 addresses or names: they would take tens of gigabytes.)
pub(super) const LOCAL: u32 = 1 << 31;

/// Per-chunk tables: every distinct name or address text is decoded once.
pub(super) struct ChunkTables<'a> {
    pub(super) modules: FxHashMap<Cow<'a, [u8]>, Symbol>,
    pub(super) module_list: Vec<Cow<'a, [u8]>>,
    pub(super) users: FxHashMap<Cow<'a, [u8]>, Symbol>,
    pub(super) user_list: Vec<Cow<'a, [u8]>>,
    pub(super) addrs: FxHashMap<&'a [u8], AddrId>,
    /// Dotted-quad addresses, the common case, keyed by value: cheaper than hashing text.
    pub(super) v4: FxHashMap<u32, AddrId>,
    pub(super) addr_list: Vec<Address>,
    pub(super) last_date: Option<(&'a [u8], NaiveDate)>,
    /// The previous row's local address, module and user: runs of rows repeat them.
    pub(super) last_local: Option<(&'a [u8], AddrId)>,
    pub(super) last_module: Option<(&'a [u8], Symbol)>,
    pub(super) last_user: Option<(&'a [u8], Symbol)>,
    /// Caches of the fast path ([`ChunkTables::fast_row`]).
    pub(super) short_addrs: FxHashMap<ShortKey, AddrId>,
    pub(super) last_local_key: Option<(ShortKey, AddrId)>,
    pub(super) stamp: Option<Stamp>,
    pub(super) tails: Box<[Option<Tail<'a>>; TAIL_SLOTS]>,
}

impl Default for ChunkTables<'_> {
    fn default() -> Self {
        ChunkTables {
            modules: FxHashMap::default(),
            module_list: Vec::new(),
            users: FxHashMap::default(),
            user_list: Vec::new(),
            addrs: FxHashMap::default(),
            v4: FxHashMap::default(),
            addr_list: Vec::new(),
            last_date: None,
            last_local: None,
            last_module: None,
            last_user: None,
            short_addrs: FxHashMap::default(),
            last_local_key: None,
            stamp: None,
            tails: Box::new([None; TAIL_SLOTS]),
        }
    }
}

pub(super) fn intern_local<'a>(
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
    let s = Symbol(list.len() as u32 | LOCAL);
    map.insert(text, s);
    s
}

/// [`intern_local`] behind a one-entry cache of the previous row's value.
pub(super) fn cached_intern<'a>(
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
pub(super) fn parse_ipv4_fast(b: &[u8]) -> Option<u32> {
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
    pub(super) fn addr(&mut self, bytes: &'a [u8]) -> Option<AddrId> {
        if let Some(v4) = parse_ipv4_fast(bytes) {
            let next = self.next_addr_id();
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
        let id = self.next_addr_id();
        self.addr_list.push(addr);
        self.addrs.insert(bytes, id);
        Some(id)
    }

    /// The id the next address pushed on `addr_list` gets: its index, marked as chunk-local.
    pub(super) fn next_addr_id(&self) -> AddrId {
        AddrId(self.addr_list.len() as u32 | LOCAL)
    }

    pub(super) fn date(&mut self, bytes: &'a [u8]) -> Option<NaiveDate> {
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
    pub(super) fn row(&mut self, fields: &mut [Cow<'a, [u8]>]) -> Result<PortEvent, Malformed> {
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

    pub(super) fn addr_field(&mut self, field: Cow<'a, [u8]>) -> Option<AddrId> {
        match field {
            Cow::Borrowed(b) => self.addr(b),
            Cow::Owned(b) => {
                let addr = parse_address(&b)?;
                let id = self.next_addr_id();
                self.addr_list.push(addr);
                Some(id)
            }
        }
    }
}

/// A row's module name and user context (without brackets), as read.
pub(super) type ModuleAndUser<'a> = (Cow<'a, [u8]>, Option<Cow<'a, [u8]>>);

/// The module and user context of a 9-, 10- or longer row. A longer row is a module name
/// with unquoted commas: accepted when its last field is a bracketed user context (or
/// empty), since the original never quoted module names.
pub(super) fn split_module_and_user<'a>(fields: &mut [Cow<'a, [u8]>]) -> Result<ModuleAndUser<'a>, Malformed> {
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

pub(super) fn strip_brackets(field: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
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

/// Reads the record at the start of `rest` through the general, quote-aware path (a blank or
/// header line is skipped): a record whose quoted field runs over the line end takes the
/// following lines too. Its row goes to `out.events`, or why it is none to `out.issues`.
/// Returns its length, or `None` when, unless `at_eof`, it may go on past `rest`.
pub(super) fn general_record<'a>(
    out: &mut ChunkOut<'a, '_>,
    rest: &'a [u8],
    at_eof: bool,
    fields: &mut Vec<Cow<'a, [u8]>>,
) -> Option<usize> {
    let (line, line_len, terminated) = match memchr::memchr(b'\n', rest) {
        Some(i) => (&rest[..i], i + 1, true),
        None => (rest, rest.len(), false),
    };
    if !terminated && !at_eof {
        return None;
    }
    let line = trim_cr(line);
    let first = line.first().copied().unwrap_or(b' ');
    if !first.is_ascii_digit() && (line.trim_ascii().is_empty() || is_header_line(line)) {
        out.lines += 1;
        return Some(line_len);
    }
    let (record, len, lines) = if memchr::memchr(b'"', line).is_some() && ends_inside_quotes(line) {
        match extend_record(rest, at_eof) {
            Extent::Complete(record, len, lines) => (record, len, lines),
            Extent::NeedMore => return None,
            Extent::Unterminated => (line, line_len, 1),
        }
    } else {
        (line, line_len, 1)
    };
    let number = out.lines;
    match split_fields(record, fields).and_then(|()| out.tables.row(fields)) {
        Ok(ev) => out.events.push(ev, number),
        Err(reason) => {
            let reason = if !terminated && len == rest.len() { Malformed::Truncated } else { reason };
            out.issues.push((number, reason, record));
        }
    }
    out.lines += lines;
    Some(len)
}

pub(super) enum Extent<'a> {
    /// The record, its length with line ends, and how many lines it spans.
    Complete(&'a [u8], usize, u32),
    NeedMore,
    Unterminated,
}

/// Finds where a record that opens a quoted field ends, up to [`MAX_RECORD_BYTES`].
pub(super) fn extend_record(rest: &[u8], at_eof: bool) -> Extent<'_> {
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
        if end > MAX_RECORD_BYTES || (end >= rest.len() && at_eof) {
            return Extent::Unterminated;
        }
        if end >= rest.len() {
            // The text ends on a line end inside the record: the rest may follow.
            return Extent::NeedMore;
        }
    }
}
