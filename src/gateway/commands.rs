//! A SEND invoking one of the room's slash commands (README, "Bots and
//! webhooks"): the message is not stored; the command is called (at most
//! 10 s) and its answer stored, or, when it fails or times out, the
//! server's notice `command /NAME failed: …` from `webhook:NAME`; then the
//! SEND's RECEIPT. The connection handles no other frame meanwhile, so the
//! RECEIPT keeps its place in the order of the connection's answers.
//! Inside a transaction a SEND is always a plain message.

use super::connection::Connection;
use super::ending::{End, Flow};
use crate::session::SendRequest;
use crate::store::Room;
use crate::webhooks::commands::{CommandError, Invocation};

impl Connection {
    /// The command `send` invokes in `room`, if any.
    pub(super) async fn invoked_command(
        &self,
        room: &Room,
        send: &SendRequest,
    ) -> Result<Option<Invocation>, End> {
        let found = self.state.commands.invoked(room, send.body.as_str()).await;
        found.map_err(|e| {
            tracing::error!(error = %e, "looking up a command failed");
            End::error("server error", send.receipt.as_deref())
        })
    }

    /// Runs `call` for the session's user, stores its answer (or the
    /// failure notice), then writes `receipt`.
    pub(super) async fn run_command(
        &mut self,
        room: &Room,
        call: &Invocation,
        receipt: Option<String>,
    ) -> Flow {
        // Whatever was sent before is answered first.
        self.settle().await?;
        let user = self.user().clone();
        let commands = &self.state.commands;
        let stored = match commands.run(room, &user, call).await {
            Err(why @ (CommandError::Timeout | CommandError::Failed(_))) => {
                tracing::info!(command = ?call.hook.command, error = %why, "command failed");
                commands.notice_failure(room, call, &why).await
            }
            other => other,
        };
        if let Err(e) = stored {
            tracing::error!(error = %e, "storing a command's answer failed");
            return Err(End::error("server error", receipt.as_deref()));
        }
        self.write_receipt(receipt);
        Ok(())
    }
}
