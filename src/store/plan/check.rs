//! The rules of edits, deletions, reactions and replies against their
//! target, as the plan sees it (`plan.rs`): who may change which message.

use crate::store::batch::Target;
use crate::store::event::{EventKind, LogWrite, NewEvent, Refusal};

/// Whether `event` may be stored, given the event it targets or replies to
/// (None: no event at that seq in the room) and whether its sender is the
/// room's owner or a moderator.
pub(in crate::store) fn check(
    event: &NewEvent,
    target: Option<&Target>,
    moderator: bool,
) -> Result<(), Refusal> {
    let message = target.filter(|t| t.kind == EventKind::Message);
    match &event.change {
        LogWrite::Message { reply_to: None, .. } => Ok(()),
        LogWrite::Message { .. } => message.map(|_| ()).ok_or(Refusal::InvalidReply),
        LogWrite::Edit { .. } => {
            let t = message.ok_or(Refusal::MessageNotFound)?;
            if t.deleted {
                Err(Refusal::MessageDeleted)
            } else if t.sender_id != event.sender_id {
                Err(Refusal::Forbidden)
            } else {
                Ok(())
            }
        }
        LogWrite::Delete { .. } => {
            let t = message.ok_or(Refusal::MessageNotFound)?;
            if t.deleted {
                Err(Refusal::MessageDeleted)
            } else if t.sender_id != event.sender_id && !moderator {
                Err(Refusal::Forbidden)
            } else {
                Ok(())
            }
        }
        LogWrite::React { .. } => {
            let t = message.ok_or(Refusal::MessageNotFound)?;
            if t.deleted {
                Err(Refusal::MessageDeleted)
            } else {
                Ok(())
            }
        }
    }
}
