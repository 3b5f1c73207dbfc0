// One open room's view model: its state and what can be done in it, without
// touching the page. The chat view renders it and listens to its events:
//
//   `events`   {events, live}  the timeline released these (new at the bottom)
//   `older`    {events}        a page of older ones, to go on top
//   `redraw`   {seq}           message `seq` changed in place (edit, deletion,
//                              reaction, reply quote, editor, picker)
//   `reset`                    the timeline was read anew (blocking)
//   `head`                     whether older messages exist changed
//   `typing`, `unread`, `members`, `presence` {user, online}
//   `error`    {text}          something to tell the person
//   `lost`     {reason}        access to the room is gone
//
// A thread panel (domain/thread.js) follows the same `events`.
//
// What a member may do comes from the server: my role as the members list
// reports it and the server's permission table (`GET /config`); the server
// still decides every call, and its refusal is what the person reads.

import { describeError } from '../api.js';
import { Timeline, isHidden, isMessage } from '../timeline.js';
import { UnreadCount } from './unread.js';
import { UPLOADING, UploadQueue } from './uploads.js';

/** Read-marker moves are sent at most this often (one PUT per burst). */
const READ_EVERY_MS = 500;
/** The members list used for @-autocomplete is read again after this. */
const MEMBERS_TTL_MS = 15_000;
/** A typist is shown this long when the signal does not say (expires_in_ms). */
const TYPING_SHOWN_MS = 6_000;
/** "I am typing" is sent at most this often while composing. */
const TYPING_EVERY_MS = 2_000;
/** A message's file links are read again at most this often. */
const FILES_REFRESH_MS = 60_000;

export const roomPath = (name) => `/rooms/${encodeURIComponent(name)}`;
export const isDirect = (room) => room?.kind === 'direct';
export const sameName = (a, b) => a.toLowerCase() === b.toLowerCase();
/** What the message list shows: messages, and placeholders for hidden events. */
export const isShown = (event) => isMessage(event) || isHidden(event);

const NO_PERMISSIONS = {
  add_members: false,
  ban: [],
  delete_any_message: false,
  delete_room: false,
  leave: true,
  manage_integrations: false,
  remove: [],
  set_role: [],
  unban: false,
};

export class RoomViewModel extends EventTarget {
  /**
   * @param {object} app  { session, config, me(), live() }
   * @param {object} room  the room object (GET /rooms/{name} or join)
   */
  constructor(app, room) {
    super();
    this.app = app;
    this.room = room;
    this.timeline = new Timeline();
    this.unread = new UnreadCount(app.me);
    this.unread.fromRoom(room);
    this.readWanted = 0;
    this.readTimer = null;
    this.asking = null;
    /** Who is typing here: username → the timer that forgets them. */
    this.typists = new Map();
    this.typingSentAt = 0;
    this.typingNextAt = 0;
    /** Members online (GET …/presence, then signals), or null before it is read. */
    this.online = null;
    this.loadingOlder = null;
    this.fillingGap = false;
    /** Seq of the message the composer replies to, or null. */
    this.replyTo = null;
    /** The message being edited in place: { seq, saving }, or null. */
    this.editing = null;
    /** Seq of the message whose reaction picker is open, or null. */
    this.pickerFor = null;
    this.fetchingOriginals = new Set();
    this.missingOriginals = new Set();
    this.hiddenOriginals = new Set();
    /** The members ({ list, at }) and my role in them. */
    this.members = null;
    this.loadingMembers = null;
    this.myRole = null;
    /** Files for the next message (uploading, ready or refused), kept while
     * other rooms are shown; the server's limits when `GET /config` says them. */
    this.uploads = new UploadQueue({
      maxBytes: app.config.max_upload_bytes,
      maxCount: app.config.max_attachments,
    });
    /** Upload key → how to stop it, while it runs. */
    this.uploadAborts = new Map();
    /** Message seq → when its files' links were last read again. */
    this.filesRefreshed = new Map();
  }

  get name() {
    return this.room.name;
  }

  get path() {
    return roomPath(this.room.name);
  }

