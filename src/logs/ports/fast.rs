//! The one-pass fast path for the usual row shapes: rows read field by field straight from
//! the text, behind caches keyed on exact bytes, with exactly the results of the general path.

use std::borrow::Cow;

use chrono::NaiveDate;
use rustc_hash::FxHashMap;

use super::block::Sink;
use super::general::{ChunkTables, intern_local, parse_address, parse_ipv4_fast, strip_brackets};
use crate::logs::text::trim_cr;
use crate::model::{AddrId, PortEvent, PortField, Protocol, RowShape, Symbol};

/// Address texts and names that earlier blocks of the file decoded, with the log's ids,
/// read-only while a block is parsed. Blocks are parsed in pieces that each start with empty
/// tables, so without this every piece would parse and intern again the addresses that the
/// file repeats all along; and rows that only hold known ids need no fixing afterwards.
#[derive(Default)]
pub(super) struct Known {
    pub(super) short_addrs: ShortTable,
    pub(super) long_addrs: FxHashMap<Box<[u8]>, AddrId>,
    pub(super) modules: FxHashMap<Box<[u8]>, Symbol>,
    pub(super) users: FxHashMap<Box<[u8]>, Symbol>,
}

/// A map from [`ShortKey`] to [`AddrId`], looked up once or twice per row: open addressing
/// with linear probing, a slot holding its key, so that a hit is a hash, one load and a
/// compare, where a general hash map costs several times that.
#[derive(Default)]
pub(super) struct ShortTable {
    /// A power of two long (or empty); at most half full.
    pub(super) slots: Vec<(ShortKey, AddrId)>,
    pub(super) len: usize,
    /// 64 less the bits of a slot index: the index is the top bits of the hash, which a
    /// multiplication mixes from all the key's bits.
    pub(super) shift: u32,
}

/// The id of an empty [`ShortTable`] slot; no log holds that many addresses.
pub(super) const VACANT: AddrId = AddrId(u32::MAX);

impl ShortTable {
    #[inline(always)]
    pub(super) fn start(&self, key: ShortKey) -> usize {
        let h = (key.0 ^ key.1.rotate_left(29)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> self.shift) as usize
    }

