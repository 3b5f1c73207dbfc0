//! The relay's publishing side: one task takes what the broker queues
//! (events after commit, activity, signals) and publishes it, pipelined,
//! in order; what Redis did not take waits for its target's backoff.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::slot;
use super::topology::{self, Topology};
use super::transport::{Transport, with_timeout};
use super::wire::{BACKOFF_START, Outgoing, REDIS_TIMEOUT, backoff_after};

/// Messages waiting to be published to Redis (queued, or kept while Redis
/// is away); beyond it the oldest are dropped from the relay (they are
/// stored, and other instances fill the hole from the database).
pub const PUBLISH_QUEUE: usize = 65_536;
/// Messages pipelined per round trip to Redis.
const PUBLISH_BATCH: usize = 256;

/// Publishes committed messages in commit order (per room: in a cluster
/// the rooms of a shard that is away wait while the others' go on),
/// pipelining whatever is queued. What the [`Publisher`] could not publish
/// is kept, each room's in order (up to [`PUBLISH_QUEUE`]; beyond that the
/// oldest are dropped from the relay, and other instances fill the hole
/// from the database), and retried once its target's backoff has passed.
pub async fn publish_loop(mut publisher: Publisher, mut queue: mpsc::Receiver<Outgoing>) {
    // What waits for its target, and the orders it is in (a later message
    // in one of them waits behind it): each channel's in a cluster, one for
    // everything with one server (which keeps the order across channels,
    // so a revocation stays ahead of the room's later messages).
    let mut backlog: VecDeque<Outgoing> = VecDeque::new();
    let mut held: HashSet<String> = HashSet::new();
    let per_channel = publisher.orders_per_channel();
    let mut incoming = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        let received = match (backlog.is_empty(), publisher.next_retry()) {
            (true, _) => queue.recv_many(&mut incoming, PUBLISH_BATCH).await,
            (false, Some(at)) => tokio::select! {
                n = queue.recv_many(&mut incoming, PUBLISH_BATCH) => n,
                _ = tokio::time::sleep_until(at) => usize::MAX,
            },
            (false, None) => usize::MAX,
        };
        if received == 0 {
            return; // the broker is gone
        }
        // A retry takes the backlog again; new messages alone otherwise
        // (those on a held channel join the backlog untried).
        let mut todo = if received == usize::MAX {
            held.clear();
            std::mem::take(&mut backlog)
        } else {
            VecDeque::new()
        };
        todo.extend(incoming.drain(..));
        while !todo.is_empty() {
            let n = todo.len().min(PUBLISH_BATCH);
            let batch: Vec<Outgoing> = todo.drain(..n).collect();
            let orders: Vec<&str> = batch
                .iter()
                .map(|o| if per_channel { o.channel.as_str() } else { "" })
                .collect();
            let tried: Vec<usize> = (0..n).filter(|&i| !held.contains(orders[i])).collect();
            let items: Vec<(String, &[u8])> = tried
                .iter()
                .map(|&i| (batch[i].channel.clone(), &batch[i].payload[..]))
                .collect();
            let unsent = if items.is_empty() {
                Vec::new()
            } else {
                publisher.publish(&items, REDIS_TIMEOUT).await
            };
            drop(items);
            let mut keep = vec![true; n];
            for (j, &i) in tried.iter().enumerate() {
                keep[i] = unsent.binary_search(&j).is_ok();
            }
            let orders: Vec<String> = orders.into_iter().map(str::to_string).collect();
            for ((out, order), keep) in batch.into_iter().zip(orders).zip(keep) {
                if keep {
                    held.insert(order);
                    backlog.push_back(out);
                }
            }
        }
        if backlog.len() > PUBLISH_QUEUE {
            let excess = backlog.len() - PUBLISH_QUEUE;
            backlog.drain(..excess);
            tracing::warn!(dropped = excess, "redis unreachable; relay backlog full");
        }
        if received == usize::MAX && !backlog.is_empty() {
            tracing::warn!(
                waiting = backlog.len(),
                "redis publish failed; retrying after a backoff"
            );
        }
    }
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
        *entry = (Instant::now() + entry.1, backoff_after(entry.1));
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
