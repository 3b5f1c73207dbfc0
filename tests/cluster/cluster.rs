//! The processes a test runs: Parley instances, a Redis server, nginx, and a
//! fresh Postgres database. Each process lives in a guard that SIGKILLs and
//! reaps it on drop; when a test fails, the guards print the tail of each
//! process's log and keep the temp dir.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use sqlx::{Connection, Executor, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep, timeout};

use crate::http;

/// The same key for every instance: a token issued by one is valid on all.
pub const JWT_SECRET: &str = "cluster-tests-shared-secret-0123456789abcdef";
/// How long a process may take to come up (a debug build running migrations
/// on a busy 2-core machine).
const START_WITHIN: Duration = Duration::from_secs(40);

/// A TCP port that is free on 127.0.0.1 right now (the kernel picks it).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

fn env_or(var: &str, fallback: &str) -> String {
    std::env::var(var)
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| fallback.to_string())
}

// ------------------------------------------------------------- temp dir ---

/// A private directory for configs and logs; removed on drop unless the
/// test failed (then its path is printed, logs kept for a post-mortem).
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!(
            "parley-cluster-{prefix}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("cluster test failed; logs kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The last `lines` lines of a log file, for failure reports.
pub fn tail(path: &Path, lines: usize) -> String {
    let mut text = String::new();
    if let Ok(mut f) = File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
        let _ = f.read_to_string(&mut text);
    }
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A child process that is killed and reaped when dropped.
pub struct Guarded {
    name: String,
    child: Option<Child>,
    log: PathBuf,
    /// SIGTERM first and give it a moment: nginx's master stops its workers
    /// then, while a SIGKILLed master leaves them running.
    terminate_first: bool,
}

impl Guarded {
    pub fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Guarded {
        let out = File::create(&log).expect("create log file");
        let err = out.try_clone().expect("clone log file");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Guarded {
            name: name.to_string(),
            child: Some(child),
            log,
            terminate_first: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .unwrap_or_else(|| panic!("{} is not running", self.name))
            .id()
    }

    /// Whether it was started, not killed, and has not exited.
    pub fn running(&mut self) -> bool {
        self.child.is_some() && self.exited().is_none()
    }

    /// Exit status if the process has ended (reaping it).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut()?;
        child.try_wait().expect("try_wait")
    }

    pub fn kill(&mut self) {
        if self.terminate_first && self.child.is_some() && self.exited().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid().to_string()])
                .status();
            // Bounded: 5 s, then SIGKILL below.
            for _ in 0..100 {
                if self.exited().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM (through kill(1): std has no signal API and this saves
    /// a dependency).
    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.name);
    }

    /// Waits (bounded) for the process to exit on its own.
    async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "---- last lines of {} ({}):\n{}\n----",
                self.name,
                self.log.display(),
                tail(&self.log, 40)
            );
        }
    }
}

// ------------------------------------------------------------- postgres ---

