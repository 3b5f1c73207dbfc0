//! Reading a client frame's headers into validated values. What does not
//! validate is a [`Fatal`]: the session answers ERROR with its message and
//! closes.

use crate::destination::{DESTINATION_PREFIX, Destination, USER_UPDATES};
use crate::domain::{IdError, MAX_ID_CHARS, check_id};
use crate::stomp::ClientFrame;

use super::{Action, Session};

/// A frame-level refusal: ERROR with this message, then close.
pub(super) struct Fatal {
    pub(super) message: String,
    pub(super) detail: Option<String>,
    pub(super) extra_header: Option<(&'static str, &'static str)>,
}

impl Fatal {
    pub(super) fn new(message: impl Into<String>) -> Self {
        Fatal {
            message: message.into(),
            detail: None,
            extra_header: None,
        }
    }
    fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = Some(d.into());
        self
    }
}

/// What handling one frame comes to: actions, or a refusal.
pub(super) type Outcome = Result<Vec<Action>, Fatal>;

/// A RECEIPT for the frame if it asked for one.
pub(super) fn receipt_action(frame: &ClientFrame) -> Vec<Action> {
    frame
        .header("receipt")
        .map(|r| Action::Frame(Session::receipt(r)))
        .into_iter()
        .collect()
}

fn required<'a>(frame: &'a ClientFrame, name: &str) -> Result<&'a str, Fatal> {
    frame.header(name).ok_or_else(|| {
        Fatal::new(format!(
            "{} frame needs a {name} header",
            frame.command.as_str()
        ))
    })
}

/// `value` of header `name` if it is a valid client-chosen id.
pub(super) fn id_header<'a>(name: &str, value: &'a str) -> Result<&'a str, Fatal> {
    check_id(value, MAX_ID_CHARS).map(|()| value).map_err(|e| {
        Fatal::new(match e {
            IdError::Length(max) => format!("{name} header must be 1-{max} characters"),
            IdError::Control => format!("{name} header must not contain control characters"),
        })
    })
}

/// A required id-like header, validated.
pub(super) fn required_id<'a>(frame: &'a ClientFrame, name: &str) -> Result<&'a str, Fatal> {
    id_header(name, required(frame, name)?)
}

/// An optional id-like header, validated.
pub(super) fn optional_id<'a>(
    frame: &'a ClientFrame,
    name: &str,
) -> Result<Option<&'a str>, Fatal> {
    frame.header(name).map(|v| id_header(name, v)).transpose()
}

/// The room log or activity a `/topic/rooms/{name}[/activity]`
/// destination names, or the user destination.
pub(super) fn destination(frame: &ClientFrame) -> Result<Destination, Fatal> {
    let destination = required(frame, "destination")?;
    crate::destination::parse(destination).ok_or_else(|| {
        Fatal::new("unknown destination").detail(format!(
            "destinations are {DESTINATION_PREFIX}{{room}}, \
             {DESTINATION_PREFIX}{{room}}/activity and {USER_UPDATES}, got {destination}"
        ))
    })
}
