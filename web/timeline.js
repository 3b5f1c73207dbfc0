// One room's messages as this client knows them: pure bookkeeping, no DOM,
// no network (e2e/timeline.test.mjs tests it under Node).
//
// `newest` is the highest seq up to which nothing is missing: it is what a
// resubscription passes as `since-seq`, so a reconnect replays exactly what
// was missed. Every message is accepted once (dedupe by seq), and live
// messages are released strictly in seq order: one that arrives after a
// jump waits in `pending` until the gap is filled (`?after=newest`).

export class Timeline {
  constructor() {
    /** seq → message, for every message accepted so far. */
    this.bySeq = new Map();
    /** Lowest seq loaded (null before anything is). */
    this.oldest = null;
    /** Highest seq with no gap below it down to `oldest` (0: none yet). */
    this.newest = 0;
    /** Whether older history exists beyond `oldest`. */
    this.hasOlder = false;
    /** Messages above a gap, by seq, waiting for it to be filled. */
    this.pending = new Map();
  }

  /** The latest page (no `before`/`after`), loaded when the room opens. */
  addLatest(page) {
    const fresh = this.#newOnly(page.messages);
    for (const m of fresh) this.bySeq.set(m.seq, m);
    if (fresh.length > 0) {
      this.oldest = Math.min(this.oldest ?? Infinity, fresh[0].seq);
      this.newest = Math.max(this.newest, fresh.at(-1).seq);
    }
    this.hasOlder = page.has_more;
    return fresh;
  }

  /** An older page (`?before=oldest`); returns what to prepend, ascending. */
  addOlder(page) {
    const fresh = this.#newOnly(page.messages).filter(
      (m) => this.oldest === null || m.seq < this.oldest,
    );
    for (const m of fresh) this.bySeq.set(m.seq, m);
    if (fresh.length > 0) this.oldest = fresh[0].seq;
    this.hasOlder = page.has_more;
    return fresh;
  }

  /**
   * A live, replayed or gap-filled message. Returns `{ fresh, gap }`:
   * `fresh` are the messages now releasable, in seq order (possibly none, if
   * this one is a duplicate or waits behind a gap); `gap` is true when a
   * jump was seen and `?after=newest` should be fetched.
   */
  add(message) {
    const { seq } = message;
    if (seq <= this.newest || this.bySeq.has(seq) || this.pending.has(seq)) {
      return { fresh: [], gap: false };
    }
    if (seq > this.newest + 1) {
      this.pending.set(seq, message);
      return { fresh: [], gap: true };
    }
    const fresh = [message];
    this.#accept(message);
    for (let next = this.pending.get(this.newest + 1); next; next = this.pending.get(this.newest + 1)) {
      this.pending.delete(next.seq);
      this.#accept(next);
      fresh.push(next);
    }
    return { fresh, gap: this.pending.size > 0 };
  }

  /** Messages in seq order. */
  messages() {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  #accept(message) {
    this.bySeq.set(message.seq, message);
    this.newest = message.seq;
    this.oldest ??= message.seq;
  }

  /** Messages of a page not seen before, ascending. */
  #newOnly(messages) {
    const seen = new Set();
    return messages
      .filter((m) => !this.bySeq.has(m.seq) && !seen.has(m.seq) && seen.add(m.seq))
      .sort((a, b) => a.seq - b.seq);
  }
}
