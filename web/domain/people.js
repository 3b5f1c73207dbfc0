// The people whose names and faces this tab shows: each one's `user` object
// (display name, status, avatar) by username, read once with
// GET /users/{username} when first shown and kept live by the user
// destination's `user_updated` (the server tells me whenever someone who
// shares a room with me changes their profile; the README, "Accounts").
//
// The rule every view follows: a display name is shown beside the
// username, never instead of it ("Alice Liddell @alice"), so nobody can pass
// for somebody else by choosing their name. `label()` is that rule.
//
// Events: `change` (detail: { username, user }) when a person's profile is
// known or changes.

/** How many unknown people are asked about at once. */
const LOOKUPS_AT_ONCE = 4;

export class PeopleViewModel extends EventTarget {
  /** @param {{ session: { request: Function } }} context */
  constructor(context) {
    super();
    this.context = context;
    /** lower-case username → user object (null: no such user any more). */
    this.known = new Map();
    /** lower-case usernames asked about or waiting to be. */
    this.asked = new Set();
    this.queue = [];
    this.running = 0;
  }

  /** The user object of `username` if known; starts reading it if not. */
  get(username) {
    const key = username.toLowerCase();
    if (this.known.has(key)) return this.known.get(key);
    if (!this.asked.has(key)) {
      this.asked.add(key);
      this.queue.push(username);
      this.#drain();
    }
    return null;
  }

  /** A `user` object from the server (my own, a member list, `user_updated`). */
  apply(user) {
    if (!user?.username) return;
    const key = user.username.toLowerCase();
    const before = this.known.get(key);
    this.known.set(key, user);
    this.asked.add(key);
    if (!before || !sameProfile(before, user)) {
      this.dispatchEvent(new CustomEvent('change', { detail: { username: user.username, user } }));
    }
  }

  /** Forgets everyone (signing out). */
  clear() {
    this.known.clear();
    this.asked.clear();
    this.queue = [];
  }

  /**
   * How to write `username`: `{ name, handle }`, where `name` is the display
   * name when they have one (else the username) and `handle` is `@username`
   * when it differs from what `name` already says (else null).
   */
  label(username) {
    return labelOf(username, this.get(username));
  }

  async #drain() {
    while (this.running < LOOKUPS_AT_ONCE && this.queue.length > 0) {
      const username = this.queue.shift();
      this.running += 1;
      try {
        const user = await this.context.session.request('GET', `/users/${encodeURIComponent(username)}`);
        this.apply(user);
      } catch (err) {
        // A deleted account (404) has no profile; anything else is asked again next time.
        if (err?.status === 404) this.known.set(username.toLowerCase(), null);
        else this.asked.delete(username.toLowerCase());
      } finally {
        this.running -= 1;
      }
    }
  }
}

/** The label of `username` given their user object (or null). */
export function labelOf(username, user) {
  const display = user?.display_name;
  if (!display) return { name: username, handle: null };
  return { name: display, handle: `@${user.username ?? username}` };
}

/** The whole label as one line: "Alice Liddell (@alice)", or "alice". */
export function labelText(username, user) {
  const { name, handle } = labelOf(username, user);
  return handle ? `${name} (${handle})` : name;
}

function sameProfile(a, b) {
  return (
    a.display_name === b.display_name &&
    a.status === b.status &&
    avatarPath(a.avatar_url) === avatarPath(b.avatar_url)
  );
}

/** An avatar URL without its signature: the same picture, signed again later. */
function avatarPath(url) {
  return url ? url.split('?')[0] : null;
}
