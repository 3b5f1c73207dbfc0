//! Every setting of the service, read once from flags / environment (and a
//! `.env` file when present), validated before anything starts: the flags
//! as given are `flags.rs`, the retention settings `retention.rs`,
//! `TRUSTED_PROXIES` `proxies.rs`; this file validates them into
//! [`Config`]. It imports nothing of the crate (a leaf: `store`, `broker`
//! and the rest read their settings from it).

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;

mod admins;
mod files;
mod flags;
mod mail;
pub mod proxies;
mod push;
mod retention;

pub use admins::Administrators;
pub use files::{FileSettings, StorageLocation};
pub use flags::{Cli, Command, Settings};
pub use mail::MailSettings;
pub use proxies::{InvalidCidr, TrustedProxies};
pub use push::{PushFlags, PushSettings};
pub use retention::{PartitionLayout, RetentionSettings};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("{0}")]
    Push(String),
    #[error("BIND_ADDR {0:?} is not a socket address like 127.0.0.1:8080")]
    BindAddr(String),
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite:")]
    DatabaseUrl,
    #[error("JWT_SECRET is required when DATABASE_URL is Postgres")]
    MissingSecret,
    #[error("JWT_SECRET must be at least 32 bytes (got {0})")]
    ShortSecret(usize),
    #[error("{0} must be greater than 0")]
    Zero(&'static str),
    #[error("ALLOWED_ORIGINS must list at least one origin or `*`")]
    NoOrigins,
    #[error("TRUSTED_PROXIES: {0}")]
    TrustedProxies(#[from] InvalidCidr),
    #[error("set REDIS_URL (one Redis server) or REDIS_CLUSTER_NODES (a Redis Cluster), not both")]
    RedisBoth,
    #[error("{0}")]
    Mail(String),
    #[error("REDIS_CLUSTER_NODES: {0}")]
    RedisClusterNodes(String),
    #[error("STORAGE_URL: {0}")]
    StorageUrl(String),
}

/// `REDIS_CLUSTER_NODES`: comma-separated `host:port` seeds (an IPv6 host
/// in brackets), each once, at least one.
fn parse_cluster_nodes(raw: &str) -> Result<Vec<String>, ConfigError> {
    let mut nodes: Vec<String> = Vec::new();
    for node in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let valid = node.rsplit_once(':').is_some_and(|(host, port)| {
            !host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .is_empty()
                && !host.contains('/')
                && port.parse::<u16>().is_ok_and(|p| p != 0)
        });
        if !valid {
            return Err(ConfigError::RedisClusterNodes(format!(
                "{node:?} is not host:port (e.g. 10.0.0.1:6379)"
            )));
        }
        if !nodes.iter().any(|n| n == node) {
            nodes.push(node.to_string());
        }
    }
    if nodes.is_empty() {
        return Err(ConfigError::RedisClusterNodes(
            "no host:port given".to_string(),
        ));
    }
    Ok(nodes)
}

/// Group-commit settings (`COMMIT_*`), read by the committer.
#[derive(Debug, Clone, Copy)]
pub struct CommitSettings {
    /// Most messages per transaction.
    pub batch_max: usize,
    /// Longest a batch waits for more messages (0: take what is queued).
    pub linger: Duration,
    /// Parallel committing workers (rooms are hashed to them).
    pub workers: usize,
}

/// Which origins a browser may call from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedOrigins {
    Any,
    List(Vec<String>),
}

impl AllowedOrigins {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let list: Vec<String> = raw
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if list.iter().any(|s| s == "*") {
            Ok(AllowedOrigins::Any)
        } else if list.is_empty() {
            Err(ConfigError::NoOrigins)
        } else {
            Ok(AllowedOrigins::List(list))
        }
    }

    pub fn allows(&self, origin: &str) -> bool {
        match self {
            AllowedOrigins::Any => true,
            AllowedOrigins::List(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
        }
    }
}

