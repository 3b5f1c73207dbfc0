//! "Frame in, actions out" tests of the session state machine.

use std::cell::RefCell;

use super::test_support::*;
use super::*;
use crate::stomp::ClientCommand as C;
use crate::stomp::ServerCommand;

/// A verifier that accepts any token as alice.
fn accept(_token: &str) -> Result<AuthUser, TokenError> {
    Ok(alice())
}

/// For frames after CONNECT: the verifier must not be called.
fn no_verify(token: &str) -> Result<AuthUser, TokenError> {
    panic!("verifier called after CONNECT with {token:?}")
}

fn frame(command: ClientCommand) -> ClientFrame {
    ClientFrame::new(command)
}

fn connect_frame(version: &str) -> ClientFrame {
    frame(C::Connect)
        .with_header("accept-version", version)
        .with_header("passcode", "t")
}

fn new_session() -> Session {
    Session::new(config(), "sess-1")
}

fn open_session_with(version: &str) -> Session {
    let mut session = new_session();
    let actions = session.handle(connect_frame(version), accept);
    assert!(
        matches!(actions.last(), Some(Action::Connected { .. })),
        "CONNECT failed: {actions:?}"
    );
    session
}

/// A 1.2 session that already handled a CONNECT.
fn open_session() -> Session {
    open_session_with("1.2")
}

fn handle(session: &mut Session, frame: ClientFrame) -> Vec<Action> {
    session.handle(frame, no_verify)
}

/// The `message` of the ERROR when `actions` are exactly ERROR then Close.
fn error_message(actions: &[Action]) -> Option<String> {
    match actions {
        [Action::Frame(f), Action::Close] if f.command == ServerCommand::Error => {
            f.header("message").map(str::to_string)
        }
        _ => None,
    }
}

fn error_frame(actions: &[Action]) -> &ServerFrame {
    match actions {
        [Action::Frame(f), Action::Close] if f.command == ServerCommand::Error => f,
        _ => panic!("expected ERROR then Close, got {actions:?}"),
    }
}

#[track_caller]
fn assert_error(actions: &[Action]) -> String {
    error_message(actions).unwrap_or_else(|| panic!("expected ERROR then Close, got {actions:?}"))
}

/// The frame is a session-breaking error, and the session ignores what follows.
#[track_caller]
fn assert_refused(session: &mut Session, frame: ClientFrame) -> String {
    let message = assert_error(&handle(session, frame));
    assert!(session.is_closed());
    assert_eq!(handle(session, send("general", "after")), vec![]);
    message
}

fn send(room: &str, body: &str) -> ClientFrame {
    frame(C::Send)
        .with_header("destination", format!("/topic/rooms/{room}"))
        .with_body(body.as_bytes().to_vec())
}

fn subscribe(id: &str, room: &str) -> ClientFrame {
    frame(C::Subscribe)
        .with_header("id", id)
        .with_header("destination", format!("/topic/rooms/{room}"))
}

fn tx_frame(command: ClientCommand, tx: &str) -> ClientFrame {
    frame(command).with_header("transaction", tx)
}

fn room(name: &str) -> RoomName {
    RoomName::parse(name).unwrap()
}

fn body(text: &str) -> MessageBody {
    MessageBody::parse(text.as_bytes(), MAX_BODY_BYTES).unwrap()
}

fn send_request(room_name: &str, text: &str) -> SendRequest {
    SendRequest {
        room: room(room_name),
        body: body(text),
        client_id: None,
        reply_to: None,
        receipt: None,
    }
}

fn receipt(id: &str) -> Action {
    Action::Frame(ServerFrame::receipt(id))
}

fn connected_frame(actions: &[Action]) -> &ServerFrame {
    match actions {
        [Action::Frame(f), Action::Connected { .. }] if f.command == ServerCommand::Connected => f,
        _ => panic!("expected CONNECTED then Connected, got {actions:?}"),
    }
}

fn negotiated(actions: &[Action]) -> (Version, HeartBeat) {
    match actions {
        [
            Action::Frame(_),
            Action::Connected {
                version,
                heart_beat,
                ..
            },
        ] => (*version, *heart_beat),
        _ => panic!("expected CONNECTED then Connected, got {actions:?}"),
    }
}

fn hb(send_every_ms: u64, expect_every_ms: u64) -> HeartBeat {
    HeartBeat {
        send_every_ms,
        expect_every_ms,
    }
}

// --- CONNECT -----------------------------------------------------------------

#[test]
fn connect_opens_the_session_with_connected_then_the_user() {
    let mut session = new_session();
    let actions = session.handle(
        connect_frame("1.2").with_header("heart-beat", "0,0"),
        accept,
    );
    let connected = ServerFrame::new(ServerCommand::Connected)
        .with_header("version", "1.2")
        .with_header("heart-beat", "0,0")
        .with_header("session", "sess-1")
        .with_header("server", "parley/test")
        .with_header("user-name", "alice");
    assert_eq!(
        actions,
        vec![
            Action::Frame(connected),
            Action::Connected {
                version: Version::V1_2,
                heart_beat: hb(0, 0),
                user: alice(),
            },
        ]
    );
    assert!(session.is_open());
    assert_eq!(session.user(), Some(&alice()));
}

