//! How frames travel: several per WebSocket message, split across messages,
//! binary messages, CRLF, header escaping, content-length and the size and
//! body limits.

use parley::config::Config;

use super::{history, history_seqs};
use crate::db::Backend;
use crate::helpers::{on_both_backends, on_sqlite, spawn_app, spawn_app_with};
use stomp_client::{StompClient, connect_frame, frame, topic};

// What is stored, byte for byte: on both stores.
on_both_backends!(
    body_with_nul_is_parsed_by_content_length_and_refused,
    utf8_body_with_content_length_is_stored_exactly,
);

// The framing itself: once.
on_sqlite!(
    several_frames_in_one_websocket_message_are_all_served,
    frame_split_across_websocket_messages_is_reassembled,
    binary_websocket_messages_are_accepted,
    crlf_line_endings_are_accepted,
    subscription_id_is_escaped_in_message_headers,
    undefined_header_escape_is_a_fatal_error,
    stomp_1_1_session_has_no_carriage_return_escape,
    connect_headers_are_not_unescaped,
    header_values_are_not_trimmed,
    repeated_header_first_value_wins,
    invalid_utf8_body_is_a_fatal_error,
    empty_body_is_a_fatal_error,
    body_over_max_body_bytes_is_a_fatal_error,
    frame_over_max_frame_bytes_is_a_fatal_error,
    unterminated_frame_over_max_frame_bytes_is_a_fatal_error,
    unknown_command_is_a_fatal_error,
    malformed_frame_is_a_fatal_error,
);

fn unlimited(c: &mut Config) {
    c.limits.send_rate = 0;
}

async fn several_frames_in_one_websocket_message_are_all_served(backend: Backend) {
    let app = spawn_app_with(backend, unlimited).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let dest = topic("general");
    let mut one_message = Vec::new();
    one_message.extend(connect_frame(&alice.access_token));
    for i in 1..=3 {
        one_message.extend(frame(
            "SEND",
            &[("destination", &dest), ("receipt", &format!("r{i}"))],
            format!("message {i}"),
        ));
    }
    let mut client = StompClient::open(&app).await;
    client.send(one_message).await;
    client.expect_command("CONNECTED").await;
    for i in 1..=3 {
        let receipt = client.expect_receipt(&format!("r{i}")).await;
        assert_eq!(
            receipt.seq(),
            i,
            "frames of one message are served in order"
        );
    }
    let stored = history(&app, &alice.access_token, "general").await;
    let bodies: Vec<_> = stored.iter().map(|m| m["body"].as_str().unwrap()).collect();
    assert_eq!(bodies, ["message 1", "message 2", "message 3"]);
}

async fn frame_split_across_websocket_messages_is_reassembled(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::open(&app).await;

    // CONNECT in two pieces, cut inside a header.
    let connect = connect_frame(&alice.access_token);
    let (a, b) = connect.split_at(20);
    client.send(a.to_vec()).await;
    client.send(b.to_vec()).await;
    client.expect_command("CONNECTED").await;

    // SEND in three pieces: inside the command, inside the headers, and
    // inside a body whose length comes from content-length.
    let body = "split across three websocket messages";
    let send = frame(
        "SEND",
        &[
            ("destination", "/topic/rooms/general"),
            ("content-length", &body.len().to_string()),
            ("receipt", "r1"),
        ],
        body,
    );
    let cuts = [2, 30, send.len() - 5];
    client.send(send[..cuts[0]].to_vec()).await;
    client.send(send[cuts[0]..cuts[1]].to_vec()).await;
    client.send(send[cuts[1]..cuts[2]].to_vec()).await;
    client.send(send[cuts[2]..].to_vec()).await;
    let receipt = client.expect_receipt("r1").await;
    assert_eq!(receipt.seq(), 1);
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(stored.len(), 1, "exactly one message is stored: {stored:?}");
    assert_eq!(
        stored[0]["body"], body,
        "the reassembled body is stored whole"
    );
}

async fn binary_websocket_messages_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::open(&app).await;
    client.send_binary(connect_frame(&alice.access_token)).await;
    client.expect_command("CONNECTED").await;
    client
        .send_binary(frame(
            "SEND",
            &[("destination", "/topic/rooms/general"), ("receipt", "r1")],
            "sent as binary",
        ))
        .await;
    client.expect_receipt("r1").await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(stored[0]["body"], "sent as binary");
}

async fn crlf_line_endings_are_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::open(&app).await;
    let connect = format!(
        "CONNECT\r\naccept-version:1.2\r\nhost:localhost\r\nAuthorization:Bearer {}\r\n\r\n\0",
        alice.access_token
    );
    client.send(connect).await;
    let connected = client.expect_command("CONNECTED").await;
    assert_eq!(
        connected.header("user-name").as_deref(),
        Some("alice"),
        "the token is read without the CR: {connected}"
    );
    client
        .send("SEND\r\ndestination:/topic/rooms/general\r\nreceipt:r1\r\n\r\ncrlf\0")
        .await;
    client.expect_receipt("r1").await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(
        stored[0]["body"], "crlf",
        "the CR belongs to the line ending, not the body"
    );
}

