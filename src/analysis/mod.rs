//! Analysis over loaded logs: the PIDS index, criteria, statistics, the grid's views, host
//! names and exports. No user interface; the app and `prparser report` both call into it.
//! I/O happens only where a module says so: criteria files, exports (to any writer), and the
//! DNS resolver thread.

pub mod address_list;
pub mod aggregate;
pub mod changes;
pub mod criteria;
pub mod dataset;
pub mod dns;
pub mod export;
pub mod geoip;
pub mod index;
pub mod named_file;
pub mod resolver;
pub mod stats;
pub mod time_range;
pub mod timeline;
pub mod view;

#[cfg(test)]
mod test_support;
