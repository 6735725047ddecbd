//! PR-PORTS: one CSV line per new socket or TCP state change.
//!
//! The reader is the hot path of the whole tool (logs of millions of lines), so it works on
//! bytes and splits a block of lines across threads; the next block is read while one is
//! parsed. Each piece of a block writes its rows straight into the log's row vector, and
//! reads the usual row shape in one pass ([`ChunkTables::fast_row`]) whose shortcuts key on
//! exact bytes; anything else goes through the general, quote-aware path, which gives the
//! same rows. Each distinct address or name is parsed once per piece at most, and once per
//! file when the fast path meets it again ([`Known`]). What it accepts, beyond plain CSV:
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
use std::mem::MaybeUninit;
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
    // Any `Check ...` line: a header naming a partner outside the folder is refused as a
    // partner (a warning), but it is still a header line, not a malformed row.
    starts(b"Port Reporter") || starts(b"Check ") || starts(b"Log format") || starts(b"date,time,protocol")
}

/// Marks an [`AddrId`] as an index in a chunk's `addr_list`, or a [`Symbol`] as one (from 1)
/// in its `module_list` or `user_list`; unmarked ids are the log's own, found in [`Known`].
/// (A log never holds 2^31 addresses or names: they would take tens of gigabytes.)
const LOCAL: u32 = 1 << 31;

/// Address texts and names that earlier blocks of the file decoded, with the log's ids,
/// read-only while a block is parsed. Blocks are parsed in pieces that each start with empty
/// tables, so without this every piece would parse and intern again the addresses that the
/// file repeats all along; and rows that only hold known ids need no fixing afterwards.
#[derive(Default)]
struct Known {
    short_addrs: ShortTable,
    long_addrs: FxHashMap<Box<[u8]>, AddrId>,
    modules: FxHashMap<Box<[u8]>, Symbol>,
    users: FxHashMap<Box<[u8]>, Symbol>,
}

/// A map from [`ShortKey`] to [`AddrId`], looked up once or twice per row: open addressing
/// with linear probing, a slot holding its key, so that a hit is a hash, one load and a
/// compare, where a general hash map costs several times that.
#[derive(Default)]
struct ShortTable {
    /// A power of two long (or empty); at most half full.
    slots: Vec<(ShortKey, AddrId)>,
    len: usize,
    /// 64 less the bits of a slot index: the index is the top bits of the hash, which a
    /// multiplication mixes from all the key's bits.
    shift: u32,
}

/// The id of an empty [`ShortTable`] slot; no log holds that many addresses.
const VACANT: AddrId = AddrId(u32::MAX);

impl ShortTable {
    #[inline(always)]
    fn start(&self, key: ShortKey) -> usize {
        let h = (key.0 ^ key.1.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> self.shift) as usize
    }

    #[inline(always)]
    fn get(&self, key: ShortKey) -> Option<AddrId> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        loop {
            let &(k, id) = self.slots.get(i)?;
            if id == VACANT {
                return None;
            }
            if k == key {
                return Some(id);
            }
            i = (i + 1) & mask;
        }
    }

    fn insert(&mut self, key: ShortKey, id: AddrId) {
        if (self.len + 1) * 2 > self.slots.len() {
            let size = (self.slots.len() * 2).max(1024);
            let old = std::mem::replace(&mut self.slots, vec![((0, 0), VACANT); size]);
            self.shift = 64 - size.trailing_zeros();
            self.len = 0;
            for (k, v) in old {
                if v != VACANT {
                    self.insert(k, v);
                }
            }
        }
        let mask = self.slots.len() - 1;
        let mut i = self.start(key);
        while self.slots[i].1 != VACANT && self.slots[i].0 != key {
            i = (i + 1) & mask;
        }
        if self.slots[i].1 == VACANT {
            self.len += 1;
        }
        self.slots[i] = (key, id);
    }
}

