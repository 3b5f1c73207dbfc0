//! The send-rate hold: a SEND over the user's send-rate bucket is held back,
//! not refused, and the connection handles no further frame until the
//! bucket has refilled for it (so the client's order is kept).
//!
//! It owns the held frame and the time to resume; it does not decide what a
//! held SEND becomes at shutdown (the connection's ending does).

use std::time::Instant as StdInstant;

use tokio::time::Instant;

use crate::auth::rate_limit::RateLimiter;
use crate::stomp::{ClientCommand, ClientFrame};

#[derive(Default)]
pub struct SendRateHold {
    held: Option<ClientFrame>,
    resume_at: Option<Instant>,
}

impl SendRateHold {
    /// The held SEND, to try again once its time has come.
    pub fn take(&mut self) -> Option<ClientFrame> {
        self.held.take()
    }

    /// Lets `frame` through unless it is a SEND over `user`'s bucket; then
    /// it is held until the bucket refills and None is returned.
    pub fn admit(
        &mut self,
        frame: ClientFrame,
        limiter: Option<&RateLimiter>,
        user: Option<i64>,
    ) -> Option<ClientFrame> {
        if frame.command != ClientCommand::Send {
            return Some(frame);
        }
        let (Some(limiter), Some(user)) = (limiter, user) else {
            return Some(frame);
        };
        match limiter.hit(&user.to_string(), StdInstant::now()) {
            Ok(()) => Some(frame),
            Err(wait) => {
                crate::metrics::rate_limited("send");
                self.held = Some(frame);
                self.resume_at = Some(Instant::now() + wait);
                None
            }
        }
    }

    /// While set, frames wait.
    pub fn resume_at(&self) -> Option<Instant> {
        self.resume_at
    }

    pub fn resume(&mut self) {
        self.resume_at = None;
    }

    /// The receipt the held SEND asked for, dropping it (shutdown).
    pub fn abandon(&mut self) -> Option<Option<String>> {
        self.resume_at = None;
        self.held
            .take()
            .map(|f| f.header("receipt").map(str::to_string))
    }
}
