//! The bytes of a generated file in the set's line ends and encoding. The log writers write
//! UTF-8 with CRLF, as Port Reporter's own shape; LF, Windows-1252 and UTF-16LE files are
//! shapes the readers take but the writers rightly never produce, so they are made here.

use std::borrow::Cow;
use std::io::{self, Write};

use super::shape::{LineEnds, TextEncoding};

/// Takes UTF-8 text with CRLF line ends and writes it to `inner` in the chosen line ends
/// and encoding. A character or a `\r\n` cut between two writes is held until the next one;
/// [`Encoder::finish`] writes what is left.
pub(super) struct Encoder<W: Write> {
    inner: W,
    line_ends: LineEnds,
    encoding: TextEncoding,
    pending: Vec<u8>,
    utf16: Vec<u8>,
}

impl<W: Write> Encoder<W> {
    /// Starts the file: a UTF-16 file opens with its byte-order mark.
    pub(super) fn new(mut inner: W, line_ends: LineEnds, encoding: TextEncoding) -> io::Result<Encoder<W>> {
        if encoding == TextEncoding::Utf16Le {
            inner.write_all(b"\xFF\xFE")?;
        }
        Ok(Encoder { inner, line_ends, encoding, pending: Vec::new(), utf16: Vec::new() })
    }

    fn passes_through(&self) -> bool {
        self.line_ends == LineEnds::Crlf && self.encoding == TextEncoding::Utf8
    }

    fn convert(&mut self, text: &str) -> io::Result<()> {
        let text = match self.line_ends {
            LineEnds::Crlf => Cow::Borrowed(text),
            LineEnds::Lf => Cow::Owned(text.replace("\r\n", "\n")),
        };
        match self.encoding {
            TextEncoding::Utf8 => self.inner.write_all(text.as_bytes()),
            TextEncoding::Windows1252 => {
                let (bytes, _, unmappable) = encoding_rs::WINDOWS_1252.encode(&text);
                if unmappable {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, format!("not in Windows-1252: {text:?}")));
                }
                self.inner.write_all(&bytes)
            }
            TextEncoding::Utf16Le => {
                self.utf16.clear();
                self.utf16.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
                self.inner.write_all(&self.utf16)
            }
        }
    }

    /// Writes what is held back and returns the inner writer, flushed.
    pub(super) fn finish(mut self) -> io::Result<W> {
        let held = std::mem::take(&mut self.pending);
        let text = std::str::from_utf8(&held).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.convert(text)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.passes_through() {
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        }
        self.pending.extend_from_slice(buf);
        let mut complete = match std::str::from_utf8(&self.pending) {
            Ok(text) => text.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
        };
        if self.line_ends == LineEnds::Lf && self.pending[..complete].ends_with(b"\r") {
            complete -= 1;
        }
        let held = std::mem::take(&mut self.pending);
        let (ready, rest) = held.split_at(complete);
        let text = std::str::from_utf8(ready).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.convert(text)?;
        self.pending = rest.to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(parts: &[&[u8]], line_ends: LineEnds, encoding: TextEncoding) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new(), line_ends, encoding).expect("start");
        for part in parts {
            e.write_all(part).expect("write");
        }
        e.finish().expect("finish")
    }

    #[test]
    fn line_ends_and_characters_cut_between_writes_are_joined() {
        let text = "Büro\r\nx\r\n".as_bytes();
        // Cut inside `ü` and between `\r` and `\n`.
        let parts: [&[u8]; 4] = [&text[..2], &text[2..6], &text[6..7], &text[7..]];
        assert_eq!(encode(&parts, LineEnds::Lf, TextEncoding::Utf8), "Büro\nx\n".as_bytes());
        assert_eq!(encode(&parts, LineEnds::Crlf, TextEncoding::Windows1252), b"B\xFCro\r\nx\r\n");
        assert_eq!(encode(&parts, LineEnds::Lf, TextEncoding::Utf16Le), b"\xFF\xFEB\0\xFC\0r\0o\0\n\0x\0\n\0");
        assert_eq!(encode(&[b"a\r"], LineEnds::Lf, TextEncoding::Utf8), b"a\r", "a lone CR at the end is kept");
    }

    #[test]
    fn windows_1252_takes_its_own_letters_beyond_latin_1() {
        assert_eq!(encode(&["–€".as_bytes()], LineEnds::Crlf, TextEncoding::Windows1252), b"\x96\x80");
        let mut e = Encoder::new(Vec::new(), LineEnds::Crlf, TextEncoding::Windows1252).expect("start");
        assert!(e.write_all("日本".as_bytes()).is_err(), "a character the code page lacks is refused");
    }
}
