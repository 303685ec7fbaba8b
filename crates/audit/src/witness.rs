//! The witness: an append-only file, meant to live outside the data directory (another
//! disk, another user's directory, a remote mount), that receives the head of the log
//! after every append, so that records cut off the end of the log, or the whole log
//! wiped, are detected even by someone who can rewrite the database and its anchor.
//!
//! Format, one line per append:
//! `ops-copilot-audit-witness v1 <time> <seq> <hash> <seal|->\n`.
//! The seal is the head record's own seal, so with the initial key a verifier also
//! tells a genuine witness line from a forged one.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

const MAGIC: &str = "ops-copilot-audit-witness v1";
/// A valid line is well under this.
const MAX_LINE_BYTES: u64 = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Witnessed {
    pub time: String,
    pub seq: i64,
    pub hash: String,
    pub seal: Option<String>,
}

/// The witness line for `head`, newline included.
pub(crate) fn line(head: &Witnessed) -> String {
    format!(
        "{MAGIC} {} {} {} {}\n",
        head.time,
        head.seq,
        head.hash,
        head.seal.as_deref().unwrap_or("-"),
    )
}

/// Appends one line (one `write`, `O_APPEND`) and syncs it.
pub(crate) fn append(path: &Path, head: &Witnessed) -> io::Result<()> {
    let line = line(head);
    let mut file = OpenOptions::new().append(true).create(true).open(path)?;
    file.write_all(line.as_bytes())?;
    file.sync_data()
}

/// Every line of the witness file: `Ok` for a valid line, `Err(why)` for another.
pub(crate) fn read(path: &Path) -> io::Result<Vec<Result<Witnessed, String>>> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut out = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(out);
        }
        if line.last() != Some(&b'\n') {
            // Too long, or cut short: skip to the end of this line.
            if n as u64 == MAX_LINE_BYTES {
                let mut rest = Vec::new();
                reader.read_until(b'\n', &mut rest)?;
            }
            out.push(Err("not one complete line".to_owned()));
            continue;
        }
        out.push(
            std::str::from_utf8(&line[..line.len() - 1])
                .map_err(|_| "not text".to_owned())
                .and_then(parse),
        );
    }
}

fn parse(line: &str) -> Result<Witnessed, String> {
    let rest = line
        .strip_prefix(MAGIC)
        .and_then(|r| r.strip_prefix(' '))
        .ok_or("it does not start with the witness header")?;
    let fields: Vec<&str> = rest.split(' ').collect();
    let [time, seq, hash, seal] = fields[..] else {
        return Err("it does not have four fields".to_owned());
    };
    let seq: i64 = seq.parse().map_err(|_| "its seq is not a number")?;
    let is_hex64 =
        |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if seq < 0 || !is_hex64(hash) {
        return Err("its seq or hash is malformed".to_owned());
    }
    let seal = match seal {
        "-" => None,
        s if is_hex64(s) => Some(s.to_owned()),
        _ => return Err("its seal is malformed".to_owned()),
    };
    Ok(Witnessed {
        time: time.to_owned(),
        seq,
        hash: hash.to_owned(),
        seal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_bad_lines_are_reported() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("witness");
        let a = Witnessed {
            time: "2024-05-01T12:00:00.000Z".into(),
            seq: 3,
            hash: "ab".repeat(32),
            seal: None,
        };
        let b = Witnessed {
            seq: 9,
            seal: Some("cd".repeat(32)),
            ..a.clone()
        };
        append(&path, &a)?;
        append(&path, &b)?;
        let mut file = OpenOptions::new().append(true).open(&path)?;
        file.write_all(format!("garbage\n{}\nhalf", "x".repeat(2000)).as_bytes())?;
        let lines = read(&path)?;
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(lines[0], Ok(a));
        assert_eq!(lines[1], Ok(b));
        assert!(lines[2..].iter().all(Result::is_err));
        Ok(())
    }
}
