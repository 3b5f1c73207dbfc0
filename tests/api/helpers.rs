//! `spawn_app`: the real application on 127.0.0.1:0 with a fresh database,
//! plus small HTTP helpers that speak the contract.

use actix_web::web;
use parley::config::Config;
use parley::startup::Application;
use parley::state::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::db::{Backend, TestDatabase};

/// Expands `async fn name(backend: Backend)` into `name::postgres` and
/// `name::sqlite` tests, so every behaviour is checked on both stores.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::db::Backend::Postgres).await
                }
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::db::Backend::Sqlite).await
                }
            }
        )*
    };
}
pub(crate) use on_both_backends;

/// For tests where storage plays no part (STOMP framing, heart-beats,
/// CONNECT, origins, sub-protocols): `async fn name(backend: Backend)` runs
/// once, on SQLite, as `name::sqlite`.
macro_rules! on_sqlite {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::db::Backend::Sqlite).await
                }
            }
        )*
    };
}
pub(crate) use on_sqlite;

pub struct TestApp {
    pub base: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub state: web::Data<AppState>,
    /// Dropped with the app: the test's database goes with it.
    _database: TestDatabase,
}

/// With `TEST_LOG=1` (any value but empty or `0`) the server's tracing
/// output is printed through the test harness, so a failing test shows it
/// (filter: `RUST_LOG`, default `info`). Installed once per process.
pub fn init_test_log() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let on = std::env::var("TEST_LOG").is_ok_and(|v| !v.is_empty() && v != "0");
        if on {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_test_writer()
                .try_init();
        }
    });
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the app with a fresh database after `tweak` adjusts the config.
/// The app without a send rate, so tests can post as fast as they like.
pub async fn spawn_app_unthrottled(backend: Backend) -> TestApp {
    spawn_app_with(backend, |c| c.limits.send_rate = 0).await
}

/// The body of `r`, after checking its status.
#[track_caller]
pub fn status(r: &Reply, status: u16, what: &str) -> Value {
    assert_eq!(r.status.as_u16(), status, "{what}: {:?}", r.body);
    r.body.clone()
}

/// Checks that `r` is the error `code` with `status`.
#[track_caller]
pub fn refused(r: &Reply, status: u16, code: &str, what: &str) {
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (status, code),
        "{what}: {:?}",
        r.body
    );
}

pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let database = TestDatabase::new(backend).await;
    let mut config = Config::for_tests(&database.url);
    tweak(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let port = app.port();
    let state = app.state();
    tokio::spawn(app.run());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Drop idle connections well before the server's keep-alive (5 s)
            // closes them: reusing one the server is closing at that moment
            // fails the request with IncompleteMessage.
            .pool_idle_timeout(std::time::Duration::from_secs(2))
            .build()
            .unwrap(),
        state,
        _database: database,
    }
}

/// A signed-up user with their tokens.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub username: String,
    pub password: String,
    pub access_token: String,
    pub refresh_token: String,
    pub user_id: i64,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    /// The contract's error code, or "" when the body is not an error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// One number from the app's database (`sql` returns one int8 row).
    pub async fn count(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        let url = &self.state.config.database_url;
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            conn.close().await.ok();
            n
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            let n: i64 = sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap();
            conn.close().await.ok();
            n
        }
    }

    /// Runs `sql` on the app's database (to set up what the API cannot,
    /// such as a row's age).
    pub async fn exec(&self, sql: &str) {
        use sqlx::Connection;
        let url = &self.state.config.database_url;
        if url.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
            conn.close().await.ok();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(sql).execute(&mut conn).await.unwrap();
            conn.close().await.ok();
        }
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request sent");
        Self::reply(resp).await
    }

    pub async fn reply(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(Method::POST, path, token, Some(body)).await
    }

    /// A raw POST with any body and content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let resp = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request sent");
        Self::reply(resp).await
    }

    pub async fn signup(&self, username: &str) -> TestUser {
        let password = format!("pw-{username}-secret");
        let r = self
            .post(
                "/api/v1/auth/signup",
                None,
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(r.status, 201, "signup of {username}: {:?}", r.body);
        TestUser {
            username: username.to_string(),
            password,
            access_token: r.body["access_token"].as_str().unwrap().to_string(),
            refresh_token: r.body["refresh_token"].as_str().unwrap().to_string(),
            user_id: r.body["user"]["id"].as_i64().unwrap(),
        }
    }

    pub async fn create_room(&self, owner: &TestUser, name: &str, private: bool) -> Value {
        let r = self
            .post(
                "/api/v1/rooms",
                Some(&owner.access_token),
                json!({"name": name, "private": private}),
            )
            .await;
        assert_eq!(r.status, 201, "create room {name}: {:?}", r.body);
        r.body
    }

    /// The stored room named `name` (which must exist).
    pub async fn stored_room(&self, name: &str) -> parley::store::Room {
        let name = parley::domain::RoomName::parse(name).unwrap();
        let room = self.state.store.room_by_name(&name).await.unwrap();
        room.unwrap_or_else(|| panic!("room {} exists", name.as_str()))
    }

    /// Stores `n` messages from `sender` in `room` through the storage layer.
    pub async fn store_messages(&self, room: &str, sender: &TestUser, n: usize) {
        let room = self.stored_room(room).await;
        let batch = messages(&room, (sender.user_id, &sender.username), n);
        self.state.store.append_batch(&batch).await.unwrap();
    }
}

/// `n` messages (`message 1`, …) from `sender` (id, name) to `room`, to
/// store with `append_batch`.
pub fn messages(
    room: &parley::store::Room,
    sender: (i64, &str),
    n: usize,
) -> Vec<parley::store::NewEvent> {
    (1..=n)
        .map(|i| parley::store::NewEvent {
            room_id: room.id,
            room: room.name.clone(),
            sender_id: sender.0,
            sender: sender.1.to_string(),
            change: parley::store::LogWrite::Message {
                body: format!("message {i}"),
                client_id: None,
                reply_to: None,
                attachments: Vec::new(),
            },
            tied_to_next: false,
            moderates: false,
        })
        .collect()
}

/// A store on `database` with the user `alice` owning the public room
/// `room`, made through the storage layer.
pub async fn store_with_room(
    database: &TestDatabase,
    room: &str,
) -> (
    parley::store::DynStore,
    parley::store::User,
    parley::store::Room,
) {
    let store = parley::store::connect(&database.url, 4).await.unwrap();
    let owner = store
        .create_user(&parley::domain::Username::parse("alice").unwrap(), "x")
        .await
        .unwrap();
    let room = store
        .create_room(
            &parley::domain::RoomName::parse(room).unwrap(),
            false,
            owner.id,
        )
        .await
        .unwrap();
    (store, owner, room)
}
