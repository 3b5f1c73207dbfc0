//! The browser client: `GET /` and `GET /assets/{file}` serve the files of
//! `web/`, embedded in the binary at compile time, so running the server
//! needs neither Node nor the files on disk. Each answer carries its
//! Content-Type, an ETag to revalidate against (`Cache-Control: no-cache`:
//! the file names carry no version, so a browser must ask, and mostly gets
//! a 304) and a Content-Security-Policy that lets the page run only these
//! files and talk only to this origin and to WebSockets. The client's logic
//! lives in `web/`; this module knows nothing of the API.

use std::collections::HashMap;
use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, Route, guard, web};
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// Scripts, styles and images from this origin only, no inline code, no
/// plugins, no framing. `connect-src` lists `ws:`/`wss:` because not every
/// browser lets `'self'` cover the WebSocket to the page's own host.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self' ws: wss:; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const HTML: &str = "text/html; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

/// One embedded file.
struct Asset {
    /// Path under `web/`, which is also its path under `/assets/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! embed {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/", $path)),
        }
    };
}

/// The page itself, served at `/`.
const INDEX: Asset = embed!("index.html", HTML);

/// The service worker (README, "Notifications"), served at `/sw.js`: a
/// worker's scope is at most its own path's folder, and it must cover `/`.
const SERVICE_WORKER: Asset = embed!("sw.js", JAVASCRIPT);

/// Everything the page loads, served at `/assets/{path}`.
const ASSETS: &[Asset] = &[
    embed!("app.js", JAVASCRIPT),
    embed!("api.js", JAVASCRIPT),
    embed!("errors.js", JAVASCRIPT),
    embed!("live.js", JAVASCRIPT),
    embed!("restore.js", JAVASCRIPT),
    embed!("timeline.js", JAVASCRIPT),
    embed!("domain/blocks.js", JAVASCRIPT),
    embed!("domain/sessions.js", JAVASCRIPT),
    embed!("domain/room.js", JAVASCRIPT),
    embed!("domain/grouping.js", JAVASCRIPT),
    embed!("domain/notifications.js", JAVASCRIPT),
    embed!("domain/rooms.js", JAVASCRIPT),
    embed!("domain/search.js", JAVASCRIPT),
    embed!("domain/thread.js", JAVASCRIPT),
    embed!("domain/threads.js", JAVASCRIPT),
    embed!("domain/moderation.js", JAVASCRIPT),
    embed!("domain/unread.js", JAVASCRIPT),
    embed!("domain/people.js", JAVASCRIPT),
    embed!("domain/profile.js", JAVASCRIPT),
    embed!("ui/blocked-view.js", JAVASCRIPT),
    embed!("ui/chat-view.js", JAVASCRIPT),
    embed!("ui/composer-view.js", JAVASCRIPT),
    embed!("ui/confirm.js", JAVASCRIPT),
    embed!("ui/dom.js", JAVASCRIPT),
    embed!("ui/integrations-view.js", JAVASCRIPT),
    embed!("ui/members-view.js", JAVASCRIPT),
    embed!("ui/notify-view.js", JAVASCRIPT),
    embed!("ui/moderation-view.js", JAVASCRIPT),
    embed!("ui/room-moderation-view.js", JAVASCRIPT),
    embed!("ui/report-view.js", JAVASCRIPT),
    embed!("ui/admin-view.js", JAVASCRIPT),
    embed!("ui/message-view.js", JAVASCRIPT),
    embed!("ui/rooms-view.js", JAVASCRIPT),
    embed!("ui/search-view.js", JAVASCRIPT),
    embed!("ui/thread-view.js", JAVASCRIPT),
    embed!("ui/threads-view.js", JAVASCRIPT),
    embed!("ui/grouping-view.js", JAVASCRIPT),
    embed!("ui/markdown.js", JAVASCRIPT),
    embed!("ui/avatar.js", JAVASCRIPT),
    embed!("ui/people-view.js", JAVASCRIPT),
    embed!("ui/timeline.css", CSS),
    embed!("ui/signin-view.js", JAVASCRIPT),
    embed!("ui/settings-view.js", JAVASCRIPT),
    embed!("ui/settings/bots-section.js", JAVASCRIPT),
    embed!("ui/settings/profile-section.js", JAVASCRIPT),
    embed!("ui/settings/sessions-section.js", JAVASCRIPT),
    embed!("ui/settings/password-section.js", JAVASCRIPT),
    embed!("ui/settings/email-section.js", JAVASCRIPT),
    embed!("ui/reset-view.js", JAVASCRIPT),
    embed!("ui/settings/two-factor-section.js", JAVASCRIPT),
    embed!("ui/layout.css", CSS),
    embed!("ui/files.css", CSS),
    embed!("ui/attachments-view.js", JAVASCRIPT),
    embed!("ui/upload-view.js", JAVASCRIPT),
    embed!("domain/uploads.js", JAVASCRIPT),
    embed!("style.css", CSS),
    embed!("vendor/stompjs/stomp.umd.min.js", JAVASCRIPT),
    embed!("vendor/stompjs/LICENSE", TEXT),
    embed!("vendor/markdown-it/markdown-it.min.js", JAVASCRIPT),
    embed!("vendor/markdown-it/LICENSE", TEXT),
    embed!("vendor/qrcode-generator/qrcode.js", JAVASCRIPT),
    embed!("vendor/qrcode-generator/LICENSE", TEXT),
];

