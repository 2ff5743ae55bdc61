//! The drain marker: a file whose presence makes `graceinit health` fail, so
//! load balancers stop routing here while the app still serves.
//!
//! graceinit runs as root in most containers and the marker's directory is
//! often under /tmp, so the marker is made with care: created only if
//! nothing is there (never through a symbolic link, never opening a FIFO,
//! which would block PID 1), in a directory checked for who else may write
//! to it. Only a regular file counts as the marker.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::error::one_line;

/// More than the file-time clock can lag the precise one, and less than a
/// container takes to restart (the case a stale marker comes from).
const COARSE_CLOCK_SLACK: Duration = Duration::from_secs(1);

/// The result of `mark`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Marked {
    /// The marker was there already (an outer graceinit of the same
    /// container, or `graceinit drain`), made this long ago.
    pub age: Option<Duration>,
    /// Something about the marker's directory the user should fix.
    pub warning: Option<String>,
}

/// Creates the marker and its parent directories; an existing marker (a
/// regular file) made at or after `not_before` (graceinit's start) is kept
/// and its age reported. An older one is a stale marker that could not be
/// removed at start: it says nothing about a drain, so this drain is new.
pub fn mark(path: &Path, not_before: SystemTime) -> io::Result<Marked> {
    let mut marked = Marked::default();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)?;
        // SAFETY: geteuid cannot fail.
        marked.warning = dir_warning(parent, unsafe { libc::geteuid() })?;
    }
    let created = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path);
    match created {
        Ok(mut file) => {
            file.write_all(b"draining\n")?;
            Ok(marked)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = regular_file(path)?;
            let made = meta.modified()?;
            // File times come from the kernel's coarse clock, a tick or so
            // behind SystemTime::now(): an outer graceinit's marker made
            // just after this one started can look older than its start.
            // checked: a planted mtime at the end of time must not panic PID 1.
            if made
                .checked_add(COARSE_CLOCK_SLACK)
                .map_or(true, |made| made >= not_before)
            {
                marked.age = Some(
                    SystemTime::now()
                        .duration_since(made)
                        .unwrap_or(Duration::ZERO),
                );
            }
            Ok(marked)
        }
        Err(e) => Err(e),
    }
}

/// Why a directory is not safe to keep the marker in: anyone else who can
/// replace entries in it can fake or hide the drain.
fn dir_warning(dir: &Path, euid: u32) -> io::Result<Option<String>> {
    let meta = fs::metadata(dir)?;
    let mode = meta.mode();
    let shared = mode & 0o022 != 0 && mode & 0o1000 == 0;
    let owner = meta.uid();
    Ok(if owner != euid && owner != 0 {
        Some(format!(
            "drain marker directory {} belongs to uid {owner}, who can fake or hide the drain",
            dir.display()
        ))
    } else if shared {
        Some(format!(
            "drain marker directory {} is writable by others (mode {:o}, no sticky bit), who can fake or hide the drain",
            dir.display(),
            mode & 0o7777
        ))
    } else {
        None
    })
}

/// The marker's metadata if it is a regular file; otherwise an error that
/// says what is there instead.
fn regular_file(path: &Path) -> io::Result<fs::Metadata> {
    let meta = fs::symlink_metadata(path)?;
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(meta);
    }
    let what = if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else {
        "a FIFO, socket or device"
    };
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{what} is in the way, not a regular file: remove it"),
    ))
}

/// Removes the marker; a missing marker is already the wanted state.
pub fn unmark(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Whether the container is draining: the marker is a regular file. Anything
/// else at its path is an error that says what is wrong, not a drain that
/// never ends.
pub fn is_marked(path: &Path) -> Result<bool, String> {
    match regular_file(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(format!("drain marker {}: {e}", path.display())),
    }
}

/// `graceinit drain [--undo]`: returns the exit code. A closed or broken
/// stdout or stderr changes nothing about it.
pub fn command(undo: bool, path: &Path) -> u8 {
    let result = if undo {
        unmark(path).map(|()| "no longer draining".to_string())
    } else {
        mark(path, SystemTime::UNIX_EPOCH).map(|marked| {
            if let Some(warning) = marked.warning {
                let _ = writeln!(io::stderr(), "graceinit: warn: {warning}");
            }
            "draining".to_string()
        })
    };
    match result {
        Ok(done) => {
            let marker = one_line(&path.display().to_string());
            let _ = writeln!(io::stdout(), "{done}: marker {marker}");
            0
        }
        Err(e) => {
            let line = format!("cannot update drain marker {}: {e}", path.display());
            let _ = writeln!(io::stderr(), "graceinit: {}", one_line(&line));
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir =
            std::env::temp_dir().join(format!("graceinit-drain-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn mark_creates_parents_and_unmark_is_idempotent() {
        let dir = scratch("parents");
        let marker = dir.join("a/b/draining");
        assert_eq!(is_marked(&marker), Ok(false));
        let start = SystemTime::now() - Duration::from_secs(1);
        assert_eq!(mark(&marker, start).unwrap(), Marked::default());
        assert_eq!(is_marked(&marker), Ok(true));
        // Marking again keeps the file and tells its age...
        assert!(mark(&marker, start).unwrap().age.is_some());
        // ... unless it is older than graceinit: a stale marker, no drain.
        let later = SystemTime::now() + Duration::from_secs(60);
        assert_eq!(mark(&marker, later).unwrap().age, None);
        unmark(&marker).unwrap();
        unmark(&marker).unwrap();
        assert_eq!(is_marked(&marker), Ok(false));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_symlink_fifo_or_directory_is_not_a_marker() {
        let dir = scratch("planted");
        fs::create_dir_all(&dir).unwrap();
        let victim = dir.join("victim");
        fs::write(&victim, "secret").unwrap();
        let link = dir.join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(mark(&link, SystemTime::UNIX_EPOCH).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "secret");
        let fifo = dir.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        assert!(mark(&fifo, SystemTime::UNIX_EPOCH).is_err());
        assert!(is_marked(&fifo).unwrap_err().contains("FIFO"));
        let sub = dir.join("sub");
        fs::create_dir(&sub).unwrap();
        assert!(is_marked(&sub).unwrap_err().contains("directory"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn shared_or_foreign_directories_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = scratch("modes");
        fs::create_dir_all(&dir).unwrap();
        let owner = fs::metadata(&dir).unwrap().uid();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(dir_warning(&dir, owner).unwrap().unwrap().contains("777"));
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(dir_warning(&dir, owner).unwrap(), None);
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(dir_warning(&dir, owner).unwrap(), None);
        if owner == 0 {
            let foreign = dir.join("foreign");
            fs::create_dir(&foreign).unwrap();
            std::os::unix::fs::chown(&foreign, Some(1234), None).unwrap();
            assert!(dir_warning(&foreign, 0)
                .unwrap()
                .unwrap()
                .contains("uid 1234"));
        }
        fs::remove_dir_all(dir).unwrap();
    }
}
