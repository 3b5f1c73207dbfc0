//! The settings of uploaded files (README, "Files"): where they are kept
//! (`STORAGE_URL` and the S3 credentials) and their limits.

use std::time::Duration;

use super::{ConfigError, Settings};

/// Where uploaded files are kept.
#[derive(Clone, PartialEq, Eq)]
pub enum StorageLocation {
    /// A folder of the local file system (created at start).
    Folder(String),
    /// A bucket of an S3-compatible store, objects under `prefix`.
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<String>,
        region: String,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
    },
}

impl std::fmt::Debug for StorageLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageLocation::Folder(path) => write!(f, "Folder({path:?})"),
            StorageLocation::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                ..
            } => write!(
                f,
                "S3 {{ bucket: {bucket:?}, prefix: {prefix:?}, endpoint: {endpoint:?}, \
                 region: {region:?}, credentials: <redacted> }}"
            ),
        }
    }
}

#[derive(Debug, Clone)]
pub struct FileSettings {
    pub location: StorageLocation,
    /// `MAX_UPLOAD_BYTES`.
    pub max_upload_bytes: u64,
    /// `USER_QUOTA_BYTES`.
    pub user_quota_bytes: u64,
    /// `FILE_URL_TTL_SECS`.
    pub url_ttl: Duration,
    /// `MAX_AVATAR_BYTES` (README, "Accounts").
    pub max_avatar_bytes: u64,
}

pub(super) fn settings(s: &Settings) -> Result<FileSettings, ConfigError> {
    Ok(FileSettings {
        location: location(s)?,
        max_upload_bytes: s.max_upload_bytes,
        user_quota_bytes: s.user_quota_bytes,
        url_ttl: Duration::from_secs(s.file_url_ttl_secs),
        max_avatar_bytes: s.max_avatar_bytes,
    })
}

fn location(s: &Settings) -> Result<StorageLocation, ConfigError> {
    let url = s.storage_url.trim();
    if let Some(path) = url.strip_prefix("file://") {
        if path.is_empty() {
            return Err(ConfigError::StorageUrl(
                "file:// needs a folder, e.g. file://parley-files".into(),
            ));
        }
        return Ok(StorageLocation::Folder(path.to_string()));
    }
    if let Some(rest) = url.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(ConfigError::StorageUrl(
                "s3:// needs a bucket, e.g. s3://my-bucket/parley".into(),
            ));
        }
        let nonempty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        return Ok(StorageLocation::S3 {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: nonempty(&s.s3_endpoint),
            region: s.aws_region.clone(),
            access_key_id: nonempty(&s.aws_access_key_id),
            secret_access_key: nonempty(&s.aws_secret_access_key),
        });
    }
    Err(ConfigError::StorageUrl(
        "must start with file:// or s3://".into(),
    ))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::Cli;

    fn parse(args: &[&str]) -> Result<FileSettings, ConfigError> {
        let mut v = vec!["parley"];
        v.extend_from_slice(args);
        settings(&Cli::try_parse_from(v).unwrap().settings)
    }

    #[test]
    fn the_default_is_a_local_folder() {
        let s = parse(&[]).unwrap();
        assert_eq!(s.location, StorageLocation::Folder("parley-files".into()));
        assert_eq!(s.max_upload_bytes, 26_214_400);
        assert_eq!(s.user_quota_bytes, 1_073_741_824);
        assert_eq!(s.url_ttl, Duration::from_secs(3600));
    }

    #[test]
    fn s3_takes_bucket_and_prefix() {
        let s = parse(&["--storage-url", "s3://b/some/prefix/"]).unwrap();
        match s.location {
            StorageLocation::S3 { bucket, prefix, .. } => {
                assert_eq!(bucket, "b");
                assert_eq!(prefix, "some/prefix");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_schemes_are_refused() {
        assert!(parse(&["--storage-url", "http://x"]).is_err());
        assert!(parse(&["--storage-url", "s3://"]).is_err());
        assert!(parse(&["--storage-url", "file://"]).is_err());
    }
}
