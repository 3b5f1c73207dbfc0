//! Keyed rate limits (GCRA): at most `limit` events per `period` per key,
//! in a burst or spread out. Used for login attempts and signups per client
//! address, failed logins per username and sends per user. In memory, per
//! instance.
//!
//! The table is bounded: a key whose state has fully decayed is forgotten
//! (it is equivalent to an absent key), found cheaply through an index
//! ordered by decay time, and when `capacity` live keys are held the one
//! closest to decaying is dropped to make room. Every operation is
//! O(log n), however many keys a client rotates through.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Live keys kept per limiter unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 100_000;

pub struct RateLimiter {
    period: Duration,
    interval: Duration,
    capacity: usize,
    table: Mutex<Table>,
}

/// Theoretical arrival time (TAT) per key, and the same pairs ordered by TAT
/// so decayed keys are found from the front.
#[derive(Default)]
struct Table {
    tat: HashMap<Arc<str>, Instant>,
    by_tat: BTreeSet<(Instant, Arc<str>)>,
}

impl Table {
    fn get(&self, key: &str) -> Option<Instant> {
        self.tat.get(key).copied()
    }

    /// Drops every key whose TAT is not after `now`.
    fn prune(&mut self, now: Instant) {
        while let Some((tat, _)) = self.by_tat.first()
            && *tat <= now
        {
            let (_, key) = self.by_tat.pop_first().expect("first exists");
            self.tat.remove(&key);
        }
    }

    fn set(&mut self, key: &str, tat: Instant, now: Instant, capacity: usize) {
        let key: Arc<str> = match self.tat.get_key_value(key) {
            Some((k, old)) => {
                let k = Arc::clone(k);
                self.by_tat.remove(&(*old, Arc::clone(&k)));
                k
            }
            None => {
                self.prune(now);
                if self.tat.len() >= capacity
                    && let Some((_, evicted)) = self.by_tat.pop_first()
                {
                    self.tat.remove(&evicted);
                }
                Arc::from(key)
            }
        };
        if tat > now {
            self.by_tat.insert((tat, Arc::clone(&key)));
            self.tat.insert(key, tat);
        } else {
            self.tat.remove(&key);
        }
    }
}

impl RateLimiter {
    pub fn new(limit: u32, period: Duration) -> Self {
        Self::with_capacity(limit, period, DEFAULT_CAPACITY)
    }

    /// A limiter that holds at most `capacity` keys.
    pub fn with_capacity(limit: u32, period: Duration, capacity: usize) -> Self {
        let limit = limit.max(1);
        RateLimiter {
            period,
            interval: period / limit,
            capacity: capacity.max(1),
            table: Mutex::new(Table::default()),
        }
    }

    /// Keys currently held (decayed ones may still be counted until the
    /// next write prunes them).
    pub fn len(&self) -> usize {
        self.lock().tat.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Records one event for `key` if the limit allows it now;
    /// Err(retry_after) otherwise (then nothing is recorded).
    pub fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        match self.reserve(key, now, Duration::ZERO) {
            Ok(_) => Ok(()),
            Err(retry) => Err(retry),
        }
    }

    /// Records one event for `key` at the earliest moment the limit allows
    /// it, if that is at most `max_wait` away: Ok(how long the caller must
    /// wait before acting; zero when it may act now). Err(retry_after) when
    /// it is further away; then nothing is recorded. Events reserved by
    /// concurrent callers are counted before any of them acts, so no burst
    /// of callers can exceed the limit.
    pub fn reserve(
        &self,
        key: &str,
        now: Instant,
        max_wait: Duration,
    ) -> Result<Duration, Duration> {
        let mut table = self.lock();
        let tat = table.get(key).unwrap_or(now).max(now);
        let wait = self.wait(tat, now).unwrap_or(Duration::ZERO);
        if wait > max_wait {
            return Err(wait);
        }
        table.set(key, tat + self.interval, now, self.capacity);
        Ok(wait)
    }

