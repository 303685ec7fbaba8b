//! Sign-in limits: an exponential back-off on failed sign-ins (never a lockout),
//! in a table that filling cannot make forget, and a bound on the Argon2 checks
//! running (and waiting) at once.
//!
//! Every attempt is counted as a failure when it starts, so that attempts sent
//! in parallel are counted before their (slow) checks end, and is taken back
//! when it succeeds or is not checked after all. Past `free` failures on a key,
//! each further attempt must wait 2^(failures - free) seconds after the key's
//! last one, up to the key's cap. A key's count is forgotten after an hour
//! without a failure (or four times its cap, when longer).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A count is forgotten after this long without a failure (at least).
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// The time the sign-in limits go by: the system's, or in tests a stopped one
/// that moves only when told.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    stopped: Mutex<Option<Instant>>,
}

impl Clock {
    pub(crate) fn now(&self) -> Instant {
        let stopped = *self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        stopped.unwrap_or_else(Instant::now)
    }

    #[cfg(test)]
    pub(crate) fn stop(&self) {
        *self.stopped.lock().unwrap() = Some(Instant::now());
    }

    #[cfg(test)]
    pub(crate) fn advance(&self, by: Duration) {
        if let Some(now) = self.stopped.lock().unwrap().as_mut() {
            *now += by;
        }
    }
}

/// How a key's failures slow its next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Failures before any wait.
    pub(crate) free: u32,
    /// The longest wait.
    pub(crate) cap: Duration,
}

impl Backoff {
    /// The wait after the last of `failures`: none below `free`, then 1 s,
    /// 2 s, 4 s ... up to `cap`.
    pub(crate) fn wait(self, failures: u32) -> Duration {
        if failures < self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free).min(63);
        Duration::from_secs(1u64 << doublings).min(self.cap)
    }

    /// Whether the back-off has begun: such a count is never dropped to make room.
    fn begun(self, failures: u32) -> bool {
        failures >= self.free
    }

    fn forget_after(self) -> Duration {
        FORGET_AFTER.max(self.cap.saturating_mul(4))
    }
}

/// Failures of one key: how many, and when the last was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count {
    failures: u32,
    last: Instant,
}

impl Count {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            last: now,
        }
    }

    /// How long the next attempt must still wait.
    pub(crate) fn wait_at(&self, backoff: Backoff, now: Instant) -> Duration {
        let wait = backoff.wait(self.failures);
        self.last
            .checked_add(wait)
            .map_or(wait, |until| until.saturating_duration_since(now))
    }

    /// An attempt: counted as a failure until taken back.
    pub(crate) fn fail(&mut self, backoff: Backoff, now: Instant) {
        if self.forgotten_at(backoff, now) {
            self.failures = 0;
        }
        self.failures = self.failures.saturating_add(1);
        self.last = now;
    }

    /// An attempt that succeeded or was not checked: no failure after all.
    pub(crate) fn take_back(&mut self) {
        self.failures = self.failures.saturating_sub(1);
    }

    pub(crate) fn clear(&mut self) {
        self.failures = 0;
    }

    pub(crate) fn is_clear(&self) -> bool {
        self.failures == 0
    }

    fn forgotten_at(&self, backoff: Backoff, now: Instant) -> bool {
        now.saturating_duration_since(self.last) >= backoff.forget_after()
    }
}

/// How the web app throttles untrusted sign-ins.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Failures per address and user name before the back-off begins; an
    /// address alone gets twice as many, a user name from anywhere as many.
    pub(crate) free: u32,
    /// The longest wait of an address, and of an address and user name.
    pub(crate) max_backoff: Duration,
    /// The longest wait of a user name tried from anywhere: short, so that an
    /// attacker guessing it from many addresses slows its owner down without
    /// locking them out.
    pub(crate) name_max_backoff: Duration,
}

/// One thing an attempt is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    id: String,
    backoff: Backoff,
    /// A success clears the count (rather than only taking its own attempt back).
    clear_on_success: bool,
}

/// Why an attempt is refused before it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The back-off of one of its keys: this long still.
    Wait(Duration),
    /// The table is full of keys whose back-off has begun: new keys are refused
    /// rather than any of those forgotten (fail closed).
    Full,
}

/// The key of a client address: IPv4 as it is, IPv6 by its /64 (what one
/// household or one server gets), an IPv4-mapped IPv6 address as IPv4.
pub(crate) fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

#[derive(Debug)]
struct Entry {
    count: Count,
    backoff: Backoff,
}

/// The failed sign-ins of untrusted browsers, per address, per address and
/// user name, and per user name; at most `max_keys` keys.
pub(crate) struct LoginLimiter {
    counts: Mutex<HashMap<String, Entry>>,
    limits: Limits,
    max_keys: usize,
}

