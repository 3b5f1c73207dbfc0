//! Which master of a Redis Cluster owns which hash slots, as `CLUSTER
//! SLOTS` tells it, and how to reach a node. Read at start and again
//! whenever a shard connection fails, a slot answers `MOVED`, or a periodic
//! check finds a slot owned elsewhere (docs/SCALING.md, "Redis Cluster:
//! sharded pub/sub").

use std::time::Duration;

use redis::Value;

/// Slot ranges and the address (`host:port`) of each range's master.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    /// Sorted by start, not overlapping.
    ranges: Vec<(u16, u16, String)>,
    /// Every node named (masters and replicas), to ask next time.
    nodes: Vec<String>,
}

impl Topology {
    /// From a `CLUSTER SLOTS` reply; `asked` is the node that answered (a
    /// node with an empty address is that one, as the command documents).
    pub fn parse(reply: &Value, asked: &str) -> Result<Topology, String> {
        let Value::Array(entries) = reply else {
            return Err(format!("CLUSTER SLOTS answered {reply:?}"));
        };
        let asked_host = asked.rsplit_once(':').map_or(asked, |(h, _)| h);
        let mut topology = Topology::default();
        for entry in entries {
            let Value::Array(fields) = entry else {
                return Err(format!("a slot range is {entry:?}"));
            };
            let (start, end) = match fields.as_slice() {
                [Value::Int(s), Value::Int(e), ..] => (*s, *e),
                _ => return Err(format!("a slot range is {entry:?}")),
            };
            let (Ok(start), Ok(end)) = (u16::try_from(start), u16::try_from(end)) else {
                return Err(format!("slot range {start}-{end} is out of bounds"));
            };
            if start > end || end >= super::slot::SLOTS {
                return Err(format!("slot range {start}-{end} is out of bounds"));
            }
            let mut addrs = fields[2..].iter().map(|node| node_addr(node, asked_host));
            let master = addrs
                .next()
                .ok_or_else(|| format!("slot range {start}-{end} has no master"))??;
            for addr in addrs {
                topology.remember(addr?);
            }
            topology.remember(master.clone());
            topology.ranges.push((start, end, master));
        }
        topology.ranges.sort_unstable_by_key(|r| r.0);
        if topology.ranges.windows(2).any(|w| w[0].1 >= w[1].0) {
            return Err("CLUSTER SLOTS has overlapping ranges".into());
        }
        Ok(topology)
    }

    fn remember(&mut self, addr: String) {
        if !self.nodes.contains(&addr) {
            self.nodes.push(addr);
        }
    }

    /// The master owning `slot`, if any range covers it.
    pub fn master_of(&self, slot: u16) -> Option<&str> {
        let i = self.ranges.partition_point(|r| r.0 <= slot);
        let (start, end, master) = self.ranges.get(i.checked_sub(1)?)?;
        (*start <= slot && slot <= *end).then_some(master.as_str())
    }

    /// Every node it names, masters and replicas.
    pub fn nodes(&self) -> &[String] {
        &self.nodes
    }
}

/// `host:port` of a node entry `[host, port, id, ...]`.
fn node_addr(node: &Value, asked_host: &str) -> Result<String, String> {
    let Value::Array(fields) = node else {
        return Err(format!("a node is {node:?}"));
    };
    let host = match fields.first() {
        Some(Value::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Value::SimpleString(s)) => s.clone(),
        _ => return Err(format!("a node is {node:?}")),
    };
    let Some(Value::Int(port)) = fields.get(1) else {
        return Err(format!("a node is {node:?}"));
    };
    let host = if host.is_empty() || host == "?" {
        asked_host.to_string()
    } else {
        host
    };
    Ok(format!("{host}:{port}"))
}

/// A client for the node at `host:port`, speaking RESP3 (which sharded
/// pub/sub needs to share a connection with commands and to report the
/// server's `sunsubscribe`).
pub fn client(addr: &str) -> redis::RedisResult<redis::Client> {
    let (host, port) = split_addr(addr).map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "bad node", e))
    })?;
    redis::Client::open(redis::ConnectionInfo {
        addr: redis::ConnectionAddr::Tcp(host.to_string(), port),
        redis: redis::RedisConnectionInfo {
            protocol: redis::ProtocolVersion::RESP3,
            ..Default::default()
        },
    })
}

/// `host:port` (a bracketed IPv6 host allowed) split in two.
pub fn split_addr(addr: &str) -> Result<(&str, u16), String> {
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| format!("{addr:?} is not host:port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{addr:?} has no host"));
    }
    let port = port
        .parse::<u16>()
        .ok()
        .filter(|&p| p != 0)
        .ok_or_else(|| format!("{addr:?} has no valid port"))?;
    Ok((host, port))
}