#[test]
fn stomp_frame_opens_the_session_like_connect() {
    let mut session = new_session();
    let actions = session.handle(
        frame(C::Stomp)
            .with_header("accept-version", "1.2")
            .with_header("passcode", "t"),
        accept,
    );
    let connected = connected_frame(&actions);
    assert_eq!(connected.header("version"), Some("1.2"));
    assert_eq!(connected.header("user-name"), Some("alice"));
    assert!(session.is_open());
}

#[test]
fn connected_carries_the_username_from_the_token() {
    let mut session = new_session();
    let actions = session.handle(connect_frame("1.2"), |_| {
        Ok(AuthUser {
            id: 1,
            username: "bob".into(),
            expires_at: 5,
            login: crate::store::LoginId(1),
        })
    });
    assert_eq!(connected_frame(&actions).header("user-name"), Some("bob"));
}

// --- version negotiation -------------------------------------------------------

#[test]
fn version_1_2_is_preferred_when_offered() {
    for offer in ["1.0,1.1,1.2", "1.2,1.1", "1.2"] {
        let mut session = new_session();
        let actions = session.handle(connect_frame(offer), accept);
        assert_eq!(negotiated(&actions).0, Version::V1_2, "{offer}");
        assert_eq!(connected_frame(&actions).header("version"), Some("1.2"));
        assert_eq!(session.version(), Version::V1_2);
    }
}

#[test]
fn version_1_1_alone_negotiates_1_1() {
    let mut session = new_session();
    let actions = session.handle(connect_frame("1.0,1.1"), accept);
    assert_eq!(negotiated(&actions).0, Version::V1_1);
    assert_eq!(connected_frame(&actions).header("version"), Some("1.1"));
    assert_eq!(session.version(), Version::V1_1);
}

#[test]
fn version_1_0_only_is_refused_with_supported_versions() {
    let mut session = new_session();
    let actions = session.handle(connect_frame("1.0"), accept);
    assert_eq!(error_frame(&actions).header("version"), Some("1.1,1.2"));
    assert!(session.is_closed());
}

#[test]
fn missing_accept_version_is_refused_with_supported_versions() {
    let mut session = new_session();
    let actions = session.handle(frame(C::Connect).with_header("passcode", "t"), accept);
    assert_eq!(error_frame(&actions).header("version"), Some("1.1,1.2"));
    assert!(session.is_closed());
}

// --- heart-beat negotiation ----------------------------------------------------

#[test]
fn heart_beat_negotiation_follows_the_contract_table() {
    let cases = [
        (None, Some(hb(0, 0))),
        (Some("0,0"), Some(hb(0, 0))),
        // cx=5000, cy=20000: sx = max(10000, cy), sy = max(10000, cx).
        (Some("5000,20000"), Some(hb(20_000, 10_000))),
        (Some("1,1"), Some(hb(10_000, 10_000))),
        (Some("0,1"), Some(hb(10_000, 0))),
        (Some("1,0"), Some(hb(0, 10_000))),
        (Some("30000,40000"), Some(hb(40_000, 30_000))),
        (Some(""), None),
        (Some("1"), None),
        (Some("1,2,3"), None),
        (Some("a,b"), None),
        (Some("-1,0"), None),
        (Some(" 1,1"), None),
    ];
    for (header, expected) in cases {
        assert_eq!(negotiate_heart_beat(header, 10_000), expected, "{header:?}");
    }
}

#[test]
fn connected_answers_the_negotiated_heart_beat() {
    let mut session = new_session();
    let actions = session.handle(
        connect_frame("1.2").with_header("heart-beat", "5000,20000"),
        accept,
    );
    assert_eq!(
        connected_frame(&actions).header("heart-beat"),
        Some("20000,10000")
    );
    assert_eq!(negotiated(&actions).1, hb(20_000, 10_000));
}

#[test]
fn connect_without_heart_beat_answers_zero_zero() {
    let mut session = new_session();
    let actions = session.handle(connect_frame("1.2"), accept);
    assert_eq!(connected_frame(&actions).header("heart-beat"), Some("0,0"));
    assert_eq!(negotiated(&actions).1, hb(0, 0));
}

#[test]
fn connect_with_tiny_heart_beat_is_raised_to_the_server_floor() {
    let mut session = new_session();
    let actions = session.handle(
        connect_frame("1.2").with_header("heart-beat", "1,1"),
        accept,
    );
    assert_eq!(
        connected_frame(&actions).header("heart-beat"),
        Some("10000,10000")
    );
}

#[test]
fn malformed_heart_beat_is_refused() {
    let mut session = new_session();
    let actions = session.handle(
        connect_frame("1.2").with_header("heart-beat", "fast"),
        accept,
    );
    assert_error(&actions);
    assert!(session.is_closed());
}

// --- credentials -------------------------------------------------------------

