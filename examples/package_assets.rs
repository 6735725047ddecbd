//! Writes what the Debian package installs beside the programs — man pages, shell completions
//! and the service unit, generated from the sources (`prparser::package`) — into
//! `target/assets/` of this crate, where `[package.metadata.deb]` in Cargo.toml takes them
//! from. Run it before `cargo deb` (README, "Debian package"):
//!
//! ```sh
//! cargo run --release --example package_assets && cargo deb
//! ```

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("assets");
    match prparser::package::write_assets(&out) {
        Ok(files) => {
            for file in files {
                println!("{}", file.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("package_assets: {e}");
            ExitCode::FAILURE
        }
    }
}
