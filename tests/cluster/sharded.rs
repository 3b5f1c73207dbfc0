//! The relay over a Redis Cluster (`REDIS_CLUSTER_NODES`; docs/SCALING.md,
//! "Redis Cluster: sharded pub/sub"; the README, "Deploying"): a real
//! 3-master, 3-replica cluster on loopback, rooms on different shards,
//! sharded pub/sub (one subscriber connection per shard per instance), a
//! master killed while clients send, a slot moved, and a revocation across
//! shards.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use redis::Value;
use tokio::sync::watch;
use tokio::time::{Instant, sleep, timeout};

use crate::actors::{SenderPlan, SubscriberPlan, spawn_sender, spawn_subscriber};
use crate::cluster::{
    Guarded, Instance, Shared, TempDir, free_port, fresh_database, room_id, tail,
};
use crate::http;

/// Small, so a replica takes over a dead master within a few seconds.
const NODE_TIMEOUT_MS: &str = "1000";
const NODES: usize = 6;

// ------------------------------------------------------- redis cluster ---

struct Node {
    port: u16,
    log: PathBuf,
    process: Guarded,
}

/// A master's slot ranges and its replicas' ports.
type Shard = (Vec<(i64, i64)>, Vec<u16>);

/// Six `redis-server --cluster-enabled yes` on loopback, each in its own
/// directory, joined by `redis-cli --cluster create --cluster-replicas 1`;
/// every node is killed when it drops.
pub struct RedisCluster {
    nodes: Vec<Node>,
}

fn redis_bins() -> (String, String) {
    let server = std::env::var("REDIS_SERVER_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "redis-server".into());
    // scripts/test exports it; redis-tools puts it next to redis-server.
    let cli = std::env::var("REDIS_CLI_BIN")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let sibling = Path::new(&server).with_file_name("redis-cli");
            if sibling.is_file() {
                sibling.display().to_string()
            } else {
                "redis-cli".into()
            }
        });
    (server, cli)
}

/// One command to the node at `port`, bounded; None if it does not answer.
async fn query(port: u16, cmd: &redis::Cmd) -> Option<Value> {
    let exchange = async {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        cmd.query_async::<Value>(&mut conn).await.ok()
    };
    timeout(Duration::from_secs(3), exchange).await.ok()?
}

