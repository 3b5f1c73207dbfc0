//! Malformed requests get the contract's JSON errors and change nothing.

use serde_json::json;

use crate::db::Backend;
use crate::helpers::{on_both_backends, spawn_app};

on_both_backends!(
    bad_request_bodies_get_clear_errors,
    unknown_routes_are_json_404
);

async fn bad_request_bodies_get_clear_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = "/api/v1/auth/signup";
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        (
            "malformed JSON",
            "application/json",
            b"{\"username\": ".to_vec(),
            400,
        ),
        (
            "unknown field",
            "application/json",
            br#"{"username":"alice","password":"long enough","admin":true}"#.to_vec(),
            400,
        ),
        (
            "missing field",
            "application/json",
            br#"{"username":"alice"}"#.to_vec(),
            400,
        ),
        (
            "wrong type",
            "application/json",
            br#"{"username":1,"password":"long enough"}"#.to_vec(),
            400,
        ),
        (
            "bad UTF-8",
            "application/json",
            b"{\"username\":\"al\xffice\",\"password\":\"long enough\"}".to_vec(),
            400,
        ),
        (
            "over 64 KiB",
            "application/json",
            format!(
                r#"{{"username":"alice","password":"{}"}}"#,
                "x".repeat(70_000)
            )
            .into_bytes(),
            413,
        ),
        (
            "not JSON content type",
            "text/plain",
            br#"{"username":"alice","password":"long enough"}"#.to_vec(),
            415,
        ),
    ];
    for (what, ct, body, status) in cases {
        let r = app.post_raw(path, ct, body).await;
        assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
        assert!(
            !r.code().is_empty(),
            "{what}: error body has a code: {:?}",
            r.body
        );
        assert!(
            r.body["error"]["message"].is_string(),
            "{what}: error has a message"
        );
    }
    // None of that created alice.
    assert!(
        app.state
            .store
            .user_by_name("alice")
            .await
            .unwrap()
            .is_none()
    );
    let ok = app
        .post(
            path,
            None,
            json!({"username": "alice", "password": "long enough"}),
        )
        .await;
    assert_eq!(ok.status, 201);
}

async fn unknown_routes_are_json_404(backend: Backend) {
    let app = spawn_app(backend).await;
    let r = app
        .post_raw("/api/v1/nope", "application/json", b"{}".to_vec())
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (404, "not_found"));
}
