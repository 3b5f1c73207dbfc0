//! Per-user connection counting (`MAX_CONNECTIONS_PER_USER`): WebSockets
//! (from CONNECTED on), SSE streams and held long polls of one user, counted
//! together on this instance. Each open connection holds a [`ConnectionSlot`]
//! that gives its place back when dropped, however the connection ends.
//!
//! The map holds only users with at least one connection, so it is bounded by
//! the number of open connections.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Debug)]
pub struct UserConnections {
    max_per_user: usize,
    open: Mutex<HashMap<i64, usize>>,
}

/// One open connection of a user; dropping it frees the place.
#[derive(Debug)]
pub struct ConnectionSlot {
    owner: Arc<UserConnections>,
    user_id: i64,
}

impl UserConnections {
    pub fn new(max_per_user: usize) -> Arc<Self> {
        Arc::new(UserConnections {
            max_per_user,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection of `user_id`, or None when the user
    /// already has `MAX_CONNECTIONS_PER_USER`. Checked and counted under one
    /// lock, so connections opened together cannot slip past the limit.
    pub fn try_open(self: &Arc<Self>, user_id: i64) -> Option<ConnectionSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(user_id).or_insert(0);
        if *n >= self.max_per_user {
            if *n == 0 {
                open.remove(&user_id);
            }
            return None;
        }
        *n += 1;
        Some(ConnectionSlot {
            owner: Arc::clone(self),
            user_id,
        })
    }

    /// Connections `user_id` has open.
    pub fn count(&self, user_id: i64) -> usize {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&user_id).copied().unwrap_or(0)
    }

    /// Users with at least one connection open.
    pub fn users(&self) -> usize {
        self.open.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.user_id) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_gets_at_most_max_places_and_dropping_one_frees_it() {
        let c = UserConnections::new(2);
        let a = c.try_open(1).unwrap();
        let _b = c.try_open(1).unwrap();
        assert!(c.try_open(1).is_none());
        assert!(c.try_open(2).is_some(), "another user is not affected");
        drop(a);
        assert_eq!(c.count(1), 1);
        assert!(c.try_open(1).is_some());
    }

    #[test]
    fn the_map_forgets_users_without_connections() {
        let c = UserConnections::new(1);
        for user in 0..1000 {
            drop(c.try_open(user).unwrap());
        }
        assert_eq!(c.users(), 0);
        let zero = UserConnections::new(0);
        assert!(zero.try_open(5).is_none());
        assert_eq!(zero.users(), 0);
    }
}
