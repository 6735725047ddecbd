//! The parallel block driver: a file read block by block, each block cut into pieces at line
//! ends, each piece read on its own thread into its own stretch of the block's row buffer (a
//! [`Sink`]), then the pieces' tables merged into the log's in file order and the block's
//! rows handed to the stream's consumer.

use std::borrow::Cow;
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::fast::Known;
use super::general::{ChunkTables, LOCAL, general_record};
use super::{LoadProgress, MAX_LINE_BYTES, MAX_RECORD_BYTES, Malformed, PortsLog, PortsOwner, PortsSource, RowBlock};
use crate::error::LogError;
use crate::logs::header::{self, Version};
use crate::logs::text::{self, LineIssue, field_text};
use crate::model::{AddrId, PortEvent, Symbol};

/// A piece of a block being read: its rows go to `events`, final but for chunk-local ids
/// (see [`LOCAL`]); issues keep line numbers counted from the piece's first line.
pub(super) struct ChunkOut<'a, 's> {
    pub(super) events: Sink<'s>,
    pub(super) tables: ChunkTables<'a>,
    /// (0-based line offset in the piece, reason, excerpt source)
    pub(super) issues: Vec<(u32, Malformed, &'a [u8])>,
    /// Lines read so far.
    pub(super) lines: u32,
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

/// A parsed piece without its rows: what is left to merge into the log.
pub(super) struct Parsed<'a> {
    tables: ChunkTables<'a>,
    issues: Vec<(u32, Malformed, &'a [u8])>,
    /// Lines read, from the piece's first line (`first_line`, numbered in the file).
    lines: u32,
    first_line: u32,
    /// Where in the block the piece's reading started, and where its last record ended.
    start: usize,
    end: usize,
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

/// A reader that counts the bytes it hands out as loading progress: the file's own bytes,
/// before any transcoding, so that progress ends at the file's size whatever its encoding.
struct Counted<'p, R> {
    inner: R,
    progress: &'p LoadProgress,
}

impl<R: io::Read> io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.bytes_done.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The one block driver behind every PORTS read ([`super::stream_from`] and the full reads
/// built on it): reads `file` in blocks of up to `block_bytes`, parses each on all cores,
/// merges its tables into `owner`'s log and hands its rows to `consume`, while the next
/// block is read and parsed.
pub(super) fn stream<T: PortsOwner + ?Sized>(
    owner: &mut T,
    path: &Path,
    file: impl io::Read,
    progress: &LoadProgress,
    block_bytes: usize,
    consume: &mut impl FnMut(&T, &RowBlock<'_>),
) -> Result<(), LogError> {
    let err = |e| LogError::io(path, e);
    let shared = text::shared_path(path);
    let log = owner.ports_mut();
    let source = u16::try_from(log.sources.len()).map_err(|_| LogError::NotALog {
        path: path.into(),
        reason: "too many files in one log (65,535 at most)".into(),
    })?;
    let malformed_before = log.malformed.count();

    // UTF-16 (rare, from editors) is transcoded as it streams in; other text passes through.
    let mut stream = text::TextReader::new(Counted { inner: file, progress }).map_err(err)?;
    // The file is known from the start, so that consumers can name it for its first rows.
    log.sources.push(PortsSource {
        path: Arc::clone(&shared),
        version: None,
        encoding: stream.encoding(),
        partner: None,
        rows: 0,
        malformed: 0,
        computer: log.computers.of_file(path),
    });
    let source_at = log.sources.len() - 1;

    // Blocks start small so that small files cost little, and grow to `block_bytes`. While a
    // block is parsed, the next one is read into the other of two buffers, after room for
    // what the parse leaves over (a partial last line, or a quoted record still open), and
    // the rows of the block before are handed out: the read, a copy out of the page cache,
    // would otherwise keep the other cores waiting. `cur[start..end]` holds unparsed text.
    // Buffers (text and rows) only grow (so text buffers are zeroed once).
    let mut block = block_bytes.min(64 << 10);
    let mut cur: Vec<u8> = vec![0; block];
    let mut spare: Vec<u8> = Vec::new();
    let got = text::read_full(&mut stream, &mut cur).map_err(err)?;
    let (mut start, mut end) = (0, got);
    let mut at_eof = got < block;
    let mut known = Known::default();
    let mut parsed_bytes: u64 = 0;
    let mut next_line: u32 = 1;
    let mut header = Header::default();
    let mut skipping_long_line = false;
    // Rows merged and waiting to be handed out, and those of the block being parsed.
    let mut ready: Vec<PortEvent> = Vec::new();
    let mut ready_bytes: u64 = 0;
    let mut filling: Vec<PortEvent> = Vec::new();
    let mut rows_read: u64 = 0;
    loop {
        if progress.cancelled() {
            return Err(LogError::Cancelled);
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
        if !header.done && !skipping_long_line {
            header.read(data, at_eof);
        }
        let next_block = (block * 2).min(block_bytes);
        let partial = if at_eof { 0 } else { data.len() - memchr::memrchr(b'\n', data).map_or(0, |i| i + 1) };
        let room = partial + MAX_RECORD_BYTES;
        if !at_eof && spare.len() < room + next_block {
            spare.resize(room + next_block, 0);
        }
        filling.clear();
        let mut pieces = Pieces::default();
        let read = rayon::in_place_scope(|s| {
            s.spawn(|_| pieces = parse_pieces(&mut filling, data, at_eof, source, next_line, &known));
            let read = if at_eof { Ok(0) } else { text::read_full(&mut stream, &mut spare[room..room + next_block]) };
            if !ready.is_empty() {
                consume(owner, &RowBlock { rows: &ready, parsed_bytes: ready_bytes });
            }
            read
        });
        let log = owner.ports_mut();
        let (used, lines) = merge_pieces(log, &mut filling, pieces, &mut known, &shared, next_line);
        next_line = next_line.saturating_add(lines);
        parsed_bytes += used as u64;
        rows_read += filling.len() as u64;
        progress.rows.fetch_add(filling.len() as u64, Ordering::Relaxed);
        std::mem::swap(&mut ready, &mut filling);
        ready_bytes = parsed_bytes;
        if at_eof {
            break;
        }
        let got = read.map_err(err)?;
        let mut left = &cur[start + used..end];
        if left.len() > MAX_LINE_BYTES {
            log.malformed.add_with(|| {
                LineIssue::new(&shared, next_line, format!("line longer than {MAX_LINE_BYTES} bytes; skipped"), left)
            });
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
    if !ready.is_empty() {
        consume(owner, &RowBlock { rows: &ready, parsed_bytes: ready_bytes });
    }
    let log = owner.ports_mut();
    let malformed = log.malformed.count() - malformed_before;
    let file = &mut log.sources[source_at];
    (file.version, file.partner, file.rows, file.malformed) = (header.version, header.partner, rows_read, malformed);
    Ok(())
}

/// What the first lines of a file said: its version and partner.
#[derive(Default)]
struct Header {
    version: Option<Version>,
    partner: Option<Result<String, String>>,
    /// A data line or the column line was seen (or the file ended).
    done: bool,
}

impl Header {
    /// Reads the header lines at the start of `buf`.
    fn read(&mut self, buf: &[u8], at_eof: bool) {
        for (_, line) in text::numbered_lines(buf, 1).take(8) {
            let line = field_text(line);
            if line.starts_with(|c: char| c.is_ascii_digit()) {
                self.done = true;
                return;
            }
            self.version = self.version.take().or_else(|| header::parse_version_line(&line));
            self.partner = self.partner.take().or_else(|| header::partner_from_header(&line));
            if line.trim_start().to_ascii_lowercase().starts_with("date,time,protocol") {
                self.done = true;
                return;
            }
        }
        self.done = at_eof;
    }
}

/// A block's pieces as parsed: their tables and issues, and where each wrote its rows (in the
/// row buffer's spare capacity, from its length on, a stretch of `sizes[k]` slots each).
#[derive(Default)]
pub(super) struct Pieces<'a> {
    outs: Vec<(Parsed<'a>, Written)>,
    sizes: Vec<usize>,
}

/// Bytes from a row's start within which [`parse_piece`] first looks for it to end.
const ROW_WINDOW: usize = 256;

/// Reads the records of `buf` that start from `start` on, before `limit` (a line end, or the
/// end of `buf`): the usual rows by the one-pass fast path, any other record by the general
/// path, so that an unusual record costs only itself. A record that starts before `limit` is
/// read to its end, wherever that is. Unless `at_eof`, a last line without a line end, or a
/// quoted record still open at the end of `buf`, is left unread for more text.
fn parse_piece<'a>(
    buf: &'a [u8],
    start: usize,
    limit: usize,
    at_eof: bool,
    sink: Sink<'_>,
    known: &Known,
) -> (Parsed<'a>, Written) {
    let first_line = sink.first_line;
    let mut out = ChunkOut { events: sink, tables: ChunkTables::default(), issues: Vec::new(), lines: 0 };
    let mut fields: Vec<Cow<'a, [u8]>> = Vec::with_capacity(12);
    let mut pos = start;
    while pos < limit {
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
        match general_record(&mut out, &buf[pos..], at_eof, &mut fields) {
            Some(len) => pos += len,
            None => break,
        }
    }
    let ChunkOut { events, tables, issues, lines } = out;
    (Parsed { tables, issues, lines, start, end: pos, first_line }, events.finish())
}

/// Parses the complete records of a block on all cores into `rows`' spare capacity (rows of
/// file `source`, numbered from `first_line`); [`merge_pieces`] then takes them in.
///
/// The block is cut into pieces at line ends, and each piece is read as if it started a
/// record. A quoted field may hold line breaks, so that guess can be wrong: a piece's last
/// record may run on into the next piece. Pieces are then checked in order, each against
/// where the records before it really end, and one that started elsewhere is read again
/// from there (rare: a record must span a line break at a cut).
pub(super) fn parse_pieces<'a>(
    rows: &mut Vec<PortEvent>,
    buf: &'a [u8],
    at_eof: bool,
    source: u16,
    first_line: u32,
    known: &Known,
) -> Pieces<'a> {
    use rayon::prelude::*;
    let bounds = piece_bounds(buf, rayon::current_num_threads() * 4);
    let line_ends: Vec<usize> = bounds.par_iter().map(|&(s, e)| count_line_ends(&buf[s..e])).collect();
    // A piece holds at most one row per line (a record that runs on past the piece starts
    // on one of its lines); its lines end with a line end, but for the last piece's last line.
    let mut sizes: Vec<usize> = line_ends.clone();
    if let Some(last) = sizes.last_mut() {
        *last += 1;
    }
    let mut firsts = Vec::with_capacity(bounds.len());
    let mut line = first_line;
    for &n in &line_ends {
        firsts.push(line);
        line = line.saturating_add(n as u32);
    }
    rows.reserve(sizes.iter().sum());
    let mut slots = rows.spare_capacity_mut();
    let mut jobs = Vec::with_capacity(bounds.len());
    for ((&(s, e), &size), &first) in bounds.iter().zip(&sizes).zip(&firsts) {
        let (mine, rest) = std::mem::take(&mut slots).split_at_mut(size);
        slots = rest;
        jobs.push((s, e, Sink::new(mine, first, source)));
    }
    let mut outs: Vec<(Parsed<'_>, Written)> =
        jobs.into_par_iter().map(|(s, e, sink)| parse_piece(buf, s, e, at_eof, sink, known)).collect();
    let mut end = 0;
    let mut stretch = 0;
    for k in 0..outs.len() {
        let (s, e) = bounds[k];
        if outs[k].0.start != end {
            if end < s {
                // The records before stop short of this piece: the last is a quoted record
                // still open at the end of the block, which the rest of the block belongs to.
                outs.truncate(k);
                sizes.truncate(k);
                break;
            }
            // The record before ran on past this piece's start: read it again from its end.
            let first = firsts[k].saturating_add(count_line_ends(&buf[s..end]) as u32);
            let mine = &mut rows.spare_capacity_mut()[stretch..stretch + sizes[k]];
            outs[k] = parse_piece(buf, end, e, at_eof, Sink::new(mine, first, source), known);
        }
        end = outs[k].0.end;
        stretch += sizes[k];
    }
    Pieces { outs, sizes }
}

/// Takes a parsed block's rows into `rows` (after those it held) and its tables into `log`,
/// in file order, giving the rows the log's ids; returns (bytes consumed, lines consumed).
pub(super) fn merge_pieces(
    log: &mut PortsLog,
    rows: &mut Vec<PortEvent>,
    pieces: Pieces<'_>,
    known: &mut Known,
    path: &Arc<Path>,
    first_line: u32,
) -> (usize, u32) {
    let Pieces { outs, sizes } = pieces;
    let base = rows.len();
    // Each piece wrote its rows at the start of its stretch: close the gaps that lines without
    // rows left, then take the rows in.
    let spare = rows.spare_capacity_mut();
    let mut starts = Vec::with_capacity(outs.len());
    let (mut count, mut stretch) = (0, 0);
    for ((_, w), size) in outs.iter().zip(&sizes) {
        if stretch != count {
            spare.copy_within(stretch..stretch + w.len, count);
        }
        starts.push(count);
        count += w.len;
        stretch += size;
    }
    // SAFETY: the first `count` slots of the spare capacity hold rows: each piece wrote the
    // first `w.len` slots of its stretch (a `Sink` fills its slots in order), and the loop
    // above moved those, in order, to follow one another from the first slot on.
    unsafe { rows.set_len(base + count) };
    if outs.iter().any(|(_, w)| !w.extra.is_empty()) {
        let written = rows.split_off(base);
        for ((_, w), start) in outs.iter().zip(starts.iter_mut()) {
            let moved = rows.len() - base;
            rows.extend_from_slice(&written[*start..*start + w.len]);
            rows.extend_from_slice(&w.extra);
            *start = moved;
        }
    }
    let mut line_end = first_line;
    let mut consumed = 0;
    for ((parsed, written), start) in outs.into_iter().zip(starts) {
        let (first, lines, end) = (parsed.first_line, parsed.lines, parsed.end);
        log.merge(parsed, &written.local, &mut rows[base + start..], known, path, first);
        line_end = first.saturating_add(lines);
        consumed = end;
    }
    (consumed, line_end - first_line)
}

/// Line ends in a text (memchr counts them with vector instructions).
pub(super) fn count_line_ends(text: &[u8]) -> usize {
    memchr::memchr_iter(b'\n', text).count()
}

/// Splits a buffer into up to `n` pieces that end on line ends; the last piece takes the
/// rest (including an unterminated last line).
pub(super) fn piece_bounds(buf: &[u8], n: usize) -> Vec<(usize, usize)> {
    let mut bounds = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = buf.len() * k / n;
        if target <= start {
            continue;
        }
        match memchr::memchr(b'\n', &buf[target..]) {
            Some(i) => {
                bounds.push((start, target + i + 1));
                start = target + i + 1;
            }
            None => break,
        }
    }
    bounds.push((start, buf.len()));
    bounds
}

impl PortsLog {
    /// Folds a parsed chunk's tables in, in file order, and gives its rows that hold
    /// chunk-local ids (`local`, counted in `rows`) the log's ids.
    fn merge(
        &mut self,
        chunk: Parsed<'_>,
        local: &[usize],
        rows: &mut [PortEvent],
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
            let e = &mut rows[i];
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
