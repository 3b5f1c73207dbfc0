// The rooms list's view model: the rooms and conversations I can see (GET
// /rooms, then kept live by the user destination's updates: `apply`), the
// rooms open in this tab (each a RoomViewModel), which one is shown, and
// each room's counts (`totalUnread` for the tab's title). Events: `change`
// (the list or a count changed), `error` {text}, `closed` {name, text}
// (access to an open room is gone; `text` says why), `added` {room} (a room
// or conversation appeared in my list by someone else's doing).

import { describeError } from '../api.js';
import { RoomViewModel, isDirect, roomPath } from './room.js';

/** How a room is named on screen: `# name`, or `@peer` for a conversation. */
export const roomLabel = (room, name = room.name) => (isDirect(room) ? `@${room.peer}` : `# ${name}`);

/** What the notice says when a room closes. */
function closedText(room, name, reason, byMe) {
  const label = room && isDirect(room) ? `the conversation with ${room.peer}` : `#${name}`;
  const rejoin = room && !room.private ? ' You can join it again from the room list.' : '';
  switch (reason) {
    case 'left':
      return `You left ${label}.${rejoin}`;
    case 'removed':
      return `You were removed from ${label} by a moderator.${rejoin}`;
    case 'banned':
      return `You were banned from ${label}.`;
    case 'room_deleted':
      return byMe ? `You deleted ${label}.` : `${label} was deleted by its owner.`;
    default:
      return `${label} is no longer available to you.`;
  }
}

