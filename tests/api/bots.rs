//! Bots and their API tokens: the README, "Bots and webhooks".

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use stomp_client::{StompClient, connect_frame};

use crate::db::Backend;
use crate::helpers::{
    TestApp, TestUser, on_both_backends, refused, spawn_app, spawn_app_with, status,
};
use crate::membership::{join, members, say};

on_both_backends!(
    a_bot_gets_a_token_shown_once_that_works_as_a_bearer_token,
    a_bot_token_is_stored_only_as_a_hash,
    a_bot_connects_over_stomp_with_its_token_and_posts,
    rotating_a_token_refuses_the_old_one_at_once,
    another_users_bot_is_not_found,
    bots_cannot_log_in_with_a_password,
    a_deleted_bot_is_refused_and_its_name_stays_taken,
    deleting_a_bot_deletes_its_account_but_not_its_webhooks_messages,
    concurrent_deletions_of_a_bot_delete_it_once,
    bot_names_follow_the_username_rules,
    concurrent_creations_of_one_name_make_one_bot,
    a_deactivated_owners_bots_are_refused_until_reactivation,
    a_deactivated_bot_is_refused_until_reactivation,
    a_deleted_owners_bots_are_refused,
);

/// Creates `name` owned by `owner`: (the user object, the token).
async fn create_bot(app: &TestApp, owner: &TestUser, name: &str) -> (serde_json::Value, String) {
    let r = app
        .post(
            "/api/v1/bots",
            Some(&owner.access_token),
            json!({"username": name}),
        )
        .await;
    assert_eq!(r.status, 201, "create bot {name}: {:?}", r.body);
    let token = r.body["token"].as_str().expect("a token").to_string();
    (r.body["user"].clone(), token)
}

/// The bot `user` (as created) acting with `token`.
fn acting_as(user: &serde_json::Value, token: &str) -> TestUser {
    TestUser {
        username: user["username"].as_str().expect("a name").to_string(),
        password: String::new(),
        access_token: token.to_string(),
        refresh_token: String::new(),
        user_id: user["id"].as_i64().expect("an id"),
    }
}

async fn delete_bot(app: &TestApp, owner: &TestUser, name: &str) -> crate::helpers::Reply {
    let path = format!("/api/v1/bots/{name}");
    app.request(Method::DELETE, &path, Some(&owner.access_token), None)
        .await
}

async fn a_bot_gets_a_token_shown_once_that_works_as_a_bearer_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (user, token) = create_bot(&app, &alice, "deploybot").await;
    assert_eq!(user["username"], "deploybot");
    assert_eq!(user["bot"], true, "a bot's user object says so: {user}");
    assert!(
        token.starts_with("parley_bot_"),
        "a recognisable prefix: {token}"
    );
    assert!(
        token.len() >= "parley_bot_".len() + 43,
        "at least 256 bits: {token}"
    );

    let me = app.get("/api/v1/me", &token).await;
    assert_eq!(me.status, 200, "the token is a Bearer token: {:?}", me.body);
    assert_eq!(me.body["username"], "deploybot");
    assert_eq!(me.body["bot"], true);
    let alice_me = app.get("/api/v1/me", &alice.access_token).await;
    assert_eq!(alice_me.body["bot"], false, "people are not bots");

    let list = app.get("/api/v1/bots", &alice.access_token).await;
    assert_eq!(list.status, 200);
    let bots = list.body["bots"].as_array().unwrap();
    assert_eq!(bots.len(), 1);
    assert_eq!(bots[0]["username"], "deploybot");
    assert!(bots[0].get("token").is_none(), "a token is shown only once");
    let none = app.get("/api/v1/bots", &token).await;
    assert_eq!(none.body["bots"], json!([]), "a bot owns no bots");

    // A bot acts like a user: it creates a room and posts.
    app.create_room(
        &TestUser {
            access_token: token.clone(),
            ..alice.clone()
        },
        "ops",
        false,
    )
    .await;
    let posted = app
        .post(
            "/api/v1/rooms/ops/messages",
            Some(&token),
            json!({"body": "deployed"}),
        )
        .await;
    assert_eq!(posted.status, 201, "{:?}", posted.body);
    assert_eq!(posted.body["sender"], "deploybot");
}

