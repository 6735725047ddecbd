//! The log folder and how files are made in it, behind [`Storage`] so that the writer's
//! rotation and retry logic can be tested against a disk that fails on demand.
//!
//! **The folder is resolved as systemd resolves its paths** (`chase()` with `CHASE_SAFE`), one
//! component at a time from `/` (or the working folder), on open folder descriptors:
//! - a symbolic link is followed only when it is owned by root or by the user the program runs
//!   as — a distribution's `/var/log` link, or one the service's own user made, still works —
//!   and refused, naming it, when another user owns it: that user could have planted it to make
//!   a root service write where they chose (the kernel's `fs.protected_symlinks` refuses such
//!   links only in sticky folders, and only when the kernel itself follows them);
//! - a missing folder is created with `mkdirat` and opened with `O_NOFOLLOW | O_DIRECTORY`, so
//!   a link planted in its place between the two is refused, not followed;
//! - the folder is then held open, and every file is created relative to it: replacing a path
//!   component later changes nothing.
//!
//! Files are created with `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0640: a name that is taken —
//! by an old log or by a symbolic link someone planted to make a root service overwrite
//! `/etc/shadow` — is refused, never opened or followed. Folders the collector creates are
//! 0750 (the app's capture folder 0700): logs name users and programs, which is nobody else's
//! business.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use nix::errno::Errno;
use nix::fcntl::{AT_FDCWD, AtFlags, OFlag, openat, readlinkat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstatat, mkdirat};
use nix::unistd::{Uid, User, geteuid};

use crate::collector::error::{CollectorError, FolderProblem};

/// Mode of a folder the collector creates.
pub const FOLDER_MODE: u32 = 0o750;
/// Mode of every log file.
pub const FILE_MODE: u32 = 0o640;
/// Symbolic links followed while resolving one path, as the kernel's limit (`ELOOP`).
const MAX_LINKS: u32 = 40;

/// Where log files are created.
pub trait Storage {
    type File: io::Write;

    /// Creates a new, empty file; fails with [`io::ErrorKind::AlreadyExists`] when the name is
    /// taken by anything, a symbolic link included.
    fn create(&mut self, name: &str) -> io::Result<Self::File>;

    /// What holds a name, if anything (`a symbolic link`, `a file`): to say why it was refused.
    fn occupant(&self, name: &str) -> Option<&'static str>;

    /// The folder, for messages.
    fn location(&self) -> String;
}

/// A folder on disk, held open.
#[derive(Debug, Clone)]
pub struct LogFolder {
    dir: Arc<OwnedFd>,
    path: PathBuf,
}

impl LogFolder {
    /// The collector's log folder: resolved safely (see the module documentation), missing
    /// folders created 0750. An existing folder keeps its mode: it is the administrator's.
    pub fn open(path: &Path) -> Result<LogFolder, CollectorError> {
        LogFolder::open_with_mode(path, FOLDER_MODE)
    }

    /// The same, creating missing folders with `mode` (the app's private capture folder: 0700).
    pub fn open_with_mode(path: &Path, mode: u32) -> Result<LogFolder, CollectorError> {
        LogFolder::open_trusting(path, mode, &[0, geteuid().as_raw()])
    }

    /// The same, following symbolic links owned by the `trusted` users only.
    fn open_trusting(path: &Path, mode: u32, trusted: &[u32]) -> Result<LogFolder, CollectorError> {
        let dir = resolve(path, mode, trusted)
            .map_err(|problem| CollectorError::Folder { path: path.to_path_buf(), problem })?;
        Ok(LogFolder { dir: Arc::new(dir), path: path.to_path_buf() })
    }
}

