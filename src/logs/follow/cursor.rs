//! One followed file: how far it was read, and its text not used yet.
//!
//! The file's encoding is told from its first bytes as the loader tells it
//! ([`text::decode`]): a byte-order mark, or BOM-less UTF-16, or else the bytes as they are.
//! Until 64 bytes are there (or a whole byte-order mark, or the file is finished) nothing is
//! read, so a header still being written cannot be mistaken for another encoding. UTF-16 is
//! decoded as it arrives by one decoder per file, which keeps a code unit or a surrogate pair
//! cut between two polls until its other half comes; the parsers only ever see UTF-8.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDateTime;

use super::FollowNote;
use crate::logs::header;
use crate::logs::text::{self, Encoding};

/// Bytes looked at to tell the encoding (as the loader does).
const SNIFF_BYTES: usize = 64;

/// How a file's bytes become text.
enum Decoding {
    /// UTF-8 or the ANSI code page: the bytes as they are.
    AsIs(Encoding),
    Utf16(Encoding, encoding_rs::Decoder),
}

impl std::fmt::Debug for Decoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decoding::AsIs(e) | Decoding::Utf16(e, _) => write!(f, "{e:?}"),
        }
    }
}

/// What one read brought.
pub(super) struct Taken {
    /// Bytes of the file taken in.
    pub bytes: usize,
    /// The read stopped at the end of the file (not at its limit).
    pub at_end: bool,
}

/// An open file and how far it was read.
#[derive(Debug)]
pub(super) struct Cursor {
    pub path: Arc<Path>,
    pub stamp: Option<NaiveDateTime>,
    file: File,
    /// Bytes of the file taken in: decoded into `pending`, or skipped as a byte-order mark.
    read_to: u64,
    /// Text read and not used yet (a line or an entry still being written), as UTF-8 for a
    /// UTF-16 file.
    pub pending: Vec<u8>,
    /// Line number of the first line of `pending`.
    pub line: u32,
    decoding: Option<Decoding>,
    gone_reported: bool,
}