async fn a_bot_token_is_stored_only_as_a_hash(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (user, token) = create_bot(&app, &alice, "hashbot").await;
    let id = user["id"].as_i64().unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM bot_tokens WHERE user_id = {id}"
        ))
        .await,
        1
    );
    let hash = parley::auth::bot_token::hash(&token);
    let stored = app.state.store.bot_by_token(&hash).await.unwrap();
    assert_eq!(stored.map(|b| b.user.username).as_deref(), Some("hashbot"));
    // No column holds the token itself.
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM users WHERE password_hash LIKE '%{}%'",
            &token["parley_bot_".len()..]
        ))
        .await,
        0
    );
    assert_eq!(
        app.count("SELECT count(*) FROM bot_tokens WHERE length(token_hash) <> 32")
            .await,
        0,
        "only SHA-256 hashes are stored"
    );
}

async fn a_bot_connects_over_stomp_with_its_token_and_posts(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "general", false).await;
    let (_, token) = create_bot(&app, &alice, "chatbot").await;

    let (mut bot, connected) = StompClient::connect_returning(&app, &token).await;
    assert_eq!(connected.command, "CONNECTED");
    assert_eq!(connected.header("user-name").as_deref(), Some("chatbot"));
    let receipt = bot.send_chat("general", "hello from a bot", "r1").await;
    assert_eq!(receipt.command, "RECEIPT", "{receipt}");

    // As the passcode too.
    assert!(passcode_connects(&app, &token).await, "as the passcode too");

    let history = super::stomp::history(&app, &alice.access_token, "general").await;
    assert_eq!(history.last().unwrap()["sender"], "chatbot");
    assert_eq!(history.last().unwrap()["body"], "hello from a bot");

    // A made-up token with the prefix is refused like any bad token.
    let (mut fake, first) =
        StompClient::open_and_send(&app, connect_frame("parley_bot_not-a-real-token")).await;
    assert_eq!(first.command, "ERROR", "{first}");
    assert_eq!(
        first.header("message").as_deref(),
        Some("authentication failed")
    );
    fake.expect_closed().await;
}

async fn rotating_a_token_refuses_the_old_one_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (_, old) = create_bot(&app, &alice, "rotor").await;
    let mut live = StompClient::connect(&app, &old).await;
    let r = app
        .post(
            "/api/v1/bots/rotor/token",
            Some(&alice.access_token),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let new = r.body["token"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    let refused = app.get("/api/v1/me", &old).await;
    assert_eq!(refused.status, 401, "the old token stops working at once");
    assert_eq!(refused.code(), "unauthorized");
    assert_eq!(app.get("/api/v1/me", &new).await.status, 200);
    let err = StompClient::try_connect(&app, &old).await.err();
    assert!(err.is_some(), "the old token cannot open a STOMP session");
    StompClient::connect(&app, &new).await;
    let frames = live.expect_closed_within(Duration::from_secs(3)).await;
    assert!(
        frames.iter().any(|f| f.command == "ERROR"),
        "the session opened with the old token ends: {frames:?}"
    );
}

async fn another_users_bot_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let mallory = app.signup("mallory").await;
    let (_, token) = create_bot(&app, &alice, "alicebot").await;
    for (method, path) in [
        (Method::POST, "/api/v1/bots/alicebot/token"),
        (Method::DELETE, "/api/v1/bots/alicebot"),
        (Method::POST, "/api/v1/bots/nobody/token"),
        (Method::DELETE, "/api/v1/bots/alice"),
    ] {
        let r = app
            .request(method.clone(), path, Some(&mallory.access_token), None)
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (404, "user_not_found"),
            "{method} {path}"
        );
    }
    assert_eq!(app.get("/api/v1/me", &token).await.status, 200, "untouched");
    let list = app.get("/api/v1/bots", &mallory.access_token).await;
    assert_eq!(list.body["bots"], json!([]));
}

async fn bots_cannot_log_in_with_a_password(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    create_bot(&app, &alice, "nologin").await;
    for password in ["", "whatever-password", "pw-nologin-secret"] {
        let r = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({"username": "nologin", "password": password}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (401, "invalid_credentials"),
            "{password:?}"
        );
    }
}

