//! Back to idle after faults (BENCHMARKS.md, "Idle after faults"): once
//! Redis restarted, an instance was SIGKILLed or a Redis Cluster master
//! failed over, and no client is connected any more, the surviving
//! instances and Redis go back to almost no CPU within 30 s. Read from the
//! outside: utime + stime of each process in `/proc/PID/stat`, over 20 s.

use std::time::Duration;

use tokio::time::{Instant, sleep};

use crate::cluster::{Cluster, room_id};
use crate::http;
use crate::sharded::{deploy, room_channel, wait_for};
use stomp_client::StompClient;

/// Longest wait for the processes to settle after a fault.
const SETTLE_WITHIN: Duration = Duration::from_secs(30);
/// Window of one settle check while waiting.
const PROBE: Duration = Duration::from_secs(5);
/// Window of the measurement that is asserted.
const MEASURE: Duration = Duration::from_secs(20);
/// The bound: 1% of one core. No margin is added: a process's own CPU time
/// does not grow when the machine is busy (only its wall-clock latency
/// does), and an idle instance spends about 0.1%.
const MAX_SHARE: f64 = 0.01;

/// Clock ticks per second of `/proc/PID/stat` (`getconf CLK_TCK`).
fn clock_ticks() -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("run getconf CLK_TCK");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("CLK_TCK is a number")
}

/// utime + stime of `pid`, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| panic!("read /proc/{pid}/stat: {e}"));
    // The command name (field 2) may hold spaces: fields after its ')'.
    let after = &stat[stat.rfind(')').expect("comm ends with ')'") + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    // Fields 14 and 15 of proc(5); `after` starts at field 3.
    let field = |n: usize| -> u64 { fields[n - 3].parse().expect("a tick count") };
    field(14) + field(15)
}

/// The share of one core each process used over `window`.
async fn cpu_shares(processes: &[(String, u32)], window: Duration) -> Vec<(String, f64)> {
    let hz = clock_ticks();
    let before: Vec<u64> = processes.iter().map(|&(_, pid)| cpu_ticks(pid)).collect();
    let start = Instant::now();
    sleep(window).await;
    let elapsed = start.elapsed().as_secs_f64();
    processes
        .iter()
        .zip(before)
        .map(|((name, pid), b)| {
            let used = (cpu_ticks(*pid) - b) as f64 / hz;
            (name.clone(), used / elapsed)
        })
        .collect()
}

/// Waits (up to [`SETTLE_WITHIN`]) until every process stays under the
/// bound for a [`PROBE`], then measures [`MEASURE`] and asserts each one.
async fn assert_back_to_idle(fault: &str, processes: &[(String, u32)]) {
    let deadline = Instant::now() + SETTLE_WITHIN;
    let settled_after = Instant::now();
    while Instant::now() < deadline {
        let shares = cpu_shares(processes, PROBE).await;
        eprintln!("{fault}: settling, CPU per process over {PROBE:?}: {shares:.4?}");
        if shares.iter().all(|(_, s)| *s < MAX_SHARE) {
            break;
        }
    }
    eprintln!(
        "{fault}: settled (or gave up) after {:?}",
        settled_after.elapsed()
    );
    let shares = cpu_shares(processes, MEASURE).await;
    eprintln!("{fault}: CPU per process over {MEASURE:?}: {shares:.4?}");
    for (name, share) in &shares {
        assert!(
            *share < MAX_SHARE,
            "{fault}: {name} used {:.2}% of a core over {MEASURE:?} with no client \
             (at most {:.0}%); all: {shares:.4?}",
            share * 100.0,
            MAX_SHARE * 100.0
        );
    }
}

/// Some traffic on every instance (a subscriber each, messages sent to the
/// room from each), so each carries a room, presence and relay state; the
/// clients stay connected and are returned.
async fn traffic(ports: &[u16]) -> Vec<StompClient> {
    let token = http::signup(ports[0], "alice").await;
    http::create_room(ports[0], &token, "lobby").await;
    let mut clients = Vec::new();
    for (i, &port) in ports.iter().enumerate() {
        let mut c = StompClient::connect(port, &token).await;
        c.subscribe(&format!("sub-{i}"), "lobby").await;
        clients.push(c);
    }
    for (i, c) in clients.iter_mut().enumerate() {
        c.send_chat("lobby", &format!("hello from {i}"), &format!("r-{i}"))
            .await;
    }
    // Each subscriber sees every message (relayed between instances).
    for c in &mut clients {
        c.expect_messages(ports.len()).await;
    }
    clients
}

