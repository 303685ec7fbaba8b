//! Sealing: a keyed MAC (HMAC-SHA256) over each record's hash, under a key that
//! evolves one way (forward sealing).
//!
//! Epochs are fixed by position: record `seq` belongs to epoch `(seq - 1) / 16`
//! ([`EPOCH_RECORDS`]), so a verifier knows which key must have sealed every record
//! and nobody can move a record into a later epoch. The key of epoch `e + 1` is
//! `HMAC(k_e, "ops-copilot-audit/next-epoch/v1")`; record `seq` of epoch `e` carries
//! `seal = hex(HMAC(k_e, "ops-copilot-audit/seal/v1" 0x00 e 0x00 hash))`. The log's key
//! file holds only the key of the epoch of the *next* record; once a batch is
//! committed, the key for the record after it replaces the file (atomically, synced)
//! and earlier keys are forgotten, so whoever reads the key file later cannot seal
//! records of earlier epochs. The initial key, kept by the operator away from the
//! machine, re-derives every later epoch key and so checks every seal.
//!
//! Key file format, one line:
//! `ops-copilot-audit-key v1 <epoch> <first sealed seq> <64 hex digits>\n`; the first
//! sealed seq is where sealing began (records before it were written before the log
//! had a key) and is carried along unchanged. A file holding just the 64 hex digits
//! (and optionally a newline) is read as the key of epoch 0, sealing from record 1.

use crate::error::AuditError;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

const KEY_MAGIC: &str = "ops-copilot-audit-key v1";
const SEAL_DOMAIN: &[u8] = b"ops-copilot-audit/seal/v1";
const NEXT_EPOCH: &[u8] = b"ops-copilot-audit/next-epoch/v1";
/// A key file is well under this.
const MAX_KEY_FILE_BYTES: u64 = 256;

/// Records per epoch: a thief of the key file can re-seal at most the records of the
/// epoch it was taken in, that is fewer than this many records before the theft.
/// Part of the format: a verifier derives each record's epoch from its seq with it.
pub const EPOCH_RECORDS: i64 = 16;

/// Furthest a verifier derives keys ahead of the previous sealed record's epoch. A
/// real log advances one epoch per [`EPOCH_RECORDS`] records; a forged seq must not
/// make `verify` derive keys for hours.
pub const MAX_EPOCH_GAP: i64 = 1 << 24;

/// The epoch record `seq` belongs to (`seq` < 1 counts as 1).
pub fn epoch_of(seq: i64) -> i64 {
    (seq.max(1) - 1) / EPOCH_RECORDS
}

/// One epoch's sealing key. `Debug` does not show the key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealKey {
    epoch: i64,
    /// The first record sealed under this key chain: records from here on must be
    /// sealed; records before it were written before the log had a key.
    first_seq: i64,
    key: [u8; 32],
}

impl fmt::Debug for SealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealKey")
            .field("epoch", &self.epoch)
            .field("first_seq", &self.first_seq)
            .field("key", &"<secret>")
            .finish()
    }
}

impl Drop for SealKey {
    fn drop(&mut self) {
        // Best effort: copies made by moves are not reached.
        self.key = [0; 32];
    }
}

fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes keys of any length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl SealKey {
    /// A fresh random initial key for a log whose next record is `first_seq`: the key
    /// of that record's epoch.
    pub fn generate(first_seq: i64) -> Result<Self, AuditError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| {
            AuditError::Key(format!("no randomness from the operating system: {e}"))
        })?;
        let first_seq = first_seq.max(1);
        Ok(Self {
            epoch: epoch_of(first_seq),
            first_seq,
            key,
        })
    }

    /// The epoch this key seals.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// The first record sealed under this key chain.
    pub fn first_seq(&self) -> i64 {
        self.first_seq
    }

    /// The key in hex: a secret. For showing the initial key to the operator once.
    pub fn secret_hex(&self) -> String {
        hex::encode(self.key)
    }

    /// The key file's text for this key (a secret).
    pub fn file_text(&self) -> String {
        format!(
            "{KEY_MAGIC} {} {} {}\n",
            self.epoch,
            self.first_seq,
            self.secret_hex()
        )
    }

    /// Reads a key file, or a file holding only the 64 hex digits of an epoch-0 key.
    pub fn read_file(path: &Path) -> Result<Self, AuditError> {
        let bad = |why: String| AuditError::Key(format!("key file {}: {why}", path.display()));
        let file = File::open(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
        let mut text = String::new();
        file.take(MAX_KEY_FILE_BYTES)
            .read_to_string(&mut text)
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        Self::parse(&text).map_err(bad)
    }

    /// Parses a key file's text (see the module docs).
    pub fn parse(text: &str) -> Result<Self, String> {
        let line = text
            .strip_suffix('\n')
            .unwrap_or(text)
            .trim_end_matches('\r');
        let (epoch, first_seq, key_hex) = match line.strip_prefix(KEY_MAGIC) {
            Some(rest) => {
                let fields: Vec<&str> = rest
                    .strip_prefix(' ')
                    .ok_or("it does not follow the key file format")?
                    .split(' ')
                    .collect();
                let [epoch, first_seq, key_hex] = fields[..] else {
                    return Err("it does not have three fields".to_owned());
                };
                let epoch: i64 = epoch.parse().map_err(|_| "its epoch is not a number")?;
                let first_seq: i64 = first_seq
                    .parse()
                    .map_err(|_| "its first sealed seq is not a number")?;
                if epoch < 0 || first_seq < 1 || epoch < epoch_of(first_seq) {
                    return Err("its epoch or first sealed seq is out of range".to_owned());
                }
                (epoch, first_seq, key_hex)
            }
            None => (0, 1, line.trim()),
        };
        let mut key = [0u8; 32];
        if key_hex.len() != 64 || hex::decode_to_slice(key_hex, &mut key).is_err() {
            return Err("the key is not 64 hex digits".to_owned());
        }
        Ok(Self {
            epoch,
            first_seq,
            key,
        })
    }

    /// The key of the next epoch.
    pub fn next(&self) -> Self {
        Self {
            epoch: self.epoch.saturating_add(1),
            first_seq: self.first_seq,
            key: hmac(&self.key, &[NEXT_EPOCH]),
        }
    }

    /// Moves this key forward to `epoch` (no-op when already there). False when
    /// `epoch` is behind this key, or more than [`MAX_EPOCH_GAP`] ahead of it.
    pub fn advance_to(&mut self, epoch: i64) -> bool {
        if epoch < self.epoch || epoch - self.epoch > MAX_EPOCH_GAP {
            return false;
        }
        while self.epoch < epoch {
            *self = self.next();
        }
        true
    }

    /// `hex(HMAC(k_e, SEAL_DOMAIN 0 epoch 0 hash))`: the seal of a record with this
    /// hash in this key's epoch.
    pub fn seal(&self, hash: &str) -> String {
        let epoch = self.epoch.to_string();
        hex::encode(hmac(
            &self.key,
            &[SEAL_DOMAIN, b"\0", epoch.as_bytes(), b"\0", hash.as_bytes()],
        ))
    }

    /// Constant-time comparison of a stored seal with this key's seal of `hash`.
    pub(crate) fn check(&self, hash: &str, seal: &str) -> bool {
        let mut stored = [0u8; 32];
        if seal.len() != 64 || hex::decode_to_slice(seal, &mut stored).is_err() {
            return false;
        }
        let epoch = self.epoch.to_string();
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .expect("HMAC-SHA256 takes keys of any length");
        for part in [SEAL_DOMAIN, b"\0", epoch.as_bytes(), b"\0", hash.as_bytes()] {
            mac.update(part);
        }
        mac.verify_slice(&stored).is_ok()
    }
}

