// The threads I follow (`GET /me/threads?include_read=true`: the view lists
// the threads read too, so a followed thread stays at hand): each with its
// room, its root and how many replies I have not read, by latest reply,
// newest first. The
// counts are the server's; they are read again when the list is opened,
// when a reply of someone else arrives in a room open here, when a thread
// read marker of mine moves, and when the tab comes back into view.
// Events: `change`, `error` {text}.

import { describeError } from '../api.js';

/** Replies arriving together are one read of the list. */
const RELOAD_AFTER_MS = 300;

export class FollowedThreadsViewModel extends EventTarget {
  constructor(app) {
    super();
    this.app = app;
    /** [{ room, root, unread }] as the server listed them. */
    this.items = [];
    this.loaded = false;
    /** Whether the list is shown in the main pane. */
    this.shown = false;
    this.reloadTimer = null;
    this.generation = 0;
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /** Unread replies in every thread I follow. */
  get totalUnread() {
    return this.items.reduce((n, t) => n + t.unread, 0);
  }

  async load() {
    const generation = ++this.generation;
    try {
      const { threads } = await this.app.session.request('GET', '/me/threads?include_read=true');
      if (generation !== this.generation) return; // a later read wins
      this.items = threads;
      this.loaded = true;
      this.#emit('change');
    } catch (err) {
      if (generation === this.generation) this.#emit('error', { text: describeError(err) });
    }
  }

  /** Reads the list again soon (several replies at once: one read). */
  loadSoon() {
    if (this.reloadTimer) return;
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = null;
      this.load();
    }, RELOAD_AFTER_MS);
  }

  /** A live event of a room open here: a reply of someone else may count. */
  received(message) {
    if (Number.isInteger(message.thread) && message.sender !== this.app.me()) this.loadSoon();
  }

  show(shown) {
    this.shown = shown;
    this.#emit('change');
    if (shown) this.load();
  }

  clear() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = null;
    this.generation += 1;
    this.items = [];
    this.loaded = false;
    this.shown = false;
    this.#emit('change');
  }
}