/// Per-chunk tables: every distinct name or address text is decoded once.
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
    /// Caches of the fast path ([`ChunkTables::fast_row`]).
    short_addrs: FxHashMap<ShortKey, AddrId>,
    last_local_key: Option<(ShortKey, AddrId)>,
    stamp: Option<Stamp>,
    tails: Box<[Option<Tail<'a>>; TAIL_SLOTS]>,
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
    let s = Symbol(list.len() as u32 | LOCAL);
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
    fn next_addr_id(&self) -> AddrId {
        AddrId(self.addr_list.len() as u32 | LOCAL)
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
                let id = self.next_addr_id();
                self.addr_list.push(addr);
                Some(id)
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

/// A chunk of lines being read: its rows go to `events`, final but for chunk-local ids (see
/// [`LOCAL`]); issues keep line numbers counted from the chunk's first line.
struct ChunkOut<'a, 's> {
    events: Sink<'s>,
    tables: ChunkTables<'a>,
    /// (0-based line offset in the chunk, reason, excerpt source)
    issues: Vec<(u32, Malformed, &'a [u8])>,
    malformed: u64,
    lines: u32,
    /// Bytes of the chunk that form complete records; the rest waits for more input.
    consumed: usize,
    /// Read as quote-free text, the chunk turned out to hold a quoted line: the whole block
    /// must be read again with quoting (see [`parse_block`]).
    quoted: bool,
}

/// Where a piece of a block writes its rows: its own stretch of the log's row vector (unused
/// capacity, as long as the piece has lines), so that each row is written once, in place and
/// final, by the thread that reads it, instead of being gathered and copied afterwards.
struct Sink<'s> {
    slots: &'s mut [MaybeUninit<PortEvent>],
    len: usize,
    /// The line number of the piece's first line, and its file.
    first_line: u32,
    source: u16,
    /// Rows past the end of `slots`: none, as a row takes a line, but kept if there were.
    extra: Vec<PortEvent>,
    /// Which rows hold chunk-local ids, to set once the chunk's tables are merged.
    local: Vec<usize>,
}

impl<'s> Sink<'s> {
    fn new(slots: &'s mut [MaybeUninit<PortEvent>], first_line: u32, source: u16) -> Self {
        Sink { slots, len: 0, first_line, source, extra: Vec::new(), local: Vec::new() }
    }

    /// Stores a row read from the piece's `number`th line.
    #[inline(always)]
    fn push(&mut self, mut ev: PortEvent, number: u32) {
        ev.line = self.first_line.saturating_add(number);
        ev.source = self.source;
        if (ev.local_ip.0 | ev.remote_ip.0 | ev.module.0 | ev.user.0) & LOCAL != 0 {
            self.local.push(self.len + self.extra.len());
        }
        match self.slots.get_mut(self.len) {
            Some(slot) => {
                slot.write(ev);
                self.len += 1;
            }
            None => self.extra.push(ev),
        }
    }
}

/// What a piece wrote, once its stretch of the row vector is released.
struct Written {
    len: usize,
    extra: Vec<PortEvent>,
    local: Vec<usize>,
}

impl Sink<'_> {
    fn finish(self) -> Written {
        Written { len: self.len, extra: self.extra, local: self.local }
    }
}

/// A parsed chunk without its rows: what is left to merge into the log.
struct Parsed<'a> {
    tables: ChunkTables<'a>,
    issues: Vec<(u32, Malformed, &'a [u8])>,
    malformed: u64,
    lines: u32,
    consumed: usize,
    quoted: bool,
}

impl<'a> ChunkOut<'a, '_> {
    fn finish(self) -> (Parsed<'a>, Written) {
        let ChunkOut { events, tables, issues, malformed, lines, consumed, quoted, .. } = self;
        (Parsed { tables, issues, malformed, lines, consumed, quoted }, events.finish())
    }
}

/// Parses the records of `buf`. Unless `at_eof`, a final line without a line end (or a quoted
/// record still open at the end) is left unconsumed for the next read.
fn parse_chunk<'a, 's>(
    buf: &'a [u8],
    at_eof: bool,
    has_quotes: bool,
    events: Sink<'s>,
    known: &Known,
) -> (Parsed<'a>, Written) {
    let mut out = ChunkOut {
        events,
        tables: ChunkTables::default(),
        issues: Vec::new(),
        malformed: 0,
        lines: 0,
        consumed: 0,
        quoted: false,
    };
    if !has_quotes {
        parse_plain(buf, at_eof, &mut out, known);
        return out.finish();
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
            Ok(ev) => out.events.push(ev, out.lines),
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
    out.finish()
}

/// Bytes from a row's start within which [`parse_plain`] first looks for it to end.
const ROW_WINDOW: usize = 256;

/// The hot path for quote-free text: common rows are read by [`ChunkTables::fast_row`] in a
/// single pass; any other line goes through the general splitter.
fn parse_plain<'a>(buf: &'a [u8], at_eof: bool, out: &mut ChunkOut<'a, '_>, known: &Known) {
    let mut fields: Vec<Cow<'a, [u8]>> = Vec::with_capacity(12);
    let mut pos = 0;
    while pos < buf.len() {
        // Most rows are read from a window of fixed length, where the bounds checks of the
        // fast path compare with a constant; a row not within one is tried on the whole text.
        let taken = match buf.get(pos..).and_then(|rest| rest.first_chunk::<ROW_WINDOW>()) {
            Some(window) => out.tables.fast_row(known, window, 0, &mut out.events, out.lines).map(|end| pos + end),
            None => None,
        };
        let taken = taken.or_else(|| out.tables.fast_row(known, buf, pos, &mut out.events, out.lines));
        if let Some(next) = taken {
            out.lines += 1;
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
        if !general_line(out, trim_cr(line), &mut fields, terminated) {
            out.quoted = true;
            break;
        }
        pos += len;
    }
    out.consumed = pos;
}

/// A line the fast path did not take: a header, a blank, an unusual row, or a malformed one.
/// Returns false, having read nothing, for a line with a quote: a quoted field may run over
/// the line end, which only the quote-aware reading of [`parse_chunk`] follows.
fn general_line<'a>(
    out: &mut ChunkOut<'a, '_>,
    line: &'a [u8],
    fields: &mut Vec<Cow<'a, [u8]>>,
    terminated: bool,
) -> bool {
    let number = out.lines;
    let first = line.first().copied().unwrap_or(b' ');
    if !first.is_ascii_digit() && (line.trim_ascii().is_empty() || is_header_line(line)) {
        out.lines += 1;
        return true;
    }
    if memchr::memchr(b'"', line).is_some() {
        return false;
    }
    out.lines += 1;
    match split_fields(line, fields).and_then(|()| out.tables.row(fields)) {
        Ok(ev) => out.events.push(ev, number),
        Err(reason) => {
            out.malformed += 1;
            out.issues.push((number, if terminated { reason } else { Malformed::Truncated }, line));
        }
    }
    true
}

