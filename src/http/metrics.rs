//! `GET /metrics`: Prometheus text format.

use actix_web::{HttpResponse, get, web};

use crate::state::AppState;

/// Prometheus metrics, text exposition format 0.0.4.
#[utoipa::path(
    tag = "operations",
    operation_id = "metrics",
    responses(
        (status = 200, description = "The instance's metrics",
            content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
    ),
)]
#[get("/metrics")]
pub async fn scrape(state: web::Data<AppState>) -> HttpResponse {
    // Pool figures are read at scrape time rather than tracked on every query.
    let (open, idle) = state.store.pool_stats();
    ::metrics::gauge!(crate::metrics::DB_POOL_SIZE).set(f64::from(open));
    ::metrics::gauge!(crate::metrics::DB_POOL_IN_USE).set(f64::from(open) - idle as f64);
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(crate::metrics::handle().render())
}
