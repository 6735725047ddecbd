//! Reading and writing the three Port Reporter logs, nothing else.

pub mod computers;
pub mod follow;
pub mod header;
pub mod initial;
pub mod issues;
pub mod pids;
pub mod ports;
pub mod process_block;
pub mod set;
pub mod text;