/// Eight bytes of `buf` from `at` as one little-endian word (so byte `i` is bits `8i..8i+8`
/// on every target); `None` when fewer than eight bytes are left.
#[inline(always)]
fn word(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*buf.get(at..)?.first_chunk::<8>()?))
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that equals `b`. Bytes above the first match may be
/// flagged wrongly (a borrow runs on), so only the lowest set bit may be trusted.
#[inline(always)]
fn bytes_equal(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Field ends (`,` or `\n`) in a word, for [`bytes_equal`]'s lowest-bit use.
#[inline(always)]
fn field_ends(w: u64) -> u64 {
    bytes_equal(w, b',') | bytes_equal(w, b'\n')
}

/// A mask of the low `n` bytes of a word, `n` < 8.
#[inline(always)]
fn low_bytes(n: usize) -> u64 {
    (1u64 << (8 * n)) - 1
}

/// Equal slices, compared a word at a time: the texts compared on the hot path are short
/// and of varying length, where a call to libc's memcmp costs more than the comparison.
#[inline(always)]
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (Some(a_end), Some(b_end)) = (a.last_chunk::<8>(), b.last_chunk::<8>()) else {
        return a == b;
    };
    // Whole words, then the last eight bytes (overlapping the last whole word).
    let (a_words, _) = a.as_chunks::<8>();
    let (b_words, _) = b.as_chunks::<8>();
    a_words.iter().zip(b_words).all(|(x, y)| u64::from_ne_bytes(*x) == u64::from_ne_bytes(*y))
        && u64::from_ne_bytes(*a_end) == u64::from_ne_bytes(*b_end)
}

/// A field of at most 15 bytes as two words, zero-padded, with its length in the top byte:
/// equal keys mean equal texts, and the key hashes and compares without touching the text.
type ShortKey = (u64, u64);

/// The key and length of the field at `at` when it is at most 15 bytes long and ends with
/// a comma; `None` otherwise (also within 16 bytes of the chunk's end).
#[inline(always)]
fn short_field(buf: &[u8], at: usize) -> Option<(ShortKey, usize)> {
    let w0 = word(buf, at)?;
    let w1 = word(buf, at + 8)?;
    let e0 = field_ends(w0);
    let (k0, k1, len) = if e0 != 0 {
        let n = (e0.trailing_zeros() / 8) as usize;
        (w0 & low_bytes(n), 0, n)
    } else {
        let e1 = field_ends(w1);
        if e1 == 0 {
            return None;
        }
        let n = (e1.trailing_zeros() / 8) as usize;
        (w0, w1 & low_bytes(n), 8 + n)
    };
    (buf[at + len] == b',').then_some(((k0, k1 | (len as u64) << 56), len))
}

/// The number written by eight digit values, one per byte, the first in the lowest byte.
#[inline(always)]
fn digits_value(x: u64) -> u32 {
    let x = (x.wrapping_mul(10) + (x >> 8)) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100) + (x >> 16)) & 0x0000_FFFF_0000_FFFF;
    ((x.wrapping_mul(10_000) + (x >> 32)) & 0xFFFF_FFFF) as u32
}