/// Asks each of `candidates` in turn for the slot map until one answers
/// with every slot covered; returns it and the node that answered.
pub async fn fetch(
    candidates: &[String],
    timeout: Duration,
) -> redis::RedisResult<(Topology, String)> {
    let mut last = None;
    for addr in candidates {
        let attempt = async {
            let mut conn = client(addr)?.get_multiplexed_async_connection().await?;
            let reply: Value = redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async(&mut conn)
                .await?;
            Topology::parse(&reply, addr).map_err(|e| {
                redis::RedisError::from((redis::ErrorKind::ParseError, "CLUSTER SLOTS", e))
            })
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(t)) if t.covers_every_slot() => return Ok((t, addr.clone())),
            Ok(Ok(_)) => last = Some(format!("{addr}: not every slot is served")),
            Ok(Err(e)) => last = Some(format!("{addr}: {e}")),
            Err(_) => last = Some(format!("{addr}: timed out")),
        }
    }
    Err(redis::RedisError::from((
        redis::ErrorKind::IoError,
        "no cluster node answered CLUSTER SLOTS",
        last.unwrap_or_default(),
    )))
}

impl Topology {
    fn covers_every_slot(&self) -> bool {
        let mut next = 0u32;
        for (start, end, _) in &self.ranges {
            if u32::from(*start) != next {
                return false;
            }
            next = u32::from(*end) + 1;
        }
        next == u32::from(super::slot::SLOTS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(host: &str, port: i64, id: &str) -> Value {
        Value::Array(vec![
            Value::BulkString(host.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(id.as_bytes().to_vec()),
        ])
    }

    fn range(start: i64, end: i64, nodes: Vec<Value>) -> Value {
        let mut fields = vec![Value::Int(start), Value::Int(end)];
        fields.extend(nodes);
        Value::Array(fields)
    }

    fn three_shards() -> Value {
        Value::Array(vec![
            range(
                10923,
                16383,
                vec![node("10.0.0.3", 7002, "c"), node("10.0.0.6", 7005, "f")],
            ),
            range(
                0,
                5460,
                vec![node("10.0.0.1", 7000, "a"), node("10.0.0.4", 7003, "d")],
            ),
            range(
                5461,
                10922,
                vec![node("", 7001, "b"), node("10.0.0.5", 7004, "e")],
            ),
        ])
    }

    #[test]
    fn masters_are_found_by_slot() {
        let t = Topology::parse(&three_shards(), "10.0.0.2:7001").unwrap();
        assert_eq!(t.master_of(0), Some("10.0.0.1:7000"));
        assert_eq!(t.master_of(5460), Some("10.0.0.1:7000"));
        // An empty host is the node that answered.
        assert_eq!(t.master_of(5461), Some("10.0.0.2:7001"));
        assert_eq!(t.master_of(16383), Some("10.0.0.3:7002"));
        assert_eq!(t.master_of(16384), None);
        assert!(t.covers_every_slot());
        assert_eq!(t.nodes().len(), 6);
        assert!(t.nodes().contains(&"10.0.0.6:7005".to_string()));
    }

    #[test]
    fn a_gap_is_not_full_coverage_and_its_slots_have_no_master() {
        let reply = Value::Array(vec![
            range(0, 99, vec![node("h", 1, "a")]),
            range(200, 16383, vec![node("h", 2, "b")]),
        ]);
        let t = Topology::parse(&reply, "h:1").unwrap();
        assert_eq!(t.master_of(150), None);
        assert_eq!(t.master_of(99), Some("h:1"));
        assert!(!t.covers_every_slot());
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(Topology::parse(&Value::Nil, "h:1").is_err());
        let no_master = Value::Array(vec![range(0, 16383, vec![])]);
        assert!(Topology::parse(&no_master, "h:1").is_err());
        let beyond = Value::Array(vec![range(0, 16384, vec![node("h", 1, "a")])]);
        assert!(Topology::parse(&beyond, "h:1").is_err());
        let overlap = Value::Array(vec![
            range(0, 100, vec![node("h", 1, "a")]),
            range(100, 16383, vec![node("h", 2, "b")]),
        ]);
        assert!(Topology::parse(&overlap, "h:1").is_err());
    }

    #[test]
    fn addresses_split() {
        assert_eq!(split_addr("127.0.0.1:7000"), Ok(("127.0.0.1", 7000)));
        assert_eq!(split_addr("[::1]:7000"), Ok(("::1", 7000)));
        assert!(split_addr("127.0.0.1").is_err());
        assert!(split_addr(":7000").is_err());
        assert!(split_addr("h:0").is_err());
        assert!(split_addr("h:port").is_err());
    }
}
