//! Where the relay's Redis traffic goes: one Redis server (`REDIS_URL`:
//! `PUBLISH`, one pub/sub connection) or a Redis Cluster
//! (`REDIS_CLUSTER_NODES`: `SPUBLISH` to the master owning the channel's
//! slot, one subscriber connection per shard, see [`super::shards`]). The
//! relay logic around it (ordering, catch-up, gap fill, presence) is the
//! same for both (docs/ARCHITECTURE.md, "The relay").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::slot;
use super::topology::{self, Topology};

/// Where presence sets live with one Redis server.
const PRESENCE_PREFIX: &str = "parley:presence:";
/// ... and in a cluster: one hash tag, so every instance's set is on one
/// shard and one `SCAN` of its master sees them all.
const CLUSTER_PRESENCE_PREFIX: &str = "parley:{presence}:";

#[derive(Clone)]
pub enum Transport {
    Single(redis::Client),
    Cluster(Arc<Cluster>),
}

impl Transport {
    pub fn is_cluster(&self) -> bool {
        matches!(self, Transport::Cluster(_))
    }

    /// What the keys of the instances' presence sets start with.
    pub fn presence_prefix(&self) -> &'static str {
        match self {
            Transport::Single(_) => PRESENCE_PREFIX,
            Transport::Cluster(_) => CLUSTER_PRESENCE_PREFIX,
        }
    }

    /// A connection to the node that holds `key`.
    pub async fn connection_for(
        &self,
        key: &str,
        timeout: Duration,
    ) -> redis::RedisResult<MultiplexedConnection> {
        match self {
            Transport::Single(client) => {
                with_timeout(timeout, client.get_multiplexed_async_connection()).await
            }
            Transport::Cluster(cluster) => {
                let topology = cluster.topology(timeout).await?;
                let master = topology
                    .master_of(slot::of(key.as_bytes()))
                    .ok_or_else(|| unserved(key))?;
                let client = topology::client(master)?;
                with_timeout(timeout, client.get_multiplexed_async_connection()).await
            }
        }
    }
}

/// The seed nodes of a cluster and the nodes last heard of.
pub struct Cluster {
    seeds: Vec<String>,
    known: Mutex<Vec<String>>,
}

impl Cluster {
    pub fn new(seeds: Vec<String>) -> Cluster {
        Cluster {
            seeds,
            known: Mutex::new(Vec::new()),
        }
    }

    /// The current slot map, asked of the seeds and then of every node
    /// named last time (a seed may be the master that just died).
    pub async fn topology(&self, timeout: Duration) -> redis::RedisResult<Topology> {
        let mut candidates = self.seeds.clone();
        for node in self.known.lock().expect("known nodes").iter() {
            if !candidates.contains(node) {
                candidates.push(node.clone());
            }
        }
        let topology = topology::fetch(&candidates, timeout).await?;
        *self.known.lock().expect("known nodes") = topology.nodes().to_vec();
        Ok(topology)
    }
}

async fn with_timeout<T>(
    timeout: Duration,
    f: impl Future<Output = redis::RedisResult<T>>,
) -> redis::RedisResult<T> {
    tokio::time::timeout(timeout, f)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

pub fn timed_out() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "redis timed out"))
}

pub fn unserved(channel: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::ClusterDown,
        "no master serves the slot of",
        channel.to_string(),
    ))
}

/// Publishes for the relay's publisher: `PUBLISH` pipelined on one
/// connection, or `SPUBLISH` pipelined per shard (each room's channel, so
/// each room's order, is on one shard).
pub struct Publisher {
    transport: Transport,
    single: Option<MultiplexedConnection>,
    topology: Option<Topology>,
    masters: HashMap<String, MultiplexedConnection>,
}

impl Publisher {
    pub fn new(transport: Transport) -> Publisher {
        Publisher {
            transport,
            single: None,
            topology: None,
            masters: HashMap::new(),
        }
    }

    /// Publishes `items` (channel, payload), each room's in order; returns
    /// the indices of those not published (empty: all were), in order. A
    /// failed connection is dropped (and, in a cluster, the slot map read
    /// again) before the next call.
    pub async fn publish(&mut self, items: &[(String, &[u8])], timeout: Duration) -> Vec<usize> {
        match &self.transport {
            Transport::Single(client) => {
                if self.single.is_none() {
                    match with_timeout(timeout, client.get_multiplexed_async_connection()).await {
                        Ok(c) => self.single = Some(c),
                        Err(_) => return (0..items.len()).collect(),
                    }
                }
                let Some(conn) = self.single.as_mut() else {
                    return (0..items.len()).collect();
                };
                let mut pipe = redis::pipe();
                for (channel, payload) in items {
                    pipe.publish(channel, *payload).ignore();
                }
                match with_timeout(timeout, pipe.query_async::<()>(conn)).await {
                    Ok(()) => Vec::new(),
                    Err(_) => {
                        self.single = None;
                        (0..items.len()).collect()
                    }
                }
            }
            Transport::Cluster(cluster) => {
                if self.topology.is_none() {
                    match cluster.topology(timeout).await {
                        Ok(t) => self.topology = Some(t),
                        Err(_) => return (0..items.len()).collect(),
                    }
                }
                let topology = self.topology.as_ref().expect("read above");
                let mut by_master: HashMap<&str, Vec<usize>> = HashMap::new();
                let mut unsent = Vec::new();
                for (i, (channel, _)) in items.iter().enumerate() {
                    match topology.master_of(slot::of(channel.as_bytes())) {
                        Some(m) => by_master.entry(m).or_default().push(i),
                        None => unsent.push(i),
                    }
                }
                let sends = by_master.into_iter().map(|(master, indices)| {
                    let cached = self.masters.get(master).cloned();
                    async move {
                        let result = async {
                            let mut conn = match cached {
                                Some(c) => c,
                                None => {
                                    let client = topology::client(master)?;
                                    with_timeout(timeout, client.get_multiplexed_async_connection())
                                        .await?
                                }
                            };
                            let mut pipe = redis::pipe();
                            for &i in &indices {
                                let (channel, payload) = &items[i];
                                pipe.cmd("SPUBLISH").arg(channel).arg(*payload).ignore();
                            }
                            with_timeout(timeout, pipe.query_async::<()>(&mut conn)).await?;
                            Ok::<_, redis::RedisError>(conn)
                        }
                        .await;
                        (master.to_string(), indices, result)
                    }
                });
                let results = futures_util::future::join_all(sends).await;
                let mut stale = false;
                for (master, indices, result) in results {
                    match result {
                        Ok(conn) => {
                            self.masters.insert(master, conn);
                        }
                        Err(e) => {
                            tracing::debug!(%master, error = %e, "SPUBLISH failed");
                            self.masters.remove(&master);
                            unsent.extend(indices);
                            stale = true;
                        }
                    }
                }
                if stale || !unsent.is_empty() {
                    self.topology = None;
                }
                unsent.sort_unstable();
                unsent
            }
        }
    }
}
