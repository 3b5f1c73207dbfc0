//! Files and images (README, "Files"): uploads streamed to the object
//! storage, their type sniffed and images thumbnailed, served back with
//! signed URLs, and erased when what held them goes.
//!
//! - `storage.rs`: [`storage::Storage`], the one interface over a local
//!   folder and an S3-compatible bucket.
//! - `upload.rs`: [`Files::upload`]: quota reserved in the database, the
//!   body streamed within `MAX_UPLOAD_BYTES`, sniffed, thumbnailed, recorded.
//! - `sniff.rs`: content types, names, `Content-Disposition`.
//! - `images.rs`: [`images::probe`], [`images::thumbnail`],
//!   [`images::square`] under decoding limits, off the async workers.
//! - `signing.rs`: signed URLs.
//! - `sweeper.rs`: the background task that empties the erasure queue and
//!   expires files never attached.
//!
//! Attaching a file to a message is a send rule, decided with the others
//! under the room's lock (`store/plan/attachments.rs`).

pub mod images;
pub mod signing;
pub mod sniff;
pub mod storage;
pub mod sweeper;
mod upload;

pub use upload::{Upload, UploadError};

use crate::config::FileSettings;
use crate::store::DynStore;
use storage::Storage;

/// The files service: the storage, the store and the limits.
#[derive(Clone)]
pub struct Files {
    pub storage: Storage,
    store: DynStore,
    settings: FileSettings,
}

impl Files {
    pub fn new(storage: Storage, store: DynStore, settings: FileSettings) -> Self {
        Files {
            storage,
            store,
            settings,
        }
    }

    pub fn settings(&self) -> &FileSettings {
        &self.settings
    }
}
