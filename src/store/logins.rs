//! Logins (README, "Accounts"): one per signup or login, the sessions a
//! user lists and ends. A login owns a refresh-token family (`refresh.rs`
//! rotates within it and touches `last_used_at`); access tokens name its
//! id. Ending a login sets `ended_at` and revokes its family's tokens in
//! one transaction; the `logins` service then refuses its access tokens and
//! ends its live connections on every instance.
//!
//! [`LoginStore`] is written once for both backends from [`LoginQueries`].

use async_trait::async_trait;

use super::{StoreResult, Timestamp};

/// The id of a login (the `sid` claim of its access tokens).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct LoginId(pub i64);

/// A login that can still be used: not ended, with a live refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub id: LoginId,
    pub created_at: Timestamp,
    /// The login itself, its last refresh, or its last use (`logins`).
    pub last_used_at: Timestamp,
    pub user_agent: Option<String>,
}

/// Which of a user's logins to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndLogins {
    All,
    /// Every one but this (the caller's own, on a password change).
    AllBut(LoginId),
    One(LoginId),
}

impl EndLogins {
    pub(crate) fn includes(self, id: LoginId) -> bool {
        match self {
            EndLogins::All => true,
            EndLogins::AllBut(kept) => id != kept,
            EndLogins::One(only) => id == only,
        }
    }
}

/// At most this many logins are listed (the most recently used first).
pub const MAX_LISTED: i64 = 200;

#[async_trait]
pub trait LoginStore: Send + Sync + 'static {
    /// A new login of `user_id` with its first refresh token, in one
    /// transaction.
    async fn start_login(
        &self,
        user_id: i64,
        user_agent: Option<&str>,
        token_hash: &[u8],
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<LoginId>;
    /// The user's logins still usable at `now`, most recently used first
    /// (at most [`MAX_LISTED`]).
    async fn live_logins(&self, user_id: i64, now: Timestamp) -> StoreResult<Vec<Login>>;
    /// Ends `which` of the user's logins not ended yet: `ended_at` set and
    /// every refresh token of theirs revoked, in one transaction. Answers
    /// the ids ended (another user's login is never one of them).
    async fn end_logins(
        &self,
        user_id: i64,
        which: EndLogins,
        now: Timestamp,
    ) -> StoreResult<Vec<LoginId>>;
    /// Every (user, login) ended after `since` (rebuilding the record of
    /// refused access tokens after a relay outage).
    async fn logins_ended_since(&self, since: Timestamp) -> StoreResult<Vec<(i64, LoginId)>>;
    /// The (user, login) a refresh token belongs to, whatever its state.
    async fn login_of_refresh_token(
        &self,
        token_hash: &[u8],
    ) -> StoreResult<Option<(i64, LoginId)>>;
    /// Moves `last_used_at` of the `logins` not ended to `now` (never
    /// back), in one transaction: the logins used since the last such
    /// write (`logins`, coalesced).
    async fn mark_logins_used(&self, logins: &[LoginId], now: Timestamp) -> StoreResult<()>;
}

/// One backend's SQL for [`LoginStore`].
pub(super) struct LoginQueries {
    /// (user_id, family, user_agent, now) → (id).
    pub insert_login: &'static str,
    /// (token_hash, user_id, family, expires_at).
    pub insert_refresh_token: &'static str,
    /// (user_id, now, limit) → (id, created_at, last_used_at, user_agent).
    pub live_logins: &'static str,
    /// (user_id) → (id, family) of the logins not ended, by family.
    pub open_logins: &'static str,
    /// (family): run before ending a login, to take its family's lock as a
    /// rotation does (None where the transaction holds the only write lock).
    pub lock_family: Option<&'static str>,
    /// (id, now): sets `ended_at` if not set.
    pub end_login: &'static str,
    /// (family, now): revokes the family's tokens not revoked yet.
    pub revoke_family: &'static str,
    /// (since) → (user_id, id).
    pub ended_since: &'static str,
    /// (token_hash) → (user_id, id).
    pub login_of_token: &'static str,
    /// (id, now): moves `last_used_at` forward if not ended, without
    /// waiting for a lock another transaction holds on the login.
    pub mark_used: &'static str,
}

