//! Property tests of the session: random frame sequences (valid, invalid and
//! hostile) against a model of what the session must allow. Run many cases
//! with `PROPTEST_CASES=100000 cargo nextest run --lib session::props`.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;

use super::test_support::*;
use super::*;
use crate::destination::DESTINATION_PREFIX;
use crate::stomp::ClientCommand as C;
use crate::stomp::ServerCommand;

fn verify(token: &str) -> Result<AuthUser, TokenError> {
    if token == "good" {
        Ok(alice())
    } else {
        Err(TokenError::Invalid)
    }
}

/// Ids drawn from a small pool, so that frames collide, plus hostile ones.
fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => (0..6u8).prop_map(|i| format!("i{i}")),
        1 => Just("bad\u{0}id".to_string()),
        1 => Just("new\nline".to_string()),
        1 => Just("\u{7f}".to_string()),
        1 => Just("x".repeat(100)),
        1 => Just("x".repeat(300)),
        1 => Just(String::new()),
    ]
}

/// Transaction ids: mostly one (so that SENDs find it open), sometimes
/// others (one more than may be open at once).
fn tx_id() -> impl Strategy<Value = String> {
    prop_oneof![
        14 => Just("t0".to_string()),
        3 => Just("t1".to_string()),
        2 => Just("t2".to_string()),
        1 => id(),
    ]
}

fn destination() -> impl Strategy<Value = String> {
    prop_oneof![
        30 => prop::sample::select(vec!["a", "b"]).prop_map(|r| format!("{DESTINATION_PREFIX}{r}")),
        1 => Just("/queue/elsewhere".to_string()),
        1 => Just(format!("{DESTINATION_PREFIX}UPPER")),
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        30 => prop::collection::vec(b'a'..=b'z', 1..=MAX_BODY_BYTES),
        1 => Just(Vec::new()),
        1 => prop::collection::vec(any::<u8>(), 0..=MAX_BODY_BYTES + 4),
        1 => Just(b"nul\0inside".to_vec()),
        1 => Just(vec![b'x'; MAX_BODY_BYTES + 1]),
    ]
}

fn maybe<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![3 => Just(None), 1 => s.prop_map(Some)]
}

fn frame() -> impl Strategy<Value = ClientFrame> {
    let connect = (
        prop::sample::select(vec!["1.2", "1.2", "1.1", "1.0", "1.1,1.2", "2.0"]),
        prop::sample::select(vec!["good", "good", "good", "bad"]),
        maybe(prop::sample::select(vec![
            "0,0",
            "5000,5000",
            "x,y",
            "20000,0",
        ])),
    )
        .prop_map(|(version, token, hb)| {
            let mut f = ClientFrame::new(C::Connect)
                .with_header("accept-version", version)
                .with_header("passcode", token);
            if let Some(hb) = hb {
                f = f.with_header("heart-beat", hb);
            }
            f
        });
    // Half of the SENDs name a transaction.
    let tx = prop_oneof![1 => Just(None), 1 => tx_id().prop_map(Some)];
    let send = (destination(), body(), maybe(id()), tx, maybe(id())).prop_map(
        |(dest, body, client_id, tx, receipt)| {
            let mut f = ClientFrame::new(C::Send)
                .with_header("destination", dest)
                .with_body(body);
            for (name, value) in [
                ("client-id", client_id),
                ("transaction", tx),
                ("receipt", receipt),
            ] {
                if let Some(v) = value {
                    f = f.with_header(name, v);
                }
            }
            f
        },
    );
    let subscribe = (id(), destination(), maybe(id()), maybe(0..5i64)).prop_map(
        |(id, dest, receipt, since)| {
            let mut f = ClientFrame::new(C::Subscribe)
                .with_header("id", id)
                .with_header("destination", dest);
            if let Some(r) = receipt {
                f = f.with_header("receipt", r);
            }
            if let Some(s) = since {
                f = f.with_header("since-seq", s.to_string());
            }
            f
        },
    );
    let with_id = |command: ClientCommand, header: &'static str| {
        let value = if header == "transaction" {
            tx_id().boxed()
        } else {
            id().boxed()
        };
        (value, maybe(id())).prop_map(move |(id, receipt)| {
            let mut f = ClientFrame::new(command).with_header(header, id);
            if let Some(r) = receipt {
                f = f.with_header("receipt", r);
            }
            f
        })
    };
    prop_oneof![
        1 => connect,
        12 => send,
        4 => subscribe,
        1 => with_id(C::Unsubscribe, "id"),
        2 => with_id(C::Begin, "transaction"),
        1 => with_id(C::Commit, "transaction"),
        1 => with_id(C::Abort, "transaction"),
        1 => with_id(C::Ack, "id"),
        1 => Just(ClientFrame::new(C::Disconnect)),
    ]
}

