//! Pure analysis over loaded logs: the PIDS index, criteria, statistics and host names.
//! No user interface and no I/O here (the criteria file aside); the app and `prparser report`
//! both call into it.

pub mod criteria;
pub mod dataset;
pub mod dns;
pub mod index;
pub mod stats;
pub mod view;

#[cfg(test)]
mod test_support;