impl Cursor {
    pub fn open(path: &Path) -> io::Result<Cursor> {
        use std::os::unix::fs::OpenOptionsExt;
        let file =
            std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC).open(path)?;
        let stamp = path.file_name().and_then(|n| n.to_str()).and_then(header::parse_file_name).map(|(_, s)| s);
        Ok(Cursor {
            path: text::shared_path(path),
            stamp,
            file,
            read_to: 0,
            pending: Vec::new(),
            line: 1,
            decoding: None,
            gone_reported: false,
        })
    }

    /// The encoding, once the first bytes told it.
    pub fn encoding(&self) -> Option<Encoding> {
        self.decoding.as_ref().map(|d| match d {
            Decoding::AsIs(e) | Decoding::Utf16(e, _) => *e,
        })
    }

    /// Checks the file against what was read: truncated (start over) or gone (report once).
    pub fn check(&mut self, notes: &mut Vec<FollowNote>) -> io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        let open = self.file.metadata()?;
        match std::fs::symlink_metadata(&self.path) {
            Ok(now) if now.ino() != open.ino() || now.dev() != open.dev() => {
                // Replaced by another file of the same name: read that one from its start.
                *self = Cursor::open(&self.path)?;
                notes.push(FollowNote::Truncated(self.path.to_path_buf()));
            }
            Ok(_) if open.len() < self.read_to => {
                self.read_to = 0;
                self.pending.clear();
                self.line = 1;
                self.decoding = None;
                notes.push(FollowNote::Truncated(self.path.to_path_buf()));
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !self.gone_reported {
                    self.gone_reported = true;
                    notes.push(FollowNote::Gone(self.path.to_path_buf()));
                }
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Reads at most `limit` new bytes into `pending`. `last` says the file is finished (its
    /// writer has moved on): a code unit left incomplete at its end is then decoded (as
    /// U+FFFD) rather than kept waiting.
    pub fn read(&mut self, limit: usize, last: bool) -> io::Result<Taken> {
        if self.decoding.is_none() && !self.tell_encoding(last)? {
            return Ok(Taken { bytes: 0, at_end: true });
        }
        self.file.seek(SeekFrom::Start(self.read_to))?;
        let mut raw = Vec::new();
        (&mut self.file).take(limit as u64).read_to_end(&mut raw)?;
        self.read_to += raw.len() as u64;
        let at_end = raw.len() < limit;
        match &mut self.decoding {
            Some(Decoding::Utf16(_, decoder)) => decode_into(decoder, &raw, last && at_end, &mut self.pending),
            Some(Decoding::AsIs(_)) | None => self.pending.extend_from_slice(&raw),
        }
        Ok(Taken { bytes: raw.len(), at_end })
    }

    /// Tells the encoding from the first bytes; false while too few are there to tell.
    fn tell_encoding(&mut self, last: bool) -> io::Result<bool> {
        self.file.seek(SeekFrom::Start(0))?;
        let mut head = vec![0u8; SNIFF_BYTES];
        let n = text::read_full(&mut self.file, &mut head)?;
        head.truncate(n);
        let whole_bom = [&b"\xEF\xBB\xBF"[..], b"\xFF\xFE", b"\xFE\xFF"].iter().any(|bom| head.starts_with(bom));
        if n < SNIFF_BYTES && !whole_bom && !last {
            return Ok(false);
        }
        let (decoding, skip) = match text::decode(&head).1 {
            Encoding::Utf8Bom => (Decoding::AsIs(Encoding::Utf8Bom), 3),
            Encoding::Utf8OrAnsi => (Decoding::AsIs(Encoding::Utf8OrAnsi), 0),
            Encoding::Utf16Le => {
                let decoder = encoding_rs::UTF_16LE.new_decoder_without_bom_handling();
                (Decoding::Utf16(Encoding::Utf16Le, decoder), if head.starts_with(b"\xFF\xFE") { 2 } else { 0 })
            }
            Encoding::Utf16Be => {
                let decoder = encoding_rs::UTF_16BE.new_decoder_without_bom_handling();
                (Decoding::Utf16(Encoding::Utf16Be, decoder), if head.starts_with(b"\xFE\xFF") { 2 } else { 0 })
            }
        };
        self.decoding = Some(decoding);
        self.read_to = skip;
        Ok(true)
    }

    /// True when nothing was written since the last read and the file was last changed at
    /// least `quiet` ago (by its modification time: a clock set back or a time in the future
    /// counts as not quiet).
    pub fn stood_still(&self, quiet: Duration) -> io::Result<bool> {
        let meta = self.file.metadata()?;
        Ok(meta.len() == self.read_to && meta.modified()?.elapsed().is_ok_and(|age| age >= quiet))
    }
}

/// Decodes UTF-16 bytes onto the end of `out`; a cut code unit or surrogate pair stays in the
/// decoder until the next call, unless `last`.
fn decode_into(decoder: &mut encoding_rs::Decoder, raw: &[u8], last: bool, out: &mut Vec<u8>) {
    let start = out.len();
    // UTF-16 never takes more than 1.5 bytes of UTF-8 per byte, plus what the decoder holds.
    let room = decoder.max_utf8_buffer_length(raw.len()).unwrap_or(raw.len() * 2 + 16);
    out.resize(start + room, 0);
    let (_, _, written, _) = decoder.decode_to_utf8(raw, &mut out[start..], last);
    out.truncate(start + written);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_surrogate_pair_and_a_code_unit_cut_between_reads_decode_whole() {
        let text = "a\u{1F600}é\r\n";
        let raw: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let mut decoder = encoding_rs::UTF_16LE.new_decoder_without_bom_handling();
        let mut out = Vec::new();
        // Cut inside the high surrogate, then between the two surrogates, then mid-unit.
        for piece in [&raw[..3], &raw[3..4], &raw[4..7], &raw[7..]] {
            decode_into(&mut decoder, piece, false, &mut out);
        }
        assert_eq!(String::from_utf8(out).expect("utf-8"), text);
    }

    #[test]
    fn an_odd_last_byte_of_a_finished_file_becomes_a_replacement_character() {
        let mut decoder = encoding_rs::UTF_16LE.new_decoder_without_bom_handling();
        let mut out = Vec::new();
        decode_into(&mut decoder, b"a\x00b", false, &mut out);
        assert_eq!(out, b"a");
        decode_into(&mut decoder, b"", true, &mut out);
        assert_eq!(String::from_utf8(out).expect("utf-8"), "a\u{FFFD}");
    }
}
