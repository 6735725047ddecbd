//! Bytes to lines: encodings, line endings, and the record of a line that could not be read.
//!
//! Port Reporter wrote the Windows ANSI code page; logs that went through other tools come
//! as UTF-8 or UTF-16 with a byte-order mark. Files are read as bytes; a UTF-16 file is
//! transcoded to UTF-8 first, and a field that is not valid UTF-8 is decoded as
//! Windows-1252, so a log never fails to load because of its encoding.

use std::borrow::Cow;
use std::fmt;
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

    #[test]
    fn excerpts_are_bounded() {
        let long = vec![b'x'; 1_000_000];
        let e = excerpt(&long);
        assert_eq!(e.chars().count(), EXCERPT_CHARS + 1);
        assert!(e.ends_with('…'));
    }
}
