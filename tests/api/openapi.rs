//! The OpenAPI document (`GET /api/v1/openapi.json`) against the routes the
//! application really serves.
//!
//! How the two cannot drift apart:
//!
//! * The document is generated: `http::configure` registers each REST route
//!   through `openapi::Documented::service`, which only takes handlers that
//!   carry `#[utoipa::path]`, and documents them in the same call; utoipa
//!   reads each operation's method and path from the handler's own actix
//!   attribute (`#[get("/rooms/{name}")]`).
//! * What that leaves open is a route registered *around* it (a plain
//!   `cfg.service(..)` / `.route(..)`, another `configure`) or a doc that
//!   claims something the router does not do. So this test does not trust
//!   the registration code at all. It builds an app from `http::configure`
//!   (everything under `/api/v1` plus `/healthz`, `/readyz`, `/metrics` and
//!   the web client is registered there) with a marker default service, and
//!   takes the route table from actix itself: the marker handler answers
//!   with the `Debug` form of the app's `ResourceMap`, the router's own tree
//!   of every registered path pattern, however it was registered (actix has
//!   no public API to list routes, see actix/actix-web#2677). Each pattern
//!   is then probed with each of the eight OpenAPI methods: a method is
//!   served when the answer comes neither from the marker default service
//!   nor as a resource's 405. The resulting (method, path) set must equal
//!   the document's, minus the few routes left out on purpose
//!   ([`undocumented`]). Adding a method to an existing path, or a path
//!   registered any other way, therefore fails the test, and so does a
//!   documented operation nothing serves; a registered pattern that no
//!   request reaches (shadowed, e.g. by the `/api/v1` scope) fails too.
//!   The one blind spot: a route added in `startup.rs` directly on the
//!   `App`, outside `http::configure` (today only the WebSocket `/ws`).
//! * Should a future actix print its `ResourceMap` differently, the parse
//!   yields other patterns, the sets differ and the test fails loudly; it
//!   cannot pass by finding nothing, because the document is never empty.
//! * Finally the document the *real* application serves (`spawn_app`, with
//!   the middleware and the routes `startup.rs` adds around `configure`) is
//!   the one checked: it is OpenAPI 3.1, it parses, its references resolve,
//!   every error answer lists its codes, and each documented operation,
//!   requested without credentials, is answered by a handler (not the 404
//!   `not_found` of the default service, not 405), with 401 `unauthorized`
//!   exactly when the document says it needs the bearer token.

use std::collections::BTreeSet;

use actix_web::{App, HttpRequest, HttpResponse, test, web};
use reqwest::Method;
use serde_json::Value;

use crate::db::Backend;
use crate::helpers::spawn_app;

/// The operations of an OpenAPI path item.
const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE",
];

/// Routes deliberately not in the document: the browser client's page, its
/// service worker and assets (`src/http/web_client.rs`) and the STOMP
/// WebSocket endpoint (registered in `startup.rs`, listed here in case it
/// moves).
fn undocumented(path: &str) -> bool {
    path == "/" || path.starts_with("/assets/") || path == "/sw.js" || path == "/ws"
}

/// Header by which the probe app's default service tells itself apart.
const UNMATCHED: &str = "x-openapi-test-unmatched";

async fn unmatched(req: HttpRequest) -> HttpResponse {
    HttpResponse::NotFound()
        .insert_header((UNMATCHED, "1"))
        .body(format!("{:?}", req.resource_map()))
}

type Operations = BTreeSet<(String, String)>;

/// Every (method, path) that `http::configure` serves, found by asking the
/// router (see the module comment).
async fn registered_operations() -> Operations {
    let app = test::init_service(
        App::new()
            .configure(parley::http::configure)
            .default_service(web::to(unmatched)),
    )
    .await;
    let req = test::TestRequest::get()
        .uri("/openapi-test/no/such/route")
        .to_request();
    let resp = test::call_service(&app, req).await;
    assert!(resp.headers().contains_key(UNMATCHED), "probe route exists");
    let rmap = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
    // One resource per handler: a path served by two methods appears twice.
    let patterns: BTreeSet<String> = resource_patterns(&rmap).into_iter().collect();
    assert!(!patterns.is_empty(), "no route found in {rmap}");

    let mut served = Operations::new();
    for pattern in &patterns {
        let before = served.len();
        for method in METHODS {
            let req = test::TestRequest::default()
                .method(method.parse().unwrap())
                .uri(&concrete(pattern))
                .to_request();
            let resp = test::call_service(&app, req).await;
            if !resp.headers().contains_key(UNMATCHED) && resp.status() != 405 {
                served.insert((method.to_string(), pattern.clone()));
            }
        }
        assert!(
            served.len() > before,
            "{pattern} is registered but no request reaches it: shadowed by an \
             earlier scope or resource, or `concrete` lacks a value its pattern needs"
        );
    }
    served
}

