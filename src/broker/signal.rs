//! Signals: changes every instance acts on at once (who lost access to a
//! room, whose block list changed, who came online), relayed like events.
//!
//! The broker does not know what a signal means. A service defines its own
//! signal type (a [`Signal`]: serialisable, with a unique [`Signal::NAME`])
//! and registers a handler for it with [`Signals::handle`]; `Broker::signal`
//! acts on it here (through the handlers) and relays it, and every other
//! instance hands it to its own handlers. A new cross-instance feature adds
//! a type and a handler, never a broker method (docs/ARCHITECTURE.md,
//! "Services on the broker, and adding a signal").
//!
//! On the wire a signal is its JSON object with a `signal` field holding
//! its name: `{"signal":"revoked","room_id":1,…}`.

use std::any::Any;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A change every instance acts on.
pub trait Signal: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// Its name on the wire; one per signal type.
    const NAME: &'static str;

    /// The room whose messages it must stay in order with, if any (a
    /// revocation: nothing of the room may reach whoever lost access after
    /// it). In a Redis Cluster it then also travels on that room's channel.
    fn room_id(&self) -> Option<i64> {
        None
    }
}

/// What a handler leaves to do after its immediate part: the instance that
/// raised the signal awaits it before `Broker::signal` returns; for a
/// relayed signal it runs in a task of its own.
pub type FollowUp = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A signal as it reaches a handler: raised here, or relayed as JSON.
enum Arrival<'a> {
    Here(&'a (dyn Any + Send + Sync)),
    Relayed(&'a [u8]),
}

type Handler = Arc<dyn Fn(Arrival<'_>) -> Option<FollowUp> + Send + Sync>;
type Resume = Arc<dyn Fn() + Send + Sync>;

/// The handlers of each signal, and who wants to hear that signals may have
/// been missed.
#[derive(Default)]
pub struct Signals {
    handlers: RwLock<HashMap<&'static str, Vec<Handler>>>,
    missed: RwLock<Vec<Resume>>,
}

impl Signals {
    /// Hands every `S` raised on any instance to `act`. Its immediate part
    /// runs in the order signals arrive (a relayed one before the messages
    /// relayed after it), so it must not wait: what needs waiting (a
    /// database read) goes into the [`FollowUp`] it returns. Services
    /// register at start, before the instance serves anyone: a signal
    /// relayed earlier concerns no one here.
    pub fn handle<S: Signal>(&self, act: impl Fn(S) -> Option<FollowUp> + Send + Sync + 'static) {
        let handler: Handler = Arc::new(move |arrival| {
            let signal = match arrival {
                Arrival::Here(signal) => signal.downcast_ref::<S>()?.clone(),
                Arrival::Relayed(json) => match serde_json::from_slice::<S>(json) {
                    Ok(signal) => signal,
                    Err(e) => {
                        tracing::warn!(signal = S::NAME, error = %e, "ignoring a malformed signal");
                        return None;
                    }
                },
            };
            act(signal)
        });
        self.handlers
            .write()
            .expect("signals lock")
            .entry(S::NAME)
            .or_default()
            .push(handler);
    }

    /// Calls `resume` whenever signals may have been missed (the relay was
    /// away and is back): what they would have changed must be read again.
    /// It runs on the relay's task, so it must only start that work.
    pub fn on_missed(&self, resume: impl Fn() + Send + Sync + 'static) {
        self.missed
            .write()
            .expect("signals lock")
            .push(Arc::new(resume));
    }

    fn handlers_of(&self, name: &str) -> Vec<Handler> {
        let handlers = self.handlers.read().expect("signals lock");
        handlers.get(name).cloned().unwrap_or_default()
    }

    /// Acts on `signal`, raised on this instance; returns the follow-ups.
    pub(super) fn raise<S: Signal>(&self, signal: &S) -> Vec<FollowUp> {
        self.handlers_of(S::NAME)
            .iter()
            .filter_map(|h| h(Arrival::Here(signal)))
            .collect()
    }

    /// Acts on a signal relayed from another instance (or this one's own,
    /// echoed: handlers take a signal twice without harm). Follow-ups run
    /// in tasks of their own.
    pub(in crate::broker) fn relayed(&self, json: &[u8]) {
        #[derive(serde::Deserialize)]
        struct Named {
            signal: String,
        }
        let name = match serde_json::from_slice::<Named>(json) {
            Ok(named) => named.signal,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed signal");
                return;
            }
        };
        for handler in self.handlers_of(&name) {
            if let Some(follow_up) = handler(Arrival::Relayed(json)) {
                tokio::spawn(follow_up);
            }
        }
    }

    /// Signals may have been missed: tells whoever asked.
    pub(in crate::broker) fn missed(&self) {
        let missed = self.missed.read().expect("signals lock").clone();
        for resume in missed {
            resume();
        }
    }
}

/// `signal` as relayed: its JSON object with its name in `signal`.
pub fn encode<S: Signal>(signal: &S) -> Bytes {
    let mut value = serde_json::to_value(signal).expect("signal serialises");
    match value.as_object_mut() {
        Some(fields) => {
            fields.insert("signal".into(), S::NAME.into());
        }
        None => panic!("signal {} must serialise as an object", S::NAME),
    }
    Bytes::from(serde_json::to_vec(&value).expect("signal serialises"))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Knock {
        user_id: i64,
    }

    impl Signal for Knock {
        const NAME: &'static str = "knock";
    }

    #[test]
    fn a_signal_is_its_object_named_in_the_signal_field() {
        let json = encode(&Knock { user_id: 7 });
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(value, serde_json::json!({"signal": "knock", "user_id": 7}));
    }

    #[tokio::test]
    async fn raised_and_relayed_signals_reach_the_handlers_of_their_name() {
        let signals = Signals::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&heard);
        signals.handle::<Knock>(move |k| {
            log.lock().unwrap().push(k.user_id);
            None
        });
        assert!(signals.raise(&Knock { user_id: 1 }).is_empty());
        signals.relayed(&encode(&Knock { user_id: 2 }));
        signals.relayed(br#"{"signal":"other","user_id":3}"#);
        signals.relayed(br#"{"signal":"knock","user_id":"four"}"#);
        signals.relayed(b"not json");
        assert_eq!(
            *heard.lock().unwrap(),
            vec![1, 2],
            "only well-formed knocks"
        );
    }
}