async fn query_text(port: u16, cmd: &redis::Cmd) -> Option<String> {
    match query(port, cmd).await? {
        Value::BulkString(b) => Some(String::from_utf8_lossy(&b).into_owned()),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => Some(s),
        Value::Okay => Some("OK".into()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        _ => None,
    }
}

impl RedisCluster {
    pub async fn start(dir: &Path) -> RedisCluster {
        let mut last = String::new();
        for attempt in 1..=3 {
            match RedisCluster::try_start(dir, attempt).await {
                Ok(cluster) => return cluster,
                Err(e) => {
                    eprintln!("redis cluster attempt {attempt} failed: {e}");
                    last = e;
                }
            }
        }
        panic!("no redis cluster came up: {last}");
    }

    async fn try_start(dir: &Path, attempt: usize) -> Result<RedisCluster, String> {
        let (server, cli) = redis_bins();
        let mut ports: Vec<u16> = Vec::new();
        while ports.len() < 2 * NODES {
            let p = free_port();
            if !ports.contains(&p) {
                ports.push(p);
            }
        }
        let mut nodes = Vec::new();
        for i in 0..NODES {
            let (port, bus) = (ports[i], ports[NODES + i]);
            let node_dir = dir.join(format!("redis-{attempt}-{port}"));
            std::fs::create_dir_all(&node_dir).expect("node dir");
            let mut cmd = Command::new(&server);
            cmd.args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                // The bus port is given: port + 10000 may not exist.
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .args(["--cluster-config-file", "nodes.conf"])
                .args(["--cluster-node-timeout", NODE_TIMEOUT_MS])
                .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
                // Replicas in sync at once, not after the default 5 s.
                .args(["--repl-diskless-sync-delay", "0"])
                .arg("--dir")
                .arg(&node_dir);
            let log = node_dir.join("redis.log");
            nodes.push(Node {
                port,
                log: log.clone(),
                process: Guarded::spawn("redis-server (cluster)", cmd, log),
            });
        }
        let cluster = RedisCluster { nodes };
        for node in &cluster.nodes {
            let port = node.port;
            let up = wait_for(Duration::from_secs(10), || async move {
                query_text(port, &redis::cmd("PING")).await.as_deref() == Some("PONG")
            })
            .await;
            if !up {
                return Err(format!(
                    "node {} did not answer PING:\n{}",
                    node.port,
                    tail(&node.log, 20)
                ));
            }
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let create = tokio::task::spawn_blocking(move || {
            Command::new(&cli)
                .args(["--cluster", "create"])
                .args(&addrs)
                .args(["--cluster-replicas", "1", "--cluster-yes"])
                .output()
        });
        let output = timeout(Duration::from_secs(60), create)
            .await
            .map_err(|_| "redis-cli --cluster create timed out".to_string())?
            .expect("join redis-cli")
            .map_err(|e| format!("cannot run redis-cli (scripts/test installs it): {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "redis-cli --cluster create failed: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        // Every node sees the whole cluster, and every replica is in sync
        // (else no replica could take over).
        let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
        let ok = wait_for(Duration::from_secs(30), || {
            let ports = ports.clone();
            async move {
                for port in ports {
                    let info = query_text(port, redis::cmd("CLUSTER").arg("INFO"))
                        .await
                        .unwrap_or_default();
                    if !info.contains("cluster_state:ok") || !info.contains("cluster_known_nodes:6")
                    {
                        return false;
                    }
                    let replication = query_text(port, redis::cmd("INFO").arg("replication"))
                        .await
                        .unwrap_or_default();
                    if replication.contains("role:slave")
                        && !replication.contains("master_link_status:up")
                    {
                        return false;
                    }
                    // ... and every node knows each master's replica.
                    let slots = query(port, redis::cmd("CLUSTER").arg("SLOTS")).await;
                    let Some(Value::Array(ranges)) = slots else {
                        return false;
                    };
                    if ranges.len() != 3
                        || ranges
                            .iter()
                            .any(|r| !matches!(r, Value::Array(f) if f.len() >= 4))
                    {
                        return false;
                    }
                }
                true
            }
        })
        .await;
        if !ok {
            return Err("the cluster did not reach cluster_state:ok with replicas in sync".into());
        }
        Ok(cluster)
    }

    /// `host:port` of the first `n` nodes, comma-separated.
    pub fn seeds(&self, n: usize) -> String {
        self.nodes[..n]
            .iter()
            .map(|node| format!("127.0.0.1:{}", node.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A port of a node that is alive.
    fn live_port(&mut self) -> u16 {
        self.nodes
            .iter_mut()
            .find_map(|n| n.process.exited().is_none().then_some(n.port))
            .expect("a live node")
    }

    /// Each master's port with its slot ranges and its replicas' ports, as
    /// `CLUSTER SLOTS` of a live node says.
    async fn shards(&mut self) -> BTreeMap<u16, Shard> {
        let port = self.live_port();
        let reply = query(port, redis::cmd("CLUSTER").arg("SLOTS"))
            .await
            .expect("CLUSTER SLOTS");
        let Value::Array(ranges) = reply else {
            panic!("CLUSTER SLOTS answered {reply:?}")
        };
        let mut shards: BTreeMap<u16, Shard> = BTreeMap::new();
        for range in ranges {
            let Value::Array(fields) = range else {
                panic!("{range:?}")
            };
            let node_port = |v: &Value| match v {
                Value::Array(node) => int(&node[1]).expect("port") as u16,
                _ => panic!("{v:?}"),
            };
            let master = node_port(&fields[2]);
            let entry = shards.entry(master).or_default();
            entry
                .0
                .push((int(&fields[0]).unwrap(), int(&fields[1]).unwrap()));
            entry.1 = fields[3..].iter().map(node_port).collect();
        }
        shards
    }

    /// The port of the master owning `key`'s slot (Redis's own `CLUSTER
    /// KEYSLOT`).
    pub async fn master_of(&mut self, key: &str) -> u16 {
        let port = self.live_port();
        let slot = query(port, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
            .await
            .as_ref()
            .and_then(int)
            .expect("CLUSTER KEYSLOT");
        self.shards()
            .await
            .into_iter()
            .find(|(_, (ranges, _))| ranges.iter().any(|&(s, e)| s <= slot && slot <= e))
            .map(|(master, _)| master)
            .unwrap_or_else(|| panic!("no master owns slot {slot}"))
    }

    pub async fn masters(&mut self) -> Vec<u16> {
        self.shards().await.into_keys().collect()
    }

    pub async fn replica_of(&mut self, master: u16) -> u16 {
        self.shards().await[&master].1[0]
    }

    /// The process ids of the nodes still running.
    pub fn live_pids(&mut self) -> Vec<(u16, u32)> {
        self.nodes
            .iter_mut()
            .filter_map(|n| n.process.running().then(|| (n.port, n.process.pid())))
            .collect()
    }

    /// SIGKILLs the node at `port`.
    pub fn kill(&mut self, port: u16) {
        let node = self
            .nodes
            .iter_mut()
            .find(|n| n.port == port)
            .expect("node");
        node.process.kill();
    }

    /// Subscribers of shard channel `channel` on the node at `port` (None
    /// if it does not answer).
    pub async fn shard_subscribers(&self, port: u16, channel: &str) -> Option<i64> {
        self.numsub(port, "SHARDNUMSUB", channel).await
    }

    /// Subscribers of classic channel `channel` on the node at `port`.
    pub async fn classic_subscribers(&self, port: u16, channel: &str) -> Option<i64> {
        self.numsub(port, "NUMSUB", channel).await
    }

    async fn numsub(&self, port: u16, which: &str, channel: &str) -> Option<i64> {
        match query(port, redis::cmd("PUBSUB").arg(which).arg(channel)).await? {
            Value::Array(v) if v.len() == 2 => int(&v[1]),
            Value::Map(v) if v.len() == 1 => int(&v[0].1),
            other => panic!("PUBSUB {which} answered {other:?}"),
        }
    }

    /// The shard-channel subscription count of every client of the node at
    /// `port` that holds any (`CLIENT LIST`, field `ssub`).
    pub async fn shard_subscriber_clients(&self, port: u16) -> Vec<i64> {
        let list = query_text(port, redis::cmd("CLIENT").arg("LIST"))
            .await
            .expect("CLIENT LIST");
        list.lines()
            .filter_map(|line| {
                line.split(' ')
                    .find_map(|f| f.strip_prefix("ssub="))
                    .and_then(|n| n.parse::<i64>().ok())
            })
            .filter(|&n| n > 0)
            .collect()
    }

    /// Moves the (keyless) slot of `key` to the master at `to`, as a
    /// resharding does: IMPORTING / MIGRATING, then the new owner told to
    /// every master.
    pub async fn move_slot_of(&mut self, key: &str, to: u16) {
        let from = self.master_of(key).await;
        let slot = query(from, redis::cmd("CLUSTER").arg("KEYSLOT").arg(key))
            .await
            .as_ref()
            .and_then(int)
            .expect("CLUSTER KEYSLOT");
        let id = |port: u16| async move {
            query_text(port, redis::cmd("CLUSTER").arg("MYID"))
                .await
                .expect("CLUSTER MYID")
        };
        let (from_id, to_id) = (id(from).await, id(to).await);
        let keys = query(from, redis::cmd("CLUSTER").arg("COUNTKEYSINSLOT").arg(slot)).await;
        assert_eq!(keys, Some(Value::Int(0)), "slot {slot} holds no keys");
        let setslot = |port: u16, args: Vec<String>| async move {
            let mut cmd = redis::cmd("CLUSTER");
            cmd.arg("SETSLOT").arg(slot).arg(&args);
            let ok = query_text(port, &cmd).await;
            assert_eq!(
                ok.as_deref(),
                Some("OK"),
                "SETSLOT {slot} {args:?} on {port}"
            );
        };
        setslot(to, vec!["IMPORTING".into(), from_id.clone()]).await;
        setslot(from, vec!["MIGRATING".into(), to_id.clone()]).await;
        setslot(to, vec!["NODE".into(), to_id.clone()]).await;
        setslot(from, vec!["NODE".into(), to_id.clone()]).await;
        for master in self.masters().await {
            if master != from && master != to {
                setslot(master, vec!["NODE".into(), to_id.clone()]).await;
            }
        }
    }

    /// The members of each `parley:{presence}:*` set on the node at `port`.
    pub async fn presence_sets(&self, port: u16) -> Option<Vec<Vec<String>>> {
        let keys: Vec<String> =
            match query(port, redis::cmd("KEYS").arg("parley:{presence}:*")).await? {
                Value::Array(keys) => keys
                    .iter()
                    .filter_map(|k| redis::from_redis_value(k).ok())
                    .collect(),
                _ => return None,
            };
        let mut sets = Vec::new();
        for key in keys {
            let members = query(port, redis::cmd("SMEMBERS").arg(&key)).await?;
            let members: Vec<String> = match members {
                Value::Array(m) | Value::Set(m) => m
                    .iter()
                    .filter_map(|v| redis::from_redis_value(v).ok())
                    .collect(),
                _ => return None,
            };
            sets.push(members);
        }
        Some(sets)
    }

    /// Waits (bounded) until the replica at `port` is a master serving
    /// its slots; if the automatic failover is slow, forces it (`CLUSTER
    /// FAILOVER TAKEOVER`). Returns whether it was forced.
    pub async fn wait_promoted(&mut self, port: u16) -> bool {
        let is_master = || async move {
            let role = query(port, &redis::cmd("ROLE")).await;
            let master = matches!(&role, Some(Value::Array(v))
                if matches!(v.first(), Some(Value::BulkString(b)) if b == b"master"));
            let info = query_text(port, redis::cmd("CLUSTER").arg("INFO"))
                .await
                .unwrap_or_default();
            master && info.contains("cluster_state:ok")
        };
        if wait_for(Duration::from_secs(8), is_master).await {
            return false;
        }
        query(port, redis::cmd("CLUSTER").arg("FAILOVER").arg("TAKEOVER")).await;
        assert!(
            wait_for(Duration::from_secs(20), is_master).await,
            "the replica at {port} never became a master"
        );
        true
    }
}

/// Polls `check` every 100 ms until it holds or `within` passes.
pub async fn wait_for<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        sleep(Duration::from_millis(100)).await;
    }
}

// --------------------------------------------------------------- setup ---

pub struct Deployment {
    pub instances: Vec<Instance>,
    pub redis: RedisCluster,
    pub database_url: String,
    // Dropped last: the guards above print their logs from it.
    _dir: TempDir,
}

/// Two instances relaying through a fresh cluster, found through one seed.
pub async fn deploy() -> Deployment {
    let dir = TempDir::new("sharded");
    let redis = RedisCluster::start(dir.path()).await;
    let shared = Shared {
        database_url: fresh_database().await,
        redis_url: String::new(),
        dir: dir.path().to_path_buf(),
    };
    let seeds = redis.seeds(1);
    let env = [("REDIS_CLUSTER_NODES", seeds.as_str())];
    let instances = futures_util::future::join_all(
        ["parley-1", "parley-2"].map(|name| Instance::start_with(name, &shared, &env)),
    )
    .await;
    Deployment {
        instances,
        redis,
        database_url: shared.database_url,
        _dir: dir,
    }
}

pub fn room_channel(id: i64) -> String {
    format!("parley:room:{id}")
}

fn sender(name: &str, port: u16, token: &str, room: &str, count: usize) -> SenderPlan {
    SenderPlan {
        name: name.into(),
        endpoints: vec![port],
        token: token.into(),
        room: room.into(),
        count: Some(count),
        window: 4,
        pace: Duration::from_millis(5),
    }
}

// --------------------------------------------------------------- tests ---

/// Rooms whose channels hash to different shards: senders on both
/// instances, subscribers on both; each subscriber gets its room's messages
/// exactly once in order, each room's channel is subscribed on its own
/// shard only (sharded, not classic, pub/sub), and each instance holds one
/// subscriber connection per shard, however many rooms it carries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_on_different_shards_are_relayed_exactly_once_in_order() {
    const PER_SENDER: usize = 25;
    let mut d = deploy().await;
    let (a, b) = (d.instances[0].port, d.instances[1].port);
    let tokens: Vec<String> =
        futures_util::future::join_all(["alice", "bob"].map(|u| http::signup(a, u))).await;

    // Eight rooms over three shards: two share a shard (pigeonhole), and
    // another shard has one unless all eight share one (then fail loudly).
    let mut by_master: BTreeMap<u16, Vec<(String, i64)>> = BTreeMap::new();
    for n in 0..8 {
        let name = format!("room-{n}");
        http::create_room(a, &tokens[0], &name).await;
        let id = room_id(&d.database_url, &name).await;
        let master = d.redis.master_of(&room_channel(id)).await;
        by_master.entry(master).or_default().push((name, id));
    }
    let (shared_master, pair) = by_master
        .iter()
        .find(|(_, rooms)| rooms.len() >= 2)
        .map(|(m, r)| (*m, r[..2].to_vec()))
        .expect("two of eight rooms share one of three shards");
    let (other_master, single) = by_master
        .iter()
        .find(|(m, _)| **m != shared_master)
        .map(|(m, r)| (*m, r[0].clone()))
        .expect("the rooms hash to more than one shard");
    let rooms = [pair[0].clone(), pair[1].clone(), single.clone()];
    eprintln!("rooms {rooms:?}: shards {shared_master}, {shared_master}, {other_master}");

    // A subscriber of each room on each instance.
    let mut subscribers = Vec::new();
    for (room, _) in &rooms {
        for (i, port) in [a, b].into_iter().enumerate() {
            subscribers.push(
                spawn_subscriber(SubscriberPlan {
                    name: format!("{room}-on-{}", i + 1),
                    endpoints: vec![port],
                    token: tokens[1].clone(),
                    room: room.clone(),
                })
                .await,
            );
        }
    }

    // Into each room, a sender on each instance, all at once.
    let (_phase, phase) = watch::channel(0u8);
    let mut senders = Vec::new();
    for (room, _) in &rooms {
        for (i, port) in [a, b].into_iter().enumerate() {
            let name = format!("alice-{room}-on-{}", i + 1);
            let plan = sender(&name, port, &tokens[0], room, PER_SENDER);
            senders.push(spawn_sender(plan, phase.clone()));
        }
    }
    for s in senders {
        let report = s.finish().await;
        assert_eq!(
            report.receipted().count(),
            PER_SENDER,
            "{}: every SEND receipted; closes {:?}, errors {:?}",
            report.name,
            report.closes,
            report.errors
        );
    }
    // While the subscribers are connected, each room's channel lives on its
    // own shard, subscribed once per instance, and nowhere else; nothing
    // uses classic pub/sub.
    let masters = d.redis.masters().await;
    assert_eq!(masters.len(), 3, "three masters");
    for (room, id) in &rooms {
        let channel = room_channel(*id);
        let owner = d.redis.master_of(&channel).await;
        for &m in &masters {
            let expected = if m == owner { 2 } else { 0 };
            assert_eq!(
                d.redis.shard_subscribers(m, &channel).await,
                Some(expected),
                "{room}: SSUBSCRIBEd by both instances on its master {owner} only (asked {m})"
            );
            assert_eq!(
                d.redis.classic_subscribers(m, &channel).await,
                Some(0),
                "{room}: no classic SUBSCRIBE on {m}"
            );
        }
    }
    // One connection per shard per instance: on the shard carrying two of
    // the rooms, two subscriber connections (one per instance), each with
    // both rooms (and the signals channel, if it hashes there).
    let signals_here = d.redis.master_of("parley:signals").await == shared_master;
    let expected = 2 + i64::from(signals_here);
    assert_eq!(
        d.redis.shard_subscriber_clients(shared_master).await,
        vec![expected, expected],
        "shard {shared_master}: one subscriber connection per instance carrying all its channels"
    );
    for port in [a, b] {
        assert_eq!(
            http::readyz(port).await,
            Some(200),
            "instance {port} is ready"
        );
    }
    // Presence: each instance's set, both on the one shard of the
    // `{presence}` hash tag, each holding bob (subscribed on both).
    let presence_master = d.redis.master_of("parley:{presence}:any").await;
    let redis = &d.redis;
    assert!(
        wait_for(Duration::from_secs(15), || async move {
            redis
                .presence_sets(presence_master)
                .await
                .is_some_and(|sets| {
                    sets.len() == 2
                        && sets
                            .iter()
                            .all(|members| members.iter().any(|m| m.ends_with(":bob")))
                })
        })
        .await,
        "two presence sets with bob on {presence_master}: {:?}",
        d.redis.presence_sets(presence_master).await
    );

    let per_room = 2 * PER_SENDER as i64;
    for s in subscribers {
        s.finish(per_room).await.assert_complete(per_room);
    }

    // Rooms left without local subscribers are unsubscribed (SUNSUBSCRIBE).
    for (room, id) in &rooms {
        let channel = room_channel(*id);
        let owner = d.redis.master_of(&channel).await;
        let (redis, ch) = (&d.redis, channel.as_str());
        assert!(
            wait_for(Duration::from_secs(10), || async move {
                redis.shard_subscribers(owner, ch).await == Some(0)
            })
            .await,
            "{room}: unsubscribed once its subscribers left"
        );
    }
}

/// A master SIGKILLed while clients send with receipts: its replica takes
/// over, both instances resubscribe the room on the new master, every
/// receipted message reaches the other instance's subscriber exactly once in
/// order, and messages sent after the failover are delivered live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_master_killed_while_clients_send_loses_no_receipted_message() {
    const BEFORE: usize = 60;
    const AFTER: usize = 20;
    let mut d = deploy().await;
    let (a, b) = (d.instances[0].port, d.instances[1].port);
    let tokens: Vec<String> =
        futures_util::future::join_all(["alice", "bob"].map(|u| http::signup(a, u))).await;
    http::create_room(a, &tokens[0], "lobby").await;
    let channel = room_channel(room_id(&d.database_url, "lobby").await);
    let master = d.redis.master_of(&channel).await;
    let replica = d.redis.replica_of(master).await;

    let on_a = spawn_subscriber(SubscriberPlan {
        name: "subscriber-on-a".into(),
        endpoints: vec![a],
        token: tokens[1].clone(),
        room: "lobby".into(),
    })
    .await;
    let on_b = spawn_subscriber(SubscriberPlan {
        name: "subscriber-on-b".into(),
        endpoints: vec![b],
        token: tokens[1].clone(),
        room: "lobby".into(),
    })
    .await;
    let (redis, ch) = (&d.redis, channel.as_str());
    assert!(
        wait_for(Duration::from_secs(10), || async move {
            redis.shard_subscribers(master, ch).await == Some(2)
        })
        .await,
        "both instances SSUBSCRIBE the room on its master {master}"
    );

    // Senders on both instances; the room's master dies a quarter in.
    let (_phase, phase) = watch::channel(0u8);
    let slow = |name: &str, port: u16| SenderPlan {
        pace: Duration::from_millis(20),
        ..sender(name, port, &tokens[0], "lobby", BEFORE)
    };
    let mut on_a_sender = spawn_sender(slow("alice-on-a", a), phase.clone());
    let on_b_sender = spawn_sender(slow("alice-on-b", b), phase.clone());
    on_a_sender
        .wait_receipts(BEFORE / 4, Duration::from_secs(30))
        .await;
    d.redis.kill(master);
    // Not ready while the room's shard is away (the replica needs more
    // than the node timeout to take over).
    let not_ready = |port: u16| {
        wait_for(Duration::from_secs(5), move || async move {
            http::readyz(port).await == Some(503)
        })
    };
    let (a_down, b_down) = tokio::join!(not_ready(a), not_ready(b));
    assert!(
        a_down && b_down,
        "/readyz is 503 on both instances while the shard is away"
    );
    let forced = d.redis.wait_promoted(replica).await;
    eprintln!("master {master} killed; replica {replica} promoted (forced: {forced})");

    for s in [on_a_sender, on_b_sender] {
        let report = s.finish().await;
        assert_eq!(
            report.receipted().count(),
            BEFORE,
            "{}: every SEND receipted (the database, not Redis, makes it durable); closes {:?}, errors {:?}",
            report.name,
            report.closes,
            report.errors
        );
        assert!(
            report.closes.is_empty(),
            "{}: the client's connection is not affected",
            report.name
        );
    }

    // Both instances resubscribe on the new master and are ready again.
    let (redis, ch) = (&d.redis, channel.as_str());
    assert!(
        wait_for(Duration::from_secs(20), || async move {
            redis.shard_subscribers(replica, ch).await == Some(2)
        })
        .await,
        "both instances SSUBSCRIBE the room on the promoted replica {replica}"
    );
    for port in [a, b] {
        assert!(
            wait_for(Duration::from_secs(20), || async move {
                http::readyz(port).await == Some(200)
            })
            .await,
            "instance {port} is ready again after the failover"
        );
    }

    // Delivery resumes: more messages from both sides, after the failover.
    let (_phase, phase) = watch::channel(1u8);
    let after: Vec<_> = [("alice-after-on-a", a), ("alice-after-on-b", b)]
        .into_iter()
        .map(|(name, port)| {
            spawn_sender(
                sender(name, port, &tokens[0], "lobby", AFTER),
                phase.clone(),
            )
        })
        .collect();
    for s in after {
        let report = s.finish().await;
        assert_eq!(
            report.receipted().count(),
            AFTER,
            "{}: receipted",
            report.name
        );
    }

    let total = (2 * (BEFORE + AFTER)) as i64;
    let history = http::history(a, &tokens[0], "lobby").await;
    assert_eq!(history.len(), total as usize, "history holds every message");
    let by_seq: HashMap<i64, &serde_json::Value> = history
        .iter()
        .map(|m| (m["seq"].as_i64().unwrap(), m))
        .collect();
    for s in [on_a, on_b] {
        let report = s.finish(total).await;
        report.assert_complete(total);
        assert!(
            report.closes.is_empty(),
            "{}: stayed connected; everything came through the relay or its catch-up",
            report.name
        );
        for got in &report.received {
            assert_eq!(&got.message, by_seq[&got.seq], "{}", report.name);
        }
    }
}

/// Access revoked on one instance, in a room whose channel is on another
/// shard than the signals channel: bob's subscription on the other instance
/// gets `access_revoked` and nothing after it, while carol there gets every
/// message sent right after the removal, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_cuts_the_room_off_on_the_other_instance_across_shards() {
    use reqwest::Method;
    use serde_json::json;
    use stomp_client::{Event, Frame, StompClient};

    const AFTER: usize = 10;
    let mut d = deploy().await;
    let (a, b) = (d.instances[0].port, d.instances[1].port);
    let alice = http::signup(a, "alice").await;
    let bob = http::signup(b, "bob").await;
    let carol = http::signup(b, "carol").await;
    let signals = d.redis.master_of("parley:signals").await;
    let mut room = None;
    for n in 0..12 {
        let name = format!("team-{n}");
        let (s, body) = http::call(
            a,
            Method::POST,
            "/api/v1/rooms",
            &alice,
            Some(json!({"name": name, "private": true})),
        )
        .await;
        assert_eq!(s, 201, "{body}");
        let id = room_id(&d.database_url, &name).await;
        if d.redis.master_of(&room_channel(id)).await != signals {
            room = Some(name);
            break;
        }
    }
    let room = room.expect("one of twelve rooms is off the signals shard");
    for u in ["bob", "carol"] {
        let path = format!("/api/v1/rooms/{room}/members");
        let (s, body) =
            http::call(a, Method::POST, &path, &alice, Some(json!({"username": u}))).await;
        assert_eq!(s, 200, "add {u}: {body}");
    }
    let mut bob_stomp = StompClient::connect(b, &bob).await;
    bob_stomp.subscribe("b", &room).await;
    let mut carol_stomp = StompClient::connect(b, &carol).await;
    carol_stomp.subscribe("c", &room).await;
    let mut alice_stomp = StompClient::connect(a, &alice).await;

    // Removed on A, then messages at once on A: on B, bob's subscription
    // ends with access_revoked before any of them.
    let path = format!("/api/v1/rooms/{room}/members/bob");
    let (s, body) = http::call(a, Method::DELETE, &path, &alice, None).await;
    assert!(s == 200 || s == 204, "remove bob: {s} {body}");
    for i in 0..AFTER {
        let receipt = alice_stomp
            .send_chat(&room, &format!("after {i}"), &format!("r{i}"))
            .await;
        assert_eq!(receipt.seq(), i as i64 + 1);
    }
    let mut frames: Vec<Frame> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match bob_stomp.next_event(left).await {
            Some(Event::Frame(f)) => {
                let last = f.header("event-type").as_deref() == Some("access_revoked");
                frames.push(f);
                if last {
                    break;
                }
            }
            other => panic!("bob on B: no access_revoked ({other:?}); frames {frames:?}"),
        }
    }
    assert_eq!(
        frames.len(),
        1,
        "bob: nothing before access_revoked: {frames:?}"
    );
    assert_eq!(
        frames[0].json(),
        json!({"type": "access_revoked", "room": room, "reason": "removed"})
    );
    bob_stomp
        .expect_no_frame_for(Duration::from_millis(700))
        .await;
    let got = carol_stomp.expect_messages(AFTER).await;
    assert_eq!(
        got.iter().map(Frame::seq).collect::<Vec<_>>(),
        (1..=AFTER as i64).collect::<Vec<_>>(),
        "carol on B gets every message, once, in order"
    );
    carol_stomp
        .expect_no_frame_for(Duration::from_millis(100))
        .await;
}

/// A room's slot moved to another master (resharding) while a client
/// sends: both instances resubscribe the room on its new master, and both
/// subscribers get every message exactly once in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_to_another_master_is_resubscribed_there() {
    const BEFORE: usize = 40;
    const AFTER: usize = 10;
    let mut d = deploy().await;
    let (a, b) = (d.instances[0].port, d.instances[1].port);
    let tokens: Vec<String> =
        futures_util::future::join_all(["alice", "bob"].map(|u| http::signup(a, u))).await;
    http::create_room(a, &tokens[0], "lobby").await;
    let channel = room_channel(room_id(&d.database_url, "lobby").await);
    let from = d.redis.master_of(&channel).await;
    let to = *d
        .redis
        .masters()
        .await
        .iter()
        .find(|&&m| m != from)
        .expect("another master");

    let mut subscribers = Vec::new();
    for (i, port) in [a, b].into_iter().enumerate() {
        subscribers.push(
            spawn_subscriber(SubscriberPlan {
                name: format!("subscriber-on-{}", i + 1),
                endpoints: vec![port],
                token: tokens[1].clone(),
                room: "lobby".into(),
            })
            .await,
        );
    }
    let (redis, ch) = (&d.redis, channel.as_str());
    assert!(
        wait_for(Duration::from_secs(10), || async move {
            redis.shard_subscribers(from, ch).await == Some(2)
        })
        .await,
        "both instances SSUBSCRIBE the room on {from}"
    );

    let (_phase, phase) = watch::channel(0u8);
    let mut sending = spawn_sender(
        SenderPlan {
            pace: Duration::from_millis(20),
            ..sender("alice-on-a", a, &tokens[0], "lobby", BEFORE)
        },
        phase.clone(),
    );
    sending
        .wait_receipts(BEFORE / 4, Duration::from_secs(30))
        .await;
    d.redis.move_slot_of(&channel, to).await;
    let report = sending.finish().await;
    assert_eq!(
        report.receipted().count(),
        BEFORE,
        "{}: receipted",
        report.name
    );

    let (redis, ch) = (&d.redis, channel.as_str());
    assert!(
        wait_for(Duration::from_secs(15), || async move {
            redis.shard_subscribers(to, ch).await == Some(2)
                && redis.shard_subscribers(from, ch).await == Some(0)
        })
        .await,
        "both instances moved their SSUBSCRIBE from {from} to {to}"
    );
    let report = spawn_sender(sender("alice-on-b", b, &tokens[0], "lobby", AFTER), phase)
        .finish()
        .await;
    assert_eq!(
        report.receipted().count(),
        AFTER,
        "{}: receipted",
        report.name
    );

    let total = (BEFORE + AFTER) as i64;
    for s in subscribers {
        let report = s.finish(total).await;
        report.assert_complete(total);
        assert!(
            report.closes.is_empty(),
            "{}: stayed connected",
            report.name
        );
    }
}
