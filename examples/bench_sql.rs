//! Runs the SQL read from stdin against the database at the URL given
//! (`postgres://…` or `sqlite:…`), through the same sqlx and the same
//! SQLite that parley links. The benchmarks load their data with it
//! (`scripts/bench/7-search.sh`): a system `sqlite3` may be older than the
//! FTS5 index format parley's migrations create.
//!
//!     cargo run --release --example bench_sql -- "$DATABASE_URL" < load.sql

use std::io::Read;
use std::str::FromStr;
use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::SqliteConnectOptions;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .ok_or("usage: bench_sql DATABASE_URL < statements.sql")?;
    let mut sql = String::new();
    std::io::stdin().read_to_string(&mut sql)?;
    if url.starts_with("sqlite:") {
        let options = SqliteConnectOptions::from_str(&url)?.busy_timeout(Duration::from_secs(120));
        let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
        sqlx::raw_sql(&sql).execute(&mut conn).await?;
        conn.close().await?;
    } else {
        let mut conn = sqlx::PgConnection::connect(&url).await?;
        sqlx::raw_sql(&sql).execute(&mut conn).await?;
        conn.close().await?;
    }
    Ok(())
}