export class RoomsViewModel extends EventTarget {
  /** @param {object} app  { session, config, me(), live() } */
  constructor(app) {
    super();
    this.app = app;
    /** Rooms from GET /rooms, by name. */
    this.index = new Map();
    /** Rooms opened in this tab, by name. @type {Map<string, RoomViewModel>} */
    this.open = new Map();
    /** Rooms whose first load is under way (a double click opens once). */
    this.opening = new Set();
    /** Name of the room shown, or null. */
    this.current = null;
    /** Rooms I am deleting (their closing notice says so). */
    this.deleting = new Set();
    /** Bumped whenever a room closes: a list read before that may still name it. */
    this.version = 0;
    /** Updates that arrived while GET /rooms was under way: applied again
     * over its answer, which may be older than they are. */
    this.replay = null;
    /** Rooms I am creating, and people I am opening a conversation with. */
    this.creating = new Set();
    this.calling = new Set();
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  get shown() {
    return this.current ? (this.open.get(this.current) ?? null) : null;
  }

  roomOf(name) {
    return this.index.get(name) ?? this.open.get(name)?.room;
  }

  /** The rooms, and the direct conversations by their peer, as names. */
  lists() {
    const names = [...new Set([...this.index.keys(), ...this.open.keys()])];
    const rooms = names.filter((n) => !isDirect(this.roomOf(n))).sort();
    const dms = names
      .filter((n) => isDirect(this.roomOf(n)))
      .sort((a, b) => this.roomOf(a).peer.localeCompare(this.roomOf(b).peer));
    return { rooms, dms };
  }

  /** Unread messages and mentions of me: the open room's live count, else
   * the room object's (both the server's numbers). */
  countsOf(name) {
    const vm = this.open.get(name);
    if (vm) return vm.unread.counts;
    const membership = this.index.get(name)?.membership;
    return { unread: membership?.unread ?? 0, mentions: membership?.mentions ?? 0 };
  }

  async load() {
    const version = this.version;
    const replay = [];
    this.replay = replay;
    try {
      const { rooms } = await this.app.session.request('GET', '/rooms');
      if (version !== this.version) return;
      this.index = new Map(rooms.map((r) => [r.name, r]));
      for (const room of rooms) this.open.get(room.name)?.takeRoom(room);
      for (const update of replay) this.#applyToIndex(update);
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    } finally {
      if (this.replay === replay) this.replay = null;
    }
  }

  /**
   * An update of the user destination: `room_added` / `room_updated` (the
   * room as GET /rooms/{name} shows it to me) or `room_removed` (name and
   * reason). An open room that was removed closes, as on `access_revoked`
   * (whichever comes first; the other finds it closed).
   */
  apply(update) {
    this.replay?.push(update);
    if (update.type === 'room_removed') {
      if (this.open.has(update.room)) {
        this.close(update.room, update.reason);
        return;
      }
    } else if (update.type === 'room_added' && update.room?.name && !this.index.has(update.room.name)) {
      const room = update.room;
      // Not news when it is my own doing (the update may beat the answer).
      const mine =
        this.opening.has(room.name) || this.creating.has(room.name) || (isDirect(room) && this.calling.has(room.peer));
      this.#applyToIndex(update);
      if (!mine) this.#emit('added', { room });
      this.#emit('change');
      return;
    }
    if (this.#applyToIndex(update)) this.#emit('change');
  }

  /** Puts `update` into the index; whether anything changed. */
  #applyToIndex(update) {
    if (update.type === 'room_removed') {
      const room = this.index.get(update.room);
      const rejoinable =
        room && !room.private && !isDirect(room) && (update.reason === 'left' || update.reason === 'removed');
      if (!room) return false;
      if (rejoinable) {
        // Still listed (public), no longer mine.
        this.index.set(update.room, { ...room, membership: null });
        return true;
      }
      return this.index.delete(update.room);
    }
    const room = update.room;
    if (!room?.name) return false;
    this.index.set(room.name, room);
    this.open.get(room.name)?.takeRoom(room);
    return true;
  }

  /** Unread messages in all my rooms and conversations (the tab's title). */
  totalUnread() {
    const { rooms, dms } = this.lists();
    let total = 0;
    for (const name of [...rooms, ...dms]) total += this.countsOf(name).unread;
    return total;
  }

  add(room) {
    this.index.set(room.name, room);
    this.#emit('change');
  }

  async create(name, isPrivate) {
    this.creating.add(name);
    try {
      const room = await this.app.session.request('POST', '/rooms', { name, private: isPrivate });
      this.index.set(room.name, room);
      return room;
    } finally {
      this.creating.delete(name);
    }
  }

  /** Opens (or finds) the direct conversation with `username`. */
  async conversation(username) {
    this.calling.add(username);
    try {
      const room = await this.app.session.request('POST', '/dms', { username });
      this.add(room);
      return room;
    } finally {
      this.calling.delete(username);
    }
  }

  /**
   * Joins, loads and follows room `name` live. Returns its view model, or
   * null while it is being opened already; throws what the server said.
   */
  async openRoom(name) {
    let vm = this.open.get(name);
    if (!vm) {
      if (this.opening.has(name)) return null;
      this.opening.add(name);
      try {
        vm = await RoomViewModel.open(this.app, name, this.index.get(name));
      } catch (err) {
        if (err.code === 'room_not_found' && this.index.delete(name)) this.#emit('change');
        throw err;
      } finally {
        this.opening.delete(name);
      }
      this.open.set(name, vm);
      this.index.set(name, vm.room);
      vm.addEventListener('unread', () => this.#emit('change'));
      vm.addEventListener('lost', (event) => this.close(name, event.detail.reason));
    }
    const live = this.app.live();
    // since-seq = the last seq held: the server sends what came after it.
    if (live && !live.isFollowing(name)) live.follow(name, () => vm.timeline.newest);
    return vm;
  }

  /**
   * Access to room `name` is gone (`reason`: left, removed, banned,
   * room_deleted, or unavailable): it is no longer followed, closes, and
   * leaves the list, except a public room one left or was removed from.
   * Idempotent: my own leave is closed here and again by `access_revoked`.
   */
  close(name, reason) {
    const vm = this.open.get(name);
    const byMe = this.deleting.has(name);
    this.app.live()?.unfollow(name);
    if (!vm) return;
    this.version += 1;
    vm.dispose();
    this.open.delete(name);
    const room = vm.room;
    const rejoinable = !room.private && !isDirect(room) && (reason === 'left' || reason === 'removed');
    if (!rejoinable) this.index.delete(name);
    this.#emit('closed', { name, vm, text: closedText(room, name, reason, byMe) });
    this.#emit('change');
  }

  /** Leaves the room shown; throws what the server said. */
  async leave(vm) {
    await this.app.session.request('POST', `${roomPath(vm.name)}/leave`);
    this.close(vm.name, 'left');
  }

  /** Deletes a room; throws what the server said. */
  async deleteRoom(vm) {
    // The server's access_revoked may come before its answer does.
    this.deleting.add(vm.name);
    try {
      await this.app.session.request('DELETE', roomPath(vm.name));
      this.close(vm.name, 'room_deleted');
    } finally {
      this.deleting.delete(vm.name);
    }
  }

  /** Signing out: every room forgotten. */
  clear() {
    for (const vm of this.open.values()) vm.dispose();
    this.open.clear();
    this.opening.clear();
    this.index = new Map();
    this.current = null;
    this.#emit('change');
  }
}
