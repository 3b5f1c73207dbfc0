//! Who may change whose membership of a room (README, "Members, moderation
//! and blocking"): decided from the standing of the user acting and of the
//! user acted on, as the database holds them under the room's lock, so two
//! moderators acting at once cannot slip past a rule. Pure: no I/O.

use crate::domain::Role;

/// Where a user stands in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Standing {
    /// None: not a member.
    pub role: Option<Role>,
    pub banned: bool,
}

/// What a user asks to do to a room's membership. `Join`, `Leave` and
/// `Delete` act on the actor themself (or the room); the others on another
/// user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Become a member of a room one may see (a public room, on joining or
    /// posting there).
    Join,
    /// Add the target as a member.
    Add,
    Leave,
    Remove,
    Ban,
    Unban,
    SetRole(Role),
    Delete,
}

/// What the store does once an action is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Allowed, and already so: nothing changes (the actions are idempotent).
    Nothing,
    /// The target becomes a member.
    Join,
    /// The target's membership ends (leave, remove).
    Drop,
    /// The target is banned (and, if `was_member`, no longer a member).
    Ban {
        was_member: bool,
    },
    Unban,
    SetRole(Role),
    DeleteRoom,
}

/// Why an action is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("you may not do that in this room")]
    Forbidden,
    #[error("no such user in this room")]
    UserNotFound,
    #[error("the user is banned from this room")]
    UserBanned,
    #[error("the owner cannot leave the room")]
    OwnerCannotLeave,
}

