//! `GET /api/v1/config`: the limits and rules a client needs to know before
//! it asks, read from this instance's settings and from the server's own rule
//! functions, so that no client restates them (README, "REST API",
//! `GET /config`). Nothing here decides anything: the routes that act still
//! check every limit and rule themselves; a client uses this answer only to
//! size its inputs and to hide what the server would refuse.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{ClientId, ReactionKey, Role};
use crate::http::{history, search};
use crate::state::AppState;
use crate::store::moderation::{self, MembershipRequest, Standing};

/// What a client needs to know of this server's limits and rules.
// Fields in alphabetical order, the order the documented bodies show.
#[derive(Serialize, ToSchema)]
pub struct ClientConfig {
    /// Whether this server sends mail (`SMTP_URL` is set): email
    /// verification and password reset. Without it those routes answer 503
    /// `mail_unavailable`, and a client hides them.
    #[schema(example = true)]
    mail: bool,
    /// Longest `client-id` / `Idempotency-Key`, in characters.
    #[schema(example = 64)]
    max_client_id_chars: usize,
    /// Largest chat message (or edit) body in bytes of UTF-8 (`MAX_BODY_BYTES`).
    /// A STOMP SEND over it is an ERROR that ends the session.
    #[schema(example = 4096)]
    max_body_bytes: usize,
    /// Largest `limit` of a history page.
    #[schema(example = 200)]
    max_history_limit: i64,
    /// Longest reaction key, in bytes of UTF-8.
    #[schema(example = 32)]
    max_reaction_key_bytes: usize,
    /// What each role may do in a room (not in a direct conversation, whose
    /// membership nobody changes).
    permissions: Permissions,
    search: SearchLimits,
    /// Typing signals per second per user and room that are passed on
    /// (`TYPING_RATE`; 0: unlimited); extra ones are dropped silently.
    #[schema(example = 1)]
    typing_rate: u32,
}

/// Bounds of `GET /search` and `GET /me/mentions`.
#[derive(Serialize, ToSchema)]
#[schema(as = SearchLimits)]
struct SearchLimits {
    /// Largest `limit` of a page.
    #[schema(example = 50)]
    max_limit: i64,
    /// Longest `q`, in characters after trimming.
    #[schema(example = 100)]
    max_query_chars: usize,
    /// Shortest `q`, in characters after trimming.
    #[schema(example = 2)]
    min_query_chars: usize,
}

/// What a member of each role may do in a room.
#[derive(Serialize, ToSchema)]
struct Permissions {
    member: RolePermissions,
    moderator: RolePermissions,
    owner: RolePermissions,
}

/// What a member of one role may do. Lists of roles name the members this
/// role may act on.
#[derive(Serialize, ToSchema)]
struct RolePermissions {
    /// Add people to the room.
    add_members: bool,
    /// Ban members of these roles (and people who are not members).
    #[schema(example = json!(["member"]))]
    ban: Vec<&'static str>,
    /// Delete messages of others (one's own messages anyone may delete).
    delete_any_message: bool,
    /// Delete the room.
    delete_room: bool,
    /// Leave the room.
    leave: bool,
    /// Manage the room's webhooks and slash commands (README, "Bots and
    /// webhooks").
    manage_integrations: bool,
    /// Remove members of these roles.
    #[schema(example = json!(["member"]))]
    remove: Vec<&'static str>,
    /// Make members of these roles moderators or plain members.
    #[schema(example = json!([]))]
    set_role: Vec<&'static str>,
    /// See the bans and lift them.
    unban: bool,
}

const ROLES: [Role; 3] = [Role::Owner, Role::Moderator, Role::Member];

/// Asks the server's own rule (`moderation::decide`) instead of writing it
/// down a second time.
fn permissions_of(role: Role) -> RolePermissions {
    let me = Standing {
        role: Some(role),
        banned: false,
    };
    let member = |role| Standing {
        role: Some(role),
        banned: false,
    };
    let allowed = |action, target| moderation::decide(action, false, me, target).is_ok();
    let on = |allowed_on: &dyn Fn(Standing) -> bool| -> Vec<&'static str> {
        ROLES
            .into_iter()
            .filter(|r| allowed_on(member(*r)))
            .map(Role::as_str)
            .collect()
    };
    RolePermissions {
        add_members: allowed(MembershipRequest::Add, Standing::default()),
        ban: on(&|t| allowed(MembershipRequest::Ban, t)),
        delete_any_message: role.moderates(),
        delete_room: allowed(MembershipRequest::Delete, me),
        leave: allowed(MembershipRequest::Leave, me),
        manage_integrations: role.moderates(),
        remove: on(&|t| allowed(MembershipRequest::Remove, t)),
        set_role: on(&|t| {
            allowed(MembershipRequest::SetRole(Role::Moderator), t)
                && allowed(MembershipRequest::SetRole(Role::Member), t)
        }),
        unban: allowed(
            MembershipRequest::Unban,
            Standing {
                role: None,
                banned: true,
            },
        ),
    }
}

/// The limits and rules a client needs: message size, search bounds, what
/// each role may do. No authentication needed.
#[utoipa::path(
    tag = "operations",
    operation_id = "client_config",
    responses(
        (status = 200, description = "This server's limits and rules for clients", body = ClientConfig),
    ),
)]
#[get("/config")]
pub async fn client_config(state: web::Data<AppState>) -> HttpResponse {
    let limits = &state.config.limits;
    HttpResponse::Ok().json(ClientConfig {
        mail: state.mailer.is_some(),
        max_client_id_chars: ClientId::MAX_CHARS,
        max_body_bytes: limits.max_body_bytes,
        max_history_limit: history::MAX_LIMIT,
        max_reaction_key_bytes: ReactionKey::MAX_BYTES,
        permissions: Permissions {
            member: permissions_of(Role::Member),
            moderator: permissions_of(Role::Moderator),
            owner: permissions_of(Role::Owner),
        },
        search: SearchLimits {
            max_limit: search::MAX_LIMIT,
            max_query_chars: search::MAX_QUERY_CHARS,
            min_query_chars: search::MIN_QUERY_CHARS,
        },
        typing_rate: limits.typing_rate,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_follow_the_moderation_rule() {
        let owner = permissions_of(Role::Owner);
        assert_eq!(
            owner.remove,
            ["moderator", "member"],
            "nobody acts on the owner"
        );
        assert_eq!(owner.set_role, ["moderator", "member"]);
        assert!(
            owner.delete_room && !owner.leave,
            "the owner deletes, never leaves"
        );
        let moderator = permissions_of(Role::Moderator);
        assert_eq!(moderator.ban, ["member"], "moderators act on members only");
        assert!(moderator.set_role.is_empty() && moderator.unban && moderator.add_members);
        let member = permissions_of(Role::Member);
        assert!(member.remove.is_empty() && !member.add_members && member.leave);
        assert!(!member.delete_any_message && moderator.delete_any_message);
    }
}
