//! Several `parley` processes sharing one Postgres and one Redis, some behind
//! nginx: the README, "Deploying", as a deployment sees them.
//!
//! Unlike `tests/api`, nothing here runs in-process: every test spawns the
//! real server binary (`PARLEY_BIN`, built by `scripts/test`), its own
//! `redis-server` (so stopping it hurts no other test), a fresh Postgres
//! database (from `TEST_DATABASE_URL`) and, where the balancer matters,
//! nginx (`NGINX_BIN`) configured from `deploy/nginx.conf`. Clients speak raw
//! STOMP frames through `stomp_client`. Every process is killed when its
//! guard drops, every wait is bounded, and all traffic stays on 127.0.0.1.

mod actors;
mod cluster;
mod http;

mod administration;
mod awareness;
mod catch_up;
mod churn;
mod failover;
mod files;
mod idle;
mod membership;
mod notifications;
mod profiles;
mod redis_outage;
mod relay;
mod room_list;
mod room_log;
mod sessions;
mod sharded;
mod shutdown;
mod threads;
mod webhooks;
