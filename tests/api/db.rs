//! Fresh databases for tests: one Postgres database or SQLite file per test.
//!
//! Postgres comes from `TEST_DATABASE_URL` (an admin URL of a throwaway
//! cluster; `scripts/test` provisions one and sets it). Each call creates a
//! new, empty database in it and returns that database's URL.

use sqlx::{Connection, Executor, PgConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with scripts/test, which provisions Postgres",
    )
}

/// A URL to a brand-new, empty database of `backend`.
pub async fn fresh_database(backend: Backend) -> String {
    let name = format!("parley_test_{}", uuid::Uuid::new_v4().simple());
    match backend {
        Backend::Postgres => {
            let admin = postgres_admin_url();
            let mut conn = PgConnection::connect(&admin)
                .await
                .expect("connect to the test Postgres cluster");
            conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
                .await
                .expect("create test database");
            conn.close().await.ok();
            replace_database(&admin, &name)
        }
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            format!("sqlite://{}?mode=rwc", path.display())
        }
    }
}

/// `postgres://u@h:p/old?x` → `postgres://u@h:p/new?x`
fn replace_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}
