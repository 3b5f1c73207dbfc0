// One room's log as this client knows it: pure bookkeeping, no DOM, no
// network (e2e/timeline.test.mjs tests it under Node).
//
// The log holds events of four types, all numbered by the room's seq:
// `message`, and `edit`, `delete` and `reaction`, which change the message
// they `target`. Every event is accepted once, in seq order, and applied to
// its target's current state (`message(seq)`). History returns messages in
// their current state *and* the events that led there, so applying an event
// must be idempotent: an edit sets the body, a delete is final, a reaction
// sets whether one user has one key (last event wins).
//
// A message's `attachments` (files) go with it, and a deletion takes them
// away with the text.
//
// A fifth type, `hidden`, stands for an event of someone the reader blocks:
// only its seq, no sender, no content. It takes its place in the sequence
// like any other event (so `newest` moves past it and nothing looks
// missing), and changes nothing.
//
// `newest` is the highest seq up to which nothing is missing: it is what a
// resubscription passes as `since-seq`, so a reconnect replays exactly what
// was missed. Every message is accepted once (dedupe by seq), and live
// messages are released strictly in seq order: one that arrives after a
// jump waits in `pending` until the gap is filled (`?after=newest`).
//
// Threads: a reply carries `thread`, its root's seq, and a root carries its
// `thread_summary` as of when it was read. A reply or a deletion of a reply
// taken in live (or to fill a gap: newer than anything loaded) is folded
// into the root held: a reply after the summary's `last_reply_seq` counts
// once more, a deleted reply once less (the README, "Threads").
//
// Retention: the server may prune a room's oldest events. Every history page
// says up to which seq they are gone (`horizon_seq`), and a resubscription
// from below it starts with a `horizon` notice. Nothing at or below the
// horizon can be had any more: `newest` jumps over it, and once the loaded
// range reaches it there is nothing older to load (`atHorizon`).

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
    /** Every event with seq <= this is pruned on the server (0: none). */
    this.horizon = 0;
    /** Messages above a gap, by seq, waiting for it to be filled. */
    this.pending = new Map();
    /** Message seq → its current state (a copy of the message, events applied). */
    this.current = new Map();
    /** Message seq → the edit/delete/reaction events held for it, by seq. */
    this.changes = new Map();
    /** Message seq → seqs of the messages held that reply to it. */
    this.replies = new Map();
  }

  /** The current state of message `seq`, or undefined if it is not held. */
  message(seq) {
    return this.current.get(seq);
  }

  /**
   * A message fetched on its own (`GET …/messages/{seq}`, the original of a
   * reply older than what is loaded): held outside the loaded range, so
   * later events change it too. Ignored if it is held already.
   */
  hold(message) {
    if (isMessage(message) && !this.current.has(message.seq)) this.#hold(message);
  }

  /** Whether the event of `seq` is held as a `hidden` placeholder. */
  isHidden(seq) {
    const event = this.bySeq.get(seq);
    return event !== undefined && isHidden(event);
  }

  /** Seqs of the held messages that reply to message `seq`. */
  repliesTo(seq) {
    return [...(this.replies.get(seq) ?? [])];
  }

  /** Whether older messages were pruned and everything after them is loaded. */
  get atHorizon() {
    return this.horizon > 0 && !this.hasOlder;
  }

  /** The latest page (no `before`/`after`), loaded when the room opens. */
  addLatest(page) {
    this.#noteHorizon(page.horizon_seq);
    const fresh = this.#newOnly(page.messages);
    for (const m of fresh) this.bySeq.set(m.seq, m);
    this.#applyPage(fresh);
    if (fresh.length > 0) {
      this.oldest = Math.min(this.oldest ?? Infinity, fresh[0].seq);
      this.newest = Math.max(this.newest, fresh.at(-1).seq);
    }
    this.hasOlder = page.has_more;
    return fresh;
  }

  /** An older page (`?before=oldest`); returns what to prepend, ascending. */
  addOlder(page) {
    this.#noteHorizon(page.horizon_seq);
    const fresh = this.#newOnly(page.messages).filter(
      (m) => this.oldest === null || m.seq < this.oldest,
    );
    for (const m of fresh) this.bySeq.set(m.seq, m);
    this.#applyPage(fresh);
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
    if (message.type === 'horizon') return this.#passHorizon(message.horizon_seq);
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

  /**
   * A page fetched with `?after=` (filling a gap): its horizon first, so
   * that what was pruned in the gap is passed over, then its events.
   * Returns the same as `add`, for the whole page.
   */
  addAfter(page) {
    const fresh = [];
    let gap = false;
    const steps = [{ type: 'horizon', horizon_seq: page.horizon_seq ?? 0 }, ...page.messages];
    for (const m of steps) {
      const r = this.add(m);
      fresh.push(...r.fresh);
      gap = r.gap;
    }
    return { fresh, gap };
  }

  /** Messages in seq order. */
  messages() {
    return [...this.bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  #noteHorizon(horizon) {
    if (Number.isInteger(horizon) && horizon > this.horizon) this.horizon = horizon;
  }

  /**
   * The events up to `horizon` are pruned: nothing is missing below it any
   * more, and nothing older than what is loaded can be had. Releases what
   * waited above it.
   */
  #passHorizon(horizon) {
    if (!Number.isInteger(horizon)) return { fresh: [], gap: this.pending.size > 0 };
    this.#noteHorizon(horizon);
    if (this.oldest === null || this.oldest <= horizon + 1) this.hasOlder = false;
    const fresh = [];
    if (horizon > this.newest) {
      this.newest = horizon;
      for (const seq of this.pending.keys()) if (seq <= horizon) this.pending.delete(seq);
      for (let next = this.pending.get(this.newest + 1); next; next = this.pending.get(this.newest + 1)) {
        this.pending.delete(next.seq);
        this.#accept(next);
        fresh.push(next);
      }
    }
    return { fresh, gap: this.pending.size > 0 };
  }

  #accept(message) {
    this.bySeq.set(message.seq, message);
    this.newest = message.seq;
    this.oldest ??= message.seq;
    // The newest event so far: it applies on top of everything held.
    if (isMessage(message)) {
      this.#hold(message);
      this.#foldReply(message);
      return;
    }
    const target = this.current.get(message.target);
    const uncounts = message.type === 'delete' && Number.isInteger(target?.thread) && !target.deleted;
    if (this.#record(message)) this.#apply(target, message);
    if (uncounts) this.#foldDeletion(target.thread);
  }

  /** A new reply counts in its root's summary (once: by its seq). */
  #foldReply(reply) {
    const root = this.current.get(reply.thread);
    if (!Number.isInteger(reply.thread) || !root) return;
    const before = root.thread_summary ?? { reply_count: 0, last_reply_seq: 0, participants: [] };
    if (reply.seq <= before.last_reply_seq) return;
    const participants = before.participants.includes(reply.sender)
      ? [...before.participants]
      : [...before.participants, reply.sender];
    root.thread_summary = { reply_count: before.reply_count + 1, last_reply_seq: reply.seq, participants };
  }

  /** A reply of the thread of `rootSeq` was deleted: it counts no more. */
  #foldDeletion(rootSeq) {
    const root = this.current.get(rootSeq);
    const before = root?.thread_summary;
    if (!before) return;
    root.thread_summary = { ...before, reply_count: Math.max(0, before.reply_count - 1) };
  }

  /** The root of the thread an event touches (a reply's, or the root's
   * own), or null. */
  threadOf(event) {
    const m = isMessage(event) ? event : this.current.get(event.target);
    if (!m) return null;
    if (Number.isInteger(m.thread)) return m.thread;
    return m.thread_summary ? m.seq : null;
  }

  /**
   * A page of history (ascending, all new): its events are recorded first,
   * then each of its messages is rebuilt from what it came with plus every
   * held event aimed at it, in seq order (the page may precede events held
   * already, and an event never precedes its target).
   */
  #applyPage(events) {
    for (const e of events) if (!isMessage(e)) this.#record(e);
    const inPage = new Set();
    for (const e of events) if (isMessage(e)) inPage.add(e.seq) && this.#hold(e);
    for (const e of events) {
      // An event of the page whose target was held before it (the latest
      // page loaded after live events, say) applies on top of that.
      if (!isMessage(e) && !inPage.has(e.target)) this.#apply(this.current.get(e.target), e);
    }
  }

  /** Remembers an edit/delete/reaction under its target; false if not an event that targets. */
  #record(event) {
    if (!Number.isInteger(event.target)) return false;
    const list = this.changes.get(event.target) ?? [];
    if (!list.some((e) => e.seq === event.seq)) {
      list.push(event);
      list.sort((a, b) => a.seq - b.seq);
    }
    this.changes.set(event.target, list);
    return true;
  }

  /** Takes in a message as received, with every change held for it applied. */
  #hold(message) {
    const state = {
      ...message,
      type: 'message',
      body: message.body ?? '',
      mentions: [...(message.mentions ?? [])],
      edited_at: message.edited_at ?? null,
      deleted: Boolean(message.deleted),
      reactions: (message.reactions ?? []).map((r) => ({ key: r.key, users: [...r.users] })),
      attachments: message.deleted ? [] : [...(message.attachments ?? [])],
    };
    this.current.set(message.seq, state);
    for (const e of this.changes.get(message.seq) ?? []) this.#apply(state, e);
    if (Number.isInteger(message.reply_to)) {
      const replies = this.replies.get(message.reply_to) ?? new Set();
      replies.add(message.seq);
      this.replies.set(message.reply_to, replies);
    }
  }

  /** Applies one change to a message's state (idempotent; nothing if not held). */
  #apply(state, event) {
    if (!state || state.deleted) return; // a deletion is final
    switch (event.type) {
      case 'edit':
        state.body = event.body ?? '';
        state.mentions = [...(event.mentions ?? [])];
        state.edited_at = event.created_at ?? state.edited_at;
        break;
      case 'delete':
        state.deleted = true;
        state.body = '';
        state.mentions = [];
        state.reactions = [];
        state.attachments = []; // the server erases its files too
        break;
      case 'reaction': {
        let reaction = state.reactions.find((r) => r.key === event.key);
        if (event.added) {
          if (!reaction) {
            reaction = { key: event.key, users: [] };
            state.reactions.push(reaction);
          }
          if (!reaction.users.includes(event.sender)) reaction.users.push(event.sender);
        } else if (reaction) {
          reaction.users = reaction.users.filter((u) => u !== event.sender);
          if (reaction.users.length === 0) state.reactions.splice(state.reactions.indexOf(reaction), 1);
        }
        break;
      }
      default:
        break; // a type this client does not know changes nothing
    }
  }

  /** Events of a page not seen before, ascending. */
  #newOnly(messages) {
    const seen = new Set();
    return messages
      .filter((m) => !this.bySeq.has(m.seq) && !seen.has(m.seq) && seen.add(m.seq))
      .sort((a, b) => a.seq - b.seq);
  }
}

/** Whether an event is a chat message (servers before the room log send no `type`). */
export function isMessage(event) {
  return event.type === undefined || event.type === 'message';
}

/** Whether an event is the placeholder for one by someone the reader blocks. */
export function isHidden(event) {
  return event.type === 'hidden';
}