/// Decides `action` by `actor` on `target` (the actor themself for `Join`,
/// `Leave` and `Delete`) in a room, `direct` if it is a direct
/// conversation (whose membership never changes).
pub fn decide(
    action: Action,
    direct: bool,
    actor: Standing,
    target: Standing,
) -> Result<Effect, Refusal> {
    use Refusal::*;
    if direct {
        return match (action, actor.role) {
            (Action::Join, Some(_)) => Ok(Effect::Nothing),
            _ => Err(Forbidden),
        };
    }
    let moderator = actor.role.is_some_and(Role::moderates);
    // Whom the actor may remove or ban: nobody the owner; moderators only
    // members (and users who are not in the room).
    let outranks = |target: Standing| match (actor.role, target.role) {
        (_, Some(Role::Owner)) => false,
        (Some(Role::Owner), _) => true,
        (Some(Role::Moderator), Some(Role::Member) | None) => true,
        _ => false,
    };
    match action {
        Action::Join => match (target.banned, target.role) {
            (true, _) => Err(UserBanned),
            (false, Some(_)) => Ok(Effect::Nothing),
            (false, None) => Ok(Effect::Join),
        },
        Action::Add if !moderator => Err(Forbidden),
        Action::Add => match (target.banned, target.role) {
            (true, _) => Err(UserBanned),
            (false, Some(_)) => Ok(Effect::Nothing),
            (false, None) => Ok(Effect::Join),
        },
        Action::Leave => match actor.role {
            Some(Role::Owner) => Err(OwnerCannotLeave),
            Some(_) => Ok(Effect::Drop),
            None => Ok(Effect::Nothing),
        },
        Action::Remove if !moderator => Err(Forbidden),
        Action::Remove if target.role.is_none() => Err(UserNotFound),
        Action::Remove if !outranks(target) => Err(Forbidden),
        Action::Remove => Ok(Effect::Drop),
        Action::Ban if !moderator || !outranks(target) => Err(Forbidden),
        Action::Ban if target.banned => Ok(Effect::Nothing),
        Action::Ban => Ok(Effect::Ban {
            was_member: target.role.is_some(),
        }),
        Action::Unban if !moderator => Err(Forbidden),
        Action::Unban if !target.banned => Err(UserNotFound),
        Action::Unban => Ok(Effect::Unban),
        Action::SetRole(_) if actor.role != Some(Role::Owner) => Err(Forbidden),
        Action::SetRole(Role::Owner) => Err(Forbidden),
        Action::SetRole(_) if target.role.is_none() => Err(UserNotFound),
        Action::SetRole(_) if target.role == Some(Role::Owner) => Err(Forbidden),
        Action::SetRole(role) if target.role == Some(role) => Ok(Effect::Nothing),
        Action::SetRole(role) => Ok(Effect::SetRole(role)),
        Action::Delete if actor.role == Some(Role::Owner) => Ok(Effect::DeleteRoom),
        Action::Delete => Err(Forbidden),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OWNER: Standing = Standing {
        role: Some(Role::Owner),
        banned: false,
    };
    const MODERATOR: Standing = Standing {
        role: Some(Role::Moderator),
        banned: false,
    };
    const MEMBER: Standing = Standing {
        role: Some(Role::Member),
        banned: false,
    };
    const OUTSIDER: Standing = Standing {
        role: None,
        banned: false,
    };
    const BANNED: Standing = Standing {
        role: None,
        banned: true,
    };

    fn room(action: Action, actor: Standing, target: Standing) -> Result<Effect, Refusal> {
        decide(action, false, actor, target)
    }

    #[test]
    fn members_remove_ban_and_add_nobody() {
        for target in [OWNER, MODERATOR, MEMBER, OUTSIDER, BANNED] {
            for action in [Action::Remove, Action::Ban, Action::Add, Action::Unban] {
                assert_eq!(room(action, MEMBER, target), Err(Refusal::Forbidden));
                assert_eq!(room(action, OUTSIDER, target), Err(Refusal::Forbidden));
            }
        }
    }

    #[test]
    fn moderators_remove_and_ban_members_only() {
        assert_eq!(room(Action::Remove, MODERATOR, MEMBER), Ok(Effect::Drop));
        assert_eq!(
            room(Action::Remove, MODERATOR, MODERATOR),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            room(Action::Remove, MODERATOR, OWNER),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            room(Action::Ban, MODERATOR, MEMBER),
            Ok(Effect::Ban { was_member: true })
        );
        assert_eq!(
            room(Action::Ban, MODERATOR, OUTSIDER),
            Ok(Effect::Ban { was_member: false })
        );
        assert_eq!(
            room(Action::Ban, MODERATOR, MODERATOR),
            Err(Refusal::Forbidden)
        );
        assert_eq!(room(Action::Ban, MODERATOR, OWNER), Err(Refusal::Forbidden));
    }

    #[test]
    fn the_owner_removes_anyone_but_themself() {
        assert_eq!(room(Action::Remove, OWNER, MODERATOR), Ok(Effect::Drop));
        assert_eq!(room(Action::Remove, OWNER, MEMBER), Ok(Effect::Drop));
        assert_eq!(room(Action::Remove, OWNER, OWNER), Err(Refusal::Forbidden));
        assert_eq!(room(Action::Ban, OWNER, OWNER), Err(Refusal::Forbidden));
        assert_eq!(
            room(Action::Leave, OWNER, OWNER),
            Err(Refusal::OwnerCannotLeave)
        );
    }

    #[test]
    fn removing_a_non_member_is_not_found_and_banning_twice_is_idempotent() {
        assert_eq!(
            room(Action::Remove, OWNER, OUTSIDER),
            Err(Refusal::UserNotFound)
        );
        assert_eq!(
            room(Action::Remove, OWNER, BANNED),
            Err(Refusal::UserNotFound)
        );
        assert_eq!(room(Action::Ban, OWNER, BANNED), Ok(Effect::Nothing));
        assert_eq!(room(Action::Unban, MODERATOR, BANNED), Ok(Effect::Unban));
        assert_eq!(
            room(Action::Unban, OWNER, MEMBER),
            Err(Refusal::UserNotFound)
        );
    }

    #[test]
    fn banned_users_can_be_neither_added_nor_join() {
        assert_eq!(room(Action::Add, OWNER, BANNED), Err(Refusal::UserBanned));
        assert_eq!(
            room(Action::Add, MODERATOR, BANNED),
            Err(Refusal::UserBanned)
        );
        assert_eq!(room(Action::Join, BANNED, BANNED), Err(Refusal::UserBanned));
        assert_eq!(room(Action::Join, OUTSIDER, OUTSIDER), Ok(Effect::Join));
        assert_eq!(room(Action::Add, MODERATOR, OUTSIDER), Ok(Effect::Join));
        assert_eq!(room(Action::Add, OWNER, MEMBER), Ok(Effect::Nothing));
    }

    #[test]
    fn only_the_owner_grants_roles_and_never_ownership() {
        let moderator = Action::SetRole(Role::Moderator);
        assert_eq!(
            room(moderator, OWNER, MEMBER),
            Ok(Effect::SetRole(Role::Moderator))
        );
        assert_eq!(room(moderator, OWNER, MODERATOR), Ok(Effect::Nothing));
        assert_eq!(room(moderator, MODERATOR, MEMBER), Err(Refusal::Forbidden));
        assert_eq!(room(moderator, OWNER, OUTSIDER), Err(Refusal::UserNotFound));
        assert_eq!(
            room(Action::SetRole(Role::Member), OWNER, OWNER),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            room(Action::SetRole(Role::Owner), OWNER, MEMBER),
            Err(Refusal::Forbidden)
        );
    }

    #[test]
    fn leaving_is_idempotent_and_only_the_owner_deletes() {
        assert_eq!(room(Action::Leave, MEMBER, MEMBER), Ok(Effect::Drop));
        assert_eq!(room(Action::Leave, OUTSIDER, OUTSIDER), Ok(Effect::Nothing));
        assert_eq!(room(Action::Delete, OWNER, OWNER), Ok(Effect::DeleteRoom));
        assert_eq!(
            room(Action::Delete, MODERATOR, MODERATOR),
            Err(Refusal::Forbidden)
        );
    }

    #[test]
    fn a_direct_conversations_membership_never_changes() {
        let member = MEMBER;
        for action in [
            Action::Add,
            Action::Leave,
            Action::Remove,
            Action::Ban,
            Action::Unban,
            Action::SetRole(Role::Moderator),
            Action::Delete,
        ] {
            assert_eq!(
                decide(action, true, member, member),
                Err(Refusal::Forbidden)
            );
        }
        assert_eq!(
            decide(Action::Join, true, member, member),
            Ok(Effect::Nothing)
        );
        assert_eq!(
            decide(Action::Join, true, OUTSIDER, OUTSIDER),
            Err(Refusal::Forbidden)
        );
    }
}
