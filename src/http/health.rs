//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::startup::AppState;

/// `{"status": "ok"}`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// Readiness of the instance. Fields are in alphabetical order, as the
/// `json!` objects this replaced serialised them.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// The database probe; absent while shutting down.
    #[serde(skip_serializing_if = "Option::is_none")]
    database: Option<DatabaseStatus>,
    status: ReadyStatus,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReadyStatus {
    Ready,
    Unavailable,
    ShuttingDown,
}

/// `up`: answered; `down`: failed; `timeout`: no answer within 2 s.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DatabaseStatus {
    Up,
    Down,
    Timeout,
}

fn readiness(database: Option<DatabaseStatus>, status: ReadyStatus) -> Readiness {
    Readiness { database, status }
}

/// Liveness: 200 while the process serves.
#[utoipa::path(
    tag = "operations",
    responses((status = 200, description = "The process serves", body = Health)),
)]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: 200 when the database answers and the instance is not
/// shutting down.
///
/// The load balancer should send traffic only to ready instances;
/// `parley healthcheck` asks this route.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready: `{\"database\": \"up\", \"status\": \"ready\"}`",
            body = Readiness),
        (status = 503, description = "Not ready: `{\"status\": \"shutting_down\"}` once \
            shutdown has begun, else `{\"database\": \"down\"|\"timeout\", \"status\": \
            \"unavailable\"}`", body = Readiness),
    ),
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_shutting_down() {
        return HttpResponse::ServiceUnavailable().json(readiness(None, ReadyStatus::ShuttingDown));
    }
    let db = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    match db {
        Ok(Ok(())) => {
            HttpResponse::Ok().json(readiness(Some(DatabaseStatus::Up), ReadyStatus::Ready))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database down");
            HttpResponse::ServiceUnavailable().json(readiness(
                Some(DatabaseStatus::Down),
                ReadyStatus::Unavailable,
            ))
        }
        Err(_) => HttpResponse::ServiceUnavailable().json(readiness(
            Some(DatabaseStatus::Timeout),
            ReadyStatus::Unavailable,
        )),
    }
}
