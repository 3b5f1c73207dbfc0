//! Liveness and readiness.

use actix_web::{HttpResponse, get, web};

use crate::startup::AppState;

/// 200 while the process serves.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// 200 when the database (and Redis, if configured) answer and the
/// instance is not shutting down.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.is_shutting_down() {
        return HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "shutting_down"}));
    }
    let db = tokio::time::timeout(std::time::Duration::from_secs(2), state.store.ping()).await;
    match db {
        Ok(Ok(())) => {
            HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": "up"}))
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database down");
            HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"status": "unavailable", "database": "down"}))
        }
        Err(_) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "unavailable", "database": "timeout"})),
    }
}
