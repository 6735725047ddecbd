//! Lists of addresses and networks (known-bad lists, allow-lists) that criteria match remote
//! and local IPs against.
//!
//! One entry per line, in the formats the common lists use: FireHOL `.netset`/`.ipset`
//! (`1.2.3.0/24`, `1.2.3.4`, `#` comments), Spamhaus DROP (`1.2.3.0/24 ; SBL123`), ipsum
//! (`1.2.3.4<TAB>5`: an address and how many lists name it) and plain lists. `#` and `;` start a
//! comment anywhere on a line; blank lines are skipped. IPv4 and IPv6 mix freely; a network
//! written with host bits (`10.1.2.3/8`) means its network (`10.0.0.0/8`), as `cidr` criteria
//! read it. A line that is none of these (a range `1.2.3.4-1.2.3.9`, a name, a stray word after
//! the address) is not guessed at: it is counted with its line number and the rest loads.
//!
//! A list is compiled once into a prefix trie (longest-prefix match, so the entry a match names
//! is the most specific one) and shared: [`ListFiles`] keeps each loaded file while anything
//! uses it and loads it again only when the file changed on disk.
//!
//! Only regular files are read: a criteria file names a path, and a FIFO or a device there
//! must not make prparser block or read without end.

use std::fmt;
use std::fs::{File, Metadata};
use std::io::Read;
use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::SystemTime;

use ipnet::IpNet;
use prefix_trie::joint::map::JointPrefixMap;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::analysis::named_file::{self, Refused};

/// Lists larger than this are refused: the largest public lists are a few tens of MiB.
pub const MAX_LIST_FILE_BYTES: u64 = 512 << 20;

/// At most this many unreadable lines are kept with their numbers; all are counted.
pub const MAX_KEPT_BAD_LINES: usize = 1000;

/// Why a list could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("cannot read address list {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("address list {} is {kind}, not a regular file: refused", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("address list {} is larger than {} MiB: refused", path.display(), MAX_LIST_FILE_BYTES >> 20)]
    TooLarge { path: PathBuf },
    /// Only a criteria file gives a relative list path a folder to be relative to (its own);
    /// read from the working directory, the same criterion would name another file depending
    /// on where the program was started (a path typed into the app's editor, say).
    #[error("address list {} is a relative path: give its full path (or choose the file)", path.display())]
    Relative { path: PathBuf },
}

/// What identifies one version of a file: a list whose stamp changed was rewritten or replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileStamp {
    pub device: u64,
    pub inode: u64,
    pub len: u64,
    pub modified: Option<SystemTime>,
}

impl FileStamp {
    pub fn of(meta: &Metadata) -> FileStamp {
        FileStamp { device: meta.dev(), inode: meta.ino(), len: meta.len(), modified: meta.modified().ok() }
    }

    /// The stamp of the file at `path` now; `None` when it cannot be read.
    pub fn now(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }
}

/// A loaded list: its networks by prefix, each with the line it came from.
pub struct AddressList {
    path: PathBuf,
    /// The stamp of the file read; `None` for a list parsed from text given directly.
    stamp: Option<FileStamp>,
    nets: JointPrefixMap<IpNet, u32>,
    bad_lines: Vec<u32>,
    bad_line_count: usize,
    duplicates: usize,
}

impl fmt::Debug for AddressList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddressList")
            .field("path", &self.path)
            .field("entries", &self.len())
            .field("bad_line_count", &self.bad_line_count)
            .finish()
    }
}

/// The entry of a list that an address matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The network as the trie holds it (a single address is a /32 or /128).
    pub net: IpNet,
    /// 1-based line of the list file.
    pub line: u32,
    /// The list's file name, for messages.
    pub file: String,
}

/// `203.0.113.0/24 — bad.netset line 213`; a single address without its prefix length.
impl fmt::Display for ListEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.net.prefix_len() == self.net.max_prefix_len() {
            write!(f, "{}", self.net.addr())?;
        } else {
            write!(f, "{}", self.net)?;
        }
        write!(f, " — {} line {}", self.file, self.line)
    }
}

impl AddressList {
    /// Reads a list from its text (any bytes: lines that are not UTF-8 are unreadable lines).
    /// `path` names it in messages; nothing is opened.
    pub fn parse(path: &Path, text: &[u8]) -> AddressList {
        AddressList::parse_in_pieces(path, text, PIECE_BYTES)
    }