/// Strong ETags from the content, computed once.
static ETAGS: LazyLock<HashMap<&'static str, HeaderValue>> = LazyLock::new(|| {
    [&INDEX, &SERVICE_WORKER]
        .into_iter()
        .chain(ASSETS)
        .map(|asset| {
            let digest = Sha256::digest(asset.body);
            let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
            let etag = HeaderValue::from_str(&format!("\"{hex}\"")).expect("hex is a valid header");
            (asset.path, etag)
        })
        .collect()
});

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(read().to(index))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/sw.js")
            .route(read().to(service_worker))
            .default_service(web::to(method_not_allowed)),
    )
    .service(
        web::resource("/assets/{path:.+}")
            .route(read().to(asset))
            .default_service(web::to(method_not_allowed)),
    );
}

/// GET, and HEAD (actix sends the headers without the body).
fn read() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

async fn index(req: HttpRequest) -> HttpResponse {
    serve(&req, &INDEX)
}

async fn service_worker(req: HttpRequest) -> HttpResponse {
    serve(&req, &SERVICE_WORKER)
}

async fn asset(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.match_info().get("path").unwrap_or_default();
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .map(|a| serve(&req, a))
        .ok_or(ApiError::NotFound)
}

async fn method_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "GET, HEAD"))
        .json(serde_json::json!({
            "error": {"code": "method_not_allowed", "message": "only GET and HEAD are allowed here"}
        }))
}

fn serve(req: &HttpRequest, asset: &Asset) -> HttpResponse {
    let etag = ETAGS[asset.path].clone();
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| matches_etag(v, &etag));
    let mut resp = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if unchanged {
        resp.finish()
    } else {
        resp.content_type(asset.content_type).body(asset.body)
    }
}

