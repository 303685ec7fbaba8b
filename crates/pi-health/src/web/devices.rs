//! Browsers that signed in before (OWASP's "device cookies"): a successful
//! sign-in gives the browser a random token in a long-lived cookie, good for
//! that user only. Its next sign-ins as that user are throttled on the token
//! alone, not on the address or the user name, so an attacker guessing the
//! user's password (from anywhere, or from behind the same proxy) slows only
//! browsers that never signed in as that user, and a stolen token still gets
//! the back-off.
//!
//! In memory: a restart forgets them (the next sign-in is throttled as an
//! untrusted one, and trusts the browser again). At most `per_user` per user
//! and `max` in all; tokens are only made by successful sign-ins.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::ratelimit::{Backoff, Count};
use crate::ids;

struct Device {
    user: String,
    last_used: Instant,
    failures: Count,
}

pub(crate) struct Devices {
    map: Mutex<HashMap<String, Device>>,
    backoff: Backoff,
    /// A token unused this long is forgotten.
    lifetime: Duration,
    per_user: usize,
    max: usize,
}

impl Devices {
    pub(crate) fn new(backoff: Backoff, lifetime: Duration, per_user: usize, max: usize) -> Self {
        Self {
            map: Mutex::default(),
            backoff,
            lifetime,
            per_user: per_user.max(1),
            max: max.max(1),
        }
    }

    pub(crate) fn lifetime(&self) -> Duration {
        self.lifetime
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Device>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn alive(&self, device: &Device, now: Instant) -> bool {
        now.saturating_duration_since(device.last_used) < self.lifetime
    }

    /// An attempt to sign in as `user` with `token`: `None` when that is no
    /// live token of `user` (the attempt is an untrusted one); refused while
    /// its back-off runs (`Err(wait)`); otherwise counted as a failure until
    /// [`Self::succeeded`] or [`Self::withdraw`].
    pub(crate) fn begin(
        &self,
        token: &str,
        user: &str,
        now: Instant,
    ) -> Option<Result<(), Duration>> {
        let mut map = self.lock();
        let device = map
            .get_mut(token)
            .filter(|d| d.user == user && self.alive(d, now))?;
        let wait = device.failures.wait_at(self.backoff, now);
        if !wait.is_zero() {
            return Some(Err(wait));
        }
        device.failures.fail(self.backoff, now);
        Some(Ok(()))
    }

    /// The attempt with `token` signed in: its failures are cleared and its
    /// lifetime starts again.
    pub(crate) fn succeeded(&self, token: &str, now: Instant) {
        if let Some(device) = self.lock().get_mut(token) {
            device.failures.clear();
            device.last_used = now;
        }
    }

    /// The attempt with `token` was not checked: it was no failure.
    pub(crate) fn withdraw(&self, token: &str) {
        if let Some(device) = self.lock().get_mut(token) {
            device.failures.take_back();
        }
    }

    /// A new token for `user`, who just signed in; the user's least recently
    /// used token goes when they have `per_user`, the least recently used of
    /// all when there are `max`.
    pub(crate) fn issue(&self, user: &str, now: Instant) -> Result<String, ids::NoRandomness> {
        let token = ids::random_hex(32)?;
        let mut map = self.lock();
        map.retain(|_, d| self.alive(d, now));
        let mut own: Vec<(Instant, String)> = map
            .iter()
            .filter(|(_, d)| d.user == user)
            .map(|(t, d)| (d.last_used, t.clone()))
            .collect();
        if own.len() >= self.per_user {
            own.sort_unstable();
            for (_, old) in own.iter().take(own.len() + 1 - self.per_user) {
                map.remove(old);
            }
        }
        while map.len() >= self.max {
            let Some(oldest) = map
                .iter()
                .min_by_key(|(_, d)| d.last_used)
                .map(|(t, _)| t.clone())
            else {
                break;
            };
            map.remove(&oldest);
        }
        map.insert(
            token.clone(),
            Device {
                user: user.to_owned(),
                last_used: now,
                failures: Count::new(now),
            },
        );
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `token` is a live token of `user` (counting an attempt).
    fn trusts(devices: &Devices, token: &str, user: &str, now: Instant) -> bool {
        devices.begin(token, user, now).is_some()
    }

    fn devices(per_user: usize, max: usize) -> Devices {
        Devices::new(
            Backoff {
                free: 2,
                cap: Duration::from_secs(900),
            },
            Duration::from_secs(3600),
            per_user,
            max,
        )
    }

    #[test]
    fn a_token_is_trusted_for_its_user_while_used() {
        let devices = devices(3, 10);
        let t0 = Instant::now();
        let token = devices.issue("alice", t0).unwrap();
        assert_eq!(token.len(), 64);
        assert_eq!(devices.begin(&token, "bob", t0), None);
        assert_eq!(devices.begin("made-up", "alice", t0), None);
        let later = t0 + Duration::from_secs(3000);
        assert_eq!(devices.begin(&token, "alice", later), Some(Ok(())));
        devices.succeeded(&token, later);
        assert!(trusts(
            &devices,
            &token,
            "alice",
            later + Duration::from_secs(3000)
        ));
        assert!(!trusts(
            &devices,
            &token,
            "alice",
            later + Duration::from_secs(3600)
        ));
    }

    #[test]
    fn a_token_has_its_own_backoff() {
        let devices = devices(3, 10);
        let t0 = Instant::now();
        let token = devices.issue("alice", t0).unwrap();
        let at = |s| t0 + Duration::from_secs(s);
        let begin = |s| devices.begin(&token, "alice", at(s)).unwrap();
        begin(0).unwrap();
        begin(0).unwrap();
        assert_eq!(begin(0), Err(Duration::from_secs(1)));
        begin(1).unwrap();
        assert_eq!(begin(1), Err(Duration::from_secs(2)));
        devices.withdraw(&token);
        assert_eq!(begin(1), Err(Duration::from_secs(1)));
        devices.succeeded(&token, at(2));
        assert_eq!(begin(2), Ok(()));
    }

    #[test]
    fn a_user_keeps_their_newest_tokens_and_cannot_push_out_anothers() {
        let devices = devices(2, 5);
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        let bob = devices.issue("bob", at(0)).unwrap();
        let a1 = devices.issue("alice", at(1)).unwrap();
        let a2 = devices.issue("alice", at(2)).unwrap();
        let a3 = devices.issue("alice", at(3)).unwrap();
        assert!(
            !trusts(&devices, &a1, "alice", at(4)),
            "alice's oldest went"
        );
        assert!(trusts(&devices, &a2, "alice", at(4)));
        assert!(trusts(&devices, &a3, "alice", at(4)));
        for s in 5..20 {
            devices.issue("alice", at(s)).unwrap();
        }
        assert!(trusts(&devices, &bob, "bob", at(20)));
    }
}
