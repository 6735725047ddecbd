//! Wall-clock time for event stamps and midnight rotation, behind a trait so that tests can
//! cross midnight in a millisecond.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, FixedOffset, Local, TimeDelta};

/// Local time with its offset: rows and file names use the local wall clock (as the
/// original did), JSON lines carry the offset too.
pub trait Clock {
    fn now(&self) -> DateTime<FixedOffset>;
}

/// The system's local time.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<FixedOffset> {
        Local::now().fixed_offset()
    }
}

/// A clock that shows what it is set to: for tests, and for replaying recorded observations.
/// Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<DateTime<FixedOffset>>>);

impl ManualClock {
    pub fn new(at: DateTime<FixedOffset>) -> ManualClock {
        ManualClock(Arc::new(Mutex::new(at)))
    }

    pub fn advance(&self, by: TimeDelta) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<FixedOffset> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
