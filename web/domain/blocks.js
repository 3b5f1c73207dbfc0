// The people I block (GET /me/blocks). Events: `change`, `error` {text}.

import { describeError } from '../api.js';

export class BlocksViewModel extends EventTarget {
  constructor(app) {
    super();
    this.app = app;
    /** By username. */
    this.people = new Map();
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  has(username) {
    return this.people.has(username);
  }

  /** Sorted usernames. */
  get names() {
    return [...this.people.keys()].sort((a, b) => a.localeCompare(b));
  }

  async load() {
    try {
      const { blocks } = await this.app.session.request('GET', '/me/blocks');
      this.people = new Map(blocks.map((u) => [u.username, u]));
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  /** Blocks or unblocks `username`; throws what the server said. */
  async set(username, block) {
    await this.app.session.request(block ? 'PUT' : 'DELETE', `/me/blocks/${encodeURIComponent(username)}`);
    await this.load();
  }

  clear() {
    this.people = new Map();
    this.#emit('change');
  }
}
