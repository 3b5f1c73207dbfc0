//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// Liveness.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(value_type = String, example = "ok")]
    status: &'static str,
}

/// Readiness of the instance.
// Fields in alphabetical order, the order the documented bodies show.
#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// The database probe; absent while shutting down.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    database: Option<DatabaseStatus>,
    /// The Redis relay; absent without `REDIS_URL` (and while shutting down).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    redis: Option<RedisStatus>,
    status: ReadyStatus,
}

/// `up`: the relay's pub/sub connection is open; `down`: reconnecting.
#[derive(Serialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "snake_case")]
pub enum RedisStatus {
    Up,
    Down,
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

fn readiness(
    database: Option<DatabaseStatus>,
    redis: Option<RedisStatus>,
    status: ReadyStatus,
) -> Readiness {
    Readiness {
        database,
        redis,
        status,
    }
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

/// Readiness: 200 when the database (and Redis, when `REDIS_URL` is set)
/// answer and the instance is not shutting down.
///
/// The load balancer should send traffic only to ready instances;
/// `parley healthcheck` asks this route.
#[utoipa::path(
    tag = "operations",
    responses(
        (status = 200, description = "Ready: `{\"database\": \"up\", \"status\": \"ready\"}`",
            body = Readiness),
        (status = 503, description = "Not ready: `{\"status\": \"shutting_down\"}` once \
            shutdown has begun, else `{\"database\": \"down\"|\"timeout\", \"redis\": \
            \"down\", \"status\": \"unavailable\"}` (either probe failing)", body = Readiness),
    ),
)]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_shutting_down() {
        return HttpResponse::ServiceUnavailable().json(readiness(
            None,
            None,
            ReadyStatus::ShuttingDown,
        ));
    }
    let redis = state.config.has_relay().then(|| {
        if state.chat.broker().is_ready() {
            RedisStatus::Up
        } else {
            RedisStatus::Down
        }
    });
    let db = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    let database = match db {
        Ok(Ok(())) => DatabaseStatus::Up,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database down");
            DatabaseStatus::Down
        }
        Err(_) => DatabaseStatus::Timeout,
    };
    let ready = matches!(database, DatabaseStatus::Up) && !matches!(redis, Some(RedisStatus::Down));
    if ready {
        HttpResponse::Ok().json(readiness(Some(database), redis, ReadyStatus::Ready))
    } else {
        HttpResponse::ServiceUnavailable().json(readiness(
            Some(database),
            redis,
            ReadyStatus::Unavailable,
        ))
    }
}
