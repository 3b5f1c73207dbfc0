//! Bots (README, "Bots and webhooks"): create one with its API token (shown
//! once), list one's own, rotate a token, delete a bot. The token rules are
//! `bots`'s; another user's bot is answered like one that does not exist.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::AuthUser;
use crate::domain::Username;
use crate::error::{ApiError, Body as ErrorBody};
use crate::http::responses::{InternalError, JsonBodyRefused, Unauthorized};
use crate::state::AppState;
use crate::views::UserView;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBot {
    /// The bot's username: 3–32 characters of `A-Z a-z 0-9 _ . -`, unique
    /// among every account in any letter case.
    #[schema(
        min_length = 3,
        max_length = 32,
        pattern = r"^[A-Za-z0-9_.-]{3,32}$",
        example = "deploybot"
    )]
    username: String,
}

/// A bot and its API token (shown only in this answer).
#[derive(Serialize, ToSchema)]
struct CreatedBot<'a> {
    user: UserView<'a>,
    /// `parley_bot_…`: a Bearer token for every route and the STOMP
    /// `passcode`; stored only as a hash, so it cannot be shown again.
    #[schema(example = "parley_bot_3q2-7wAbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbC")]
    token: String,
}

/// The caller's bots.
#[derive(Serialize, ToSchema)]
struct BotList<'a> {
    bots: Vec<UserView<'a>>,
}

/// A bot's new API token.
#[derive(Serialize, ToSchema)]
struct BotToken {
    #[schema(example = "parley_bot_3q2-7wAbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbC")]
    token: String,
}

/// Create a bot owned by the caller, with its API token.
#[utoipa::path(
    tag = "bots",
    operation_id = "create_bot",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created: the bot (`\"bot\": true`) and its token, shown \
            this once", body = CreatedBot),
        (status = 400, description = "`invalid_username`: not 3–32 characters of \
            `A-Z a-z 0-9 _ . -`; `invalid_request`: malformed JSON, an unknown field or a \
            missing one", body = ErrorBody),
        Unauthorized,
        (status = 409, description = "`username_taken`: an account has that name", body = ErrorBody),
        JsonBodyRefused,
        InternalError,
    ),
)]
#[post("/bots")]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateBot>,
) -> Result<HttpResponse, ApiError> {
    let name = Username::parse(&body.username)
        .map_err(|m| ApiError::bad_request("invalid_username", m))?;
    let (bot, token) = state.bots.create(&user, &name).await?;
    tracing::info!(bot = %bot.username, "bot created");
    Ok(HttpResponse::Created().json(CreatedBot {
        user: state.user_views.user(&bot),
        token,
    }))
}

/// The caller's bots, by name.
#[utoipa::path(
    tag = "bots",
    operation_id = "list_bots",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's bots", body = BotList),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/bots")]
pub async fn list(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let bots = state.store.bots_of(user.id).await?;
    Ok(HttpResponse::Ok().json(BotList {
        bots: bots.iter().map(|b| state.user_views.user(b)).collect(),
    }))
}

/// Replace a bot's API token: the old one is refused at once, and the
/// bot's live connections end within 2 s on every instance.
#[utoipa::path(
    tag = "bots",
    operation_id = "rotate_bot_token",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The bot's username")),
    responses(
        (status = 200, description = "The new token, shown this once", body = BotToken),
        Unauthorized,
        (status = 404, description = "`user_not_found`: the caller owns no bot of that name",
            body = ErrorBody),
        InternalError,
    ),
)]
#[post("/bots/{username}/token")]
pub async fn rotate(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (bot, token) = state
        .bots
        .rotate(&user, &username)
        .await?
        .ok_or(ApiError::UserNotFound)?;
    tracing::info!(bot = %bot.username, "bot token rotated");
    Ok(HttpResponse::Ok().json(BotToken { token }))
}

/// Delete a bot, as an account is deleted: its token stops working, its
/// live connections end within 2 s on every instance, the text of every
/// message it sent is erased, it leaves its rooms; its name stays taken.
#[utoipa::path(
    tag = "bots",
    operation_id = "delete_bot",
    security(("bearer" = [])),
    params(("username" = String, Path, description = "The bot's username")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized,
        (status = 404, description = "`user_not_found`: the caller owns no bot of that name",
            body = ErrorBody),
        InternalError,
    ),
)]
#[delete("/bots/{username}")]
pub async fn delete_bot(
    state: web::Data<AppState>,
    user: AuthUser,
    username: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let bot = crate::bots::delete(&state, &user, &username)
        .await
        .map_err(ApiError::internal)?
        .ok_or(ApiError::UserNotFound)?;
    tracing::info!(bot = %bot.username, "bot deleted");
    Ok(HttpResponse::NoContent().finish())
}
