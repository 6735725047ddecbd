//! The service's own events, numbered 100–112 like the original's (source `PortReporter` in
//! the Windows event log; KB 837243 names 100 and 102). They go to standard error, which
//! systemd puts in the journal; each message carries its id (`event 102: ...`), and when
//! standard error is the journal a `<N>` priority prefix sets its level.

use std::fmt;
use std::io::Write;

/// Every event the collector reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventId {
    /// 100: the service was started (with its parameters).
    Started,
    /// 101: the service was stopped (SIGTERM/SIGINT), files flushed and closed.
    Stopped,
    /// 102: log files were created in the folder (the first set of a run).
    CreatedLogFiles,
    /// 103: a new set of log files was started: at local midnight or at the size limit.
    Rotated,
    /// 104: running without the privileges to see every process: only the user's own.
    LimitedVisibility,
    /// 105: writing a log file failed (disk full, I/O error); the data is kept and retried.
    WriteFailed,
    /// 106: writing works again; what was kept has been written.
    WriteRecovered,
    /// 107: data was dropped because writes kept failing and the retry buffer was full.
    DataDropped,
    /// 108: a log file name was taken (a planted symbolic link, an old file): refused, not
    /// followed, and the next name used.
    FileRefused,
    /// 109: the log folder or a log file could not be created.
    CannotCreate,
    /// 110: the socket table could not be read; the poll was skipped.
    PollFailed,
    /// 111: a poll took longer than the poll interval: short connections may be missed.
    PollSlow,
    /// 112: the service could not start or had to stop (bad parameters, fatal error).
    Fatal,
}

impl EventId {
    pub fn code(self) -> u16 {
        match self {
            EventId::Started => 100,
            EventId::Stopped => 101,
            EventId::CreatedLogFiles => 102,
            EventId::Rotated => 103,
            EventId::LimitedVisibility => 104,
            EventId::WriteFailed => 105,
            EventId::WriteRecovered => 106,
            EventId::DataDropped => 107,
            EventId::FileRefused => 108,
            EventId::CannotCreate => 109,
            EventId::PollFailed => 110,
            EventId::PollSlow => 111,
            EventId::Fatal => 112,
        }
    }

    /// The syslog priority for the journal: 3 error, 4 warning, 6 information.
    fn priority(self) -> u8 {
        match self {
            EventId::Started | EventId::Stopped | EventId::CreatedLogFiles | EventId::Rotated => 6,
            EventId::WriteRecovered => 6,
            EventId::LimitedVisibility | EventId::FileRefused | EventId::PollSlow => 4,
            EventId::WriteFailed | EventId::DataDropped | EventId::CannotCreate => 3,
            EventId::PollFailed | EventId::Fatal => 3,
        }
    }
}

/// One reported event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: EventId,
    pub message: String,
}

impl Notice {
    pub fn new(id: EventId, message: impl Into<String>) -> Notice {
        Notice { id, message: message.into() }
    }
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "event {}: {}", self.id.code(), self.message)
    }
}

/// Writes a notice to standard error, one line, with the journal's priority prefix when
/// systemd connected standard error to the journal (`JOURNAL_STREAM` is set).
pub fn report(notice: &Notice) {
    let line = notice.to_string().replace(['\r', '\n'], " ");
    let mut err = std::io::stderr().lock();
    // Standard error is the last resort: if it cannot be written, there is nowhere to say so.
    let _ = if std::env::var_os("JOURNAL_STREAM").is_some() {
        writeln!(err, "<{}>portreporter: {line}", notice.id.priority())
    } else {
        writeln!(err, "portreporter: {line}")
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_100_to_112_in_order() {
        let all = [
            EventId::Started,
            EventId::Stopped,
            EventId::CreatedLogFiles,
            EventId::Rotated,
            EventId::LimitedVisibility,
            EventId::WriteFailed,
            EventId::WriteRecovered,
            EventId::DataDropped,
            EventId::FileRefused,
            EventId::CannotCreate,
            EventId::PollFailed,
            EventId::PollSlow,
            EventId::Fatal,
        ];
        let codes: Vec<u16> = all.iter().map(|e| e.code()).collect();
        assert_eq!(codes, (100..=112).collect::<Vec<u16>>());
        assert_eq!(
            Notice::new(EventId::CreatedLogFiles, "created log files in /var/log/portreporter").to_string(),
            "event 102: created log files in /var/log/portreporter"
        );
    }
}