/// Creates a key file at `path` holding a fresh initial key for a log whose next
/// record is `first_seq` (mode 0600; refuses to replace an existing file) and returns
/// that key, for the operator to keep elsewhere: it is the only way to check every
/// seal later, and the log replaces the file's key as its epochs pass.
pub fn create_key_file(path: &Path, first_seq: i64) -> Result<SealKey, AuditError> {
    let key = SealKey::generate(first_seq)?;
    let err = |e: io::Error| AuditError::Key(format!("cannot create {}: {e}", path.display()));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(err)?;
    file.write_all(key.file_text().as_bytes()).map_err(err)?;
    file.sync_all().map_err(err)?;
    crate::anchor::sync_parent_dir(path).map_err(err)?;
    Ok(key)
}

/// Replaces the key file with `key`: temp file (0600), fsync, rename, directory fsync.
pub(crate) fn replace_key_file(path: &Path, key: &SealKey) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        file.write_all(key.file_text().as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        crate::anchor::sync_parent_dir(path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k0() -> SealKey {
        SealKey::parse(&"11".repeat(32)).unwrap()
    }

    #[test]
    fn the_derivation_is_pinned() {
        // If this changes, no existing seal verifies: bump the domains instead.
        let k1 = k0().next();
        assert_eq!(k1.epoch, 1);
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&[0x11; 32]).unwrap();
        mac.update(b"ops-copilot-audit/next-epoch/v1");
        assert_eq!(k1.key.as_slice(), mac.finalize().into_bytes().as_slice());
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&k1.key).unwrap();
        mac.update(b"ops-copilot-audit/seal/v1\x001\x00abc");
        assert_eq!(k1.seal("abc"), hex::encode(mac.finalize().into_bytes()));
    }

    #[test]
    fn epochs_are_fixed_by_position() {
        assert_eq!(
            [0, 1, 16, 17, 32, 33].map(epoch_of),
            [0, 0, 0, 1, 1, 2],
            "records 1..=16 are epoch 0"
        );
    }

    #[test]
    fn seals_depend_on_key_epoch_and_hash() {
        let a = k0();
        let b = a.next();
        assert_ne!(a.seal("h"), b.seal("h"));
        assert_ne!(a.seal("h"), a.seal("i"));
        assert!(a.check("h", &a.seal("h")));
        assert!(!b.check("h", &a.seal("h")));
        assert!(!a.check("h", "zz"));
        let mut c = k0();
        assert!(c.advance_to(3));
        assert_eq!(c, a.next().next().next());
        assert!(!c.advance_to(2));
        assert!(!c.advance_to(3 + MAX_EPOCH_GAP + 1));
    }

    #[test]
    fn key_files_parse_and_round_trip() {
        let k = k0().next().next();
        assert_eq!(SealKey::parse(&k.file_text()).unwrap(), k);
        assert_eq!(
            SealKey::parse(&format!("{}\n", "11".repeat(32))).unwrap(),
            k0()
        );
        let key = "11".repeat(32);
        assert!(SealKey::parse(&format!("{KEY_MAGIC} 2 33 {key}\n")).is_ok());
        for bad in [
            String::new(),
            "11".repeat(31),
            format!("{KEY_MAGIC} -1 1 {key}\n"),
            format!("{KEY_MAGIC} x 1 {key}\n"),
            format!("{KEY_MAGIC} 1 0 {key}\n"),
            // Epoch 1 cannot seal from record 40 (epoch 2) on.
            format!("{KEY_MAGIC} 1 40 {key}\n"),
            format!("{KEY_MAGIC} 1 {key}\n"),
            format!("{KEY_MAGIC} 1\n"),
        ] {
            assert!(SealKey::parse(&bad).is_err(), "{bad:?}");
        }
        assert!(!format!("{k:?}").contains(&"11".repeat(4)));
    }

    #[test]
    fn a_key_file_is_created_once_and_replaced_atomically() -> Result<(), AuditError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let k = create_key_file(&path, 40)?;
        assert_eq!((k.epoch(), k.first_seq()), (2, 40));
        assert_eq!(SealKey::read_file(&path)?, k);
        assert!(create_key_file(&path, 1).is_err());
        replace_key_file(&path, &k.next()).unwrap();
        assert_eq!(SealKey::read_file(&path)?, k.next());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        Ok(())
    }
}