#[test]
fn bearer_authorization_is_preferred_over_passcode() {
    let seen = RefCell::new(None);
    let mut session = new_session();
    let actions = session.handle(
        connect_frame("1.2").with_header("Authorization", "Bearer from-header"),
        |token| {
            *seen.borrow_mut() = Some(token.to_string());
            Ok(alice())
        },
    );
    connected_frame(&actions);
    assert_eq!(seen.into_inner().as_deref(), Some("from-header"));
}

#[test]
fn passcode_alone_authenticates() {
    let seen = RefCell::new(None);
    let mut session = new_session();
    let actions = session.handle(
        frame(C::Connect)
            .with_header("accept-version", "1.2")
            .with_header("login", "ignored")
            .with_header("passcode", "from-passcode"),
        |token| {
            *seen.borrow_mut() = Some(token.to_string());
            Ok(alice())
        },
    );
    connected_frame(&actions);
    assert_eq!(seen.into_inner().as_deref(), Some("from-passcode"));
}

#[test]
fn missing_credentials_fail_authentication() {
    let mut session = new_session();
    let actions = session.handle(
        frame(C::Connect)
            .with_header("accept-version", "1.2")
            .with_header("login", "alice"),
        |_| panic!("nothing to verify"),
    );
    assert_eq!(error_message(&actions).as_deref(), Some(AUTH_FAILED));
    assert!(session.is_closed());
    assert!(session.user().is_none());
}

#[test]
fn non_bearer_authorization_without_passcode_fails_authentication() {
    let mut session = new_session();
    let actions = session.handle(
        frame(C::Connect)
            .with_header("accept-version", "1.2")
            .with_header("Authorization", "Basic YWxpY2U6cHc="),
        |_| panic!("nothing to verify"),
    );
    assert_eq!(error_message(&actions).as_deref(), Some(AUTH_FAILED));
}

#[test]
fn rejected_tokens_fail_authentication() {
    for error in [TokenError::Expired, TokenError::Invalid] {
        let mut session = new_session();
        let actions = session.handle(connect_frame("1.2"), move |_| Err(error));
        assert_eq!(
            error_message(&actions).as_deref(),
            Some(AUTH_FAILED),
            "{error:?}"
        );
        assert!(session.is_closed());
        assert!(!session.is_open());
    }
}

// --- phases --------------------------------------------------------------------

#[test]
fn first_frame_other_than_connect_is_refused() {
    for command in [C::Send, C::Subscribe, C::Disconnect, C::Begin, C::Ack] {
        let mut session = new_session();
        let actions = session.handle(frame(command), |_| panic!("not a CONNECT"));
        assert!(
            error_message(&actions).is_some(),
            "{command:?}: {actions:?}"
        );
        assert!(session.is_closed());
    }
}

#[test]
fn second_connect_is_refused() {
    let mut session = open_session();
    let actions = session.handle(connect_frame("1.2"), accept);
    assert_error(&actions);
    assert!(session.is_closed());
}

#[test]
fn second_stomp_frame_is_refused() {
    let mut session = open_session();
    let actions = session.handle(
        frame(C::Stomp)
            .with_header("accept-version", "1.2")
            .with_header("passcode", "t"),
        accept,
    );
    assert_error(&actions);
}

#[test]
fn closed_session_ignores_further_frames() {
    let mut session = open_session();
    assert_eq!(
        handle(&mut session, frame(C::Disconnect)),
        vec![Action::Close]
    );
    assert!(session.is_closed());
    assert_eq!(handle(&mut session, send("general", "hi")), vec![]);
    assert_eq!(handle(&mut session, subscribe("0", "general")), vec![]);
    assert_eq!(session.handle(connect_frame("1.2"), accept), vec![]);
}

#[test]
fn session_ignores_frames_after_an_error() {
    let mut session = new_session();
    assert_error(&session.handle(send("general", "hi"), no_verify));
    assert_eq!(session.handle(connect_frame("1.2"), accept), vec![]);
    assert!(!session.is_open());
}

// --- SEND ----------------------------------------------------------------------

#[test]
fn send_stores_a_validated_message() {
    let mut session = open_session();
    let actions = handle(
        &mut session,
        send("general", "héllo")
            .with_header("client-id", "c-1")
            .with_header("receipt", "r-1"),
    );
    assert_eq!(
        actions,
        vec![Action::Store {
            sends: vec![SendRequest {
                room: room("general"),
                body: body("héllo"),
                client_id: Some(ClientId::parse("c-1").unwrap()),
                reply_to: None,
                receipt: Some("r-1".into()),
            }],
            then_receipt: None,
        }]
    );
    assert!(session.is_open());
}

#[test]
fn send_without_client_id_or_receipt_stores_none_of_them() {
    let mut session = open_session();
    assert_eq!(
        handle(&mut session, send("general", "hi")),
        vec![Action::Store {
            sends: vec![send_request("general", "hi")],
            then_receipt: None,
        }]
    );
}

#[test]
fn send_body_at_the_limit_is_stored() {
    let mut session = open_session();
    let text = "x".repeat(MAX_BODY_BYTES);
    let actions = handle(&mut session, send("general", &text));
    assert!(
        matches!(&actions[..], [Action::Store { sends, .. }] if sends[0].body.as_str() == text),
        "{actions:?}"
    );
}

