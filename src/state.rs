//! `AppState`: what every handler and connection shares (the store, the chat
//! pipeline, the services, the limiters, the configuration, the shutdown
//! signal).
//!
//! It is built once by `startup` and read by `http` and `gateway`; it owns no
//! I/O of its own and must not import the modules that use it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::auth::totp::TotpKey;
use crate::auth::{JwtKeys, password::Hashing, rate_limit::RateLimiter};
use crate::avatars::AvatarLinks;
use crate::bots::Bots;
use crate::broker::DynBroker;
use crate::chat::Chat;
use crate::config::Config;
use crate::connections::UserConnections;
use crate::egress::Egress;
use crate::files::{Files, storage::Storage};
use crate::logins::Logins;
use crate::mail::Mailer;
use crate::membership::Membership;
use crate::presence::Presence;
use crate::push::{Push, PushSetup};
use crate::read_markers::ReadMarkers;
use crate::revocation::Revocations;
use crate::store::DynStore;
use crate::user_updates::UserUpdates;
use crate::viewers::Viewers;
use crate::views::UserViews;
use crate::webhooks::commands::Commands;
use crate::webhooks::deliver::Deliveries;

/// What every handler shares.
pub struct AppState {
    pub store: DynStore,
    pub chat: Chat,
    /// Membership changes (leave, remove, ban, roles, deletion) and blocks.
    pub membership: Membership,
    /// Read markers, coalesced.
    pub read_markers: ReadMarkers,
    /// Who is online, on any instance.
    pub presence: Arc<Presence>,
    /// Who lost access to which room, and cutting them off.
    pub revocations: Arc<Revocations>,
    /// Logins (sessions) ended: their tokens refused, their connections
    /// ended, on every instance.
    pub logins: Arc<Logins>,
    /// Each connected user's blocked senders.
    pub viewers: Arc<Viewers>,
    /// The user destination (`/user/queue/updates`, `/me/events`): what
    /// changes a user's own room list, on every instance.
    pub user_updates: Arc<UserUpdates>,
    /// Web Push: the VAPID key, endpoint checks, the outbox's sender.
    pub push: Arc<Push>,
    /// Uploaded files: their storage, uploads, erasure.
    pub files: Files,
    /// Bots and their API tokens.
    pub bots: Bots,
    /// The client of webhooks and commands (`WEBHOOK_ALLOWED_HOSTS`).
    pub webhook_egress: Egress,
    /// Outgoing webhooks' delivery on this instance.
    pub webhook_deliveries: Deliveries,
    /// Slash commands.
    pub commands: Commands,
    /// Typing signals per user and room (None when TYPING_RATE is 0).
    pub typing_limiter: Option<RateLimiter>,
    /// Per-user SEND rate (None when SEND_RATE is 0).
    pub send_limiter: Option<RateLimiter>,
    pub jwt: JwtKeys,
    /// Encrypts the stored TOTP secrets (derived from the access-token key).
    pub totp_key: TotpKey,
    /// Shows `user` objects (`admin`, the signed `avatar_url`) and checks
    /// avatar URLs when asked.
    pub user_views: UserViews,
    pub config: Config,
    pub refresh_ttl: chrono::Duration,
    pub login_per_ip: RateLimiter,
    pub login_failures_per_user: RateLimiter,
    /// Open WebSockets, SSE streams and held long polls per user.
    pub connections: Arc<UserConnections>,
    pub signups_per_ip: RateLimiter,
    pub password_resets_per_ip: RateLimiter,
    /// Outgoing mail (None without `SMTP_URL`).
    pub mailer: Option<Mailer>,
    /// The bounded pool every password hash (signup, login) goes through.
    pub hashing: Hashing,
    shutting_down: AtomicBool,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl AppState {
    /// Wires the shared state from the configuration, the opened store and
    /// the broker; the services register for their signals here, before
    /// the instance serves anyone.
    pub fn new(
        config: Config,
        store: DynStore,
        broker: DynBroker,
        jwt: JwtKeys,
        push: PushSetup,
        storage: Storage,
    ) -> Self {
        let limits = &config.limits;
        let send_limiter = (limits.send_rate > 0).then(|| {
            // GCRA: a burst of SEND_BURST, refilled at SEND_RATE per second.
            let burst = limits.send_burst.max(1);
            RateLimiter::new(
                burst,
                Duration::from_secs_f64(f64::from(burst) / f64::from(limits.send_rate)),
            )
        });
        let presence = Presence::start(store.clone(), broker.clone());
        let revocations = Revocations::start(store.clone(), broker.clone());
        let logins = Logins::start(
            store.clone(),
            broker.clone(),
            config.jwt_ttl,
            config.session_activity,
        );
        let bots = Bots::new(store.clone(), Arc::clone(&logins));
        let viewers = Viewers::start(store.clone(), broker.clone());
        let user_updates = UserUpdates::start(store.clone(), broker.clone());
        let push = Push::new(push, store.clone(), Arc::clone(&presence));
        let membership = Membership::new(
            store.clone(),
            broker.clone(),
            Arc::clone(&revocations),
            Arc::clone(&viewers),
            Arc::clone(&user_updates),
        );
        let chat = Chat::new(
            store.clone(),
            broker.clone(),
            membership.clone(),
            config.commit,
        );
        let webhook_egress = crate::webhooks::egress(&config.webhook_allowed_hosts)
            .expect("WEBHOOK_ALLOWED_HOSTS is checked by Application::build");
        AppState {
            commands: Commands::new(
                store.clone(),
                chat.clone(),
                webhook_egress.clone(),
                limits.max_body_bytes,
            ),
            webhook_deliveries: Deliveries::start(
                store.clone(),
                broker.clone(),
                webhook_egress.clone(),
            ),
            webhook_egress,
            chat,
            membership,
            presence,
            revocations,
            logins,
            viewers,
            read_markers: ReadMarkers::start(store.clone(), broker.clone()),
            user_updates,
            push,
            files: Files::new(storage, store.clone(), config.files.clone()),
            bots,
            typing_limiter: (limits.typing_rate > 0)
                .then(|| RateLimiter::new(limits.typing_rate, Duration::from_secs(1))),
            send_limiter,
            store,
            totp_key: TotpKey::derive(&config.jwt_secret.bytes),
            jwt,
            user_views: UserViews::new(
                config.admins.clone(),
                AvatarLinks::new(&config.jwt_secret.bytes, config.files.url_ttl.as_secs()),
            ),
            refresh_ttl: chrono::Duration::from_std(config.refresh_ttl)
                .unwrap_or(chrono::Duration::days(30)),
            login_per_ip: RateLimiter::new(limits.login_attempts_per_ip, Duration::from_secs(60)),
            login_failures_per_user: RateLimiter::new(
                limits.login_failures_per_user,
                Duration::from_secs(300),
            ),
            connections: UserConnections::new(limits.max_connections_per_user),
            signups_per_ip: RateLimiter::new(limits.signups_per_ip, Duration::from_secs(3600)),
            password_resets_per_ip: RateLimiter::new(
                limits.password_resets_per_ip,
                Duration::from_secs(3600),
            ),
            mailer: config.mail.as_ref().map(Mailer::start),
            hashing: Hashing::new(limits.password_hash_concurrency, limits.password_hash_queue),
            config,
            shutting_down: AtomicBool::new(false),
            shutdown: tokio::sync::watch::channel(false).0,
        }
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Readiness turns 503 and every open connection is told to finish.
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Relaxed);
        self.shutdown.send_replace(true);
    }

    /// Resolves once shutdown has begun (for long-lived connections).
    pub fn shutdown_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.shutdown.subscribe()
    }
}
