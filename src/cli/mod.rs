//! The command lines of both programs, as clap definitions. They live in the library, not in
//! the programs, so that the man pages and shell completions are generated from the very
//! definitions the programs parse with.

pub mod portreporter;
pub mod prparser;