async fn a_deleted_bot_is_refused_and_its_name_stays_taken(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (user, token) = create_bot(&app, &alice, "gonebot").await;
    let mut live = StompClient::connect(&app, &token).await;
    let r = delete_bot(&app, &alice, "gonebot").await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    assert_eq!(app.get("/api/v1/me", &token).await.status, 401);
    assert_eq!(
        app.get("/api/v1/bots", &alice.access_token).await.body["bots"],
        json!([])
    );
    let again = delete_bot(&app, &alice, "gonebot").await;
    assert_eq!(again.code(), "user_not_found");
    let signup = app
        .post(
            "/api/v1/auth/signup",
            None,
            json!({"username": "GoneBot", "password": "long-enough-password"}),
        )
        .await;
    assert_eq!(signup.code(), "username_taken", "the name stays reserved");
    live.expect_closed_within(Duration::from_secs(5)).await;
    let id = user["id"].as_i64().unwrap();
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM bot_tokens WHERE user_id = {id}"
        ))
        .await,
        0,
        "its token's hash is gone"
    );
    assert_eq!(
        app.count(&format!(
            "SELECT count(*) FROM users WHERE id = {id} AND deleted_at IS NOT NULL \
             AND erased_at IS NOT NULL"
        ))
        .await,
        1,
        "closed and erased as an account"
    );
}

async fn deleting_a_bot_deletes_its_account_but_not_its_webhooks_messages(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    app.create_room(&alice, "general", false).await;
    let (user, token) = create_bot(&app, &alice, "opsbot").await;
    let bot = acting_as(&user, &token);
    // The bot owns `ops` (alice joins it) and made its incoming webhook.
    app.create_room(&bot, "ops", false).await;
    status(&join(&app, &alice, "ops").await, 200, "alice joins ops");
    let hook = app
        .post(
            "/api/v1/rooms/ops/webhooks",
            Some(&token),
            json!({"kind": "incoming", "name": "ci"}),
        )
        .await;
    let url = status(&hook, 201, "the bot makes a webhook")["url"]
        .as_str()
        .unwrap()
        .to_string();
    let hook_path = &url[url.find("/api/v1/hooks/").unwrap()..];
    let r = app
        .post(hook_path, None, json!({"text": "build green"}))
        .await;
    status(&r, 200, "through the bot's webhook");
    let in_general = say(&app, &bot, "general", "opsbot's secret words").await;
    say(&app, &bot, "ops", "opsbot's other secret").await;
    let mut watcher = StompClient::connect(&app, &bob.access_token).await;
    watcher.subscribe("g", "general").await;
    let mut live = StompClient::connect(&app, &token).await;

    let r = delete_bot(&app, &alice, "opsbot").await;
    assert_eq!(r.status, 204, "{:?}", r.body);

    let deleted = watcher.expect_message().await.json();
    assert_eq!(
        (deleted["type"].as_str(), deleted["target"].as_i64()),
        (Some("delete"), in_general["seq"].as_i64()),
        "subscribers see the bot's message deleted live: {deleted}"
    );
    let frames = live.expect_closed_within(Duration::from_secs(5)).await;
    assert!(
        frames.iter().any(|f| f.command == "ERROR"),
        "the bot's session ends: {frames:?}"
    );
    let history = status(
        &app.get("/api/v1/rooms/ops/messages", &alice.access_token)
            .await,
        200,
        "ops history",
    );
    let events = history["messages"].as_array().unwrap();
    let by = |sender: &str| {
        events
            .iter()
            .filter(|e| e["type"] == "message" && e["sender"] == sender)
            .cloned()
            .collect::<Vec<_>>()
    };
    let webhook = by("webhook:ci");
    assert_eq!(webhook.len(), 1, "{events:?}");
    assert_eq!(
        (webhook[0]["body"].as_str(), webhook[0]["deleted"].as_bool()),
        (Some("build green"), Some(false)),
        "the webhook's message stays"
    );
    let own = by("opsbot");
    assert_eq!(own.len(), 1, "{events:?}");
    assert_eq!(
        (own[0]["body"].as_str(), own[0]["deleted"].as_bool()),
        (Some(""), Some(true)),
        "the bot's own message is erased"
    );
    assert_eq!(
        app.count("SELECT count(*) FROM messages WHERE body LIKE '%secret%'")
            .await,
        0,
        "the bot's text is gone from storage"
    );
    let list = status(&members(&app, &alice, "ops").await, 200, "members");
    let role_of = |name: &str| {
        list["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["username"] == name)
            .map(|m| m["role"].clone())
    };
    assert_eq!(role_of("opsbot"), None, "the bot left ops: {list}");
    assert_eq!(
        role_of("alice"),
        Some(json!("owner")),
        "ops passed to alice: {list}"
    );
    let r = app
        .post(hook_path, None, json!({"text": "still here"}))
        .await;
    status(&r, 200, "the room's webhook goes on");
    refused(
        &app.get("/api/v1/users/opsbot", &bob.access_token).await,
        404,
        "user_not_found",
        "nobody finds the deleted bot",
    );
}

async fn concurrent_deletions_of_a_bot_delete_it_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    create_bot(&app, &alice, "twicebot").await;
    let tries = (0..10).map(|_| delete_bot(&app, &alice, "twicebot"));
    let replies = futures_util::future::join_all(tries).await;
    let deleted = replies.iter().filter(|r| r.status == 204).count();
    let missing = replies
        .iter()
        .filter(|r| r.code() == "user_not_found")
        .count();
    assert_eq!((deleted, missing), (1, 9), "one deletion, the rest 404");
    assert_eq!(
        app.count(
            "SELECT count(*) FROM users WHERE username = 'twicebot' AND deleted_at IS NOT NULL"
        )
        .await,
        1
    );
}