/// Implements [`LoginStore`] for `$store` from `$sql`, timestamps stored as
/// `$time`.
macro_rules! impl_logins {
    (store: $store:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod logins_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::store::logins::{EndLogins, Login, LoginId, LoginStore, MAX_LISTED};
            use $crate::store::{Backend, StoreResult, Timestamp};

            #[async_trait]
            impl LoginStore for $store {
                async fn start_login(
                    &self,
                    user_id: i64,
                    user_agent: Option<&str>,
                    token_hash: &[u8],
                    expires_at: Timestamp,
                    now: Timestamp,
                ) -> StoreResult<LoginId> {
                    let family = uuid::Uuid::new_v4().to_string();
                    let mut tx = self.begin_write().await?;
                    let (id,): (i64,) = sqlx::query_as($sql.insert_login)
                        .bind(user_id)
                        .bind(&family)
                        .bind(user_agent)
                        .bind(Stored::from(now))
                        .fetch_one(&mut *tx)
                        .await?;
                    sqlx::query($sql.insert_refresh_token)
                        .bind(token_hash)
                        .bind(user_id)
                        .bind(&family)
                        .bind(Stored::from(expires_at))
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(LoginId(id))
                }

                async fn live_logins(
                    &self,
                    user_id: i64,
                    now: Timestamp,
                ) -> StoreResult<Vec<Login>> {
                    let rows: Vec<(i64, Stored, Stored, Option<String>)> =
                        sqlx::query_as($sql.live_logins)
                            .bind(user_id)
                            .bind(Stored::from(now))
                            .bind(MAX_LISTED)
                            .fetch_all(&self.pool)
                            .await?;
                    Ok(rows
                        .into_iter()
                        .map(|(id, created_at, last_used_at, user_agent)| Login {
                            id: LoginId(id),
                            created_at: created_at.into(),
                            last_used_at: last_used_at.into(),
                            user_agent,
                        })
                        .collect())
                }

                async fn end_logins(
                    &self,
                    user_id: i64,
                    which: EndLogins,
                    now: Timestamp,
                ) -> StoreResult<Vec<LoginId>> {
                    let mut tx = self.begin_write().await?;
                    let open: Vec<(i64, String)> = sqlx::query_as($sql.open_logins)
                        .bind(user_id)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut ended = Vec::new();
                    // By family: two transactions ending logins take the
                    // families' locks in one order.
                    for (id, family) in open {
                        if !which.includes(LoginId(id)) {
                            continue;
                        }
                        if let Some(lock) = $sql.lock_family {
                            sqlx::query(lock).bind(&family).execute(&mut *tx).await?;
                        }
                        let done = sqlx::query($sql.end_login)
                            .bind(id)
                            .bind(Stored::from(now))
                            .execute(&mut *tx)
                            .await?;
                        sqlx::query($sql.revoke_family)
                            .bind(&family)
                            .bind(Stored::from(now))
                            .execute(&mut *tx)
                            .await?;
                        if done.rows_affected() == 1 {
                            ended.push(LoginId(id));
                        }
                    }
                    tx.commit().await?;
                    Ok(ended)
                }

                async fn logins_ended_since(
                    &self,
                    since: Timestamp,
                ) -> StoreResult<Vec<(i64, LoginId)>> {
                    let rows: Vec<(i64, i64)> = sqlx::query_as($sql.ended_since)
                        .bind(Stored::from(since))
                        .fetch_all(&self.pool)
                        .await?;
                    Ok(rows.into_iter().map(|(u, id)| (u, LoginId(id))).collect())
                }

                async fn login_of_refresh_token(
                    &self,
                    token_hash: &[u8],
                ) -> StoreResult<Option<(i64, LoginId)>> {
                    let row: Option<(i64, i64)> = sqlx::query_as($sql.login_of_token)
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(|(u, id)| (u, LoginId(id))))
                }

                async fn mark_logins_used(
                    &self,
                    logins: &[LoginId],
                    now: Timestamp,
                ) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    for login in logins {
                        sqlx::query($sql.mark_used)
                            .bind(login.0)
                            .bind(Stored::from(now))
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }
            }
        }
    };
}
pub(super) use impl_logins;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_logins_are_ended() {
        let (a, b) = (LoginId(1), LoginId(2));
        assert!(EndLogins::All.includes(a));
        assert!(!EndLogins::AllBut(a).includes(a));
        assert!(EndLogins::AllBut(a).includes(b));
        assert!(EndLogins::One(b).includes(b));
        assert!(!EndLogins::One(b).includes(a));
    }
}
