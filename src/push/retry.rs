//! When a push that failed is tried again (README, "Notifications"): after
//! about 1 s, doubling with each attempt, unless the push service said
//! how long to wait (`Retry-After` on a 429 or a 503, RFC 9110 section
//! 10.2.3: seconds or an HTTP date), and then never sooner than that.
//! What it asks for is bounded by [`MAX_RETRY_AFTER`], the retry window,
//! so a service cannot park a row for longer than a push is worth trying.
//! Pure: no clock but the one passed in.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The first retry after a 429, a 5xx or no answer; each retry doubles it.
pub(super) const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait a push service's `Retry-After` gets: the retry window.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The contract's backoff: `FIRST_RETRY` doubled per attempt already made.
pub(super) fn backoff(attempts: i32) -> Duration {
    FIRST_RETRY * 2u32.saturating_pow(attempts.clamp(0, 12) as u32)
}

/// How long the push service asked to wait, if it answered 429 or 503 with
/// a `Retry-After` this server understands (at most [`MAX_RETRY_AFTER`]);
/// a date in the past asks for no wait.
pub(super) fn asked_wait(
    status: StatusCode,
    headers: &HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    if status != StatusCode::TOO_MANY_REQUESTS && status != StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits beyond u64 are a very long wait, not a malformed one.
        Duration::from_secs(value.parse().unwrap_or(u64::MAX))
    } else {
        let at = httpdate::parse_http_date(value).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// The wait before the next try: the backoff, or what the service asked
/// when that is longer.
pub(super) fn next_wait(attempts: i32, asked: Option<Duration>) -> Duration {
    backoff(attempts).max(asked.unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        h
    }

    const NOW: u64 = 1_445_412_480; // Wed, 21 Oct 2015 07:28:00 GMT

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn the_backoff_starts_at_a_second_and_doubles() {
        let waits: Vec<u64> = (0..4).map(|a| backoff(a).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8]);
        assert_eq!(backoff(-3), FIRST_RETRY, "a bad count is the first try");
        assert_eq!(backoff(100), backoff(12), "bounded");
    }

    #[test]
    fn retry_after_in_seconds_or_as_an_http_date() {
        let busy = StatusCode::SERVICE_UNAVAILABLE;
        let limited = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            asked_wait(busy, &with("120"), now()),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            asked_wait(limited, &with(" 7 "), now()),
            Some(Duration::from_secs(7))
        );
        for date in [
            "Wed, 21 Oct 2015 07:29:30 GMT",
            "Wednesday, 21-Oct-15 07:29:30 GMT",
            "Wed Oct 21 07:29:30 2015",
        ] {
            assert_eq!(
                asked_wait(limited, &with(date), now()),
                Some(Duration::from_secs(90)),
                "{date}"
            );
        }
        assert_eq!(
            asked_wait(busy, &with("Wed, 21 Oct 2015 07:00:00 GMT"), now()),
            Some(Duration::ZERO),
            "a date past asks for no wait"
        );
    }

    #[test]
    fn what_a_service_asks_is_bounded_and_only_read_on_429_and_503() {
        let limited = StatusCode::TOO_MANY_REQUESTS;
        assert_eq!(
            asked_wait(limited, &with("86400"), now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            asked_wait(limited, &with("99999999999999999999999"), now()),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            asked_wait(limited, &with("soon"), now()),
            None,
            "not understood"
        );
        assert_eq!(asked_wait(limited, &with("-5"), now()), None);
        assert_eq!(asked_wait(limited, &HeaderMap::new(), now()), None);
        assert_eq!(
            asked_wait(StatusCode::INTERNAL_SERVER_ERROR, &with("30"), now()),
            None,
            "a 500 carries no Retry-After meaning"
        );
    }

    #[test]
    fn the_wait_is_the_longer_of_the_backoff_and_the_ask() {
        assert_eq!(next_wait(0, None), Duration::from_secs(1));
        assert_eq!(
            next_wait(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            next_wait(3, Some(Duration::from_secs(3))),
            Duration::from_secs(8)
        );
        assert_eq!(next_wait(2, Some(Duration::ZERO)), Duration::from_secs(4));
    }
}
