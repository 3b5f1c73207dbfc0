//! Logins ended (README, "Accounts": sessions, password change): when a
//! user signs a session out, changes or resets their password, or an
//! administrator acts on the account, [`Logins::end`] ends those logins
//! everywhere: their refresh tokens are revoked in the store, their access
//! tokens refused from then on, and their live STOMP sessions (ERROR
//! `session revoked`), event streams and long polls end, on every instance.
//!
//! The service owns the record of ended logins that every authentication
//! asks ([`Logins::refuses`]: the REST extractor, STOMP CONNECT) and its
//! signal, [`LoginsEnded`]. A login's access tokens were all issued before
//! it ended and live at most `JWT_TTL_SECS`, so an entry is kept that long
//! (and a little more, for the `iat` skew the tokens allow): the record is
//! bounded by the logins ended in one access-token lifetime. It is read
//! from the store when the instance starts and again after the relay was
//! away (a signal may have been missed meanwhile), like `revocation.rs`.
//!
//! Connections wait on a [`LoginWatch`]: the service keeps each live
//! login's watches and wakes only those of a login it ends. A watch is the
//! connection's own one-shot channel, so the connection's loop polls
//! nothing another connection touches (no shared lock or waiter list on
//! the delivery path).
//!
//! It also keeps a session's "last active" time (`last_used_at`) moving
//! while the login is used, coalesced like the read markers: an access
//! token's use ([`Logins::used`], from every authentication) only notes
//! the login in memory, and a task writes the noted logins, and those with
//! a live connection (a [`LoginWatch`]), once per `SESSION_ACTIVITY_SECS`
//! in one transaction. A login is written at most once per interval per
//! instance, and never on a request's path.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::broker::{DynBroker, Signal};
use crate::store::{DynStore, StoreResult};
pub use crate::store::{EndLogins, Login, LoginId};

/// Beyond an access token's lifetime, how long an ended login is still
/// remembered: a token may say it was issued up to 60 s in the future
/// (`auth/jwt.rs`).
const SKEW: Duration = Duration::from_secs(60);
/// Logins noted as used between two writes at most; past it a use is not
/// noted (the login's next use after the write is).
const USED_MAX: usize = 65_536;
/// Logins whose `last_used_at` is moved per transaction at most.
const USED_BATCH: usize = 1024;

/// These logins of `user_id` were ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct LoginsEnded {
    user_id: i64,
    logins: Vec<LoginId>,
}

impl Signal for LoginsEnded {
    const NAME: &'static str = "logins_ended";
}

/// The login service of this instance.
pub struct Logins {
    broker: DynBroker,
    store: DynStore,
    /// How long an ended login's access tokens may still be presented.
    keep: Duration,
    /// Each ended login, and when this instance learnt of it.
    ended: RwLock<HashMap<LoginId, Instant>>,
    /// Which logins were used since the last write of `last_used_at`, and
    /// the live connections' watches.
    usage: Mutex<Usage>,
}

/// The logins used since the last write, and the live connections (open
/// [`LoginWatch`]es) of each login.
#[derive(Default)]
struct Usage {
    used: BTreeSet<LoginId>,
    live: HashMap<LoginId, Vec<Live>>,
    /// The id of the next watch.
    next: u64,
}

/// One open [`LoginWatch`]: the service's end of its channel.
struct Live {
    id: u64,
    end: oneshot::Sender<()>,
}

impl Usage {
    /// The logins to write: those used, then those with a live connection.
    fn take(&mut self) -> Vec<LoginId> {
        let mut logins = std::mem::take(&mut self.used);
        logins.extend(self.live.keys().copied());
        logins.into_iter().collect()
    }
}

