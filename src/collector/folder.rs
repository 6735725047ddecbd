//! The log folder and how files are made in it, behind [`Storage`] so that the writer's
//! rotation and retry logic can be tested against a disk that fails on demand.
//!
//! Files are created with `O_CREAT | O_EXCL | O_NOFOLLOW`, mode 0640: a name that is taken —
//! by an old log or by a symbolic link someone planted to make a root service overwrite
//! `/etc/shadow` — is refused, never opened or followed. The folder is created 0750: logs name
//! users and programs, which is nobody else's business.

use std::fs::{DirBuilder, File, OpenOptions, Permissions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::collector::error::CollectorError;

/// Mode of a folder the collector creates.
pub const FOLDER_MODE: u32 = 0o750;
/// Mode of every log file.
pub const FILE_MODE: u32 = 0o640;

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

/// A folder on disk.
#[derive(Debug, Clone)]
pub struct LogFolder {
    path: PathBuf,
}

impl LogFolder {
    /// Uses the folder at `path`, creating it (and its parents) with mode 0750 if missing.
    /// An existing folder keeps its mode: it is the administrator's.
    pub fn open(path: &Path) -> Result<LogFolder, CollectorError> {
        let folder_error = |source| CollectorError::Folder { path: path.to_path_buf(), source };
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => return Err(folder_error(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                DirBuilder::new().recursive(true).mode(FOLDER_MODE).create(path).map_err(folder_error)?;
                // The umask may have taken bits away; the mode is meant exactly.
                std::fs::set_permissions(path, Permissions::from_mode(FOLDER_MODE)).map_err(folder_error)?;
            }
            Err(e) => return Err(folder_error(e)),
        }
        Ok(LogFolder { path: path.to_path_buf() })
    }
}

impl Storage for LogFolder {
    type File = File;

    fn create(&mut self, name: &str) -> io::Result<File> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(self.path.join(name))?;
        file.set_permissions(Permissions::from_mode(FILE_MODE))?;
        Ok(file)
    }

    fn occupant(&self, name: &str) -> Option<&'static str> {
        let meta = std::fs::symlink_metadata(self.path.join(name)).ok()?;
        Some(if meta.file_type().is_symlink() {
            "a symbolic link"
        } else if meta.is_file() {
            "a file"
        } else {
            "something that is not a file"
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
        assert!(matches!(LogFolder::open(&path), Err(CollectorError::Folder { .. })));
    }
}
