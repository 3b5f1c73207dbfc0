//! An account's own secrets (README, "Accounts"): its password hash, its
//! two-factor state (the encrypted TOTP secret, whether it is enabled, the
//! last time step a code was accepted for) and its recovery codes (hashes,
//! each usable once). [`AccountStore`] is written once for both backends
//! from [`AccountQueries`]; each rule that must hold under concurrency is
//! one conditional statement (a step only rises, a code is used once).

use async_trait::async_trait;

use super::{StoreResult, Timestamp};

/// The two-factor state of an account.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TotpState {
    /// The secret, encrypted (`auth/totp.rs`); set at setup.
    pub secret: Option<Vec<u8>>,
    /// Confirmed with a first code: logins need a code from then on.
    pub enabled: bool,
    /// The time step of the last code accepted (each code is good once).
    pub last_step: Option<i64>,
}

/// What the account's owner sees of it beside the `user` object.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountInfo {
    /// The address last given, verified or not.
    pub email: Option<String>,
    pub email_verified: bool,
    pub totp_enabled: bool,
}

#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// The account's email and two-factor state (default: no such user).
    async fn account_info(&self, user_id: i64) -> StoreResult<AccountInfo>;
    /// The user's password hash (None: no such user).
    async fn password_hash(&self, user_id: i64) -> StoreResult<Option<String>>;
    async fn set_password_hash(&self, user_id: i64, hash: &str) -> StoreResult<()>;

    async fn totp_state(&self, user_id: i64) -> StoreResult<TotpState>;
    /// Keeps a new (encrypted) secret for setup; false when two-factor is
    /// already enabled (its secret is not replaced).
    async fn set_totp_secret(&self, user_id: i64, secret: &[u8]) -> StoreResult<bool>;
    /// Enables two-factor with the code of `step` and these recovery-code
    /// hashes (replacing any), in one transaction; false when it was
    /// enabled meanwhile or `step` was already used.
    async fn enable_totp(
        &self,
        user_id: i64,
        step: i64,
        recovery_hashes: &[Vec<u8>],
    ) -> StoreResult<bool>;
    /// Accepts the code of `step` if it is later than the last one
    /// accepted (a code is good once, even when presented twice at once).
    async fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool>;
    /// Spends an unused recovery code; false if it is unknown or used.
    async fn use_recovery_code(
        &self,
        user_id: i64,
        hash: &[u8],
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Turns two-factor off: secret, step and recovery codes forgotten.
    async fn disable_totp(&self, user_id: i64) -> StoreResult<()>;
}

/// One backend's SQL for [`AccountStore`].
pub(super) struct AccountQueries {
    /// (id) → (email, email_verified, totp_enabled).
    pub account_info: &'static str,
    /// (id) → (password_hash).
    pub password_hash: &'static str,
    /// (id, hash).
    pub set_password_hash: &'static str,
    /// (id) → (totp_secret, totp_enabled, totp_last_step).
    pub totp_state: &'static str,
    /// (id, secret): only while not enabled.
    pub set_totp_secret: &'static str,
    /// (id, step): enables, only if not enabled and the step is new.
    pub enable_totp: &'static str,
    /// (id): deletes the recovery codes.
    pub delete_recovery_codes: &'static str,
    /// (id, hash).
    pub insert_recovery_code: &'static str,
    /// (id, step): only if enabled and the step is later than the last.
    pub use_totp_step: &'static str,
    /// (id, hash, now): only if unused.
    pub use_recovery_code: &'static str,
    /// (id).
    pub disable_totp: &'static str,
}

/// Implements [`AccountStore`] for `$store` from `$sql`, timestamps stored
/// as `$time`.
macro_rules! impl_accounts {
    (store: $store:ident, time: $time:ident, sql: $sql:ident $(,)?) => {
        mod accounts_impl {
            use async_trait::async_trait;

            use super::$time as Stored;
            use super::{$sql, $store};
            use $crate::store::accounts::{AccountInfo, AccountStore, TotpState};
            use $crate::store::{Backend, StoreResult, Timestamp};

            #[async_trait]
            impl AccountStore for $store {
                async fn account_info(&self, user_id: i64) -> StoreResult<AccountInfo> {
                    let row: Option<(Option<String>, bool, bool)> =
                        sqlx::query_as($sql.account_info)
                            .bind(user_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(row
                        .map(|(email, email_verified, totp_enabled)| AccountInfo {
                            email,
                            email_verified,
                            totp_enabled,
                        })
                        .unwrap_or_default())
                }

                async fn password_hash(&self, user_id: i64) -> StoreResult<Option<String>> {
                    let row: Option<(String,)> = sqlx::query_as($sql.password_hash)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                    Ok(row.map(|(h,)| h))
                }

                async fn set_password_hash(&self, user_id: i64, hash: &str) -> StoreResult<()> {
                    sqlx::query($sql.set_password_hash)
                        .bind(user_id)
                        .bind(hash)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn totp_state(&self, user_id: i64) -> StoreResult<TotpState> {
                    let row: Option<(Option<Vec<u8>>, bool, Option<i64>)> =
                        sqlx::query_as($sql.totp_state)
                            .bind(user_id)
                            .fetch_optional(&self.pool)
                            .await?;
                    Ok(row
                        .map(|(secret, enabled, last_step)| TotpState {
                            secret,
                            enabled,
                            last_step,
                        })
                        .unwrap_or_default())
                }

                async fn set_totp_secret(&self, user_id: i64, secret: &[u8]) -> StoreResult<bool> {
                    let done = sqlx::query($sql.set_totp_secret)
                        .bind(user_id)
                        .bind(secret)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn enable_totp(
                    &self,
                    user_id: i64,
                    step: i64,
                    recovery_hashes: &[Vec<u8>],
                ) -> StoreResult<bool> {
                    let mut tx = self.begin_write().await?;
                    let enabled = sqlx::query($sql.enable_totp)
                        .bind(user_id)
                        .bind(step)
                        .execute(&mut *tx)
                        .await?;
                    if enabled.rows_affected() != 1 {
                        return Ok(false); // rolled back
                    }
                    sqlx::query($sql.delete_recovery_codes)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    for hash in recovery_hashes {
                        sqlx::query($sql.insert_recovery_code)
                            .bind(user_id)
                            .bind(hash.as_slice())
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn use_totp_step(&self, user_id: i64, step: i64) -> StoreResult<bool> {
                    let done = sqlx::query($sql.use_totp_step)
                        .bind(user_id)
                        .bind(step)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn use_recovery_code(
                    &self,
                    user_id: i64,
                    hash: &[u8],
                    now: Timestamp,
                ) -> StoreResult<bool> {
                    let done = sqlx::query($sql.use_recovery_code)
                        .bind(user_id)
                        .bind(hash)
                        .bind(Stored::from(now))
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn disable_totp(&self, user_id: i64) -> StoreResult<()> {
                    let mut tx = self.begin_write().await?;
                    sqlx::query($sql.disable_totp)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query($sql.delete_recovery_codes)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(())
                }
            }
        }
    };
}
pub(super) use impl_accounts;