#[test]
fn send_with_empty_body_is_refused() {
    let mut session = open_session();
    assert_refused(&mut session, send("general", ""));
}

#[test]
fn send_with_body_over_max_body_bytes_is_refused() {
    let mut session = open_session();
    let text = "x".repeat(MAX_BODY_BYTES + 1);
    assert_refused(&mut session, send("general", &text));
}

#[test]
fn send_with_invalid_utf8_body_is_refused() {
    let mut session = open_session();
    let frame = send("general", "").with_body(&b"ab\xff"[..]);
    assert_refused(&mut session, frame);
}

#[test]
fn send_with_nul_in_body_is_refused() {
    let mut session = open_session();
    assert_refused(&mut session, send("general", "a\0b"));
}

#[test]
fn send_with_client_id_over_64_chars_is_refused() {
    let mut session = open_session();
    let frame = send("general", "hi").with_header("client-id", "c".repeat(65));
    assert_refused(&mut session, frame);
}

#[test]
fn send_with_client_id_of_64_chars_is_stored() {
    let mut session = open_session();
    let id = "é".repeat(64);
    let actions = handle(
        &mut session,
        send("general", "hi").with_header("client-id", &id),
    );
    assert!(
        matches!(&actions[..], [Action::Store { sends, .. }]
            if sends[0].client_id.as_ref().map(ClientId::as_str) == Some(id.as_str())),
        "{actions:?}"
    );
}

#[test]
fn send_with_empty_client_id_is_refused() {
    let mut session = open_session();
    assert_refused(
        &mut session,
        send("general", "hi").with_header("client-id", ""),
    );
}

#[test]
fn send_to_unknown_destination_is_refused() {
    for destination in [
        "/queue/general",
        "/topic/general",
        "general",
        "/topic/rooms/",
    ] {
        let mut session = open_session();
        let frame = frame(C::Send)
            .with_header("destination", destination)
            .with_body("hi");
        let message = assert_refused(&mut session, frame);
        assert_eq!(message, "unknown destination", "{destination}");
    }
}

#[test]
fn send_to_a_bad_room_name_is_refused() {
    for name in ["General", "a b", "a/b", &"a".repeat(65)] {
        let mut session = open_session();
        assert_refused(&mut session, send(name, "hi"));
    }
}

#[test]
fn send_without_destination_is_refused() {
    let mut session = open_session();
    assert_refused(&mut session, frame(C::Send).with_body("hi"));
}

// --- SUBSCRIBE / UNSUBSCRIBE ---------------------------------------------------------

#[test]
fn subscribe_registers_id_room_ack_and_since_seq() {
    let mut session = open_session();
    let actions = handle(
        &mut session,
        subscribe("sub-0", "general")
            .with_header("ack", "client-individual")
            .with_header("since-seq", "41")
            .with_header("receipt", "r-1"),
    );
    assert_eq!(
        actions,
        vec![Action::Subscribe(SubscribeRequest {
            id: "sub-0".into(),
            room: room("general"),
            activity: false,
            ack: AckMode::ClientIndividual,
            since_seq: Some(41),
            receipt: Some("r-1".into()),
        })]
    );
    assert_eq!(
        session.subscription("sub-0"),
        Some(&Subscription {
            room: room("general"),
            ack: AckMode::ClientIndividual,
        })
    );
}

#[test]
fn subscribe_defaults_to_auto_ack_and_no_replay() {
    let mut session = open_session();
    let actions = handle(&mut session, subscribe("0", "general"));
    assert_eq!(
        actions,
        vec![Action::Subscribe(SubscribeRequest {
            id: "0".into(),
            room: room("general"),
            activity: false,
            ack: AckMode::Auto,
            since_seq: None,
            receipt: None,
        })]
    );
}

#[test]
fn subscribe_accepts_every_ack_mode() {
    let modes = [
        ("auto", AckMode::Auto),
        ("client", AckMode::Client),
        ("client-individual", AckMode::ClientIndividual),
    ];
    for (header, mode) in modes {
        let mut session = open_session();
        let actions = handle(
            &mut session,
            subscribe("0", "general").with_header("ack", header),
        );
        assert!(
            matches!(&actions[..], [Action::Subscribe(r)] if r.ack == mode),
            "{header}: {actions:?}"
        );
    }
}

#[test]
fn subscribe_since_seq_zero_replays_everything() {
    let mut session = open_session();
    let actions = handle(
        &mut session,
        subscribe("0", "general").with_header("since-seq", "0"),
    );
    assert!(
        matches!(&actions[..], [Action::Subscribe(r)] if r.since_seq == Some(0)),
        "{actions:?}"
    );
}

#[test]
fn subscribe_without_id_is_refused() {
    let mut session = open_session();
    let frame = frame(C::Subscribe).with_header("destination", "/topic/rooms/general");
    assert_refused(&mut session, frame);
}

#[test]
fn subscribe_with_a_duplicate_id_is_refused() {
    let mut session = open_session();
    handle(&mut session, subscribe("0", "general"));
    assert_refused(&mut session, subscribe("0", "random"));
}