impl Logins {
    /// The service, registered for its signal (and for the relay's
    /// "signals may have been missed"). `access_ttl`: `JWT_TTL_SECS`;
    /// `activity`: how often used logins' `last_used_at` is written
    /// (`SESSION_ACTIVITY_SECS`).
    pub fn start(
        store: DynStore,
        broker: DynBroker,
        access_ttl: Duration,
        activity: Duration,
    ) -> Arc<Self> {
        let service = Arc::new(Logins {
            broker: Arc::clone(&broker),
            store,
            keep: access_ttl + SKEW,
            ended: RwLock::new(HashMap::new()),
            usage: Mutex::new(Usage::default()),
        });
        tokio::spawn(write_usage(Arc::downgrade(&service), activity));
        let me = Arc::downgrade(&service);
        broker.signals().handle::<LoginsEnded>(move |ended| {
            if let Some(me) = me.upgrade() {
                me.apply(&ended.logins);
            }
            None
        });
        let me: Weak<Self> = Arc::downgrade(&service);
        broker.signals().on_missed(move || {
            if let Some(me) = me.upgrade() {
                tokio::spawn(async move {
                    if let Err(e) = me.reload().await {
                        tracing::warn!(error = %e, "rereading ended logins failed");
                    }
                });
            }
        });
        service
    }

    /// Ends `which` of the user's logins on every instance (on this one
    /// before this returns): refresh tokens revoked, access tokens
    /// refused, live connections ended.
    pub async fn end(&self, user_id: i64, which: EndLogins) -> StoreResult<()> {
        self.end_logins(user_id, which).await.map(drop)
    }

    /// Ends the user's login `id`; false if it is not one of theirs that
    /// was still open.
    pub async fn end_one(&self, user_id: i64, id: LoginId) -> StoreResult<bool> {
        Ok(!self
            .end_logins(user_id, EndLogins::One(id))
            .await?
            .is_empty())
    }

    async fn end_logins(&self, user_id: i64, which: EndLogins) -> StoreResult<Vec<LoginId>> {
        let logins = self
            .store
            .end_logins(user_id, which, chrono::Utc::now())
            .await?;
        if !logins.is_empty() {
            tracing::info!(user_id, count = logins.len(), "logins ended");
            let ended = LoginsEnded {
                user_id,
                logins: logins.clone(),
            };
            self.broker.signal(ended).await;
        }
        Ok(logins)
    }

    /// Whether access tokens of `login` are refused (it was ended).
    pub fn refuses(&self, login: LoginId) -> bool {
        let ended = self.ended.read().expect("logins lock");
        ended.contains_key(&login)
    }

    /// Notes that an access token of `login` was used (its `last_used_at`
    /// moves at the next write). Never waits on the store.
    pub fn used(&self, login: LoginId) {
        let mut usage = self.usage.lock().expect("login usage lock");
        if usage.used.len() < USED_MAX {
            usage.used.insert(login);
        }
    }

    /// Moves `last_used_at` of the logins used since the last call.
    async fn write_usage(&self) {
        let logins = self.usage.lock().expect("login usage lock").take();
        for batch in logins.chunks(USED_BATCH) {
            if let Err(e) = self.store.mark_logins_used(batch, chrono::Utc::now()).await {
                tracing::warn!(error = %e, "writing when sessions were last used failed");
            }
        }
    }

    /// A watch that resolves once `login` is ended, for a connection.
    /// While it is held, the login counts as used.
    pub fn watch(self: &Arc<Self>, login: LoginId) -> LoginWatch {
        let (end, ended) = oneshot::channel();
        let mut usage = self.usage.lock().expect("login usage lock");
        let id = usage.next;
        usage.next += 1;
        // Registered before the record is read: an end applied meanwhile
        // either finds the watch or is in the record.
        usage.live.entry(login).or_default().push(Live { id, end });
        drop(usage);
        LoginWatch {
            login,
            id,
            ended,
            done: self.refuses(login),
            logins: Arc::clone(self),
        }
    }

    /// Reads the logins ended within an access token's lifetime from the
    /// store (at start, and after the relay was away).
    pub async fn reload(&self) -> StoreResult<()> {
        let keep = chrono::Duration::from_std(self.keep).unwrap_or(chrono::Duration::hours(1));
        let ended = self
            .store
            .logins_ended_since(chrono::Utc::now() - keep)
            .await?;
        let logins: Vec<LoginId> = ended.into_iter().map(|(_, id)| id).collect();
        if !logins.is_empty() {
            self.apply(&logins);
        }
        Ok(())
    }

