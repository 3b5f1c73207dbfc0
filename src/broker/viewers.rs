//! Whom a delivery is for, as far as blocking goes: a [`Viewer`] is one
//! user's list of blocked senders, shared by all of that user's
//! connections on this instance (STOMP, SSE, long polls) and kept in step
//! with the database when the list changes on any instance (the broker's
//! `Signal::Blocks`). An event whose sender the viewer blocks reaches them
//! as a `hidden` placeholder (README, "Members, moderation and blocking").
//!
//! The check sits on the fan-out path, so a viewer who blocks nobody costs
//! one atomic load per delivery.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use crate::store::{DynStore, StoreResult};

/// One user's blocked senders (canonical usernames).
#[derive(Debug)]
pub struct Viewer {
    pub user_id: i64,
    blocks_anyone: AtomicBool,
    blocked: RwLock<HashSet<String>>,
    /// Serialises reloads: a reload asked for after a change reads the
    /// database after the one before it finished, so the last one wins
    /// with what was committed.
    reloading: tokio::sync::Mutex<()>,
}

impl Viewer {
    /// A viewer who blocks `blocked`, not registered anywhere (tests, and
    /// consumers that need no live updates).
    pub fn new(user_id: i64, blocked: impl IntoIterator<Item = String>) -> Self {
        let viewer = Viewer {
            user_id,
            blocks_anyone: AtomicBool::new(false),
            blocked: RwLock::new(HashSet::new()),
            reloading: tokio::sync::Mutex::new(()),
        };
        viewer.set(blocked.into_iter().collect());
        viewer
    }

    /// Whether events sent by `sender` are hidden from this viewer.
    pub fn blocks(&self, sender: &str) -> bool {
        self.blocks_anyone.load(Ordering::Acquire)
            && self.blocked.read().expect("viewer lock").contains(sender)
    }

    fn set(&self, blocked: HashSet<String>) {
        let any = !blocked.is_empty();
        *self.blocked.write().expect("viewer lock") = blocked;
        self.blocks_anyone.store(any, Ordering::Release);
    }

    async fn reload(&self, store: &DynStore) -> StoreResult<()> {
        let _one_at_a_time = self.reloading.lock().await;
        let names = store.blocked_names(self.user_id).await?;
        self.set(names.into_iter().collect());
        Ok(())
    }
}

/// The viewers of the users connected to this instance.
pub struct Viewers {
    store: DynStore,
    live: Mutex<HashMap<i64, Weak<Viewer>>>,
}

impl Viewers {
    pub fn new(store: DynStore) -> Self {
        Viewers {
            store,
            live: Mutex::new(HashMap::new()),
        }
    }

    /// The viewer of `user_id`: the one their other connections share, or
    /// a new one read from the database. It stays up to date while held.
    pub async fn of(&self, user_id: i64) -> StoreResult<Arc<Viewer>> {
        let (viewer, fresh) = self.get_or_register(user_id);
        if fresh {
            // Registered before reading: a change signalled meanwhile
            // reloads it again after this read.
            viewer.reload(&self.store).await?;
        } else {
            // Its first read may still be under way.
            drop(viewer.reloading.lock().await);
        }
        Ok(viewer)
    }

    /// The live viewer of `user_id`, or a new one registered (true).
    fn get_or_register(&self, user_id: i64) -> (Arc<Viewer>, bool) {
        let mut live = self.live.lock().expect("viewers lock");
        if let Some(viewer) = live.get(&user_id).and_then(Weak::upgrade) {
            return (viewer, false);
        }
        // Now and then, forget the users who are gone.
        if live.len() >= 1024 && live.len().is_power_of_two() {
            live.retain(|_, v| v.strong_count() > 0);
        }
        let viewer = Arc::new(Viewer::new(user_id, []));
        live.insert(user_id, Arc::downgrade(&viewer));
        (viewer, true)
    }

    /// Re-reads the blocked senders of `user_id`, if they are connected here.
    pub async fn reload(&self, user_id: i64) {
        let viewer = self
            .live
            .lock()
            .expect("viewers lock")
            .get(&user_id)
            .and_then(Weak::upgrade);
        if let Some(viewer) = viewer
            && let Err(e) = viewer.reload(&self.store).await
        {
            tracing::warn!(user_id, error = %e, "reloading blocked users failed");
        }
    }
}
