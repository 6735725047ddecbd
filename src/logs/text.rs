//! Bytes to lines: encodings, line endings, and the record of a line that could not be read.
//!
//! Port Reporter wrote the Windows ANSI code page; logs that went through other tools come
//! as UTF-8 or UTF-16 with a byte-order mark. Files are read as bytes; a UTF-16 file is
//! transcoded to UTF-8 as it streams in ([`TextReader`]), and a field that is not valid UTF-8
//! is decoded as Windows-1252, so a log never fails to load because of its encoding.
//!
//! Logs are untrusted and may be huge: nothing here holds a whole file, and a line longer
//! than [`MAX_LINE_BYTES`] is skipped, never held whole ([`LineReader`]).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

/// The encoding a file was read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Encoding {
    /// UTF-8, or ASCII; fields that are not valid UTF-8 are read as Windows-1252.
    Utf8OrAnsi,
    Utf8Bom,
    Utf16Le,
    Utf16Be,
}

/// Detects a byte-order mark (or BOM-less UTF-16 text) and returns the text as UTF-8-ish
/// bytes: borrowed when no transcoding is needed.
pub fn decode(raw: &[u8]) -> (Cow<'_, [u8]>, Encoding) {
    if let Some(rest) = raw.strip_prefix(b"\xEF\xBB\xBF") {
        return (Cow::Borrowed(rest), Encoding::Utf8Bom);
    }
    let utf16 = if raw.starts_with(b"\xFF\xFE") {
        Some((encoding_rs::UTF_16LE, Encoding::Utf16Le, 2))
    } else if raw.starts_with(b"\xFE\xFF") {
        Some((encoding_rs::UTF_16BE, Encoding::Utf16Be, 2))
    } else if looks_like_utf16(raw, 1) {
        Some((encoding_rs::UTF_16LE, Encoding::Utf16Le, 0))
    } else if looks_like_utf16(raw, 0) {
        Some((encoding_rs::UTF_16BE, Encoding::Utf16Be, 0))
    } else {
        None
    };
    match utf16 {
        Some((enc, tag, skip)) => {
            let (text, _had_errors) = enc.decode_without_bom_handling(&raw[skip..]);
            (Cow::Owned(text.into_owned().into_bytes()), tag)
        }
        None => (Cow::Borrowed(raw), Encoding::Utf8OrAnsi),
    }
}

/// Lines longer than this are never held whole: they are skipped and reported.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// Bytes looked at to tell the encoding.
const SNIFF_BYTES: usize = 64;

/// Bytes read from the file per step when transcoding.
const TRANSCODE_BYTES: usize = 64 << 10;

/// Any reader as UTF-8-ish bytes: a UTF-8 byte-order mark is skipped, UTF-16 (with a BOM, or
/// ASCII text without one) is transcoded piece by piece, anything else passes through
/// untouched (and uncopied). Unpaired surrogates become U+FFFD.
pub struct TextReader<R> {
    inner: R,
    encoding: Encoding,
    /// Bytes read to tell the encoding and not yet handed out (pass-through only).
    head: Vec<u8>,
    head_pos: usize,
    utf16: Option<Transcoder>,
}

/// The state of a UTF-16 transcoding: raw input not yet decoded, UTF-8 not yet handed out.
struct Transcoder {
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    raw_pos: usize,
    raw_eof: bool,
    out: Vec<u8>,
    out_pos: usize,
    finished: bool,
}

impl<R: Read> TextReader<R> {
    /// Reads the first bytes to tell the encoding.
    pub fn new(mut inner: R) -> io::Result<TextReader<R>> {
        let mut head = vec![0u8; SNIFF_BYTES];
        let n = read_full(&mut inner, &mut head)?;
        head.truncate(n);
        let utf16 = if head.starts_with(b"\xFF\xFE") {
            Some((encoding_rs::UTF_16LE, Encoding::Utf16Le, 2))
        } else if head.starts_with(b"\xFE\xFF") {
            Some((encoding_rs::UTF_16BE, Encoding::Utf16Be, 2))
        } else if head.starts_with(b"\xEF\xBB\xBF") {
            None
        } else if looks_like_utf16(&head, 1) {
            Some((encoding_rs::UTF_16LE, Encoding::Utf16Le, 0))
        } else if looks_like_utf16(&head, 0) {
            Some((encoding_rs::UTF_16BE, Encoding::Utf16Be, 0))
        } else {
            None
        };
        Ok(match utf16 {
            Some((enc, encoding, skip)) => {
                let raw = head[skip..].to_vec();
                let utf16 = Transcoder {
                    decoder: enc.new_decoder_without_bom_handling(),
                    raw_eof: n < SNIFF_BYTES,
                    raw,
                    raw_pos: 0,
                    out: Vec::new(),
                    out_pos: 0,
                    finished: false,
                };
                TextReader { inner, encoding, head: Vec::new(), head_pos: 0, utf16: Some(utf16) }
            }
            None if head.starts_with(b"\xEF\xBB\xBF") => {
                TextReader { inner, encoding: Encoding::Utf8Bom, head, head_pos: 3, utf16: None }
            }
            None => TextReader { inner, encoding: Encoding::Utf8OrAnsi, head, head_pos: 0, utf16: None },
        })
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
    }
}

