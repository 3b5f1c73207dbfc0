//! Black-box tests: the real app on 127.0.0.1:0, real Postgres and SQLite.
mod db;
mod delivery;
mod group_commit;
mod hardening_auth;
mod helpers;
mod wrapped_store;

mod auth;
mod auth_session;
mod awareness;
mod bots;
mod client_config;
mod hardening_http;
mod health;
mod history;
mod http_chat;
mod input;
mod membership;
mod metrics;
mod openapi;
mod retention;
mod room_log;
mod rooms;
mod search;
mod stomp;
mod store;
mod webhooks;
