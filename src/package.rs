//! What the Debian package installs beside the two programs and the files kept in `assets/`,
//! written from the sources so that it cannot drift from them: man pages and shell completions
//! from the clap definitions in [`crate::cli`], and the service unit with its `ExecStart`
//! pointing where the package installs the collector. `examples/package_assets.rs` writes them
//! into `target/assets/` before `cargo deb` reads them (`[package.metadata.deb]` in
//! Cargo.toml; README, "Debian package").

use std::io;
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_complete::Shell;
use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::cli;

/// Where the package installs the collector (`cargo deb` puts programs in /usr/bin).
pub const PACKAGED_COLLECTOR: &str = "/usr/bin/portreporter";

/// Where the package installs the sample logs the app opens on its first start.
pub const SAMPLE_LOGS: &str = "/usr/share/prparser/sample-logs";

/// Where the unit kept in `assets/` expects it: installed by hand, as README says.
const HAND_INSTALLED_COLLECTOR: &str = "/usr/local/bin/portreporter";

/// The unit as kept in the repository, for an installation by hand.
const UNIT: &str = include_str!("../assets/portreporter.service");

/// Shells whose completion scripts the package installs, with the file each one loads.
pub const SHELLS: [(Shell, &str); 3] = [(Shell::Bash, "{}.bash"), (Shell::Zsh, "_{}"), (Shell::Fish, "{}.fish")];

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    #[error(
        "assets/portreporter.service has no `ExecStart={HAND_INSTALLED_COLLECTOR} ...` line to point at {PACKAGED_COLLECTOR}"
    )]
    NoExecStart,
}

/// Writes everything into `out`: `man/` (prparser.1 and a page per command, portreporter.8),
/// `completions/` (bash, zsh and fish for both programs), `systemd/portreporter.service`.
/// Returns the files written.
pub fn write_assets(out: &Path) -> Result<Vec<PathBuf>, PackageError> {
    let mut written = Vec::new();
    let mut write = |relative: String, bytes: &[u8]| -> Result<(), PackageError> {
        let path = out.join(relative);
        let fail = |source| PackageError::Write { path: path.clone(), source };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(fail)?;
        }
        std::fs::write(&path, bytes).map_err(fail)?;
        written.push(path);
        Ok(())
    };
    for (name, page) in prparser_man_pages().map_err(|source| PackageError::Write { path: out.join("man"), source })? {
        write(format!("man/{name}"), &page)?;
    }
    let page = portreporter_man_page().map_err(|source| PackageError::Write { path: out.join("man"), source })?;
    write("man/portreporter.8".into(), &page)?;
    for (program, mut command) in
        [("prparser", cli::prparser::Cli::command()), ("portreporter", cli::portreporter::Cli::command())]
    {
        for (shell, file) in SHELLS {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, program, &mut script);
            write(format!("completions/{}", file.replace("{}", program)), &script)?;
        }
    }
    write("systemd/portreporter.service".into(), packaged_unit()?.as_bytes())?;
    Ok(written)
}

/// `prparser.1` and one page per command (`prparser-report.1`, ...), by file name.
fn prparser_man_pages() -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut command = cli::prparser::Cli::command().disable_help_subcommand(true);
    command.build();
    let mut pages = Vec::new();
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        let man = clap_mangen::Man::new(sub.clone()).manual("prparser");
        let mut page = Vec::new();
        man.render(&mut page)?;
        pages.push((man.get_filename(), page));
    }
    let man = clap_mangen::Man::new(command).manual("prparser");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    man.render_subcommands_section(&mut page)?;
    see_also(&[("portreporter", "8")]).to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    pages.push((man.get_filename(), page));
    Ok(pages)
}

/// `portreporter.8`: clap's sections, then the original's start parameters (what `--help`
/// lists after the options), the files it writes, and the unit.
fn portreporter_man_page() -> io::Result<Vec<u8>> {
    let man = clap_mangen::Man::new(cli::portreporter::Cli::command()).section("8").manual("System Manager's Manual");
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;
    let mut roff = Roff::new();
    roff.control("SH", ["ORIGINAL START PARAMETERS"]);
    roff.text([roman("The start parameters of the original Port Reporter for Windows are accepted as well:")]);
    for (short, long, value, what) in cli::portreporter::ORIGINAL_OPTIONS {
        roff.control("TP", []);
        roff.text([bold(short), roman(" "), italic(value)]);
        roff.text([roman(format!("{what} The same as ")), bold(long), roman(".")]);
    }
    roff.control("SH", ["FILES"]);
    roff.control("TP", []);
    roff.text([italic("/var/log/portreporter/")]);
    roff.text([roman(
        "The default log folder: PR-INITIAL-, PR-PORTS- and PR-PIDS-<stamp>.log (or PR-EVENTS-<stamp>.jsonl), \
         a new set at local midnight and at the size limit.",
    )]);
    roff.control("TP", []);
    roff.text([italic("/usr/lib/systemd/system/portreporter.service")]);
    roff.text([roman(
        "The service, as the package installs it: its own system user, two capabilities, the log folder its only \
         writable path. Enable it with ",
    )]);
    roff.text([bold("systemctl enable --now portreporter"), roman(".")]);
    roff.to_writer(&mut page)?;
    see_also(&[("prparser", "1"), ("systemctl", "1")]).to_writer(&mut page)?;
    man.render_version_section(&mut page)?;
    Ok(page)
}

fn see_also(pages: &[(&str, &str)]) -> Roff {
    let mut roff = Roff::new();
    roff.control("SH", ["SEE ALSO"]);
    let mut line = Vec::new();
    for (i, (name, section)) in pages.iter().enumerate() {
        if i > 0 {
            line.push(roman(", "));
        }
        line.push(bold(*name));
        line.push(roman(format!("({section})")));
    }
    roff.text(line);
    roff
}

/// What the packaged unit says instead of how to install it by hand.
const PACKAGE_NOTE: &str = "# Installed by the prparser package, which created the portreporter system user. It is not
# enabled on installation: systemctl enable --now portreporter
# The logs go to /var/log/portreporter and stay there when the package is removed.";

/// The unit of `assets/` with its `ExecStart` at [`PACKAGED_COLLECTOR`], and its comment on
/// installing it by hand (`# Install ...` and the indented commands under it) replaced by
/// [`PACKAGE_NOTE`].
pub fn packaged_unit() -> Result<String, PackageError> {
    let exec = format!("ExecStart={HAND_INSTALLED_COLLECTOR} ");
    if !UNIT.lines().any(|l| l.starts_with(&exec)) {
        return Err(PackageError::NoExecStart);
    }
    let mut unit = String::with_capacity(UNIT.len());
    let mut in_install_note = false;
    for line in UNIT.lines() {
        if line.starts_with("# Install") {
            in_install_note = true;
            unit.push_str(PACKAGE_NOTE);
            unit.push('\n');
            continue;
        }
        if in_install_note && line.starts_with("#  ") {
            continue;
        }
        in_install_note = false;
        match line.strip_prefix(&exec) {
            Some(args) => unit.push_str(&format!("ExecStart={PACKAGED_COLLECTOR} {args}")),
            None => unit.push_str(line),
        }
        unit.push('\n');
    }
    Ok(unit)
}
