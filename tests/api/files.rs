//! Files and images (README, "Files"): uploads streamed to the storage (a
//! local folder, and a real S3-compatible server: moto, at
//! TEST_S3_ENDPOINT), downloads by token and by signed URL, the limits
//! under concurrency, attachments over HTTP and STOMP, thumbnails without
//! metadata, and erasure.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use parley::config::{Config, StorageLocation};
use parley::files::storage::Variant;
use parley::startup::Application;
use parley::state::AppState;
use reqwest::StatusCode;
use serde_json::{Value, json};
use stomp_client::{StompClient, frame, topic};

use crate::accounts::delete_me;
use crate::db::Backend;
use crate::helpers::{Reply, TestApp, TestUser, on_both_backends, refused, spawn_app_with};

on_both_backends!(
    upload_and_download_by_token_and_signed_url,
    upload_and_download_on_s3,
    content_type_is_sniffed_and_html_is_never_inline,
    upload_rules,
    private_rooms_and_removed_members,
    too_large_is_cut_while_streaming,
    quota_holds_under_concurrent_uploads,
    attach_over_http,
    attach_over_stomp,
    invalid_attachments,
    image_thumbnail_has_no_exif,
    decompression_bomb_is_a_plain_file,
    deleting_the_message_erases_its_files,
    deleting_the_message_erases_its_files_on_s3,
    deleting_the_room_erases_its_files,
    thumbnails_answer_range_and_if_none_match,
    a_deletion_before_a_restart_is_erased_by_the_next_start,
    a_deletion_before_a_restart_is_erased_by_the_next_start_on_s3,
    files_never_attached_expire_after_a_day,
    deleting_the_account_erases_its_files,
    deleting_the_account_erases_its_files_on_s3,
    retention_erases_the_files_of_pruned_messages,
    retention_erases_the_files_of_pruned_messages_on_s3,
);

/// Where the app keeps files in a test.
#[derive(Clone, Copy)]
enum Store {
    Folder,
    S3,
}

async fn app_with(backend: Backend, store: Store, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let location = match store {
        Store::Folder => None,
        Store::S3 => Some(s3_bucket().await),
    };
    spawn_app_with(backend, |c| {
        c.limits.send_rate = 0;
        if let Some(location) = location {
            c.files.location = location;
        }
        tweak(c);
    })
    .await
}

async fn app(backend: Backend) -> TestApp {
    app_with(backend, Store::Folder, |_| {}).await
}

/// A fresh bucket on the S3 server of the tests (moto).
async fn s3_bucket() -> StorageLocation {
    let endpoint = std::env::var("TEST_S3_ENDPOINT").expect(
        "TEST_S3_ENDPOINT must name an S3-compatible server (scripts/test starts moto_server)",
    );
    let bucket = format!("parley-{}", uuid::Uuid::new_v4().simple());
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(created.status().is_success(), "bucket created: {created:?}");
    StorageLocation::S3 {
        bucket,
        prefix: "files".into(),
        endpoint: Some(endpoint),
        region: "us-east-1".into(),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
    }
}