/// A new, empty database in the test cluster; returns its URL.
pub async fn fresh_database() -> String {
    let admin = std::env::var("TEST_DATABASE_URL").expect(
        "TEST_DATABASE_URL is not set: run the suite with scripts/test, which provisions Postgres",
    );
    let name = format!("parley_cluster_{}", uuid::Uuid::new_v4().simple());
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the test Postgres cluster");
    conn.execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create test database");
    conn.close().await.ok();
    // postgres://u@h:p/admin?x → postgres://u@h:p/name?x
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (admin.as_str(), None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

// ---------------------------------------------------------------- redis ---

/// A redis-server of the test's own, on a fixed port so it can be stopped
/// and started again at the same address.
pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    process: Option<Guarded>,
    starts: usize,
}

impl RedisServer {
    pub async fn start(dir: &Path) -> RedisServer {
        let mut redis = RedisServer {
            port: 0,
            dir: dir.to_path_buf(),
            process: None,
            starts: 0,
        };
        // The port is free when picked but could be taken before redis binds
        // it: retry with another.
        for _ in 0..3 {
            redis.port = free_port();
            if redis.try_start().await {
                return redis;
            }
            redis.stop();
        }
        panic!("redis-server did not start; see {}", redis.dir.display());
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn try_start(&mut self) -> bool {
        self.starts += 1;
        let bin = env_or("REDIS_SERVER_BIN", "redis-server");
        let mut cmd = Command::new(bin);
        cmd.args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir);
        let log = self.dir.join(format!("redis-{}.log", self.starts));
        self.process = Some(Guarded::spawn("redis-server", cmd, log));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping().await {
                return true;
            }
            if self.process.as_mut().and_then(Guarded::exited).is_some() {
                return false;
            }
            sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Starts it again on the same port (after [`stop`](Self::stop)).
    pub async fn restart(&mut self) {
        assert!(
            self.try_start().await,
            "redis-server did not restart on port {}",
            self.port
        );
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.process
            .as_ref()
            .expect("redis-server is running")
            .pid()
    }

    /// Stops it abruptly (SIGKILL): connections drop, nothing is flushed.
    pub fn stop(&mut self) {
        if let Some(mut p) = self.process.take() {
            p.kill();
        }
    }

    async fn ping(&self) -> bool {
        matches!(self.command("PING").await, Some(reply) if reply.starts_with("+PONG"))
    }

    /// Sends one inline command and returns the raw reply (a bulk string's
    /// payload is read whole). None if Redis does not answer.
    pub async fn command(&self, command: &str) -> Option<String> {
        let exchange = async {
            let mut s = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
            s.write_all(format!("{command}\r\n").as_bytes())
                .await
                .ok()?;
            let mut reply = Vec::new();
            let mut chunk = [0u8; 8192];
            loop {
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    break;
                }
                reply.extend_from_slice(&chunk[..n]);
                if reply_complete(&reply) {
                    break;
                }
            }
            Some(String::from_utf8_lossy(&reply).into_owned())
        };
        timeout(Duration::from_secs(2), exchange).await.ok()?
    }

    /// Connections of `CLIENT LIST` that are in pub/sub mode (subscribed to
    /// channels, patterns or shard channels).
    pub async fn pubsub_clients(&self) -> Vec<String> {
        let list = self.command("CLIENT LIST").await.expect("CLIENT LIST");
        list.lines()
            .filter(|line| {
                let field = |name: &str| {
                    line.split(' ')
                        .find_map(|kv| kv.strip_prefix(name))
                        .unwrap_or("")
                        .to_string()
                };
                let subscribed = |name: &str| field(name).parse::<u64>().is_ok_and(|n| n > 0);
                field("flags=").contains('P')
                    || subscribed("sub=")
                    || subscribed("psub=")
                    || subscribed("ssub=")
            })
            .map(str::to_string)
            .collect()
    }
}

/// A RESP reply is complete: a simple line, or a bulk string with its payload.
fn reply_complete(reply: &[u8]) -> bool {
    let Some(eol) = reply.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if reply[0] != b'$' {
        return true;
    }
    let len: i64 = String::from_utf8_lossy(&reply[1..eol])
        .parse()
        .unwrap_or(-1);
    len < 0 || reply.len() >= eol + 2 + len as usize + 2
}

// ---------------------------------------------------------- parley ---

/// One `parley` process.
pub struct Instance {
    pub port: u16,
    process: Guarded,
}

/// What every instance of a cluster shares.
#[derive(Clone)]
pub struct Shared {
    pub database_url: String,
    pub redis_url: String,
    pub dir: PathBuf,
}

impl Instance {
    /// Spawns the server and waits until `/readyz` answers 200. Retries on
    /// another port when the chosen one was taken meanwhile.
    pub async fn start(name: &str, shared: &Shared) -> Instance {
        Instance::start_with(name, shared, &[]).await
    }

    /// The same with more environment (set after the defaults).
    pub async fn start_with(name: &str, shared: &Shared, env: &[(&str, &str)]) -> Instance {
        let mut last_log = PathBuf::new();
        for attempt in 1..=3 {
            let port = free_port();
            let bin = std::env::var("PARLEY_BIN").expect(
                "PARLEY_BIN is not set: run the suite with scripts/test, which builds the server",
            );
            let mut cmd = Command::new(bin);
            // Only what the test sets: no inherited settings, and a working
            // dir without a .env file.
            cmd.env_clear()
                .current_dir(&shared.dir)
                .env("BIND_ADDR", format!("127.0.0.1:{port}"))
                .env("DATABASE_URL", &shared.database_url)
                .env("REDIS_URL", &shared.redis_url)
                .env("JWT_SECRET", JWT_SECRET)
                .env("SEND_RATE", "0")
                .env("LOG_FORMAT", "json")
                .env("RUST_LOG", "info")
                .env("RUST_BACKTRACE", "1")
                .envs(env.iter().copied());
            last_log = shared.dir.join(format!("{name}-{attempt}.log"));
            let mut instance = Instance {
                port,
                process: Guarded::spawn(name, cmd, last_log.clone()),
            };
            if instance.wait_ready().await {
                return instance;
            }
        }
        panic!(
            "instance {name} never became ready; last log:\n{}",
            tail(&last_log, 40)
        );
    }

    /// True once `/readyz` answers 200; false if the process exits or
    /// [`START_WITHIN`] passes.
    async fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + START_WITHIN;
        while Instant::now() < deadline {
            if http::readyz(self.port).await == Some(200) {
                return true;
            }
            if self.process.exited().is_some() {
                return false;
            }
            sleep(Duration::from_millis(100)).await;
        }
        false
    }

    pub fn sigterm(&self) {
        self.process.terminate();
    }

    pub fn sigkill(&mut self) {
        self.process.kill();
    }

    /// The process id (while it runs).
    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    /// The exit status, if the process exits within `within`.
    pub async fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        self.process.wait_exit(within).await
    }
}