/// Opens the folder at `path`, creating what is missing; see the module documentation.
fn resolve(path: &Path, mode: u32, trusted: &[u32]) -> Result<OwnedFd, FolderProblem> {
    let io = |action: &'static str, at: &Path| {
        let at = at.to_path_buf();
        move |e: Errno| FolderProblem::Io { action, at, error: io::Error::from(e) }
    };
    let open_path = |dir: BorrowedFd<'_>, name: &OsStr, at: &Path| {
        let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        openat(dir, name, flags, Mode::empty()).map_err(io("open", at))
    };
    let start = if path.is_absolute() { "/" } else { "." };
    let mut dir = open_path(AT_FDCWD, OsStr::new(start), Path::new(start))?;
    // The path as walked, for messages: where a followed link leads, not the text given.
    let mut walked = PathBuf::from(if path.is_absolute() { "/" } else { "" });
    let mut todo: VecDeque<OsString> = components(path);
    let mut links = 0;
    while let Some(name) = todo.pop_front() {
        let at = walked.join(&name);
        if name == "/" {
            dir = open_path(AT_FDCWD, OsStr::new("/"), Path::new("/"))?;
            walked = PathBuf::from("/");
            continue;
        }
        if name == ".." {
            dir = open_path(dir.as_fd(), OsStr::new(".."), &at)?;
            walked.pop();
            continue;
        }
        match fstatat(&dir, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Err(Errno::ENOENT) => {
                mkdirat(&dir, name.as_os_str(), Mode::from_bits_truncate(mode)).map_err(io("create", &at))?;
                let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
                let created = openat(&dir, name.as_os_str(), flags, Mode::empty()).map_err(io("open", &at))?;
                // The umask may have taken bits away; the mode is meant exactly.
                fchmod(&created, Mode::from_bits_truncate(mode)).map_err(io("set the mode of", &at))?;
                dir = created;
            }
            Err(e) => return Err(io("look at", &at)(e)),
            Ok(st) if kind(&st) == SFlag::S_IFLNK => {
                if !trusted.contains(&st.st_uid) {
                    let owner = User::from_uid(Uid::from_raw(st.st_uid)).ok().flatten().map(|u| u.name);
                    return Err(FolderProblem::UntrustedLink {
                        link: at,
                        uid: st.st_uid,
                        owner: owner.unwrap_or_else(|| "a user".into()),
                    });
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(FolderProblem::TooManyLinks { at, limit: MAX_LINKS });
                }
                let target = readlinkat(&dir, name.as_os_str()).map_err(io("read the link", &at))?;
                for part in components(Path::new(&target)).into_iter().rev() {
                    todo.push_front(part);
                }
                continue;
            }
            Ok(st) if kind(&st) == SFlag::S_IFDIR => dir = open_path(dir.as_fd(), &name, &at)?,
            Ok(_) => return Err(FolderProblem::NotAFolder { at }),
        }
        walked = at;
    }
    Ok(dir)
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// The components of a path to walk: `/` for the root, `..`, and names (`.` dropped).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::RootDir => Some(OsString::from("/")),
            Component::ParentDir => Some(OsString::from("..")),
            Component::Normal(name) => Some(name.to_os_string()),
            Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

impl Storage for LogFolder {
    type File = File;

    fn create(&mut self, name: &str) -> io::Result<File> {
        let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let fd = openat(&*self.dir, name, flags, Mode::from_bits_truncate(FILE_MODE))?;
        // The umask may have taken bits away.
        fchmod(&fd, Mode::from_bits_truncate(FILE_MODE))?;
        Ok(File::from(fd))
    }

    fn occupant(&self, name: &str) -> Option<&'static str> {
        let st = fstatat(&*self.dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
        Some(match kind(&st) {
            SFlag::S_IFLNK => "a symbolic link",
            SFlag::S_IFREG => "a file",
            _ => "something that is not a file",
        })
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn folders_are_0750_and_files_0640_whatever_the_umask() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("a/portreporter");
        let mut folder = LogFolder::open(&path).expect("folder");
        assert_eq!(std::fs::metadata(&path).expect("meta").mode() & 0o777, FOLDER_MODE);
        let mut file = folder.create("PR-PORTS-26-01-01-0-0-0.log").expect("create");
        file.write_all(b"x").expect("write");
        let meta = std::fs::metadata(path.join("PR-PORTS-26-01-01-0-0-0.log")).expect("meta");
        assert_eq!(meta.mode() & 0o777, FILE_MODE);
        assert_eq!(folder.occupant("PR-PORTS-26-01-01-0-0-0.log"), Some("a file"));
        assert_eq!(folder.occupant("PR-PIDS-26-01-01-0-0-0.log"), None);
    }