impl Transcoder {
    /// Decodes more input into `out` (emptied first); leaves `out` empty only at the end.
    fn refill(&mut self, inner: &mut impl Read) -> io::Result<()> {
        self.out.clear();
        self.out_pos = 0;
        if self.out.capacity() < TRANSCODE_BYTES * 2 {
            self.out.reserve(TRANSCODE_BYTES * 2);
        }
        while self.out.is_empty() && !self.finished {
            if self.raw_pos == self.raw.len() && !self.raw_eof {
                self.raw.resize(TRANSCODE_BYTES, 0);
                let n = read_full(inner, &mut self.raw)?;
                self.raw.truncate(n);
                self.raw_pos = 0;
                self.raw_eof = n < TRANSCODE_BYTES;
            }
            let src = &self.raw[self.raw_pos..];
            let room = self.decoder.max_utf8_buffer_length(src.len()).unwrap_or(TRANSCODE_BYTES * 4).max(16);
            self.out.resize(room, 0);
            let (result, read, written, _) = self.decoder.decode_to_utf8(src, &mut self.out, self.raw_eof);
            self.out.truncate(written);
            self.raw_pos += read;
            if self.raw_eof && self.raw_pos == self.raw.len() && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for TextReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(t) = &mut self.utf16 {
            if t.out_pos == t.out.len() {
                t.refill(&mut self.inner)?;
            }
            let n = buf.len().min(t.out.len() - t.out_pos);
            buf[..n].copy_from_slice(&t.out[t.out_pos..t.out_pos + n]);
            t.out_pos += n;
            return Ok(n);
        }
        if self.head_pos < self.head.len() {
            let n = buf.len().min(self.head.len() - self.head_pos);
            buf[..n].copy_from_slice(&self.head[self.head_pos..self.head_pos + n]);
            self.head_pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Fills `buf` as far as the reader allows; returns the bytes read.
pub fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
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

/// A line as [`LineReader`] gives it.
#[derive(Debug, PartialEq, Eq)]
pub enum Line<'a> {
    /// The line's 1-based number and its text, without the line end.
    Text(u32, &'a [u8]),
    /// A line longer than [`MAX_LINE_BYTES`], skipped: its number and first bytes.
    TooLong(u32, &'a [u8]),
}

/// Bytes read per step by [`LineReader`].
const LINE_READ_BYTES: usize = 64 << 10;

/// Lines of a reader, one at a time, holding at most [`MAX_LINE_BYTES`] and a read step.
pub struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    number: u32,
    /// Bytes handed out as lines so far, line ends included.
    consumed: u64,
}

impl<R: Read> LineReader<R> {
    pub fn new(inner: R) -> LineReader<R> {
        LineReader { inner, buf: Vec::new(), start: 0, end: 0, eof: false, number: 0, consumed: 0 }
    }

    /// Bytes read as lines so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// The next line, `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<Line<'_>>> {
        let mut searched = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.start + searched..self.end]) {
                let at = self.start + searched + i;
                return Ok(Some(self.take(at, at + 1)));
            }
            searched = self.end - self.start;
            if self.eof {
                if self.start == self.end {
                    return Ok(None);
                }
                return Ok(Some(self.take(self.end, self.end)));
            }
            if searched >= MAX_LINE_BYTES {
                return self.skip_long_line().map(Some);
            }
            self.fill()?;
        }
    }