// ---------------------------------------------------------------- nginx ---

/// nginx from `deploy/nginx.conf`, balancing over the given instances.
pub struct Nginx {
    pub port: u16,
    pub access_log: PathBuf,
    _process: Guarded,
}

impl Nginx {
    pub async fn start(dir: &Path, upstream_ports: &[u16]) -> Nginx {
        let template_path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf");
        let template = std::fs::read_to_string(&template_path)
            .unwrap_or_else(|e| panic!("read {}: {e}", template_path.display()));
        let prefix = dir.join("nginx");
        std::fs::create_dir_all(&prefix).expect("nginx prefix dir");
        let servers: String = upstream_ports
            .iter()
            .map(|p| format!("server 127.0.0.1:{p};"))
            .collect::<Vec<_>>()
            .join(" ");
        let bin = env_or("NGINX_BIN", "nginx");
        for attempt in 1..=3 {
            let port = free_port();
            let config = fill_template(
                &template,
                &[
                    ("NGINX_LISTEN", format!("127.0.0.1:{port}")),
                    ("PARLEY_UPSTREAM_SERVERS", servers.clone()),
                    ("NGINX_RUN_DIR", prefix.display().to_string()),
                    ("NGINX_LOG_DIR", prefix.display().to_string()),
                ],
            );
            let config_path = prefix.join("nginx.conf");
            std::fs::write(&config_path, config).expect("write nginx.conf");
            // Root: workers run as root too, since the temp dir is private.
            let globals = if is_root() {
                "daemon off; user root;"
            } else {
                "daemon off;"
            };
            let mut cmd = Command::new(&bin);
            cmd.arg("-p")
                .arg(format!("{}/", prefix.display()))
                .arg("-c")
                .arg(&config_path)
                .arg("-e")
                .arg(prefix.join("startup-error.log"))
                .args(["-g", globals]);
            let log = prefix.join(format!("nginx-{attempt}.out"));
            let mut process = Guarded::spawn("nginx", cmd, log.clone());
            process.terminate_first = true;
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if http::status(&format!("http://127.0.0.1:{port}/lb-health")).await == Some(200) {
                    return Nginx {
                        port,
                        access_log: prefix.join("access.log"),
                        _process: process,
                    };
                }
                if process.exited().is_some() {
                    break;
                }
                sleep(Duration::from_millis(50)).await;
            }
            eprintln!(
                "nginx did not come up (attempt {attempt}):\n{}\n{}",
                tail(&log, 20),
                tail(&prefix.join("error.log"), 20)
            );
        }
        panic!(
            "nginx ({bin}) did not start from deploy/nginx.conf; is it installed? scripts/test installs it"
        );
    }

    /// How many WebSocket sessions nginx has logged (at their close) per
    /// upstream port.
    pub fn websockets_per_upstream(&self, ports: &[u16]) -> Vec<usize> {
        let log = std::fs::read_to_string(&self.access_log).unwrap_or_default();
        ports
            .iter()
            .map(|p| {
                let upstream = format!("upstream=127.0.0.1:{p}");
                log.lines()
                    .filter(|l| l.contains("\"GET /ws ") && l.contains(&upstream))
                    .count()
            })
            .collect()
    }
}