/// The probe itself: the CPU a spinning process uses shows in its ticks
/// (so the bounds below can fail). It spins until half a second of CPU
/// is counted, bounded by 10 s of wall time on a busy machine.
#[test]
fn the_cpu_probe_sees_a_busy_process() {
    let pid = std::process::id();
    let half_second = (clock_ticks() / 2.0) as u64;
    let before = cpu_ticks(pid);
    let start = std::time::Instant::now();
    let mut x: u64 = 0;
    let mut counted = 0;
    while start.elapsed() < Duration::from_secs(10) && counted < half_second {
        for _ in 0..1_000_000 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
        counted = cpu_ticks(pid) - before;
    }
    assert!(
        counted >= half_second,
        "spinning for {:?} shows as {counted} ticks of CPU (wanted {half_second})",
        start.elapsed()
    );
}

/// Every client goes away: the first closes politely, the others just
/// drop their socket (as the clients of an interrupted test run do).
async fn leave(mut clients: Vec<StompClient>) {
    let polite = clients.remove(0);
    polite.close().await;
    drop(clients);
}

/// Redis restarted while clients were connected, then every client left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_redis_are_idle_after_redis_restarted() {
    let mut cluster = Cluster::start(3).await;
    let ports = cluster.ports();
    let clients = traffic(&ports).await;

    cluster.redis.stop();
    for &port in &ports {
        let seen = http::readyz_until(port, Duration::from_secs(15), |s| s == Some(503)).await;
        assert!(seen.is_ok(), "/readyz on {port} turns 503 without Redis");
    }
    sleep(Duration::from_secs(3)).await;
    cluster.redis.restart().await;
    for &port in &ports {
        let seen = http::readyz_until(port, Duration::from_secs(30), |s| s == Some(200)).await;
        assert!(
            seen.is_ok(),
            "/readyz on {port} is 200 again after Redis returned"
        );
    }
    leave(clients).await;

    let mut processes: Vec<(String, u32)> = cluster
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| (format!("parley-{}", i + 1), inst.pid()))
        .collect();
    processes.push(("redis-server".into(), cluster.redis.pid()));
    assert_back_to_idle("after Redis restarted", &processes).await;
}

/// One instance SIGKILLed while clients were connected, then every client
/// left: its presence set expires, the others forget it and settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_redis_are_idle_after_an_instance_was_sigkilled() {
    let mut cluster = Cluster::start(3).await;
    let ports = cluster.ports();
    let mut clients = traffic(&ports).await;

    cluster.instances[0].sigkill();
    let on_killed = clients.remove(0);
    drop(on_killed);
    leave(clients).await;

    // The killed instance's presence set outlives it by its TTL (30 s):
    // the survivors' sweeps then find it gone and forget its users. The
    // survivors' own sets are empty (no client), so none is left.
    let presence_gone = async {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let keys = cluster.redis.command("KEYS parley:presence:*").await;
            if keys.as_deref().is_some_and(|k| k.starts_with("*0")) {
                return true;
            }
            sleep(Duration::from_millis(500)).await;
        }
        false
    };
    assert!(
        presence_gone.await,
        "the killed instance's presence set expires within 60 s"
    );

    let mut processes: Vec<(String, u32)> = cluster.instances[1..]
        .iter()
        .enumerate()
        .map(|(i, inst)| (format!("parley-{}", i + 2), inst.pid()))
        .collect();
    processes.push(("redis-server".into(), cluster.redis.pid()));
    assert_back_to_idle("after an instance was SIGKILLed", &processes).await;
}

/// A Redis Cluster master killed while clients were connected and its
/// replica promoted, then every client left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_redis_cluster_are_idle_after_a_failover() {
    let mut d = deploy().await;
    let ports: Vec<u16> = d.instances.iter().map(|i| i.port).collect();
    let clients = traffic(&ports).await;
    let channel = room_channel(room_id(&d.database_url, "lobby").await);
    let master = d.redis.master_of(&channel).await;
    let replica = d.redis.replica_of(master).await;

    d.redis.kill(master);
    let forced = d.redis.wait_promoted(replica).await;
    eprintln!("master {master} killed; replica {replica} promoted (forced: {forced})");
    for &port in &ports {
        let ready = wait_for(Duration::from_secs(30), move || async move {
            http::readyz(port).await == Some(200)
        })
        .await;
        assert!(ready, "/readyz on {port} is 200 again after the failover");
    }
    leave(clients).await;

    let mut processes: Vec<(String, u32)> = d
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| (format!("parley-{}", i + 1), inst.pid()))
        .collect();
    for (port, pid) in d.redis.live_pids() {
        processes.push((format!("redis-server :{port}"), pid));
    }
    assert_back_to_idle("after a Redis Cluster failover", &processes).await;
}
