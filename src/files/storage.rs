//! Where the bytes of uploaded files live (README, "Files"): one interface,
//! [`Storage`], over a local folder or an S3-compatible bucket (both through
//! the `object_store` crate). Objects are named by the file's random id
//! only (`f/ID`, its thumbnail `t/ID`): a file's name never becomes a path.
//!
//! Writes are streamed ([`Storage::writer`]): the bytes go out in parts as
//! they arrive, so an upload holds at most a few parts in memory, never the
//! whole file.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, PutPayload, WriteMultipart};

use crate::config::StorageLocation;

pub use object_store::Error as StorageError;

/// Bytes per part written to a local folder.
const LOCAL_PART: usize = 1024 * 1024;
/// Bytes per part written to S3 (its smallest part but the last is 5 MiB).
const S3_PART: usize = 5 * 1024 * 1024;
/// Parts of one upload in flight at once.
const PARTS_IN_FLIGHT: usize = 2;

/// Which object of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The bytes as uploaded.
    Original,
    /// The re-encoded thumbnail of an image.
    Thumbnail,
}

/// The object storage of uploaded files.
#[derive(Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
    part_size: usize,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.store)
    }
}

impl Storage {
    /// Opens the storage at `location` (a local folder is created if
    /// missing).
    pub fn open(location: &StorageLocation) -> Result<Self, StorageError> {
        match location {
            StorageLocation::Folder(folder) => {
                std::fs::create_dir_all(folder).map_err(|e| StorageError::Generic {
                    store: "LocalFileSystem",
                    source: Box::new(e),
                })?;
                let store = LocalFileSystem::new_with_prefix(folder)?;
                Ok(Storage {
                    store: Arc::new(store),
                    prefix: Path::default(),
                    part_size: LOCAL_PART,
                })
            }
            StorageLocation::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => {
                let mut builder = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some(endpoint) = endpoint {
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_allow_http(endpoint.starts_with("http://"));
                }
                if let Some(id) = access_key_id {
                    builder = builder.with_access_key_id(id);
                }
                if let Some(secret) = secret_access_key {
                    builder = builder.with_secret_access_key(secret);
                }
                Ok(Storage {
                    store: Arc::new(builder.build()?),
                    prefix: Path::from(prefix.as_str()),
                    part_size: S3_PART,
                })
            }
        }
    }

    fn path(&self, file_id: &str, variant: Variant) -> Path {
        let dir = match variant {
            Variant::Original => "f",
            Variant::Thumbnail => "t",
        };
        self.prefix.child(dir).child(file_id)
    }

    /// A streamed write of the object; nothing is visible under its name
    /// until [`Writer::finish`].
    pub async fn writer(&self, file_id: &str, variant: Variant) -> Result<Writer, StorageError> {
        let upload = self
            .store
            .put_multipart(&self.path(file_id, variant))
            .await?;
        Ok(Writer {
            inner: WriteMultipart::new_with_chunk_size(upload, self.part_size),
        })
    }

    /// Writes a small object (a thumbnail) in one request.
    pub async fn put(
        &self,
        file_id: &str,
        variant: Variant,
        bytes: Bytes,
    ) -> Result<(), StorageError> {
        self.store
            .put(&self.path(file_id, variant), PutPayload::from(bytes))
            .await?;
        Ok(())
    }

    /// The object's bytes, all or `range` of them, as a stream.
    pub async fn get(
        &self,
        file_id: &str,
        variant: Variant,
        range: Option<Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, StorageError>>, StorageError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = self
            .store
            .get_opts(&self.path(file_id, variant), options)
            .await?;
        Ok(result.into_stream())
    }

    /// The whole object in memory (only for bounded sizes: an image to
    /// thumbnail, at most `MAX_UPLOAD_BYTES`).
    pub async fn read(&self, file_id: &str, variant: Variant) -> Result<Bytes, StorageError> {
        self.store
            .get(&self.path(file_id, variant))
            .await?
            .bytes()
            .await
    }

    /// Removes both objects of a file; one already gone is not an error.
    pub async fn delete(&self, file_id: &str) -> Result<(), StorageError> {
        for variant in [Variant::Original, Variant::Thumbnail] {
            match self.store.delete(&self.path(file_id, variant)).await {
                Ok(()) | Err(StorageError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Whether the object exists (for tests and the erasure checks).
    pub async fn exists(&self, file_id: &str, variant: Variant) -> Result<bool, StorageError> {
        match self.store.head(&self.path(file_id, variant)).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A streamed write in progress: parts go out as they fill, at most
/// [`PARTS_IN_FLIGHT`] at once.
pub struct Writer {
    inner: WriteMultipart,
}

impl Writer {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StorageError> {
        self.inner.wait_for_capacity(PARTS_IN_FLIGHT).await?;
        self.inner.write(chunk);
        Ok(())
    }

    pub async fn finish(self) -> Result<(), StorageError> {
        self.inner.finish().await?;
        Ok(())
    }

    /// Gives up: the parts written so far are discarded.
    pub async fn abort(self) -> Result<(), StorageError> {
        self.inner.abort().await
    }
}
