//! STOMP 1.2 over WebSocket (`GET /ws`): the README, "Real-time chat" and
//! "Configuration", as a
//! client sees them. Every test talks raw frames through `stomp_client`.

mod connect;
mod expiry;
mod framing;
mod hardening;
mod heartbeat;
mod limits;
mod resume;
mod send;
mod subscribe;
mod transactions;

use serde_json::Value;

use stomp_client::{Endpoint, Frame};

use crate::helpers::TestApp;

/// A client connects to the app's port.
impl Endpoint for TestApp {
    fn port(&self) -> u16 {
        self.port
    }
}

/// Every stored message of a room, oldest first, through REST paging.
pub async fn history(app: &TestApp, token: &str, room: &str) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    let mut after = 0;
    // Bounded: 100 pages of 200 is far more than any test stores.
    for _ in 0..100 {
        let r = app
            .get(
                &format!("/api/v1/rooms/{room}/messages?after={after}&limit=200"),
                token,
            )
            .await;
        assert_eq!(r.status, 200, "history of {room}: {:?}", r.body);
        let page = r.body["messages"].as_array().cloned().unwrap_or_default();
        if let Some(last) = page.last() {
            after = last["seq"].as_i64().unwrap();
        }
        out.extend(page);
        if r.body["has_more"] != true {
            return out;
        }
    }
    panic!("history of {room} did not end after 100 pages");
}

pub fn history_seqs(history: &[Value]) -> Vec<i64> {
    history.iter().map(|m| m["seq"].as_i64().unwrap()).collect()
}

pub fn seqs(frames: &[Frame]) -> Vec<i64> {
    frames.iter().map(Frame::seq).collect()
}

/// The current time in seconds, as the server's JWT code counts it.
pub fn now_secs() -> i64 {
    parley::auth::jwt::now_secs()
}
