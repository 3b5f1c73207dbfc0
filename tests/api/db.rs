//! Fresh databases for tests: one Postgres database or SQLite file per test,
//! removed again when the test is done with it ([`TestDatabase`]).
//!
//! Postgres comes from `TEST_DATABASE_URL` (an admin URL of a throwaway
//! cluster; `scripts/test` provisions one and sets it). Each guard creates a
//! new, empty database in it.

use std::path::PathBuf;

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

/// A brand-new, empty database of `backend`, removed when this is dropped:
/// the Postgres database is dropped (`WITH (FORCE)`, so connections still
/// open in the app do not keep it), the SQLite file and its `-wal` / `-shm`
/// are deleted. Hold it as long as anything uses the database.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Postgres { admin: String, name: String },
    Sqlite { path: PathBuf },
}

impl TestDatabase {
    pub async fn new(backend: Backend) -> Self {
        crate::helpers::init_test_log();
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
                TestDatabase {
                    url: replace_database(&admin, &name),
                    cleanup: Cleanup::Postgres { admin, name },
                }
            }
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                TestDatabase {
                    url: format!("sqlite://{}?mode=rwc", path.display()),
                    cleanup: Cleanup::Sqlite { path },
                }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::Postgres { admin, name } => {
                let (admin, name) = (admin.clone(), name.clone());
                // Drop runs inside the test's runtime, which cannot be
                // blocked on: a thread of its own with a runtime of its own.
                let dropped = std::thread::spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("runtime for dropping a test database");
                    runtime.block_on(async {
                        let mut conn = PgConnection::connect(&admin).await?;
                        conn.execute(
                            format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str(),
                        )
                        .await?;
                        conn.close().await
                    })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop test database {}: {dropped:?}", self.url);
                }
            }
            Cleanup::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
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
