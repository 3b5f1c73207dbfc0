// What a reload (or a second tab) puts back besides the session: the room
// that was shown and where its messages were scrolled to. Kept per user in
// sessionStorage (this tab: a reload) and localStorage (the last one of any
// tab: a new tab starts there). Never a token: the session comes back from
// the server's HttpOnly refresh cookie (api.js).
//
// The place is an anchor, not a pixel offset: the seq of the first message
// at the top of the view and how far above the view's top it starts, or
// `bottom` when the view was following the newest message. After a reload
// the room's latest page is loaded again, which may hold newer messages, so
// only an anchor lands on the same message.

const KEY = 'parley.view';

/** Reads one store's entry, or null (storage off, or junk in it). */
function read(storage, username) {
  try {
    const value = JSON.parse(storage?.getItem(`${KEY}.${username}`) ?? 'null');
    return value && typeof value === 'object' && typeof value.room === 'string' ? value : null;
  } catch {
    return null;
  }
}

function write(storage, username, value) {
  try {
    const key = `${KEY}.${username}`;
    if (value) storage?.setItem(key, JSON.stringify(value));
    else storage?.removeItem(key);
  } catch {
    // private mode or full: nothing is restored, nothing breaks
  }
}

export class ViewMemory {
  /** @param {{session?: Storage, local?: Storage}} stores  (tests pass fakes) */
  constructor({ session = globalThis.sessionStorage, local = globalThis.localStorage } = {}) {
    this.stores = [session, local];
  }

  /** Where `username` was: `{ room, place: {seq, offset} | 'bottom' | null }`,
   * this tab's first, else the last of any tab; null when nothing is kept. */
  recall(username) {
    for (const store of this.stores) {
      const value = read(store, username);
      if (value) return { room: value.room, place: value.place ?? null };
    }
    return null;
  }

  /** Remembers the room shown (null: none) and its place. */
  remember(username, room, place = null) {
    if (!username) return;
    const value = room ? { room, place } : null;
    for (const store of this.stores) write(store, username, value);
  }

  /** Signing out: nothing of `username`'s is kept. */
  forget(username) {
    if (!username) return;
    for (const store of this.stores) write(store, username, null);
  }
}
