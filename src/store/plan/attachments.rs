//! The attach rule (README, "Files"): each file a message names must be
//! one its sender uploaded to the same room, not attached yet, and not
//! claimed by an earlier event of the batch. Decided under the room's lock
//! with the rest of the plan, so two messages can never carry one file.

use std::collections::HashSet;

use super::Known;
use crate::store::event::{LogWrite, NewEvent, Refusal};
use crate::store::files::FileMeta;

/// The files `event` attaches, if it may; `claimed` holds those the
/// batch's earlier events took.
pub(super) fn claim(
    event: &NewEvent,
    known: &Known,
    claimed: &HashSet<String>,
) -> Result<Vec<FileMeta>, Refusal> {
    let LogWrite::Message { attachments, .. } = &event.change else {
        return Ok(Vec::new());
    };
    attachments
        .iter()
        .map(|id| match known.files.get(id) {
            Some(f)
                if f.room_id == event.room_id
                    && f.uploader_id == event.sender_id
                    && !f.attached
                    && !claimed.contains(id) =>
            {
                Ok(f.meta.clone())
            }
            _ => Err(Refusal::InvalidAttachment),
        })
        .collect()
}
