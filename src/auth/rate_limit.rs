//! Keyed rate limits (GCRA): at most `limit` events per `period` per key,
//! in a burst or spread out. Used for login attempts per IP and failed logins
//! per username. In memory, per instance; the table is bounded by pruning
//! keys whose state has fully decayed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys above this count trigger a prune of decayed entries.
const PRUNE_THRESHOLD: usize = 10_000;

pub struct RateLimiter {
    period: Duration,
    interval: Duration,
    /// Theoretical arrival time per key.
    tat: Mutex<HashMap<String, Instant>>,
}

impl RateLimiter {
    pub fn new(limit: u32, period: Duration) -> Self {
        let limit = limit.max(1);
        RateLimiter {
            period,
            interval: period / limit,
            tat: Mutex::new(HashMap::new()),
        }
    }

    /// Whether one more event for `key` would exceed the limit; when it
    /// would, how long until it would not. Records nothing.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let map = self.tat.lock().expect("rate limiter lock");
        match map.get(key) {
            Some(&tat) => self.decide(tat.max(now), now).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Records one event for `key`; Err(retry_after) when over the limit
    /// (then nothing is recorded).
    pub fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut map = self.tat.lock().expect("rate limiter lock");
        if map.len() >= PRUNE_THRESHOLD {
            map.retain(|_, tat| *tat > now);
        }
        let tat = map.get(key).copied().unwrap_or(now).max(now);
        let next = self.decide(tat, now)?;
        map.insert(key.to_string(), next);
        Ok(())
    }

    /// Forgets `key` (e.g. failures of a user who then logged in).
    pub fn reset(&self, key: &str) {
        self.tat.lock().expect("rate limiter lock").remove(key);
    }

    fn decide(&self, tat: Instant, now: Instant) -> Result<Instant, Duration> {
        let next = tat + self.interval;
        let allowed_until = now + self.period;
        if next > allowed_until {
            Err(next - allowed_until)
        } else {
            Ok(next)
        }
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
        assert!(rl.check("k", t0).is_err());
        assert!(rl.hit("other", t0).is_ok(), "keys are independent");
        assert!(
            rl.hit("k", t0 + Duration::from_secs(20)).is_ok(),
            "one slot back after 1/3 period"
        );
        rl.reset("k");
        assert!(rl.check("k", t0).is_ok());
    }
}
