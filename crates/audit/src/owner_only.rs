//! Database files only their owner may read: the audit log and the gateway's
//! state hold who did what, and with what arguments.

use std::path::Path;

/// Creates `path` empty with mode 0600 when it does not exist yet, so that
/// SQLite opens a file only its owner may read (it gives the `-wal` and `-shm`
/// files it makes beside it the same mode). An existing file is left as it is.
pub fn create_owner_only(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(error),
    }
}