async fn bot_names_follow_the_username_rules(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    for name in ["ab", "has space", "webhook:x", &"a".repeat(33)] {
        let r = app
            .post(
                "/api/v1/bots",
                Some(&alice.access_token),
                json!({"username": name}),
            )
            .await;
        assert_eq!(
            (r.status.as_u16(), r.code()),
            (400, "invalid_username"),
            "{name:?}"
        );
    }
    let taken = app
        .post(
            "/api/v1/bots",
            Some(&alice.access_token),
            json!({"username": "ALICE"}),
        )
        .await;
    assert_eq!(
        (taken.status.as_u16(), taken.code()),
        (409, "username_taken")
    );
    let unknown = app
        .post(
            "/api/v1/bots",
            Some(&alice.access_token),
            json!({"username": "okbot", "admin": true}),
        )
        .await;
    assert_eq!(
        unknown.code(),
        "invalid_request",
        "unknown fields are refused"
    );
    let anonymous = app
        .post("/api/v1/bots", None, json!({"username": "okbot"}))
        .await;
    assert_eq!(anonymous.status, 401);
}

async fn concurrent_creations_of_one_name_make_one_bot(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let tries = (0..20).map(|_| {
        app.post(
            "/api/v1/bots",
            Some(&alice.access_token),
            json!({"username": "racebot"}),
        )
    });
    let replies = futures_util::future::join_all(tries).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let taken = replies
        .iter()
        .filter(|r| r.code() == "username_taken")
        .count();
    assert_eq!((created, taken), (1, 19), "one bot, the rest 409");
    assert_eq!(
        app.count("SELECT count(*) FROM users WHERE username = 'racebot'")
            .await,
        1
    );
    assert_eq!(app.count("SELECT count(*) FROM bot_tokens").await, 1);
}

/// An app whose `ADMIN_USERS` is `root`, and root.
async fn with_admin(backend: Backend) -> (TestApp, TestUser) {
    let app = spawn_app_with(backend, |c| {
        c.admins = parley::config::Administrators::parse("root");
    })
    .await;
    let root = app.signup("root").await;
    (app, root)
}

/// `root` deactivates or reactivates `username`.
async fn set_active(app: &TestApp, root: &TestUser, username: &str, active: bool) {
    let change = if active { "reactivate" } else { "deactivate" };
    let path = format!("/api/v1/admin/users/{username}/{change}");
    let r = app
        .request(Method::POST, &path, Some(&root.access_token), None)
        .await;
    assert_eq!(r.status, 204, "{change} {username}: {:?}", r.body);
}

