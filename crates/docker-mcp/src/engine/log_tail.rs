//! The bounded buffer `Engine::logs` collects a container's log frames into: it
//! keeps the newest bytes and counts the ones it let go, so a chatty container
//! cannot make docker-mcp hold its whole log in memory.

/// The end of a byte stream, at most twice `keep_bytes` long while it grows and
/// at least the last `keep_bytes` bytes (or all of them) when it is done.
///
/// Public so the fuzz suite (`fuzz/fuzz_targets/log_frames.rs`) can drive it with
/// the frames bollard decodes; nothing else outside `engine` needs it.
#[derive(Debug, Default)]
pub struct LogTail {
    keep_bytes: usize,
    kept: Vec<u8>,
    dropped: usize,
}

impl LogTail {
    pub fn new(keep_bytes: usize) -> Self {
        Self {
            keep_bytes,
            kept: Vec::new(),
            dropped: 0,
        }
    }

    /// Appends one frame's bytes. Drains only once twice the budget is held, so a
    /// stream of small frames is not shifted on every push.
    pub fn push(&mut self, bytes: &[u8]) {
        self.kept.extend_from_slice(bytes);
        if self.kept.len() > self.keep_bytes.saturating_mul(2) {
            let excess = self.kept.len() - self.keep_bytes;
            self.kept.drain(..excess);
            self.dropped += excess;
        }
    }

    /// The kept bytes (the newest ones) and how many bytes before them were dropped.
    pub fn finish(self) -> (Vec<u8>, usize) {
        (self.kept, self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_bytes_and_counts_the_rest() {
        let mut tail = LogTail::new(4);
        for chunk in [&b"abc"[..], b"defg", b"hij"] {
            tail.push(chunk);
        }
        let (kept, dropped) = tail.finish();
        assert_eq!(kept, b"ghij");
        assert_eq!(dropped, 6);
    }

    #[test]
    fn holds_everything_within_twice_the_budget() {
        let mut tail = LogTail::new(4);
        tail.push(b"12345678");
        assert_eq!(tail.finish(), (b"12345678".to_vec(), 0));
    }
}
