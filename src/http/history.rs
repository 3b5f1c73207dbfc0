//! Room history: `GET /api/v1/rooms/{name}/messages?before|after&limit`.

use std::collections::HashMap;

use actix_web::{HttpResponse, get, web};
use serde::Serialize;

use super::rooms::find_visible;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::HistoryQuery;
use crate::views::MessageView;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

#[derive(Serialize)]
struct Page<'a> {
    messages: Vec<MessageView<'a>>,
    has_more: bool,
}

fn invalid(message: &str) -> ApiError {
    ApiError::bad_request("invalid_query", message)
}

fn seq_param(params: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(key)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| invalid(&format!("{key} must be a non-negative integer")))
        })
        .transpose()
}

/// Parses and checks the history query string.
pub fn parse_query(params: &HashMap<String, String>) -> Result<HistoryQuery, ApiError> {
    let before = seq_param(params, "before")?;
    let after = seq_param(params, "after")?;
    if before.is_some() && after.is_some() {
        return Err(invalid("before and after cannot be used together"));
    }
    let limit = match params.get("limit") {
        None => DEFAULT_LIMIT,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| invalid("limit must be an integer from 1 to 200"))?,
    };
    Ok(HistoryQuery {
        before,
        after,
        limit,
    })
}

#[get("/rooms/{name}/messages")]
pub async fn messages(
    state: web::Data<AppState>,
    user: AuthUser,
    name: web::Path<String>,
    params: web::Query<HashMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    // Validate first: the answer to a bad query must not depend on the room.
    let query = parse_query(&params)?;
    let found = find_visible(&state, &name, &user).await?;
    let page = state.store.history(found.room.id, query).await?;
    Ok(HttpResponse::Ok().json(Page {
        messages: page.messages.iter().map(MessageView::from).collect(),
        has_more: page.has_more,
    }))
}
