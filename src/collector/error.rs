//! Errors of the collector library. A process that vanishes mid-read, or one we may not look
//! into, is not an error (its socket is logged without an owner); these are the failures that
//! stop a poll or the creation of the log folder.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum CollectorError {
    /// The kernel's socket table could not be read (netlink refused, /proc/net missing...).
    #[error("cannot read the socket table through {backend}: {source}")]
    SocketTable {
        backend: &'static str,
        #[source]
        source: io::Error,
    },
    /// The log folder could not be created or is not a folder.
    #[error("cannot use the log folder {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}
