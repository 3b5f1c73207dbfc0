//! `GET /api/v1/me/export` (README, "Accounts"): the caller's data as one
//! JSON document, streamed. The profile and rooms come first; the
//! messages follow a page at a time ([`PAGE`] rows per query, by id), each
//! page written to the response as it is read, so an account with a
//! hundred thousand messages never has them all in memory at once.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::stream;

use super::responses::{InternalError, Unauthorized};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::StoreError;
use crate::views::{RoomView, event_json, format_time};

/// Messages read per query.
const PAGE: i64 = 500;

/// Where the export's stream is.
enum Part {
    /// Messages after this id are still to write; `first` while none was.
    Messages {
        after: i64,
        first: bool,
    },
    Done,
}

/// Export the caller's data.
///
/// One JSON object, sent with chunked transfer encoding as it is read:
/// `{"exported_at", "user": user, "rooms": [room…], "messages": [message…]}`:
/// the caller's profile, the rooms they belong to, and every message they
/// sent that still exists (not deleted, not pruned), in its current state,
/// oldest first.
#[utoipa::path(
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The export (`Content-Disposition: attachment`)",
            content_type = "application/json", body = Object),
        Unauthorized,
        InternalError,
    ),
)]
#[get("/me/export")]
pub async fn export(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let me = state
        .store
        .user_by_id(user.id)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let rooms = state.store.memberships_of(user.id).await?;
    let read = state
        .store
        .read_states(user.id, &user.username, None)
        .await?;
    let rooms: Vec<RoomView> = rooms
        .iter()
        .map(|room| {
            let state = read.iter().find(|r| r.room_id == room.id);
            RoomView::for_user(room, user.id, state)
        })
        .collect();
    let head = serde_json::json!({
        "exported_at": format_time(&chrono::Utc::now()),
        "user": state.user_views.user(&me),
        "rooms": rooms,
    });
    // The head without its closing brace, then the messages' array.
    let mut head = serde_json::to_vec(&head).expect("export head serialises");
    head.pop();
    head.extend_from_slice(b",\"messages\":[");

    let state: Arc<AppState> = state.into_inner();
    let user_id = user.id;
    let messages = stream::try_unfold(
        Part::Messages {
            after: 0,
            first: true,
        },
        move |part| {
            let state = Arc::clone(&state);
            async move {
                let Part::Messages { after, first } = part else {
                    return Ok::<_, StoreError>(None);
                };
                let page = state.store.messages_of(user_id, after, PAGE).await?;
                let Some(last) = page.last() else {
                    return Ok(Some((Bytes::from_static(b"]}\n"), Part::Done)));
                };
                let after = last.id;
                let mut chunk = BytesMut::new();
                for (i, event) in page.iter().enumerate() {
                    if !(first && i == 0) {
                        chunk.put_u8(b',');
                    }
                    chunk.extend_from_slice(&event_json(event));
                }
                let next = Part::Messages {
                    after,
                    first: false,
                };
                Ok(Some((chunk.freeze(), next)))
            }
        },
    );
    let body = futures_util::StreamExt::chain(
        stream::once(async move { Ok::<_, StoreError>(Bytes::from(head)) }),
        messages,
    );
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"parley-export.json\"",
        ))
        .streaming(body))
}
