//! Sign-in rate limiting: failures are counted per client address and per user
//! name over a sliding window; past the limit, sign-in is refused for a while.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub(crate) struct LoginLimiter {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    window: Duration,
    max_failures: usize,
    max_keys: usize,
}

impl LoginLimiter {
    pub(crate) fn new(window: Duration, max_failures: usize) -> Self {
        Self {
            failures: Mutex::default(),
            window,
            max_failures: max_failures.max(1),
            max_keys: 10_000,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `Err(retry_after)` when any key has used up its failures.
    pub(crate) fn check(&self, keys: &[String], now: Instant) -> Result<(), Duration> {
        let mut map = self.lock();
        let mut wait = Duration::ZERO;
        for key in keys {
            if let Some(times) = map.get_mut(key) {
                while times
                    .front()
                    .is_some_and(|t| now.saturating_duration_since(*t) >= self.window)
                {
                    times.pop_front();
                }
                if times.len() >= self.max_failures
                    && let Some(oldest) = times.front()
                {
                    wait = wait.max(self.window - now.saturating_duration_since(*oldest));
                }
            }
        }
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    pub(crate) fn fail(&self, keys: &[String], now: Instant) {
        let mut map = self.lock();
        if map.len() >= self.max_keys {
            map.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|t| now.saturating_duration_since(*t) < self.window)
            });
            if map.len() >= self.max_keys {
                map.clear();
            }
        }
        for key in keys {
            let times = map.entry(key.clone()).or_default();
            times.push_back(now);
            while times.len() > self.max_failures {
                times.pop_front();
            }
        }
    }

    /// A successful sign-in clears the user's count (not the address's).
    pub(crate) fn succeed(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_failures_lock_out_for_the_window() {
        let limiter = LoginLimiter::new(Duration::from_secs(60), 3);
        let keys = ["ip:1".to_owned(), "user:alice".to_owned()];
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(limiter.check(&keys, t0).is_ok(), "attempt {i}");
            limiter.fail(&keys, t0 + Duration::from_secs(i));
        }
        let wait = limiter
            .check(&keys, t0 + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(wait, Duration::from_secs(50));
        // Another address trying the same user is refused too; another user from elsewhere is not.
        assert!(
            limiter
                .check(&["ip:2".into(), "user:alice".into()], t0)
                .is_err()
        );
        assert!(
            limiter
                .check(&["ip:2".into(), "user:bob".into()], t0)
                .is_ok()
        );
        // After the window, it may try again.
        assert!(limiter.check(&keys, t0 + Duration::from_secs(62)).is_ok());
        limiter.succeed("user:alice");
        assert!(
            limiter
                .check(&["user:alice".into()], t0 + Duration::from_secs(10))
                .is_ok()
        );
    }
}