/// `url` with the password of its userinfo (`scheme://user:PASSWORD@host`)
/// replaced by `***`, for help texts and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    // The authority ends at the first '/', '?' or '#'; its userinfo at its
    // last '@' (a password may itself contain '@').
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    let Some(colon) = authority[..at].find(':') else {
        return url.to_string();
    };
    format!(
        "{}{}:***{}",
        &url[..scheme_end],
        &authority[..colon],
        &rest[at..]
    )
}

/// Where the JWT secret came from.
#[derive(Clone)]
pub struct JwtSecret {
    pub bytes: Vec<u8>,
    /// True when generated here (SQLite without JWT_SECRET): the server
    /// then uses the key kept in its database, this one only if none is
    /// kept yet (`auth::secret`).
    pub generated: bool,
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(<redacted>)")
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub bind_addr: SocketAddr,
    pub database_url: String,
    pub database_max_connections: u32,
    pub redis_url: Option<String>,
    /// Seed nodes of a Redis Cluster (empty: none; never with `redis_url`).
    pub redis_cluster_nodes: Vec<String>,
    pub jwt_secret: JwtSecret,
    pub jwt_ttl: Duration,
    pub refresh_ttl: Duration,
    /// How often a used session's `last_used_at` is written (at most once
    /// per this interval per session: `logins`).
    pub session_activity: Duration,
    pub allowed_origins: AllowedOrigins,
    pub json_logs: bool,
    pub limits: Limits,
    pub commit: CommitSettings,
    pub retention: RetentionSettings,
    pub push: PushSettings,
    /// `ADMIN_USERS` (README, "Administration").
    pub admins: Administrators,
    /// Uploaded files: where they are kept and their limits.
    pub files: FileSettings,
    /// `WEBHOOK_ALLOWED_HOSTS` as given (parsed by `egress` at start).
    pub webhook_allowed_hosts: String,
    /// Set when `SMTP_URL` is: email codes and password resets.
    pub mail: Option<MailSettings>,
}

/// Every bound of the README's configuration table (what each protects:
/// docs/SECURITY.md).
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_connections: usize,
    pub max_frame_bytes: usize,
    pub max_body_bytes: usize,
    pub max_subscriptions: usize,
    pub max_transactions: usize,
    pub max_transaction_sends: usize,
    pub max_connections_per_user: usize,
    pub outbound_queue: usize,
    pub send_rate: u32,
    pub send_burst: u32,
    pub typing_rate: u32,
    pub search_scan_limit: i64,
    pub login_failures_per_user: u32,
    pub login_attempts_per_ip: u32,
    pub signups_per_ip: u32,
    pub password_resets_per_ip: u32,
    pub password_hash_concurrency: usize,
    pub password_hash_queue: usize,
    pub trusted_proxies: TrustedProxies,
    pub connect_timeout: Duration,
    pub heartbeat_ms: u64,
}

