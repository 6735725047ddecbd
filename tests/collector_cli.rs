//! The `portreporter` program's start, as a person or systemd sees it on standard error: a
//! start that cannot work is one line (event 112) saying why, and nothing says "started"
//! (event 100) before the log folder is usable and the first files are written. The log
//! folder is resolved safely: a symbolic link another user owns is refused, naming it; links
//! root or the program's own user made are followed.
//!
//! Each run is `--once` (one snapshot, then exit) in a folder of its own.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::{Command, Output};

fn portreporter(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_portreporter"))
        .args(args)
        .current_dir(dir)
        // Without the journal, lines have no `<N>` priority prefix.
        .env_remove("JOURNAL_STREAM")
        .output()
        .expect("run portreporter")
}

fn lines(output: &Output) -> Vec<String> {
    String::from_utf8(output.stderr.clone()).expect("UTF-8").lines().map(str::to_string).collect()
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn bad_parameters_are_one_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = portreporter(dir.path(), &["-ls", "999"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        lines(&out),
        vec![
            "portreporter: event 112: invalid start parameters: invalid value '999' for '--max-size-kb <KB>': \
             999 KB is out of range: the log size limit (-ls) must be between 1000 and 102400 KB \
             (see portreporter --help); the service did not start"
        ]
    );
    let out = portreporter(dir.path(), &["--colour"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        lines(&out),
        vec![
            "portreporter: event 112: invalid start parameters: unexpected argument '--colour' found \
             (see portreporter --help); the service did not start"
        ]
    );
}

#[test]
fn a_file_in_place_of_the_folder_is_one_line_and_no_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("logs"), "x").expect("write");
    let out = portreporter(dir.path(), &["-ld", "logs/pr", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        lines(&out),
        vec![
            "portreporter: event 112: the service did not start: cannot use the log folder logs/pr: logs is not a folder"
        ]
    );
}

/// A folder where files cannot be created, for root too: sysfs makes none (EACCES, or EROFS
/// where it is mounted read-only). No event 109 promising a retry that a stopping service
/// would not make, no "started".
#[test]
fn a_folder_where_no_file_can_be_created_is_one_line_and_no_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = portreporter(dir.path(), &["-ld", "/sys/kernel", "--once"]);
    assert_eq!(out.status.code(), Some(1));
    let lines = lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let reason = lines[0]
        .strip_prefix("portreporter: event 112: the service did not start: cannot create log files in /sys/kernel: ")
        .unwrap_or_else(|| panic!("{lines:?}"));
    assert!(reason.ends_with(')') && reason.contains("(os error "), "the system's reason, once: {reason}");
}

/// `-ld linkdir`, `-ld linkdir/sub` and an absolute link: followed when the link is the
/// running user's (or root's), and the program says it started only after its files exist.
#[test]
fn links_of_root_or_the_running_user_are_followed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (target, other) = (dir.path().join("target"), dir.path().join("other"));
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::create_dir(&other).expect("mkdir");
    symlink("target", dir.path().join("linkdir")).expect("symlink");
    symlink(&other, dir.path().join("absolute")).expect("symlink");
    // Each run writes into a folder of its own: two runs within a second would take the next
    // second's names, which is right but says event 108.
    for (folder, written) in [("linkdir", target.clone()), ("linkdir/sub", target.join("sub")), ("absolute", other)] {
        let before = files(&written).len();
        let out = portreporter(dir.path(), &["-ld", folder, "--once"]);
        let lines = lines(&out);
        assert_eq!(out.status.code(), Some(0), "{lines:?}");
        assert!(lines[0].starts_with("portreporter: event 100: The Port Reporter service was started"), "{lines:?}");
        assert!(lines[0].contains(&format!("folder {folder},")), "{lines:?}");
        assert!(lines[1].starts_with("portreporter: event 102:"), "{lines:?}");
        assert!(lines.iter().all(|l| !l.contains("event 109") && !l.contains("event 112")), "{lines:?}");
        assert_eq!(files(&written).len(), before + 3, "PR-INITIAL, PR-PORTS, PR-PIDS in {}", written.display());
    }
}

/// A link owned by another user (here `nobody`, which needs root to plant: CI runs as root) is
/// refused with one line naming it, and nothing is written where it points.
#[test]
fn a_link_another_user_owns_is_refused_naming_it_as_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test plants a symbolic link owned by another user, which only root can do"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join("target");
    std::fs::create_dir(&target).expect("mkdir");
    let link = dir.path().join("planted");
    symlink(&target, &link).expect("symlink");
    std::os::unix::fs::lchown(&link, Some(65534), Some(65534)).expect("lchown");
    for folder in [link.clone(), link.join("sub")] {
        let out = portreporter(dir.path(), &["-ld", folder.to_str().expect("UTF-8 path"), "--once"]);
        assert_eq!(out.status.code(), Some(1));
        let lines = lines(&out);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let expected = format!(
            "portreporter: event 112: the service did not start: cannot use the log folder {}: {} is a symbolic link \
             owned by ",
            folder.display(),
            link.display()
        );
        assert!(lines[0].starts_with(&expected), "{lines:?}");
        assert!(lines[0].ends_with("(uid 65534), neither root nor the user this runs as: refused, not followed (another user could have planted it)"), "{lines:?}");
    }
    assert!(files(&target).is_empty(), "nothing written behind the link");
}