    /// [`AddressList::parse`], `piece` bytes of whole lines to a parallel task. What a piece
    /// keeps is its entries and unreadable lines, never its blank and comment lines.
    fn parse_in_pieces(path: &Path, text: &[u8], piece: usize) -> AddressList {
        let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(text);
        let pieces: Vec<Piece> = whole_lines(text, piece).par_iter().map(|p| Piece::parse(p)).collect();
        let mut nets = Vec::new();
        let mut bad_lines = Vec::new();
        let mut bad_line_count = 0;
        let mut first_line: u32 = 1;
        for piece in pieces {
            nets.extend(piece.nets.into_iter().map(|(net, i)| (net, first_line.saturating_add(i))));
            let room = MAX_KEPT_BAD_LINES - bad_lines.len();
            bad_lines.extend(piece.bad_lines.into_iter().take(room).map(|i| first_line.saturating_add(i)));
            bad_line_count += piece.bad_line_count;
            first_line = first_line.saturating_add(piece.lines);
        }
        // In order, the trie grows at its ends: twice as fast as inserting as the file comes.
        // A network listed twice keeps its first line.
        nets.par_sort_unstable();
        let before = nets.len();
        nets.dedup_by_key(|(net, _)| *net);
        let duplicates = before - nets.len();
        let mut map = JointPrefixMap::new();
        for (net, line) in nets {
            map.insert(net, line);
        }
        AddressList { path: path.to_path_buf(), stamp: None, nets: map, bad_lines, bad_line_count, duplicates }
    }

    /// Opens and reads a list file: a regular file of at most [`MAX_LIST_FILE_BYTES`].
    pub fn load(path: &Path) -> Result<AddressList, ListError> {
        let io = |source| ListError::Io { path: path.to_path_buf(), source };
        let (file, meta) = open_regular(path)?;
        let mut text = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.take(MAX_LIST_FILE_BYTES + 1).read_to_end(&mut text).map_err(io)?;
        if text.len() as u64 > MAX_LIST_FILE_BYTES {
            return Err(ListError::TooLarge { path: path.to_path_buf() });
        }
        let mut list = AddressList::parse(path, &text);
        list.stamp = Some(FileStamp::of(&meta));
        Ok(list)
    }

    /// The most specific entry containing `ip`. An IPv4-mapped IPv6 address (`::ffff:1.2.3.4`)
    /// is looked up as the IPv4 address it carries, as everywhere in criteria.
    pub fn lookup(&self, ip: IpAddr) -> Option<ListEntry> {
        let find = |ip: IpAddr| self.nets.get_lpm(&IpNet::from(ip));
        let canonical = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let (net, line) = find(canonical).or_else(|| (canonical != ip).then(|| find(ip)).flatten())?;
        Some(ListEntry { net, line: *line, file: self.file_name() })
    }

    /// Whether any entry contains `ip` (see [`AddressList::lookup`]).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.lookup(ip).is_some()
    }

    /// Distinct entries (a network listed twice counts once).
    pub fn len(&self) -> usize {
        self.nets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's name alone, as messages show it.
    pub fn file_name(&self) -> String {
        self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned())
    }

    pub fn stamp(&self) -> Option<FileStamp> {
        self.stamp
    }

    /// Whether the file is no longer the one read: rewritten, replaced or gone. Always false
    /// for a list parsed from text.
    pub fn changed_on_disk(&self) -> bool {
        self.stamp.is_some() && FileStamp::now(&self.path) != self.stamp
    }

    /// Line numbers (1-based) of lines that are not an address or network, the first
    /// [`MAX_KEPT_BAD_LINES`] of them.
    pub fn bad_lines(&self) -> &[u32] {
        &self.bad_lines
    }

    /// All lines that are not an address or network.
    pub fn bad_line_count(&self) -> usize {
        self.bad_line_count
    }

    /// Entries that repeat an earlier line's network (the earlier line is the one named).
    pub fn duplicates(&self) -> usize {
        self.duplicates
    }

    /// One line for a person: entries, and the unreadable lines by number.
    pub fn summary(&self) -> String {
        let plural = |n: usize| if n == 1 { "" } else { "s" };
        let mut text =
            format!("{}: {} entr{}", self.file_name(), self.len(), if self.len() == 1 { "y" } else { "ies" });
        if self.bad_line_count > 0 {
            let shown: Vec<String> = self.bad_lines.iter().take(20).map(u32::to_string).collect();
            let more = if self.bad_line_count > shown.len() { ", ..." } else { "" };
            text.push_str(&format!(
                "; {} unreadable line{} skipped (line {}{more})",
                self.bad_line_count,
                plural(self.bad_line_count),
                shown.join(", ")
            ));
        }
        text
    }
}

/// Bytes of list text one parallel task parses.
const PIECE_BYTES: usize = 1 << 20;

/// `text` cut into pieces of about `size` bytes that end at line ends.
fn whole_lines(text: &[u8], size: usize) -> Vec<&[u8]> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > size {
        let cut = memchr::memchr(b'\n', &rest[size..]).map_or(rest.len(), |at| size + at + 1);
        let (piece, after) = rest.split_at(cut);
        pieces.push(piece);
        rest = after;
    }
    pieces.push(rest);
    pieces
}

