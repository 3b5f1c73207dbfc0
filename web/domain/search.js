// Search results and mentions of me: what is listed and how far it is read.
// Events: `change`, `error` {text}. The server decides what a valid query is
// (its error is what the person reads).

import { describeError } from '../api.js';

/** Results asked for per page. */
const RESULTS_PAGE = 20;
/** Pages a search may read on its own before it asks: a page can come back
 * short, even empty, with more to read (README, "Search and mentions"). */
const RESULTS_AUTO_PAGES = 3;

export class SearchViewModel extends EventTarget {
  constructor(app) {
    super();
    this.app = app;
    /** { kind: 'search' | 'mentions', q, items, before, hasMore, loading, loaded } or null. */
    this.results = null;
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** The terms to mark in the results. */
  get terms() {
    const r = this.results;
    return r?.kind === 'search' ? r.q.split(/\s+/).filter(Boolean) : [];
  }

  start(kind, q = '') {
    this.results = { kind, q, items: [], before: null, hasMore: false, loading: false, loaded: false };
    this.#emit('change');
    return this.more();
  }

  close() {
    this.results = null;
    this.#emit('change');
  }

  async more() {
    const r = this.results;
    if (!r || r.loading) return;
    r.loading = true;
    this.#emit('change');
    try {
      for (let pages = 0; pages < RESULTS_AUTO_PAGES; pages += 1) {
        const before = r.before === null ? '' : `&before=${r.before}`;
        const route =
          r.kind === 'search'
            ? `/search?q=${encodeURIComponent(r.q)}&limit=${RESULTS_PAGE}${before}`
            : `/me/mentions?limit=${RESULTS_PAGE}${before}`;
        const page = await this.app.session.request('GET', route);
        if (this.results !== r) return;
        r.items.push(...page.results);
        r.loaded = true;
        const next = page.next_before ?? page.results.at(-1)?.id ?? null;
        r.hasMore = Boolean(page.has_more) && next !== null;
        if (next !== null) r.before = next;
        this.#emit('change');
        if (!r.hasMore || page.results.length >= RESULTS_PAGE) break;
      }
    } catch (err) {
      const bounds = this.app.config.search;
      const overrides = bounds
        ? { invalid_query: `Search for ${bounds.min_query_chars} to ${bounds.max_query_chars} characters.` }
        : {};
      if (this.results === r) this.#emit('error', { text: describeError(err, overrides) });
    } finally {
      r.loading = false;
      if (this.results === r) this.#emit('change');
    }
  }
}