/// A valid id of at most `max` characters.
fn is_id_of(s: &str, max: usize) -> bool {
    !s.is_empty() && s.chars().count() <= max && !s.chars().any(char::is_control)
}

fn is_id(s: &str) -> bool {
    is_id_of(s, crate::domain::MAX_ID_CHARS)
}

/// What the session promised so far, rebuilt from its actions.
#[derive(Default)]
struct Model {
    open: bool,
    closed: bool,
    subscriptions: HashSet<String>,
    /// Open transactions and the bodies of their accepted SENDs.
    transactions: HashMap<String, Vec<Vec<u8>>>,
}

fn error_then_close(actions: &[Action]) -> bool {
    matches!(
        actions,
        [.., Action::Frame(f), Action::Close] if f.command == ServerCommand::Error
    )
}

fn check_send(send: &SendRequest) -> Result<(), TestCaseError> {
    let body = send.body.as_str().as_bytes();
    prop_assert!(
        !body.is_empty() && body.len() <= MAX_BODY_BYTES,
        "body size {}",
        body.len()
    );
    prop_assert!(!body.contains(&0), "NUL in a stored body");
    if let Some(c) = &send.client_id {
        prop_assert!(
            is_id_of(c.as_str(), 64),
            "client-id {:?} reached the store",
            c.as_str()
        );
    }
    if let Some(r) = &send.receipt {
        prop_assert!(is_id(r), "receipt {r:?} accepted");
    }
    Ok(())
}

