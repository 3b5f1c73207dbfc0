// View models of moderation and administration (the README,
// "Administration"): a queue of reports with their resolution and the audit
// log, for one room (its owner and moderators: base `/rooms/{name}`) or for
// every room (administrators: base `/admin`), the same calls under either
// base; and the administrators' list of accounts. The server decides who may
// do what: its refusal is what the person reads.
// Events: `change`, `error` {text}.

import { describeError } from '../api.js';

/** Audit entries per page. */
const AUDIT_PAGE = 50;

export class ModerationViewModel extends EventTarget {
  /** @param {string} base  `/admin`, or `/rooms/{name}` (encoded) */
  constructor(app, base) {
    super();
    this.app = app;
    this.base = base;
    /** Unresolved first, newest first (as the server orders them). */
    this.reports = [];
    /** Newest first. */
    this.entries = [];
    this.moreEntries = false;
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #request(method, route, body) {
    return this.app.session.request(method, `${this.base}${route}`, body);
  }

  get unresolved() {
    return this.reports.filter((r) => !r.resolved).length;
  }

  /** Reads the reports and the newest page of the audit log. */
  async load() {
    try {
      const [{ reports }, { entries }] = await Promise.all([
        this.#request('GET', '/reports'),
        this.#request('GET', `/audit?limit=${AUDIT_PAGE}`),
      ]);
      this.reports = reports;
      this.entries = entries;
      this.moreEntries = entries.length === AUDIT_PAGE;
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  async olderEntries() {
    const last = this.entries.at(-1);
    if (!last) return;
    try {
      const { entries } = await this.#request('GET', `/audit?limit=${AUDIT_PAGE}&before=${last.id}`);
      this.entries = [...this.entries, ...entries];
      this.moreEntries = entries.length === AUDIT_PAGE;
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  /** Resolves report `id` with `dismissed` or `deleted` (the message goes too). */
  async resolve(id, action) {
    try {
      await this.#request('POST', `/reports/${id}/resolve`, { action });
      await this.load();
      return true;
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
      return false;
    }
  }
}

/** Accounts as administrators see them: search, pages, deactivation. */
export class AccountsViewModel extends EventTarget {
  constructor(app) {
    super();
    this.app = app;
    this.query = '';
    this.users = [];
    this.hasMore = false;
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async #page(before) {
    const params = new URLSearchParams();
    if (this.query) params.set('q', this.query);
    if (before) params.set('before', String(before));
    const query = params.size > 0 ? `?${params}` : '';
    return this.app.session.request('GET', `/admin/users${query}`);
  }

  /** The first page of accounts whose name contains `query`. */
  async search(query = this.query) {
    this.query = query.trim();
    try {
      const { users, has_more: hasMore } = await this.#page(null);
      this.users = users;
      this.hasMore = hasMore;
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  async more() {
    const last = this.users.at(-1);
    if (!last) return;
    try {
      const { users, has_more: hasMore } = await this.#page(last.id);
      this.users = [...this.users, ...users];
      this.hasMore = hasMore;
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  /** Deactivates (or reactivates) `username`; their sessions end at once. */
  async setActive(username, active) {
    try {
      const verb = active ? 'reactivate' : 'deactivate';
      await this.app.session.request('POST', `/admin/users/${encodeURIComponent(username)}/${verb}`);
      this.users = this.users.map((u) => (u.username === username ? { ...u, deactivated: !active } : u));
      this.#emit('change');
      return true;
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
      return false;
    }
  }

  /** Deletes `username`'s account, as their own deletion would; it leaves the list. */
  async remove(username) {
    try {
      await this.app.session.request('DELETE', `/admin/users/${encodeURIComponent(username)}`);
      this.users = this.users.filter((u) => u.username !== username);
      this.#emit('change');
      return true;
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
      return false;
    }
  }
}