    /// A line from `start` to `text_end`, the next one starting at `next`.
    fn take(&mut self, text_end: usize, next: usize) -> Line<'_> {
        self.number = self.number.saturating_add(1);
        self.consumed += (next - self.start) as u64;
        let line = &self.buf[self.start..text_end];
        self.start = next;
        Line::Text(self.number, trim_cr(line))
    }

    /// Reads on past the end of an over-long line, keeping only its start.
    fn skip_long_line(&mut self) -> io::Result<Line<'_>> {
        self.number = self.number.saturating_add(1);
        let number = self.number;
        let keep = EXCERPT_CHARS * 4;
        let excerpt_end = self.start + keep;
        self.buf.copy_within(self.start..excerpt_end, 0);
        let mut skipped = (self.end - self.start) as u64;
        let mut scratch = vec![0u8; LINE_READ_BYTES];
        loop {
            let n = read_full(&mut self.inner, &mut scratch)?;
            if let Some(i) = memchr::memchr(b'\n', &scratch[..n]) {
                skipped += (i + 1) as u64;
                let rest = n - i - 1;
                self.buf[keep..keep + rest].copy_from_slice(&scratch[i + 1..n]);
                self.start = keep;
                self.end = keep + rest;
                self.eof = n < LINE_READ_BYTES;
                break;
            }
            skipped += n as u64;
            if n < LINE_READ_BYTES {
                self.start = keep;
                self.end = keep;
                self.eof = true;
                break;
            }
        }
        self.consumed += skipped;
        Ok(Line::TooLong(number, &self.buf[..keep]))
    }

    /// Moves unread text to the front and reads another step after it.
    fn fill(&mut self) -> io::Result<()> {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        let want = self.end + LINE_READ_BYTES;
        if self.buf.len() < want {
            self.buf.resize(want, 0);
        }
        let n = read_full(&mut self.inner, &mut self.buf[self.end..want])?;
        self.end += n;
        self.eof = n < LINE_READ_BYTES;
        Ok(())
    }
}

/// BOM-less UTF-16 of ASCII text has a NUL in every other byte; `zero_at` is 1 for
/// little-endian. Looks at the first 64 bytes only.
fn looks_like_utf16(raw: &[u8], zero_at: usize) -> bool {
    let head = &raw[..raw.len().min(64)];
    if head.len() < 8 {
        return false;
    }
    head.chunks_exact(2).all(|pair| pair[zero_at] == 0 && pair[1 - zero_at] != 0)
}

/// A field's text: UTF-8 when it is valid UTF-8, Windows-1252 otherwise.
pub fn field_text(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0,
    }
}

/// Iterates the lines of a buffer with their 1-based numbers, without the `\n` or `\r\n`.
pub fn numbered_lines(text: &[u8], first_line: u32) -> impl Iterator<Item = (u32, &[u8])> {
    let mut rest = text;
    let mut number = first_line;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        rest = next;
        let n = number;
        number = number.saturating_add(1);
        Some((n, trim_cr(line)))
    })
}

pub fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// At most this many characters of an offending line are kept, so a 100 MB line does not
/// become a 100 MB message.
const EXCERPT_CHARS: usize = 120;

/// A line that could not be read, or a problem a log reader noticed: which file, which line,
/// and why. Readers keep these instead of failing; the rest of the file still loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineIssue {
    #[serde(serialize_with = "serialize_path")]
    pub file: Arc<Path>,
    /// 1-based; 0 when the issue is about the file as a whole.
    pub line: u32,
    pub reason: String,
    /// The start of the offending line, lossily decoded.
    #[serde(skip)]
    pub excerpt: String,
}

impl LineIssue {
    pub fn new(file: &Arc<Path>, line: u32, reason: impl Into<String>, text: &[u8]) -> LineIssue {
        LineIssue { file: Arc::clone(file), line, reason: reason.into(), excerpt: excerpt(text) }
    }

    /// An issue about a whole file (a missing partner, an unreadable header).
    pub fn file_level(file: &Arc<Path>, reason: impl Into<String>) -> LineIssue {
        LineIssue { file: Arc::clone(file), line: 0, reason: reason.into(), excerpt: String::new() }
    }
}

impl fmt::Display for LineIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file.display(), self.reason)
        } else {
            write!(f, "{}:{}: {}", self.file.display(), self.line, self.reason)
        }
    }
}

fn serialize_path<S: serde::Serializer>(p: &Arc<Path>, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&p.display())
}

/// The first characters of a line, for showing next to its issue.
pub fn excerpt(text: &[u8]) -> String {
    let head = &text[..text.len().min(EXCERPT_CHARS * 4)];
    let s = field_text(head);
    let mut out: String = s.chars().take(EXCERPT_CHARS).collect();
    if s.chars().count() > EXCERPT_CHARS || head.len() < text.len() {
        out.push('…');
    }
    out
}