async fn upload(
    app: &TestApp,
    user: &TestUser,
    room: &str,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Reply {
    let resp = app
        .client
        .post(format!("{}/api/v1/rooms/{room}/files", app.base))
        .query(&[("filename", name)])
        .bearer_auth(&user.access_token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("request sent");
    TestApp::reply(resp).await
}

/// Uploads and checks the 201; the file object.
async fn uploaded(app: &TestApp, user: &TestUser, room: &str, name: &str, bytes: &[u8]) -> Value {
    let r = upload(
        app,
        user,
        room,
        name,
        "application/octet-stream",
        bytes.to_vec(),
    )
    .await;
    assert_eq!(r.status, 201, "upload {name}: {:?}", r.body);
    r.body
}

/// A raw GET (optionally with a token and extra headers): status, headers, bytes.
async fn fetch(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let mut req = app.client.get(format!("{}{path}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status();
    let headers = resp.headers().clone();
    (status, headers, resp.bytes().await.unwrap().to_vec())
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn error_code(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).unwrap_or_default()["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

async fn exists(app: &TestApp, id: &str, variant: Variant) -> bool {
    stored(&app.state, id, variant).await
}

async fn stored(state: &AppState, id: &str, variant: Variant) -> bool {
    state.files.storage.exists(id, variant).await.unwrap()
}

/// Waits (bounded: 40 s; the sweeper runs every 10 s) until the objects of
/// `id` are gone from the storage.
async fn wait_erased(app: &TestApp, id: &str) {
    wait_gone(&app.state, id).await;
}

/// [`wait_erased`] through the storage of `state` (an app started again).
async fn wait_gone(state: &AppState, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(40);
    while stored(state, id, Variant::Original).await || stored(state, id, Variant::Thumbnail).await
    {
        assert!(
            Instant::now() < deadline,
            "file {id} still in the storage after 40 s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn post_message(app: &TestApp, user: &TestUser, room: &str, body: Value) -> Reply {
    app.post(
        &format!("/api/v1/rooms/{room}/messages"),
        Some(&user.access_token),
        body,
    )
    .await
}

async fn download_checks(app: &TestApp) {
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let text = b"hello files, plain text".to_vec();
    let r = upload(
        app,
        &alice,
        "general",
        "notes ü.txt",
        "text/plain",
        text.clone(),
    )
    .await;
    let file = crate::helpers::status(&r, 201, "upload");
    let id = file["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_eq!(file["room"], "general");
    assert_eq!(file["uploader"], "alice");
    assert_eq!(file["name"], "notes ü.txt");
    assert_eq!(file["content_type"], "text/plain");
    assert_eq!(file["size"], text.len());
    assert_eq!(file["sha256"], sha256_hex(&text));
    assert_eq!(file["image"], Value::Null);
    assert_eq!(file["thumbnail_url"], Value::Null);
    assert!(exists(app, id, Variant::Original).await);

    // By token.
    let path = format!("/api/v1/files/{id}");
    let (status, h, bytes) = fetch(app, &path, Some(&alice.access_token), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(bytes, text);
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(header(&h, "cache-control"), "private");
    assert_eq!(header(&h, "etag"), format!("\"{}\"", sha256_hex(&text)));
    assert_eq!(header(&h, "content-type"), "text/plain");
    let disposition = header(&h, "content-disposition");
    assert!(disposition.starts_with("inline;"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''notes%20%C3%BC.txt"),
        "{disposition}"
    );
    // Without a token, and no signature: 401.
    let (status, _, _) = fetch(app, &path, None, &[]).await;
    assert_eq!(status, 401);

    // The signed URL works without a token.
    let url = file["url"].as_str().unwrap();
    let (status, h, bytes) = fetch(app, url, None, &[]).await;
    assert_eq!((status, bytes), (StatusCode::OK, text.clone()));
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    // Altered: another expiry, another signature, another file.
    let altered_expiry = {
        let (before, after) = url.split_once("expires=").unwrap();
        let (expires, rest) = after.split_once('&').unwrap();
        let expires: i64 = expires.parse().unwrap();
        format!("{before}expires={}&{rest}", expires + 1)
    };
    let altered_sig = {
        let (before, sig) = url.split_once("sig=").unwrap();
        let mut sig = sig.to_string().into_bytes();
        sig[0] = if sig[0] == b'A' { b'B' } else { b'A' };
        format!("{before}sig={}", String::from_utf8(sig).unwrap())
    };
    let other_file = url.replace(id, &"0".repeat(32));
    let expired = format!("{path}?expires=1&sig=AAAA");
    for bad in [&altered_expiry, &altered_sig, &other_file, &expired] {
        let (status, _, body) = fetch(app, bad, None, &[]).await;
        assert_eq!(
            (status.as_u16(), error_code(&body)),
            (403, "invalid_signature".to_string()),
            "{bad}"
        );
    }

    // Range and ETag.
    let (status, h, bytes) = fetch(app, url, None, &[("range", "bytes=0-4")]).await;
    assert_eq!((status.as_u16(), bytes), (206, b"hello".to_vec()));
    assert_eq!(
        header(&h, "content-range"),
        format!("bytes 0-4/{}", text.len())
    );
    let (status, _, bytes) = fetch(app, url, None, &[("range", "bytes=-5")]).await;
    assert_eq!((status.as_u16(), bytes), (206, b" text".to_vec()));
    let (status, h, _) = fetch(app, url, None, &[("range", "bytes=999-")]).await;
    assert_eq!(status, 416);
    assert_eq!(
        header(&h, "content-range"),
        format!("bytes */{}", text.len())
    );
    let etag = format!("\"{}\"", sha256_hex(&text));
    let (status, _, bytes) = fetch(
        app,
        &path,
        Some(&alice.access_token),
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!((status.as_u16(), bytes.len()), (304, 0));

    // No such file.
    let (status, _, body) = fetch(
        app,
        &format!("/api/v1/files/{}", "f".repeat(32)),
        Some(&alice.access_token),
        &[],
    )
    .await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "file_not_found".into())
    );
}

async fn upload_and_download_by_token_and_signed_url(backend: Backend) {
    let app = app(backend).await;
    download_checks(&app).await;
}

async fn upload_and_download_on_s3(backend: Backend) {
    let app = app_with(backend, Store::S3, |_| {}).await;
    download_checks(&app).await;
    // A file of several S3 parts (over 5 MiB) comes back whole.
    let alice_token = app.signup("bob").await;
    app.create_room(&alice_token, "big", false).await;
    let big: Vec<u8> = (0..(11 * 1024 * 1024 + 7))
        .map(|i| (i % 251) as u8)
        .collect();
    let file = uploaded(&app, &alice_token, "big", "big.bin", &big).await;
    assert_eq!(file["size"], big.len());
    let (status, _, bytes) = fetch(&app, file["url"].as_str().unwrap(), None, &[]).await;
    assert_eq!(status, 200);
    assert!(bytes == big, "the S3 download equals the upload");
}

async fn content_type_is_sniffed_and_html_is_never_inline(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    // A PNG declared as text: the bytes win.
    let png = png_bytes(4, 3);
    let r = upload(&app, &alice, "general", "a.txt", "text/plain", png).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["content_type"], "image/png");
    // HTML declared as plain text: sniffed as HTML, served as an attachment.
    let html = b"<!DOCTYPE html><html><script>alert(1)</script></html>".to_vec();
    let r = upload(&app, &alice, "general", "x.txt", "text/plain", html).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["content_type"], "text/html");
    let (_, h, _) = fetch(&app, r.body["url"].as_str().unwrap(), None, &[]).await;
    assert!(header(&h, "content-disposition").starts_with("attachment;"));
    // SVG (the bytes do not tell; declared): an attachment too.
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    let r = upload(&app, &alice, "general", "x.svg", "image/svg+xml", svg).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let (_, h, _) = fetch(&app, r.body["url"].as_str().unwrap(), None, &[]).await;
    assert!(header(&h, "content-disposition").starts_with("attachment;"));
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
}

async fn upload_rules(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    for bad in ["", "a/b", "a\\b", "a\u{1}b", &"x".repeat(256)] {
        let r = upload(&app, &alice, "general", bad, "text/plain", b"x".to_vec()).await;
        refused(&r, 400, "invalid_filename", &format!("{bad:?}"));
    }
    let r = app
        .client
        .post(format!("{}/api/v1/rooms/general/files", app.base))
        .bearer_auth(&alice.access_token)
        .body("no name")
        .send()
        .await
        .unwrap();
    refused(
        &TestApp::reply(r).await,
        400,
        "invalid_filename",
        "no filename",
    );
    let r = upload(
        &app,
        &alice,
        "nowhere",
        "a.txt",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    refused(&r, 404, "room_not_found", "unknown room");
    // Uploading to a public room joins it.
    let bob = app.signup("bob").await;
    let r = upload(&app, &bob, "general", "b.txt", "text/plain", b"x".to_vec()).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let members = app
        .get("/api/v1/rooms/general/members", &alice.access_token)
        .await;
    assert!(
        members.body["members"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["username"] == "bob"),
        "{:?}",
        members.body
    );
    // Without a token.
    let r = app
        .client
        .post(format!(
            "{}/api/v1/rooms/general/files?filename=a",
            app.base
        ))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

async fn private_rooms_and_removed_members(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let carol = app.signup("carol").await;
    app.create_room(&alice, "secret", true).await;
    for who in ["bob", "carol"] {
        let r = app
            .post(
                "/api/v1/rooms/secret/members",
                Some(&alice.access_token),
                json!({"username": who}),
            )
            .await;
        assert_eq!(r.status, 200, "{:?}", r.body);
    }
    let outsider = app.signup("dave").await;
    let r = upload(
        &app,
        &outsider,
        "secret",
        "a.txt",
        "text/plain",
        b"x".to_vec(),
    )
    .await;
    refused(
        &r,
        404,
        "room_not_found",
        "a non-member uploads to a private room",
    );

    let file = uploaded(&app, &alice, "secret", "plan.txt", b"the plan").await;
    let path = format!("/api/v1/files/{}", file["id"].as_str().unwrap());
    let (status, _, _) = fetch(&app, &path, Some(&bob.access_token), &[]).await;
    assert_eq!(status, 200, "a member downloads");
    let (status, _, body) = fetch(&app, &path, Some(&outsider.access_token), &[]).await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "file_not_found".into())
    );

    // Removed and banned members lose access at once.
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/rooms/secret/members/bob",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let (status, _, body) = fetch(&app, &path, Some(&bob.access_token), &[]).await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "file_not_found".into())
    );
    let r = app
        .post(
            "/api/v1/rooms/secret/bans",
            Some(&alice.access_token),
            json!({"username": "carol"}),
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    let (status, _, body) = fetch(&app, &path, Some(&carol.access_token), &[]).await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "file_not_found".into())
    );
}

async fn too_large_is_cut_while_streaming(backend: Backend) {
    let app = app_with(backend, Store::Folder, |c| c.files.max_upload_bytes = 1000).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let ok = upload(&app, &alice, "general", "ok.bin", "x/y", vec![1; 1000]).await;
    assert_eq!(ok.status, 201, "exactly the limit: {:?}", ok.body);
    // Declared over the limit.
    let r = upload(&app, &alice, "general", "big.bin", "x/y", vec![1; 1001]).await;
    refused(&r, 413, "file_too_large", "Content-Length over the limit");
    // Chunked (no Content-Length): cut while streaming.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..20).map(|_| Ok(vec![7u8; 300])).collect();
    let resp = app
        .client
        .post(format!("{}/api/v1/rooms/general/files", app.base))
        .query(&[("filename", "chunked.bin")])
        .bearer_auth(&alice.access_token)
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await;
    match resp {
        Ok(resp) => refused(
            &TestApp::reply(resp).await,
            413,
            "file_too_large",
            "chunked",
        ),
        // The server may answer and close before the whole body is sent.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    // A Content-Length under the limit with more bytes after it: the
    // server reads exactly what was declared.
    let raw = raw_upload(&app, &alice, 500, &[9u8; 3000]).await;
    assert!(raw.starts_with("HTTP/1.1 201"), "{raw}");
    // Nothing partial is left: one object per stored file.
    assert_eq!(
        stored_objects(&app),
        2,
        "only the two stored uploads remain"
    );
    let reserved = app.state.store.file_bytes(alice.user_id).await.unwrap();
    assert_eq!(reserved, 1500, "the quota counts the stored files only");
}

/// POSTs with `Content-Length: declared` and then `body` (maybe longer);
/// the status line of the answer.
async fn raw_upload(app: &TestApp, user: &TestUser, declared: usize, body: &[u8]) -> String {
    use std::io::{Read, Write};
    let head = format!(
        "POST /api/v1/rooms/general/files?filename=raw.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Authorization: Bearer {}\r\nContent-Length: {declared}\r\nConnection: close\r\n\r\n",
        user.access_token
    );
    let port = app.port;
    let body = body.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        // The declared bytes, then the answer, then the bytes beyond them
        // (which the server must not take as part of the file).
        let (declared_part, extra) = body.split_at(declared.min(body.len()));
        s.write_all(declared_part).unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while !line.ends_with(b"\r\n") && s.read(&mut byte).unwrap_or(0) == 1 {
            line.push(byte[0]);
        }
        let _ = s.write_all(extra);
        String::from_utf8_lossy(&line).trim().to_string()
    })
    .await
    .unwrap()
}

/// Objects in the app's storage folder (originals).
fn stored_objects(app: &TestApp) -> usize {
    let StorageLocation::Folder(folder) = &app.state.config.files.location else {
        panic!("a folder storage")
    };
    std::fs::read_dir(std::path::Path::new(folder).join("f"))
        .map(|d| {
            d.filter(|e| e.as_ref().is_ok_and(|e| e.path().is_file()))
                .count()
        })
        .unwrap_or(0)
}

async fn quota_holds_under_concurrent_uploads(backend: Backend) {
    let app = app_with(backend, Store::Folder, |c| {
        c.files.user_quota_bytes = 10_000
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let names: Vec<String> = (0..20).map(|i| format!("f{i}.bin")).collect();
    let answers = join_all(
        names
            .iter()
            .enumerate()
            .map(|(i, name)| upload(&app, &alice, "general", name, "x/y", vec![i as u8; 1000])),
    )
    .await;
    let stored = answers.iter().filter(|r| r.status == 201).count();
    let refused_n = answers
        .iter()
        .filter(|r| r.status == 413 && r.code() == "quota_exceeded")
        .count();
    assert_eq!(
        (stored, refused_n),
        (10, 10),
        "{:?}",
        answers.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(stored_objects(&app), 10);
    assert_eq!(
        app.state.store.file_bytes(alice.user_id).await.unwrap(),
        10_000
    );
    // Another user has a quota of their own.
    let bob = app.signup("bob").await;
    uploaded(&app, &bob, "general", "b.bin", &[1; 1000]).await;
}

async fn attach_over_http(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let a = uploaded(&app, &alice, "general", "a.txt", b"first").await;
    let b = uploaded(&app, &alice, "general", "b.txt", b"second").await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    // An empty body is fine with attachments.
    let r = post_message(
        &app,
        &alice,
        "general",
        json!({"attachments": [a_id, b_id]}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["body"], "");
    let files = r.body["attachments"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["id"], a_id);
    assert_eq!(files[1]["name"], "b.txt");
    assert_eq!(files[0]["size"], 5);
    // Without attachments: `attachments: []`, and a body is required.
    let plain = post_message(&app, &alice, "general", json!({"body": "hi"})).await;
    assert_eq!(plain.body["attachments"], json!([]));
    let empty = post_message(&app, &alice, "general", json!({"body": ""})).await;
    refused(&empty, 400, "invalid_body", "empty without attachments");
    // History shows them to bob, with URLs he can use without a token.
    let h = app
        .get("/api/v1/rooms/general/messages", &bob.access_token)
        .await;
    let first = &h.body["messages"][0];
    assert_eq!(first["attachments"][0]["id"], a_id);
    let (status, _, bytes) = fetch(
        &app,
        first["attachments"][1]["url"].as_str().unwrap(),
        None,
        &[],
    )
    .await;
    assert_eq!((status, bytes), (StatusCode::OK, b"second".to_vec()));
    // Attached once only.
    let again = post_message(
        &app,
        &alice,
        "general",
        json!({"body": "x", "attachments": [a_id]}),
    )
    .await;
    refused(&again, 400, "invalid_attachment", "already attached");
}

async fn attach_over_stomp(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let file = uploaded(&app, &alice, "general", "s.txt", b"stomp file").await;
    let id = file["id"].as_str().unwrap();
    let mut watcher = StompClient::connect(&app, &bob.access_token).await;
    watcher.subscribe("s", "general").await;
    let mut sender = StompClient::connect(&app, &alice.access_token).await;
    sender
        .send(frame(
            "SEND",
            &[
                ("destination", &topic("general")),
                ("attachments", id),
                ("receipt", "r1"),
            ],
            "",
        ))
        .await;
    sender.expect_receipt("r1").await;
    let live = watcher.expect_message().await.json();
    assert_eq!(live["attachments"][0]["id"], id);
    assert_eq!(live["body"], "");
    let (status, _, bytes) = fetch(
        &app,
        live["attachments"][0]["url"].as_str().unwrap(),
        None,
        &[],
    )
    .await;
    assert_eq!((status, bytes), (StatusCode::OK, b"stomp file".to_vec()));
    // The same file again: ERROR, and the session ends.
    sender
        .send(frame(
            "SEND",
            &[
                ("destination", &topic("general")),
                ("attachments", id),
                ("receipt", "r2"),
            ],
            "again",
        ))
        .await;
    let error = sender.expect_error_then_close().await;
    assert!(
        error.expect_header("message").contains("attachment"),
        "the ERROR names the attachment: {error}"
    );
    // A malformed header is refused before the log.
    let mut c = StompClient::connect(&app, &alice.access_token).await;
    c.send(frame(
        "SEND",
        &[
            ("destination", &topic("general")),
            ("attachments", "not-an-id"),
        ],
        "x",
    ))
    .await;
    c.expect_error_then_close().await;
}

async fn invalid_attachments(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "other", false).await;
    let bobs = uploaded(&app, &bob, "general", "bob.txt", b"bob's").await;
    let elsewhere = uploaded(&app, &alice, "other", "o.txt", b"other room").await;
    let mine = uploaded(&app, &alice, "general", "m.txt", b"mine").await;
    let unknown = "0123456789abcdef0123456789abcdef";
    for (what, ids) in [
        ("another user's file", json!([bobs["id"]])),
        ("a file of another room", json!([elsewhere["id"]])),
        ("no such file", json!([unknown])),
        ("not an id", json!(["../../etc/passwd"])),
        ("the same file twice", json!([mine["id"], mine["id"]])),
    ] {
        let r = post_message(
            &app,
            &alice,
            "general",
            json!({"body": "x", "attachments": ids}),
        )
        .await;
        refused(&r, 400, "invalid_attachment", what);
    }
    let eleven: Vec<String> = (0..11).map(|i| format!("{i:032x}")).collect();
    let r = post_message(
        &app,
        &alice,
        "general",
        json!({"body": "x", "attachments": eleven}),
    )
    .await;
    refused(&r, 400, "invalid_attachment", "more than 10");
    // Nothing was stored, and `mine` can still be attached.
    let r = post_message(
        &app,
        &alice,
        "general",
        json!({"attachments": [mine["id"]]}),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["seq"], 1, "the refused messages stored nothing");
    // Two messages racing for one file: one gets it.
    let race = uploaded(&app, &alice, "general", "race.txt", b"race").await;
    let answers = join_all((0..8).map(|i| {
        post_message(
            &app,
            &alice,
            "general",
            json!({"body": format!("race {i}"), "attachments": [race["id"]]}),
        )
    }))
    .await;
    let won = answers.iter().filter(|r| r.status == 201).count();
    let lost = answers
        .iter()
        .filter(|r| r.status == 400 && r.code() == "invalid_attachment")
        .count();
    assert_eq!((won, lost), (1, 7));
}

/// A PNG of `w` x `h` pixels.
fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 128]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A JPEG of `w` x `h` pixels with an EXIF segment holding `marker`.
fn jpeg_with_exif(w: u32, h: u32, marker: &[u8]) -> Vec<u8> {
    let image = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 64]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let jpeg = out.into_inner();
    // APP1 "Exif\0\0" + a little-endian TIFF header with no IFD entries,
    // then the marker (standing in for a GPS location).
    let mut payload = b"Exif\0\0II*\0\x08\0\0\0\0\0".to_vec();
    payload.extend_from_slice(marker);
    let len = u16::try_from(payload.len() + 2).unwrap();
    let mut with = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with.extend_from_slice(&len.to_be_bytes());
    with.extend_from_slice(&payload);
    with.extend_from_slice(&jpeg[2..]);
    with
}

async fn image_thumbnail_has_no_exif(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let marker = b"GPS-48.8584N-2.2945E-SECRET";
    let jpeg = jpeg_with_exif(800, 600, marker);
    assert!(jpeg.windows(marker.len()).any(|w| w == marker));
    let r = upload(
        &app,
        &alice,
        "general",
        "photo.jpg",
        "application/octet-stream",
        jpeg,
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["content_type"], "image/jpeg");
    assert_eq!(r.body["image"], json!({"width": 800, "height": 600}));
    let thumb_url = r.body["thumbnail_url"].as_str().expect("a thumbnail URL");
    let (status, h, thumb) = fetch(&app, thumb_url, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert!(
        !thumb.windows(marker.len()).any(|w| w == marker),
        "no EXIF survives"
    );
    assert!(!thumb.windows(4).any(|w| w == b"Exif"), "no EXIF segment");
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (320, 240));
    // By token too; a thumbnail URL does not open the original.
    let id = r.body["id"].as_str().unwrap();
    let (status, _, _) = fetch(
        &app,
        &format!("/api/v1/files/{id}/thumbnail"),
        Some(&alice.access_token),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    let swapped = thumb_url.replace("/thumbnail?", "?");
    let (status, _, _) = fetch(&app, &swapped, None, &[]).await;
    assert_eq!(status, 403);
    // A small image is not enlarged.
    let r = upload(
        &app,
        &alice,
        "general",
        "s.png",
        "image/png",
        png_bytes(40, 20),
    )
    .await;
    let (_, _, thumb) = fetch(&app, r.body["thumbnail_url"].as_str().unwrap(), None, &[]).await;
    let decoded = image::load_from_memory(&thumb).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (40, 20));
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A ~1 KB PNG whose header claims `side` x `side` pixels.
fn png_claiming(side: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let chunk = |png: &mut Vec<u8>, kind: &[u8], data: &[u8]| {
        png.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&side.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // A zlib stream of zeros: would inflate to gigabytes if decoded.
    chunk(
        &mut png,
        b"IDAT",
        &[0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01],
    );
    chunk(&mut png, b"IEND", &[]);
    png.resize(png.len().max(1024), 0);
    png
}

async fn decompression_bomb_is_a_plain_file(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let bomb = png_claiming(100_000);
    let r = upload(
        &app,
        &alice,
        "general",
        "bomb.png",
        "image/png",
        bomb.clone(),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.body["content_type"], "image/png");
    assert_eq!(
        r.body["image"],
        Value::Null,
        "over 50 megapixels: a plain file"
    );
    assert_eq!(r.body["thumbnail_url"], Value::Null);
    let (status, _, bytes) = fetch(&app, r.body["url"].as_str().unwrap(), None, &[]).await;
    assert_eq!((status, bytes), (StatusCode::OK, bomb));
}

async fn erase_on_delete(app: &TestApp) {
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let photo = upload(
        app,
        &alice,
        "general",
        "p.png",
        "image/png",
        png_bytes(400, 300),
    )
    .await;
    assert_eq!(photo.status, 201, "{:?}", photo.body);
    let id = photo.body["id"].as_str().unwrap().to_string();
    assert!(
        exists(app, &id, Variant::Original).await && exists(app, &id, Variant::Thumbnail).await
    );
    let m = post_message(
        app,
        &alice,
        "general",
        json!({"body": "look", "attachments": [id]}),
    )
    .await;
    assert_eq!(m.status, 201, "{:?}", m.body);
    let url = m.body["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let bytes_before = app.state.store.file_bytes(alice.user_id).await.unwrap();
    assert!(bytes_before > 0);
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/rooms/general/messages/1",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    // At once: the message shows no attachments, the URLs answer 404.
    let h = app
        .get("/api/v1/rooms/general/messages", &alice.access_token)
        .await;
    assert_eq!(h.body["messages"][0]["attachments"], json!([]));
    let (status, _, body) = fetch(app, &url, None, &[]).await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "file_not_found".into())
    );
    // Within a minute: the objects are gone and the quota is released.
    wait_erased(app, &id).await;
    wait_quota_released(&app.state, &alice).await;
}

/// Waits (bounded: 20 s) until `user` holds no bytes of the quota.
async fn wait_quota_released(state: &AppState, user: &TestUser) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while state.store.file_bytes(user.user_id).await.unwrap() != 0 {
        assert!(Instant::now() < deadline, "the quota is released");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn deleting_the_message_erases_its_files(backend: Backend) {
    let app = app(backend).await;
    erase_on_delete(&app).await;
}

async fn deleting_the_message_erases_its_files_on_s3(backend: Backend) {
    let app = app_with(backend, Store::S3, |_| {}).await;
    erase_on_delete(&app).await;
}

async fn deleting_the_room_erases_its_files(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "doomed", false).await;
    let attached = uploaded(&app, &alice, "doomed", "a.txt", b"attached").await;
    let loose = uploaded(&app, &alice, "doomed", "b.txt", b"never attached").await;
    let m = post_message(
        &app,
        &alice,
        "doomed",
        json!({"attachments": [attached["id"]]}),
    )
    .await;
    assert_eq!(m.status, 201);
    let r = app
        .request(
            reqwest::Method::DELETE,
            "/api/v1/rooms/doomed",
            Some(&alice.access_token),
            None,
        )
        .await;
    assert!(r.status.is_success(), "{:?}", r.body);
    for file in [&attached, &loose] {
        let id = file["id"].as_str().unwrap();
        let (status, _, _) = fetch(&app, file["url"].as_str().unwrap(), None, &[]).await;
        assert_eq!(status, 404);
        wait_erased(&app, id).await;
    }
}

async fn thumbnails_answer_range_and_if_none_match(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let r = upload(
        &app,
        &alice,
        "general",
        "p.png",
        "image/png",
        png_bytes(640, 480),
    )
    .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = r.body["thumbnail_url"].as_str().expect("a thumbnail URL");
    let (status, h, whole) = fetch(&app, url, None, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "accept-ranges"), "bytes");
    assert_eq!(header(&h, "content-type"), "image/jpeg");
    assert!(whole.len() > 100, "a thumbnail of {} bytes", whole.len());
    let size = whole.len();

    let (status, h, part) = fetch(&app, url, None, &[("range", "bytes=0-9")]).await;
    assert_eq!(status.as_u16(), 206, "a range of the thumbnail");
    assert_eq!(part, whole[..10], "its first ten bytes");
    assert_eq!(header(&h, "content-range"), format!("bytes 0-9/{size}"));
    assert_eq!(header(&h, "content-type"), "image/jpeg");
    let (status, _, part) = fetch(&app, url, None, &[("range", "bytes=-4")]).await;
    assert_eq!(
        (status.as_u16(), part),
        (206, whole[size - 4..].to_vec()),
        "a suffix range"
    );
    let (status, h, _) = fetch(&app, url, None, &[("range", &format!("bytes={size}-"))]).await;
    assert_eq!(status.as_u16(), 416, "past the end");
    assert_eq!(header(&h, "content-range"), format!("bytes */{size}"));

    let etag = header(&h_of(&app, url).await, "etag");
    assert!(
        etag.ends_with("-thumbnail\""),
        "the thumbnail's own ETag: {etag}"
    );
    let (status, h, body) = fetch(&app, url, None, &[("if-none-match", &etag)]).await;
    assert_eq!((status.as_u16(), body.len()), (304, 0), "not modified");
    assert_eq!(header(&h, "etag"), etag);
    // The original's ETag is not the thumbnail's.
    let original = format!("\"{}\"", r.body["sha256"].as_str().unwrap());
    let (status, _, _) = fetch(&app, url, None, &[("if-none-match", &original)]).await;
    assert_eq!(status, 200);
}

/// The headers of a GET of `path`.
async fn h_of(app: &TestApp, path: &str) -> reqwest::header::HeaderMap {
    fetch(app, path, None, &[]).await.1
}

/// An image uploaded by `user` to `room` and attached to a message there:
/// (the file object, the message's seq).
async fn attached_image(app: &TestApp, user: &TestUser, room: &str) -> (Value, i64) {
    let r = upload(app, user, room, "p.png", "image/png", png_bytes(400, 300)).await;
    let file = crate::helpers::status(&r, 201, "upload");
    let id = file["id"].as_str().unwrap();
    assert!(
        exists(app, id, Variant::Original).await && exists(app, id, Variant::Thumbnail).await,
        "both objects stored"
    );
    let m = post_message(
        app,
        user,
        room,
        json!({"body": "look", "attachments": [id]}),
    )
    .await;
    let m = crate::helpers::status(&m, 201, "the message with the file");
    (file, m["seq"].as_i64().unwrap())
}

/// The app started again on `first`'s database and storage (a restart, or
/// another instance), serving beside it; its state.
async fn start_again(first: &TestApp) -> actix_web::web::Data<AppState> {
    let mut config = Config::for_tests(&first.state.config.database_url);
    config.files.location = first.state.config.files.location.clone();
    config.limits.send_rate = 0;
    let again = Application::build(config).await.expect("second start");
    let state = again.state();
    tokio::spawn(again.run());
    state
}

async fn erase_across_restart(backend: Backend, store: Store) {
    let first = app_with(backend, store, |_| {}).await;
    let alice = first.signup("alice").await;
    first.create_room(&alice, "general", false).await;
    let (file, seq) = attached_image(&first, &alice, "general").await;
    let id = file["id"].as_str().unwrap();
    // The first start begins to stop: its sweeper is done (it stops at the
    // shutdown signal), while requests in flight still finish. The message
    // is deleted then, as it can be during a graceful shutdown.
    first.state.begin_shutdown();
    let r = first
        .request(
            reqwest::Method::DELETE,
            &format!("/api/v1/rooms/general/messages/{seq}"),
            Some(&alice.access_token),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let (status, _, _) = fetch(&first, file["url"].as_str().unwrap(), None, &[]).await;
    assert_eq!(status, 404, "the deleted file's URL answers 404 at once");
    assert!(
        exists(&first, id, Variant::Original).await,
        "no sweeper ran after the deletion: the object waits in the durable queue"
    );
    // The next start (same database, same storage) erases it within the
    // bound, and gives its bytes back to the quota.
    let again = start_again(&first).await;
    wait_gone(&again, id).await;
    wait_quota_released(&again, &alice).await;
    again.begin_shutdown();
}

async fn a_deletion_before_a_restart_is_erased_by_the_next_start(backend: Backend) {
    erase_across_restart(backend, Store::Folder).await;
}

async fn a_deletion_before_a_restart_is_erased_by_the_next_start_on_s3(backend: Backend) {
    erase_across_restart(backend, Store::S3).await;
}

async fn files_never_attached_expire_after_a_day(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let old = uploaded(&app, &alice, "general", "old.txt", b"uploaded a day ago").await;
    let young = uploaded(&app, &alice, "general", "young.txt", b"uploaded just now").await;
    let (attached, _) = attached_image(&app, &alice, "general").await;
    // Both the unattached and the attached file age past a day.
    let day_ago = match backend {
        Backend::Postgres => "now() - interval '24 hours 1 minute'".to_string(),
        Backend::Sqlite => {
            (chrono::Utc::now().timestamp_millis() - (24 * 3600 + 60) * 1000).to_string()
        }
    };
    for file in [&old, &attached] {
        app.exec(&format!(
            "UPDATE files SET created_at = {day_ago} WHERE id = '{}'",
            file["id"].as_str().unwrap()
        ))
        .await;
    }
    let old_id = old["id"].as_str().unwrap();
    wait_erased(&app, old_id).await;
    let (status, _, body) = fetch(&app, old["url"].as_str().unwrap(), None, &[]).await;
    assert_eq!(
        (status.as_u16(), error_code(&body)),
        (404, "file_not_found".into()),
        "an expired file's URL"
    );
    // The same pass left the younger upload and the attached file alone.
    for (file, what) in [(&young, "uploaded just now"), (&attached, "attached")] {
        let id = file["id"].as_str().unwrap();
        assert!(exists(&app, id, Variant::Original).await, "{what}: kept");
        let (status, _, _) = fetch(&app, file["url"].as_str().unwrap(), None, &[]).await;
        assert_eq!(status, 200, "{what}: still served");
    }
}

async fn erase_with_the_account(backend: Backend, store: Store) {
    let app = app_with(backend, store, |_| {}).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&bob, "general", false).await;
    let (attached, _) = attached_image(&app, &alice, "general").await;
    let loose = uploaded(&app, &alice, "general", "loose.txt", b"never attached").await;
    let (bobs, _) = attached_image(&app, &bob, "general").await;
    let r = delete_me(&app, &alice, &alice.password).await;
    assert_eq!(r.status, 204, "alice deletes her account: {:?}", r.body);
    for file in [&attached, &loose] {
        let id = file["id"].as_str().unwrap();
        wait_erased(&app, id).await;
        let (status, _, _) = fetch(&app, file["url"].as_str().unwrap(), None, &[]).await;
        assert_eq!(status, 404, "alice's file {id} is gone");
    }
    let h = app
        .get("/api/v1/rooms/general/messages", &bob.access_token)
        .await;
    let messages = h.body["messages"].as_array().unwrap();
    let hers = messages
        .iter()
        .find(|m| m["seq"] == 1)
        .expect("alice's message stays as a deleted one");
    assert_eq!(hers["attachments"], json!([]), "no file shown: {hers}");
    // Bob's file stays.
    let id = bobs["id"].as_str().unwrap();
    assert!(exists(&app, id, Variant::Original).await, "bob's file kept");
    let (status, _, _) = fetch(&app, bobs["url"].as_str().unwrap(), None, &[]).await;
    assert_eq!(status, 200, "bob's file still served");
}

async fn deleting_the_account_erases_its_files(backend: Backend) {
    erase_with_the_account(backend, Store::Folder).await;
}

async fn deleting_the_account_erases_its_files_on_s3(backend: Backend) {
    erase_with_the_account(backend, Store::S3).await;
}

async fn erase_with_retention(backend: Backend, store: Store) {
    let app = app_with(backend, store, |c| {
        c.retention.max_events = Some(2);
        c.retention.interval = Duration::from_millis(50);
    })
    .await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let (pruned, seq) = attached_image(&app, &alice, "general").await;
    assert_eq!(seq, 1);
    for n in 0..2 {
        let m = post_message(
            &app,
            &alice,
            "general",
            json!({"body": format!("more {n}")}),
        )
        .await;
        assert_eq!(m.status, 201);
    }
    let (kept, seq) = attached_image(&app, &alice, "general").await;
    assert_eq!(seq, 4);
    // Only the newest two events stay: seq 1 is pruned, and its files go.
    let id = pruned["id"].as_str().unwrap();
    wait_erased(&app, id).await;
    let (status, _, _) = fetch(&app, pruned["url"].as_str().unwrap(), None, &[]).await;
    assert_eq!(status, 404, "a pruned message's file URL");
    // The pass that erased it left the file above the horizon alone.
    let id = kept["id"].as_str().unwrap();
    assert!(
        exists(&app, id, Variant::Original).await,
        "above the horizon: kept"
    );
    let (status, _, _) = fetch(&app, kept["url"].as_str().unwrap(), None, &[]).await;
    assert_eq!(status, 200, "above the horizon: served");
}

async fn retention_erases_the_files_of_pruned_messages(backend: Backend) {
    erase_with_retention(backend, Store::Folder).await;
}

async fn retention_erases_the_files_of_pruned_messages_on_s3(backend: Backend) {
    erase_with_retention(backend, Store::S3).await;
}