async fn subscription_id_is_escaped_in_message_headers(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    // The id is `room:general\1`, escaped on the wire.
    let wire_id = r"room\cgeneral\\1";
    sub.send(frame(
        "SUBSCRIBE",
        &[
            ("id", wire_id),
            ("destination", "/topic/rooms/general"),
            ("receipt", "s"),
        ],
        "",
    ))
    .await;
    sub.expect_receipt("s").await;
    let mut alice_c = StompClient::connect(&app, &alice.access_token).await;
    alice_c.send_chat("general", "hi", "r1").await;
    let message = sub.expect_message().await;
    assert_eq!(
        message.raw_header("subscription"),
        Some(wire_id),
        "the subscription id goes back escaped exactly as 1.2 requires: {message}"
    );
    assert_eq!(
        message.header("subscription").as_deref(),
        Some(r"room:general\1")
    );
}

async fn undefined_header_escape_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("x-note", r"tab\there"),
                ("receipt", "r1"),
            ],
            "hello",
        ))
        .await;
    client.expect_error_then_close().await;
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty(),
        "a frame with an undefined escape is rejected whole"
    );
}

async fn stomp_1_1_session_has_no_carriage_return_escape(backend: Backend) {
    // STOMP 1.1 defines only `\n`, `\c` and `\\`; `\r` is 1.2's addition.
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let auth = format!("Bearer {}", alice.access_token);
    let (mut client, first) = StompClient::open_and_send(
        &app,
        frame(
            "CONNECT",
            &[
                ("accept-version", "1.1"),
                ("host", "localhost"),
                ("Authorization", &auth),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(first.header("version").as_deref(), Some("1.1"), "{first}");
    client
        .send(frame(
            "SUBSCRIBE",
            &[
                // `\n` decodes to a control character, refused in ids:
                // it is tried in a header the server ignores.
                ("id", r"a\cb\\c"),
                ("x-note", r"line\nbreak"),
                ("destination", "/topic/rooms/general"),
                ("receipt", "ok"),
            ],
            "",
        ))
        .await;
    client.expect_receipt("ok").await;
    client
        .send(frame(
            "SUBSCRIBE",
            &[
                ("id", r"line\rbreak"),
                ("destination", "/topic/rooms/general"),
            ],
            "",
        ))
        .await;
    client.expect_error_then_close().await;
}

async fn connect_headers_are_not_unescaped(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let auth = format!("Bearer {}", alice.access_token);
    // `\d` and `\t` would be undefined escapes in any other frame.
    let (_c, first) = StompClient::open_and_send(
        &app,
        frame(
            "CONNECT",
            &[
                ("accept-version", "1.2"),
                ("host", r"corp\dev"),
                ("login", r"DOMAIN\tom"),
                ("Authorization", &auth),
            ],
            "",
        ),
    )
    .await;
    assert_eq!(
        first.command, "CONNECTED",
        "CONNECT headers are taken literally, so backslashes do not break it: {first}"
    );
}

async fn header_values_are_not_trimmed(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.send(frame(
        "SUBSCRIBE",
        &[
            ("id", " padded id "),
            ("destination", "/topic/rooms/general"),
            ("receipt", "s"),
        ],
        "",
    ))
    .await;
    sub.expect_receipt("s").await;
    let mut alice_c = StompClient::connect(&app, &alice.access_token).await;
    alice_c.send_chat("general", "hi", "r1").await;
    let message = sub.expect_message().await;
    assert_eq!(
        message.header("subscription").as_deref(),
        Some(" padded id "),
        "header values keep their spaces: {message}"
    );
}

async fn repeated_header_first_value_wins(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    app.create_room(&alice, "other", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("destination", "/topic/rooms/other"),
                ("receipt", "r1"),
            ],
            "first destination wins",
        ))
        .await;
    client.expect_receipt("r1").await;
    let general = history(&app, &alice.access_token, "general").await;
    let other = history(&app, &alice.access_token, "other").await;
    assert_eq!(
        (general.len(), other.len()),
        (1, 0),
        "a repeated header's first value wins: the message belongs in `general` only"
    );
}

async fn body_with_nul_is_parsed_by_content_length_and_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    let body = "before\0after";
    client
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("content-length", &body.len().to_string()),
                ("receipt", "r1"),
            ],
            body,
        ))
        .await;
    let error = client.expect_error_then_close().await;
    assert_eq!(
        error.header("receipt-id").as_deref(),
        Some("r1"),
        "the frame was read whole (by content-length), so its receipt header is known: {error}"
    );
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty(),
        "a body containing U+0000 is refused, and neither half is stored"
    );
}

