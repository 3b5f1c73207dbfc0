//! Persistent storage: users, rooms, memberships, messages and refresh tokens.
//!
//! One interface ([`Store`]), split by concern ([`UserStore`] for accounts
//! and refresh tokens, [`RoomStore`] for rooms and members, [`RoomLog`] for
//! messages, [`StoreHealth`] for the pool), with two real implementations:
//! Postgres for production and SQLite as the embedded single-node default.
//! [`connect`] picks one from the database URL and runs that backend's
//! embedded migrations. The store knows nothing about HTTP or STOMP.
//!
//! Everything but SQL is written once: `queries.rs` runs each statement,
//! `batch.rs` decides an append (idempotency, seq), `refresh.rs` the
//! refresh-token rules, `rows.rs` maps rows and constraint errors.
//! `postgres/` and `sqlite.rs` (with `sqlite/append.rs`) hold only their
//! SQL, their timestamps and how a write transaction locks.

pub mod accounts;
pub mod administration;
pub mod audit;
mod batch;
mod bots;
mod event;
pub mod files;
pub mod logins;
pub mod mail_tokens;
mod membership;
pub mod moderation;
mod plan;
mod postgres;
pub mod profiles;
pub mod push;
mod queries;
mod read_state;
mod refresh;
pub mod retention;
mod rows;
pub mod search;
pub mod server_settings;
mod sqlite;
mod threads;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::{RoomName, Username};

pub use accounts::{AccountInfo, AccountStore, TotpState};
pub use administration::{AdminStore, AdminUser, Report, ReportAction, UserQuery};
pub use audit::{AuditAction, AuditEntry};
pub use bots::{BotAccount, BotStore};
pub use event::{
    Appended, Event, EventKind, LogWrite, NewEvent, ReactionGroup, Refusal, ThreadSummary,
};
pub use files::FileStore;
pub use logins::{EndLogins, Login, LoginId, LoginStore};
pub use mail_tokens::{CodeCheck, MailKind, MailTokenStore, NewMailToken};
pub use membership::{Member, MembershipStore};
pub use postgres::{APPENDS_APPLICATION_NAME, PostgresStore};
pub use profiles::{ClosedAccount, Departure, ProfileChange, ProfileStore, SentMessage};
pub use push::{ClaimedPush, NewPushSubscription, PushStore, PushSubscription};
pub use read_state::{MarkerMove, ReadState, ReadStateStore};
pub use retention::{
    DroppedPartition, LogPartitions, PartitionLayout, Pruned, RetentionPolicy, RetentionStore,
};
pub use search::{Found, SearchQuery, SearchStore, SearchTerms};
pub use server_settings::ServerSettings;
pub use sqlite::SqliteStore;
pub use threads::{FollowedThread, Following, ThreadStore};

pub type Timestamp = DateTime<Utc>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub created_at: Timestamp,
    /// Not a person: a bot, or the sender of a room's webhooks (README,
    /// "Bots and webhooks").
    pub bot: bool,
    /// What the user shows of themself (README, "Accounts").
    pub profile: Profile,
}

/// A user's profile: shown beside (never instead of) their username.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// 1–64 characters, no control characters (`domain::DisplayName`).
    pub display_name: Option<String>,
    /// Up to 140 characters, no control characters (`domain::Status`).
    pub status: Option<String>,
    /// The avatar's object key in the files storage.
    pub avatar_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub id: i64,
    pub name: String,
    pub private: bool,
    /// Username of the creator: the owner (a direct conversation has none).
    pub owner: String,
    pub created_at: Timestamp,
    /// The room's highest seq when it was read.
    pub last_seq: i64,
    /// Set for a direct conversation: its two users.
    pub direct: Option<DirectPair>,
}

/// The two users of a direct conversation, (id, username), smaller id first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectPair {
    pub users: [(i64, String); 2],
}

impl Room {
    /// The owner's username; None for a direct conversation.
    pub fn owner(&self) -> Option<&str> {
        self.direct.is_none().then_some(self.owner.as_str())
    }

    /// For a direct conversation, the username of the user who is not
    /// `user_id`.
    pub fn peer_of(&self, user_id: i64) -> Option<&str> {
        let [a, b] = &self.direct.as_ref()?.users;
        Some(if a.0 == user_id { &b.1 } else { &a.1 })
    }
}

/// Which page of a room's history to read. `before` and `after` are never
/// both set (the HTTP layer rejects that). `limit` is 1..=200.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryQuery {
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// A page of history, always in ascending seq order, `message` events in
/// their current state. `has_more`: more events exist beyond the page in the paging direction (older ones for
/// `before` and for neither, newer ones for `after`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryPage {
    pub events: Vec<Event>,
    pub has_more: bool,
    /// The room's retention horizon as the page was read (README,
    /// "Retention"): every event with seq <= it is pruned (0: none is).
    /// Read in the same statement as the events, so they agree.
    pub horizon_seq: i64,
}

