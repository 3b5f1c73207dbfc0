//! Bots (README, "Bots and webhooks"): accounts a user owns that act
//! through a long-lived API token instead of a password. This service owns
//! the token's life (made and shown once, rotated, dropped with the bot)
//! and is the one place a presented bot token becomes an [`AuthUser`], for
//! every edge (the REST extractor, STOMP CONNECT, SSE).
//!
//! It must not keep tokens or their hashes in memory: every presentation is
//! one indexed lookup, so a rotation or deletion holds on every instance at
//! once.

use crate::auth::AuthUser;
use crate::auth::bot_token;
use crate::auth::jwt::now_secs;
use crate::domain::Username;
use crate::store::{BotAccount, DynStore, StoreResult, User};

/// How long a bot token's session may stay open: tokens do not expire, so
/// a connection opened with one ends only when it is rotated, the bot is
/// deleted or its owner may no longer act (ten years, well inside every
/// timer's range).
const SESSION_SECS: i64 = 10 * 365 * 24 * 3600;

#[derive(Clone)]
pub struct Bots {
    store: DynStore,
}

impl Bots {
    pub fn new(store: DynStore) -> Self {
        Bots { store }
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
        Ok(Some(AuthUser {
            id: bot.user.id,
            username: bot.user.username,
            expires_at: now_secs() + SESSION_SECS,
        }))
    }

    /// A new bot owned by `owner`, and its token (shown once).
    pub async fn create(
        &self,
        owner: &AuthUser,
        username: &Username,
    ) -> StoreResult<(User, String)> {
        let token = bot_token::generate();
        let user = self
            .store
            .create_bot(owner.id, username, &token.hash)
            .await?;
        Ok((user, token.token))
    }

    /// A new token for `owner`'s bot `username`; the old one is refused
    /// from the commit on. None when they own no such bot.
    pub async fn rotate(
        &self,
        owner: &AuthUser,
        username: &str,
    ) -> StoreResult<Option<(User, String)>> {
        let token = bot_token::generate();
        let bot = self
            .store
            .replace_bot_token(owner.id, username, &token.hash)
            .await?;
        Ok(bot.map(|bot| (bot, token.token)))
    }

    /// Deletes `owner`'s bot `username`: its token is refused from the
    /// commit on. None when they own no such bot.
    pub async fn delete(&self, owner: &AuthUser, username: &str) -> StoreResult<Option<User>> {
        self.store.delete_bot(owner.id, username).await
    }
}

/// Whether the bot's owner may act through it. The one place for the
/// owner's standing: a deactivated owner's bots are refused here (the
/// owner's columns come with the token lookup, `store/bots.rs`
/// `by_token`, which joins the owner). Until accounts can be deactivated,
/// every owner may.
fn owner_may_act(_bot: &BotAccount) -> bool {
    true
}