#[test]
fn subscribe_with_an_invalid_ack_mode_is_refused() {
    let mut session = open_session();
    assert_refused(
        &mut session,
        subscribe("0", "general").with_header("ack", "manual"),
    );
    assert!(session.subscription("0").is_none());
}

#[test]
fn subscribe_with_negative_since_seq_is_refused() {
    let mut session = open_session();
    assert_refused(
        &mut session,
        subscribe("0", "general").with_header("since-seq", "-1"),
    );
}

#[test]
fn subscribe_with_garbage_since_seq_is_refused() {
    for value in ["abc", "", "1.5", "+1", " 1", "99999999999999999999"] {
        let mut session = open_session();
        let message = assert_refused(
            &mut session,
            subscribe("0", "general").with_header("since-seq", value),
        );
        assert!(message.contains("since-seq"), "{value:?}: {message}");
    }
}

#[test]
fn subscribe_to_unknown_destination_is_refused() {
    let mut session = open_session();
    let frame = frame(C::Subscribe)
        .with_header("id", "0")
        .with_header("destination", "/queue/general");
    assert_eq!(assert_refused(&mut session, frame), "unknown destination");
}

#[test]
fn subscriptions_beyond_the_limit_are_refused() {
    let mut session = open_session();
    for i in 0..MAX_SUBSCRIPTIONS {
        let actions = handle(&mut session, subscribe(&i.to_string(), "general"));
        assert!(
            matches!(&actions[..], [Action::Subscribe(_)]),
            "{actions:?}"
        );
    }
    assert_refused(&mut session, subscribe("over", "general"));
}

#[test]
fn unsubscribing_frees_a_slot_under_the_limit() {
    let mut session = open_session();
    for i in 0..MAX_SUBSCRIPTIONS {
        handle(&mut session, subscribe(&i.to_string(), "general"));
    }
    handle(&mut session, frame(C::Unsubscribe).with_header("id", "0"));
    let actions = handle(&mut session, subscribe("again", "general"));
    assert!(
        matches!(&actions[..], [Action::Subscribe(_)]),
        "{actions:?}"
    );
}

#[test]
fn unsubscribe_of_a_known_id_stops_it() {
    let mut session = open_session();
    handle(&mut session, subscribe("sub-0", "general"));
    let actions = handle(
        &mut session,
        frame(C::Unsubscribe)
            .with_header("id", "sub-0")
            .with_header("receipt", "r-9"),
    );
    assert_eq!(
        actions,
        vec![Action::Unsubscribe {
            id: "sub-0".into(),
            receipt: Some("r-9".into()),
        }]
    );
    assert!(session.subscription("sub-0").is_none());
    // The id can be reused.
    let actions = handle(&mut session, subscribe("sub-0", "random"));
    assert!(
        matches!(&actions[..], [Action::Subscribe(_)]),
        "{actions:?}"
    );
}

#[test]
fn unsubscribe_of_an_unknown_id_is_refused() {
    let mut session = open_session();
    handle(&mut session, subscribe("sub-0", "general"));
    assert_refused(
        &mut session,
        frame(C::Unsubscribe).with_header("id", "sub-1"),
    );
}

#[test]
fn unsubscribe_without_id_is_refused() {
    let mut session = open_session();
    assert_refused(&mut session, frame(C::Unsubscribe));
}

// --- transactions --------------------------------------------------------------

#[test]
fn transactional_sends_are_stored_together_at_commit() {
    let mut session = open_session();
    assert_eq!(handle(&mut session, tx_frame(C::Begin, "tx1")), vec![]);
    assert_eq!(
        handle(
            &mut session,
            send("general", "one").with_header("transaction", "tx1")
        ),
        vec![]
    );
    assert_eq!(
        handle(
            &mut session,
            send("random", "two")
                .with_header("transaction", "tx1")
                .with_header("receipt", "r-two")
        ),
        vec![]
    );
    let actions = handle(
        &mut session,
        tx_frame(C::Commit, "tx1").with_header("receipt", "r-commit"),
    );
    let mut second = send_request("random", "two");
    second.receipt = Some("r-two".into());
    assert_eq!(
        actions,
        vec![Action::Store {
            sends: vec![send_request("general", "one"), second],
            then_receipt: Some("r-commit".into()),
        }]
    );
    assert!(session.is_open());
}

#[test]
fn begin_with_receipt_answers_receipt() {
    let mut session = open_session();
    assert_eq!(
        handle(
            &mut session,
            tx_frame(C::Begin, "tx1").with_header("receipt", "r-1")
        ),
        vec![receipt("r-1")]
    );
}

#[test]
fn sends_outside_a_transaction_are_stored_at_once_while_one_is_open() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "tx1"));
    assert_eq!(
        handle(&mut session, send("general", "now")),
        vec![Action::Store {
            sends: vec![send_request("general", "now")],
            then_receipt: None,
        }]
    );
}

#[test]
fn abort_drops_the_transaction() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "tx1"));
    handle(
        &mut session,
        send("general", "one").with_header("transaction", "tx1"),
    );
    assert_eq!(
        handle(
            &mut session,
            tx_frame(C::Abort, "tx1").with_header("receipt", "r-abort")
        ),
        vec![receipt("r-abort")]
    );
    assert_refused(&mut session, tx_frame(C::Commit, "tx1"));
}

