//! Opening a file a person or a criteria file named, for reading: only a regular file of
//! bounded size. A path may name a FIFO (reading would block for ever), a device (reading
//! would not end) or a huge file; those are refused before a byte is read.

use std::fs::{File, Metadata, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Why a named file was not opened.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// What the path names instead: "a FIFO", "a device", "a socket", "a folder".
    #[error("it is {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("it is larger than {} MiB", .0 >> 20)]
    TooLarge(u64),
}

/// Opens `path` for reading if it is a regular file of at most `max_bytes`. Opened without
/// blocking, so that a FIFO without a writer is refused rather than waited on; the checks are
/// made on the opened file, so the path cannot be swapped between check and read.
pub fn open_regular(path: &Path, max_bytes: u64) -> Result<(File, Metadata), Refused> {
    let file = OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(path)?;
    let meta = file.metadata()?;
    let kind = meta.file_type();
    if !kind.is_file() {
        use std::os::unix::fs::FileTypeExt;
        let kind = if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_dir() {
            "a folder"
        } else {
            "not a file"
        };
        return Err(Refused::NotRegular(kind));
    }
    if meta.len() > max_bytes {
        return Err(Refused::TooLarge(max_bytes));
    }
    Ok((file, meta))
}
