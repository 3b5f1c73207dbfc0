//! The settings as given: every flag and environment variable (clap), before
//! validation (`Settings::validate`, in `config.rs`).

use clap::{Parser, Subcommand};

/// Parley: authenticated, persistent chat over STOMP 1.2 / WebSocket and HTTP.
///
/// Every setting can be given as a flag or as the environment variable shown
/// in brackets; a `.env` file in the working directory is read if present.
#[derive(Debug, Clone, Parser)]
#[command(name = "parley", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Serve (the default).
    Serve,
    /// Ask /readyz of the instance at BIND_ADDR; exit 0 on 200, 1 otherwise.
    Healthcheck,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Settings {
    /// Listen address.
    #[arg(long, env = "BIND_ADDR", default_value = "127.0.0.1:8080")]
    pub bind_addr: String,

    /// `postgres://…` in production; `sqlite://…` is the embedded single-node default.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://parley.db?mode=rwc"
    )]
    pub database_url: String,

    /// Database connection pool size.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,

    /// Redis URL for the pub/sub relay between instances; unset: in-process broker.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// Instead of REDIS_URL: comma-separated host:port seed nodes of a Redis Cluster; the relay then uses sharded pub/sub.
    #[arg(long, env = "REDIS_CLUSTER_NODES")]
    pub redis_cluster_nodes: Option<String>,

    /// HS256 key for access tokens, at least 32 bytes. Required with Postgres.
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Access-token lifetime in seconds.
    #[arg(long, env = "JWT_TTL_SECS", default_value_t = 900)]
    pub jwt_ttl_secs: u64,

    /// Refresh-token lifetime in seconds.
    #[arg(long, env = "REFRESH_TTL_SECS", default_value_t = 2_592_000)]
    pub refresh_ttl_secs: u64,

    /// How often a session's `last_used_at` is written while it is used, in
    /// seconds: at most once per this interval per session.
    #[arg(long, env = "SESSION_ACTIVITY_SECS", default_value_t = 60)]
    pub session_activity_secs: u64,

    /// Comma-separated browser origins allowed for CORS and the WebSocket Origin check; `*` allows any.
    #[arg(
        long,
        env = "ALLOWED_ORIGINS",
        default_value = "http://localhost:8080,http://127.0.0.1:8080"
    )]
    pub allowed_origins: String,

    /// Log format: `pretty` or `json` (the filter is RUST_LOG, default `info`).
    #[arg(long, env = "LOG_FORMAT", default_value = "pretty", value_parser = ["pretty", "json"])]
    pub log_format: String,

    /// Open client connections (HTTP and WebSocket) per instance; beyond it
    /// new connections wait in the accept backlog.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 100_000)]
    pub max_connections: usize,

    /// Largest STOMP frame accepted, in bytes.
    #[arg(long, env = "MAX_FRAME_BYTES", default_value_t = 65_536)]
    pub max_frame_bytes: usize,

    /// Largest chat message body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 4096)]
    pub max_body_bytes: usize,

    /// Subscriptions per WebSocket connection.
    #[arg(long, env = "MAX_SUBSCRIPTIONS", default_value_t = 100)]
    pub max_subscriptions: usize,

    /// Open STOMP transactions per WebSocket connection.
    #[arg(long, env = "MAX_TRANSACTIONS", default_value_t = 16)]
    pub max_transactions: usize,

    /// SENDs buffered in one STOMP transaction.
    #[arg(long, env = "MAX_TRANSACTION_SENDS", default_value_t = 256)]
    pub max_transaction_sends: usize,

    /// WebSockets, SSE streams and held long polls of one user, together, per instance.
    #[arg(long, env = "MAX_CONNECTIONS_PER_USER", default_value_t = 100)]
    pub max_connections_per_user: usize,

    /// Frames queued per connection before it is dropped as a slow consumer.
    #[arg(long, env = "OUTBOUND_QUEUE", default_value_t = 1024)]
    pub outbound_queue: usize,

    /// Messages per second per user (0 = unlimited).
    #[arg(long, env = "SEND_RATE", default_value_t = 20)]
    pub send_rate: u32,

    /// Burst of messages per user above SEND_RATE.
    #[arg(long, env = "SEND_BURST", default_value_t = 50)]
    pub send_burst: u32,

    /// Typing signals per second per user and room; extra ones are dropped
    /// (0 = unlimited).
    #[arg(long, env = "TYPING_RATE", default_value_t = 1)]
    pub typing_rate: u32,

    /// Messages one search request reads at most when terms under 3
    /// characters filter them (10–10,000,000).
    #[arg(long, env = "SEARCH_SCAN_LIMIT", default_value_t = 10_000,
          value_parser = clap::value_parser!(i64).range(10..=10_000_000))]
    pub search_scan_limit: i64,

    /// Failed logins per username per 5 minutes before 429.
    #[arg(long, env = "LOGIN_FAILURES_PER_USER", default_value_t = 10)]
    pub login_failures_per_user: u32,

    /// Login attempts per client IP per minute before 429.
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_IP", default_value_t = 300)]
    pub login_attempts_per_ip: u32,

    /// Signups per client IP per hour before 429.
    #[arg(long, env = "SIGNUPS_PER_IP", default_value_t = 100)]
    pub signups_per_ip: u32,

    /// Password-reset requests per client IP per hour before 429.
    #[arg(long, env = "PASSWORD_RESETS_PER_IP", default_value_t = 20)]
    pub password_resets_per_ip: u32,

    /// SMTP server for email codes and password-reset links: `smtp://host:port` (add `?tls=required` for STARTTLS), `smtps://user:pass@host` (TLS); unset: no mail (those routes answer 503 `mail_unavailable`).
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// The From: mailbox of mails sent.
    #[arg(long, env = "MAIL_FROM", default_value = "Parley <parley@localhost>")]
    pub mail_from: String,

    /// The web client's public address, for links in mails (`PUBLIC_URL/#reset=TOKEN`).
    #[arg(long, env = "PUBLIC_URL", default_value = "http://localhost:8080")]
    pub public_url: String,

    /// Password hashes (signup, login) computed at once; unset: the number of CPUs.
    #[arg(long, env = "PASSWORD_HASH_CONCURRENCY")]
    pub password_hash_concurrency: Option<usize>,

    /// Password hashes waiting for a turn; beyond it 503 `busy`.
    #[arg(long, env = "PASSWORD_HASH_QUEUE", default_value_t = 64)]
    pub password_hash_queue: usize,

    /// Comma-separated CIDRs of load balancers whose X-Forwarded-For is believed; unset: none.
    #[arg(long, env = "TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,

    /// Seconds a new WebSocket has to send CONNECT.
    #[arg(long, env = "CONNECT_TIMEOUT_SECS", default_value_t = 10)]
    pub connect_timeout_secs: u64,

    /// The server's own STOMP heart-beat interval in milliseconds.
    #[arg(long, env = "HEARTBEAT_MS", default_value_t = 10_000)]
    pub heartbeat_ms: u64,

    /// Group commit: most messages stored per database transaction.
    #[arg(long, env = "COMMIT_BATCH_MAX", default_value_t = 512)]
    pub commit_batch_max: usize,

    /// Group commit: microseconds a batch waits for more messages (0: take what is queued).
    #[arg(long, env = "COMMIT_LINGER_MICROS", default_value_t = 0)]
    pub commit_linger_micros: u64,

    /// Group commit: parallel committing workers, rooms hashed to them (SQLite always uses 1).
    #[arg(long, env = "COMMIT_WORKERS", default_value_t = 4)]
    pub commit_workers: usize,

    /// Retention: events older than this many days are pruned in the background; unset: kept.
    #[arg(long, env = "RETENTION_DAYS")]
    pub retention_days: Option<u32>,

    /// Retention: only the newest this many events of each room are kept; unset: no cap.
    #[arg(long, env = "RETENTION_MAX_EVENTS_PER_ROOM")]
    pub retention_max_events_per_room: Option<u32>,

    /// Retention: seconds between the pruner's passes (with a RETENTION_* limit set; on
    /// Postgres always, as it adds the room log's time partitions ahead).
    #[arg(long, env = "RETENTION_INTERVAL_SECS", default_value_t = 60)]
    pub retention_interval_secs: u64,

    #[command(flatten)]
    pub push: super::PushFlags,
    /// Comma-separated usernames of the server's administrators (the /api/v1/admin routes).
    #[arg(long, env = "ADMIN_USERS", default_value = "")]
    pub admin_users: String,
    /// Where uploaded files are kept: `file://FOLDER` (relative to the working directory) or
    /// `s3://BUCKET/PREFIX` for any S3-compatible store.
    #[arg(long, env = "STORAGE_URL", default_value = "file://parley-files")]
    pub storage_url: String,

    /// With an `s3://` STORAGE_URL: the store's endpoint (unset: AWS S3 itself).
    #[arg(long, env = "S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,

    /// With an `s3://` STORAGE_URL: the region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub aws_region: String,

    /// With an `s3://` STORAGE_URL: the access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    pub aws_access_key_id: Option<String>,

    /// With an `s3://` STORAGE_URL: the secret access key.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub aws_secret_access_key: Option<String>,

    /// Largest upload in bytes (413 `file_too_large` beyond it).
    #[arg(long, env = "MAX_UPLOAD_BYTES", default_value_t = 26_214_400)]
    pub max_upload_bytes: u64,

    /// What one user's stored files may total, in bytes (413 `quota_exceeded` beyond it).
    #[arg(long, env = "USER_QUOTA_BYTES", default_value_t = 1_073_741_824)]
    pub user_quota_bytes: u64,

    /// Seconds a signed file URL works after it was issued.
    #[arg(long, env = "FILE_URL_TTL_SECS", default_value_t = 3600)]
    pub file_url_ttl_secs: u64,

    /// Largest avatar image accepted, in bytes (413 `file_too_large` beyond it).
    #[arg(long, env = "MAX_AVATAR_BYTES", default_value_t = 5_242_880)]
    pub max_avatar_bytes: u64,
    /// Hosts outgoing webhooks and slash commands may reach whatever their address, and over http:// too:
    /// comma-separated `host` or `host:port` (others: https only, never a private or loopback address).
    #[arg(long, env = "WEBHOOK_ALLOWED_HOSTS", default_value = "")]
    pub webhook_allowed_hosts: String,
}