  get direct() {
    return isDirect(this.room);
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #request(method, route, body) {
    return this.app.session.request(method, `${this.path}${route}`, body);
  }

  /** Joins (a conversation is joined by being one of its two people), reads
   * the latest page and the members. */
  static async open(app, name, known) {
    const request = (method, route) => app.session.request(method, `${roomPath(name)}${route}`);
    const room = isDirect(known) ? await request('GET', '') : await request('POST', '/join');
    const [page, members] = await Promise.all([request('GET', '/messages'), request('GET', '/members')]);
    const vm = new RoomViewModel(app, room);
    vm.setMembers(members.members, { cache: false });
    // What came between the room object and the page counts like live events.
    for (const event of vm.timeline.addLatest(page)) vm.unread.add(event);
    return vm;
  }

  // ------------------------------------------------------------ the log --

  /** An event from the live connection (new, or replayed after a reconnect). */
  receive(event) {
    const { fresh, gap } = this.timeline.add(event);
    this.#released(fresh, true);
    if (event.type === 'horizon') this.#emit('head');
    if (gap) this.fillGap();
  }

  #released(events, live) {
    let counted = false;
    for (const e of events) {
      if (isMessage(e) && e.sender) this.forgetTypist(e.sender);
      if (this.unread.add(e)) counted = true;
      if (e.type === 'delete') {
        const answer = this.unread.deleted(e.target);
        if (answer === 'local') counted = true;
        if (answer === 'ask') this.askUnread();
      }
      if (this.editing?.seq === e.target && this.timeline.message(e.target)?.deleted) this.editing = null;
      if (this.pickerFor === e.target && this.timeline.message(e.target)?.deleted) this.pickerFor = null;
    }
    this.#emit('events', { events, live });
    const changed = new Set(events.filter((e) => !isMessage(e) && !isHidden(e)).map((e) => e.target));
    // A root whose summary the timeline folded a reply (or its deletion) into.
    for (const e of events) {
      const root = isMessage(e) ? e.thread : e.type === 'delete' ? this.timeline.message(e.target)?.thread : null;
      if (Number.isInteger(root)) changed.add(root);
    }
    for (const seq of changed) this.redraw(seq);
    if (counted) this.#emit('unread');
  }

  /** Message `seq` and the quotes of the replies to it are drawn again. */
  redraw(seq) {
    for (const s of [seq, ...this.timeline.repliesTo(seq)]) this.#emit('redraw', { seq: s });
  }

  /** A jump in seq: fetch what is missing with ?after=, page by page. */
  async fillGap() {
    if (this.fillingGap) return;
    this.fillingGap = true;
    const limit = this.app.config.max_history_limit;
    try {
      for (;;) {
        const after = this.timeline.newest;
        const page = await this.#request('GET', `/messages?after=${after}&limit=${limit}`);
        this.#released(this.timeline.addAfter(page).fresh, true);
        this.#emit('head');
        if (!page.has_more || this.timeline.newest === after) break;
      }
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    } finally {
      this.fillingGap = false;
    }
  }

  /** Loads the page before the oldest held; callers during a load share it. */
  loadOlder(limit) {
    if (!this.timeline.hasOlder) return Promise.resolve();
    if (!this.loadingOlder) {
      this.loadingOlder = this.#fetchOlder(limit).finally(() => {
        this.loadingOlder = null;
        this.#emit('head');
      });
      this.#emit('head');
    }
    return this.loadingOlder;
  }

  async #fetchOlder(limit) {
    try {
      const size = limit ? `&limit=${limit}` : '';
      const page = await this.#request('GET', `/messages?before=${this.timeline.oldest}${size}`);
      this.#emit('older', { events: this.timeline.addOlder(page).filter(isShown) });
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  /** The original of a reply is older than what is loaded: fetch it alone. */
  async fetchOriginal(seq) {
    if (this.fetchingOriginals.has(seq)) return;
    this.fetchingOriginals.add(seq);
    try {
      const original = await this.#request('GET', `/messages/${seq}`);
      if (isHidden(original)) this.hiddenOriginals.add(seq);
      else this.timeline.hold(original);
    } catch {
      // Said in the quote; a click still pages back to look for it.
      this.missingOriginals.add(seq);
    } finally {
      this.fetchingOriginals.delete(seq);
      this.redraw(seq);
    }
  }

  /** Replaces the timeline with the latest page, as if opened anew; the live
   * subscription goes on from there (its resume point is the timeline's). */
  async reload() {
    let page;
    try {
      page = await this.#request('GET', '/messages');
    } catch (err) {
      if (err.code === 'room_not_found') this.#emit('lost', { reason: 'unavailable' });
      return;
    }
    const before = this.timeline.newest;
    this.timeline = new Timeline();
    this.editing = null;
    this.pickerFor = null;
    this.replyTo = null;
    this.hiddenOriginals.clear();
    this.missingOriginals.clear();
    this.timeline.addLatest(page);
    this.#emit('reset');
    this.askUnread();
    // Events that came live while the page was read: fetched after it.
    if (this.timeline.newest < before) this.fillGap();
  }

  // --------------------------------------------- replies, edits, reactions --

  /** Answers of the room-log routes are events: they go through the timeline
   * like live ones (whichever comes first is shown, the other is a duplicate). */
  async changeMessage(method, route, body) {
    try {
      const event = await this.#request(method, `/messages/${route}`, body);
      if (event && Number.isInteger(event.seq)) this.receive(event);
      return true;
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
      return false;
    }
  }

  react(seq, key, add) {
    return this.changeMessage(add ? 'PUT' : 'DELETE', `${seq}/reactions/${encodeURIComponent(key)}`);
  }

  deleteMessage(seq) {
    return this.changeMessage('DELETE', `${seq}`);
  }

  /** Reports message `seq` to the room's moderators; throws what the server said. */
  reportMessage(seq, reason) {
    return this.#request('POST', `/messages/${seq}/report`, { reason });
  }

  startReply(seq) {
    this.replyTo = seq;
    this.#emit('reply');
  }

  cancelReply() {
    this.replyTo = null;
    this.#emit('reply');
  }

  startEdit(seq) {
    const m = this.timeline.message(seq);
    if (!m || m.deleted) return false;
    const previous = this.editing?.seq;
    this.editing = { seq, saving: false };
    if (previous !== undefined && previous !== seq) this.redraw(previous);
    this.redraw(seq);
    return true;
  }

  stopEdit(seq) {
    if (this.editing?.seq !== seq) return;
    this.editing = null;
    this.redraw(seq);
  }

  /** Saves an edit; the server decides whether the text is acceptable. */
  async saveEdit(seq, text) {
    const editing = this.editing;
    if (editing?.seq !== seq || editing.saving) return false;
    if (text === this.timeline.message(seq)?.body) {
      this.stopEdit(seq);
      return true;
    }
    editing.saving = true;
    const saved = await this.changeMessage('PATCH', `${seq}`, { body: text });
    editing.saving = false;
    if (saved) this.stopEdit(seq);
    return saved;
  }

  togglePicker(seq) {
    const previous = this.pickerFor;
    this.pickerFor = previous === seq ? null : seq;
    if (previous !== null && previous !== seq) this.redraw(previous);
    this.redraw(seq);
  }

  // ----------------------------------------------------------- sending --

  /**
   * Sends `text`; resolves once stored, rejects with the reason. A body the
   * STOMP session could not carry (over the server's `max_body_bytes`, or
   * with U+0000: an ERROR would end the session) goes by HTTP instead, so
   * that the server, not this page, says what is wrong with it.
   */
  send(text, clientId, replyTo, attachments = []) {
    const bytes = new TextEncoder().encode(text).length;
    if (bytes > this.app.config.max_body_bytes || text.includes('\u0000')) {
      const body = replyTo === null ? { body: text } : { body: text, reply_to: replyTo };
      if (attachments.length > 0) body.attachments = attachments;
      return this.#request('POST', '/messages', body).then((event) => {
        this.receive(event);
        return { byHttp: true };
      });
    }
    // The message ends the typing it announced: the next keystroke says so
    // again as soon as the server takes another signal (TYPING_RATE).
    const rate = this.app.config.typing_rate;
    const gap = rate > 0 ? Math.ceil(1000 / rate) + 100 : 0;
    this.typingNextAt = Math.min(this.typingNextAt, this.typingSentAt + gap);
    return this.app.live().send(this.name, text, clientId, { replyTo, attachments });
  }

  // ------------------------------------------------------------ uploads --

  /** Uploads `file` (a File) to this room for the next message (`POST
   * …/files?filename=`); its progress and outcome land in `uploads`. */
  upload(file) {
    const item = this.uploads.add(file);
    if (item.state !== UPLOADING) return item;
    const route = `${this.path}/files?filename=${encodeURIComponent(item.name)}`;
    const running = this.app.session.upload(route, file, (loaded) => this.uploads.progress(item.key, loaded));
    this.uploadAborts.set(item.key, running.abort);
    running.promise.then(
      (stored) => this.uploads.done(item.key, stored),
      (err) => {
        if (err.code === 'room_not_found') this.#emit('lost', { reason: 'unavailable' });
        if (err.code !== 'aborted') this.uploads.failed(item.key, err);
      },
    ).finally(() => this.uploadAborts.delete(item.key));
    return item;
  }

  /**
   * The links of message `seq`'s files stopped working (they are signed for
   * a while only: the README, "Files"): reads the message again for fresh
   * ones and redraws it. Resolves to its files (null if it could not); at
   * most once a minute per message, so a file that is gone is not asked
   * for again and again.
   */
  async refreshFiles(seq) {
    const last = this.filesRefreshed.get(seq) ?? -Infinity;
    if (Date.now() - last < FILES_REFRESH_MS) return null;
    this.filesRefreshed.set(seq, Date.now());
    try {
      const fresh = await this.#request('GET', `/messages/${seq}`);
      const state = this.timeline.message(seq);
      if (!state || state.deleted || !Array.isArray(fresh?.attachments)) return null;
      state.attachments = fresh.deleted ? [] : fresh.attachments;
      this.redraw(seq);
      return state.attachments;
    } catch {
      return null;
    }
  }

  /** Cancels an upload that runs, or takes a file off the next message. */
  removeUpload(key) {
    this.uploads.remove(key);
    this.uploadAborts.get(key)?.();
  }

  /** While composing, tells the room so, at most every TYPING_EVERY_MS. */
  typing() {
    const live = this.app.live();
    const now = Date.now();
    if (!live || now < this.typingNextAt) return;
    if (live.typing(this.name)) {
      this.typingSentAt = now;
      this.typingNextAt = now + TYPING_EVERY_MS;
    }
  }

  // ----------------------------------------------------------- members --

  /** Takes in a members list: the cache for @-autocomplete, and my role.
   * `cache: false` for the list read on opening: the first @ reads it again. */
  setMembers(list, { cache = true } = {}) {
    const members = list.map((u) => ({
      ...u,
      role: u.role ?? (u.username === this.room.owner ? 'owner' : 'member'),
    }));
    this.members = { list: members, at: cache ? Date.now() : 0 };
    this.myRole = members.find((u) => sameName(u.username, this.app.me()))?.role ?? null;
    return members;
  }

  /** The members, read again once MEMBERS_TTL_MS old (keystrokes share one request). */
  roomMembers() {
    if (this.members && Date.now() - this.members.at < MEMBERS_TTL_MS) {
      return Promise.resolve(this.members.list);
    }
    this.loadingMembers ??= this.#request('GET', '/members')
      .then(({ members }) => this.setMembers(members))
      .catch(() => {})
      .then(() => {
        this.loadingMembers = null;
        return this.members?.list ?? [];
      });
    return this.loadingMembers;
  }

  /** Reads the members and who is online (the panel). */
  async refreshMembers() {
    const [{ members }, presence] = await Promise.all([
      this.#request('GET', '/members'),
      // Without it the panel shows no dots rather than failing.
      this.#request('GET', '/presence').catch(() => null),
    ]);
    if (Array.isArray(presence?.online)) this.online = new Set(presence.online);
    return this.setMembers(members);
  }

  async bans() {
    return (await this.#request('GET', '/bans')).bans;
  }

  /** The server's permission table for my role here (none in a conversation). */
  get permissions() {
    if (this.direct || !this.myRole) return NO_PERMISSIONS;
    return this.app.config.permissions?.[this.myRole] ?? NO_PERMISSIONS;
  }

  mayEdit(m) {
    return m.sender === this.app.me();
  }

  /** Anyone may report someone else's message (not a deleted one). */
  mayReport(m) {
    return m.sender !== this.app.me() && !m.deleted;
  }

  mayDelete(m) {
    return m.sender === this.app.me() || this.permissions.delete_any_message;
  }

  /** What I may do to a member of `role`: { setRole, remove, ban }. */
  mayActOn(role) {
    const p = this.permissions;
    return { setRole: p.set_role.includes(role), remove: p.remove.includes(role), ban: p.ban.includes(role) };
  }

  get mayManage() {
    return this.permissions.add_members || this.permissions.unban;
  }

  // ------------------------------------------------------ read and unread --

  /** Asks the server for this room's counts (a room object) again. */
  askUnread() {
    this.asking ??= this.#request('GET', '')
      .then((room) => {
        this.room = { ...this.room, ...room };
        if (this.unread.fromRoom(room)) this.#emit('unread');
      })
      .catch(() => {})
      .finally(() => {
        this.asking = null;
      });
  }

  /** A room object read with the room list: the server's counts. */
  takeRoom(room) {
    if (this.unread.fromRoom(room)) this.#emit('unread');
  }

  /** Moves my marker to `seq` (never back); the PUT goes out at most every READ_EVERY_MS. */
  seen(seq) {
    if (!this.#markerMoved(seq)) return;
    this.readWanted = Math.max(this.readWanted, seq);
    this.readTimer ??= setTimeout(() => this.#sendRead(), READ_EVERY_MS);
  }

  #markerMoved(seq) {
    const answer = this.unread.read(seq);
    if (answer === 'same') return false;
    if (answer === 'ask') this.askUnread();
    this.#emit('unread');
    return true;
  }

  async #sendRead() {
    this.readTimer = null;
    try {
      const answer = await this.#request('PUT', '/read', { seq: this.readWanted });
      this.#markerMoved(answer.last_read_seq);
    } catch {
      // Not a member any more, or offline: the next move sends it again.
    }
  }

  // ------------------------------------------------------------ activity --

  /** A signal of the room's activity destination. */
  activity(signal) {
    const me = this.app.me();
    switch (signal.type) {
      case 'typing':
        if (typeof signal.user === 'string' && !sameName(signal.user, me)) {
          this.#addTypist(signal.user, signal.expires_in_ms);
        }
        break;
      case 'read':
        // My marker moved in another tab: the counts here follow.
        if (sameName(signal.user ?? '', me)) this.#markerMoved(Number(signal.last_read_seq));
        break;
      case 'presence':
        if (!this.online || typeof signal.user !== 'string') break;
        if (signal.online) this.online.add(signal.user);
        else this.online.delete(signal.user);
        this.#emit('presence', { user: signal.user, online: Boolean(signal.online) });
        break;
      case 'member':
        // Someone joined, left, was removed or changed role: @-autocomplete
        // reads the list again.
        if (this.members) this.members.at = 0;
        break;
      default:
        break;
    }
  }

  #addTypist(user, expiresInMs) {
    clearTimeout(this.typists.get(user));
    const ms = Number.isFinite(expiresInMs) && expiresInMs > 0 ? expiresInMs : TYPING_SHOWN_MS;
    this.typists.set(
      user,
      setTimeout(() => this.forgetTypist(user), ms),
    );
    this.#emit('typing');
  }

  forgetTypist(user) {
    if (!this.typists.has(user)) return;
    clearTimeout(this.typists.get(user));
    this.typists.delete(user);
    this.#emit('typing');
  }

  /** Stops what the room's timers would still do (it closes, or I sign out). */
  dispose() {
    for (const abort of this.uploadAborts.values()) abort();
    this.uploads.clear();
    clearTimeout(this.readTimer);
    this.readTimer = null;
    for (const timer of this.typists.values()) clearTimeout(timer);
    this.typists.clear();
  }
}