/// A position in a chunk, for reading a row field by field without splitting it first.
struct Cursor<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Where the next `,` or `\n` is, a word at a time.
    #[inline(always)]
    fn field_end(&self) -> Option<usize> {
        let mut i = self.at;
        while let Some(w) = word(self.buf, i) {
            let ends = field_ends(w);
            if ends != 0 {
                return Some(i + (ends.trailing_zeros() / 8) as usize);
            }
            i += 8;
        }
        let rest = self.buf.get(i..)?;
        rest.iter().position(|&b| b == b',' || b == b'\n').map(|p| i + p)
    }

    /// The text up to the next comma (consumed); `None` at a line end or the chunk's end.
    #[inline(always)]
    fn field(&mut self) -> Option<&'a [u8]> {
        let end = self.field_end()?;
        let text = &self.buf[self.at..end];
        self.at = end + 1;
        (self.buf[end] == b',').then_some(text)
    }

    /// [`Cursor::number`] followed by a comma, quicker for the one or two digits of seconds.
    #[inline(always)]
    fn seconds(&mut self) -> Option<u32> {
        if let Some(&[a, b, c]) = self.buf.get(self.at..).and_then(|rest| rest.first_chunk::<3>()) {
            let (a, digit_b) = (a.wrapping_sub(b'0'), b.wrapping_sub(b'0'));
            if a <= 9 {
                if b == b',' {
                    self.at += 2;
                    return Some(u32::from(a));
                }
                if digit_b <= 9 && c == b',' {
                    self.at += 3;
                    return Some(u32::from(a) * 10 + u32::from(digit_b));
                }
            }
        }
        self.number(b',')
    }

    /// Up to ten digits followed by `delim` (consumed).
    #[inline(always)]
    fn number(&mut self, delim: u8) -> Option<u32> {
        // Up to seven digits, the usual case, are read from one word without a loop.
        if let Some(w) = word(self.buf, self.at) {
            let x = w.wrapping_sub(ONES * u64::from(b'0'));
            // A borrow or carry only runs upwards from a non-digit byte, so the lowest flagged
            // byte is exactly the first non-digit.
            let non_digits = (x.wrapping_add(ONES * 0x76) | x) & HIGHS;
            let n = (non_digits.trailing_zeros() / 8) as usize;
            if n < 8 {
                if n == 0 || (w >> (8 * n)) as u8 != delim {
                    return None;
                }
                self.at += n + 1;
                return Some(digits_value(x << (8 * (8 - n))));
            }
        }
        let start = self.at;
        let mut v: u64 = 0;
        while let Some(&b) = self.buf.get(self.at) {
            self.at += 1;
            let d = b.wrapping_sub(b'0');
            // Past ten digits the number is refused: stop before it could overflow.
            if d <= 9 && self.at - start <= 10 {
                v = v * 10 + u64::from(d);
            } else if b == delim && self.at - 1 > start && self.at - 1 - start <= 10 {
                return u32::try_from(v).ok();
            } else {
                return None;
            }
        }
        None
    }
}

/// The text of a row from its date to its time's seconds (`08/6/30,10:17:`), which rows
/// of the same minute share, with what it says.
#[derive(Clone, Copy)]
struct Stamp {
    key: (u64, u64),
    mask: (u64, u64),
    len: usize,
    date: NaiveDate,
    hour: u32,
    minute: u32,
}

/// A row's text from its PID on (`1260,svchost.exe,<user>\r\n`), with what it says. A
/// process logs the same tail on every row, so tails are looked up by their first eight bytes
/// and checked in place.
#[derive(Clone, Copy)]
struct Tail<'a> {
    /// Up to and including the `\n`.
    text: &'a [u8],
    pid: u32,
    module: Symbol,
    user: Symbol,
    shape: RowShape,
}

/// Slots of the tail cache.
const TAIL_SLOTS: usize = 256;