impl Settings {
    /// Checks every setting and produces the validated [`Config`].
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let bind_addr: SocketAddr = self
            .bind_addr
            .parse()
            .map_err(|_| ConfigError::BindAddr(self.bind_addr.clone()))?;
        let url = self.database_url.as_str();
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !postgres && !url.starts_with("sqlite:") {
            return Err(ConfigError::DatabaseUrl);
        }
        let jwt_secret = match &self.jwt_secret {
            Some(s) if s.len() < 32 => return Err(ConfigError::ShortSecret(s.len())),
            Some(s) => JwtSecret {
                bytes: s.as_bytes().to_vec(),
                generated: false,
            },
            None if postgres => return Err(ConfigError::MissingSecret),
            None => JwtSecret {
                bytes: {
                    use rand::RngCore;
                    let mut b = vec![0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut b);
                    b
                },
                generated: true,
            },
        };
        for (name, v) in [
            ("JWT_TTL_SECS", self.jwt_ttl_secs),
            ("REFRESH_TTL_SECS", self.refresh_ttl_secs),
            ("SESSION_ACTIVITY_SECS", self.session_activity_secs),
            ("CONNECT_TIMEOUT_SECS", self.connect_timeout_secs),
            ("HEARTBEAT_MS", self.heartbeat_ms),
            ("MAX_FRAME_BYTES", self.max_frame_bytes as u64),
            ("MAX_CONNECTIONS", self.max_connections as u64),
            ("MAX_BODY_BYTES", self.max_body_bytes as u64),
            ("MAX_SUBSCRIPTIONS", self.max_subscriptions as u64),
            ("OUTBOUND_QUEUE", self.outbound_queue as u64),
            ("MAX_TRANSACTIONS", self.max_transactions as u64),
            ("MAX_TRANSACTION_SENDS", self.max_transaction_sends as u64),
            (
                "MAX_CONNECTIONS_PER_USER",
                self.max_connections_per_user as u64,
            ),
            (
                "DATABASE_MAX_CONNECTIONS",
                self.database_max_connections as u64,
            ),
            (
                "LOGIN_FAILURES_PER_USER",
                self.login_failures_per_user as u64,
            ),
            ("LOGIN_ATTEMPTS_PER_IP", self.login_attempts_per_ip as u64),
            ("SIGNUPS_PER_IP", self.signups_per_ip as u64),
            ("PASSWORD_RESETS_PER_IP", self.password_resets_per_ip as u64),
            (
                "PASSWORD_HASH_CONCURRENCY",
                self.password_hash_concurrency.unwrap_or(1) as u64,
            ),
            ("COMMIT_BATCH_MAX", self.commit_batch_max as u64),
            ("COMMIT_WORKERS", self.commit_workers as u64),
            ("RETENTION_DAYS", self.retention_days.map_or(1, u64::from)),
            (
                "RETENTION_MAX_EVENTS_PER_ROOM",
                self.retention_max_events_per_room.map_or(1, u64::from),
            ),
            ("RETENTION_INTERVAL_SECS", self.retention_interval_secs),
            ("MAX_UPLOAD_BYTES", self.max_upload_bytes),
            ("FILE_URL_TTL_SECS", self.file_url_ttl_secs),
            ("MAX_AVATAR_BYTES", self.max_avatar_bytes),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        let redis_url = self.redis_url.clone().filter(|u| !u.is_empty());
        let redis_cluster_nodes = match self.redis_cluster_nodes.as_deref() {
            Some(raw) if !raw.trim().is_empty() => parse_cluster_nodes(raw)?,
            _ => Vec::new(),
        };
        if redis_url.is_some() && !redis_cluster_nodes.is_empty() {
            return Err(ConfigError::RedisBoth);
        }
        let push = self.push.validate().map_err(ConfigError::Push)?;
        let mail =
            MailSettings::parse(self.smtp_url.as_deref(), &self.mail_from, &self.public_url)?;
        Ok(Config {
            push,
            mail,
            bind_addr,
            database_url: self.database_url.clone(),
            database_max_connections: self.database_max_connections,
            redis_url,
            redis_cluster_nodes,
            jwt_secret,
            jwt_ttl: Duration::from_secs(self.jwt_ttl_secs),
            refresh_ttl: Duration::from_secs(self.refresh_ttl_secs),
            session_activity: Duration::from_secs(self.session_activity_secs),
            allowed_origins: AllowedOrigins::parse(&self.allowed_origins)?,
            json_logs: self.log_format == "json",
            admins: Administrators::parse(&self.admin_users),
            limits: Limits {
                max_connections: self.max_connections,
                max_frame_bytes: self.max_frame_bytes,
                max_body_bytes: self.max_body_bytes,
                max_subscriptions: self.max_subscriptions,
                max_transactions: self.max_transactions,
                max_transaction_sends: self.max_transaction_sends,
                max_connections_per_user: self.max_connections_per_user,
                outbound_queue: self.outbound_queue,
                send_rate: self.send_rate,
                send_burst: self.send_burst.max(1),
                typing_rate: self.typing_rate,
                search_scan_limit: self.search_scan_limit,
                login_failures_per_user: self.login_failures_per_user,
                login_attempts_per_ip: self.login_attempts_per_ip,
                signups_per_ip: self.signups_per_ip,
                password_resets_per_ip: self.password_resets_per_ip,
                password_hash_concurrency: self
                    .password_hash_concurrency
                    .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
                password_hash_queue: self.password_hash_queue,
                trusted_proxies: TrustedProxies::parse(&self.trusted_proxies)?,
                connect_timeout: Duration::from_secs(self.connect_timeout_secs),
                heartbeat_ms: self.heartbeat_ms,
            },
            commit: CommitSettings {
                batch_max: self.commit_batch_max,
                linger: Duration::from_micros(self.commit_linger_micros),
                // SQLite has one writer: parallel transactions only queue.
                workers: if postgres { self.commit_workers } else { 1 },
            },
            retention: {
                let max_age = self
                    .retention_days
                    .map(|days| Duration::from_secs(u64::from(days) * 86_400));
                RetentionSettings {
                    max_age,
                    max_events: self.retention_max_events_per_room.map(i64::from),
                    interval: Duration::from_secs(self.retention_interval_secs),
                    partitions: PartitionLayout::for_max_age(max_age),
                }
            },
            files: files::settings(self)?,
            webhook_allowed_hosts: self.webhook_allowed_hosts.clone(),
        })
    }
}

