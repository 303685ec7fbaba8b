//! The head anchor: a sidecar file `<db>.head` holding the last record's seq and hash,
//! so that cutting records off the end of the database is detected.
//!
//! Format, one line: `ops-copilot-audit-head v1 <seq> <hash>\n`.
//! Written atomically: temp file in the same directory, fsync, rename over the old one,
//! fsync the directory (so the rename itself survives a power cut).
//!
//! An append does it in two halves around its commit: [`stage`] (the temp file,
//! synced) before the commit, [`Staged::publish`] (rename, directory sync) after it.
//! A writer stopped between the two (a crash, `SIGKILL`) leaves a database one
//! batch ahead of the anchor *and* a staged file naming exactly the database's new
//! head, which [`read_staged`] finds so that verification can tell an interrupted
//! append from records appended behind the log's back. (Forging that file takes the
//! same access as rewriting the anchor itself.)

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: &str = "ops-copilot-audit-head v1";
/// A valid anchor is well under this; reading more would only serve a hostile file.
const MAX_ANCHOR_BYTES: u64 = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Anchor {
    pub seq: i64,
    pub hash: String,
}

/// What was found at the anchor path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AnchorState {
    Missing,
    Invalid(String),
    Present(Anchor),
}

/// `<db>.head`, next to the database.
pub(crate) fn anchor_path(db: &Path) -> PathBuf {
    let mut name = OsString::from(db.as_os_str());
    name.push(".head");
    PathBuf::from(name)
}

/// Writes `anchor` in place at once (both halves).
pub(crate) fn write(path: &Path, anchor: &Anchor) -> io::Result<()> {
    stage(path, anchor)?.publish()
}

/// An anchor written and synced next to the current one, not yet in place. Dropped
/// without [`publish`](Self::publish), its file is removed.
#[derive(Debug)]
pub(crate) struct Staged {
    tmp: PathBuf,
    path: PathBuf,
    published: bool,
}