/// What one piece of a list holds; line numbers from 0 at the piece's first line.
struct Piece {
    nets: Vec<(IpNet, u32)>,
    /// The first [`MAX_KEPT_BAD_LINES`] of the piece.
    bad_lines: Vec<u32>,
    bad_line_count: usize,
    lines: u32,
}

impl Piece {
    fn parse(text: &[u8]) -> Piece {
        let mut piece = Piece { nets: Vec::new(), bad_lines: Vec::new(), bad_line_count: 0, lines: 0 };
        let body = text.strip_suffix(b"\n").unwrap_or(text);
        for (i, line) in body.split(|b| *b == b'\n').enumerate() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            piece.lines = i.saturating_add(1);
            match parse_line(line) {
                Line::Blank => {}
                Line::Net(net) => piece.nets.push((net, i)),
                Line::Bad => {
                    piece.bad_line_count += 1;
                    if piece.bad_lines.len() < MAX_KEPT_BAD_LINES {
                        piece.bad_lines.push(i);
                    }
                }
            }
        }
        piece
    }
}

enum Line {
    Blank,
    Net(IpNet),
    Bad,
}

fn parse_line(line: &[u8]) -> Line {
    let content = match line.iter().position(|b| matches!(b, b'#' | b';')) {
        Some(at) => &line[..at],
        None => line,
    };
    let Ok(content) = std::str::from_utf8(content) else {
        return Line::Bad;
    };
    let mut tokens = content.split_ascii_whitespace();
    let Some(first) = tokens.next() else {
        return Line::Blank;
    };
    // ipsum: the address, then how many lists name it.
    let count_ok = tokens.next().is_none_or(|t| t.bytes().all(|b| b.is_ascii_digit()));
    if !count_ok || tokens.next().is_some() {
        return Line::Bad;
    }
    match parse_net(first) {
        Some(net) => Line::Net(net),
        None => Line::Bad,
    }
}

/// `10.0.0.0/8` (host bits dropped), or a bare address as a single-host network; an
/// IPv4-mapped IPv6 network of at least /96 as the IPv4 network it carries.
fn parse_net(text: &str) -> Option<IpNet> {
    let net = if text.contains('/') {
        text.parse::<IpNet>().ok()?.trunc()
    } else {
        IpNet::from(text.trim_matches(['[', ']']).parse::<IpAddr>().ok()?)
    };
    Some(match net {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => match v6.addr().to_ipv4_mapped() {
            Some(v4) => ipnet::Ipv4Net::new(v4, v6.prefix_len() - 96).map_or(net, IpNet::V4),
            None => net,
        },
        other => other,
    })
}

/// Opens `path` for reading only if it is a regular file of allowed size (see
/// [`named_file`](crate::analysis::named_file)).
fn open_regular(path: &Path) -> Result<(File, Metadata), ListError> {
    named_file::open_regular(path, MAX_LIST_FILE_BYTES).map_err(|refused| match refused {
        Refused::Io(source) => ListError::Io { path: path.to_path_buf(), source },
        Refused::NotRegular(kind) => ListError::NotRegular { path: path.to_path_buf(), kind },
        Refused::TooLarge(_) => ListError::TooLarge { path: path.to_path_buf() },
    })
}

/// Where list criteria find their lists.
pub trait Lists: Sync {
    /// The list a criterion's pattern names (resolved as the criteria file's loader left it).
    fn list(&self, path: &Path) -> Result<Arc<AddressList>, ListError>;
}

/// Lists from files. A file loaded once is shared while anything holds it and read again only
/// when its stamp changed: compiling the criteria again after an edit (or each time the app
/// re-evaluates) costs a `stat` per list, not a reload of a million entries.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListFiles;

/// Loaded lists by path, held weakly: a list no compiled criteria use is freed.
static LOADED: Mutex<Option<FxHashMap<PathBuf, Weak<AddressList>>>> = Mutex::new(None);

impl Lists for ListFiles {
    fn list(&self, path: &Path) -> Result<Arc<AddressList>, ListError> {
        if path.is_relative() {
            return Err(ListError::Relative { path: path.to_path_buf() });
        }
        // One load at a time: two evaluations asking for the same new list read it once.
        let mut loaded = LOADED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let loaded = loaded.get_or_insert_with(FxHashMap::default);
        loaded.retain(|_, list| list.strong_count() > 0);
        if let Some(list) = loaded.get(path).and_then(Weak::upgrade)
            && !list.changed_on_disk()
        {
            return Ok(list);
        }
        let list = Arc::new(AddressList::load(path)?);
        loaded.insert(path.to_path_buf(), Arc::downgrade(&list));
        Ok(list)
    }
}

#[cfg(test)]
mod tests;
