//! `GET /metrics`: Prometheus text format.

use actix_web::{HttpResponse, get, web};

use crate::startup::AppState;

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