impl<'a> ChunkTables<'a> {
    /// Reads the common 9- and 10-field row shapes straight from the chunk, with exactly the
    /// results the general path would give; `None` sends the line to the general path.
    ///
    /// Every shortcut below keys on the exact bytes it stands for (a cached date-and-minute
    /// prefix, an address text, a row's tail), so a hit gives what parsing those bytes gives.
    /// Nothing is interned before the whole row has been read, so that a refused row leaves
    /// the tables as the general path alone would: each distinct text is added at its first
    /// sight on an accepted row, in line order, whichever path reads it.
    #[inline(always)]
    fn fast_row(
        &mut self,
        known: &Known,
        buf: &'a [u8],
        start: usize,
        sink: &mut Sink<'_>,
        number: u32,
    ) -> Option<usize> {
        let mut c = Cursor { buf, at: start };
        let (date, hour, minute) = self.stamp(&mut c)?;
        let time = date.and_hms_opt(hour, minute, c.seconds()?)?;
        let protocol = match buf.get(c.at..c.at + 4)? {
            b"TCP," => Protocol::Tcp,
            b"UDP," => Protocol::Udp,
            _ => return None,
        };
        c.at += 4;
        let local_port = u16::try_from(c.number(b',')?).ok()?;
        let (local, local_key) = match short_field(buf, c.at) {
            Some((key, len)) => {
                let text = &buf[c.at..c.at + len];
                c.at += len + 1;
                let found = match self.last_local_key {
                    Some((k, id)) if k == key => Found::Id(id),
                    _ => self.find_short(known, key, text)?,
                };
                (found, Some(key))
            }
            None => (self.find_long(known, c.field()?)?, None),
        };
        let remote_port = match *buf.get(c.at)? {
            b'*' if buf.get(c.at + 1) == Some(&b',') => {
                c.at += 2;
                PortField::Any
            }
            b',' => {
                c.at += 1;
                PortField::Empty
            }
            _ => PortField::Num(u16::try_from(c.number(b',')?).ok()?),
        };
        let remote = match short_field(buf, c.at) {
            Some((key, len)) => {
                let text = &buf[c.at..c.at + len];
                c.at += len + 1;
                self.find_short(known, key, text)?
            }
            None => self.find_long(known, c.field()?)?,
        };
        let tail_start = c.at;
        let slot = word(buf, c.at).map(|w| (w.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % TAIL_SLOTS);
        let cached = match slot {
            Some(i) => match self.tails[i] {
                Some(t) => match buf.get(tail_start..tail_start + t.text.len()) {
                    Some(here) if same_bytes(here, t.text) => Some(t),
                    _ => None,
                },
                None => None,
            },
            None => None,
        };
        let tail = match cached {
            Some(t) => t,
            None => self.new_tail(known, buf, tail_start, slot)?,
        };
        // The row is read (the tail last): from here on nothing refuses it.
        let local_ip = self.commit(local)?;
        if let Some(key) = local_key {
            self.last_local_key = Some((key, local_ip));
        }
        let remote_ip = self.commit(remote)?;
        let row = PortEvent::new(
            time,
            protocol,
            local_port,
            local_ip,
            remote_port,
            remote_ip,
            Some(tail.pid),
            tail.module,
            tail.user,
            tail.shape,
        );
        sink.push(row, number);
        Some(tail_start + tail.text.len())
    }

    /// Reads a row tail from its PID on and keeps it in the cache's `slot`.
    #[inline(never)]
    fn new_tail(&mut self, known: &Known, buf: &'a [u8], at: usize, slot: Option<usize>) -> Option<Tail<'a>> {
        let mut c = Cursor { buf, at };
        let pid = c.number(b',')?;
        let (end, module, user, shape) = read_tail(buf, c.at)?;
        let module = match known.modules.get(module) {
            Some(&s) => s,
            None => intern_local(&mut self.modules, &mut self.module_list, Cow::Borrowed(module)),
        };
        let user = match user {
            Some(u) => match known.users.get(&*u) {
                Some(&s) => s,
                None => intern_local(&mut self.users, &mut self.user_list, u),
            },
            None => Symbol::EMPTY,
        };
        let tail = Tail { text: &buf[at..end], pid, module, user, shape };
        if let Some(i) = slot {
            self.tails[i] = Some(tail);
        }
        Some(tail)
    }

    /// The date, hour and minute at the cursor (consumed up to the seconds).
    #[inline(always)]
    fn stamp(&mut self, c: &mut Cursor<'a>) -> Option<(NaiveDate, u32, u32)> {
        let start = c.at;
        let words = word(c.buf, start).zip(word(c.buf, start + 8));
        if let (Some(st), Some((w0, w1))) = (&self.stamp, words)
            && (w0 & st.mask.0, w1 & st.mask.1) == st.key
        {
            c.at += st.len;
            return Some((st.date, st.hour, st.minute));
        }
        let date = self.date(c.field()?)?;
        let hour = c.number(b':')?;
        let minute = c.number(b':')?;
        let len = c.at - start;
        if let Some((w0, w1)) = words
            && len <= 16
        {
            let mask = match len {
                0..8 => (low_bytes(len), 0),
                8 => (u64::MAX, 0),
                9..16 => (u64::MAX, low_bytes(len - 8)),
                _ => (u64::MAX, u64::MAX),
            };
            self.stamp = Some(Stamp { key: (w0 & mask.0, w1 & mask.1), mask, len, date, hour, minute });
        }
        Some((date, hour, minute))
    }

    /// What [`ChunkTables::addr`] would give for a short field, behind tables keyed by its
    /// bytes.
    #[inline(always)]
    fn find_short(&self, known: &Known, key: ShortKey, text: &'a [u8]) -> Option<Found<'a>> {
        if let Some(id) = known.short_addrs.get(key) {
            return Some(Found::Id(id));
        }
        if let Some(&id) = self.short_addrs.get(&key) {
            return Some(Found::Id(id));
        }
        self.find_text(text, Some(key))
    }

    /// What [`ChunkTables::addr`] would give for a longer field (IPv6).
    fn find_long(&self, known: &Known, text: &'a [u8]) -> Option<Found<'a>> {
        match known.long_addrs.get(text) {
            Some(&id) => Some(Found::Id(id)),
            None => self.find_text(text, None),
        }
    }

    /// What [`ChunkTables::addr`] would give, without adding anything.
    #[inline(never)]
    fn find_text(&self, text: &'a [u8], key: Option<ShortKey>) -> Option<Found<'a>> {
        if let Some(v4) = parse_ipv4_fast(text) {
            return Some(self.v4.get(&v4).map_or(Found::New(text, key), |&id| Found::Id(id)));
        }
        if let Some(&id) = self.addrs.get(text) {
            return Some(Found::Id(id));
        }
        // A zone (`%...`) is not read, so it could hide a quote: see [`ChunkOut::quoted`].
        if memchr::memchr(b'"', text).is_some() {
            return None;
        }
        parse_address(text)?;
        Some(Found::New(text, key))
    }

    /// The id of a found address, adding it if it is new.
    #[inline(always)]
    fn commit(&mut self, found: Found<'a>) -> Option<AddrId> {
        match found {
            Found::Id(id) => Some(id),
            Found::New(text, key) => {
                let id = self.addr(text)?;
                if let Some(key) = key {
                    self.short_addrs.insert(key, id);
                }
                Some(id)
            }
        }
    }
}

/// An address field as the fast path found it: its id, or a valid text not yet in the
/// tables (with its key when short).
#[derive(Clone, Copy)]
enum Found<'a> {
    Id(AddrId),
    New(&'a [u8], Option<ShortKey>),
}

/// A row tail after the PID as read: where it ends (after the `\n`), module, user (without
/// brackets) and shape.
type RawTail<'a> = (usize, &'a [u8], Option<Cow<'a, [u8]>>, RowShape);

/// Reads a row tail, `module\n` (9 fields) or `module,user\n` (10); anything else is refused.
#[inline(never)]
fn read_tail(buf: &[u8], at: usize) -> Option<RawTail<'_>> {
    let mut c = Cursor { buf, at };
    let end = c.field_end()?;
    let quote_free = |text: &[u8]| memchr::memchr(b'"', text).is_none();
    if buf[end] == b'\n' {
        return quote_free(&buf[at..end]).then(|| (end + 1, trim_cr(&buf[at..end]), None, RowShape::NoUser));
    }
    c.at = end + 1;
    let nl = c.field_end()?;
    if buf[nl] != b'\n' || !quote_free(&buf[at..nl]) {
        return None;
    }
    let user = strip_brackets(Cow::Borrowed(trim_cr(&buf[end + 1..nl])));
    Some((nl + 1, &buf[at..end], Some(user), RowShape::Full))
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
        use rayon::prelude::*;
        // A pass over every row, memory-bound: on all cores, in runs that overlap by a row.
        const RUN: usize = 1 << 16;
        let n = self.events.len();
        (0..n.div_ceil(RUN)).into_par_iter().all(|k| {
            let run = &self.events[k * RUN..n.min((k + 1) * RUN + 1)];
            run.windows(2).all(|w| w[0].time <= w[1].time)
        })
    }

    /// Orders events by time, keeping file order for equal times.
    pub fn sort_by_time(&mut self) {
        if !self.is_time_ordered() {
            use rayon::slice::ParallelSliceMut;
            self.events.par_sort_by_key(|e| e.time);
        }
    }

    /// Folds a parsed chunk's tables in, in file order, and gives its rows that hold
    /// chunk-local ids (`local`, counted from `at` in `events`) the log's ids.
    fn merge(
        &mut self,
        chunk: Parsed<'_>,
        local: &[usize],
        at: usize,
        known: &mut Known,
        path: &Arc<Path>,
        first_line: u32,
    ) {
        let tables = &chunk.tables;
        let modules: Vec<Symbol> = std::iter::once(Symbol::EMPTY)
            .chain(tables.module_list.iter().map(|b| self.modules.intern(&field_text(b))))
            .collect();
        let users: Vec<Symbol> = std::iter::once(Symbol::EMPTY)
            .chain(tables.user_list.iter().map(|b| self.users.intern(&field_text(b))))
            .collect();
        let addrs: Vec<AddrId> = tables.addr_list.iter().map(|a| self.addrs.intern(*a)).collect();
        let addr = |id: AddrId| if id.0 & LOCAL != 0 { addrs[(id.0 & !LOCAL) as usize] } else { id };
        let module = |s: Symbol| if s.0 & LOCAL != 0 { modules[(s.0 & !LOCAL) as usize] } else { s };
        let user = |s: Symbol| if s.0 & LOCAL != 0 { users[(s.0 & !LOCAL) as usize] } else { s };
        for &i in local {
            let e = &mut self.events[at + i];
            e.local_ip = addr(e.local_ip);
            e.remote_ip = addr(e.remote_ip);
            e.module = module(e.module);
            e.user = user(e.user);
        }
        for (&key, &id) in &tables.short_addrs {
            known.short_addrs.insert(key, addr(id));
        }
        // The fast path takes no line with a quote (see [`ChunkOut::quoted`]), so neither may
        // the texts it looks up.
        let quote_free = |text: &[u8]| memchr::memchr(b'"', text).is_none();
        known.long_addrs.extend(
            tables.addrs.iter().filter(|(text, _)| quote_free(text)).map(|(&text, &id)| (Box::from(text), addr(id))),
        );
        known.modules.extend(
            tables
                .modules
                .iter()
                .filter(|(text, _)| quote_free(text))
                .map(|(text, &s)| (Box::from(&**text), module(s))),
        );
        known.users.extend(
            tables.users.iter().filter(|(text, _)| quote_free(text)).map(|(text, &s)| (Box::from(&**text), user(s))),
        );
        self.malformed_count += chunk.malformed;
        let room = MAX_KEPT_ISSUES.saturating_sub(self.malformed.len());
        self.malformed.extend(
            chunk
                .issues
                .into_iter()
                .take(room)
                .map(|(line, reason, text)| LineIssue::new(path, line + first_line, reason.to_string(), text)),
        );
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
const BLOCK_BYTES: usize = 2 << 20;

pub use crate::logs::text::MAX_LINE_BYTES;

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
    file: impl io::Read,
    size_hint: Option<u64>,
    progress: &LoadProgress,
) -> Result<(), crate::error::LogError> {
    use std::sync::atomic::Ordering;

    let err = |e| crate::error::LogError::io(path, e);
    let shared = text::shared_path(path);
    let source = u16::try_from(log.sources.len()).map_err(|_| crate::error::LogError::NotALog {
        path: path.into(),
        reason: "too many files in one log (65,535 at most)".into(),
    })?;
    let rows_before = log.events.len();
    let malformed_before = log.malformed_count;

    // UTF-16 (rare, from editors) is transcoded as it streams in; other text passes through.
    let mut stream = text::TextReader::new(file).map_err(err)?;
    let encoding = stream.encoding();

    // Blocks start small so that small files cost little, and grow to BLOCK_BYTES. While a
    // block is parsed, the next one is read into the other of two buffers, after room for
    // what the parse leaves over (a partial last line, or a quoted record still open): the
    // read, a copy out of the page cache, would otherwise keep the other cores waiting.
    // `cur[start..end]` holds unparsed text. Buffers only grow (so are zeroed once).
    let mut block = 64 << 10;
    let mut cur: Vec<u8> = vec![0; block];
    let mut spare: Vec<u8> = Vec::new();
    let got = text::read_full(&mut stream, &mut cur).map_err(err)?;
    progress.bytes_done.fetch_add(got as u64, Ordering::Relaxed);
    let (mut start, mut end) = (0, got);
    let mut at_eof = got < block;
    let mut known = Known::default();
    let mut parsed_bytes: u64 = 0;
    let mut next_line: u32 = 1;
    let mut version = None;
    let mut partner = None;
    let mut header_done = false;
    let mut skipping_long_line = false;
    loop {
        if progress.cancelled() {
            return Err(crate::error::LogError::Cancelled);
        }
        if skipping_long_line {
            match memchr::memchr(b'\n', &cur[start..end]) {
                Some(i) => {
                    start += i + 1;
                    skipping_long_line = false;
                    next_line = next_line.saturating_add(1);
                }
                None => start = end,
            }
        }
        let data = &cur[start..end];
        if !header_done && !skipping_long_line {
            let (v, p, done) = read_header(data);
            version = version.or(v);
            partner = partner.or(p);
            header_done = done || at_eof;
        }
        let next_block = (block * 2).min(BLOCK_BYTES);
        let partial = if at_eof { 0 } else { data.len() - memchr::memrchr(b'\n', data).map_or(0, |i| i + 1) };
        let room = partial + MAX_RECORD_BYTES;
        if !at_eof && spare.len() < room + next_block {
            spare.resize(room + next_block, 0);
        }
        let file_ref = FileRef { source, path: &shared, progress };
        let mut parsed = (0, 0);
        let read = rayon::in_place_scope(|s| {
            s.spawn(|_| parsed = parse_block(log, data, at_eof, &file_ref, next_line, &mut known));
            if at_eof { Ok(0) } else { text::read_full(&mut stream, &mut spare[room..room + next_block]) }
        });
        let (used, lines) = parsed;
        next_line = next_line.saturating_add(lines);
        parsed_bytes += used as u64;
        make_room(&mut log.events, size_hint, rows_before, parsed_bytes);
        if at_eof {
            break;
        }
        let got = read.map_err(err)?;
        progress.bytes_done.fetch_add(got as u64, Ordering::Relaxed);
        let mut left = &cur[start + used..end];
        if left.len() > MAX_LINE_BYTES {
            log.malformed_count += 1;
            if log.malformed.len() < MAX_KEPT_ISSUES {
                log.malformed.push(LineIssue::new(
                    &shared,
                    next_line,
                    format!("line longer than {MAX_LINE_BYTES} bytes; skipped"),
                    left,
                ));
            }
            left = &[];
            skipping_long_line = true;
        }
        // What is left over goes just before the new text (`room` is enough by construction;
        // the other branch only keeps this correct if it were not).
        if left.len() <= room {
            spare[room - left.len()..room].copy_from_slice(left);
            start = room - left.len();
        } else {
            let mut joined = left.to_vec();
            joined.extend_from_slice(&spare[room..room + got]);
            spare = joined;
            start = 0;
        }
        end = start + left.len() + got;
        std::mem::swap(&mut cur, &mut spare);
        at_eof = got < next_block;
        block = next_block;
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

/// Rows a reservation may run ahead of the rows read (64 MiB of rows) when that is more than
/// twice the rows held. Growing in smaller steps copies the rows again and again (10M rows:
/// 1.5 s to read with this, 1.7 s and 50% more resident memory with 4 MiB); a file whose size
/// promises rows it does not have (one endless line, garbage after a few rows) costs at most
/// this much address space, most of it never touched.
pub const ROWS_AHEAD: usize = (64 << 20) / std::mem::size_of::<PortEvent>();

/// Makes room for the rows the rest of the file should hold, judged from its size and the
/// rows its first `parsed` bytes gave (rows from `first` on), so that they are written in place
/// rather than the vector growing step by step. Only when the next block might not fit, and
/// never further ahead than twice the rows held or [`ROWS_AHEAD`] beyond them, whichever is more.
fn make_room(events: &mut Vec<PortEvent>, size_hint: Option<u64>, first: usize, parsed: u64) {
    let Some(total) = size_hint else {
        return;
    };
    let rows = (events.len() - first) as u64;
    if rows == 0 || parsed == 0 {
        return;
    }
    let per_block = usize::try_from(rows.saturating_mul(BLOCK_BYTES as u64) / parsed).unwrap_or(usize::MAX);
    if events.capacity() - events.len() > per_block {
        return;
    }
    let expected = total.saturating_mul(rows) / parsed;
    let expected = usize::try_from(expected + expected / 16).unwrap_or(usize::MAX).saturating_add(first);
    let bound = events.len().saturating_mul(2).max(events.len().saturating_add(ROWS_AHEAD));
    let wanted = expected.min(bound).max(events.len().saturating_add(per_block));
    if wanted > events.capacity() {
        events.reserve_exact(wanted - events.len());
        advise_huge_pages(events);
    }
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
    known: &mut Known,
) -> (usize, u32) {
    let FileRef { source, path, progress } = *file;
    use rayon::prelude::*;
    let base = log.events.len();
    let known_now: &Known = known;
    let run = |events: &mut Vec<PortEvent>, has_quotes: bool| {
        let pieces = if has_quotes { 1 } else { rayon::current_num_threads() * 4 };
        let bounds = piece_bounds(buf, pieces);
        // A piece holds at most one row per line; its lines end with a line end, but for the
        // last piece's last line.
        let sizes: Vec<usize> =
            bounds.par_iter().map(|&(s, e, last)| count_line_ends(&buf[s..e]) + usize::from(last)).collect();
        events.reserve(sizes.iter().sum());
        let mut slots = events.spare_capacity_mut();
        let mut line = first_line;
        let mut jobs = Vec::with_capacity(bounds.len());
        for (&(s, e, last), &size) in bounds.iter().zip(&sizes) {
            let (mine, rest) = std::mem::take(&mut slots).split_at_mut(size);
            slots = rest;
            jobs.push((s, e, last, Sink::new(mine, line, source)));
            line = line.saturating_add(size as u32);
        }
        let outs: Vec<(Parsed<'_>, Written)> = jobs
            .into_par_iter()
            .map(|(s, e, last, sink)| {
                let (mut parsed, written) = parse_chunk(&buf[s..e], at_eof && last, has_quotes, sink, known_now);
                parsed.consumed += s;
                (parsed, written)
            })
            .collect();
        (outs, sizes)
    };
    // Quoted fields may hold line breaks, so only quote-free text is cut at arbitrary lines.
    // Quotes are rare: rather than search every block for them first, a block is read again,
    // whole, when one of its pieces meets a quoted line.
    let (mut outs, mut sizes) = run(&mut log.events, false);
    if outs.iter().any(|(p, _)| p.quoted) {
        (outs, sizes) = run(&mut log.events, true);
    }
    // Each piece wrote its rows at the start of its stretch: close the gaps that lines without
    // rows left, then take the rows in.
    let spare = log.events.spare_capacity_mut();
    let mut starts = Vec::with_capacity(outs.len());
    let (mut rows, mut stretch) = (0, 0);
    for ((_, w), size) in outs.iter().zip(&sizes) {
        if stretch != rows {
            spare.copy_within(stretch..stretch + w.len, rows);
        }
        starts.push(rows);
        rows += w.len;
        stretch += size;
    }
    // SAFETY: the first `rows` slots of the spare capacity hold rows: each piece wrote the
    // first `w.len` slots of its stretch (a `Sink` fills its slots in order), and the loop
    // above moved those, in order, to follow one another from the first slot on.
    unsafe { log.events.set_len(base + rows) };
    if outs.iter().any(|(_, w)| !w.extra.is_empty()) {
        let written = log.events.split_off(base);
        for ((_, w), start) in outs.iter().zip(starts.iter_mut()) {
            let moved = log.events.len() - base;
            log.events.extend_from_slice(&written[*start..*start + w.len]);
            log.events.extend_from_slice(&w.extra);
            *start = moved;
        }
    }
    let mut line = first_line;
    let mut consumed = 0;
    for ((parsed, written), start) in outs.into_iter().zip(starts) {
        let (lines, end) = (parsed.lines, parsed.consumed);
        log.merge(parsed, &written.local, base + start, known, path, line);
        line = line.saturating_add(lines);
        consumed = end;
    }
    progress.rows.store(log.events.len() as u64, std::sync::atomic::Ordering::Relaxed);
    (consumed, line - first_line)
}

/// Parses text that continues a file already partly read (a file being followed as it
/// grows) into `log`, as rows of source `source` numbered from `first_line`. Unless `at_end`
/// (the file is finished), a partial last line or a quoted record still open is left for the
/// next call. Returns (bytes used, lines used).
pub fn append_complete(
    log: &mut PortsLog,
    bytes: &[u8],
    (source, path): (u16, &Arc<Path>),
    first_line: u32,
    at_end: bool,
) -> (usize, u32) {
    let progress = LoadProgress::default();
    let file = FileRef { source, path, progress: &progress };
    parse_block(log, bytes, at_end, &file, first_line, &mut Known::default())
}

/// Line ends in a text (memchr counts them with vector instructions).
fn count_line_ends(text: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', text).count()
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
