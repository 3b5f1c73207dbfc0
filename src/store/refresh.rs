//! The rules of refresh tokens, the same on both backends. A token is live,
//! rotated (retired by a refresh: its successor is live) or dead (expired
//! or revoked). Refreshing a live token retires it and issues its successor
//! in the same family; presenting a rotated token means someone else holds
//! a copy, so its whole family (every token of that login) is revoked.
//! Logging out revokes the family too, whether the token is live (the
//! logout succeeds) or rotated (it fails, as the refresh would). A backend
//! supplies only the SQL ([`RefreshTx`]) and how its transaction keeps the
//! family's tokens from changing underneath these decisions.

use async_trait::async_trait;

use super::rows::RefreshToken;
use super::{Backend, LoginId, Rotation, StoreResult, Timestamp, WriteTx};

/// The state of a presented token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenState {
    Live,
    Rotated,
    /// Expired or revoked: as good as unknown.
    Dead,
}

impl RefreshToken {
    fn state(&self, now: Timestamp) -> TokenState {
        if self.revoked || self.expires_at <= now {
            TokenState::Dead
        } else if self.rotated {
            TokenState::Rotated
        } else {
            TokenState::Live
        }
    }
}

/// The statements of a rotation or a logout, all in one write transaction.
#[async_trait]
pub(super) trait RefreshTx: WriteTx {
    /// The token `token_hash`, locked with (first) its whole family until
    /// commit, so two rotations or logouts of one family run one at a time.
    async fn lock_token(&mut self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>>;
    /// Marks the token rotated at `now` if it is neither rotated nor
    /// revoked yet; false if it was.
    async fn retire(&mut self, token_hash: &[u8], now: Timestamp) -> StoreResult<bool>;
    /// Stores a new token of `family`.
    async fn insert_token(
        &mut self,
        token_hash: &[u8],
        user_id: i64,
        family: &str,
        expires_at: Timestamp,
    ) -> StoreResult<()>;
    /// Revokes (at `now`) every not yet revoked token of `family`.
    async fn revoke_family(&mut self, family: &str, now: Timestamp) -> StoreResult<()>;
    /// Marks the login of `family` used at `now`; its id, if it has one.
    async fn touch_login(&mut self, family: &str, now: Timestamp) -> StoreResult<Option<LoginId>>;
}

/// [`super::UserStore::rotate_refresh_token`] on `backend`.
pub(super) async fn rotate<B: Backend>(
    backend: &B,
    old_hash: &[u8],
    new_hash: &[u8],
    new_expires_at: Timestamp,
    now: Timestamp,
) -> StoreResult<Rotation> {
    let mut tx = backend.begin_write().await?;
    let Some(token) = tx.lock_token(old_hash).await? else {
        return Ok(Rotation::Invalid);
    };
    // Claim the token only if it is still unrotated. Under the lock nothing
    // can have changed since it was read, but the condition keeps two
    // rotations from both winning even if that ever changes.
    let claimed = match token.state(now) {
        TokenState::Dead => return Ok(Rotation::Invalid),
        TokenState::Rotated => false,
        TokenState::Live => tx.retire(old_hash, now).await?,
    };
    if !claimed {
        // A retired token came back: whoever holds it is not (only) the
        // legitimate client. Kill the whole login.
        tx.revoke_family(&token.family, now).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused);
    }
    tx.insert_token(new_hash, token.user.id, &token.family, new_expires_at)
        .await?;
    let login = tx.touch_login(&token.family, now).await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(token.user, login))
}

/// [`super::UserStore::revoke_refresh_family`] on `backend`.
pub(super) async fn revoke<B: Backend>(
    backend: &B,
    token_hash: &[u8],
    now: Timestamp,
) -> StoreResult<bool> {
    let mut tx = backend.begin_write().await?;
    let Some(token) = tx.lock_token(token_hash).await? else {
        return Ok(false);
    };
    let logged_out = match token.state(now) {
        TokenState::Dead => return Ok(false),
        TokenState::Live => true,
        // A retired token came back, as in a refresh: kill the whole login,
        // but this logout still fails.
        TokenState::Rotated => false,
    };
    tx.revoke_family(&token.family, now).await?;
    tx.commit().await?;
    Ok(logged_out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;
    use crate::store::User;

    fn token(rotated: bool, revoked: bool, expires_in: i64) -> RefreshToken {
        RefreshToken {
            family: "login".into(),
            expires_at: Timestamp::UNIX_EPOCH + TimeDelta::seconds(expires_in),
            rotated,
            revoked,
            user: User {
                id: 1,
                username: "alice".into(),
                created_at: Timestamp::UNIX_EPOCH,
                profile: Default::default(),
                bot: false,
            },
        }
    }

    #[test]
    fn a_token_is_live_rotated_or_dead() {
        let now = Timestamp::UNIX_EPOCH;
        assert_eq!(token(false, false, 1).state(now), TokenState::Live);
        assert_eq!(token(true, false, 1).state(now), TokenState::Rotated);
        assert_eq!(
            token(false, false, 0).state(now),
            TokenState::Dead,
            "expiry is exclusive"
        );
        assert_eq!(
            token(true, false, -1).state(now),
            TokenState::Dead,
            "expired beats rotated"
        );
        assert_eq!(
            token(true, true, 1).state(now),
            TokenState::Dead,
            "revoked beats rotated"
        );
    }
}
