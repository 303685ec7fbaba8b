//! The head anchor: a sidecar file `<db>.head` holding the last record's seq and hash,
//! so that cutting records off the end of the database is detected.
//!
//! Format, one line: `ops-copilot-audit-head v1 <seq> <hash>\n`.
//! Written atomically: temp file in the same directory, fsync, rename over the old one,
//! fsync the directory (so the rename itself survives a power cut).

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

pub(crate) fn write(path: &Path, anchor: &Anchor) -> io::Result<()> {
    // Unique per process and call: two processes appending to one log must not share
    // a temp file (their anchors may still race; see `verify`).
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut tmp = OsString::from(path.as_os_str());
    tmp.push(format!(
        ".tmp.{}.{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = PathBuf::from(tmp);
    let result = write_then_rename(&tmp, path, anchor);
    if result.is_err() {
        // Best effort: a stale temp file is harmless, only untidy.
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn write_then_rename(tmp: &Path, path: &Path, anchor: &Anchor) -> io::Result<()> {
    let mut file = File::create(tmp)?;
    file.write_all(format!("{MAGIC} {} {}\n", anchor.seq, anchor.hash).as_bytes())?;
    file.sync_all()?;
    drop(file);
    fs::rename(tmp, path)?;
    sync_parent_dir(path)
}

#[cfg(unix)]
fn sync_parent_dir(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent_dir(_path: &Path) -> io::Result<()> {
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
