//! Mailed secrets (README, "Accounts"): the email code that verifies an
//! address and the password-reset token, rows of `account_tokens` stored
//! only as SHA-256 hashes. Each is single-use and expires; the rows also
//! count the mails sent to an account per hour. Every rule that must hold
//! under concurrency runs in one write transaction that first locks the
//! user's row (Postgres) or holds the database's write lock (SQLite): the
//! hourly cap, the bounded wrong codes, a token consumed once.

use async_trait::async_trait;

use super::{StoreResult, Timestamp};

/// What a mailed secret is for (the `kind` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// A code verifying the address given with it.
    Email,
    /// A password-reset token.
    Reset,
}

impl MailKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MailKind::Email => "email",
            MailKind::Reset => "reset",
        }
    }
}

/// A new secret to keep, its mail not yet sent.
#[derive(Debug, Clone)]
pub struct NewMailToken<'a> {
    pub user_id: i64,
    pub kind: MailKind,
    pub email: &'a str,
    pub hash: &'a [u8],
    pub now: Timestamp,
    pub expires_at: Timestamp,
    /// Secrets of this kind the account may be mailed per hour.
    pub per_hour: i64,
}

/// How checking an email code ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the address is verified.
    Verified,
    /// Wrong (counted; the code is void after the last allowed try), or no
    /// live code.
    Wrong,
    /// Right, but another account verified this address first.
    Taken,
}

#[async_trait]
pub trait MailTokenStore: Send + Sync + 'static {
    /// Keeps `token` unless the account was mailed `per_hour` secrets of its
    /// kind within the last hour (false then, nothing changed). An email
    /// code also sets the account's address (unverified) and voids its
    /// earlier codes.
    async fn issue_mail_token(&self, token: NewMailToken<'_>) -> StoreResult<bool>;
    /// Checks an email code against the account's live one: `matches` is
    /// given the stored hash (a constant-time comparison). A wrong code
    /// counts; at `max_attempts` the code is void.
    async fn check_email_code(
        &self,
        user_id: i64,
        matches: &(dyn for<'h> Fn(&'h [u8]) -> bool + Sync),
        now: Timestamp,
        max_attempts: u8,
    ) -> StoreResult<CodeCheck>;
    /// The account whose verified address is `email` (any case), with it.
    async fn user_by_verified_email(&self, email: &str) -> StoreResult<Option<(i64, String)>>;
    /// Whether `hash` is a live reset token (a cheap check before the new
    /// password is hashed; [`Self::reset_password`] decides).
    async fn reset_token_live(&self, hash: &[u8], now: Timestamp) -> StoreResult<bool>;
    /// Consumes the live reset token `hash` and sets the password hash of its
    /// account, in one transaction (of two at once, one wins); the account's
    /// other reset tokens are void too. None: used, expired or unknown.
    async fn reset_password(
        &self,
        hash: &[u8],
        password_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<i64>>;
}

/// One backend's SQL for [`MailTokenStore`].
pub(super) struct MailTokenQueries {
    /// (user_id): locks the user's row, or None (SQLite's write lock).
    pub lock_user: Option<&'static str>,
    /// (user_id, kind, since) → count.
    pub count_since: &'static str,
    /// (user_id, now): voids the live email codes.
    pub void_email_codes: &'static str,
    /// (user_id, email): sets the address, unverified.
    pub set_email: &'static str,
    /// (hash, user_id, kind, email, expires_at, now): replaces a row of the
    /// same hash.
    pub insert_token: &'static str,
    /// (user_id, now) → (token_hash, email, attempts) of the live email code.
    pub live_email_code: &'static str,
    /// (hash, now, max_attempts): one more wrong try, void at the last.
    pub count_wrong: &'static str,
    /// (hash, now): marks it used.
    pub use_token: &'static str,
    /// (user_id, email): verifies the address if it is still the account's.
    pub verify_email: &'static str,
    /// (email) → (id, email).
    pub user_by_verified_email: &'static str,
    /// (hash, now) → (1) for a live reset token.
    pub reset_token_live: &'static str,
    /// (hash, now) → (user_id): consumes a live reset token.
    pub consume_reset: &'static str,
    /// (user_id, now): voids the live reset tokens.
    pub void_resets: &'static str,
    /// (user_id, password_hash).
    pub set_password_hash: &'static str,
}

