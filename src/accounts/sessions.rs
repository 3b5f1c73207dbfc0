//! Ending what an account has open, when an administrator deactivates it
//! or the account is deleted (README, "Administration"): a person's logins
//! end (`logins`: refresh tokens revoked, access tokens refused, live
//! connections closed on every instance); a bot's token sessions end while
//! its token is kept (`bots`); and so do the sessions of every bot the
//! account owns, whose tokens are refused while their owner may not act.

use crate::state::AppState;
use crate::store::{EndLogins, StoreResult, User};

/// Ends every session of `user` and of the bots they own, on every
/// instance.
pub async fn end_sessions(state: &AppState, user: &User) -> StoreResult<()> {
    if user.bot {
        state.bots.end_sessions(user.id).await?;
    } else {
        state.logins.end(user.id, EndLogins::All).await?;
    }
    state.bots.end_sessions_of_owner(user.id).await
}
