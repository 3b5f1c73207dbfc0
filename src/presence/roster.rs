//! [`Roster`]: this instance's view of who is online: the users connected
//! here (counted, so a second tab closing leaves them online) and, per
//! other instance, the users online there, as their signals and the sweep
//! of the presence sets report them. It answers "is this user online
//! anywhere" and says when that changes; the service announces each change
//! to the user's rooms. Pure state: no I/O.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// A user came online or went offline, all instances together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub user_id: i64,
    pub username: String,
    pub online: bool,
}

#[derive(Default)]
struct View {
    /// Connections of each user on this instance.
    local: HashMap<i64, u32>,
    /// Users online on each other instance.
    remote: HashMap<String, HashSet<i64>>,
    /// The usernames of the users online anywhere.
    names: HashMap<i64, String>,
}

impl View {
    fn online(&self, user_id: i64) -> bool {
        self.local.contains_key(&user_id) || self.remote.values().any(|u| u.contains(&user_id))
    }

    /// Applies `change` to the view and reports whether the user's being
    /// online anywhere changed.
    fn changing(
        &mut self,
        user_id: i64,
        username: &str,
        change: impl FnOnce(&mut Self),
    ) -> Option<Change> {
        let before = self.online(user_id);
        change(self);
        let after = self.online(user_id);
        if after {
            self.names.insert(user_id, username.to_string());
        } else {
            self.names.remove(&user_id);
        }
        (before != after).then(|| Change {
            user_id,
            username: username.to_string(),
            online: after,
        })
    }
}

/// This instance's view of who is online.
pub struct Roster {
    /// This instance's id (signals from it are its own).
    pub instance: String,
    view: Mutex<View>,
}

/// What a local connection opening or closing changed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Local {
    /// The user's first connection here opened, or their last one closed
    /// (other instances must hear of it).
    pub here: bool,
    /// Their being online anywhere changed.
    pub anywhere: Option<Change>,
}

