//! The relay's subscriptions on one Redis server: ONE pub/sub connection
//! per instance, subscribed to the signals channel and to the channel of
//! every room with local subscribers. If it drops, the instance is not
//! ready (`/readyz`) while it reconnects with capped exponential backoff;
//! once back, its rooms catch up from the database and the signals' users
//! read again what they may have missed.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::inbound::{Inbound, RoomCommand};
use super::wire::{BACKOFF_START, SIGNALS_CHANNEL, backoff_after, channel};

/// (Re)connects, subscribes to the rooms with local subscribers, relays
/// what arrives.
pub async fn subscribe_loop(
    client: redis::Client,
    inbound: Inbound,
    mut commands: mpsc::UnboundedReceiver<RoomCommand>,
    ready: Arc<AtomicBool>,
) {
    let mut backoff = BACKOFF_START;
    loop {
        match client.get_async_pubsub().await {
            Ok(pubsub) => {
                let (mut sink, mut stream) = pubsub.split();
                let mut subscribed = HashSet::new();
                let mut ok = sink.subscribe(SIGNALS_CHANNEL).await.is_ok();
                for room in inbound.hub.rooms() {
                    if !ok {
                        break;
                    }
                    if sink.subscribe(channel(room)).await.is_err() {
                        ok = false;
                        break;
                    }
                    subscribed.insert(room);
                }
                if ok {
                    ready.store(true, Ordering::Relaxed);
                    metrics::gauge!(crate::metrics::RELAY_CONNECTED).set(1.0);
                    backoff = BACKOFF_START;
                    tracing::info!(rooms = subscribed.len(), "redis relay connected");
                    // Whatever was committed, and whatever was signalled,
                    // while we were away.
                    for &room in &subscribed {
                        inbound.room_subscribed(room);
                    }
                    inbound.signals_subscribed();
                    loop {
                        tokio::select! {
                            cmd = commands.recv() => {
                                let Some(cmd) = cmd else { return };
                                let result = match cmd {
                                    RoomCommand::Subscribe(room) if subscribed.insert(room) => {
                                        let r = sink.subscribe(channel(room)).await;
                                        inbound.room_subscribed(room);
                                        r
                                    }
                                    RoomCommand::Unsubscribe(room) if subscribed.remove(&room) => {
                                        sink.unsubscribe(channel(room)).await
                                    }
                                    _ => Ok(()),
                                };
                                if result.is_err() {
                                    break;
                                }
                            }
                            msg = stream.next() => {
                                let Some(msg) = msg else { break };
                                inbound.arrived(&msg);
                            }
                        }
                    }
                }
                ready.store(false, Ordering::Relaxed);
                metrics::gauge!(crate::metrics::RELAY_CONNECTED).set(0.0);
                tracing::warn!("redis relay disconnected; delivering locally and reconnecting");
            }
            Err(e) => {
                ready.store(false, Ordering::Relaxed);
                metrics::gauge!(crate::metrics::RELAY_CONNECTED).set(0.0);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "redis relay cannot connect");
            }
        }
        // Rooms gained or lost while disconnected are picked up from
        // hub.rooms() on reconnect; drop the stale commands.
        while commands.try_recv().is_ok() {}
        tokio::time::sleep(backoff).await;
        backoff = backoff_after(backoff);
    }
}