/// `/rooms/{name}/members` → `/rooms/probe/members`.
fn concrete(pattern: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in pattern.chars() {
        match c {
            '{' => {
                if depth == 0 {
                    out.push_str("probe");
                }
                depth += 1;
            }
            '}' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// `{name:[a-z]+}` → `{name}`, as OpenAPI writes path templates.
fn template(pattern: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    let mut in_regex = false;
    for c in pattern.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push(c);
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    in_regex = false;
                    out.push(c);
                }
            }
            ':' if depth == 1 => in_regex = true,
            _ if depth == 1 && !in_regex => out.push(c),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// The full path patterns of the leaves of a `ResourceMap`'s `Debug` form.
fn resource_patterns(debug: &str) -> Vec<String> {
    let tree = DebugParser::new(debug).value();
    let mut out = Vec::new();
    collect_patterns(&tree, "", &mut out);
    out
}

fn collect_patterns(node: &Dbg, prefix: &str, out: &mut Vec<String>) {
    assert!(
        matches!(node, Dbg::Struct(name, _) if name == "ResourceMap"),
        "not a ResourceMap: {node:?}"
    );
    let own: Vec<String> = match node.field("pattern").field("patterns") {
        Dbg::Tuple(name, items) if name == "Single" => vec![items[0].string()],
        Dbg::Tuple(name, items) if name == "List" => match &items[0] {
            Dbg::List(list) => list.iter().map(Dbg::string).collect(),
            other => panic!("unexpected pattern list {other:?}"),
        },
        other => panic!("unexpected ResourceDef patterns {other:?}"),
    };
    for own in own {
        let path = format!("{prefix}{own}");
        match node.field("nodes") {
            Dbg::Tuple(some, children) if some == "Some" => match &children[0] {
                Dbg::List(children) => {
                    for child in children {
                        collect_patterns(child, &path, out);
                    }
                }
                other => panic!("unexpected ResourceMap nodes {other:?}"),
            },
            Dbg::Atom(none) if none == "None" => out.push(template(&path)),
            other => panic!("unexpected ResourceMap nodes {other:?}"),
        }
    }
}

/// A value in Rust's derived `Debug` syntax.
#[derive(Debug)]
enum Dbg {
    Str(String),
    /// Identifiers, numbers, `None`, `true`.
    Atom(String),
    /// `Name { field: value, .. }`
    Struct(String, Vec<(String, Dbg)>),
    /// `Name(value, ..)`, or `(value, ..)` with an empty name.
    Tuple(String, Vec<Dbg>),
    List(Vec<Dbg>),
    /// `{key: value, ..}`; the entries are not needed.
    Map,
}

impl Dbg {
    fn field(&self, name: &str) -> &Dbg {
        match self {
            Dbg::Struct(_, fields) => fields
                .iter()
                .find(|(f, _)| f == name)
                .map(|(_, v)| v)
                .unwrap_or_else(|| panic!("no field {name} in {self:?}")),
            _ => panic!("{self:?} is not a struct (looking for {name})"),
        }
    }

    fn string(&self) -> String {
        match self {
            Dbg::Str(s) => s.clone(),
            _ => panic!("{self:?} is not a string"),
        }
    }
}

struct DebugParser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> DebugParser<'a> {
    fn new(text: &'a str) -> Self {
        DebugParser {
            chars: text.chars().peekable(),
        }
    }

    fn skip_space(&mut self) {
        while self.chars.next_if(|c| c.is_whitespace()).is_some() {}
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_space();
        self.chars.peek().copied()
    }

    fn expect(&mut self, want: char) {
        let got = self.peek();
        assert_eq!(got, Some(want), "Debug syntax");
        self.chars.next();
    }

    /// Items separated by commas (a trailing one allowed) up to `close`.
    fn items<T>(&mut self, close: char, mut item: impl FnMut(&mut Self) -> T) -> Vec<T> {
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.chars.next();
                return out;
            }
            out.push(item(self));
            if self.peek() == Some(',') {
                self.chars.next();
            }
        }
    }

    fn value(&mut self) -> Dbg {
        match self.peek().expect("a value") {
            '"' => Dbg::Str(self.string()),
            '[' => {
                self.chars.next();
                Dbg::List(self.items(']', Self::value))
            }
            '(' => {
                self.chars.next();
                Dbg::Tuple(String::new(), self.items(')', Self::value))
            }
            '{' => {
                self.chars.next();
                self.items('}', |p| {
                    p.value();
                    p.expect(':');
                    p.value();
                });
                Dbg::Map
            }
            _ => {
                let name = self.atom();
                match self.peek() {
                    Some('{') => {
                        self.chars.next();
                        let fields = self.items('}', |p| {
                            let field = p.atom();
                            if field == ".." {
                                return (field, Dbg::Atom(String::new()));
                            }
                            p.expect(':');
                            (field, p.value())
                        });
                        Dbg::Struct(name, fields)
                    }
                    Some('(') => {
                        self.chars.next();
                        Dbg::Tuple(name, self.items(')', Self::value))
                    }
                    _ => Dbg::Atom(name),
                }
            }
        }
    }

    fn atom(&mut self) -> String {
        self.skip_space();
        let mut out = String::new();
        while let Some(c) = self
            .chars
            .next_if(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '+'))
        {
            out.push(c);
        }
        assert!(!out.is_empty(), "Debug syntax: expected a name");
        out
    }

    fn string(&mut self) -> String {
        self.expect('"');
        let mut out = String::new();
        loop {
            match self.chars.next().expect("unterminated string") {
                '"' => return out,
                '\\' => match self.chars.next().expect("escape") {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '0' => out.push('\0'),
                    'u' => {
                        let code: String = self
                            .chars
                            .by_ref()
                            .skip(1) // '{'
                            .take_while(|c| *c != '}')
                            .collect();
                        let code = u32::from_str_radix(&code, 16).unwrap();
                        out.push(char::from_u32(code).unwrap());
                    }
                    other => out.push(other),
                },
                c => out.push(c),
            }
        }
    }
}

