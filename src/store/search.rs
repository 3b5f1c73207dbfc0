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
//!
//! Whatever the terms, one request reads at most `scan_limit` candidates
//! (`SEARCH_SCAN_LIMIT`):
//! a short term that matches little (or nothing) answers a partial page
//! with `has_more` and the cursor to go on from (`next_before`), instead of
//! reading every message of the caller's rooms on one request.

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
    /// Most candidates read when short terms filter them
    /// (`SEARCH_SCAN_LIMIT`): past it, the page ends where the reading
    /// stopped.
    pub scan_limit: i64,
}

/// A page of `message` events in their current state, newest first (by id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub events: Vec<Event>,
    /// More matches may exist, older than the page.
    pub has_more: bool,
    /// With `has_more`: the `before` of the next page (the page's last id,
    /// or, when the reading stopped at the query's `scan_limit`, the oldest
    /// message read, which can be older than the page's last result).
    pub next_before: Option<i64>,
}

impl Found {
    /// The page from `limit` + 1 fetched events, newest first.
    pub(super) fn page(mut events: Vec<Event>, limit: i64) -> Self {
        let limit = limit.max(0) as usize;
        let has_more = events.len() > limit;
        events.truncate(limit);
        let next_before = has_more.then(|| events.last().map(|e| e.id)).flatten();
        Found {
            events,
            has_more,
            next_before,
        }
    }