#[test]
fn a_transaction_id_can_be_reused_after_commit() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "tx1"));
    handle(
        &mut session,
        send("general", "one").with_header("transaction", "tx1"),
    );
    handle(&mut session, tx_frame(C::Commit, "tx1"));
    assert_eq!(handle(&mut session, tx_frame(C::Begin, "tx1")), vec![]);
    assert_eq!(
        handle(&mut session, tx_frame(C::Commit, "tx1")),
        vec![Action::Store {
            sends: vec![],
            then_receipt: None,
        }],
        "the committed sends are not stored twice"
    );
}

#[test]
fn send_in_an_unknown_transaction_is_refused() {
    let mut session = open_session();
    assert_refused(
        &mut session,
        send("general", "hi").with_header("transaction", "nope"),
    );
}

#[test]
fn begin_twice_with_the_same_id_is_refused() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "tx1"));
    assert_refused(&mut session, tx_frame(C::Begin, "tx1"));
}

#[test]
fn commit_or_abort_of_an_unknown_transaction_is_refused() {
    for command in [C::Commit, C::Abort] {
        let mut session = open_session();
        assert_refused(&mut session, tx_frame(command, "nope"));
    }
}

#[test]
fn transaction_frames_without_transaction_header_are_refused() {
    for command in [C::Begin, C::Commit, C::Abort] {
        let mut session = open_session();
        assert_refused(&mut session, frame(command));
    }
}

// --- ACK / NACK ------------------------------------------------------------------

#[test]
fn ack_in_1_2_needs_id() {
    for command in [C::Ack, C::Nack] {
        let mut session = open_session();
        assert_eq!(
            handle(&mut session, frame(command).with_header("id", "a-1")),
            acked(command, "a-1")
        );
        assert!(session.is_open());
        assert_refused(
            &mut session,
            frame(command)
                .with_header("message-id", "1")
                .with_header("subscription", "0"),
        );
    }
}

#[test]
fn ack_in_1_1_needs_message_id_and_subscription() {
    for command in [C::Ack, C::Nack] {
        let mut session = open_session_with("1.1");
        assert_eq!(
            handle(
                &mut session,
                frame(command)
                    .with_header("message-id", "1")
                    .with_header("subscription", "0")
            ),
            acked(command, "1")
        );
        assert!(session.is_open());
        let mut session = open_session_with("1.1");
        assert_refused(&mut session, frame(command).with_header("message-id", "1"));
        let mut session = open_session_with("1.1");
        assert_refused(
            &mut session,
            frame(command).with_header("subscription", "0"),
        );
        let mut session = open_session_with("1.1");
        assert_refused(&mut session, frame(command).with_header("id", "a-1"));
    }
}

#[test]
fn ack_with_receipt_answers_receipt() {
    let mut session = open_session();
    assert_eq!(
        handle(
            &mut session,
            frame(C::Ack)
                .with_header("id", "a-1")
                .with_header("receipt", "r-1")
        ),
        [acked(C::Ack, "a-1"), vec![receipt("r-1")]].concat()
    );
}

/// What the session answers an ACK (the gateway moves a read marker) or a
/// NACK (nothing) of `id`.
fn acked(command: C, id: &str) -> Vec<Action> {
    match command {
        C::Ack => vec![Action::Acked { id: id.into() }],
        _ => vec![],
    }
}

#[test]
fn ack_in_an_unknown_transaction_is_refused() {
    let mut session = open_session();
    assert_refused(
        &mut session,
        frame(C::Ack)
            .with_header("id", "a-1")
            .with_header("transaction", "nope"),
    );
}

#[test]
fn ack_in_an_open_transaction_is_accepted() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "tx1"));
    assert_eq!(
        handle(
            &mut session,
            frame(C::Ack)
                .with_header("id", "a-1")
                .with_header("transaction", "tx1")
        ),
        acked(C::Ack, "a-1")
    );
    assert!(session.is_open());
}

// --- DISCONNECT and receipts ---------------------------------------------------------

#[test]
fn disconnect_with_receipt_answers_receipt_then_closes() {
    let mut session = open_session();
    assert_eq!(
        handle(
            &mut session,
            frame(C::Disconnect).with_header("receipt", "bye")
        ),
        vec![receipt("bye"), Action::Close]
    );
    assert!(session.is_closed());
}

#[test]
fn disconnect_without_receipt_just_closes() {
    let mut session = open_session();
    assert_eq!(
        handle(&mut session, frame(C::Disconnect)),
        vec![Action::Close]
    );
    assert!(session.is_closed());
}

#[test]
fn disconnect_drops_pending_transactions() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "tx1"));
    handle(
        &mut session,
        send("general", "one").with_header("transaction", "tx1"),
    );
    assert_eq!(
        handle(&mut session, frame(C::Disconnect)),
        vec![Action::Close]
    );
    assert_eq!(handle(&mut session, tx_frame(C::Commit, "tx1")), vec![]);
}