/// The first half of an update: `<path>.tmp.<pid>.<n>`, written and synced.
pub(crate) fn stage(path: &Path, anchor: &Anchor) -> io::Result<Staged> {
    // Unique per process and call: two processes appending to one log must not share
    // a temp file (their anchors may still race; see `verify`).
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut tmp = staged_prefix(path);
    tmp.push(format!(
        "{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let staged = Staged {
        tmp: PathBuf::from(tmp),
        path: path.to_owned(),
        published: false,
    };
    // On error `staged` is dropped, which removes what was written.
    let mut file = File::create(&staged.tmp)?;
    file.write_all(format!("{MAGIC} {} {}\n", anchor.seq, anchor.hash).as_bytes())?;
    file.sync_all()?;
    Ok(staged)
}

impl Staged {
    /// The second half: rename over the anchor, then sync the directory.
    pub(crate) fn publish(mut self) -> io::Result<()> {
        fs::rename(&self.tmp, &self.path)?;
        self.published = true;
        sync_parent_dir(&self.path)
    }
}

impl Drop for Staged {
    fn drop(&mut self) {
        if !self.published {
            // Best effort: a stale temp file is harmless, only untidy.
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// `<path>.tmp.`: how staged files are named.
fn staged_prefix(path: &Path) -> OsString {
    let mut prefix = OsString::from(path.as_os_str());
    prefix.push(".tmp.");
    prefix
}

/// Staged files at most looked at: a hostile directory must not make verify slow.
const MAX_STAGED: usize = 64;

/// Valid anchors in staged files next to `path` (updates not, or not yet, put in place).
pub(crate) fn read_staged(path: &Path) -> Vec<Anchor> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let mut prefix = name.to_os_string();
    prefix.push(".tmp.");
    let prefix = prefix.as_encoded_bytes();
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().as_encoded_bytes().starts_with(prefix))
        .take(MAX_STAGED)
        .filter_map(|e| match read(&e.path()) {
            AnchorState::Present(anchor) => Some(anchor),
            _ => None,
        })
        .collect()
}

#[cfg(unix)]
pub(crate) fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
pub(crate) fn sync_parent_dir(_path: &Path) -> io::Result<()> {
    // Directories cannot be opened for fsync on this platform; the rename is still
    // atomic, only its durability across a power cut is weaker.
    Ok(())
}

pub(crate) fn read(path: &Path) -> AnchorState {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return AnchorState::Missing,
        Err(e) => return AnchorState::Invalid(format!("cannot read it: {e}")),
    };
    let mut text = String::new();
    if let Err(e) = file.take(MAX_ANCHOR_BYTES).read_to_string(&mut text) {
        return AnchorState::Invalid(format!("cannot read it: {e}"));
    }
    parse(&text).map_or_else(AnchorState::Invalid, AnchorState::Present)
}

fn parse(text: &str) -> Result<Anchor, String> {
    let line = text
        .strip_suffix('\n')
        .ok_or("it is not one complete line")?;
    let rest = line
        .strip_prefix(MAGIC)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or("it does not start with the anchor header")?;
    let (seq, hash) = rest.split_once(' ').ok_or("it has no hash")?;
    let seq: i64 = seq
        .parse()
        .map_err(|_| "its sequence number is not a number")?;
    if seq < 0 || hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err("its sequence number or hash is malformed".to_owned());
    }
    Ok(Anchor {
        seq,
        hash: hash.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = anchor_path(&dir.path().join("audit.db"));
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some("audit.db.head")
        );
        assert_eq!(read(&path), AnchorState::Missing);
        let a = Anchor {
            seq: 7,
            hash: "ab".repeat(32),
        };
        write(&path, &a)?;
        assert_eq!(read(&path), AnchorState::Present(a.clone()));
        // Overwrite, and no temp file is left behind.
        let b = Anchor {
            seq: 8,
            hash: "cd".repeat(32),
        };
        write(&path, &b)?;
        assert_eq!(read(&path), AnchorState::Present(b));
        assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }

    #[test]
    fn a_staged_anchor_is_found_until_published_and_removed_if_dropped() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = anchor_path(&dir.path().join("audit.db"));
        let a = Anchor {
            seq: 3,
            hash: "ef".repeat(32),
        };
        let staged = stage(&path, &a)?;
        assert_eq!(read(&path), AnchorState::Missing);
        assert_eq!(read_staged(&path), vec![a.clone()]);
        drop(staged);
        assert!(read_staged(&path).is_empty());
        assert_eq!(fs::read_dir(dir.path())?.count(), 0);
        stage(&path, &a)?.publish()?;
        assert_eq!(read(&path), AnchorState::Present(a));
        assert!(read_staged(&path).is_empty());
        Ok(())
    }

    #[test]
    fn malformed_anchors_are_reported() {
        let h = "ab".repeat(32);
        for bad in [
            String::new(),
            format!("{MAGIC} 7 {h}"),
            format!("other 7 {h}\n"),
            format!("{MAGIC} x {h}\n"),
            format!("{MAGIC} -1 {h}\n"),
            format!("{MAGIC} 7 {}\n", "AB".repeat(32)),
            format!("{MAGIC} 7 abc\n"),
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
        assert!(parse(&format!("{MAGIC} 0 {h}\n")).is_ok());
    }

    #[test]
    fn a_failed_write_is_an_error_and_leaves_no_temp_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = anchor_path(&dir.path().join("audit.db"));
        // A non-empty directory where the anchor goes: rename fails, even for root.
        fs::create_dir(&path)?;
        fs::write(path.join("keep"), b"x")?;
        let a = Anchor {
            seq: 1,
            hash: "ab".repeat(32),
        };
        assert!(write(&path, &a).is_err());
        assert_eq!(fs::read_dir(dir.path())?.count(), 1);
        Ok(())
    }
}