    #[test]
    fn taken_names_and_planted_links_are_refused_not_followed() {
        let root = tempfile::tempdir().expect("tempdir");
        let target = root.path().join("target");
        std::fs::write(&target, "precious").expect("write");
        let mut folder = LogFolder::open(root.path()).expect("folder");
        std::os::unix::fs::symlink(&target, root.path().join("PR-PORTS-26-01-01-0-0-0.log")).expect("symlink");
        let err = folder.create("PR-PORTS-26-01-01-0-0-0.log").expect_err("refused");
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(folder.occupant("PR-PORTS-26-01-01-0-0-0.log"), Some("a symbolic link"));
        assert_eq!(std::fs::read_to_string(&target).expect("read"), "precious");
        std::os::unix::fs::symlink(root.path().join("nowhere"), root.path().join("dangling.log")).expect("symlink");
        assert!(folder.create("dangling.log").is_err(), "a dangling link is not created through either");
        assert!(!root.path().join("nowhere").exists());
    }

    #[test]
    fn a_file_where_the_folder_should_be_is_an_error() {
        let root = tempfile::tempdir().expect("tempdir");
        let path = root.path().join("file");
        std::fs::write(&path, "x").expect("write");
        let err = LogFolder::open(&path.join("sub")).expect_err("refused");
        assert_eq!(
            err.to_string(),
            format!("cannot use the log folder {}/sub: {} is not a folder", path.display(), path.display())
        );
    }

    /// A user other than the one running the tests: trusting only them, every link a test
    /// makes counts as planted.
    fn someone_else() -> u32 {
        geteuid().as_raw().wrapping_add(1)
    }

    /// `linkdir` (absolute and relative links) and `linkdir/sub`: refused when the link's owner
    /// is not trusted, naming the link, and nothing is created behind it.
    #[test]
    fn links_another_user_owns_are_refused_naming_them() {
        let root = tempfile::tempdir().expect("tempdir");
        let target = root.path().join("target");
        std::fs::create_dir(&target).expect("mkdir");
        std::os::unix::fs::symlink(&target, root.path().join("absolute")).expect("symlink");
        std::os::unix::fs::symlink("target", root.path().join("relative")).expect("symlink");
        let me = geteuid().as_raw();
        for link in ["absolute", "relative"] {
            for path in [root.path().join(link), root.path().join(link).join("sub")] {
                let err = LogFolder::open_trusting(&path, FOLDER_MODE, &[someone_else()]).expect_err("refused");
                let CollectorError::Folder { problem: FolderProblem::UntrustedLink { link: named, uid, .. }, .. } =
                    &err
                else {
                    panic!("{err}");
                };
                assert_eq!((named, *uid), (&root.path().join(link), me));
                assert!(err.to_string().contains("refused, not followed"), "{err}");
            }
        }
        assert_eq!(std::fs::read_dir(&target).expect("dir").count(), 0, "nothing made behind a refused link");
    }

    /// Links owned by a trusted user are followed, relative ones from their own folder and `..`
    /// from where a link led (as the kernel does); missing folders behind them are created.
    #[test]
    fn links_trusted_users_own_are_followed() {
        let root = tempfile::tempdir().expect("tempdir");
        let target = root.path().join("a/target");
        std::fs::create_dir_all(&target).expect("mkdir");
        std::os::unix::fs::symlink("a/target", root.path().join("linkdir")).expect("symlink");
        let me = geteuid().as_raw();
        let mut folder = LogFolder::open_trusting(&root.path().join("linkdir/sub"), 0o700, &[me]).expect("followed");
        folder.create("PR-PORTS-26-01-01-0-0-0.log").expect("create");
        assert!(target.join("sub/PR-PORTS-26-01-01-0-0-0.log").is_file());
        assert_eq!(std::fs::metadata(target.join("sub")).expect("meta").mode() & 0o777, 0o700);
        LogFolder::open_trusting(&root.path().join("linkdir/../other"), FOLDER_MODE, &[me]).expect("..");
        assert!(root.path().join("a/other").is_dir(), ".. of the link's target, not of the link");
        // A dangling link: the folder it names is created.
        std::os::unix::fs::symlink(root.path().join("a/new"), root.path().join("dangling")).expect("symlink");
        LogFolder::open_trusting(&root.path().join("dangling"), FOLDER_MODE, &[me]).expect("created");
        assert!(root.path().join("a/new").is_dir());
    }

    #[test]
    fn link_loops_end() {
        let root = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink("b", root.path().join("a")).expect("symlink");
        std::os::unix::fs::symlink("a", root.path().join("b")).expect("symlink");
        let err =
            LogFolder::open_trusting(&root.path().join("a"), FOLDER_MODE, &[geteuid().as_raw()]).expect_err("loop");
        assert!(matches!(err, CollectorError::Folder { problem: FolderProblem::TooManyLinks { .. }, .. }), "{err}");
    }
}