    /// A page cut short by the scan budget: `events` (at most `limit`) and
    /// more to read below `read_to`, the oldest candidate read.
    fn cut(mut events: Vec<Event>, limit: i64, read_to: i64) -> Self {
        events.truncate(limit.max(0) as usize);
        Found {
            events,
            has_more: true,
            next_before: Some(read_to),
        }
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
/// match are found, the candidates run out, or `scan_limit` of them were
/// read.
pub(super) async fn search<I: SearchIndex>(
    index: &I,
    user_id: i64,
    query: &SearchQuery,
) -> StoreResult<Found> {
    // Without short terms every candidate matches: the first round fills
    // the page or runs out, and the budget never applies.
    let filtered = !query.terms.short.is_empty();
    let budget = if filtered {
        query.scan_limit.max(1)
    } else {
        i64::MAX
    };
    let wanted = query.limit.max(0) as usize + 1;
    let mut found = Vec::with_capacity(wanted);
    let mut before = query.before.unwrap_or(i64::MAX);
    let mut chunk = if filtered {
        (wanted as i64 * 4).max(100)
    } else {
        wanted as i64
    };
    let mut read = 0;
    loop {
        let ask = chunk.min(budget - read);
        let rows = index
            .candidates(user_id, query.room_id, &query.terms.long, before, ask)
            .await?;
        read += rows.len() as i64;
        let exhausted = (rows.len() as i64) < ask;
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
        if read >= budget {
            return Ok(Found::cut(found, query.limit, before));
        }
        chunk = (chunk * 2).min(MAX_CHUNK);
    }
}

/// [`SearchStore`] for a backend `$store` whose rows carry times as `$time`:
/// search through its [`SearchIndex`] ([`search`]), mentions through its
/// `$mentions` query ((user_id, before, limit) → rows, newest first).
macro_rules! impl_search {
    (store: $store:ident, time: $time:ty, mentions: $mentions:ident $(,)?) => {
        #[async_trait::async_trait]
        impl $crate::store::SearchStore for $store {
            async fn search(
                &self,
                user_id: i64,
                query: &$crate::store::SearchQuery,
            ) -> $crate::store::StoreResult<$crate::store::Found> {
                $crate::store::search::search(self, user_id, query).await
            }

            async fn mentions_of(
                &self,
                user_id: i64,
                before: Option<i64>,
                limit: i64,
            ) -> $crate::store::StoreResult<$crate::store::Found> {
                let rows: Vec<$crate::store::rows::EventRow<$time>> = sqlx::query_as($mentions)
                    .bind(user_id)
                    .bind(before.unwrap_or(i64::MAX))
                    .bind(limit + 1)
                    .fetch_all(&self.pool)
                    .await?;
                Ok($crate::store::Found::page(
                    rows.into_iter().map(Into::into).collect(),
                    limit,
                ))
            }
        }
    };
}
pub(super) use impl_search;

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

    /// An index over `bodies` (ids 1..=n), answering as a backend does, that
    /// counts the candidates it hands out.
    struct Memory {
        bodies: Vec<&'static str>,
        read: std::sync::atomic::AtomicI64,
    }

    #[async_trait]
    impl SearchIndex for Memory {
        async fn candidates(
            &self,
            _user_id: i64,
            _room_id: Option<i64>,
            long: &[String],
            before: i64,
            limit: i64,
        ) -> StoreResult<Vec<Event>> {
            let rows: Vec<Event> = (1..=self.bodies.len() as i64)
                .rev()
                .filter(|id| *id < before)
                .filter(|id| {
                    let body = self.bodies[*id as usize - 1].to_lowercase();
                    long.iter().all(|t| body.contains(&t.to_lowercase()))
                })
                .take(limit as usize)
                .map(|id| event(id, self.bodies[id as usize - 1]))
                .collect();
            self.read
                .fetch_add(rows.len() as i64, std::sync::atomic::Ordering::Relaxed);
            Ok(rows)
        }
    }

    fn event(id: i64, body: &str) -> Event {
        Event {
            id,
            room: "r".into(),
            seq: id,
            kind: super::super::EventKind::Message,
            sender: "u".into(),
            body: body.into(),
            client_id: None,
            reply_to: None,
            target: None,
            mentions: vec![],
            key: None,
            added: None,
            edited_at: None,
            deleted: false,
            reactions: vec![],
            attachments: vec![],
            created_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    fn query(q: &str, before: Option<i64>, limit: i64, scan_limit: i64) -> SearchQuery {
        SearchQuery {
            terms: SearchTerms::parse(q),
            room_id: None,
            before,
            limit,
            scan_limit,
        }
    }

    fn ids(found: &Found) -> Vec<i64> {
        found.events.iter().map(|e| e.id).collect()
    }

    fn memory(bodies: Vec<&'static str>) -> Memory {
        Memory {
            bodies,
            read: 0.into(),
        }
    }

    #[tokio::test]
    async fn a_full_page_points_at_its_last_result() {
        let index = memory(vec!["ab one", "x", "ab two", "ab three", "ab four"]);
        let found = search(&index, 1, &query("ab", None, 2, 1000))
            .await
            .unwrap();
        assert_eq!(ids(&found), vec![5, 4]);
        assert!(found.has_more);
        assert_eq!(found.next_before, Some(4));
        let rest = search(&index, 1, &query("ab", Some(4), 2, 1000))
            .await
            .unwrap();
        assert_eq!(ids(&rest), vec![3, 1]);
        assert!(!rest.has_more);
        assert_eq!(rest.next_before, None);
    }

    #[tokio::test]
    async fn a_short_term_reads_at_most_the_budget_and_says_where_it_stopped() {
        // 1000 messages; only the two oldest hold "zq".
        let mut bodies = vec!["zq first", "zq second"];
        bodies.extend(std::iter::repeat_n("nothing here", 998));
        let index = memory(bodies);
        let found = search(&index, 1, &query("zq", None, 20, 300))
            .await
            .unwrap();
        assert!(found.events.is_empty());
        assert!(found.has_more, "the budget ran out before the messages did");
        assert_eq!(index.read.load(std::sync::atomic::Ordering::Relaxed), 300);
        assert_eq!(found.next_before, Some(701), "the oldest message read");
        // Following the cursor reaches the matches, the budget at a time.
        let mut before = found.next_before;
        let mut seen = Vec::new();
        for _ in 0..5 {
            let page = search(&index, 1, &query("zq", before, 20, 300))
                .await
                .unwrap();
            seen.extend(ids(&page));
            if !page.has_more {
                break;
            }
            before = page.next_before;
        }
        assert_eq!(seen, vec![2, 1]);
    }

    #[tokio::test]
    async fn long_terms_alone_are_not_cut_by_the_budget() {
        let mut bodies = vec!["castle"; 30];
        bodies.extend(std::iter::repeat_n("moat", 50));
        let index = memory(bodies);
        let found = search(&index, 1, &query("castle", None, 20, 10))
            .await
            .unwrap();
        assert_eq!(ids(&found), (11..=30).rev().collect::<Vec<_>>());
        assert!(found.has_more);
        assert_eq!(found.next_before, Some(11));
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