fn is_root() -> bool {
    // No libc dependency for geteuid: ask id(1).
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Replaces each `${NAME}` placeholder; every one must be used, and none
/// may be left outside comments.
fn fill_template(template: &str, values: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        let placeholder = format!("${{{name}}}");
        assert!(
            out.contains(&placeholder),
            "deploy/nginx.conf has no {placeholder} placeholder"
        );
        out = out.replace(&placeholder, value);
    }
    for line in out.lines() {
        let code = line.split('#').next().unwrap_or("");
        assert!(
            !code.contains("${"),
            "deploy/nginx.conf has a placeholder the tests do not fill: {line}"
        );
    }
    out
}

// -------------------------------------------------------------- cluster ---

/// N instances sharing a fresh database and a Redis server of their own.
pub struct Cluster {
    pub instances: Vec<Instance>,
    pub redis: RedisServer,
    /// What the instances share (to start more of them).
    pub shared: Shared,
    // Dropped last: the guards above print their logs from it.
    pub dir: TempDir,
}

impl Cluster {
    /// Starts `n` instances at once (as a deployment does: migrations from
    /// several instances must not trip over each other).
    pub async fn start(n: usize) -> Cluster {
        Cluster::start_with(n, &[]).await
    }

    /// The same with more environment for every instance.
    pub async fn start_with(n: usize, env: &[(&str, &str)]) -> Cluster {
        let dir = TempDir::new("run");
        let redis = RedisServer::start(dir.path()).await;
        let shared = Shared {
            database_url: fresh_database().await,
            redis_url: redis.url(),
            dir: dir.path().to_path_buf(),
        };
        let names: Vec<String> = (0..n).map(|i| format!("parley-{}", i + 1)).collect();
        let instances = futures_util::future::join_all(
            names
                .iter()
                .map(|name| Instance::start_with(name, &shared, env)),
        )
        .await;
        Cluster {
            instances,
            redis,
            shared,
            dir,
        }
    }

    pub fn port(&self, i: usize) -> u16 {
        self.instances[i].port
    }

    pub fn ports(&self) -> Vec<u16> {
        self.instances.iter().map(|i| i.port).collect()
    }

    /// nginx in front of every instance.
    pub async fn nginx(&self) -> Nginx {
        Nginx::start(self.dir.path(), &self.ports()).await
    }
}

impl RedisServer {
    /// Subscribers of `channel` (`PUBSUB NUMSUB`), or None if Redis does
    /// not answer.
    pub async fn numsub(&self, channel: &str) -> Option<i64> {
        let exchange = async {
            let mut s = TcpStream::connect(("127.0.0.1", self.port)).await.ok()?;
            s.write_all(format!("PUBSUB NUMSUB {channel}\r\n").as_bytes())
                .await
                .ok()?;
            // *2 $len channel :N — read until the integer line arrives.
            let mut reply = Vec::new();
            let mut chunk = [0u8; 1024];
            loop {
                let text = String::from_utf8_lossy(&reply).into_owned();
                if let Some(n) = text
                    .split("\r\n")
                    .find_map(|l| l.strip_prefix(':').and_then(|n| n.parse().ok()))
                {
                    return Some(n);
                }
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                reply.extend_from_slice(&chunk[..n]);
            }
        };
        timeout(Duration::from_secs(2), exchange).await.ok()?
    }
}

/// The id of room `name` in the cluster's database.
pub async fn room_id(database_url: &str, name: &str) -> i64 {
    let mut conn = PgConnection::connect(database_url)
        .await
        .expect("connect to the cluster's database");
    let (id,): (i64,) = sqlx::query_as("SELECT id FROM rooms WHERE name = $1")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .expect("room exists");
    conn.close().await.ok();
    id
}
