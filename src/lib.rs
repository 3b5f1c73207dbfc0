//! Parley: authenticated, persistent chat over STOMP 1.2 / WebSocket and HTTP.

pub mod access;
pub mod auth;
pub mod broker;
pub mod chat;
pub mod committer;
pub mod config;
pub mod connections;
pub mod destination;
pub mod domain;
pub mod error;
pub mod gateway;
pub mod healthcheck;
pub mod http;
pub mod membership;
pub mod mentions;
pub mod metrics;
pub mod read_markers;
pub mod replay;
pub mod session;
pub mod startup;
pub mod state;
pub mod stomp;
pub mod store;
pub mod telemetry;
pub mod typing;
pub mod views;