#[test]
fn failing_frames_with_receipt_carry_receipt_id_in_the_error() {
    let failing = [
        send("general", "").with_header("receipt", "r-1"),
        send("BAD", "hi").with_header("receipt", "r-1"),
        frame(C::Subscribe).with_header("receipt", "r-1"),
        frame(C::Unsubscribe)
            .with_header("id", "x")
            .with_header("receipt", "r-1"),
        tx_frame(C::Commit, "nope").with_header("receipt", "r-1"),
        frame(C::Ack).with_header("receipt", "r-1"),
    ];
    for f in failing {
        let mut session = open_session();
        let command = f.command;
        let actions = handle(&mut session, f);
        assert_eq!(
            error_frame(&actions).header("receipt-id"),
            Some("r-1"),
            "{command:?}"
        );
    }
}

#[test]
fn failing_connect_with_receipt_carries_receipt_id() {
    let mut session = new_session();
    let actions = session.handle(connect_frame("1.2").with_header("receipt", "r-0"), |_| {
        Err(TokenError::Invalid)
    });
    let error = error_frame(&actions);
    assert_eq!(error.header("message"), Some(AUTH_FAILED));
    assert_eq!(error.header("receipt-id"), Some("r-0"));
}

#[test]
fn failing_frames_without_receipt_have_no_receipt_id() {
    let mut session = open_session();
    let actions = handle(&mut session, send("general", ""));
    assert_eq!(error_frame(&actions).header("receipt-id"), None);
}

#[test]
fn unknown_destination_error_explains_in_a_text_body() {
    let mut session = open_session();
    let actions = handle(
        &mut session,
        frame(C::Send)
            .with_header("destination", "/queue/x")
            .with_body("hi"),
    );
    let error = error_frame(&actions);
    assert_eq!(error.header("content-type"), Some("text/plain"));
    let text = std::str::from_utf8(&error.body).unwrap();
    assert!(text.contains("/queue/x"), "{text}");
}

// --- timers and external failures ---------------------------------------------------

#[test]
fn connect_deadline_before_connect_closes_with_error() {
    let mut session = new_session();
    assert_error(&session.connect_deadline_passed());
    assert!(session.is_closed());
    assert_eq!(session.handle(connect_frame("1.2"), accept), vec![]);
}

#[test]
fn connect_deadline_after_connect_does_nothing() {
    let mut session = open_session();
    assert_eq!(session.connect_deadline_passed(), vec![]);
    assert!(session.is_open());
}

#[test]
fn connect_deadline_after_close_does_nothing() {
    let mut session = new_session();
    session.fail("gone", None);
    assert_eq!(session.connect_deadline_passed(), vec![]);
}

#[test]
fn check_expiry_before_exp_does_nothing() {
    let mut session = open_session();
    assert_eq!(session.check_expiry(EXPIRES_AT - 1), vec![]);
    assert!(session.is_open());
}

#[test]
fn check_expiry_at_exp_ends_the_session() {
    let mut session = open_session();
    let actions = session.check_expiry(EXPIRES_AT);
    assert_eq!(error_message(&actions).as_deref(), Some(TOKEN_EXPIRED));
    assert!(session.is_closed());
    assert_eq!(handle(&mut session, send("general", "hi")), vec![]);
}

#[test]
fn check_expiry_after_exp_ends_the_session() {
    let mut session = open_session();
    let actions = session.check_expiry(EXPIRES_AT + 3600);
    assert_eq!(error_message(&actions).as_deref(), Some(TOKEN_EXPIRED));
}

#[test]
fn check_expiry_before_connect_or_after_close_does_nothing() {
    let mut session = new_session();
    assert_eq!(session.check_expiry(i64::MAX), vec![]);
    let mut session = open_session();
    handle(&mut session, frame(C::Disconnect));
    assert_eq!(session.check_expiry(EXPIRES_AT), vec![]);
}

#[test]
fn fail_sends_error_with_message_then_closes() {
    let mut session = open_session();
    let actions = session.fail("slow consumer", Some("r-5"));
    assert_eq!(
        actions,
        vec![
            Action::Frame(ServerFrame::error("slow consumer").with_header("receipt-id", "r-5")),
            Action::Close,
        ]
    );
    assert!(session.is_closed());
    assert_eq!(handle(&mut session, send("general", "hi")), vec![]);
}

#[test]
fn fail_without_receipt_has_no_receipt_id() {
    let mut session = open_session();
    let actions = session.fail("room not found", None);
    assert_eq!(
        actions,
        vec![
            Action::Frame(ServerFrame::error("room not found")),
            Action::Close
        ]
    );
}

#[test]
fn send_receipt_carries_message_id_and_seq() {
    assert_eq!(
        Session::send_receipt("r-1", 42, 7),
        ServerFrame::receipt("r-1")
            .with_header("message-id", "42")
            .with_header("seq", "7")
    );
}

#[test]
fn opening_one_transaction_too_many_is_a_fatal_error() {
    let mut session = open_session();
    for i in 0..MAX_TRANSACTIONS {
        assert_eq!(
            handle(&mut session, tx_frame(C::Begin, &format!("t{i}"))),
            vec![]
        );
    }
    let message = assert_refused(&mut session, tx_frame(C::Begin, "one-more"));
    assert!(message.contains("too many open transactions"), "{message}");
}

