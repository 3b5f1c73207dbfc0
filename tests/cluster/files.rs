//! Files across instances (README, "Files"): the instances share one
//! storage (the same folder, or the same S3 bucket on the tests' moto), so
//! a file uploaded and attached on one instance reaches a subscriber on
//! another with the message, downloads through it byte for byte, and, once
//! its message is deleted, answers 404 there and leaves the storage. The
//! erasure queue lives in the database: a deletion just before a SIGKILL is
//! carried out by the next start.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use stomp_client::StompClient;

use crate::cluster::{Cluster, Instance};
use crate::http::{self, base, call};

/// How long an erasure may take (README: within a minute).
const ERASED_WITHIN: Duration = Duration::from_secs(60);

/// Where the instances of a test keep files, seen from the test.
enum Storage {
    /// The default `STORAGE_URL` (`file://parley-files`) under the
    /// instances' shared working directory.
    Folder(PathBuf),
    /// A fresh bucket on the S3-compatible server of the tests.
    S3 { endpoint: String, bucket: String },
}

impl Storage {
    /// A fresh bucket, and the environment that points instances at it.
    async fn bucket() -> (Storage, Vec<(&'static str, String)>) {
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
        let env = vec![
            ("STORAGE_URL", format!("s3://{bucket}/files")),
            ("S3_ENDPOINT", endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_string()),
            ("AWS_ACCESS_KEY_ID", "testing".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ];
        (Storage::S3 { endpoint, bucket }, env)
    }

    /// Whether the original object of file `id` is stored.
    async fn holds(&self, id: &str) -> bool {
        match self {
            Storage::Folder(dir) => dir.join("f").join(id).exists(),
            Storage::S3 { endpoint, bucket } => {
                let r = reqwest::Client::new()
                    .head(format!("{endpoint}/{bucket}/files/f/{id}"))
                    .send()
                    .await
                    .expect("the S3 server answers");
                match r.status().as_u16() {
                    200 => true,
                    404 => false,
                    other => panic!("HEAD of object {id}: {other}"),
                }
            }
        }
    }

    /// Waits (bounded by [`ERASED_WITHIN`]) until file `id` has left it.
    async fn wait_erased(&self, id: &str) {
        let deadline = Instant::now() + ERASED_WITHIN;
        while self.holds(id).await {
            assert!(
                Instant::now() < deadline,
                "file {id} still stored after {ERASED_WITHIN:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Bytes that no sniffer takes for anything but a plain file.
fn payload() -> Vec<u8> {
    (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect()
}

/// Uploads `bytes` to `room` through `port`; the `file` object.
async fn upload(port: u16, token: &str, room: &str, bytes: Vec<u8>) -> Value {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/rooms/{room}/files", base(port)))
        .query(&[("filename", "data.bin")])
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("upload request");
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert_eq!(status, 201, "upload: {body}");
    body
}

/// A GET of `path` through `port` (a Bearer token, or none for a signed
/// URL): status and bytes.
async fn download(port: u16, path: &str, token: Option<&str>) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new().get(format!("{}{path}", base(port)));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let r = req.send().await.expect("download request");
    (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
}

/// A message with the attachment `id` posted through `port`; its seq.
async fn post_with(port: u16, token: &str, id: &str) -> i64 {
    let (status, m) = call(
        port,
        Method::POST,
        "/api/v1/rooms/lobby/messages",
        token,
        Some(json!({"body": "the data", "attachments": [id]})),
    )
    .await;
    assert_eq!(status, 201, "message with the file: {m}");
    m["seq"].as_i64().expect("seq")
}

async fn delete_message(port: u16, token: &str, seq: i64) {
    let (status, body) = call(
        port,
        Method::DELETE,
        &format!("/api/v1/rooms/lobby/messages/{seq}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "delete message {seq}: {body}");
}

async fn seen_and_erased_on_the_other_instance(cluster: Cluster, storage: Storage) {
    let (a, b) = (cluster.port(0), cluster.port(1));
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;
    http::create_room(a, &alice, "lobby").await;
    let (status, body) = call(b, Method::POST, "/api/v1/rooms/lobby/join", &bob, None).await;
    assert_eq!(status, 200, "bob joins on B: {body}");
    let mut on_b = StompClient::connect(b, &bob).await;
    on_b.subscribe("b", "lobby").await;

    let bytes = payload();
    let file = upload(a, &alice, "lobby", bytes.clone()).await;
    let id = file["id"].as_str().unwrap().to_string();
    assert!(storage.holds(&id).await, "stored in the shared storage");
    let seq = post_with(a, &alice, &id).await;

    let message = on_b.expect_messages(1).await.remove(0).json();
    assert_eq!(message["seq"], seq, "{message}");
    let attachments = message["attachments"].as_array().expect("attachments");
    assert_eq!(attachments.len(), 1, "{message}");
    let attachment = &attachments[0];
    assert_eq!(attachment["id"], id.as_str());
    assert_eq!(attachment["name"], "data.bin");
    assert_eq!(attachment["size"], bytes.len());
    assert_eq!(attachment["uploader"], "alice");

    let by_token = format!("/api/v1/files/{id}");
    let (status, got) = download(b, &by_token, Some(&bob)).await;
    assert_eq!(status, 200, "bob downloads through B");
    assert!(got == bytes, "the bytes uploaded through A, through B");
    let signed = attachment["url"].as_str().expect("a signed url");
    let (status, got) = download(b, signed, None).await;
    assert_eq!(status, 200, "the signed URL of B's MESSAGE, through B");
    assert!(got == bytes, "the same bytes by signed URL");

    delete_message(a, &alice, seq).await;
    let (status, body) = download(b, &by_token, Some(&bob)).await;
    let code: Value = serde_json::from_slice(&body).unwrap_or_default();
    assert_eq!(
        (status, code["error"]["code"].as_str()),
        (404, Some("file_not_found")),
        "B answers 404 as soon as A has deleted the message"
    );
    let (status, _) = download(b, signed, None).await;
    assert_eq!(status, 404, "the signed URL too");
    storage.wait_erased(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_sent_on_one_instance_is_seen_downloaded_and_erased_on_another() {
    let cluster = Cluster::start(2).await;
    let storage = Storage::Folder(cluster.shared.dir.join("parley-files"));
    seen_and_erased_on_the_other_instance(cluster, storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_sent_on_one_instance_is_seen_downloaded_and_erased_on_another_on_s3() {
    let (storage, env) = Storage::bucket().await;
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let cluster = Cluster::start_with(2, &env).await;
    seen_and_erased_on_the_other_instance(cluster, storage).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_just_before_a_kill_is_erased_by_the_next_start() {
    let mut cluster = Cluster::start(1).await;
    let storage = Storage::Folder(cluster.shared.dir.join("parley-files"));
    let port = cluster.port(0);
    let alice = http::signup(port, "alice").await;
    http::create_room(port, &alice, "lobby").await;
    let file = upload(port, &alice, "lobby", payload()).await;
    let id = file["id"].as_str().unwrap().to_string();
    let seq = post_with(port, &alice, &id).await;
    delete_message(port, &alice, seq).await;
    // No graceful stop: whatever the process held in memory is lost.
    cluster.instances[0].sigkill();
    let again = Instance::start("parley-again", &cluster.shared).await;
    storage.wait_erased(&id).await;
    let (status, _) = download(again.port, &format!("/api/v1/files/{id}"), Some(&alice)).await;
    assert_eq!(status, 404, "the file is gone for the next start too");
}