/// Implements [`MailTokenStore`] for `$store` from `$sql`, timestamps stored
/// as `$time`.
macro_rules! impl_mail_tokens {
    (store: $store:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod mail_tokens_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::store::mail_tokens::{CodeCheck, MailKind, MailTokenStore, NewMailToken};
            use $crate::store::{Backend, StoreResult, Timestamp};

            #[async_trait]
            impl MailTokenStore for $store {
                async fn issue_mail_token(&self, t: NewMailToken<'_>) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    if let Some(lock) = $sql.lock_user {
                        sqlx::query(lock).bind(t.user_id).execute(&mut *tx).await?;
                    }
                    let since = t.now - chrono::Duration::hours(1);
                    let (sent,): (i64,) = sqlx::query_as($sql.count_since)
                        .bind(t.user_id)
                        .bind(t.kind.as_str())
                        .bind(Stored::from(since))
                        .fetch_one(&mut *tx)
                        .await?;
                    if sent >= t.per_hour {
                        return Ok(false); // rolled back
                    }
                    if t.kind == MailKind::Email {
                        sqlx::query($sql.void_email_codes)
                            .bind(t.user_id)
                            .bind(Stored::from(t.now))
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query($sql.set_email)
                            .bind(t.user_id)
                            .bind(t.email)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sqlx::query($sql.insert_token)
                        .bind(t.hash)
                        .bind(t.user_id)
                        .bind(t.kind.as_str())
                        .bind(t.email)
                        .bind(Stored::from(t.expires_at))
                        .bind(Stored::from(t.now))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(true)
                }

                async fn check_email_code(
                    &self,
                    user_id: i64,
                    matches: &(dyn for<'h> Fn(&'h [u8]) -> bool + Sync),
                    now: Timestamp,
                    max_attempts: u8,
                ) -> StoreResult<CodeCheck> {
                    let mut tx = self.begin_write().await?;
                    if let Some(lock) = $sql.lock_user {
                        sqlx::query(lock).bind(user_id).execute(&mut *tx).await?;
                    }
                    let live: Option<(Vec<u8>, String)> = sqlx::query_as($sql.live_email_code)
                        .bind(user_id)
                        .bind(Stored::from(now))
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((hash, email)) = live else {
                        return Ok(CodeCheck::Wrong);
                    };
                    if !matches(&hash) {
                        sqlx::query($sql.count_wrong)
                            .bind(&hash)
                            .bind(Stored::from(now))
                            .bind(i32::from(max_attempts))
                            .execute(&mut *tx)
                            .await?;
                        tx.commit().await?;
                        return Ok(CodeCheck::Wrong);
                    }
                    sqlx::query($sql.use_token)
                        .bind(&hash)
                        .bind(Stored::from(now))
                        .execute(&mut *tx)
                        .await?;
                    let verified = sqlx::query($sql.verify_email)
                        .bind(user_id)
                        .bind(&email)
                        .execute(&mut *tx)
                        .await;
                    match verified {
                        Ok(_) => {
                            tx.commit().await?;
                            Ok(CodeCheck::Verified)
                        }
                        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                            Ok(CodeCheck::Taken) // rolled back
                        }
                        Err(e) => Err(e.into()),
                    }
                }

                async fn user_by_verified_email(
                    &self,
                    email: &str,
                ) -> StoreResult<Option<(i64, String)>> {
                    Ok(sqlx::query_as($sql.user_by_verified_email)
                        .bind(email)
                        .fetch_optional(&self.pool)
                        .await?)
                }

                async fn reset_token_live(&self, hash: &[u8], now: Timestamp) -> StoreResult<bool> {
                    let row: Option<(i32,)> = sqlx::query_as($sql.reset_token_live)
                        .bind(hash)
                        .bind(Stored::from(now))
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.is_some())
                }

                async fn reset_password(
                    &self,
                    hash: &[u8],
                    password_hash: &str,
                    now: Timestamp,
                ) -> StoreResult<Option<i64>> {
                    let mut tx = self.begin_write().await?;
                    let consumed: Option<(i64,)> = sqlx::query_as($sql.consume_reset)
                        .bind(hash)
                        .bind(Stored::from(now))
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some((user_id,)) = consumed else {
                        return Ok(None);
                    };
                    sqlx::query($sql.void_resets)
                        .bind(user_id)
                        .bind(Stored::from(now))
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query($sql.set_password_hash)
                        .bind(user_id)
                        .bind(password_hash)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(Some(user_id))
                }
            }
        }
    };
}
pub(super) use impl_mail_tokens;