impl Config {
    /// Whether instances relay through Redis (one server or a cluster).
    pub fn has_relay(&self) -> bool {
        self.redis_url.is_some() || !self.redis_cluster_nodes.is_empty()
    }

    /// A configuration for tests and embedding: defaults, the given database,
    /// an ephemeral port on loopback and a fixed secret.
    pub fn for_tests(database_url: &str) -> Config {
        let settings = Cli::parse_from(["parley"]).settings;
        let mut config = Settings {
            database_url: database_url.to_string(),
            bind_addr: "127.0.0.1:0".into(),
            jwt_secret: Some("test-secret-test-secret-test-secret!".into()),
            ..settings
        }
        .validate()
        .expect("test config is valid");
        config.database_max_connections = 5;
        // Each test app keeps its files in a folder of its own.
        config.files.location = StorageLocation::Folder(
            std::env::temp_dir()
                .join(format!(
                    "parley-test-files-{}",
                    uuid::Uuid::new_v4().simple()
                ))
                .to_string_lossy()
                .into_owned(),
        );
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(args: &[&str]) -> Settings {
        let mut v = vec!["parley"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap().settings
    }

    #[test]
    fn postgres_without_secret_is_refused() {
        let err = settings(&["--database-url", "postgres://x@h/db"])
            .validate()
            .unwrap_err();
        assert_eq!(err, ConfigError::MissingSecret);
    }

    #[test]
    fn short_secret_is_refused() {
        let err = settings(&["--jwt-secret", "short"]).validate().unwrap_err();
        assert_eq!(err, ConfigError::ShortSecret(5));
    }

    #[test]
    fn bad_bind_addr_is_refused() {
        let err = settings(&["--bind-addr", "localhost"])
            .validate()
            .unwrap_err();
        assert!(matches!(err, ConfigError::BindAddr(_)));
    }

    #[test]
    fn sqlite_without_secret_generates_one() {
        let c = settings(&[]).validate().unwrap();
        assert!(c.jwt_secret.generated);
        assert_eq!(c.jwt_secret.bytes.len(), 32);
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn invalid_trusted_proxies_are_refused() {
        let err = settings(&["--trusted-proxies", "10.0.0.0/8,10.0.0.300/32"])
            .validate()
            .unwrap_err();
        assert!(matches!(err, ConfigError::TrustedProxies(_)), "{err}");
        let ok = settings(&["--trusted-proxies", "10.0.0.0/8, ::1"])
            .validate()
            .unwrap();
        assert!(!ok.limits.trusted_proxies.is_empty());
        assert!(
            settings(&[])
                .validate()
                .unwrap()
                .limits
                .trusted_proxies
                .is_empty()
        );
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            redact_url("postgres://u:secretpw@h:5432/db?x=1"),
            "postgres://u:***@h:5432/db?x=1"
        );
        assert_eq!(redact_url("redis://:pw@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(
            redact_url("sqlite://parley.db?mode=rwc"),
            "sqlite://parley.db?mode=rwc"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db"),
            "postgres://u:***@h/db"
        );
    }

    #[test]
    fn redis_cluster_nodes_parse_and_exclude_redis_url() {
        let c = settings(&[
            "--redis-cluster-nodes",
            "10.0.0.1:7000, [::1]:7001,10.0.0.1:7000,",
        ])
        .validate()
        .unwrap();
        assert_eq!(c.redis_cluster_nodes, ["10.0.0.1:7000", "[::1]:7001"]);
        assert!(c.redis_url.is_none() && c.has_relay());
        for bad in [
            "10.0.0.1",
            "10.0.0.1:0",
            ":7000",
            "h:port",
            "redis://h:7000",
            " , ",
        ] {
            let err = settings(&["--redis-cluster-nodes", bad])
                .validate()
                .unwrap_err();
            assert!(
                matches!(err, ConfigError::RedisClusterNodes(_)),
                "{bad}: {err}"
            );
        }
        let err = settings(&[
            "--redis-url",
            "redis://h:6379",
            "--redis-cluster-nodes",
            "h:7000",
        ])
        .validate()
        .unwrap_err();
        assert_eq!(err, ConfigError::RedisBoth);
        let none = settings(&["--redis-cluster-nodes", ""]).validate().unwrap();
        assert!(none.redis_cluster_nodes.is_empty() && !none.has_relay());
    }

    #[test]
    fn origins_parse() {
        let o = AllowedOrigins::parse("http://a.test, http://b.test/").unwrap();
        assert!(o.allows("http://b.test"));
        assert!(!o.allows("http://c.test"));
        assert_eq!(AllowedOrigins::parse("*").unwrap(), AllowedOrigins::Any);
    }

    #[test]
    fn retention_is_off_unless_set() {
        let c = settings(&[]).validate().unwrap();
        assert_eq!((c.retention.max_age, c.retention.max_events), (None, None));
        assert_eq!(c.retention.interval, Duration::from_secs(60));
        let c = settings(&[
            "--retention-days",
            "30",
            "--retention-max-events-per-room",
            "500",
            "--retention-interval-secs",
            "5",
        ])
        .validate()
        .unwrap();
        assert_eq!(
            c.retention,
            RetentionSettings {
                max_age: Some(Duration::from_secs(30 * 86_400)),
                max_events: Some(500),
                interval: Duration::from_secs(5),
                partitions: PartitionLayout {
                    width: Duration::from_secs(86_400 * 30 / 8),
                    ahead: Duration::from_secs(86_400 * 30 / 4),
                },
            }
        );
    }

    #[test]
    fn invalid_retention_settings_are_refused() {
        for (flag, name) in [
            ("--retention-days", "RETENTION_DAYS"),
            (
                "--retention-max-events-per-room",
                "RETENTION_MAX_EVENTS_PER_ROOM",
            ),
            ("--retention-interval-secs", "RETENTION_INTERVAL_SECS"),
        ] {
            let err = settings(&[flag, "0"]).validate().unwrap_err();
            assert_eq!(err, ConfigError::Zero(name));
            let parsed = Cli::try_parse_from(["parley", flag, "-3"]);
            assert!(parsed.is_err(), "{flag} -3 must not parse");
            let parsed = Cli::try_parse_from(["parley", flag, "ten"]);
            assert!(parsed.is_err(), "{flag} ten must not parse");
        }
    }
}
