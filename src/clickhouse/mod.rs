//! ClickHouse, for histories that outgrow one machine: `prparser ingest` loads log sets into
//! a documented schema ([`schema`]), and `prparser report --clickhouse` computes the report's
//! views with GROUP BYs in the server ([`report`]). Talks to the server over its HTTP
//! interface with JSON rows ([`client`]); the SQL stays within what ClickHouse 18.16 accepts.

pub mod beaconing;
pub mod changes;
pub mod client;
pub mod command;
pub mod ingest;
pub mod load;
pub mod port_tables;
pub mod report;
pub mod schema;
