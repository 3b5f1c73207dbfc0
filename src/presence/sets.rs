//! The instances' presence sets in Redis: each instance keeps the users
//! connected to it in the set `parley:presence:<instance>` (members
//! `id:name`), which expires [`PRESENCE_TTL`] after its last renewal. In a
//! Redis Cluster the keys share one hash tag (`parley:{presence}:<instance>`)
//! so every set is on one shard and one `SCAN` of its master sees them all.
//!
//! This file owns the keys and the commands; when they run, and what is
//! made of their answers, is the service's (`super`).

use std::collections::HashSet;
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use crate::broker::Transport;

/// How long an instance's presence set outlives its last renewal.
const PRESENCE_TTL: Duration = Duration::from_secs(30);
/// Bounds one sweep's SCAN of the presence keys.
const SCAN_MAX_ROUNDS: usize = 10_000;
/// Longest wait for Redis to connect or answer.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

/// Where presence sets live with one Redis server...
const PRESENCE_PREFIX: &str = "parley:presence:";
/// ... and in a cluster: one hash tag.
const CLUSTER_PRESENCE_PREFIX: &str = "parley:{presence}:";

/// This instance's set, and a connection to the node holding the sets.
pub struct Sets {
    transport: Transport,
    prefix: &'static str,
    key: String,
    conn: Option<MultiplexedConnection>,
}

impl Sets {
    pub fn new(transport: Transport, instance: &str) -> Self {
        let prefix = if transport.is_cluster() {
            CLUSTER_PRESENCE_PREFIX
        } else {
            PRESENCE_PREFIX
        };
        Sets {
            transport,
            prefix,
            key: format!("{prefix}{instance}"),
            conn: None,
        }
    }

    /// Connects if not connected.
    pub async fn connect(&mut self) -> redis::RedisResult<()> {
        if self.conn.is_none() {
            let conn = self
                .transport
                .connection_for(&self.key, REDIS_TIMEOUT)
                .await?;
            self.conn = Some(conn);
        }
        Ok(())
    }

    /// Adds `user_id` to this instance's set or removes them, renewing it.
    /// A failure drops the connection (the next sweep rewrites the set).
    pub async fn moved(&mut self, user_id: i64, username: &str, online: bool) {
        let Some(c) = self.conn.as_mut() else { return };
        let member = format!("{user_id}:{username}");
        let mut pipe = redis::pipe();
        if online {
            pipe.sadd(&self.key, &member).ignore();
        } else {
            pipe.srem(&self.key, &member).ignore();
        }
        pipe.expire(&self.key, PRESENCE_TTL.as_secs() as i64)
            .ignore();
        let done = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(c)).await;
        if !matches!(done, Ok(Ok(()))) {
            self.conn = None;
        }
    }

    /// Rewrites this instance's set as `local`, then lists the instances
    /// whose sets still exist, and reads the sets of those `read` picks.
    pub async fn sweep(
        &mut self,
        local: &[(i64, String)],
        read: impl Fn(&str) -> bool,
    ) -> redis::RedisResult<Swept> {
        let work = async {
            let c = self.conn.as_mut().ok_or_else(not_connected)?;
            let members: Vec<String> = local
                .iter()
                .map(|(id, name)| format!("{id}:{name}"))
                .collect();
            let mut pipe = redis::pipe();
            pipe.atomic().del(&self.key).ignore();
            if !members.is_empty() {
                pipe.sadd(&self.key, &members).ignore();
                pipe.expire(&self.key, PRESENCE_TTL.as_secs() as i64)
                    .ignore();
            }
            pipe.query_async::<()>(c).await?;
            let alive = scan(c, self.prefix).await?;
            let mut sets = Vec::new();
            for instance in alive.iter().filter(|i| read(i)) {
                let members: Vec<String> =
                    redis::AsyncCommands::smembers(c, format!("{}{instance}", self.prefix)).await?;
                let users = members
                    .iter()
                    .filter_map(|m| {
                        let (id, name) = m.split_once(':')?;
                        Some((id.parse().ok()?, name.to_string()))
                    })
                    .collect();
                sets.push((instance.clone(), users));
            }
            Ok(Swept { alive, sets })
        };
        let result = tokio::time::timeout(REDIS_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| Err(not_connected()));
        if result.is_err() {
            self.conn = None;
        }
        result
    }
}

/// What a sweep found: the instances whose sets exist, and the users of the
/// sets it read.
pub struct Swept {
    pub alive: HashSet<String>,
    pub sets: Vec<(String, Vec<(i64, String)>)>,
}

/// The instances whose presence sets exist.
async fn scan(c: &mut MultiplexedConnection, prefix: &str) -> redis::RedisResult<HashSet<String>> {
    let mut alive = HashSet::new();
    let mut cursor: u64 = 0;
    for _ in 0..SCAN_MAX_ROUNDS {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(c)
            .await?;
        alive.extend(
            keys.iter()
                .filter_map(|k| k.strip_prefix(prefix))
                .map(str::to_string),
        );
        if next == 0 {
            break;
        }
        cursor = next;
    }
    Ok(alive)
}

fn not_connected() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "presence sets unreachable"))
}
