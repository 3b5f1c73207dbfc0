//! Mentions (README, "The room log"): each `@name` in a body whose `name`
//! is, ignoring letter case, a member of the room when the event is stored,
//! and is followed by a character outside `[A-Za-z0-9_.-]` or the end. The
//! result is canonical usernames in order of first appearance, without
//! duplicates.
//!
//! Finding the candidates is text work, done here; which of them are members
//! is the store's question, asked inside the transaction that stores the
//! event (so "member when stored" holds under concurrency).

use std::collections::HashMap;

/// The characters a username is made of (and that continue a name).
fn name_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-')
}

/// Shortest and longest username.
const NAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;

/// The lowercased names after each `@` of `body` that could be usernames,
/// in order of first appearance, without duplicates.
pub fn candidates(body: &str) -> Vec<String> {
    let bytes = body.as_bytes();
    let mut found: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(at) = bytes[i..].iter().position(|&b| b == b'@') {
        let start = i + at + 1;
        let len = bytes[start..].iter().take_while(|&&b| name_char(b)).count();
        if NAME_CHARS.contains(&len) {
            // ASCII only, so the byte range is a char boundary.
            let name = body[start..start + len].to_ascii_lowercase();
            if !found.contains(&name) {
                found.push(name);
            }
        }
        i = start + len;
    }
    found
}

/// The mentions among `candidates`: those in `members` (lowercased name →
/// canonical username), as canonical usernames, in the candidates' order.
pub fn resolve(candidates: &[String], members: &HashMap<String, String>) -> Vec<String> {
    candidates
        .iter()
        .filter_map(|name| members.get(name).cloned())
        .collect()
}

/// The mentions of `after` that `before` did not have (letter case
/// ignored): whom an edit newly mentions (README, "Notifications").
pub fn added(before: &[String], after: &[String]) -> Vec<String> {
    after
        .iter()
        .filter(|name| !before.iter().any(|b| b.eq_ignore_ascii_case(name)))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_adds_only_the_names_not_mentioned_before() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            added(&names(&["bob"]), &names(&["carol", "Bob", "dave"])),
            ["carol", "dave"]
        );
        assert!(added(&names(&["bob", "carol"]), &names(&["carol"])).is_empty());
        assert_eq!(added(&[], &names(&["bob"])), ["bob"]);
    }

    #[test]
    fn names_end_at_the_first_character_outside_the_username_set() {
        assert_eq!(candidates("hi @bob"), ["bob"]);
        assert_eq!(candidates("@Bob, @carol! @dave?"), ["bob", "carol", "dave"]);
        // '.' continues a name: "@bob." is the name "bob.".
        assert_eq!(candidates("thanks @bob."), ["bob."]);
        assert_eq!(candidates("@bob's"), ["bob"]);
        assert_eq!(candidates("@한국어 @ab @@eve"), ["eve"]);
        assert_eq!(candidates("mail alice@example.org"), ["example.org"]);
    }

    #[test]
    fn repeats_are_dropped_ignoring_case_and_order_is_first_appearance() {
        assert_eq!(candidates("@carol @bob @CAROL @Bob"), ["carol", "bob"]);
        assert!(candidates("").is_empty() && candidates("@").is_empty());
        let long = format!("@{}", "x".repeat(33));
        assert!(candidates(&long).is_empty(), "longer than any username");
    }

    #[test]
    fn only_members_are_mentioned_under_their_canonical_name() {
        let members = HashMap::from([
            ("bob".to_string(), "Bob".to_string()),
            ("carol".to_string(), "carol".to_string()),
        ]);
        let found = candidates("@eve @CAROL and @bob @bob");
        assert_eq!(resolve(&found, &members), ["carol", "Bob"]);
    }
}
