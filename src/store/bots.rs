//! Bots: accounts a user owns, which sign in only with an API token (README,
//! "Bots and webhooks"). The token is kept as its SHA-256 in `bot_tokens`,
//! whose unique index answers every lookup (no scan); `users.kind = 'bot'`
//! keeps bots out of password logins (the credentials query reads people
//! only). A bot is deleted as any account is (`ProfileStore::close_account`,
//! which also drops its token and its owner).

use async_trait::async_trait;

use super::{
    Backend, LoginId, PostgresStore, SqliteStore, StoreError, StoreResult, Timestamp, User,
};
use crate::domain::Username;

/// A bot found by its token, with its owner (whose standing decides whether
/// the bot may act: `bots::Bots::authenticate`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotAccount {
    pub user: User,
    pub owner_id: i64,
    /// The login the token's sessions belong to.
    pub login: LoginId,
    /// The bot or its owner was deactivated by an administrator, or one of
    /// their accounts was deleted (README, "Administration").
    pub barred: bool,
}

#[async_trait]
pub trait BotStore: Send + Sync + 'static {
    /// A new bot owned by `owner_id`, with its token's hash, in one
    /// transaction. `UsernameTaken` when the name exists in any case.
    async fn create_bot(
        &self,
        owner_id: i64,
        username: &Username,
        token_hash: &[u8],
    ) -> StoreResult<User>;
    /// The bots `owner_id` owns, by name.
    async fn bots_of(&self, owner_id: i64) -> StoreResult<Vec<User>>;
    /// The bot whose current token hashes to `token_hash`.
    async fn bot_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<BotAccount>>;
    /// `owner_id`'s bot `username`.
    async fn owned_bot(&self, owner_id: i64, username: &str) -> StoreResult<Option<User>>;
    /// Replaces bot `bot_id`'s token (None: keeps it) and login (the old
    /// token stops working with the commit).
    async fn replace_bot_token(
        &self,
        bot_id: i64,
        token_hash: Option<&[u8]>,
        login: LoginId,
    ) -> StoreResult<()>;
}

struct BotQueries {
    create: &'static str,
    insert_token: &'static str,
    bots_of: &'static str,
    by_token: &'static str,
    owned: &'static str,
    replace_token: &'static str,
}

const SQLITE: BotQueries = BotQueries {
    create: "INSERT INTO users (username, password_hash, created_at, kind, owner_id) \
             VALUES (?1, '', CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER), \
             'bot', ?2) RETURNING id, username, created_at",
    insert_token: "INSERT INTO bot_tokens (user_id, token_hash, created_at) \
                   VALUES (?1, ?2, CAST(ROUND((julianday('now') - 2440587.5) * 86400000) AS INTEGER))",
    bots_of: "SELECT id, username, created_at FROM users \
              WHERE owner_id = ?1 AND kind = 'bot' ORDER BY username",
    by_token: "SELECT b.id, b.username, b.created_at, o.id AS owner_id, t.login_id, \
                      (b.deactivated_at IS NOT NULL OR b.deleted_at IS NOT NULL \
                       OR o.deactivated_at IS NOT NULL OR o.deleted_at IS NOT NULL) AS barred \
               FROM bot_tokens t JOIN users b ON b.id = t.user_id \
               JOIN users o ON o.id = b.owner_id \
               WHERE t.token_hash = ?1 AND t.login_id IS NOT NULL",
    owned: "SELECT id, username, created_at FROM users \
            WHERE owner_id = ?1 AND kind = 'bot' AND username = ?2",
    replace_token: "UPDATE bot_tokens SET token_hash = COALESCE(?2, token_hash), login_id = ?3 \
                    WHERE user_id = ?1",
};

const POSTGRES: BotQueries = BotQueries {
    create: "INSERT INTO users (username, password_hash, kind, owner_id) \
             VALUES ($1, '', 'bot', $2) RETURNING id, username, created_at",
    insert_token: "INSERT INTO bot_tokens (user_id, token_hash) VALUES ($1, $2)",
    bots_of: "SELECT id, username, created_at FROM users \
              WHERE owner_id = $1 AND kind = 'bot' ORDER BY lower(username)",
    by_token: "SELECT b.id, b.username, b.created_at, o.id AS owner_id, t.login_id, \
                      (b.deactivated_at IS NOT NULL OR b.deleted_at IS NOT NULL \
                       OR o.deactivated_at IS NOT NULL OR o.deleted_at IS NOT NULL) AS barred \
               FROM bot_tokens t JOIN users b ON b.id = t.user_id \
               JOIN users o ON o.id = b.owner_id \
               WHERE t.token_hash = $1 AND t.login_id IS NOT NULL",
    owned: "SELECT id, username, created_at FROM users \
            WHERE owner_id = $1 AND kind = 'bot' AND lower(username) = lower($2)",
    replace_token: "UPDATE bot_tokens SET token_hash = COALESCE($2, token_hash), login_id = $3 \
                    WHERE user_id = $1",
};

#[derive(sqlx::FromRow)]
struct BotRow<T> {
    id: i64,
    username: String,
    created_at: T,
}

impl<T: Into<Timestamp>> From<BotRow<T>> for User {
    fn from(row: BotRow<T>) -> Self {
        User {
            id: row.id,
            username: row.username,
            created_at: row.created_at.into(),
            bot: true,
            profile: Default::default(),
        }
    }
}

#[derive(sqlx::FromRow)]
struct TokenRow<T> {
    #[sqlx(flatten)]
    bot: BotRow<T>,
    owner_id: i64,
    login_id: i64,
    barred: bool,
}

macro_rules! impl_bots {
    ($store:ty, $time:ty, $sql:expr) => {
        #[async_trait]
        impl BotStore for $store {
            async fn create_bot(
                &self,
                owner_id: i64,
                username: &Username,
                token_hash: &[u8],
            ) -> StoreResult<User> {
                let mut tx = self.begin_write().await?;
                let row: BotRow<$time> = sqlx::query_as($sql.create)
                    .bind(username.as_str())
                    .bind(owner_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(super::rows::unique_violation(StoreError::UsernameTaken))?;
                sqlx::query($sql.insert_token)
                    .bind(row.id)
                    .bind(token_hash)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            async fn bots_of(&self, owner_id: i64) -> StoreResult<Vec<User>> {
                let rows: Vec<BotRow<$time>> = sqlx::query_as($sql.bots_of)
                    .bind(owner_id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn bot_by_token(&self, token_hash: &[u8]) -> StoreResult<Option<BotAccount>> {
                let row: Option<TokenRow<$time>> = sqlx::query_as($sql.by_token)
                    .bind(token_hash)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(|r| BotAccount {
                    owner_id: r.owner_id,
                    login: LoginId(r.login_id),
                    barred: r.barred,
                    user: r.bot.into(),
                }))
            }

            async fn owned_bot(&self, owner_id: i64, username: &str) -> StoreResult<Option<User>> {
                let row: Option<BotRow<$time>> = sqlx::query_as($sql.owned)
                    .bind(owner_id)
                    .bind(username)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn replace_bot_token(
                &self,
                bot_id: i64,
                token_hash: Option<&[u8]>,
                login: LoginId,
            ) -> StoreResult<()> {
                sqlx::query($sql.replace_token)
                    .bind(bot_id)
                    .bind(token_hash)
                    .bind(login.0)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }
        }
    };
}

impl_bots!(SqliteStore, super::sqlite::Millis, SQLITE);
impl_bots!(PostgresStore, Timestamp, POSTGRES);