    /// Gives back one event recorded for `key` (an attempt that turned out
    /// not to count, e.g. a login that succeeded).
    pub fn refund(&self, key: &str, now: Instant) {
        let mut table = self.lock();
        if let Some(tat) = table.get(key) {
            let tat = tat.checked_sub(self.interval).unwrap_or(now);
            table.set(key, tat, now, self.capacity);
        }
    }

    /// How long after `now` one more event fits, given the key's TAT
    /// (None: it fits now).
    fn wait(&self, tat: Instant, now: Instant) -> Option<Duration> {
        let next = tat + self.interval;
        let allowed_until = now + self.period;
        (next > allowed_until).then(|| next - allowed_until)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().expect("rate limiter lock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_limit_then_refuses_then_recovers() {
        let rl = RateLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.hit("k", t0).is_ok());
        }
        let retry = rl.hit("k", t0).unwrap_err();
        assert!(
            retry <= Duration::from_secs(20) && retry > Duration::ZERO,
            "{retry:?}"
        );
        assert!(rl.hit("k", t0).is_err(), "a refused hit records nothing");
        assert!(rl.hit("other", t0).is_ok(), "keys are independent");
        assert!(
            rl.hit("k", t0 + Duration::from_secs(20)).is_ok(),
            "one slot back after 1/3 period"
        );
    }

    #[test]
    fn reservations_queue_at_the_rate_and_stop_at_max_wait() {
        // Burst 5, then one per 100 ms.
        let rl = RateLimiter::new(5, Duration::from_millis(500));
        let t0 = Instant::now();
        let max = Duration::from_secs(1);
        let mut waits = Vec::new();
        while let Ok(w) = rl.reserve("u", t0, max) {
            waits.push(w);
            assert!(waits.len() <= 100, "reservations must stop");
        }
        assert_eq!(waits.len(), 5 + 10, "burst plus max_wait × rate");
        assert!(waits[..5].iter().all(|w| w.is_zero()));
        for (i, w) in waits[5..].iter().enumerate() {
            let want = Duration::from_millis(100 * (i as u64 + 1));
            assert!(w.abs_diff(want) < Duration::from_millis(1), "{i}: {w:?}");
        }
        let retry = rl.reserve("u", t0, max).unwrap_err();
        assert!(retry > max, "refused reservations are not recorded");
        assert_eq!(rl.reserve("u", t0, max), Err(retry));
        assert!(rl.hit("u", t0).is_err(), "hit sees the reservations");
    }

    #[test]
    fn refund_gives_back_one_event() {
        let rl = RateLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        rl.hit("k", t0).unwrap();
        rl.hit("k", t0).unwrap();
        assert!(rl.hit("k", t0).is_err());
        rl.refund("k", t0);
        assert!(rl.hit("k", t0).is_ok(), "the refunded slot is free again");
        rl.refund("k", t0);
        rl.refund("k", t0);
        rl.refund("k", t0);
        assert!(rl.is_empty(), "a key refunded to nothing is forgotten");
        rl.refund("absent", t0);
        assert!(rl.is_empty());
    }

    #[test]
    fn decayed_keys_are_pruned() {
        let rl = RateLimiter::new(10, Duration::from_secs(1));
        let t0 = Instant::now();
        for i in 0..1000 {
            rl.hit(&format!("k{i}"), t0).unwrap();
        }
        assert_eq!(rl.len(), 1000);
        // Each key decays 100 ms after its single event.
        rl.hit("late", t0 + Duration::from_millis(150)).unwrap();
        assert_eq!(rl.len(), 1, "every decayed key is gone");
    }

    #[test]
    fn the_table_never_exceeds_its_capacity() {
        let rl = RateLimiter::with_capacity(3, Duration::from_secs(60), 100);
        let t0 = Instant::now();
        rl.hit("victim", t0).unwrap();
        rl.hit("victim", t0).unwrap();
        rl.hit("victim", t0).unwrap();
        for i in 0..10_000u32 {
            let now = t0 + Duration::from_micros(u64::from(i));
            rl.hit(&format!("rotating-{i}"), now).unwrap();
            assert!(rl.len() <= 100);
        }
        assert!(
            rl.hit("victim", t0 + Duration::from_millis(20)).is_err(),
            "the key with the most recorded is the last to be dropped"
        );
    }
}