/// The (method, path) operations of an OpenAPI document.
fn documented_operations(doc: &Value) -> Operations {
    let mut out = Operations::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method.to_lowercase()).is_some() {
                out.insert((method.to_string(), path.clone()));
            }
        }
    }
    out
}

async fn served_document() -> (crate::helpers::TestApp, Value) {
    let app = spawn_app(Backend::Sqlite).await;
    let resp = app
        .client
        .get(format!("{}/api/v1/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    let doc = resp.json().await.expect("the document is JSON");
    (app, doc)
}

#[tokio::test]
async fn openapi_document_matches_the_registered_routes() {
    let (_app, doc) = served_document().await;
    let documented = documented_operations(&doc);
    let registered: Operations = registered_operations()
        .await
        .into_iter()
        .filter(|(_, path)| !undocumented(path))
        .collect();
    let missing: Vec<_> = registered.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&registered).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "registered but not documented: {missing:?}\ndocumented but not registered: {extra:?}"
    );
    // Nothing left out on purpose slipped into the document either.
    let leaked: Vec<_> = documented.iter().filter(|(_, p)| undocumented(p)).collect();
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[tokio::test]
async fn openapi_document_is_valid_openapi_3_1() {
    let (_app, doc) = served_document().await;
    let version = doc["openapi"].as_str().expect("openapi field");
    assert!(version.starts_with("3.1."), "OpenAPI {version}");
    let parsed: utoipa::openapi::OpenApi =
        serde_json::from_value(doc.clone()).expect("parses as an OpenAPI document");
    assert!(!parsed.paths.paths.is_empty());
    assert!(!doc["info"]["title"].as_str().unwrap_or("").is_empty());
    assert!(!doc["info"]["version"].as_str().unwrap_or("").is_empty());

    // Every reference points at a component that exists.
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "dangling $ref {r}"
        );
    }

    // An event's `type` picks exactly one schema: a discriminator, and each
    // event schema's `type` holds the one value its mapping gives it.
    let event = &doc["components"]["schemas"]["Event"];
    assert_eq!(event["discriminator"]["propertyName"], "type", "{event}");
    let mapping = event["discriminator"]["mapping"]
        .as_object()
        .expect("mapping");
    assert_eq!(mapping.len(), event["oneOf"].as_array().unwrap().len());
    for (kind, target) in mapping {
        let name = target
            .as_str()
            .unwrap()
            .trim_start_matches("#/components/schemas/");
        let schema = &doc["components"]["schemas"][name];
        assert_eq!(
            schema["properties"]["type"]["enum"],
            serde_json::json!([kind]),
            "{name}"
        );
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&"type".into()),
            "{name}: type required"
        );
    }

    // The bearer scheme; operation ids unique (client generators need them).
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http");
    assert_eq!(bearer["scheme"], "bearer");
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "duplicate operationId {id}");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}: no success response"
        );
        // Every error answer is the error object and names its codes.
        for (status, resp) in responses {
            let status: u16 = status.parse().expect("numeric status");
            // /readyz answers 503 with its readiness report, not an error.
            if status < 400 || (path == "/readyz" && status == 503) {
                continue;
            }
            assert_eq!(
                resp["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                "{method} {path} {status}"
            );
            let description = resp["description"].as_str().unwrap_or("");
            assert!(
                !error_codes(description).is_empty(),
                "{method} {path} {status}: the description names no error code"
            );
        }
        // Bearer security exactly where a 401 `unauthorized` is documented
        // (alone, or beside no security at all: a file's signed URL).
        let secured = op["security"] == serde_json::json!([{"bearer": []}])
            || op["security"] == serde_json::json!([{"bearer": []}, {}]);
        let unauthorized = responses.get("401").is_some_and(|r| {
            error_codes(r["description"].as_str().unwrap()).contains("unauthorized")
        });
        assert_eq!(secured, unauthorized, "{method} {path}: security vs 401");
    }
}