/// Applies one handled frame's actions to the model, checking every rule.
fn step(model: &mut Model, frame: &ClientFrame, actions: &[Action]) -> Result<(), TestCaseError> {
    if model.closed {
        prop_assert!(actions.is_empty(), "actions after close: {actions:?}");
        return Ok(());
    }
    let failed = error_then_close(actions);
    if failed || matches!(actions.last(), Some(Action::Close)) {
        model.closed = true;
    }
    if !model.open && !failed {
        prop_assert!(
            frame.command.opens_session() || actions.is_empty(),
            "{:?} before CONNECT gave {actions:?}",
            frame.command
        );
    }
    for action in actions {
        match action {
            Action::Connected { .. } => {
                prop_assert!(!model.open, "CONNECTED twice");
                model.open = true;
            }
            Action::Frame(f) => {
                if let Some(r) = f.header("receipt-id") {
                    prop_assert!(is_id(r), "receipt-id {r:?} echoed");
                    prop_assert_eq!(
                        Some(r),
                        frame.header("receipt"),
                        "receipt-id of another frame"
                    );
                }
            }
            Action::Subscribe(req) => {
                prop_assert!(is_id(&req.id), "subscription id {:?} accepted", req.id);
                prop_assert!(
                    model.subscriptions.insert(req.id.clone()),
                    "id {} reused",
                    req.id
                );
                prop_assert!(model.subscriptions.len() <= MAX_SUBSCRIPTIONS);
            }
            Action::SubscribeUserUpdates { id, .. } => {
                prop_assert!(is_id(id), "subscription id {:?} accepted", id);
                prop_assert!(model.subscriptions.insert(id.clone()), "id {} reused", id);
                prop_assert!(model.subscriptions.len() <= MAX_SUBSCRIPTIONS);
            }
            Action::Unsubscribe { id, .. } => {
                prop_assert!(model.subscriptions.remove(id), "unsubscribed unknown {id}");
            }
            Action::Acked { .. } => {
                prop_assert_eq!(&frame.command, &C::Ack, "only an ACK acknowledges");
            }
            Action::Typing { .. } => {
                prop_assert_eq!(&frame.command, &C::Send, "only a SEND types");
            }
            Action::Store { sends, .. } => {
                for send in sends {
                    check_send(send)?;
                }
                if frame.command == C::Commit {
                    let tx = frame.header("transaction").unwrap_or_default();
                    let expected = model.transactions.remove(tx).unwrap_or_default();
                    let got: Vec<Vec<u8>> = sends
                        .iter()
                        .map(|s| s.body.as_str().as_bytes().to_vec())
                        .collect();
                    prop_assert_eq!(got, expected, "COMMIT stores exactly its SENDs");
                } else {
                    prop_assert_eq!(sends.len(), 1, "a plain SEND stores one message");
                }
            }
            Action::Close => {}
        }
    }
    // Transactions: what an accepted frame did to them.
    if !failed && model.open {
        let tx = frame.header("transaction").map(str::to_string);
        match (frame.command, tx) {
            (C::Begin, Some(tx)) => {
                prop_assert!(is_id(&tx), "transaction id {tx:?} accepted");
                prop_assert!(model.transactions.insert(tx, Vec::new()).is_none());
                prop_assert!(model.transactions.len() <= MAX_TRANSACTIONS);
            }
            (C::Abort, Some(tx)) => {
                prop_assert!(
                    model.transactions.remove(&tx).is_some(),
                    "ABORT of unknown {tx}"
                );
            }
            (C::Send, Some(tx)) => {
                let pending = model.transactions.get_mut(&tx);
                prop_assert!(
                    pending.is_some(),
                    "SEND in unknown transaction {tx} accepted"
                );
                let pending = pending.expect("checked");
                pending.push(frame.body.to_vec());
                prop_assert!(pending.len() <= MAX_TRANSACTION_SENDS);
            }
            _ => {}
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES overrides this.
        cases: 2_000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_frame_sequences_keep_every_session_rule(
        first in frame(),
        frames in prop::collection::vec(frame(), 1..80),
    ) {
        let mut session = Session::new(config(), "props");
        let mut model = Model::default();
        // Mostly a valid CONNECT first, so that sessions live long enough to
        // reach the limits.
        let opening = ClientFrame::new(C::Connect)
            .with_header("accept-version", "1.2")
            .with_header("passcode", "good");
        let start = if first.command == C::Disconnect { first } else { opening };
        for frame in std::iter::once(start).chain(frames) {
            let actions = session.handle(frame.clone(), verify);
            step(&mut model, &frame, &actions)?;
            prop_assert_eq!(session.is_closed(), model.closed);
        }
    }
}

/// One transaction operation on a small pool of ids, every frame valid.
#[derive(Debug, Clone)]
enum TxOp {
    Begin(u8),
    Send(u8),
    Commit(u8),
    Abort(u8),
    Plain,
}

fn tx_op() -> impl Strategy<Value = TxOp> {
    prop_oneof![
        2 => (0..3u8).prop_map(TxOp::Begin),
        6 => (0..3u8).prop_map(TxOp::Send),
        1 => (0..3u8).prop_map(TxOp::Commit),
        1 => (0..3u8).prop_map(TxOp::Abort),
        1 => Just(TxOp::Plain),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 2_000,
        ..ProptestConfig::default()
    })]

    /// The session accepts or refuses each transaction frame exactly as a
    /// model of the limits predicts, and a COMMIT stores exactly its SENDs.
    #[test]
    fn transactions_follow_the_model(ops in prop::collection::vec(tx_op(), 1..60)) {
        let mut session = Session::new(config(), "tx");
        let opening = ClientFrame::new(C::Connect)
            .with_header("accept-version", "1.2")
            .with_header("passcode", "good");
        session.handle(opening, verify);
        let mut open: HashMap<String, usize> = HashMap::new();
        for (n, op) in ops.into_iter().enumerate() {
            let body = format!("m{n}");
            let send = |tx: Option<&str>| {
                let f = ClientFrame::new(C::Send)
                    .with_header("destination", format!("{DESTINATION_PREFIX}a"))
                    .with_body(body.clone().into_bytes());
                match tx {
                    Some(tx) => f.with_header("transaction", tx),
                    None => f,
                }
            };
            let (frame, accepted) = match &op {
                TxOp::Begin(i) => {
                    let tx = format!("t{i}");
                    let ok = !open.contains_key(&tx) && open.len() < MAX_TRANSACTIONS;
                    if ok {
                        open.insert(tx.clone(), 0);
                    }
                    (ClientFrame::new(C::Begin).with_header("transaction", tx), ok)
                }
                TxOp::Send(i) => {
                    let tx = format!("t{i}");
                    let ok = open.get(&tx).is_some_and(|n| *n < MAX_TRANSACTION_SENDS);
                    if ok {
                        *open.get_mut(&tx).expect("open") += 1;
                    }
                    (send(Some(&tx)), ok)
                }
                TxOp::Commit(i) | TxOp::Abort(i) => {
                    let tx = format!("t{i}");
                    let ok = open.remove(&tx).is_some();
                    let command = if matches!(op, TxOp::Commit(_)) { C::Commit } else { C::Abort };
                    (ClientFrame::new(command).with_header("transaction", tx), ok)
                }
                TxOp::Plain => (send(None), true),
            };
            let actions = session.handle(frame, verify);
            let refused = error_then_close(&actions);
            prop_assert_eq!(!refused, accepted, "{:?} gave {:?}", op, actions);
            if refused {
                prop_assert!(session.is_closed());
                break;
            }
        }
    }
}
