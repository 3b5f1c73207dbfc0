//! One upload: the user's quota reserved in the database first (so
//! concurrent uploads never store more than `USER_QUOTA_BYTES` together),
//! the body streamed to the storage and cut at `MAX_UPLOAD_BYTES` whatever
//! `Content-Length` said, its type sniffed from its first bytes, an image's
//! thumbnail made, then the file recorded. Whatever fails on the way
//! removes the partial object and gives the reservation back.

use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use super::Files;
use super::images::{self, Kind, THUMBNAIL_SIDE};
use super::sniff;
use super::storage::{StorageError, Variant};
use crate::store::StoreError;
use crate::store::files::{NewFile, StoredFile};

/// How long an upload may take before the sweeper takes it for abandoned.
const ABANDON_AFTER: Duration = Duration::from_secs(3600);

/// What is known of an upload before its body.
#[derive(Debug, Clone)]
pub struct Upload {
    pub room_id: i64,
    pub uploader_id: i64,
    /// Already checked ([`sniff::valid_name`]).
    pub name: String,
    /// The request's `Content-Type`.
    pub declared_type: Option<String>,
    /// The request's `Content-Length` (None: chunked).
    pub declared_len: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than MAX_UPLOAD_BYTES")]
    TooLarge,
    #[error("the user's files would exceed USER_QUOTA_BYTES")]
    QuotaExceeded,
    #[error("the request body ended early: {0}")]
    Body(String),
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Files {
    /// Stores the upload `body` as a new file of `upload.room_id`.
    pub async fn upload<S, E>(&self, upload: Upload, body: S) -> Result<StoredFile, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let max = self.settings.max_upload_bytes;
        if upload.declared_len.is_some_and(|len| len > max) {
            return Err(UploadError::TooLarge);
        }
        // A chunked body may be as long as the limit: that much is reserved
        // until its end is seen.
        let reserved = upload.declared_len.unwrap_or(max).min(max);
        let reserved = i64::try_from(reserved).unwrap_or(i64::MAX);
        let quota = i64::try_from(self.settings.user_quota_bytes).unwrap_or(i64::MAX);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let abandon_at = chrono::Utc::now()
            + chrono::Duration::from_std(ABANDON_AFTER).expect("a short duration");
        if !self
            .store
            .reserve_upload(&id, upload.uploader_id, reserved, quota, abandon_at)
            .await?
        {
            return Err(UploadError::QuotaExceeded);
        }
        match self.store_upload(&id, &upload, reserved, body).await {
            Ok(file) => Ok(file),
            Err(e) => {
                let removed = self.storage.delete(&id).await.is_ok();
                if let Err(store) = self.store.abandon_upload(&id, removed).await {
                    tracing::warn!(error = %store, "could not release an abandoned upload");
                }
                Err(e)
            }
        }
    }

    async fn store_upload<S, E>(
        &self,
        id: &str,
        upload: &Upload,
        reserved: i64,
        mut body: S,
    ) -> Result<StoredFile, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let limit = u64::try_from(reserved).unwrap_or(0);
        let mut writer = self.storage.writer(id, Variant::Original).await?;
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::new();
        let mut size: u64 = 0;
        let streamed: Result<(), UploadError> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| UploadError::Body(e.to_string()))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(UploadError::TooLarge);
                }
                hasher.update(&chunk);
                if head.len() < sniff::HEAD_BYTES {
                    let take = chunk.len().min(sniff::HEAD_BYTES - head.len());
                    head.extend_from_slice(&chunk[..take]);
                }
                writer.write(&chunk).await?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = streamed {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.finish().await?;

        let content_type = sniff::content_type(&head, upload.declared_type.as_deref());
        let image = match Kind::of(&content_type) {
            Some(kind) => self.thumbnail(id, kind, &head).await,
            None => None,
        };
        let file = NewFile {
            id: id.to_string(),
            room_id: upload.room_id,
            uploader_id: upload.uploader_id,
            name: upload.name.clone(),
            content_type,
            size: i64::try_from(size).unwrap_or(i64::MAX),
            sha256: hex(&hasher.finalize()),
            image,
            thumbnail: image.is_some(),
        };
        self.store
            .finish_upload(&file, reserved)
            .await?
            .ok_or_else(|| UploadError::Body("the upload took too long".into()))
    }

    /// An image's size, with its thumbnail stored; None when it is over
    /// the decoding limits or does not decode (then it is a plain file).
    async fn thumbnail(&self, id: &str, kind: Kind, head: &[u8]) -> Option<(u32, u32)> {
        let probe = images::probe(head, kind).filter(images::Probe::decodable)?;
        let _permit = images::permit().await.ok()?;
        let bytes = self.storage.read(id, Variant::Original).await.ok()?;
        let encoded =
            tokio::task::spawn_blocking(move || images::thumbnail(&bytes, kind, THUMBNAIL_SIDE))
                .await
                .ok()?;
        match encoded {
            Ok(thumb) => {
                self.storage
                    .put(id, Variant::Thumbnail, Bytes::from(thumb.bytes))
                    .await
                    .ok()?;
                Some((probe.width, probe.height))
            }
            Err(e) => {
                tracing::debug!(error = %e, "an image kept as a plain file");
                None
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
