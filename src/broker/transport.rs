//! Where the relay's Redis traffic goes: one Redis server (`REDIS_URL`:
//! `PUBLISH`, one pub/sub connection) or a Redis Cluster
//! (`REDIS_CLUSTER_NODES`: `SPUBLISH` to the master owning the channel's
//! slot, one subscriber connection per shard, see [`super::shards`]). The
//! relay logic around it (ordering, catch-up, gap fill, presence) is the
//! same for both (docs/SCALING.md, "Redis Cluster: sharded pub/sub").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::time::Instant;

use super::redis::{BACKOFF_MAX, BACKOFF_START};
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
    /// The node that answered last, then every node its map named.
    known: Mutex<(Option<String>, Vec<String>)>,
}

impl Cluster {
    pub fn new(seeds: Vec<String>) -> Cluster {
        Cluster {
            seeds,
            known: Mutex::new((None, Vec::new())),
        }
    }

    /// The current slot map, asked first of the node that answered last,
    /// then of the seeds, then of every node named last time (a seed may
    /// be the master that just died).
    pub async fn topology(&self, timeout: Duration) -> redis::RedisResult<Topology> {
        let candidates = {
            let known = self.known.lock().expect("known nodes");
            let mut candidates: Vec<String> = known.0.iter().cloned().collect();
            for node in self.seeds.iter().chain(&known.1) {
                if !candidates.contains(node) {
                    candidates.push(node.clone());
                }
            }
            candidates
        };
        let (topology, answered) = topology::fetch(&candidates, timeout).await?;
        *self.known.lock().expect("known nodes") = (Some(answered), topology.nodes().to_vec());
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
/// each room's order, is on one shard). A target that failed (the server,
/// a shard's master, or the slot map) is not tried again before its capped
/// exponential backoff has passed; in a cluster, the other shards' messages
/// go on meanwhile.
pub struct Publisher {
    transport: Transport,
    single: Option<MultiplexedConnection>,
    topology: Option<Topology>,
    masters: HashMap<String, MultiplexedConnection>,
    /// By target (a master's address; [`SINGLE`] or [`SLOT_MAP`]): when it
    /// may be tried again, and the backoff after its next failure.
    backoff: HashMap<String, (Instant, Duration)>,
}

/// The backoff target of the one Redis server.
const SINGLE: &str = "redis";
/// ... and of reading a cluster's slot map.
const SLOT_MAP: &str = "CLUSTER SLOTS";

impl Publisher {
    pub fn new(transport: Transport) -> Publisher {
        Publisher {
            transport,
            single: None,
            topology: None,
            masters: HashMap::new(),
            backoff: HashMap::new(),
        }
    }

    /// Whether only each channel's order matters (a cluster: channels on
    /// different shards have none between them), or the order of all.
    pub fn orders_per_channel(&self) -> bool {
        self.transport.is_cluster()
    }

    /// When a target waiting out its backoff may be tried again (the
    /// earliest), if any is.
    pub fn next_retry(&self) -> Option<Instant> {
        let now = Instant::now();
        self.backoff
            .values()
            .map(|(at, _)| *at)
            .filter(|at| *at > now)
            .min()
    }

    fn waiting(&self, target: &str) -> bool {
        self.backoff
            .get(target)
            .is_some_and(|(at, _)| Instant::now() < *at)
    }

    fn failed(&mut self, target: &str) {
        let entry = self
            .backoff
            .entry(target.to_string())
            .or_insert((Instant::now(), BACKOFF_START));
        *entry = (Instant::now() + entry.1, (entry.1 * 2).min(BACKOFF_MAX));
    }

    fn succeeded(&mut self, target: &str) {
        self.backoff.remove(target);
    }

    /// Publishes `items` (channel, payload), each room's in order; returns
    /// the indices of those not published (empty: all were), in order. A
    /// failed connection is dropped (and, in a cluster, the slot map read
    /// again) before its target is tried again.
    pub async fn publish(&mut self, items: &[(String, &[u8])], timeout: Duration) -> Vec<usize> {
        let all = || (0..items.len()).collect::<Vec<_>>();
        match self.transport.clone() {
            Transport::Single(client) => {
                if self.waiting(SINGLE) {
                    return all();
                }
                if self.single.is_none() {
                    match with_timeout(timeout, client.get_multiplexed_async_connection()).await {
                        Ok(c) => self.single = Some(c),
                        Err(_) => {
                            self.failed(SINGLE);
                            return all();
                        }
                    }
                }
                let conn = self.single.as_mut().expect("connected above");
                let mut pipe = redis::pipe();
                for (channel, payload) in items {
                    pipe.publish(channel, *payload).ignore();
                }
                match with_timeout(timeout, pipe.query_async::<()>(conn)).await {
                    Ok(()) => {
                        self.succeeded(SINGLE);
                        Vec::new()
                    }
                    Err(_) => {
                        self.single = None;
                        self.failed(SINGLE);
                        all()
                    }
                }
            }
            Transport::Cluster(cluster) => {
                if self.topology.is_none() {
                    if self.waiting(SLOT_MAP) {
                        return all();
                    }
                    match cluster.topology(timeout).await {
                        Ok(t) => {
                            self.succeeded(SLOT_MAP);
                            // Forget the backoff of nodes no longer masters.
                            self.backoff.retain(|target, _| {
                                target == SLOT_MAP || t.nodes().contains(target)
                            });
                            self.topology = Some(t);
                        }
                        Err(_) => {
                            self.failed(SLOT_MAP);
                            return all();
                        }
                    }
                }
                let topology = self.topology.clone().expect("read above");
                let mut by_master: HashMap<&str, Vec<usize>> = HashMap::new();
                let mut unsent = Vec::new();
                for (i, (channel, _)) in items.iter().enumerate() {
                    match topology.master_of(slot::of(channel.as_bytes())) {
                        Some(m) if !self.waiting(m) => by_master.entry(m).or_default().push(i),
                        Some(_) => unsent.push(i),
                        None => {
                            // A slot without a master: read the map again.
                            self.topology = None;
                            self.failed(SLOT_MAP);
                            unsent.push(i);
                        }
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
                        (master, indices, result)
                    }
                });
                let results = futures_util::future::join_all(sends).await;
                for (master, indices, result) in results {
                    match result {
                        Ok(conn) => {
                            self.masters.insert(master.to_string(), conn);
                            self.succeeded(master);
                        }
                        Err(e) => {
                            // Dead, or its slots moved (MOVED): the slot
                            // map is read again before the next publish.
                            tracing::debug!(%master, error = %e, "SPUBLISH failed");
                            self.masters.remove(master);
                            self.failed(master);
                            self.topology = None;
                            unsent.extend(indices);
                        }
                    }
                }
                unsent.sort_unstable();
                unsent
            }
        }
    }
}
