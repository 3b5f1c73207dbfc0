//! The erasure sweeper (README, "Files"; docs/ARCHITECTURE.md, "Files"):
//! a background task that, every [`INTERVAL`], expires the files never
//! attached within [`UNATTACHED_TTL`] and those of pruned messages, then
//! empties the durable erasure queue (`file_erasures`): each claimed object
//! is deleted from the storage, then its row, releasing its bytes from the
//! uploader's quota. A claim is a lease: an object whose deletion fails, or
//! whose sweeper dies, is taken again after [`LEASE`]. Several instances
//! may sweep at once; deleting an object twice is harmless, and only one of
//! them deletes its row.

use std::time::Duration;

use tokio::sync::watch;

use super::Files;

/// Between two passes: erasures happen within a minute.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Files never attached to a message are removed this long after upload.
pub const UNATTACHED_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a claimed erasure is left to its sweeper. Short enough that
/// the claims of a sweeper killed mid-pass (a crash, a SIGKILL) are taken
/// again by the next start or another instance within the minute the
/// erasure promises ([`INTERVAL`] + `LEASE` + a pass); a slow deletion
/// taken twice meanwhile is harmless.
const LEASE: Duration = Duration::from_secs(30);
/// Erasures claimed at once.
const CLAIM: i64 = 100;

/// Starts the sweeper; it stops at shutdown.
pub fn start(files: Files, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            if let Err(e) = sweep(&files).await {
                tracing::warn!(error = %e, "file sweeper: pass failed; retrying");
            }
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    });
}

/// One pass: expire, then erase everything due. Returns how many objects
/// were erased.
pub async fn sweep(files: &Files) -> Result<usize, crate::store::StoreError> {
    let now = chrono::Utc::now();
    let ttl = chrono::Duration::from_std(UNATTACHED_TTL).expect("a day fits");
    let expired = files.store.expire_files(now - ttl).await?;
    if expired > 0 {
        tracing::debug!(expired, "file sweeper: files expired");
    }
    let lease = chrono::Duration::from_std(LEASE).expect("minutes fit");
    let mut erased = 0;
    loop {
        let now = chrono::Utc::now();
        let claimed = files.store.claim_erasures(now, now + lease, CLAIM).await?;
        let mut done = Vec::with_capacity(claimed.len());
        for erasure in &claimed {
            match files.storage.delete(&erasure.file_id).await {
                Ok(()) => done.push(erasure.id),
                Err(e) => {
                    tracing::warn!(error = %e, file = %erasure.file_id,
                        "file sweeper: could not delete an object; retrying later");
                }
            }
        }
        if !done.is_empty() {
            files.store.finish_erasures(&done).await?;
        }
        erased += done.len();
        if (claimed.len() as i64) < CLAIM {
            return Ok(erased);
        }
    }
}
