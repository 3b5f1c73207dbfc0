//! Blocking on the delivery path (README, "Members, moderation and
//! blocking"): a [`Viewer`] is one user's list of blocked senders, shared
//! by all of that user's connections on this instance (STOMP, SSE, long
//! polls) and kept in step with the database when the list changes on any
//! instance (this service's signal, [`BlocksChanged`]). The hub asks it
//! (as the subscriber's `broker::Audience`) on the fan-out path: an event
//! whose sender the viewer blocks reaches them as a `hidden` placeholder.
//!
//! The check sits on the fan-out path, so a viewer who blocks nobody costs
//! one atomic load per delivery.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use crate::broker::{Audience, DynBroker, Signal};
use crate::store::{DynStore, StoreResult};

/// The users `user_id` blocks changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct BlocksChanged {
    user_id: i64,
}

impl Signal for BlocksChanged {
    const NAME: &'static str = "blocks";
}

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

impl Audience for Viewer {
    fn user_id(&self) -> i64 {
        self.user_id
    }

    fn blocks(&self, sender: &str) -> bool {
        Viewer::blocks(self, sender)
    }
}

/// The viewers of the users connected to this instance.
pub struct Viewers {
    store: DynStore,
    broker: DynBroker,
    live: Mutex<HashMap<i64, Weak<Viewer>>>,
}

impl Viewers {
    /// The service, registered for its signal.
    pub fn start(store: DynStore, broker: DynBroker) -> Arc<Self> {
        let service = Arc::new(Viewers {
            store,
            broker: Arc::clone(&broker),
            live: Mutex::new(HashMap::new()),
        });
        let me = Arc::downgrade(&service);
        broker.signals().handle::<BlocksChanged>(move |changed| {
            let me = me.upgrade()?;
            Some(Box::pin(async move { me.reload(changed.user_id).await }))
        });
        service
    }

    /// The users `user_id` blocks changed: their deliveries follow on
    /// every instance (on this one before this returns).
    pub async fn blocks_changed(&self, user_id: i64) {
        self.broker.signal(BlocksChanged { user_id }).await;
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
    async fn reload(&self, user_id: i64) {
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
