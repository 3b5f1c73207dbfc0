// One room's unread messages and mentions of me, as the server counts them.
// No rule of its own: the count is the server's (a room object's
// `membership.unread` / `.mentions`, as of its `last_seq`) plus the messages
// the server sent after that seq. When that cannot say the answer (my marker
// moved into what the server counted, or a message it counted was deleted),
// `read` and `deleted` answer 'ask': the owner reads the room object again.

import { isMessage } from '../timeline.js';

export class UnreadCount {
  /** @param {() => string} me  my username */
  constructor(me) {
    this.me = me;
    /** My read marker (null: not a member, nothing is unread). */
    this.lastRead = null;
    /** The server's numbers and the seq they were counted at. */
    this.base = { unread: 0, mentions: 0, atSeq: 0 };
    /** Messages the server sent after base.atSeq: seq → whether it mentions me. */
    this.since = new Map();
  }

  get counts() {
    let mentions = this.base.mentions;
    for (const forMe of this.since.values()) if (forMe) mentions += 1;
    return { unread: this.base.unread + this.since.size, mentions };
  }

  /** Takes the server's numbers from a room object; false if it is older
   * than what is held (read before my marker's last move). */
  fromRoom(room) {
    const membership = room.membership;
    if (!membership) {
      this.lastRead = null;
      this.base = { unread: 0, mentions: 0, atSeq: room.last_seq ?? 0 };
      this.since.clear();
      return true;
    }
    const atSeq = room.last_seq ?? 0;
    if (this.lastRead !== null && (membership.last_read_seq < this.lastRead || atSeq < this.base.atSeq)) {
      return false;
    }
    this.lastRead = membership.last_read_seq;
    this.base = { unread: membership.unread ?? 0, mentions: membership.mentions ?? 0, atSeq };
    for (const seq of this.since.keys()) if (seq <= atSeq) this.since.delete(seq);
    return true;
  }

  /** An event the server sent (live, or filling a gap); true if it counts. */
  add(event) {
    if (this.lastRead === null || !isMessage(event) || event.deleted) return false;
    if (event.seq <= Math.max(this.base.atSeq, this.lastRead) || event.sender === this.me()) return false;
    const forMe = (event.mentions ?? []).some((u) => u.toLowerCase() === this.me().toLowerCase());
    this.since.set(event.seq, forMe);
    return true;
  }

  /** The message `seq` was deleted: 'same', 'local' (counted again here) or 'ask'. */
  deleted(seq) {
    if (this.lastRead === null || seq <= this.lastRead) return 'same';
    if (this.since.delete(seq)) return 'local';
    return seq <= this.base.atSeq ? 'ask' : 'same';
  }

  /** My marker moved to `seq` (never back): 'same', 'local' or 'ask'. */
  read(seq) {
    if (this.lastRead === null || !(seq > this.lastRead)) return 'same';
    this.lastRead = seq;
    for (const s of this.since.keys()) if (s <= seq) this.since.delete(s);
    if (seq >= this.base.atSeq) {
      this.base = { unread: 0, mentions: 0, atSeq: seq };
      return 'local';
    }
    return 'ask';
  }
}
