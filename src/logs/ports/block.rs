//! The parallel block driver: a block of text cut into pieces at line ends, each piece read
//! on its own thread into its own stretch of the row vector (a [`Sink`]), then the pieces'
//! tables merged into the log's in file order.

use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::Arc;

use super::fast::Known;
use super::general::{ChunkTables, LOCAL, parse_chunk};
use super::{LoadProgress, Malformed, PortsLog};
use crate::logs::text::{LineIssue, field_text};
use crate::model::{AddrId, PortEvent, Symbol};

/// A chunk of lines being read: its rows go to `events`, final but for chunk-local ids (see
/// [`LOCAL`]); issues keep line numbers counted from the chunk's first line.
pub(super) struct ChunkOut<'a, 's> {
    pub(super) events: Sink<'s>,
    pub(super) tables: ChunkTables<'a>,
    /// (0-based line offset in the chunk, reason, excerpt source)
    pub(super) issues: Vec<(u32, Malformed, &'a [u8])>,
    pub(super) lines: u32,
    /// Bytes of the chunk that form complete records; the rest waits for more input.
    pub(super) consumed: usize,
    /// Read as quote-free text, the chunk turned out to hold a quoted line: the whole block
    /// must be read again with quoting (see [`parse_block`]).
    pub(super) quoted: bool,
}

/// Where a piece of a block writes its rows: its own stretch of the log's row vector (unused
/// capacity, as long as the piece has lines), so that each row is written once, in place and
/// final, by the thread that reads it, instead of being gathered and copied afterwards.
pub(super) struct Sink<'s> {
    pub(super) slots: &'s mut [MaybeUninit<PortEvent>],
    pub(super) len: usize,
    /// The line number of the piece's first line, and its file.
    pub(super) first_line: u32,
    pub(super) source: u16,
    /// Rows past the end of `slots`: none, as a row takes a line, but kept if there were.
    pub(super) extra: Vec<PortEvent>,
    /// Which rows hold chunk-local ids, to set once the chunk's tables are merged.
    pub(super) local: Vec<usize>,
}

impl<'s> Sink<'s> {
    pub(super) fn new(slots: &'s mut [MaybeUninit<PortEvent>], first_line: u32, source: u16) -> Self {
        Sink { slots, len: 0, first_line, source, extra: Vec::new(), local: Vec::new() }
    }

    /// Stores a row read from the piece's `number`th line.
    #[inline(always)]
    pub(super) fn push(&mut self, mut ev: PortEvent, number: u32) {
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
pub(super) struct Written {
    pub(super) len: usize,
    pub(super) extra: Vec<PortEvent>,
    pub(super) local: Vec<usize>,
}

impl Sink<'_> {
    pub(super) fn finish(self) -> Written {
        Written { len: self.len, extra: self.extra, local: self.local }
    }
}

/// A parsed chunk without its rows: what is left to merge into the log.
pub(super) struct Parsed<'a> {
    pub(super) tables: ChunkTables<'a>,
    pub(super) issues: Vec<(u32, Malformed, &'a [u8])>,
    pub(super) lines: u32,
    pub(super) consumed: usize,
    pub(super) quoted: bool,
}

impl<'a> ChunkOut<'a, '_> {
    pub(super) fn finish(self) -> (Parsed<'a>, Written) {
        let ChunkOut { events, tables, issues, lines, consumed, quoted, .. } = self;
        (Parsed { tables, issues, lines, consumed, quoted }, events.finish())
    }
}

/// Bytes read per step: big enough to keep both cores busy, small enough that a huge file
/// costs little memory beyond its rows.
pub(super) const BLOCK_BYTES: usize = 2 << 20;

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
pub(super) fn make_room(events: &mut Vec<PortEvent>, size_hint: Option<u64>, first: usize, parsed: u64) {
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
pub(super) fn advise_huge_pages(v: &mut Vec<PortEvent>) {
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

/// The file a block comes from, and where to report progress.
#[derive(Clone, Copy)]
pub(super) struct FileRef<'a> {
    pub(super) source: u16,
    pub(super) path: &'a Arc<Path>,
    pub(super) progress: &'a LoadProgress,
}

/// Parses the complete records of a block on all cores; returns (bytes consumed, lines consumed).
pub(super) fn parse_block(
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

/// Line ends in a text (memchr counts them with vector instructions).
pub(super) fn count_line_ends(text: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', text).count()
}

/// Splits a buffer into up to `n` pieces that end on line ends; the last piece takes the
/// rest (including an unterminated last line).
pub(super) fn piece_bounds(buf: &[u8], n: usize) -> Vec<(usize, usize, bool)> {
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

impl PortsLog {
    /// Folds a parsed chunk's tables in, in file order, and gives its rows that hold
    /// chunk-local ids (`local`, counted from `at` in `events`) the log's ids.
    pub(super) fn merge(
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
        for (line, reason, text) in chunk.issues {
            self.malformed.add_with(|| LineIssue::new(path, line + first_line, reason.to_string(), text));
        }
    }
}
