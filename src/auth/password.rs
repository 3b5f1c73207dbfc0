//! Argon2id password hashing with OWASP's recommended parameters
//! (m = 19 MiB, t = 2, p = 1), always on the blocking pool, and bounded:
//! [`Hashing`] runs at most `PASSWORD_HASH_CONCURRENCY` hashes at once and
//! lets at most `PASSWORD_HASH_QUEUE` more wait, so the memory hashing takes
//! never exceeds about (concurrency + queue) × 19 MiB however many signups
//! and logins arrive together.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::telemetry::spawn_blocking_with_tracing;

fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hash of a random password, verified against when the user does not exist
/// so that an unknown user costs the same time as a wrong password.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        hasher()
            .hash_password(uuid::Uuid::new_v4().as_bytes(), &salt)
            .expect("hash dummy password")
            .to_string()
    })
}

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is taken and the queue is full: try again soon.
    #[error("too many password hashes waiting")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// The bounded hashing pool shared by signup and login.
pub struct Hashing {
    permits: Arc<Semaphore>,
    waiting: AtomicUsize,
    queue: usize,
    /// Hashes started (including dummy verifications), for tests and
    /// diagnostics.
    started: AtomicU64,
}

impl Hashing {
    /// At most `concurrency` hashes at once, at most `queue` waiting.
    pub fn new(concurrency: usize, queue: usize) -> Self {
        Hashing {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            waiting: AtomicUsize::new(0),
            queue,
            started: AtomicU64::new(0),
        }
    }

    /// How many hashes this pool has started.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// A hashing slot: immediately if one is free, after waiting in the
    /// queue if it has room, else `Busy`.
    async fn slot(&self) -> Result<OwnedSemaphorePermit, HashError> {
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Ok(permit);
        }
        // Count ourselves in before waiting, so concurrent arrivals cannot
        // all see room in the queue.
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(HashError::Busy);
        }
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let _waiting = Waiting(&self.waiting);
        Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|e| HashError::Failed(e.to_string()))
    }

    /// Runs `work` on the blocking pool holding a slot. The slot moves into
    /// the blocking task: a request given up by its client still holds it
    /// until the hash it started is done.
    async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<R, HashError> + Send + 'static,
    ) -> Result<R, HashError> {
        let permit = self.slot().await?;
        self.started.fetch_add(1, Ordering::Relaxed);
        spawn_blocking_with_tracing(move || {
            let _permit = permit;
            work()
        })
        .await
        .map_err(|e| HashError::Failed(e.to_string()))?
    }

    /// Hashes `password` into a PHC string.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move || {
            let salt = SaltString::generate(&mut rand::rngs::OsRng);
            hasher()
                .hash_password(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(|e| HashError::Failed(e.to_string()))
        })
        .await
    }

    /// Verifies `password` against `stored` (or against the dummy hash when
    /// `stored` is None, and then always false): the same cost and the same
    /// bound either way.
    pub async fn verify(
        &self,
        password: String,
        stored: Option<String>,
    ) -> Result<bool, HashError> {
        self.run(move || {
            let known = stored.is_some();
            let phc = stored.unwrap_or_else(|| dummy_hash().to_string());
            let parsed = PasswordHash::new(&phc).map_err(|e| HashError::Failed(e.to_string()))?;
            let ok = hasher()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok();
            Ok(ok && known)
        })
        .await
    }
}

/// Computes the dummy hash ahead of the first login.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_then_verify() {
        let pool = Hashing::new(2, 4);
        let h = pool.hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(
            pool.verify("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!pool.verify("wrong horse".into(), Some(h)).await.unwrap());
        assert!(!pool.verify("anything".into(), None).await.unwrap());
        assert_eq!(pool.started(), 4);
    }

    #[tokio::test]
    async fn beyond_concurrency_and_queue_is_busy() {
        let pool = Arc::new(Hashing::new(1, 2));
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let pool = Arc::clone(&pool);
                tokio::spawn(async move { pool.verify("x".repeat(8), None).await })
            })
            .collect();
        let mut busy = 0;
        let mut done = 0;
        for t in tasks {
            match t.await.unwrap() {
                Err(HashError::Busy) => busy += 1,
                Ok(false) => done += 1,
                other => panic!("{other:?}"),
            }
        }
        assert!(done >= 3, "one running and two queued get through: {done}");
        assert!(busy >= 1, "the rest are busy");
        assert_eq!(busy + done, 10);
        assert_eq!(pool.started(), done as u64);
    }
}
