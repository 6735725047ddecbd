//! Errors of the collector library. A process that vanishes mid-read, or one we may not look
//! into, is not an error (its socket is logged without an owner); these are the failures that
//! stop a poll, the use of the log folder, or the creation of the first log files.
//!
//! Each message is whole: it says what failed and why, the cause's own text included, so a
//! program prints it as it is (no error chain to walk, where each cause would repeat).

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The kernel's socket table could not be read (netlink refused, /proc/net missing...).
    #[error("cannot read the socket table through {backend}: {error}")]
    SocketTable { backend: &'static str, error: io::Error },
    /// The log folder could not be found, created or opened safely.
    #[error("cannot use the log folder {}: {problem}", path.display())]
    Folder { path: PathBuf, problem: FolderProblem },
    /// The first set of log files could not be created in the folder.
    #[error("cannot create log files in {folder}: {why}")]
    Files { folder: String, why: String },
}

/// Why a log folder cannot be used, naming the path where it went wrong.
#[derive(Debug, thiserror::Error)]
pub enum FolderProblem {
    #[error("{} is not a folder", at.display())]
    NotAFolder { at: PathBuf },
    /// A symbolic link owned by a user other than root and the one the program runs as: that
    /// user could have planted it to make the program write where it chose.
    #[error(
        "{} is a symbolic link owned by {owner} (uid {uid}), neither root nor the user this runs as: \
         refused, not followed (another user could have planted it)",
        link.display()
    )]
    UntrustedLink { link: PathBuf, uid: u32, owner: String },
    #[error("{}: more than {limit} symbolic links to follow", at.display())]
    TooManyLinks { at: PathBuf, limit: u32 },
    #[error("cannot {action} {}: {error}", at.display())]
    Io { action: &'static str, at: PathBuf, error: io::Error },
}
