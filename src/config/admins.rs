//! `ADMIN_USERS`: the server's administrators (README, "Administration"),
//! by username in any letter case, as usernames are unique ignoring case.

use std::collections::HashSet;

/// The usernames of the server's administrators, lowercased.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Administrators(HashSet<String>);

impl Administrators {
    /// From the comma-separated list (blanks and empty items ignored).
    pub fn parse(raw: &str) -> Self {
        Administrators(
            raw.split(',')
                .map(|name| name.trim().to_lowercase())
                .filter(|name| !name.is_empty())
                .collect(),
        )
    }

    /// Whether `username` (in any letter case) is an administrator.
    pub fn contains(&self, username: &str) -> bool {
        !self.0.is_empty() && self.0.contains(&username.to_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_in_any_letter_case_and_blanks_are_ignored() {
        let admins = Administrators::parse(" Alice, ,bob ,");
        assert!(admins.contains("alice"));
        assert!(admins.contains("ALICE"));
        assert!(admins.contains("Bob"));
        assert!(!admins.contains("carol"));
        assert!(!admins.contains(""));
        assert!(!Administrators::parse("").contains("alice"));
    }
}
