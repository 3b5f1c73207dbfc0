//! Changing a profile, and telling others live.

use crate::state::AppState;
use crate::store::{ProfileChange, StoreResult, User};

/// Applies `change` to `user_id`'s profile and announces it; the user as
/// it now is (None: the account is gone).
pub async fn update_profile(
    state: &AppState,
    user_id: i64,
    change: &ProfileChange,
) -> StoreResult<Option<User>> {
    let user = state.store.update_profile(user_id, change).await?;
    if let Some(user) = &user {
        announce_profile(state, user).await;
    }
    Ok(user)
}

/// Tells `user`'s profile as it now is to every user who shares a room
/// with them and to themself (their other tabs), on every instance, as a
/// `user_updated` on the user destination. A failed read is logged: the
/// change is committed, and a client's next read shows it.
pub async fn announce_profile(state: &AppState, user: &User) {
    let mut users = match state.store.room_peers(user.id).await {
        Ok(users) => users,
        Err(e) => {
            tracing::warn!(error = %e, user_id = user.id, "reading who to tell of a profile failed");
            return;
        }
    };
    if !users.contains(&user.id) {
        users.push(user.id);
    }
    let view = serde_json::to_value(state.user_views.user(user)).expect("user view serialises");
    state.user_updates.user_updated(users, view).await;
}
