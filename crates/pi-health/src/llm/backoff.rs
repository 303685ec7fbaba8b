//! After the model fails, the chat leaves it alone for a while: a model that is
//! down or too slow should not add its timeout to every message.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long the model is skipped after a failure.
pub(crate) const DEFAULT_PAUSE: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub(crate) struct Backoff {
    pause: Duration,
    until: Mutex<Option<Instant>>,
}

impl Backoff {
    pub(crate) fn new(pause: Duration) -> Self {
        Self {
            pause,
            until: Mutex::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.until.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Ok` when the model may be asked, else how long it is still skipped.
    pub(crate) fn ready(&self) -> Result<(), Duration> {
        self.ready_at(Instant::now())
    }

    fn ready_at(&self, now: Instant) -> Result<(), Duration> {
        match *self.lock() {
            Some(until) if now < until => Err(until - now),
            _ => Ok(()),
        }
    }

    pub(crate) fn failed(&self) {
        self.failed_at(Instant::now());
    }

    fn failed_at(&self, now: Instant) {
        *self.lock() = Some(now + self.pause);
    }

    pub(crate) fn succeeded(&self) {
        *self.lock() = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_pauses_the_model() {
        let backoff = Backoff::new(Duration::from_secs(30));
        let t0 = Instant::now();
        assert_eq!(backoff.ready_at(t0), Ok(()));
        backoff.failed_at(t0);
        assert_eq!(
            backoff.ready_at(t0 + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );
        assert_eq!(backoff.ready_at(t0 + Duration::from_secs(30)), Ok(()));
        backoff.failed_at(t0);
        backoff.succeeded();
        assert_eq!(backoff.ready_at(t0), Ok(()));
    }
}
