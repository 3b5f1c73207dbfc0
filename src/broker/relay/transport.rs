//! Where the relay's Redis traffic goes: one Redis server (`REDIS_URL`:
//! `PUBLISH`, one pub/sub connection) or a Redis Cluster
//! (`REDIS_CLUSTER_NODES`: `SPUBLISH` to the master owning the channel's
//! slot, one subscriber connection per shard, see [`super::shards`]). The
//! relay logic around it (ordering, catch-up, gap fill, signals) is the
//! same for both (docs/SCALING.md, "Redis Cluster: sharded pub/sub").
//! Services that keep state of their own in Redis (presence sets) reach it
//! through [`Transport::connection_for`].

use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;

use super::slot;
use super::topology::{self, Topology};

#[derive(Clone)]
pub enum Transport {
    Single(redis::Client),
    Cluster(Arc<Cluster>),
}

#[derive(Debug, thiserror::Error)]
#[error("invalid REDIS_URL: {0}")]
pub struct RedisUrlError(#[from] redis::RedisError);

impl Transport {
    /// To the Redis server at `url`.
    pub fn single(url: &str) -> Result<Transport, RedisUrlError> {
        Ok(Transport::Single(redis::Client::open(url)?))
    }

    /// To the Redis Cluster found through `seeds` (`host:port` each,
    /// validated by the configuration).
    pub fn cluster(seeds: Vec<String>) -> Transport {
        Transport::Cluster(Arc::new(Cluster::new(seeds)))
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Transport::Cluster(_))
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

pub async fn with_timeout<T>(
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