    /// Records the logins (dropping entries older than `keep`), then wakes
    /// their watches. Taking a signal twice changes nothing.
    fn apply(&self, logins: &[LoginId]) {
        let now = Instant::now();
        {
            let mut ended = self.ended.write().expect("logins lock");
            ended.retain(|_, at| now.duration_since(*at) < self.keep);
            for &login in logins {
                ended.entry(login).or_insert(now);
            }
        }
        let mut usage = self.usage.lock().expect("login usage lock");
        for login in logins {
            // An ended login is no longer written as used either.
            for live in usage.live.remove(login).unwrap_or_default() {
                let _ = live.end.send(()); // a watch being dropped
            }
        }
    }
}

/// Every `every`, writes which logins were used, until the service goes.
async fn write_usage(logins: Weak<Logins>, every: Duration) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(logins) = logins.upgrade() else {
            return;
        };
        logins.write_usage().await;
    }
}

/// What a connection holds to learn that its login was ended.
pub struct LoginWatch {
    login: LoginId,
    id: u64,
    ended: oneshot::Receiver<()>,
    /// The login was found ended (then `ended` is not polled again).
    done: bool,
    logins: Arc<Logins>,
}

impl LoginWatch {
    /// Resolves once the login is ended (at once if it already is).
    /// Cancel-safe: a `select!` loop may drop it and call it again.
    pub async fn ended(&mut self) {
        if !self.done {
            // An error: the service dropped the channel unsent (it is gone).
            if (&mut self.ended).await.is_err() {
                return std::future::pending().await;
            }
            self.done = true;
        }
    }
}

impl Drop for LoginWatch {
    fn drop(&mut self) {
        let mut usage = self.logins.usage.lock().expect("login usage lock");
        if let Some(watches) = usage.live.get_mut(&self.login) {
            watches.retain(|w| w.id != self.id);
            if watches.is_empty() {
                usage.live.remove(&self.login);
            }
        }
    }
}

/// [`LoginWatch::ended`] of a connection that may not be authenticated
/// yet: never resolves without a watch.
pub async fn ended(watch: &mut Option<LoginWatch>) {
    match watch {
        Some(watch) => watch.ended().await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::Broker;
    use crate::domain::Username;

    #[tokio::test]
    async fn ending_a_login_refuses_it_and_wakes_its_watch_only() {
        let store = crate::store::connect("sqlite::memory:", 1).await.unwrap();
        let ann = store
            .create_user(&Username::parse("ann").unwrap(), "x")
            .await
            .unwrap();
        let now = chrono::Utc::now();
        let later = now + chrono::Duration::hours(1);
        let one = store
            .start_login(ann.id, Some("a"), b"1", later, now)
            .await
            .unwrap();
        let two = store
            .start_login(ann.id, None, b"2", later, now)
            .await
            .unwrap();
        let logins = Logins::start(
            store.clone(),
            Broker::local(store),
            Duration::from_secs(900),
            Duration::from_secs(60),
        );
        let mut first = logins.watch(one);
        let mut second = logins.watch(two);

        logins.end(ann.id, EndLogins::AllBut(two)).await.unwrap();
        assert!(logins.refuses(one));
        assert!(!logins.refuses(two));
        tokio::time::timeout(Duration::from_secs(1), first.ended())
            .await
            .expect("the ended login's watch resolves");
        let still = tokio::time::timeout(Duration::from_millis(50), second.ended()).await;
        assert!(still.is_err(), "the kept login goes on");
        let mut late = logins.watch(one);
        tokio::time::timeout(Duration::from_secs(1), late.ended())
            .await
            .expect("a watch of a login already ended resolves at once");
        tokio::time::timeout(Duration::from_secs(1), first.ended())
            .await
            .expect("and again when asked again");
        drop((first, late));
        assert!(
            !logins.usage.lock().unwrap().live.contains_key(&one),
            "an ended login's watches are let go"
        );
        assert!(
            !logins.end_one(ann.id + 1, two).await.unwrap(),
            "another user cannot end it"
        );
        assert!(logins.end_one(ann.id, two).await.unwrap());
        assert!(!logins.end_one(ann.id, two).await.unwrap(), "ended once");
    }
}
