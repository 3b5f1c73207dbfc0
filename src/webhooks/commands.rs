//! Slash commands (README, "Bots and webhooks"): a message of a room whose
//! body is `/NAME` or `/NAME text`, where the room has a command `NAME`, is
//! not stored; `{"room", "user", "text"}` is POSTed, signed, to the
//! command's URL, and the `text` of a 2xx JSON answer is stored as a
//! message from `webhook:NAME` through `chat`, like any message. Both edges
//! (HTTP `POST …/messages`, STOMP SEND) ask [`Commands::invoked`] and then
//! [`Commands::run`]; what each tells its client on a failure is theirs.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::deliver::signed_headers;
use crate::auth::AuthUser;
use crate::chat::{Chat, ChatError, Post};
use crate::domain::{Attachments, MessageBody};
use crate::egress::{Egress, Failure};
use crate::store::webhooks::Webhook;
use crate::store::{Appended, DynStore, Room, StoreResult};

/// A command a message invokes.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub hook: Webhook,
    /// What follows `/NAME `.
    pub text: String,
}

/// Why a command gave no answer to store.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No answer within the timeout (10 s).
    #[error("the command did not answer in time")]
    Timeout,
    /// Refused address, connection error, a non-2xx answer, or not JSON
    /// `{"text"}` with a valid message body.
    #[error("the command failed: {0}")]
    Failed(String),
    #[error(transparent)]
    Chat(#[from] ChatError),
}

#[derive(Serialize)]
struct Request<'a> {
    room: &'a str,
    user: &'a str,
    text: &'a str,
}

#[derive(Deserialize)]
struct Answer {
    text: String,
}

#[derive(Clone)]
pub struct Commands {
    store: DynStore,
    chat: Chat,
    egress: Egress,
    max_body_bytes: usize,
}

/// `(NAME, text)` of a body `/NAME` or `/NAME text`.
pub fn split(body: &str) -> Option<(&str, &str)> {
    let rest = body.strip_prefix('/')?;
    let (name, text) = rest.split_once(' ').unwrap_or((rest, ""));
    super::valid_command(name).then_some((name, text))
}

impl Commands {
    pub fn new(store: DynStore, chat: Chat, egress: Egress, max_body_bytes: usize) -> Self {
        Commands {
            store,
            chat,
            egress,
            max_body_bytes,
        }
    }

    /// The room's command that `body` invokes, if any (else the body is a
    /// plain message).
    pub async fn invoked(&self, room: &Room, body: &str) -> StoreResult<Option<Invocation>> {
        let Some((name, text)) = split(body) else {
            return Ok(None);
        };
        let hook = self.store.command_webhook(room.id, name).await?;
        Ok(hook.map(|hook| Invocation {
            hook,
            text: text.to_string(),
        }))
    }

    /// Calls the command for `user` and stores its answer.
    pub async fn run(
        &self,
        room: &Room,
        user: &AuthUser,
        call: &Invocation,
    ) -> Result<Appended, CommandError> {
        let text = self.call(room, user, call).await?;
        let body = MessageBody::parse(text.as_bytes(), self.max_body_bytes)
            .map_err(|e| CommandError::Failed(format!("its answer is not a message: {e}")))?;
        self.store_from(room, &call.hook, body).await
    }

    /// Stores the server's notice that the command failed, from the
    /// command's sender: `command /NAME failed: <why>`.
    pub async fn notice_failure(
        &self,
        room: &Room,
        call: &Invocation,
        why: &CommandError,
    ) -> Result<Appended, CommandError> {
        let name = call.hook.command.as_deref().unwrap_or(&call.hook.name);
        let text = format!("command /{name} failed: {why}");
        let body = MessageBody::parse(text.as_bytes(), self.max_body_bytes.max(text.len()))
            .map_err(|e| CommandError::Failed(e.to_string()))?;
        self.store_from(room, &call.hook, body).await
    }

    async fn store_from(
        &self,
        room: &Room,
        hook: &Webhook,
        body: MessageBody,
    ) -> Result<Appended, CommandError> {
        let user_id = hook
            .user_id
            .ok_or_else(|| CommandError::Failed("the command has no sender".into()))?;
        let sender = super::sender(user_id, &hook.name);
        let post = Post {
            room: room.clone(),
            body,
            client_id: None,
            reply_to: None,
            attachments: Attachments::default(),
        };
        let mut stored = self.chat.post(&sender, vec![post]).await?;
        stored.pop().ok_or(CommandError::Chat(ChatError::Task))
    }

    async fn call(
        &self,
        room: &Room,
        user: &AuthUser,
        call: &Invocation,
    ) -> Result<String, CommandError> {
        let (Some(url), Some(key)) = (&call.hook.url, &call.hook.signing_key) else {
            return Err(CommandError::Failed("the command has no URL".into()));
        };
        let request = Request {
            room: &room.name,
            user: &user.username,
            text: &call.text,
        };
        let body = Bytes::from(serde_json::to_vec(&request).expect("strings serialise"));
        let id = format!("{}:command:{}", room.name, uuid::Uuid::new_v4());
        let headers = signed_headers(key, &id, &body);
        let answer = self
            .egress
            .post(url, headers, body)
            .await
            .map_err(|e| match e {
                Failure::Timeout => CommandError::Timeout,
                other => CommandError::Failed(other.to_string()),
            })?;
        if !answer.status.is_success() {
            return Err(CommandError::Failed(format!(
                "it answered {}",
                answer.status
            )));
        }
        let answer: Answer = serde_json::from_slice(&answer.body)
            .map_err(|_| CommandError::Failed("its answer is not JSON {\"text\"}".into()))?;
        Ok(answer.text)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_a_command_and_its_text() {
        assert_eq!(
            super::split("/deploy now please"),
            Some(("deploy", "now please"))
        );
        assert_eq!(super::split("/deploy"), Some(("deploy", "")));
        assert_eq!(super::split("/Deploy x"), None);
        assert_eq!(super::split("deploy"), None);
        assert_eq!(super::split("/deploy\nx"), None, "a space or the end");
        assert_eq!(super::split("/ x"), None);
    }
}
