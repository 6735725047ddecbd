//! Helpers shared by the integration tests. Each test crate uses some of them, so the ones a
//! crate does not use would warn as dead code there.
#![allow(dead_code)]

pub mod app;
pub mod beacon;
pub mod changes;
pub mod clickhouse;
pub mod collector;
pub mod dns;
pub mod fleet;
pub mod logs;
pub mod mmdb;
