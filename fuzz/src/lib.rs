//! The core of prparser (logs and the criteria analysis), built from the crate's own source
//! files for fuzzing. The fuzz build instruments every crate it compiles; depending on the
//! whole prparser crate would bring the GUI stack (eframe, wgpu, hickory), which no reader
//! reaches, and make each fuzz build take half an hour on a 2-core machine.

#[path = "../../src/error.rs"]
pub mod error;
#[path = "../../src/intern.rs"]
pub mod intern;
#[path = "../../src/logs/mod.rs"]
pub mod logs;
#[path = "../../src/model.rs"]
pub mod model;

/// Only the analysis modules the criteria need (the rest of it is for the app and reports).
#[path = "../../src/analysis"]
pub mod analysis {
    pub mod address_list;
    pub mod criteria;
    pub mod dns;
    pub mod geoip;
    pub mod index;
    pub mod named_file;
}
