//! The drain marker: a file whose presence makes `graceinit health` fail, so
//! load balancers stop routing here while the app still serves.

use std::fs;
use std::io;
use std::path::Path;

/// Creates the marker and its parent directories.
pub fn mark(path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::write(path, b"draining\n")
}

/// Removes the marker; a missing marker is already the wanted state.
pub fn unmark(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

pub fn is_marked(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// `graceinit drain [--undo]`: returns the exit code.
pub fn command(undo: bool, path: &Path) -> u8 {
    let (result, done) = if undo {
        (unmark(path), "no longer draining")
    } else {
        (mark(path), "draining")
    };
    match result {
        Ok(()) => {
            println!("{done}: marker {}", path.display());
            0
        }
        Err(e) => {
            eprintln!(
                "graceinit: cannot update drain marker {}: {e}",
                path.display()
            );
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mark_creates_parents_and_unmark_is_idempotent() {
        let dir = std::env::temp_dir().join(format!("graceinit-drain-{}", std::process::id()));
        let marker = dir.join("a/b/draining");
        assert!(!is_marked(&marker));
        mark(&marker).unwrap();
        assert!(is_marked(&marker));
        unmark(&marker).unwrap();
        unmark(&marker).unwrap();
        assert!(!is_marked(&marker));
        fs::remove_dir_all(dir).unwrap();
    }
}