/// `If-None-Match`: `*` or a list of tags, compared weakly (RFC 9110 13.1.2).
fn matches_etag(if_none_match: &str, etag: &HeaderValue) -> bool {
    let ours = etag.to_str().unwrap_or_default();
    if_none_match
        .split(',')
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

#[cfg(test)]
mod tests {
    use actix_web::App;
    use actix_web::dev::ServiceResponse;
    use actix_web::http::{Method, StatusCode, header};
    use actix_web::test::{TestRequest, call_service, init_service, read_body, read_body_json};

    use super::*;

    async fn request(method: Method, uri: &str, headers: &[(&str, &str)]) -> ServiceResponse {
        let app = init_service(App::new().configure(configure)).await;
        let mut req = TestRequest::default().method(method).uri(uri);
        for &(name, value) in headers {
            req = req.insert_header((name, value));
        }
        call_service(&app, req.to_request()).await
    }

    fn header_of(resp: &ServiceResponse, name: header::HeaderName) -> &str {
        resp.headers()
            .get(&name)
            .unwrap_or_else(|| panic!("{name} header missing"))
            .to_str()
            .unwrap()
    }

    #[actix_web::test]
    async fn index_is_html_with_a_content_security_policy() {
        let resp = request(Method::GET, "/", &[]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header_of(&resp, header::CONTENT_TYPE), HTML);
        assert_eq!(header_of(&resp, header::CACHE_CONTROL), "no-cache");
        let csp = header_of(&resp, header::CONTENT_SECURITY_POLICY);
        assert!(
            csp.contains("script-src 'self'") && csp.contains("ws:"),
            "CSP allows own scripts and WebSockets only: {csp}"
        );
        let body = read_body(resp).await;
        assert!(body.starts_with(b"<!doctype html>"), "the page is served");
    }

    #[actix_web::test]
    async fn assets_are_served_with_their_content_type() {
        for (uri, content_type) in [
            ("/assets/app.js", JAVASCRIPT),
            ("/assets/domain/room.js", JAVASCRIPT),
            ("/assets/ui/chat-view.js", JAVASCRIPT),
            ("/assets/style.css", CSS),
            ("/assets/vendor/stompjs/stomp.umd.min.js", JAVASCRIPT),
        ] {
            let resp = request(Method::GET, uri, &[]).await;
            assert_eq!(resp.status(), StatusCode::OK, "{uri}");
            assert_eq!(
                header_of(&resp, header::CONTENT_TYPE),
                content_type,
                "{uri}"
            );
            assert_eq!(header_of(&resp, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
        }
    }

    #[actix_web::test]
    async fn a_current_etag_is_answered_not_modified() {
        let first = request(Method::GET, "/assets/app.js", &[]).await;
        let etag = header_of(&first, header::ETAG).to_owned();
        let again = request(Method::GET, "/assets/app.js", &[("if-none-match", &etag)]).await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(read_body(again).await.is_empty(), "a 304 has no body");
        let stale = request(
            Method::GET,
            "/assets/app.js",
            &[("if-none-match", "\"old\"")],
        )
        .await;
        assert_eq!(stale.status(), StatusCode::OK, "another tag gets the file");
    }

    #[actix_web::test]
    async fn an_unknown_asset_is_the_json_not_found() {
        let resp = request(Method::GET, "/assets/nope.js", &[]).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = read_body_json(resp).await;
        assert_eq!(body["error"]["code"], "not_found");
    }

    #[actix_web::test]
    async fn other_methods_are_not_allowed() {
        let resp = request(Method::POST, "/", &[]).await;
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(header_of(&resp, header::ALLOW), "GET, HEAD");
    }

    /// `/assets/...` in the page, and the modules' `./x.js` and `../x.js`
    /// imports resolved against the importing file's folder.
    fn references(file: &str, text: &str) -> Vec<String> {
        let mut found = Vec::new();
        for piece in text.split("\"/assets/").skip(1) {
            found.push(piece.split('"').next().unwrap_or_default().to_owned());
        }
        for piece in text.split("from '").skip(1) {
            let target = piece.split('\'').next().unwrap_or_default();
            let mut parts: Vec<&str> = file.split('/').collect();
            parts.pop(); // the importing file's own name
            for segment in target.split('/') {
                match segment {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    name => parts.push(name),
                }
            }
            found.push(parts.join("/"));
        }
        found
    }

    #[test]
    fn everything_the_page_loads_is_embedded() {
        let mut checked = 0;
        for file in std::iter::once(&INDEX).chain(ASSETS) {
            let Ok(text) = std::str::from_utf8(file.body) else {
                continue;
            };
            if file.path.starts_with("vendor/") {
                continue;
            }
            for path in references(file.path, text) {
                assert!(
                    ASSETS.iter().any(|a| a.path == path),
                    "{} loads {path}, which is not in ASSETS",
                    file.path
                );
                checked += 1;
            }
        }
        assert!(checked >= 30, "found the page's references ({checked})");
    }

    /// Every module in `web/` is served (a file added there but not to
    /// `ASSETS` would load in a checkout and fail in the binary), and none
    /// grows past the size web/README.md sets for one view or feature.
    #[test]
    fn every_module_in_web_is_embedded_and_small() {
        fn modules(dir: &std::path::Path, under: &str, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).expect("web/ is readable") {
                let entry = entry.unwrap();
                let name = entry.file_name().to_string_lossy().into_owned();
                let path = if under.is_empty() {
                    name.clone()
                } else {
                    format!("{under}/{name}")
                };
                if entry.file_type().unwrap().is_dir() {
                    if name != "vendor" {
                        modules(&entry.path(), &path, found);
                    }
                } else if name.ends_with(".js") {
                    found.push(path);
                }
            }
        }
        let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut found = Vec::new();
        modules(&web, "", &mut found);
        assert!(found.len() >= 10, "found the modules: {found:?}");
        for path in found {
            if path == SERVICE_WORKER.path {
                continue; // served at /sw.js, not under /assets/
            }
            let asset = ASSETS.iter().find(|a| a.path == path);
            let asset = asset.unwrap_or_else(|| panic!("web/{path} is not in ASSETS"));
            let lines = asset.body.iter().filter(|&&b| b == b'\n').count();
            assert!(
                lines <= 600,
                "web/{path} has {lines} lines; split it by view or feature"
            );
        }
    }
}
