//! Which events of a room an outgoing webhook delivers (its `events`,
//! stored comma-separated).

use std::fmt;

use crate::store::EventKind;

const ALL: [EventKind; 4] = [
    EventKind::Message,
    EventKind::Edit,
    EventKind::Delete,
    EventKind::Reaction,
];

/// A set of event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventFilter {
    kinds: [bool; 4],
}

fn index(kind: EventKind) -> usize {
    match kind {
        EventKind::Message => 0,
        EventKind::Edit => 1,
        EventKind::Delete => 2,
        EventKind::Reaction => 3,
    }
}

impl EventFilter {
    /// The kinds named (`message`, `edit`, `delete`, `reaction`); all four
    /// when none are given. Unknown names are ignored (stored filters hold
    /// only known ones).
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Self {
        let mut kinds = [false; 4];
        let mut any = false;
        for name in names {
            if let Some(kind) = ALL.iter().find(|k| k.as_str() == name) {
                kinds[index(*kind)] = true;
                any = true;
            }
        }
        if !any {
            kinds = [true; 4];
        }
        EventFilter { kinds }
    }

    /// The filter as stored.
    pub fn from_stored(stored: Option<&str>) -> Self {
        Self::parse(stored.unwrap_or("").split(','))
    }

    pub fn delivers(&self, kind: EventKind) -> bool {
        self.kinds[index(kind)]
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = ALL
            .iter()
            .filter(|k| self.delivers(**k))
            .map(|k| k.as_str())
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows_filters() {
        let f = EventFilter::parse(["edit", "message"]);
        assert!(f.delivers(EventKind::Message) && f.delivers(EventKind::Edit));
        assert!(!f.delivers(EventKind::Reaction));
        assert_eq!(f.to_string(), "message,edit");
        assert_eq!(
            EventFilter::parse([]).to_string(),
            "message,edit,delete,reaction"
        );
        assert_eq!(
            EventFilter::from_stored(Some("delete")).to_string(),
            "delete"
        );
    }
}