impl LoginLimiter {
    pub(crate) fn new(limits: Limits, max_keys: usize) -> Self {
        Self {
            counts: Mutex::default(),
            limits: Limits {
                free: limits.free.max(1),
                ..limits
            },
            max_keys: max_keys.max(3),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The keys of an attempt from `address` (an [`address_key`]): the address
    /// and, for a valid user name, the address and name and the name alone
    /// (case-insensitive, so that `Admin` counts for `admin`).
    pub(crate) fn keys(&self, address: &str, name: Option<&str>) -> Vec<Key> {
        let Limits {
            free,
            max_backoff,
            name_max_backoff,
        } = self.limits;
        let mut keys = vec![Key {
            id: format!("ip:{address}"),
            backoff: Backoff {
                free: free.saturating_mul(2),
                cap: max_backoff,
            },
            clear_on_success: false,
        }];
        if let Some(name) = name {
            let name = name.to_lowercase();
            keys.push(Key {
                id: format!("ip-user:{address} {name}"),
                backoff: Backoff {
                    free,
                    cap: max_backoff,
                },
                clear_on_success: true,
            });
            keys.push(Key {
                id: format!("user:{name}"),
                backoff: Backoff {
                    free,
                    cap: name_max_backoff,
                },
                clear_on_success: false,
            });
        }
        keys
    }

    /// An attempt on `keys`: refused while one of them must wait, or when the
    /// table has no room for the new ones; otherwise counted as a failure on
    /// each (until [`Self::succeeded`] or [`Self::withdraw`]).
    pub(crate) fn begin(&self, keys: &[Key], now: Instant) -> Result<(), Refused> {
        let mut map = self.lock();
        let mut wait = Duration::ZERO;
        for key in keys {
            let Some(entry) = map.get(&key.id) else {
                continue;
            };
            if entry.count.forgotten_at(entry.backoff, now) {
                map.remove(&key.id);
            } else {
                wait = wait.max(entry.count.wait_at(entry.backoff, now));
            }
        }
        if !wait.is_zero() {
            return Err(Refused::Wait(wait));
        }
        let new = keys.iter().filter(|k| !map.contains_key(&k.id)).count();
        if map.len() + new > self.max_keys {
            self.make_room(&mut map, new, keys, now);
            if map.len() + new > self.max_keys {
                return Err(Refused::Full);
            }
        }
        for key in keys {
            let entry = map.entry(key.id.clone()).or_insert_with(|| Entry {
                count: Count::new(now),
                backoff: key.backoff,
            });
            entry.backoff = key.backoff;
            entry.count.fail(key.backoff, now);
        }
        Ok(())
    }

    /// Drops forgotten counts, then the oldest counts whose back-off has not
    /// begun (a tenth of the table at a time), never one of `keep`.
    fn make_room(&self, map: &mut HashMap<String, Entry>, new: usize, keep: &[Key], now: Instant) {
        map.retain(|_, e| !e.count.forgotten_at(e.backoff, now));
        if map.len() + new <= self.max_keys {
            return;
        }
        let mut clean: Vec<(Instant, String)> = map
            .iter()
            .filter(|(id, e)| {
                !e.backoff.begun(e.count.failures) && !keep.iter().any(|k| &k.id == *id)
            })
            .map(|(id, e)| (e.count.last, id.clone()))
            .collect();
        clean.sort_unstable();
        let excess = map.len() + new - self.max_keys;
        let drop = excess.max(self.max_keys / 10).min(clean.len());
        for (_, id) in clean.into_iter().take(drop) {
            map.remove(&id);
        }
    }

    /// The attempt begun on `keys` signed in: it was no failure; the address
    /// and name's count is cleared.
    pub(crate) fn succeeded(&self, keys: &[Key]) {
        self.settle(keys, true);
    }

    /// The attempt begun on `keys` was not checked (no room to check it): it
    /// was no failure.
    pub(crate) fn withdraw(&self, keys: &[Key]) {
        self.settle(keys, false);
    }

    fn settle(&self, keys: &[Key], success: bool) {
        let mut map = self.lock();
        for key in keys {
            if let Some(entry) = map.get_mut(&key.id) {
                if success && key.clear_on_success {
                    entry.count.clear();
                } else {
                    entry.count.take_back();
                }
                if entry.count.is_clear() {
                    map.remove(&key.id);
                }
            }
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// Room for Argon2 checks: at most `running` at once (each takes ~19 MiB and a
/// CPU core for tens to hundreds of milliseconds) and `waiting` more in line;
/// beyond that, a sign-in is refused at once rather than queued.
pub(crate) struct CheckSlots {
    permits: Arc<Semaphore>,
    in_line: Arc<AtomicUsize>,
    limit: usize,
}

/// A place in line for a check (running or waiting); given back when dropped.
pub(crate) struct Ticket {
    permits: Arc<Semaphore>,
    in_line: Arc<AtomicUsize>,
}

/// The right to run a check, held until the check ends (it moves into the
/// blocking task, so that a client that goes away does not free it early).
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
    _ticket: Ticket,
}

impl CheckSlots {
    pub(crate) fn new(running: usize, waiting: usize) -> Self {
        let running = running.max(1);
        Self {
            permits: Arc::new(Semaphore::new(running)),
            in_line: Arc::default(),
            limit: running + waiting,
        }
    }

    /// A place in line, or `None` when `running + waiting` checks are already there.
    pub(crate) fn ticket(&self) -> Option<Ticket> {
        self.in_line
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()?;
        Some(Ticket {
            permits: self.permits.clone(),
            in_line: self.in_line.clone(),
        })
    }
}

impl Ticket {
    /// Waits for one of the running slots (`None` only if the semaphore is closed).
    pub(crate) async fn slot(self) -> Option<Slot> {
        let permit = self.permits.clone().acquire_owned().await.ok()?;
        Some(Slot {
            _permit: permit,
            _ticket: self,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.in_line.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        free: 3,
        max_backoff: Duration::from_secs(900),
        name_max_backoff: Duration::from_secs(30),
    };

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Fails on `keys` as soon as allowed, `times` times; returns when the last was.
    fn hammer(limiter: &LoginLimiter, keys: &[Key], mut now: Instant, times: usize) -> Instant {
        for _ in 0..times {
            match limiter.begin(keys, now) {
                Ok(()) => {}
                Err(Refused::Wait(wait)) => {
                    now += wait;
                    limiter.begin(keys, now).unwrap();
                }
                Err(Refused::Full) => panic!("full"),
            }
        }
        now
    }

    fn wait(limiter: &LoginLimiter, keys: &[Key], now: Instant) -> Duration {
        match limiter.begin(keys, now) {
            Err(Refused::Wait(wait)) => wait,
            other => panic!("not waiting: {other:?}"),
        }
    }

    #[test]
    fn the_backoff_doubles_after_the_free_failures_up_to_its_cap() {
        let backoff = Backoff {
            free: 5,
            cap: secs(900),
        };
        for failures in 0..5 {
            assert_eq!(backoff.wait(failures), Duration::ZERO);
        }
        assert_eq!(backoff.wait(5), secs(1));
        assert_eq!(backoff.wait(6), secs(2));
        assert_eq!(backoff.wait(10), secs(32));
        assert_eq!(backoff.wait(14), secs(512));
        assert_eq!(backoff.wait(15), secs(900));
        assert_eq!(backoff.wait(200), secs(900));
        assert_eq!(backoff.wait(u32::MAX), secs(900));
    }

    #[test]
    fn attempts_wait_longer_and_longer_then_the_count_is_forgotten() {
        let limiter = LoginLimiter::new(LIMITS, 100);
        let keys = limiter.keys("10.0.0.1", Some("alice"));
        let t0 = Instant::now();
        // Counted when they begin: three at once use up the free failures.
        for _ in 0..3 {
            limiter.begin(&keys, t0).unwrap();
        }
        assert_eq!(wait(&limiter, &keys, t0), secs(1));
        let mut waits = Vec::new();
        let mut now = t0;
        for _ in 0..12 {
            let w = wait(&limiter, &keys, now);
            waits.push(w.as_secs());
            now += w;
            limiter.begin(&keys, now).unwrap();
        }
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]);
        // An attacker at the cap is never forgotten ...
        assert_eq!(wait(&limiter, &keys, now + secs(899)), secs(1));
        // ... but an hour without a failure forgets.
        assert!(limiter.begin(&keys, now + secs(3600)).is_ok());
        assert!(limiter.begin(&keys, now + secs(3600)).is_ok());
    }

    #[test]
    fn a_success_is_no_failure_and_clears_the_address_and_names_count() {
        let limiter = LoginLimiter::new(LIMITS, 100);
        let keys = limiter.keys("10.0.0.1", Some("alice"));
        let t0 = Instant::now();
        limiter.begin(&keys, t0).unwrap();
        limiter.begin(&keys, t0).unwrap();
        limiter.begin(&keys, t0).unwrap();
        limiter.succeeded(&keys);
        // Two failures stay on the address (of 6 free) and on the name (of 3
        // free); none on the address and name.
        limiter.begin(&keys, t0).unwrap();
        assert_eq!(
            wait(&limiter, &keys, t0),
            secs(1),
            "the name's third failure"
        );
        // An attempt that was not checked counts for nothing.
        let other = limiter.keys("10.0.0.2", Some("bob"));
        for _ in 0..10 {
            limiter.begin(&other, t0).unwrap();
            limiter.withdraw(&other);
        }
        assert!(limiter.begin(&other, t0).is_ok());
    }

    #[test]
    fn an_attacker_on_one_address_does_not_stop_the_owner_on_another() {
        let limiter = LoginLimiter::new(LIMITS, 100);
        let attacker = limiter.keys("203.0.113.9", Some("admin"));
        let t0 = Instant::now();
        let now = hammer(&limiter, &attacker, t0, 20);
        let attacker_wait = wait(&limiter, &attacker, now);
        assert!(attacker_wait >= secs(512), "{attacker_wait:?}");
        // The name's own back-off is capped low: the owner waits 30 s at most
        // (and not at all with a browser that signed in before: see devices).
        let owner = limiter.keys("192.168.1.20", Some("ADMIN"));
        let owner_wait = wait(&limiter, &owner, now);
        assert!(owner_wait <= secs(30), "{owner_wait:?}");
        limiter.begin(&owner, now + owner_wait).unwrap();
        limiter.succeeded(&owner);
        // Meanwhile the attacker still waits.
        assert!(wait(&limiter, &attacker, now + owner_wait) >= secs(480));
        // Another user, even from the attacker's address, waits as long as the
        // address (the address guesses too).
        let other = limiter.keys("203.0.113.9", Some("bob"));
        assert!(wait(&limiter, &other, now) >= secs(512));
    }

    #[test]
    fn filling_the_table_never_forgets_a_throttled_key() {
        let limiter = LoginLimiter::new(LIMITS, 30);
        let t0 = Instant::now();
        let attacker = limiter.keys("203.0.113.9", Some("admin"));
        let now = hammer(&limiter, &attacker, t0, 8);
        let before = wait(&limiter, &attacker, now);
        assert!(before >= secs(16), "{before:?}");
        // Many addresses with one failure each (clean keys): the oldest of
        // them make room, the attacker's keys stay.
        for i in 0..200 {
            let keys = limiter.keys(&format!("10.1.{}.{}", i / 256, i % 256), None);
            limiter.begin(&keys, now + secs(1)).unwrap();
            assert!(limiter.len() <= 30);
        }
        assert_eq!(wait(&limiter, &attacker, now), before);
        // Keys whose back-off has begun are all kept: once the table is full
        // of them, new keys are refused (and the old ones still wait).
        let mut refused = 0;
        for i in 0..40 {
            let keys = limiter.keys(&format!("10.2.0.{i}"), None);
            for _ in 0..6 {
                if limiter.begin(&keys, now + secs(2)) == Err(Refused::Full) {
                    refused += 1;
                    break;
                }
            }
        }
        assert!(refused > 0);
        assert_eq!(limiter.len(), 30);
        assert_eq!(
            limiter.begin(&limiter.keys("10.3.0.1", None), now + secs(3)),
            Err(Refused::Full)
        );
        assert!(wait(&limiter, &attacker, now + secs(3)) > Duration::ZERO);
        // An hour without a failure forgets them, and that makes room.
        assert!(
            limiter
                .begin(&limiter.keys("10.3.0.1", None), now + secs(4000))
                .is_ok()
        );
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_prefix() {
        let key = |s: &str| address_key(Some(s.parse().unwrap()));
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:bbbb::9"), key("2001:db8:1:2::1"));
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        assert_eq!(address_key(None), "unknown");
    }

    #[test]
    fn checks_beyond_the_running_and_waiting_ones_are_refused_at_once() {
        use std::future::Future;
        use std::task::{Context, Poll, Waker};

        let slots = CheckSlots::new(2, 1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let first = runtime.block_on(slots.ticket().unwrap().slot()).unwrap();
        let second = runtime.block_on(slots.ticket().unwrap().slot()).unwrap();
        let third = slots.ticket().expect("one may wait");
        assert!(
            slots.ticket().is_none(),
            "the line is full: refused at once"
        );

        let mut waiting = std::pin::pin!(third.slot());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        drop(first);
        let Poll::Ready(Some(third)) = waiting.as_mut().poll(&mut cx) else {
            panic!("a slot was freed");
        };
        // The first check's place is free again: one more may wait.
        let fourth = slots.ticket().expect("a place again");
        assert!(slots.ticket().is_none());
        drop((second, third, fourth));
        let all: Vec<_> = (0..3).map(|_| slots.ticket().unwrap()).collect();
        assert!(slots.ticket().is_none());
        drop(all);
        assert!(slots.ticket().is_some());
    }
}