impl Roster {
    pub fn new(instance: String) -> Self {
        Roster {
            instance,
            view: Mutex::new(View::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().expect("presence lock")
    }

    pub fn is_online(&self, user_id: i64) -> bool {
        self.lock().online(user_id)
    }

    /// The users connected to this instance, with their names.
    pub fn local_users(&self) -> Vec<(i64, String)> {
        let view = self.lock();
        view.local
            .keys()
            .filter_map(|id| Some((*id, view.names.get(id)?.clone())))
            .collect()
    }

    /// A connection of `user_id` opened here.
    pub fn arrive(&self, user_id: i64, username: &str) -> Local {
        let mut here = false;
        let anywhere = self.lock().changing(user_id, username, |v| {
            let n = v.local.entry(user_id).or_insert(0);
            here = *n == 0;
            *n += 1;
        });
        Local { here, anywhere }
    }

    /// A connection of `user_id` here closed.
    pub fn depart(&self, user_id: i64, username: &str) -> Local {
        let mut here = false;
        let anywhere = self.lock().changing(user_id, username, |v| {
            if let Some(n) = v.local.get_mut(&user_id) {
                *n -= 1;
                if *n == 0 {
                    v.local.remove(&user_id);
                    here = true;
                }
            }
        });
        Local { here, anywhere }
    }

    /// Another instance says `user_id` is now online there, or not.
    pub fn remote(
        &self,
        instance: &str,
        user_id: i64,
        username: &str,
        online: bool,
    ) -> Option<Change> {
        if instance == self.instance {
            return None; // our own, already applied
        }
        self.lock().changing(user_id, username, |v| {
            let users = v.remote.entry(instance.to_string()).or_default();
            if online {
                users.insert(user_id);
            } else {
                users.remove(&user_id);
            }
        })
    }

    /// The instances known here other than this one.
    pub fn instances(&self) -> HashSet<String> {
        self.lock().remote.keys().cloned().collect()
    }

    /// What `instance` reports as online there, as a whole (read after an
    /// outage, or when an instance is first seen).
    pub fn replace(&self, instance: &str, users: Vec<(i64, String)>) -> Vec<Change> {
        if instance == self.instance {
            return Vec::new();
        }
        let mut view = self.lock();
        let old = view.remote.remove(instance).unwrap_or_default();
        let new: HashSet<i64> = users.iter().map(|(id, _)| *id).collect();
        let mut changes = Vec::new();
        // Back in place first, then applied one user at a time.
        view.remote.insert(instance.to_string(), old.clone());
        for (id, name) in &users {
            let change = view.changing(*id, name, |v| {
                v.remote
                    .entry(instance.to_string())
                    .or_default()
                    .insert(*id);
            });
            changes.extend(change);
        }
        for id in old.difference(&new) {
            let name = view.names.get(id).cloned().unwrap_or_default();
            let change = view.changing(*id, &name, |v| {
                if let Some(users) = v.remote.get_mut(instance) {
                    users.remove(id);
                }
            });
            changes.extend(change);
        }
        changes
    }

    /// Instances that are gone (their presence key expired: stopped, or
    /// killed without shutting down): their users count as offline.
    pub fn forget(&self, instance: &str) -> Vec<Change> {
        let mut view = self.lock();
        let users = view.remote.get(instance).cloned().unwrap_or_default();
        let mut changes = Vec::new();
        for id in users {
            let name = view.names.get(&id).cloned().unwrap_or_default();
            let change = view.changing(id, &name, |v| {
                if let Some(users) = v.remote.get_mut(instance) {
                    users.remove(&id);
                }
            });
            changes.extend(change);
        }
        view.remote.remove(instance);
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn online(user_id: i64, online: bool) -> Option<Change> {
        Some(Change {
            user_id,
            username: format!("u{user_id}"),
            online,
        })
    }

    #[test]
    fn a_second_tab_closing_leaves_the_user_online() {
        let p = Roster::new("a".into());
        assert_eq!(p.arrive(1, "u1").anywhere, online(1, true));
        let second = p.arrive(1, "u1");
        assert!(!second.here && second.anywhere.is_none());
        let closing = p.depart(1, "u1");
        assert!(!closing.here && closing.anywhere.is_none());
        assert!(p.is_online(1));
        let last = p.depart(1, "u1");
        assert!(last.here);
        assert_eq!(last.anywhere, online(1, false));
        assert!(!p.is_online(1));
    }

    #[test]
    fn a_user_online_elsewhere_stays_online_when_leaving_here() {
        let p = Roster::new("a".into());
        assert_eq!(p.remote("b", 1, "u1", true), online(1, true));
        assert_eq!(p.arrive(1, "u1").anywhere, None, "already online on b");
        let left = p.depart(1, "u1");
        assert!(left.here, "the other instances must hear of it");
        assert_eq!(left.anywhere, None, "still online on b");
        assert_eq!(p.remote("b", 1, "u1", false), online(1, false));
    }

    #[test]
    fn an_instance_that_is_gone_takes_its_users_offline() {
        let p = Roster::new("a".into());
        p.remote("b", 1, "u1", true);
        p.remote("b", 2, "u2", true);
        p.remote("c", 2, "u2", true);
        let changes = p.forget("b");
        assert_eq!(changes, vec![online(1, false).unwrap()]);
        assert!(p.is_online(2), "still on c");
        assert_eq!(p.instances(), HashSet::from(["c".to_string()]));
    }

    #[test]
    fn replacing_an_instances_users_reports_only_the_differences() {
        let p = Roster::new("a".into());
        p.remote("b", 1, "u1", true);
        p.remote("b", 2, "u2", true);
        let mut changes = p.replace("b", vec![(2, "u2".into()), (3, "u3".into())]);
        changes.sort_by_key(|c| c.user_id);
        assert_eq!(
            changes,
            vec![online(1, false).unwrap(), online(3, true).unwrap()]
        );
        assert!(p.replace("a", vec![(9, "u9".into())]).is_empty(), "our own");
        assert!(p.remote("a", 9, "u9", true).is_none(), "our own signal");
    }
}