/// A path shared by every row and issue of a file.
pub fn shared_path(path: &Path) -> Arc<Path> {
    Arc::from(PathBuf::from(path).into_boxed_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf16le_with_bom_becomes_utf8() {
        let text = "a,b\r\nc\n";
        let mut raw = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            raw.extend_from_slice(&u.to_le_bytes());
        }
        let (bytes, enc) = decode(&raw);
        assert_eq!(enc, Encoding::Utf16Le);
        assert_eq!(&*bytes, text.as_bytes());
    }

    #[test]
    fn utf16be_with_bom_becomes_utf8() {
        let mut raw = vec![0xFE, 0xFF];
        for u in "Port Reporter".encode_utf16() {
            raw.extend_from_slice(&u.to_be_bytes());
        }
        let (bytes, enc) = decode(&raw);
        assert_eq!(enc, Encoding::Utf16Be);
        assert_eq!(&*bytes, b"Port Reporter");
    }

    #[test]
    fn bomless_utf16le_is_recognised() {
        let raw: Vec<u8> = "Port Reporter Version 1.0".encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
        let (bytes, enc) = decode(&raw);
        assert_eq!(enc, Encoding::Utf16Le);
        assert_eq!(&*bytes, b"Port Reporter Version 1.0");
    }

    #[test]
    fn utf8_bom_is_stripped_and_plain_bytes_are_borrowed() {
        let (bytes, enc) = decode(b"\xEF\xBB\xBFabc");
        assert_eq!((&*bytes, enc), (&b"abc"[..], Encoding::Utf8Bom));
        let (bytes, enc) = decode(b"abc");
        assert!(matches!(bytes, Cow::Borrowed(_)));
        assert_eq!(enc, Encoding::Utf8OrAnsi);
    }

    #[test]
    fn invalid_utf8_fields_read_as_windows_1252() {
        assert_eq!(field_text(b"caf\xE9.exe"), "café.exe");
        assert_eq!(field_text("café.exe".as_bytes()), "café.exe");
    }

    #[test]
    fn lines_split_on_lf_and_crlf_with_numbers() {
        let lines: Vec<_> = numbered_lines(b"a\r\nb\n\nc", 1).collect();
        assert_eq!(lines, vec![(1, &b"a"[..]), (2, &b"b"[..]), (3, &b""[..]), (4, &b"c"[..])]);
    }

    fn all_lines(raw: &[u8]) -> Vec<(u32, Vec<u8>, bool)> {
        let mut lines = LineReader::new(TextReader::new(raw).expect("in memory"));
        let mut out = Vec::new();
        while let Some(line) = lines.next_line().expect("in memory") {
            out.push(match line {
                Line::Text(n, t) => (n, t.to_vec(), false),
                Line::TooLong(n, head) => (n, head.to_vec(), true),
            });
        }
        out
    }

    #[test]
    fn the_line_reader_numbers_lines_like_numbered_lines() {
        let text = b"a\r\nb\n\nc";
        let streamed: Vec<(u32, Vec<u8>)> = all_lines(text).into_iter().map(|(n, t, _)| (n, t)).collect();
        let whole: Vec<(u32, Vec<u8>)> = numbered_lines(text, 1).map(|(n, t)| (n, t.to_vec())).collect();
        assert_eq!(streamed, whole);
        assert!(all_lines(b"").is_empty());
    }

    #[test]
    fn over_long_lines_are_skipped_with_their_start_kept() {
        let mut raw = b"first\n".to_vec();
        raw.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + LINE_READ_BYTES * 3 + 5));
        raw.extend_from_slice(b"\r\nlast");
        let lines = all_lines(&raw);
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[1].0, lines[1].1.len(), lines[1].2), (2, EXCERPT_CHARS * 4, true));
        assert_eq!(lines[2], (3, b"last".to_vec(), false));
        // Also when the file ends inside the long line.
        let raw = vec![b'y'; MAX_LINE_BYTES * 2];
        assert_eq!(all_lines(&raw).iter().map(|l| (l.0, l.2)).collect::<Vec<_>>(), [(1, true)]);
    }

    #[test]
    fn the_text_reader_passes_plain_text_through_and_transcodes_utf16() {
        let mut out = Vec::new();
        let mut r = TextReader::new(&b"\xEF\xBB\xBFabc"[..]).expect("in memory");
        r.read_to_end(&mut out).expect("in memory");
        assert_eq!((out.as_slice(), r.encoding()), (&b"abc"[..], Encoding::Utf8Bom));
        let text = "Port Reporter \u{1F600} caf\u{e9}\r\n".repeat(5000);
        let mut raw = vec![0xFE, 0xFF];
        raw.extend(text.encode_utf16().flat_map(u16::to_be_bytes));
        let mut r = TextReader::new(raw.as_slice()).expect("in memory");
        let mut out = String::new();
        r.read_to_string(&mut out).expect("in memory");
        assert_eq!((out.as_str(), r.encoding()), (text.as_str(), Encoding::Utf16Be));
    }

    #[test]
    fn excerpts_are_bounded() {
        let long = vec![b'x'; 1_000_000];
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
    }
}
