//! Reading and writing the three Port Reporter logs, nothing else.

pub mod header;
pub mod ports;
pub mod text;
