//! What the server keeps for itself in its database, by name: values it
//! generates once and every instance and restart must then agree on (today
//! the access-token key of a SQLite server started without `JWT_SECRET`:
//! README, "Configuration"). Operator settings are `config`'s, never here.

use async_trait::async_trait;

use super::{Backend, PostgresStore, SqliteStore, StoreResult};

/// The key of the generated access-token key (hex).
pub const JWT_SECRET: &str = "jwt_secret";

#[async_trait]
pub trait ServerSettings: Send + Sync + 'static {
    /// The value kept under `name`; when there is none yet, `proposed` is
    /// kept and returned. Instances starting together agree: the first
    /// insert wins and every one of them reads that one back.
    async fn keep_setting(&self, name: &str, proposed: &str) -> StoreResult<String>;
}

#[async_trait]
impl ServerSettings for SqliteStore {
    async fn keep_setting(&self, name: &str, proposed: &str) -> StoreResult<String> {
        // `BEGIN IMMEDIATE`: no other writer, even in another process,
        // between the insert and the read.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO server_settings (name, value) VALUES (?1, ?2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(proposed)
        .execute(&mut *tx)
        .await?;
        let kept: String = sqlx::query_scalar("SELECT value FROM server_settings WHERE name = ?1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(kept)
    }
}

#[async_trait]
impl ServerSettings for PostgresStore {
    async fn keep_setting(&self, name: &str, proposed: &str) -> StoreResult<String> {
        // A concurrent insert of the same name makes this one wait for its
        // commit and then do nothing; the read (a new statement) sees it.
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO server_settings (name, value) VALUES ($1, $2) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(proposed)
        .execute(&mut *tx)
        .await?;
        let kept: String = sqlx::query_scalar("SELECT value FROM server_settings WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(kept)
    }
}
