//! Avatars: `PUT /me/avatar` re-encodes a real image as a square of at most
//! 256 px without metadata, refuses what is not one (and what is too
//! large), `avatar_url` is signed (works without a token, not altered), a
//! replaced or removed picture leaves the storage, and others see it.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use super::get_user;
use crate::db::Backend;
use crate::helpers::{TestApp, TestUser, on_both_backends, refused, spawn_app_with, status};

on_both_backends!(
    an_avatar_is_a_square_of_at_most_256_px_without_metadata,
    what_is_not_an_image_or_too_large_is_refused,
    a_replaced_or_removed_avatar_leaves_the_storage,
);

/// The app with a small avatar limit.
async fn app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.files.max_avatar_bytes = 200_000).await
}

async fn put_avatar(app: &TestApp, who: &TestUser, bytes: Vec<u8>) -> crate::helpers::Reply {
    let resp = app
        .client
        .put(format!("{}/api/v1/me/avatar", app.base))
        .bearer_auth(&who.access_token)
        .header("content-type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .unwrap();
    TestApp::reply(resp).await
}

/// GET of a URL the server gave, without a token: (status, bytes).
async fn fetch(app: &TestApp, url: &str) -> (u16, Vec<u8>) {
    let resp = app
        .client
        .get(format!("{}{url}", app.base))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// A JPEG of `w` x `h` pixels with an EXIF segment holding `marker`.
fn jpeg_with_exif(w: u32, h: u32, marker: &[u8]) -> Vec<u8> {
    let image = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 64]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    let jpeg = out.into_inner();
    let mut payload = b"Exif\0\0II*\0\x08\0\0\0\0\0".to_vec();
    payload.extend_from_slice(marker);
    let len = u16::try_from(payload.len() + 2).unwrap();
    let mut with = vec![0xFF, 0xD8, 0xFF, 0xE1];
    with.extend_from_slice(&len.to_be_bytes());
    with.extend_from_slice(&payload);
    with.extend_from_slice(&jpeg[2..]);
    with
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbaImage::from_fn(w, h, |x, y| image::Rgba([x as u8, y as u8, 9, 200]));
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn url_of(user: &Value) -> String {
    user["avatar_url"]
        .as_str()
        .unwrap_or_else(|| panic!("an avatar_url: {user}"))
        .to_string()
}

async fn an_avatar_is_a_square_of_at_most_256_px_without_metadata(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    let marker = b"GPS-48.8584N-2.2945E-SECRET";
    let jpeg = jpeg_with_exif(640, 400, marker);
    let me = status(
        &put_avatar(&app, &alice, jpeg).await,
        200,
        "a JPEG with EXIF",
    );
    let url = url_of(&me);
    assert!(url.starts_with("/api/v1/avatars/"), "{url}");

    let (code, bytes) = fetch(&app, &url).await;
    assert_eq!(code, 200, "the signed URL works without a token");
    assert!(
        !bytes.windows(marker.len()).any(|w| w == marker),
        "no location"
    );
    assert!(!bytes.windows(4).any(|w| w == b"Exif"), "no EXIF segment");
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!(
        (decoded.width(), decoded.height()),
        (256, 256),
        "a square of 256 px"
    );

    // Others see it, signed for them too.
    let seen = status(&get_user(&app, &bob, "alice").await, 200, "bob reads alice");
    let (code, _) = fetch(&app, &url_of(&seen)).await;
    assert_eq!(code, 200);
    let me_again = status(&app.get("/api/v1/me", &alice.access_token).await, 200, "me");
    assert!(me_again["avatar_url"].is_string());

    // A small picture is squared, not enlarged.
    let me = status(
        &put_avatar(&app, &alice, png(120, 90)).await,
        200,
        "a small PNG",
    );
    let (_, bytes) = fetch(&app, &url_of(&me)).await;
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (90, 90));

    // Altered or unsigned: refused.
    let url = url_of(&me);
    let altered = url.replace("sig=", "sig=0");
    assert_eq!(fetch(&app, &altered).await.0, 403, "an altered signature");
    let later = url.replace("expires=", "expires=9");
    assert_eq!(fetch(&app, &later).await.0, 403, "a pushed expiry");
    let bare = url.split('?').next().unwrap().to_string();
    assert_eq!(fetch(&app, &bare).await.0, 403, "no signature");
}

async fn what_is_not_an_image_or_too_large_is_refused(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    refused(
        &put_avatar(&app, &alice, b"just some text, not a picture".to_vec()).await,
        400,
        "invalid_image",
        "text",
    );
    let mut broken = png(64, 64);
    broken.truncate(60);
    refused(
        &put_avatar(&app, &alice, broken).await,
        400,
        "invalid_image",
        "a truncated PNG",
    );
    refused(
        &put_avatar(&app, &alice, vec![0u8; 200_001]).await,
        413,
        "file_too_large",
        "over MAX_AVATAR_BYTES",
    );
    let me = status(&app.get("/api/v1/me", &alice.access_token).await, 200, "me");
    assert_eq!(me["avatar_url"], json!(null), "nothing was set");
    let r = app
        .request(Method::DELETE, "/api/v1/me/avatar", None, None)
        .await;
    refused(&r, 401, "unauthorized", "without a token");
}

/// Whether the avatar object of `url` is still in the storage, waiting for
/// the files' sweeper (it runs every few seconds) up to `within`.
async fn gone_within(app: &TestApp, url: &str, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if fetch(app, url).await.0 == 404 {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn a_replaced_or_removed_avatar_leaves_the_storage(backend: Backend) {
    let app = app(backend).await;
    let alice = app.signup("alice").await;
    let first = url_of(&status(
        &put_avatar(&app, &alice, png(300, 300)).await,
        200,
        "first",
    ));
    let second = url_of(&status(
        &put_avatar(&app, &alice, png(280, 280)).await,
        200,
        "second",
    ));
    assert_ne!(first, second, "a new picture, a new URL");
    assert!(
        gone_within(&app, &first, Duration::from_secs(30)).await,
        "the replaced picture leaves the storage within a minute"
    );
    assert_eq!(fetch(&app, &second).await.0, 200, "the new one is there");
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/me/avatar",
            Some(&alice.access_token),
            None,
        )
        .await;
    let me = status(&r, 200, "remove");
    assert_eq!(me["avatar_url"], json!(null));
    assert!(
        gone_within(&app, &second, Duration::from_secs(30)).await,
        "a removed picture leaves the storage within a minute"
    );
}
