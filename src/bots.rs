//! Bots (README, "Bots and webhooks"): accounts a user owns that act
//! through a long-lived API token instead of a password. This service owns
//! the token's life (made and shown once, rotated; dropped when the bot's
//! account is closed: [`delete`] goes through `accounts` like any account's
//! deletion) and is the one place a presented bot token becomes an [`AuthUser`], for
//! every edge (the REST extractor, STOMP CONNECT, SSE).
//!
//! It must not keep tokens or their hashes in memory: every presentation is
//! one indexed lookup, so a rotation or deletion holds on every instance at
//! once.

use std::sync::Arc;

use crate::accounts::{self, DeletionError};
use crate::auth::AuthUser;
use crate::auth::jwt::now_secs;
use crate::auth::{bot_token, refresh};
use crate::domain::Username;
use crate::logins::{EndLogins, LoginId, Logins};
use crate::state::AppState;
use crate::store::{BotAccount, DynStore, StoreResult, User};

/// How long a bot token's session may stay open: tokens do not expire, so
/// a connection opened with one ends only when it is rotated, the bot is
/// deleted or its owner may no longer act (ten years, well inside every
/// timer's range).
const SESSION_SECS: i64 = 10 * 365 * 24 * 3600;

#[derive(Clone)]
pub struct Bots {
    store: DynStore,
    logins: Arc<Logins>,
}

impl Bots {
    /// `logins`: a bot token's sessions belong to a login of the bot, which
    /// a rotation or deletion ends (so its live connections end on every
    /// instance).
    pub fn new(store: DynStore, logins: Arc<Logins>) -> Self {
        Bots { store, logins }
    }

    /// The bot a presented token names, if it may act now. None for an
    /// unknown (rotated, deleted) token.
    pub async fn authenticate(&self, token: &str) -> StoreResult<Option<AuthUser>> {
        let Some(bot) = self.store.bot_by_token(&bot_token::hash(token)).await? else {
            return Ok(None);
        };
        if !owner_may_act(&bot) {
            return Ok(None);
        }
        if self.logins.refuses(bot.login) {
            return Ok(None);
        }
        self.logins.used(bot.login);
        Ok(Some(AuthUser {
            id: bot.user.id,
            username: bot.user.username,
            expires_at: now_secs() + SESSION_SECS,
            login: bot.login,
        }))
    }

    /// A new bot owned by `owner`, and its token (shown once).
    pub async fn create(
        &self,
        owner: &AuthUser,
        username: &Username,
    ) -> StoreResult<(User, String)> {
        let token = bot_token::generate();
        let bot = self
            .store
            .create_bot(owner.id, username, &token.hash)
            .await?;
        // Until its login is stored the token is refused; it is not shown
        // before.
        let login = self.new_login(bot.id).await?;
        self.store
            .replace_bot_token(bot.id, Some(&token.hash), login)
            .await?;
        Ok((bot, token.token))
    }

    /// A new token for `owner`'s bot `username`: the old one is refused
    /// from the commit on, and the sessions opened with it end on every
    /// instance. None when they own no such bot.
    pub async fn rotate(
        &self,
        owner: &AuthUser,
        username: &str,
    ) -> StoreResult<Option<(User, String)>> {
        let Some(bot) = self.store.owned_bot(owner.id, username).await? else {
            return Ok(None);
        };
        let token = bot_token::generate();
        let login = self.new_login(bot.id).await?;
        self.store
            .replace_bot_token(bot.id, Some(&token.hash), login)
            .await?;
        self.logins.end(bot.id, EndLogins::AllBut(login)).await?;
        Ok(Some((bot, token.token)))
    }

    /// Ends the live sessions of bot `bot_id` on every instance, keeping
    /// its token: the token moves to a new login and the old one ends. For
    /// a deactivation of the bot or its owner: meanwhile the token is
    /// refused ([`owner_may_act`]), and it works again after a
    /// reactivation (an ended login stays refused).
    pub async fn end_sessions(&self, bot_id: i64) -> StoreResult<()> {
        let login = self.new_login(bot_id).await?;
        self.store.replace_bot_token(bot_id, None, login).await?;
        self.logins.end(bot_id, EndLogins::AllBut(login)).await
    }

    /// [`Bots::end_sessions`] of every bot `owner_id` owns.
    pub async fn end_sessions_of_owner(&self, owner_id: i64) -> StoreResult<()> {
        for bot in self.store.bots_of(owner_id).await? {
            self.end_sessions(bot.id).await?;
        }
        Ok(())
    }

    /// A login for a bot token's sessions. Logins carry a refresh token;
    /// this one's is random and never handed out, so it can never be used.
    async fn new_login(&self, bot_id: i64) -> StoreResult<LoginId> {
        let unused = refresh::generate();
        let now = chrono::Utc::now();
        let never = now + chrono::Duration::days(SESSION_SECS / 86_400);
        self.store
            .start_login(bot_id, Some("bot token"), &unused.hash, never, now)
            .await
    }
}

/// Deletes `owner`'s bot `username` as an account is deleted
/// (`accounts::delete_account`, README "Accounts"): its token is refused
/// from the commit on (closing a bot's account drops it), its live
/// connections end on every instance, the messages it sent are erased, it
/// leaves its rooms, its name stays reserved; the messages of webhooks it
/// made are the room's and stay. None when they own no such bot (or it is
/// being deleted already).
pub async fn delete(
    state: &Arc<AppState>,
    owner: &AuthUser,
    username: &str,
) -> Result<Option<User>, DeletionError> {
    let Some(bot) = state.store.owned_bot(owner.id, username).await? else {
        return Ok(None);
    };
    Ok(accounts::delete_account(state, bot.id)
        .await?
        .then_some(bot))
}

/// Whether the bot's owner may act through it. The one place for the
/// owner's standing: the bots of a deactivated or deleted owner (and a
/// deactivated or deleted bot) are refused here (the
/// owner's columns come with the token lookup, `store/bots.rs`
/// `by_token`, which joins the owner).
fn owner_may_act(bot: &BotAccount) -> bool {
    !bot.barred
}
