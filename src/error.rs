//! Errors of the library. A malformed line is not an error (it is kept as a
//! [`crate::logs::text::LineIssue`] and loading goes on); these are the failures that stop
//! a whole file from being read.

use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {reason}", path.display())]
    NotALog { path: PathBuf, reason: String },
    #[error("loading cancelled")]
    Cancelled,
    #[error("no computer named {name:?} in these logs (they hold: {known})")]
    NoSuchComputer { name: String, known: String },
}

impl LogError {
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> LogError {
        LogError::Io { path: path.into(), source }
    }
}
