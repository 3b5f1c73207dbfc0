//! Who is online (README, "Read markers, unread counts, typing and
//! presence"): a user is online while they hold at least one WebSocket
//! (after CONNECTED) or event stream on any instance. Each change is
//! announced to the user's rooms (a `presence` activity signal), by every
//! instance to its own subscribers.
//!
//! The service owns this instance's view ([`Roster`], pure state), its
//! signal ([`PresenceChanged`]: a user's first connection on an instance
//! opened or their last one closed) and, with Redis, the instances'
//! presence sets ([`sets`]), which outlive a signal missed and tell when
//! an instance died without a word.

mod roster;
mod sets;

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::broker::{DynBroker, Signal};
use crate::store::DynStore;
use crate::views::Activity;
use roster::{Change, Roster};
use sets::Sets;

/// How often an instance renews its presence set and looks at the others'.
const PRESENCE_EVERY: Duration = Duration::from_secs(10);

/// `user_id` came online on `instance` (their first connection there
/// opened) or went offline there (their last one closed).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct PresenceChanged {
    instance: String,
    user_id: i64,
    username: String,
    online: bool,
}

impl Signal for PresenceChanged {
    const NAME: &'static str = "presence";
}

/// The presence service of this instance.
pub struct Presence {
    roster: Roster,
    store: DynStore,
    broker: DynBroker,
    /// What the presence sets must hear of (with Redis only).
    sets: Option<mpsc::UnboundedSender<ForSets>>,
}

enum ForSets {
    /// A user's first connection here opened, or their last one closed.
    Moved(i64, String, bool),
    /// Signals may have been missed: read every instance's set whole.
    Missed,
}

/// Keeps its user online while held (a WebSocket after CONNECTED, an event
/// stream).
pub struct PresenceGuard {
    presence: Arc<Presence>,
    user_id: i64,
    username: String,
}

impl Drop for PresenceGuard {
    fn drop(&mut self) {
        let moved = self.presence.roster.depart(self.user_id, &self.username);
        self.presence
            .moved(self.user_id, &self.username, false, moved);
    }
}

impl Presence {
    /// The service, registered for its signal; with Redis, its presence
    /// set is kept and the others' read.
    pub fn start(store: DynStore, broker: DynBroker) -> Arc<Self> {
        let instance = uuid::Uuid::new_v4().simple().to_string();
        let (sets_tx, sets_rx) = mpsc::unbounded_channel();
        let sets = broker
            .redis()
            .map(|redis| Sets::new(redis.clone(), &instance));
        let service = Arc::new(Presence {
            roster: Roster::new(instance),
            store,
            broker: Arc::clone(&broker),
            sets: sets.is_some().then_some(sets_tx),
        });
        let me = Arc::downgrade(&service);
        broker.signals().handle::<PresenceChanged>(move |s| {
            let me = me.upgrade()?;
            let change = me
                .roster
                .remote(&s.instance, s.user_id, &s.username, s.online);
            me.announce(change.into_iter().collect());
            None
        });
        if let Some(sets) = sets {
            tokio::spawn(keep_sets(sets, Arc::downgrade(&service), sets_rx));
            let me = Arc::downgrade(&service);
            broker.signals().on_missed(move || {
                if let Some(tx) = Weak::upgrade(&me).and_then(|me| me.sets.clone()) {
                    let _ = tx.send(ForSets::Missed);
                }
            });
        }
        service
    }

    /// `user_id` opened a connection here: online until the guard drops.
    pub fn arrive(self: &Arc<Self>, user_id: i64, username: &str) -> PresenceGuard {
        let moved = self.roster.arrive(user_id, username);
        self.moved(user_id, username, true, moved);
        PresenceGuard {
            presence: Arc::clone(self),
            user_id,
            username: username.to_string(),
        }
    }

    /// Whether `user_id` is online on any instance.
    pub fn is_online(&self, user_id: i64) -> bool {
        self.roster.is_online(user_id)
    }

    fn moved(&self, user_id: i64, username: &str, online: bool, moved: roster::Local) {
        if moved.here
            && let Some(sets) = &self.sets
        {
            let _ = sets.send(ForSets::Moved(user_id, username.to_string(), online));
        }
        if let Some(change) = moved.anywhere {
            self.announce(vec![change]);
        }
    }

    /// Tells the rooms of each user whose presence changed, on this
    /// instance (every instance announces to its own subscribers): one
    /// query per user for their rooms, however many they are in.
    fn announce(&self, changes: Vec<Change>) {
        if changes.is_empty() {
            return;
        }
        let store = self.store.clone();
        let hub = Arc::clone(self.broker.hub());
        tokio::spawn(async move {
            for change in changes {
                let rooms = match store.room_ids_of(change.user_id).await {
                    Ok(rooms) => rooms,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading a user's rooms for presence failed");
                        continue;
                    }
                };
                let activity = Activity::Presence {
                    user: change.username.clone(),
                    online: change.online,
                };
                for room_id in rooms {
                    hub.deliver_activity(room_id, &activity);
                }
            }
        });
    }
}

/// Keeps this instance's presence set and watches the others': each change
/// here is written at once and then signalled (so an instance that hears
/// of another finds its set); every [`PRESENCE_EVERY`] the set is renewed,
/// the users of an instance whose set expired (killed without shutting
/// down) go offline, and an instance seen for the first time (or every
/// instance, after Redis or the signals were away) is read whole.
async fn keep_sets(
    mut sets: Sets,
    presence: Weak<Presence>,
    mut notes: mpsc::UnboundedReceiver<ForSets>,
) {
    let mut tick = tokio::time::interval(PRESENCE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reread_all = true;
    loop {
        tokio::select! {
            note = notes.recv() => {
                let Some(note) = note else { return };
                let Some(presence) = presence.upgrade() else { return };
                match note {
                    ForSets::Moved(user_id, username, online) => {
                        sets.moved(user_id, &username, online).await;
                        let signal = PresenceChanged {
                            instance: presence.roster.instance.clone(),
                            user_id,
                            username,
                            online,
                        };
                        presence.broker.signal(signal).await;
                    }
                    ForSets::Missed => reread_all = true,
                }
            }
            _ = tick.tick() => {
                let Some(presence) = presence.upgrade() else { return };
                if sets.connect().await.is_err() {
                    reread_all = true;
                    continue;
                }
                let roster = &presence.roster;
                // Known before the scan: an instance signals only after
                // writing its set, so one heard of by now has its set in it.
                let known = roster.instances();
                let read = |i: &str| i != roster.instance && (reread_all || !known.contains(i));
                match sets.sweep(&roster.local_users(), read).await {
                    Ok(swept) => {
                        reread_all = false;
                        let mut changes = Vec::new();
                        for gone in known.difference(&swept.alive) {
                            tracing::info!(instance = %gone, "an instance's presence expired; its users are offline");
                            changes.extend(roster.forget(gone));
                        }
                        for (instance, users) in swept.sets {
                            changes.extend(roster.replace(&instance, users));
                        }
                        presence.announce(changes);
                    }
                    Err(_) => {
                        tracing::warn!("presence sweep failed; retrying");
                        reread_all = true;
                    }
                }
            }
        }
    }
}