/// Every documented operation is answered by a handler of the running
/// application, and asks for the bearer token exactly when it says so.
#[tokio::test]
async fn openapi_operations_are_served_as_documented() {
    let (app, doc) = served_document().await;
    let documented = operations(&doc);
    assert!(!documented.is_empty());
    for (method, path, op) in documented {
        let url = format!("{}{}", app.base, concrete(&path));
        let resp = app
            .client
            .request(Method::from_bytes(method.as_bytes()).unwrap(), url)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        // (Without a token nothing streams: every body here is complete.)
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("").to_string();
        assert!(
            status != 405 && !(status == 404 && code == "not_found"),
            "{method} {path}: answered {status} {code}, not by a handler"
        );
        assert!(
            op["responses"].get(status.as_str()).is_some(),
            "{method} {path}: answered {status}, which is not documented"
        );
        let secured = op.get("security").is_some();
        assert_eq!(
            secured,
            status == 401 && code == "unauthorized",
            "{method} {path} without a token: {status} {code}"
        );
    }
}

/// A method a known path does not serve is 405 with `Allow` listing the
/// methods the document declares for it (RFC 9110, 15.5.6), with the error
/// body; every path of the document, each with a method it lacks.
#[tokio::test]
async fn undeclared_method_on_a_known_path_is_405_with_allow() {
    let (app, doc) = served_document().await;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let declared: Vec<&str> = METHODS
            .into_iter()
            .filter(|m| item.get(m.to_lowercase()).is_some())
            .collect();
        // TRACE is declared nowhere; HEAD neither (GET routes do not answer it).
        for method in ["TRACE", "HEAD", "PATCH"] {
            if declared.contains(&method) {
                continue;
            }
            let resp = app
                .client
                .request(
                    Method::from_bytes(method.as_bytes()).unwrap(),
                    format!("{}{}", app.base, concrete(path)),
                )
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 405, "{method} {path}");
            let allow: BTreeSet<String> = resp.headers()["allow"]
                .to_str()
                .unwrap()
                .split(',')
                .map(|m| m.trim().to_string())
                .collect();
            let want: BTreeSet<String> = declared.iter().map(|m| m.to_string()).collect();
            assert_eq!(
                allow, want,
                "{method} {path}: Allow lists exactly the declared methods"
            );
            if method != "HEAD" {
                let body: Value = resp.json().await.expect("a JSON error body");
                assert_eq!(
                    body["error"]["code"], "method_not_allowed",
                    "{method} {path}"
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} requests checked");

    // The WebSocket endpoint, outside the document, too; an unknown path
    // stays 404.
    let resp = app
        .client
        .post(format!("{}/ws", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 405, "POST /ws");
    assert_eq!(resp.headers()["allow"], "GET");
    let resp = app
        .client
        .request(Method::TRACE, format!("{}/api/v1/no-such-thing", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404, "TRACE on an unknown path");
}

/// Integer query parameters out of the 64-bit range are 400 `invalid_query`,
/// as the document's `int64` says, even where another source wins (an
/// event stream's `Last-Event-ID` over `since_seq`).
#[tokio::test]
async fn integer_query_params_above_i64_are_invalid_query() {
    let app = spawn_app(Backend::Sqlite).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let above = "9223372036854775808"; // i64::MAX + 1
    for query in [
        format!("/api/v1/rooms/general/events?since_seq={above}"),
        format!("/api/v1/rooms/general/messages?before={above}"),
        format!("/api/v1/rooms/general/messages?after={above}"),
        format!("/api/v1/search?q=hello&before={above}"),
        format!("/api/v1/me/mentions?before={above}"),
    ] {
        let resp = app
            .client
            .get(format!("{}{query}", app.base))
            .bearer_auth(&alice.access_token)
            .header("Last-Event-ID", "0")
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(
            (
                status.as_u16(),
                body["error"]["code"].as_str().unwrap_or("")
            ),
            (400, "invalid_query"),
            "{query}"
        );
    }
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if METHODS.contains(&method.to_uppercase().as_str()) {
                out.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

/// The error codes a response description names: by convention each as
/// `` `snake_case_code`: what it means ``.
fn error_codes(description: &str) -> BTreeSet<&str> {
    let parts: Vec<&str> = description.split('`').collect();
    (1..parts.len().saturating_sub(1))
        .step_by(2)
        .filter(|&i| parts[i + 1].starts_with(':'))
        .map(|i| parts[i])
        .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        .collect()
}