impl HistoryQuery {
    /// How many rows to fetch: one beyond the page tells whether there is more.
    fn fetch_limit(&self) -> i64 {
        self.limit.max(0) + 1
    }

    /// The exclusive upper bound of a backward page (`before`, else none).
    fn before_seq(&self) -> i64 {
        self.before.unwrap_or(i64::MAX)
    }
}

impl HistoryPage {
    /// The page from rows fetched with `LIMIT query.fetch_limit()`, in query
    /// order: ascending when paging forward (`after`), else descending. The
    /// extra row only says whether there is more.
    /// `horizon_seq` as read with the rows.
    fn from_fetched<R: Into<Event>>(rows: Vec<R>, query: &HistoryQuery, horizon_seq: i64) -> Self {
        let limit = query.limit.max(0) as usize;
        let has_more = rows.len() > limit;
        let mut events: Vec<Event> = rows.into_iter().take(limit).map(Into::into).collect();
        if query.after.is_none() {
            events.reverse();
        }
        HistoryPage {
            events,
            has_more,
            horizon_seq,
        }
    }
}

/// Result of presenting a refresh token for rotation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now rotated (dead) and `new_hash` is live in
    /// the same family, whose login (None for tokens stored without one) is
    /// marked used.
    Rotated(User, Option<LoginId>),
    /// The token had already been rotated: its whole family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("username is taken")]
    UsernameTaken,
    #[error("room exists")]
    RoomExists,
    #[error("room not found")]
    RoomNotFound,
    #[error("unsupported database url (expected postgres:// or sqlite:)")]
    UnsupportedUrl,
    #[error("the commit queue is closed")]
    Unavailable,
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database connection itself, for `/readyz` and metrics.
#[async_trait]
pub trait StoreHealth: Send + Sync + 'static {
    /// Cheap round trip to the database (for `/readyz`).
    async fn ping(&self) -> StoreResult<()>;
    /// (open, idle) connections of the pool, for metrics.
    fn pool_stats(&self) -> (u32, usize);
}

/// Accounts and the refresh tokens of their logins.
#[async_trait]
pub trait UserStore: Send + Sync + 'static {
    /// `UsernameTaken` when the name exists in any letter case.
    async fn create_user(&self, username: &Username, password_hash: &str) -> StoreResult<User>;
    /// Case-insensitive lookup; returns the user and their password hash.
    /// Takes any string: login looks up whatever name it is given.
    async fn user_credentials(&self, username: &str) -> StoreResult<Option<(User, String)>>;
    /// Case-insensitive lookup of any string (an invalid name is not found).
    async fn user_by_name(&self, username: &str) -> StoreResult<Option<User>>;
    async fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;

    /// Stores a new refresh token (only its hash). `family` groups every
    /// token descended from one login.
    async fn insert_refresh_token(
        &self,
        token_hash: &[u8],
        user_id: i64,
        family: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Atomically retires `old_hash` and stores `new_hash` in its family
    /// (the rules are in `refresh.rs`).
    async fn rotate_refresh_token(
        &self,
        old_hash: &[u8],
        new_hash: &[u8],
        new_expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Rotation>;
    /// Revokes the token's whole family. False when the token is unknown,
    /// expired, already rotated or revoked; an already rotated token's
    /// family is revoked all the same, as when it is presented for rotation.
    async fn revoke_refresh_family(&self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool>;
}

/// Rooms (who belongs to them: [`MembershipStore`]).
#[async_trait]
pub trait RoomStore: Send + Sync + 'static {
    /// Creates the room with `owner_id` as owner and first member, in one
    /// transaction. `RoomExists` when the name is taken.
    async fn create_room(&self, name: &RoomName, private: bool, owner_id: i64)
    -> StoreResult<Room>;
    async fn room_by_name(&self, name: &RoomName) -> StoreResult<Option<Room>>;
    async fn room_by_id(&self, id: i64) -> StoreResult<Option<Room>>;
    /// Public rooms `user_id` is not banned from and rooms they belong to,
    /// ordered by name.
    async fn rooms_visible_to(&self, user_id: i64) -> StoreResult<Vec<Room>>;
}

/// Each room's log of events, in seq order.
#[async_trait]
pub trait RoomLog: Send + Sync + 'static {
    /// Appends many events, possibly for several rooms, in ONE transaction.
    /// Each room's seq range is assigned inside it (the database serialises
    /// concurrent writers, so seq follows commit order across processes),
    /// and each event is checked against the log as the events before it
    /// left it. A message whose (room, sender, client_id) is already stored,
    /// or appears earlier in the same batch, and a reaction the writer
    /// already has, yield `Duplicate(original)`; a change the log refuses
    /// yields `Refused` and stores nothing (the others are stored). Results
    /// are in input order. Unknown room ids give `RoomNotFound` and nothing
    /// is stored. The rules are in `batch.rs`.
    async fn append_batch(&self, batch: &[NewEvent]) -> StoreResult<Vec<Appended>>;
    /// A page of the room's log, with its retention horizon read in the
    /// same statement (README, "Retention").
    async fn history(&self, room_id: i64, query: HistoryQuery) -> StoreResult<HistoryPage>;
    /// The event at `seq` of the room, in its current state.
    async fn event(&self, room_id: i64, seq: i64) -> StoreResult<Option<Event>>;
    /// Highest seq stored in the room (0 when empty).
    async fn last_seq(&self, room_id: i64) -> StoreResult<i64>;
    /// `(room id, highest seq)` of each of `room_ids` that exists, in one
    /// query (any order).
    async fn last_seqs(&self, room_ids: &[i64]) -> StoreResult<Vec<(i64, i64)>>;
}

