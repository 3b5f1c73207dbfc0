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
pub enum MembershipRequest {
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
pub enum Denial {
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
    action: MembershipRequest,
    direct: bool,
    actor: Standing,
    target: Standing,
) -> Result<Effect, Denial> {
    use Denial::*;
    if direct {
        return match (action, actor.role) {
            (MembershipRequest::Join, Some(_)) => Ok(Effect::Nothing),
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
        MembershipRequest::Join => match (target.banned, target.role) {
            (true, _) => Err(UserBanned),
            (false, Some(_)) => Ok(Effect::Nothing),
            (false, None) => Ok(Effect::Join),
        },
        MembershipRequest::Add if !moderator => Err(Forbidden),
        MembershipRequest::Add => match (target.banned, target.role) {
            (true, _) => Err(UserBanned),
            (false, Some(_)) => Ok(Effect::Nothing),
            (false, None) => Ok(Effect::Join),
        },
        MembershipRequest::Leave => match actor.role {
            Some(Role::Owner) => Err(OwnerCannotLeave),
            Some(_) => Ok(Effect::Drop),
            None => Ok(Effect::Nothing),
        },
        MembershipRequest::Remove if !moderator => Err(Forbidden),
        MembershipRequest::Remove if target.role.is_none() => Err(UserNotFound),
        MembershipRequest::Remove if !outranks(target) => Err(Forbidden),
        MembershipRequest::Remove => Ok(Effect::Drop),
        MembershipRequest::Ban if !moderator || !outranks(target) => Err(Forbidden),
        MembershipRequest::Ban if target.banned => Ok(Effect::Nothing),
        MembershipRequest::Ban => Ok(Effect::Ban {
            was_member: target.role.is_some(),
        }),
        MembershipRequest::Unban if !moderator => Err(Forbidden),
        MembershipRequest::Unban if !target.banned => Err(UserNotFound),
        MembershipRequest::Unban => Ok(Effect::Unban),
        MembershipRequest::SetRole(_) if actor.role != Some(Role::Owner) => Err(Forbidden),
        MembershipRequest::SetRole(Role::Owner) => Err(Forbidden),
        MembershipRequest::SetRole(_) if target.role.is_none() => Err(UserNotFound),
        MembershipRequest::SetRole(_) if target.role == Some(Role::Owner) => Err(Forbidden),
        MembershipRequest::SetRole(role) if target.role == Some(role) => Ok(Effect::Nothing),
        MembershipRequest::SetRole(role) => Ok(Effect::SetRole(role)),
        MembershipRequest::Delete if actor.role == Some(Role::Owner) => Ok(Effect::DeleteRoom),
        MembershipRequest::Delete => Err(Forbidden),
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

    fn room(
        action: MembershipRequest,
        actor: Standing,
        target: Standing,
    ) -> Result<Effect, Denial> {
        decide(action, false, actor, target)
    }

    #[test]
    fn members_remove_ban_and_add_nobody() {
        for target in [OWNER, MODERATOR, MEMBER, OUTSIDER, BANNED] {
            for action in [
                MembershipRequest::Remove,
                MembershipRequest::Ban,
                MembershipRequest::Add,
                MembershipRequest::Unban,
            ] {
                assert_eq!(room(action, MEMBER, target), Err(Denial::Forbidden));
                assert_eq!(room(action, OUTSIDER, target), Err(Denial::Forbidden));
            }
        }
    }

    #[test]
    fn moderators_remove_and_ban_members_only() {
        assert_eq!(
            room(MembershipRequest::Remove, MODERATOR, MEMBER),
            Ok(Effect::Drop)
        );
        assert_eq!(
            room(MembershipRequest::Remove, MODERATOR, MODERATOR),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            room(MembershipRequest::Remove, MODERATOR, OWNER),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            room(MembershipRequest::Ban, MODERATOR, MEMBER),
            Ok(Effect::Ban { was_member: true })
        );
        assert_eq!(
            room(MembershipRequest::Ban, MODERATOR, OUTSIDER),
            Ok(Effect::Ban { was_member: false })
        );
        assert_eq!(
            room(MembershipRequest::Ban, MODERATOR, MODERATOR),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            room(MembershipRequest::Ban, MODERATOR, OWNER),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn the_owner_removes_anyone_but_themself() {
        assert_eq!(
            room(MembershipRequest::Remove, OWNER, MODERATOR),
            Ok(Effect::Drop)
        );
        assert_eq!(
            room(MembershipRequest::Remove, OWNER, MEMBER),
            Ok(Effect::Drop)
        );
        assert_eq!(
            room(MembershipRequest::Remove, OWNER, OWNER),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            room(MembershipRequest::Ban, OWNER, OWNER),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            room(MembershipRequest::Leave, OWNER, OWNER),
            Err(Denial::OwnerCannotLeave)
        );
    }

    #[test]
    fn removing_a_non_member_is_not_found_and_banning_twice_is_idempotent() {
        assert_eq!(
            room(MembershipRequest::Remove, OWNER, OUTSIDER),
            Err(Denial::UserNotFound)
        );
        assert_eq!(
            room(MembershipRequest::Remove, OWNER, BANNED),
            Err(Denial::UserNotFound)
        );
        assert_eq!(
            room(MembershipRequest::Ban, OWNER, BANNED),
            Ok(Effect::Nothing)
        );
        assert_eq!(
            room(MembershipRequest::Unban, MODERATOR, BANNED),
            Ok(Effect::Unban)
        );
        assert_eq!(
            room(MembershipRequest::Unban, OWNER, MEMBER),
            Err(Denial::UserNotFound)
        );
    }

    #[test]
    fn banned_users_can_be_neither_added_nor_join() {
        assert_eq!(
            room(MembershipRequest::Add, OWNER, BANNED),
            Err(Denial::UserBanned)
        );
        assert_eq!(
            room(MembershipRequest::Add, MODERATOR, BANNED),
            Err(Denial::UserBanned)
        );
        assert_eq!(
            room(MembershipRequest::Join, BANNED, BANNED),
            Err(Denial::UserBanned)
        );
        assert_eq!(
            room(MembershipRequest::Join, OUTSIDER, OUTSIDER),
            Ok(Effect::Join)
        );
        assert_eq!(
            room(MembershipRequest::Add, MODERATOR, OUTSIDER),
            Ok(Effect::Join)
        );
        assert_eq!(
            room(MembershipRequest::Add, OWNER, MEMBER),
            Ok(Effect::Nothing)
        );
    }

    #[test]
    fn only_the_owner_grants_roles_and_never_ownership() {
        let moderator = MembershipRequest::SetRole(Role::Moderator);
        assert_eq!(
            room(moderator, OWNER, MEMBER),
            Ok(Effect::SetRole(Role::Moderator))
        );
        assert_eq!(room(moderator, OWNER, MODERATOR), Ok(Effect::Nothing));
        assert_eq!(room(moderator, MODERATOR, MEMBER), Err(Denial::Forbidden));
        assert_eq!(room(moderator, OWNER, OUTSIDER), Err(Denial::UserNotFound));
        assert_eq!(
            room(MembershipRequest::SetRole(Role::Member), OWNER, OWNER),
            Err(Denial::Forbidden)
        );
        assert_eq!(
            room(MembershipRequest::SetRole(Role::Owner), OWNER, MEMBER),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn leaving_is_idempotent_and_only_the_owner_deletes() {
        assert_eq!(
            room(MembershipRequest::Leave, MEMBER, MEMBER),
            Ok(Effect::Drop)
        );
        assert_eq!(
            room(MembershipRequest::Leave, OUTSIDER, OUTSIDER),
            Ok(Effect::Nothing)
        );
        assert_eq!(
            room(MembershipRequest::Delete, OWNER, OWNER),
            Ok(Effect::DeleteRoom)
        );
        assert_eq!(
            room(MembershipRequest::Delete, MODERATOR, MODERATOR),
            Err(Denial::Forbidden)
        );
    }

    #[test]
    fn a_direct_conversations_membership_never_changes() {
        let member = MEMBER;
        for action in [
            MembershipRequest::Add,
            MembershipRequest::Leave,
            MembershipRequest::Remove,
            MembershipRequest::Ban,
            MembershipRequest::Unban,
            MembershipRequest::SetRole(Role::Moderator),
            MembershipRequest::Delete,
        ] {
            assert_eq!(decide(action, true, member, member), Err(Denial::Forbidden));
        }
        assert_eq!(
            decide(MembershipRequest::Join, true, member, member),
            Ok(Effect::Nothing)
        );
        assert_eq!(
            decide(MembershipRequest::Join, true, OUTSIDER, OUTSIDER),
            Err(Denial::Forbidden)
        );
    }
}
