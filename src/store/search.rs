//! Search and mentions (README, "Search and mentions"): [`SearchStore`].
//!
//! What matches is decided here, once for both backends: every term of the
//! query is a case-insensitive substring of the message's current text.
//! Terms of three characters or more are matched by the backend's trigram
//! index (Postgres `pg_trgm`, SQLite FTS5 `trigram`), which returns the
//! visible candidates newest first; shorter terms, which no trigram index
//! can serve, filter those candidates here, page by page, until the page is
//! full ([`search`]). A query of short terms only is a scan of the scope's
//! messages, newest first, that stops as soon as the page is full.

use async_trait::async_trait;

use super::{Event, StoreResult};

/// Shortest term a trigram index can serve.
pub const TRIGRAM: usize = 3;

/// Most candidates read in one round trip when short terms filter them.
const MAX_CHUNK: i64 = 4000;

/// The terms of a query: whitespace-separated, each matched as a
/// case-insensitive substring.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchTerms {
    /// Terms the trigram index serves (3 characters or more), as given.
    long: Vec<String>,
    /// Shorter terms, lowercased, that no long term already contains.
    short: Vec<String>,
}

impl SearchTerms {
    /// The terms of `q` (duplicates, in any letter case, dropped). Empty
    /// when `q` is blank.
    pub fn parse(q: &str) -> Self {
        let mut lowered: Vec<(String, String)> = Vec::new();
        for term in q.split_whitespace() {
            let lower = term.to_lowercase();
            if !lowered.iter().any(|(l, _)| *l == lower) {
                lowered.push((lower, term.to_string()));
            }
        }
        let (long, short): (Vec<_>, Vec<_>) = lowered
            .into_iter()
            .partition(|(_, term)| term.chars().count() >= TRIGRAM);
        let short = short
            .into_iter()
            .map(|(lower, _)| lower)
            // Implied by a long term: it matches only where that one does.
            .filter(|s| !long.iter().any(|(l, _)| l.contains(s.as_str())))
            .collect();
        SearchTerms {
            long: long.into_iter().map(|(_, term)| term).collect(),
            short,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.long.is_empty() && self.short.is_empty()
    }

    /// The terms the backend's trigram index matches.
    pub fn long(&self) -> &[String] {
        &self.long
    }

    /// Whether `body` contains every short term, ignoring letter case.
    fn short_terms_match(&self, body: &str) -> bool {
        if self.short.is_empty() {
            return true;
        }
        let body = body.to_lowercase();
        self.short.iter().all(|t| body.contains(t.as_str()))
    }
}

/// A search: its terms, where, and which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub terms: SearchTerms,
    /// Only this room (one the caller may see); else every room the caller
    /// is a member of.
    pub room_id: Option<i64>,
    /// Only messages with a smaller id.
    pub before: Option<i64>,
    /// 1..=50.
    pub limit: i64,
}

/// A page of `message` events in their current state, newest first (by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub events: Vec<Event>,
    /// More matches exist, older than the page.
    pub has_more: bool,
}

impl Found {
    /// The page from `limit` + 1 fetched events, newest first.
    pub(super) fn page(mut events: Vec<Event>, limit: i64) -> Self {
        let limit = limit.max(0) as usize;
        let has_more = events.len() > limit;
        events.truncate(limit);
        Found { events, has_more }
    }
}

#[async_trait]
pub trait SearchStore: Send + Sync + 'static {
    /// `message` events that are not deleted, whose current text contains
    /// every term, in the query's scope, not sent by a user `user_id`
    /// blocks, newest first. The caller has checked that `user_id` may see
    /// `query.room_id`.
    async fn search(&self, user_id: i64, query: &SearchQuery) -> StoreResult<Found>;
    /// `message` events that are not deleted and currently mention
    /// `user_id`, in rooms they are a member of, not sent by a user they
    /// block, newest first: `limit` of them with an id below `before`.
    async fn mentions_of(
        &self,
        user_id: i64,
        before: Option<i64>,
        limit: i64,
    ) -> StoreResult<Found>;
}

/// One backend's half of a search: its index and SQL.
#[async_trait]
pub(super) trait SearchIndex: Send + Sync {
    /// At most `limit` `message` events, not deleted, with an id below
    /// `before`, in `room_id` (else in every room `user_id` is a member of), not from a
    /// user `user_id` blocks, whose text contains every one of `long`
    /// (case-insensitively, through the trigram index; none: every
    /// message), newest first.
    async fn candidates(
        &self,
        user_id: i64,
        room_id: Option<i64>,
        long: &[String],
        before: i64,
        limit: i64,
    ) -> StoreResult<Vec<Event>>;
}

/// [`SearchStore::search`] on `index`: candidates from the index, filtered
/// by the short terms, read in growing chunks until the page and one more
/// match are found or the candidates run out.
pub(super) async fn search<I: SearchIndex>(
    index: &I,
    user_id: i64,
    query: &SearchQuery,
) -> StoreResult<Found> {
    let wanted = query.limit.max(0) as usize + 1;
    let mut found = Vec::with_capacity(wanted);
    let mut before = query.before.unwrap_or(i64::MAX);
    let mut chunk = if query.terms.short.is_empty() {
        wanted as i64
    } else {
        (wanted as i64 * 4).max(100)
    };
    loop {
        let rows = index
            .candidates(user_id, query.room_id, &query.terms.long, before, chunk)
            .await?;
        let exhausted = (rows.len() as i64) < chunk;
        if let Some(last) = rows.last() {
            before = last.id;
        }
        for event in rows {
            if query.terms.short_terms_match(&event.body) {
                found.push(event);
                if found.len() == wanted {
                    return Ok(Found::page(found, query.limit));
                }
            }
        }
        if exhausted {
            return Ok(Found::page(found, query.limit));
        }
        chunk = (chunk * 2).min(MAX_CHUNK);
    }
}

/// `term` as a `LIKE` pattern matching it anywhere (`\` escapes).
pub(super) fn like_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// `terms` as an FTS5 query: each a quoted phrase (a substring, for the
/// trigram tokenizer), all required.
pub(super) fn fts_query(terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_split_on_whitespace_and_drop_duplicates_in_any_case() {
        let t = SearchTerms::parse("  Hello  world\thello ab AB ");
        assert_eq!(t.long, vec!["Hello", "world"]);
        assert_eq!(t.short, vec!["ab"]);
    }

    #[test]
    fn short_terms_inside_long_ones_are_implied() {
        let t = SearchTerms::parse("안녕하세요 안녕 xy");
        assert_eq!(t.long, vec!["안녕하세요"]);
        assert_eq!(t.short, vec!["xy"]);
    }

    #[test]
    fn short_terms_match_ignoring_case_in_any_script() {
        let t = SearchTerms::parse("ÄÖ пр");
        assert!(t.short_terms_match("Käse äö ПРИВЕТ"));
        assert!(!t.short_terms_match("äö only"));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn fts_queries_quote_each_term() {
        let terms = vec!["say\"hi".to_string(), "안녕하".to_string()];
        assert_eq!(fts_query(&terms), "\"say\"\"hi\" AND \"안녕하\"");
    }
}