/// Everything the server stores, one backend behind it.
pub trait Store:
    StoreHealth
    + UserStore
    + LoginStore
    + AccountStore
    + ProfileStore
    + MailTokenStore
    + RoomStore
    + MembershipStore
    + AdminStore
    + ReadStateStore
    + RoomLog
    + SearchStore
    + RetentionStore
    + LogPartitions
    + ServerSettings
    + PushStore
    + ThreadStore
    + FileStore
    + BotStore
    + webhooks::WebhookStore
{
}

impl<T> Store for T where
    T: StoreHealth
        + UserStore
        + LoginStore
        + AccountStore
        + ProfileStore
        + MailTokenStore
        + RoomStore
        + MembershipStore
        + AdminStore
        + ReadStateStore
        + RoomLog
        + SearchStore
        + RetentionStore
        + LogPartitions
        + ServerSettings
        + PushStore
        + ThreadStore
        + FileStore
        + BotStore
        + webhooks::WebhookStore
        + ?Sized
{
}

pub type DynStore = Arc<dyn Store>;

/// How a backend opens a transaction that writes: the shared rules of
/// `batch.rs` and `refresh.rs` run their statements inside it.
#[async_trait]
trait Backend: Send + Sync {
    type Tx: batch::AppendTx + refresh::RefreshTx;
    async fn begin_write(&self) -> StoreResult<Self::Tx>;
    /// [`Backend::begin_write`] for the room log's appends (`batch.rs`),
    /// which a backend may serve from connections of their own.
    async fn begin_append(&self) -> StoreResult<Self::Tx> {
        self.begin_write().await
    }
    /// Whether [`Backend::insert_unlocked`] stores batches that read
    /// nothing under the room locks (`batch.rs`).
    const INSERTS_UNLOCKED: bool = false;
    /// For a batch that reads nothing under the room locks, in one
    /// autocommitted step without a lock taken beforehand: raises each
    /// room's `last_seq` by its count in `counts` (`(room id, n)`), inserts
    /// `rows` (their seqs relative: 1..=n in each room) above the room's
    /// previous `last_seq` and queues their pushes, as `insert_events` with
    /// pushes would. Returns the rows as inserted and each room's previous
    /// `last_seq`; stores nothing if it fails (a room that does not exist).
    /// Called only when [`Backend::INSERTS_UNLOCKED`].
    async fn insert_unlocked(
        &self,
        _counts: &[(i64, i64)],
        _rows: &[batch::NewRow<'_>],
    ) -> StoreResult<(Vec<batch::Inserted>, Vec<(i64, i64)>)> {
        Err(StoreError::Unavailable)
    }
    /// Called after a commit that erased text (a deleted message): removes
    /// copies of the old rows kept outside the tables, if the backend keeps
    /// any. It must not delay the caller.
    fn erased(&self) {}
}

/// A write transaction; dropping it uncommitted rolls it back.
#[async_trait]
trait WriteTx: Send {
    async fn commit(self) -> StoreResult<()>;
}

#[async_trait]
impl<DB: sqlx::Database> WriteTx for sqlx::Transaction<'static, DB> {
    async fn commit(self) -> StoreResult<()> {
        sqlx::Transaction::commit(self).await?;
        Ok(())
    }
}

/// Opens the database named by `url` (`postgres://…` or `sqlite:…`), runs its
/// embedded migrations and returns the store, with the room log's
/// partitions of the default layout.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<DynStore> {
    connect_with(url, max_connections, 1, &PartitionLayout::default()).await
}

/// [`connect`], with `appenders` of the `max_connections` set apart for the
/// room log's appends (Postgres: one per commit worker) and the room log's
/// partitions (Postgres) added up to `layout.ahead` from now before it
/// answers, so appends have one to go to.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    appenders: u32,
    layout: &PartitionLayout,
) -> StoreResult<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let store = PostgresStore::connect(url, max_connections, appenders).await?;
        store.add_partitions(layout).await?;
        Ok(Arc::new(store))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}
