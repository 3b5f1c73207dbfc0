// One thread opened in the side panel: its root and replies (`GET
// …/threads/{seq}`), whether I follow it and my thread read marker. Replies
// arriving in the room join it live: it follows the room's view model's
// `events`, and shows each message in the room's current state when the
// room's timeline holds it (edits, deletions, reactions applied there).
// No DOM: ui/thread-view.js renders it.
//
//   `change`                the thread or my standing in it changed
//   `read`                  my thread read marker moved (the threads list
//                           reads its counts again)
//   `error`   {text}        something to tell the person
//
// Which thread a reply joins, the summary and who follows are the
// server's (README, "Threads"); a refusal is shown in its words.

import { describeError } from '../api.js';
import { isMessage } from '../timeline.js';

/** Replies read per request (the server's largest page). */
const PAGE = 200;
/** The marker is sent at most this often while replies arrive. */
const READ_EVERY_MS = 500;

export class ThreadViewModel extends EventTarget {
  /**
   * @param {import('./room.js').RoomViewModel} room  the open room
   * @param {number} rootSeq  the seq of the thread's root
   */
  constructor(room, rootSeq) {
    super();
    this.room = room;
    this.rootSeq = rootSeq;
    /** The root as read (the room's timeline has the live state if it holds it). */
    this.rootRead = room.timeline.message(rootSeq) ?? null;
    /** seq → reply as read or received. */
    this.replies = new Map();
    this.following = false;
    this.lastRead = null;
    this.loaded = false;
    this.readTimer = null;
    this.onEvents = ({ detail }) => this.#take(detail.events);
    room.addEventListener('events', this.onEvents);
  }

  get path() {
    return `${this.room.path}/threads/${this.rootSeq}`;
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #request(method, path, body) {
    return this.room.app.session.request(method, path, body);
  }

  /** The root in its current state, or null before it is read. */
  get root() {
    return this.room.timeline.message(this.rootSeq) ?? this.rootRead;
  }

  /** The replies in seq order, each in its current state. */
  list() {
    return [...this.replies.keys()]
      .sort((a, b) => a - b)
      .map((seq) => this.room.timeline.message(seq) ?? this.replies.get(seq));
  }

  /** The latest reply's seq (0: none yet). */
  get latest() {
    let latest = 0;
    for (const seq of this.replies.keys()) latest = Math.max(latest, seq);
    return latest;
  }

  /** Reads the thread, page by page. A message with no reply yet is a
   * thread about to start: its root alone. */
  async load() {
    try {
      let after = 0;
      for (;;) {
        const page = await this.#request('GET', `${this.path}?after=${after}&limit=${PAGE}`);
        this.rootRead = page.root;
        for (const r of page.replies) this.replies.set(r.seq, r);
        this.following = page.following;
        this.lastRead = page.last_read_seq;
        if (!page.has_more || page.replies.length === 0) break;
        after = page.replies.at(-1).seq;
      }
    } catch (err) {
      if (err.code !== 'thread_not_found') {
        this.#emit('error', { text: describeError(err) });
      } else if (!this.root) {
        try {
          this.rootRead = await this.#request('GET', `${this.room.path}/messages/${this.rootSeq}`);
        } catch (again) {
          this.#emit('error', { text: describeError(again) });
        }
      }
    }
    this.loaded = true;
    this.#emit('change');
  }

  /** Events the room released: replies join, changes to what is shown redraw. */
  #take(events) {
    let changed = false;
    for (const e of events) {
      if (isMessage(e) && e.thread === this.rootSeq) {
        this.replies.set(e.seq, e);
        // The server makes a replier follow the thread.
        if (e.sender === this.room.app.me()) this.following = true;
        changed = true;
      } else if (!isMessage(e) && (e.target === this.rootSeq || this.replies.has(e.target))) {
        changed = true;
        if (!this.room.timeline.message(e.target)) this.#refetch(e.target);
      }
    }
    if (changed) this.#emit('change');
  }

  /** A shown message the room's timeline does not hold changed: read it again. */
  async #refetch(seq) {
    try {
      const m = await this.#request('GET', `${this.room.path}/messages/${seq}`);
      if (seq === this.rootSeq) this.rootRead = m;
      else this.replies.set(seq, m);
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  /** Sends a reply to the root (over HTTP: it answers with the stored event). */
  async reply(text) {
    const event = await this.#request('POST', `${this.room.path}/messages`, {
      body: text,
      reply_to: this.rootSeq,
    });
    // Through the room's timeline, like the live copy (whichever comes second
    // is a duplicate): the room's `events` bring it here.
    this.room.receive(event);
    return event;
  }

  /** Follows or unfollows the thread. */
  async setFollowing(follow) {
    try {
      await this.#request(follow ? 'PUT' : 'DELETE', `${this.path}/follow`);
      this.following = follow;
      if (follow) this.lastRead = Math.max(this.lastRead ?? 0, this.latest);
      this.#emit('change');
      this.#emit('read');
    } catch (err) {
      this.#emit('error', {
        text: describeError(err, { thread_not_found: 'Nobody has replied yet: there is no thread to follow.' }),
      });
    }
  }

  /** The replies shown are read: moves my marker (if I follow), at most
   * every READ_EVERY_MS. */
  seen() {
    if (!this.following || this.latest <= (this.lastRead ?? 0) || this.readTimer) return;
    this.readTimer = setTimeout(async () => {
      this.readTimer = null;
      const seq = this.latest;
      try {
        const { last_read_seq } = await this.#request('PUT', `${this.path}/read`, { seq });
        this.lastRead = last_read_seq;
        this.#emit('read');
      } catch (err) {
        // Unfollowed elsewhere: nothing to mark.
        if (err.code === 'not_following') this.following = false;
        else this.#emit('error', { text: describeError(err) });
      }
    }, READ_EVERY_MS);
  }

  dispose() {
    clearTimeout(this.readTimer);
    this.readTimer = null;
    this.room.removeEventListener('events', this.onEvents);
  }
}

/** The root of the thread a message belongs to, or starts. */
export const threadRootOf = (m) => (Number.isInteger(m.thread) ? m.thread : m.seq);
