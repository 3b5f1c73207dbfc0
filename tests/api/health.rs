//! Health, readiness and CORS.

use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app};

on_both_backends!(
    health_and_readiness_answer,
    cors_allows_only_configured_origins
);

async fn health_and_readiness_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let h = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    let r = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    app.state.begin_shutdown();
    let r = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503, "not ready once shutting down");
    let addr = format!("127.0.0.1:{}", app.port).parse().unwrap();
    assert_eq!(
        parley::healthcheck::readyz_status(addr),
        Ok(503),
        "healthcheck sees what readyz says"
    );
}

async fn cors_allows_only_configured_origins(backend: Backend) {
    let app = spawn_app(backend).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/rooms", app.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("http://localhost:8080").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://localhost:8080"
    );
    let bad = preflight("http://evil.example").await.unwrap();
    assert!(
        bad.headers().get("access-control-allow-origin").is_none(),
        "foreign origin not allowed"
    );
}