/// Whether `token` opens a STOMP session as the CONNECT frame's passcode.
async fn passcode_connects(app: &TestApp, token: &str) -> bool {
    let connect = stomp_client::frame(
        "CONNECT",
        &[
            ("accept-version", "1.2"),
            ("host", "localhost"),
            ("passcode", token),
        ],
        "",
    );
    let (mut client, first) = StompClient::open_and_send(app, connect).await;
    match first.command.as_str() {
        "CONNECTED" => true,
        "ERROR" => {
            assert_eq!(
                first.header("message").as_deref(),
                Some("authentication failed"),
                "{first}"
            );
            client.expect_closed().await;
            false
        }
        other => panic!("CONNECT answered {other}: {first}"),
    }
}

/// The bot's token (a member of `ops`) is refused over HTTP and STOMP,
/// and its live session ended, once `username` is deactivated; it works again, the same token,
/// once reactivated.
async fn refused_while_deactivated(app: &TestApp, root: &TestUser, username: &str, token: &str) {
    let r = app
        .request(Method::POST, "/api/v1/rooms/ops/join", Some(token), None)
        .await;
    assert_eq!(r.status, 200, "the bot joins ops: {:?}", r.body);
    let mut live = StompClient::connect(app, token).await;
    set_active(app, root, username, false).await;
    let frames = live.expect_closed_within(Duration::from_secs(2)).await;
    assert!(
        frames
            .iter()
            .any(|f| f.header("message").as_deref() == Some("session revoked")),
        "the bot's live session ends: {frames:?}"
    );
    let r = app.get("/api/v1/me", token).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthorized"), "HTTP");
    let posted = app
        .post(
            "/api/v1/rooms/ops/messages",
            Some(token),
            json!({"body": "still here?"}),
        )
        .await;
    assert_eq!(posted.status, 401, "nothing is posted: {:?}", posted.body);
    assert!(!passcode_connects(app, token).await, "as a STOMP passcode");
    assert!(
        StompClient::try_connect(app, token).await.is_err(),
        "as a STOMP Authorization header"
    );

    set_active(app, root, username, true).await;
    let me = app.get("/api/v1/me", token).await;
    assert_eq!(me.status, 200, "the same token works again: {:?}", me.body);
    assert!(passcode_connects(app, token).await, "and as a passcode");
    let posted = app
        .post(
            "/api/v1/rooms/ops/messages",
            Some(token),
            json!({"body": "back"}),
        )
        .await;
    assert_eq!(posted.status, 201, "{:?}", posted.body);
}

async fn a_deactivated_owners_bots_are_refused_until_reactivation(backend: Backend) {
    let (app, root) = with_admin(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "ops", false).await;
    let (_, token) = create_bot(&app, &alice, "opsbot").await;
    let (_, other) = create_bot(&app, &root, "rootbot").await;
    refused_while_deactivated(&app, &root, "alice", &token).await;
    assert_eq!(
        app.get("/api/v1/me", &other).await.status,
        200,
        "another owner's bot was never affected"
    );
    // Read as the bot: alice's own sessions ended with her deactivation.
    let history = super::stomp::history(&app, &token, "ops").await;
    let bodies: Vec<_> = history
        .iter()
        .filter(|e| e["type"] == "message")
        .map(|e| e["body"].clone())
        .collect();
    assert_eq!(bodies, [json!("back")], "only the post after reactivation");
}

async fn a_deactivated_bot_is_refused_until_reactivation(backend: Backend) {
    let (app, root) = with_admin(backend).await;
    let alice = app.signup("alice").await;
    app.create_room(&alice, "ops", false).await;
    let (_, token) = create_bot(&app, &alice, "rogue").await;
    refused_while_deactivated(&app, &root, "rogue", &token).await;
}

async fn a_deleted_owners_bots_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let alice = app.signup("alice").await;
    let (_, token) = create_bot(&app, &alice, "orphan").await;
    let mut live = StompClient::connect(&app, &token).await;
    let r = app
        .request(
            Method::DELETE,
            "/api/v1/me",
            Some(&alice.access_token),
            Some(json!({"password": alice.password})),
        )
        .await;
    assert_eq!(r.status, 204, "alice deletes her account: {:?}", r.body);
    live.expect_closed_within(Duration::from_secs(2)).await;
    let r = app.get("/api/v1/me", &token).await;
    assert_eq!((r.status.as_u16(), r.code()), (401, "unauthorized"), "HTTP");
    assert!(
        !passcode_connects(&app, &token).await,
        "as a STOMP passcode"
    );
}