#[test]
fn a_closed_transaction_frees_its_slot() {
    let mut session = open_session();
    for round in 0..10 {
        for i in 0..MAX_TRANSACTIONS {
            let tx = format!("t{round}-{i}");
            assert_eq!(handle(&mut session, tx_frame(C::Begin, &tx)), vec![]);
        }
        for i in 0..MAX_TRANSACTIONS {
            let tx = format!("t{round}-{i}");
            let end = if i % 2 == 0 { C::Abort } else { C::Commit };
            handle(&mut session, tx_frame(end, &tx));
        }
    }
    assert!(session.is_open());
}

#[test]
fn one_send_too_many_in_a_transaction_drops_it_whole() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "t"));
    for i in 0..MAX_TRANSACTION_SENDS {
        let actions = handle(
            &mut session,
            send("general", &format!("m{i}")).with_header("transaction", "t"),
        );
        assert_eq!(actions, vec![], "buffered, not stored");
    }
    let actions = handle(
        &mut session,
        send("general", "over").with_header("transaction", "t"),
    );
    let message = assert_error(&actions);
    assert!(message.contains("too many SENDs"), "{message}");
    assert!(
        !actions.iter().any(|a| matches!(a, Action::Store { .. })),
        "nothing of the transaction is stored: {actions:?}"
    );
    assert_eq!(handle(&mut session, tx_frame(C::Commit, "t")), vec![]);
}

#[test]
fn overlong_transaction_ids_are_refused() {
    let mut session = open_session();
    let long = "t".repeat(crate::domain::MAX_ID_CHARS + 1);
    let message = assert_refused(&mut session, tx_frame(C::Begin, &long));
    assert!(message.contains("transaction header"), "{message}");
    let mut session = open_session();
    let ok = "t".repeat(crate::domain::MAX_ID_CHARS);
    assert_eq!(handle(&mut session, tx_frame(C::Begin, &ok)), vec![]);
}

#[test]
fn control_characters_in_id_headers_are_fatal() {
    let frames = |bad: &str| {
        vec![
            send("general", "x").with_header("client-id", bad),
            tx_frame(C::Begin, bad),
            send("general", "x").with_header("receipt", bad),
            subscribe(bad, "general"),
            frame(C::Unsubscribe).with_header("id", bad),
            frame(C::Ack).with_header("id", bad),
        ]
    };
    for bad in ["a\0b", "a\nb", "a\rb", "bell\u{7}", "del\u{7f}"] {
        for f in frames(bad) {
            let mut session = open_session();
            let actions = handle(&mut session, f.clone());
            let error = error_frame(&actions);
            assert!(
                !actions.iter().any(|a| matches!(a, Action::Store { .. })),
                "{f:?}: nothing stored"
            );
            assert!(
                error
                    .header("message")
                    .is_some_and(|m| m.contains("control characters")),
                "{f:?}: {error:?}"
            );
            assert_eq!(
                error.header("receipt-id").filter(|r| r.contains(bad)),
                None,
                "a bad id is never echoed"
            );
            assert!(session.is_closed());
        }
    }
}

#[test]
fn a_transactional_send_with_a_bad_client_id_is_refused_before_commit() {
    let mut session = open_session();
    handle(&mut session, tx_frame(C::Begin, "t"));
    let actions = handle(
        &mut session,
        send("general", "x")
            .with_header("transaction", "t")
            .with_header("client-id", "a\0"),
    );
    assert_error(&actions);
    assert_eq!(handle(&mut session, tx_frame(C::Commit, "t")), vec![]);
}

#[test]
fn connect_over_the_connection_limit_is_refused_with_its_own_message() {
    let mut session = new_session();
    let actions = session.handle_admitting(connect_frame("1.2"), |_| {
        Err(ConnectRefusal::TooManyConnections)
    });
    assert_eq!(assert_error(&actions), TOO_MANY_CONNECTIONS);
    assert!(session.is_closed());
}

// --- a room's activity -----------------------------------------------------------

#[test]
fn a_rooms_activity_is_subscribed_to_without_a_replay() {
    let mut session = open_session();
    let actions = handle(
        &mut session,
        subscribe("a", "general/activity").with_header("since-seq", "3"),
    );
    assert_eq!(
        actions,
        vec![Action::Subscribe(SubscribeRequest {
            id: "a".into(),
            room: room("general"),
            activity: true,
            ack: AckMode::Auto,
            since_seq: None,
            receipt: None,
        })]
    );
}

#[test]
fn typing_is_the_only_thing_sent_to_a_rooms_activity() {
    let mut session = open_session();
    assert_eq!(
        handle(
            &mut session,
            send("general/activity", r#"{"type":"typing"}"#).with_header("receipt", "t")
        ),
        vec![Action::Typing {
            room: room("general"),
            receipt: Some("t".into()),
        }]
    );
    for body in [
        r#"{"type":"read"}"#,
        r#"{"type":"typing","extra":1}"#,
        "typing",
        "",
    ] {
        let mut session = open_session();
        assert_refused(&mut session, send("general/activity", body));
    }
}