async fn utf8_body_with_content_length_is_stored_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let mut sub = StompClient::connect(&app, &bob.access_token).await;
    sub.subscribe("s", "general").await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    let body = "héllo 🌍\nsecond line\r\n  key:value \\ \"quoted\"\n\n";
    client
        .send(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("content-length", &body.len().to_string()),
                ("receipt", "r1"),
            ],
            body,
        ))
        .await;
    client.expect_receipt("r1").await;
    let stored = history(&app, &alice.access_token, "general").await;
    assert_eq!(stored[0]["body"], body, "the body is stored byte for byte");
    let message = sub.expect_message().await;
    assert_eq!(message.json()["body"], body, "and delivered byte for byte");
}

async fn invalid_utf8_body_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    let body: &[u8] = b"caf\xe9 latin-1";
    client
        .send_binary(frame(
            "SEND",
            &[
                ("destination", "/topic/rooms/general"),
                ("content-length", &body.len().to_string()),
            ],
            body,
        ))
        .await;
    client.expect_error_then_close().await;
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty()
    );
}

async fn empty_body_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client
        .send(frame(
            "SEND",
            &[("destination", "/topic/rooms/general"), ("receipt", "r1")],
            "",
        ))
        .await;
    let error = client.expect_error_then_close().await;
    assert_eq!(error.header("receipt-id").as_deref(), Some("r1"), "{error}");
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty()
    );
}

async fn body_over_max_body_bytes_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    // 4096 bytes is the limit itself: accepted. Multi-byte characters count
    // as bytes: 2048 × "é" is 4096 bytes.
    let at_limit = "é".repeat(2048);
    let receipt = client.send_chat("general", &at_limit, "r1").await;
    assert_eq!(
        receipt.seq(),
        1,
        "a 4096-byte body is within MAX_BODY_BYTES"
    );
    let over = format!("{at_limit}x");
    client
        .send(frame(
            "SEND",
            &[("destination", "/topic/rooms/general"), ("receipt", "r2")],
            over,
        ))
        .await;
    client.expect_error_then_close().await;
    assert_eq!(
        history_seqs(&history(&app, &alice.access_token, "general").await),
        [1],
        "the 4097-byte body is not stored"
    );
}

async fn frame_over_max_frame_bytes_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    // A complete, well-formed frame of ~70 KB (a huge header, a small body),
    // delivered in 16 KiB WebSocket messages so only the STOMP limit applies.
    let pad = "p".repeat(70_000);
    let big = frame(
        "SEND",
        &[("destination", "/topic/rooms/general"), ("x-pad", &pad)],
        "small body",
    );
    for chunk in big.chunks(16 * 1024) {
        if !client.try_send(chunk.to_vec()).await {
            break; // the server may already have closed
        }
    }
    client.expect_error_then_close().await;
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty()
    );
}

async fn unterminated_frame_over_max_frame_bytes_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    // A frame that never ends: the server must not buffer it forever.
    client
        .send("SEND\ndestination:/topic/rooms/general\n\n")
        .await;
    let chunk = "x".repeat(16 * 1024);
    for _ in 0..6 {
        if !client.try_send(chunk.clone()).await {
            break;
        }
    }
    client.expect_error_then_close().await;
}

async fn unknown_command_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let mut client = StompClient::connect(&app, &alice.access_token).await;
    client
        .send(frame("PUBLISH", &[("receipt", "r1")], ""))
        .await;
    let error = client.expect_error_then_close().await;
    assert_eq!(
        error.header("receipt-id").as_deref(),
        Some("r1"),
        "the ERROR names the receipt the frame asked for: {error}"
    );
}

async fn malformed_frame_is_a_fatal_error(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let malformed: [&[u8]; 3] = [
        b"SEND\ndestination:/topic/rooms/general\ncontent-length:abc\n\nhello\0",
        b"SEND\ndestination:/topic/rooms/general\nno colon here\n\nhello\0",
        // content-length says 3 but the byte after them is not NUL.
        b"SEND\ndestination:/topic/rooms/general\ncontent-length:3\n\nhello\0",
    ];
    for bytes in malformed {
        let mut client = StompClient::connect(&app, &alice.access_token).await;
        client.send(bytes.to_vec()).await;
        let frames = client.expect_closed().await;
        assert_eq!(
            frames
                .iter()
                .map(|f| f.command.as_str())
                .collect::<Vec<_>>(),
            ["ERROR"],
            "a malformed frame ({:?}) gets an ERROR, then close",
            String::from_utf8_lossy(bytes)
        );
    }
    assert!(
        history(&app, &alice.access_token, "general")
            .await
            .is_empty()
    );
}