    #[inline(always)]
    pub(super) fn get(&self, key: ShortKey) -> Option<AddrId> {
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

    pub(super) fn insert(&mut self, key: ShortKey, id: AddrId) {
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

/// Eight bytes of `buf` from `at` as one little-endian word (so byte `i` is bits `8i..8i+8`
/// on every target); `None` when fewer than eight bytes are left.
#[inline(always)]
pub(super) fn word(buf: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(*buf.get(at..)?.first_chunk::<8>()?))
}

pub(super) const ONES: u64 = 0x0101_0101_0101_0101;

pub(super) const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that equals `b`. Bytes above the first match may be
/// flagged wrongly (a borrow runs on), so only the lowest set bit may be trusted.
#[inline(always)]
pub(super) fn bytes_equal(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Field ends (`,` or `\n`) in a word, for [`bytes_equal`]'s lowest-bit use.
#[inline(always)]
pub(super) fn field_ends(w: u64) -> u64 {
    bytes_equal(w, b',') | bytes_equal(w, b'\n')
}

/// A mask of the low `n` bytes of a word, `n` < 8.
#[inline(always)]
pub(super) fn low_bytes(n: usize) -> u64 {
    (1u64 << (8 * n)) - 1
}

/// Equal slices, compared a word at a time: the texts compared on the hot path are short
/// and of varying length, where a call to libc's memcmp costs more than the comparison.
#[inline(always)]
pub(super) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
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
pub(super) type ShortKey = (u64, u64);

/// The key and length of the field at `at` when it is at most 15 bytes long and ends with
/// a comma; `None` otherwise (also within 16 bytes of the chunk's end).
#[inline(always)]
pub(super) fn short_field(buf: &[u8], at: usize) -> Option<(ShortKey, usize)> {
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

/// The [`short_field`] key of a text of at most 15 bytes that is not followed by a comma.
#[inline(always)]
pub(super) fn short_key(text: &[u8]) -> Option<ShortKey> {
    let mut bytes = [0u8; 16];
    bytes.get_mut(..text.len()).filter(|_| text.len() < 16)?.copy_from_slice(text);
    let (w0, w1) = bytes.split_at(8);
    let word_of = |w: &[u8]| w.first_chunk::<8>().map(|w| u64::from_le_bytes(*w));
    Some((word_of(w0)?, word_of(w1)? | (text.len() as u64) << 56))
}

/// The number written by eight digit values, one per byte, the first in the lowest byte.
#[inline(always)]
pub(super) fn digits_value(x: u64) -> u32 {
    let x = (x.wrapping_mul(10) + (x >> 8)) & 0x00FF_00FF_00FF_00FF;
    let x = (x.wrapping_mul(100) + (x >> 16)) & 0x0000_FFFF_0000_FFFF;
    ((x.wrapping_mul(10_000) + (x >> 32)) & 0xFFFF_FFFF) as u32
}

/// A position in a chunk, for reading a row field by field without splitting it first.
pub(super) struct Cursor<'a> {
    pub(super) buf: &'a [u8],
    pub(super) at: usize,
}

impl<'a> Cursor<'a> {
    /// Where the next `,` or `\n` is, a word at a time.
    #[inline(always)]
    pub(super) fn field_end(&self) -> Option<usize> {
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
    pub(super) fn field(&mut self) -> Option<&'a [u8]> {
        let end = self.field_end()?;
        let text = &self.buf[self.at..end];
        self.at = end + 1;
        (self.buf[end] == b',').then_some(text)
    }

    /// [`Cursor::number`] followed by a comma, quicker for the one or two digits of seconds.
    #[inline(always)]
    pub(super) fn seconds(&mut self) -> Option<u32> {
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
    pub(super) fn number(&mut self, delim: u8) -> Option<u32> {
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
pub(super) struct Stamp {
    pub(super) key: (u64, u64),
    pub(super) mask: (u64, u64),
    pub(super) len: usize,
    pub(super) date: NaiveDate,
    pub(super) hour: u32,
    pub(super) minute: u32,
}

/// A row's text from its PID on (`1260,svchost.exe,<user>\r\n`), with what it says. A
/// process logs the same tail on every row, so tails are looked up by their first eight bytes
/// and checked in place.
#[derive(Clone, Copy)]
pub(super) struct Tail<'a> {
    /// Up to and including the `\n`.
    pub(super) text: &'a [u8],
    pub(super) pid: u32,
    pub(super) module: Symbol,
    pub(super) user: Symbol,
    pub(super) shape: RowShape,
}

/// Slots of the tail cache.
pub(super) const TAIL_SLOTS: usize = 256;

impl<'a> ChunkTables<'a> {
    /// Reads the common 9- and 10-field row shapes (and Windows 2000's 7) straight from the chunk, with exactly the
    /// results the general path would give; `None` sends the line to the general path.
    ///
    /// Every shortcut below keys on the exact bytes it stands for (a cached date-and-minute
    /// prefix, an address text, a row's tail), so a hit gives what parsing those bytes gives.
    /// Nothing is interned before the whole row has been read, so that a refused row leaves
    /// the tables as the general path alone would: each distinct text is added at its first
    /// sight on an accepted row, in line order, whichever path reads it.
    #[inline(always)]
    pub(super) fn fast_row(
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
        // A remote address that runs to the line end ends a Windows 2000 row (seven fields: no
        // PID, module or user): such logs hold nothing else, so they would all go through the
        // general path; `w2k_end` is then where the next line starts.
        let (remote, w2k_end) = match short_field(buf, c.at) {
            Some((key, len)) => {
                let text = &buf[c.at..c.at + len];
                c.at += len + 1;
                (self.find_short(known, key, text)?, None)
            }
            None => {
                let end = c.field_end()?;
                if buf[end] == b'\n' {
                    (self.find_last(known, trim_cr(&buf[c.at..end]))?, Some(end + 1))
                } else {
                    (self.find_long(known, c.field()?)?, None)
                }
            }
        };
        let (pid, module, user, shape, next) = match w2k_end {
            Some(next) => (None, Symbol::EMPTY, Symbol::EMPTY, RowShape::W2k, next),
            None => {
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
                (Some(tail.pid), tail.module, tail.user, tail.shape, tail_start + tail.text.len())
            }
        };
        // The row is read (the tail last): from here on nothing refuses it.
        let local_ip = self.commit(local)?;
        if let Some(key) = local_key {
            self.last_local_key = Some((key, local_ip));
        }
        let remote_ip = self.commit(remote)?;
        let row =
            PortEvent::new(time, protocol, local_port, local_ip, remote_port, remote_ip, pid, module, user, shape);
        sink.push(row, number);
        Some(next)
    }

    /// What [`ChunkTables::addr`] would give for the last field of a row, which no comma ends.
    #[inline(never)]
    fn find_last(&self, known: &Known, text: &'a [u8]) -> Option<Found<'a>> {
        match short_key(text) {
            Some(key) => self.find_short(known, key, text),
            None => self.find_long(known, text),
        }
    }

    /// Reads a row tail from its PID on and keeps it in the cache's `slot`.
    #[inline(never)]
    pub(super) fn new_tail(
        &mut self,
        known: &Known,
        buf: &'a [u8],
        at: usize,
        slot: Option<usize>,
    ) -> Option<Tail<'a>> {
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
    pub(super) fn stamp(&mut self, c: &mut Cursor<'a>) -> Option<(NaiveDate, u32, u32)> {
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
    pub(super) fn find_short(&self, known: &Known, key: ShortKey, text: &'a [u8]) -> Option<Found<'a>> {
        if let Some(id) = known.short_addrs.get(key) {
            return Some(Found::Id(id));
        }
        if let Some(&id) = self.short_addrs.get(&key) {
            return Some(Found::Id(id));
        }
        self.find_text(text, Some(key))
    }

    /// What [`ChunkTables::addr`] would give for a longer field (IPv6).
    pub(super) fn find_long(&self, known: &Known, text: &'a [u8]) -> Option<Found<'a>> {
        match known.long_addrs.get(text) {
            Some(&id) => Some(Found::Id(id)),
            None => self.find_text(text, None),
        }
    }

    /// What [`ChunkTables::addr`] would give, without adding anything.
    #[inline(never)]
    pub(super) fn find_text(&self, text: &'a [u8], key: Option<ShortKey>) -> Option<Found<'a>> {
        if let Some(v4) = parse_ipv4_fast(text) {
            return Some(self.v4.get(&v4).map_or(Found::New(text, key), |&id| Found::Id(id)));
        }
        if let Some(&id) = self.addrs.get(text) {
            return Some(Found::Id(id));
        }
        // A zone (`%...`) is not read, so it could hide a quote, which only the general path
        // reads (a quoted field may span lines).
        if memchr::memchr(b'"', text).is_some() {
            return None;
        }
        parse_address(text)?;
        Some(Found::New(text, key))
    }

    /// The id of a found address, adding it if it is new.
    #[inline(always)]
    pub(super) fn commit(&mut self, found: Found<'a>) -> Option<AddrId> {
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
pub(super) enum Found<'a> {
    Id(AddrId),
    New(&'a [u8], Option<ShortKey>),
}

/// A row tail after the PID as read: where it ends (after the `\n`), module, user (without
/// brackets) and shape.
pub(super) type RawTail<'a> = (usize, &'a [u8], Option<Cow<'a, [u8]>>, RowShape);

/// Reads a row tail, `module\n` (9 fields) or `module,user\n` (10); anything else is refused.
#[inline(never)]
pub(super) fn read_tail(buf: &[u8], at: usize) -> Option<RawTail<'_>> {
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
