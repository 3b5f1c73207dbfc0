//! A connection's clocks: the CONNECT deadline, the heart-beats it sends and
//! expects, and the token's expiry. Each is an optional deadline; a disarmed
//! one is a future that never resolves ([`until`]), so the select loop needs
//! no sentinel times.
//!
//! Timers only say when something is due; what happens then (an ERROR, a
//! heart-beat EOL, closing) is decided by the session and the connection.

use std::time::Duration;

use tokio::time::Instant;

use crate::auth::jwt::now_secs;
use crate::session::HeartBeat;

/// How soon to look again when the expiry timer fired but the session (by
/// whole seconds) does not consider the token expired yet.
const EXPIRY_RECHECK: Duration = Duration::from_millis(200);

/// Resolves at `deadline`; never, when there is none.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// A repeating deadline.
#[derive(Clone, Copy)]
struct Every {
    period: Duration,
    next: Instant,
}

impl Every {
    fn starting_now(period: Duration) -> Self {
        Every {
            period,
            next: Instant::now() + period,
        }
    }
}

pub struct Timers {
    connect: Option<Instant>,
    send_beat: Option<Every>,
    expect_beat: Option<Every>,
    expiry: Option<Instant>,
    /// When the client was last heard from (any WebSocket message).
    last_received: Instant,
}

impl Timers {
    pub fn new(connect_timeout: Duration) -> Self {
        Timers {
            connect: Some(Instant::now() + connect_timeout),
            send_beat: None,
            expect_beat: None,
            expiry: None,
            last_received: Instant::now(),
        }
    }

    /// The session opened: the CONNECT deadline is disarmed, the agreed
    /// heart-beats start now, and the session ends at `expires_at` (unix
    /// seconds).
    pub fn opened(&mut self, heart_beat: HeartBeat, expires_at: i64) {
        let every = |ms: u64| (ms > 0).then(|| Every::starting_now(Duration::from_millis(ms)));
        self.connect = None;
        self.send_beat = every(heart_beat.send_every_ms);
        self.expect_beat = every(heart_beat.expect_every_ms);
        let left = (expires_at - now_secs()).max(0) as u64;
        self.expiry = Some(Instant::now() + Duration::from_secs(left));
    }

    pub fn connect_deadline(&self) -> Option<Instant> {
        self.connect
    }

    pub fn connect_deadline_passed(&mut self) {
        self.connect = None;
    }

    pub fn expiry(&self) -> Option<Instant> {
        self.expiry
    }

    /// The expiry timer fired early by the session's clock: look again soon.
    pub fn recheck_expiry(&mut self) {
        self.expiry = Some(Instant::now() + EXPIRY_RECHECK);
    }

    pub fn next_beat(&self) -> Option<Instant> {
        self.send_beat.map(|e| e.next)
    }

    /// A heart-beat is due now; the next one is one period later.
    pub fn beat_sent(&mut self) {
        if let Some(e) = &mut self.send_beat {
            e.next = Instant::now() + e.period;
        }
    }

    pub fn next_check(&self) -> Option<Instant> {
        self.expect_beat.map(|e| e.next)
    }

    pub fn heard_from_client(&mut self) {
        self.last_received = Instant::now();
    }

    /// The expected heart-beat check is due: true when the client has been
    /// silent for more than two periods. `reading` is false while the
    /// connection does not read the socket by choice: the client's
    /// heart-beats then wait there, unseen, and do not count as missed.
    pub fn client_silent(&mut self, reading: bool) -> bool {
        let Some(e) = &mut self.expect_beat else {
            return false;
        };
        e.next = Instant::now() + e.period;
        if !reading {
            self.last_received = Instant::now();
            return false;
        }
        self.last_received.elapsed() > e.period * 2
    }
}
