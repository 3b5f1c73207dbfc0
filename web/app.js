// Parley's browser client: the screens and what the person does with them.
// REST and tokens are in api.js, the STOMP connection in live.js, each room's
// ordered, duplicate-free log (messages and the edits, deletions and
// reactions applied to them) in timeline.js.
//
// Membership: a members panel per room (roles; promote, remove and ban as
// the caller's role allows; bans; leave; delete), direct conversations in
// their own list, and blocking. Losing access to a room (left, removed,
// banned, deleted) closes it at once, with a notice saying why.
//
// Awareness: unread counts and a mention marker per room (from the room
// objects, then kept live from the messages that arrive and the read
// signals of my other tabs), a "New messages" divider at the read marker,
// the marker advanced as messages are seen (focused tab, on screen), who is
// typing, who is online in the members panel, and a search across rooms
// and a list of my mentions, each result jumping to its message.
//
// Every text a person wrote goes into the page as text (textContent, text
// nodes), never as markup; no inline handlers or styles (the page's CSP).

import { Session, describeError } from './api.js';
import { Live, SendRefused, newClientId } from './live.js';
import { Timeline, isHidden, isMessage } from './timeline.js';

const MAX_BODY_BYTES = 4096;
const GAP_PAGE = 200;
/** Within this many pixels of the bottom, new messages keep the view pinned there. */
const STICKY_PX = 80;
/** Scrolling this close to the top loads older messages. */
const OLDER_PX = 60;
/** The reaction picker's choice, as in most chat apps. */
const COMMON_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];
/** A quoted preview shows this much of the first line. */
const QUOTE_CHARS = 120;
/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 3_000;
/** Paging back to find a reply's original gives up after this many pages. */
const JUMP_PAGES = 40;
/** The members list used for @-autocomplete is fetched again after this. */
const MEMBERS_TTL_MS = 15_000;
/** At most this many people are offered for an @-mention. */
const MENTION_CHOICES = 8;
/** The room list is read again this often, so that rooms someone else added
 * us to and conversations someone opened with us show up. */
const ROOMS_REFRESH_MS = 20_000;
/** Read-marker moves are sent at most this often per room (one PUT per burst). */
const READ_EVERY_MS = 500;
/** "I am typing" is sent at most this often while composing. */
const TYPING_EVERY_MS = 2_000;
/** The server's default TYPING_RATE lets one signal a second through (with a margin). */
const TYPING_RATE_MS = 1_100;
/** A typist is shown this long when the signal does not say (expires_in_ms). */
const TYPING_SHOWN_MS = 6_000;
/** Search and mentions pages. */
const RESULTS_PAGE = 20;

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('connection-status'),
  account: $('account'),
  accountName: $('account-name'),
  logout: $('logout'),
  authView: $('auth-view'),
  authForm: $('auth-form'),
  authUsername: $('auth-username'),
  authPassword: $('auth-password'),
  authError: $('auth-error'),
  chatApp: $('chat-app'),
  roomsTitle: $('rooms-title'),
  roomsRefresh: $('rooms-refresh'),
  roomList: $('room-list'),
  roomsEmpty: $('rooms-empty'),
  roomsNotice: $('rooms-notice'),
  roomsError: $('rooms-error'),
  dmList: $('dm-list'),
  dmsEmpty: $('dms-empty'),
  blocked: $('blocked'),
  blockedCount: $('blocked-count'),
  blockedList: $('blocked-list'),
  blockedEmpty: $('blocked-empty'),
  blockedError: $('blocked-error'),
  roomNotice: $('room-notice'),
  joinForm: $('join-form'),
  joinName: $('join-name'),
  createForm: $('create-form'),
  createName: $('create-name'),
  createPrivate: $('create-private'),
  chatEmpty: $('chat-empty'),
  chatRoom: $('chat-room'),
  back: $('back'),
  chatTitle: $('chat-title'),
  chatPrivate: $('chat-private'),
  chatDirect: $('chat-direct'),
  membersToggle: $('members-toggle'),
  membersPanel: $('members-panel'),
  memberList: $('member-list'),
  addMemberForm: $('add-member-form'),
  addMemberName: $('add-member-name'),
  membersError: $('members-error'),
  bans: $('bans'),
  banList: $('ban-list'),
  bansEmpty: $('bans-empty'),
  leaveRoom: $('leave-room'),
  deleteRoom: $('delete-room'),
  roomDialog: $('room-dialog'),
  roomDialogTitle: $('room-dialog-title'),
  roomDialogText: $('room-dialog-text'),
  roomDialogConfirm: $('room-dialog-confirm'),
  roomDialogCancel: $('room-dialog-cancel'),
  scroller: $('message-scroller'),
  loadOlder: $('load-older'),
  historyStart: $('history-start'),
  chatError: $('chat-error'),
  composer: $('composer'),
  composerInput: $('composer-input'),
  replyBar: $('reply-bar'),
  replySender: $('reply-sender'),
  replyText: $('reply-text'),
  replyCancel: $('reply-cancel'),
  mentionList: $('mention-list'),
  deleteDialog: $('delete-dialog'),
  deletePreview: $('delete-preview'),
  deleteConfirm: $('delete-confirm'),
  deleteCancel: $('delete-cancel'),
  announcer: $('announcer'),
  typing: $('typing'),
  searchForm: $('search-form'),
  searchInput: $('search-input'),
  mentionsOpen: $('mentions-open'),
  results: $('results'),
  resultsTitle: $('results-title'),
  resultsClose: $('results-close'),
  resultList: $('result-list'),
  resultsEmpty: $('results-empty'),
  resultsMore: $('results-more'),
  resultsError: $('results-error'),
};

const STATUS_TEXT = {
  connecting: 'Connecting…',
  online: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

const session = new Session();
/** @type {Live | null} */
let live = null;
/** Rooms from GET /rooms, by name. */
let roomIndex = new Map();
/** Rooms opened in this session, by name: { room, timeline, list, unread, … }. */
const openRooms = new Map();
/** Rooms whose first load is under way (a double click opens once). */
const opening = new Set();
/** Name of the room on screen. */
let current = null;
/** Whether the reader is at the latest message (kept there as it grows). */
let pinnedToBottom = true;
/** The people I block (GET /me/blocks), by username. */
let blocks = new Map();
/** The timer re-reading the room list. */
let roomsTimer = null;

const path = (name) => `/rooms/${encodeURIComponent(name)}`;
const wsUrl = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

// ------------------------------------------------------------------ auth --

ui.authForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const action = event.submitter?.value === 'signup' ? 'signup' : 'login';
  const username = ui.authUsername.value.trim();
  const password = ui.authPassword.value;
  ui.authError.textContent = '';
  setBusy(ui.authForm, true);
  try {
    await session[action](username, password);
    ui.authPassword.value = '';
    startChat();
  } catch (err) {
    ui.authError.textContent = describeError(err);
    ui.authPassword.select();
    ui.authPassword.focus();
  } finally {
    setBusy(ui.authForm, false);
  }
});

ui.logout.addEventListener('click', async () => {
  stopChat();
  await session.logout();
  showAuth('');
});

session.addEventListener('ended', (event) => {
  stopChat();
  showAuth(event.detail);
});

function showAuth(message) {
  ui.chatApp.hidden = true;
  ui.account.hidden = true;
  ui.status.hidden = true;
  ui.authView.hidden = false;
  ui.authError.textContent = message;
  ui.authUsername.focus();
}

function startChat() {
  ui.authView.hidden = true;
  ui.accountName.textContent = session.user.username;
  ui.account.hidden = false;
  ui.chatApp.hidden = false;
  ui.chatApp.dataset.view = 'rooms';
  showRoom(null);

  for (const el of [ui.roomsError, ui.roomsNotice, ui.roomNotice, ui.chatError, ui.membersError]) {
    el.textContent = '';
  }

  const connection = new Live(session, wsUrl());
  // Events of a connection being stopped (after logout) are ignored.
  const on = (type, handle) =>
    connection.addEventListener(type, (event) => {
      if (live === connection) handle(event.detail);
    });
  let problem = null; // { el, text } of the last connection problem shown
  on('status', (status) => {
    showStatus(status);
    // Once connected, a connection problem shown earlier is over.
    if (status === 'online' && problem && problem.el.textContent === problem.text) {
      problem.el.textContent = '';
    }
  });
  on('message', ({ room, message }) => receive(room, message));
  on('activity', ({ room, signal }) => onActivity(room, signal));
  on('revoked', ({ room, reason }) => closeRoom(room, reason));
  on('problem', ({ kind, text }) => {
    const el = current ? ui.chatError : ui.roomsError;
    el.textContent = text;
    if (kind === 'connection') problem = { el, text };
  });
  live = connection;
  showStatus(live.status);
  live.start();

  ui.roomsTitle.focus();
  loadRooms();
  loadBlocks();
  roomsTimer = setInterval(() => {
    if (live?.status === 'online') loadRooms();
  }, ROOMS_REFRESH_MS);
}

function stopChat() {
  // Not awaited: a dead connection must not hold up signing out.
  live?.stop();
  live = null;
  clearInterval(roomsTimer);
  roomsTimer = null;
  blocks = new Map();
  renderBlocked();
  for (const state of openRooms.values()) forgetRoomTimers(state);
  closeResults();
  openRooms.clear();
  opening.clear();
  roomIndex = new Map();
  current = null;
  renderRoomList();
}

function showStatus(status) {
  ui.status.hidden = false;
  ui.status.dataset.state = status;
  ui.status.textContent = STATUS_TEXT[status] ?? status;
}

// ----------------------------------------------------------------- rooms --

/** Bumped whenever a room closes: a room list read before that may still
 * name the room, and is not used. */
let roomsVersion = 0;

async function loadRooms() {
  const version = roomsVersion;
  try {
    const { rooms } = await session.request('GET', '/rooms');
    if (version !== roomsVersion || !live) return;
    roomIndex = new Map(rooms.map((r) => [r.name, r]));
    renderRoomList();
  } catch (err) {
    ui.roomsError.textContent = describeError(err);
  }
}

const isDirect = (room) => room?.kind === 'direct';

/** How a room is named on screen: `# name`, or `@peer` for a conversation. */
const roomLabel = (room, name = room.name) => (isDirect(room) ? `@${room.peer}` : `# ${name}`);

/** The rooms, and below them the direct conversations by their peer. */
function renderRoomList() {
  const names = [...new Set([...roomIndex.keys(), ...openRooms.keys()])];
  const roomOf = (name) => roomIndex.get(name) ?? openRooms.get(name)?.room;
  const rooms = names.filter((n) => !isDirect(roomOf(n))).sort();
  const dms = names
    .filter((n) => isDirect(roomOf(n)))
    .sort((a, b) => roomOf(a).peer.localeCompare(roomOf(b).peer));
  // Re-rendering must not take keyboard focus away from a room button.
  const active = document.activeElement;
  const focused =
    ui.roomList.contains(active) || ui.dmList.contains(active) ? active.dataset.room : null;
  const item = (name) => {
    const room = roomOf(name);
    const { unread, mentions } = unreadOf(name);
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'room-button';
    button.dataset.room = name;
    if (name === current) button.setAttribute('aria-current', 'true');
    const label = document.createElement('span');
    label.className = 'room-name';
    label.textContent = roomLabel(room, name);
    button.append(label);
    if (room?.private && !isDirect(room)) button.append(badge('private', 'private'));
    // The counts are the button's description, not its name: "# general"
    // stays "# general" however much is unread.
    const status = [];
    if (mentions > 0) {
      button.append(quietBadge('@', 'mention-marker'));
      status.push(mentions === 1 ? '1 mention' : `${mentions} mentions`);
    }
    if (unread > 0) {
      button.append(quietBadge(`${unread}`, 'unread'));
      status.push(`${unread} unread`);
    }
    if (status.length > 0) {
      const spoken = document.createElement('span');
      spoken.className = 'visually-hidden';
      spoken.id = `room-status-${++statusIds}`;
      spoken.setAttribute('aria-hidden', 'true');
      spoken.textContent = status.join(', ');
      button.append(spoken);
      button.setAttribute('aria-describedby', spoken.id);
    }
    button.addEventListener('click', () => openRoom(name));
    const li = document.createElement('li');
    li.append(button);
    return li;
  };
  ui.roomList.replaceChildren(...rooms.map(item));
  ui.dmList.replaceChildren(...dms.map(item));
  ui.roomsEmpty.hidden = rooms.length > 0;
  ui.dmsEmpty.hidden = dms.length > 0;
  if (focused) {
    const selector = `[data-room="${CSS.escape(focused)}"]`;
    (ui.roomList.querySelector(selector) ?? ui.dmList.querySelector(selector))?.focus();
  }
}

/** Ids of the room buttons' descriptions. */
let statusIds = 0;

/** A badge left out of its button's name (the button describes it). */
function quietBadge(text, kind) {
  const el = badge(text, kind);
  el.setAttribute('aria-hidden', 'true');
  return el;
}

function badge(text, kind, label) {
  const el = document.createElement('span');
  el.className = `badge ${kind}`;
  el.textContent = text;
  if (label) {
    // Read "3 unread", not just "3".
    el.setAttribute('aria-hidden', 'true');
    const spoken = document.createElement('span');
    spoken.className = 'visually-hidden';
    spoken.textContent = `, ${label}`;
    return fragment(el, spoken);
  }
  return el;
}

function fragment(...nodes) {
  const f = document.createDocumentFragment();
  f.append(...nodes);
  return f;
}

ui.roomsRefresh.addEventListener('click', () => {
  ui.roomsError.textContent = '';
  loadRooms();
});

ui.joinForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  // Room names are lower case; "General" means #general.
  const name = ui.joinName.value.trim().toLowerCase();
  if (await openRoom(name, ui.joinForm)) ui.joinName.value = '';
});

ui.createForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const name = ui.createName.value.trim().toLowerCase();
  ui.roomsError.textContent = '';
  setBusy(ui.createForm, true);
  try {
    const room = await session.request('POST', '/rooms', {
      name,
      private: ui.createPrivate.checked,
    });
    roomIndex.set(room.name, room);
    ui.createName.value = '';
    ui.createPrivate.checked = false;
    await openRoom(room.name);
  } catch (err) {
    ui.roomsError.textContent = describeError(err);
    ui.createName.focus();
  } finally {
    setBusy(ui.createForm, false);
  }
});

/**
 * Joins (idempotent), loads the latest page, follows the room live and shows
 * it. Returns false, with the error shown, when that fails.
 */
async function openRoom(name, form = null) {
  ui.roomsError.textContent = '';
  ui.roomsNotice.textContent = '';
  ui.chatError.textContent = '';
  let state = openRooms.get(name);
  if (!state) {
    if (opening.has(name)) return false;
    opening.add(name);
    if (form) setBusy(form, true);
    try {
      // A direct conversation is joined by being one of its two people.
      const room = isDirect(roomIndex.get(name))
        ? await session.request('GET', path(name))
        : await session.request('POST', `${path(name)}/join`);
      const [page, members] = await Promise.all([
        session.request('GET', `${path(name)}/messages`),
        session.request('GET', `${path(name)}/members`),
      ]);
      state = newRoomState(room);
      setMembers(state, members.members, { cache: false });
      openRooms.set(name, state);
      roomIndex.set(name, room);
      appendMessages(state, state.timeline.addLatest(page).filter(isShown));
      // Unread messages older than the page just loaded count too.
      const held = countUnread(state);
      state.unreadBeyond = Math.max(0, (room.membership?.unread ?? 0) - held.unread);
      state.mentionsBeyond = Math.max(0, (room.membership?.mentions ?? 0) - held.mentions);
    } catch (err) {
      ui.roomsError.textContent = describeError(err);
      if (err.code === 'room_not_found' && roomIndex.delete(name)) renderRoomList();
      if (form) form.querySelector('input')?.focus();
      return false;
    } finally {
      opening.delete(name);
      if (form) setBusy(form, false);
    }
  }
  if (live && !live.isFollowing(name)) {
    // since-seq = the last seq held: the server sends what came after it.
    live.follow(name, () => state.timeline.newest);
  }
  showRoom(name);
  return true;
}

function newRoomState(room) {
  const list = document.createElement('ol');
  list.className = 'message-list';
  list.setAttribute('aria-label', `Messages in #${room.name}`);
  return {
    room,
    timeline: new Timeline(),
    list,
    /** My read marker here (null: not a member), and what is unread below
     * the loaded history (from the room object when the room opened). */
    lastRead: room.membership ? room.membership.last_read_seq : null,
    unreadBeyond: 0,
    mentionsBeyond: 0,
    /** The highest seq seen and not yet sent with PUT …/read, and its timer. */
    readWanted: 0,
    readTimer: null,
    /** Who is typing here: username → the timer that forgets them. */
    typists: new Map(),
    /** When "I am typing" was last sent, and when it may be sent again. */
    typingSentAt: 0,
    typingNextAt: 0,
    /** Members online (GET …/presence, then presence signals), or null before it is read. */
    online: null,
    scrollTop: null,
    loadingOlder: false,
    fillingGap: false,
    /** Seq of the message the composer replies to, or null. */
    replyTo: null,
    /** The message being edited in place: { seq, input }, or null. */
    editing: null,
    /** Seq of the message whose reaction picker is open, or null. */
    pickerFor: null,
    /** Originals of replies being fetched on their own, by seq. */
    fetchingOriginals: new Set(),
    /** Originals that could not be fetched (not retried while the room is open). */
    missingOriginals: new Set(),
    /** The room's members (panel, @-autocomplete): { list, at } or null. */
    members: null,
    loadingMembers: null,
    /** My role here, from the members list: 'owner' | 'moderator' | 'member' | null. */
    myRole: null,
    /** Originals of replies that are hidden from me (I block their sender). */
    hiddenOriginals: new Set(),
  };
}

function showRoom(name) {
  if (current && openRooms.has(current)) {
    // null: back at the latest message, wherever that is by then.
    openRooms.get(current).scrollTop = pinnedToBottom ? null : ui.scroller.scrollTop;
  }
  current = name;
  const state = name ? openRooms.get(name) : null;
  ui.chatEmpty.hidden = Boolean(state);
  ui.chatRoom.hidden = !state;
  closeMembers();
  if (!state) {
    renderRoomList();
    return;
  }
  placeDivider(state);
  renderRoomList();
  const direct = isDirect(state.room);
  const target = direct ? `@${state.room.peer}` : `#${name}`;
  ui.chatTitle.textContent = roomLabel(state.room);
  ui.chatPrivate.hidden = !state.room.private || direct;
  ui.chatDirect.hidden = !direct;
  ui.composerInput.placeholder = `Message ${target}`;
  ui.composer.querySelector('label').textContent = `Message ${target}`;
  state.list.setAttribute('aria-label', `Messages in ${target}`);
  ui.scroller.querySelector('.message-list')?.remove();
  ui.scroller.append(state.list);
  renderHistoryHead(state);
  renderReplyBar(state);
  closeMentions();
  ui.chatApp.dataset.view = 'chat'; // first: a hidden pane cannot be scrolled
  ui.scroller.scrollTop = state.scrollTop ?? ui.scroller.scrollHeight;
  pinnedToBottom = state.scrollTop === null;
  const divider = state.list.querySelector('li.new-divider');
  if (divider && state.scrollTop === null) {
    // Back where reading stopped: the first unread message at the top.
    divider.scrollIntoView({ block: 'start', behavior: 'instant' });
    pinnedToBottom = isNearBottom();
  }
  renderTyping();
  ui.composerInput.focus();
  noteRead(state);
}

ui.back.addEventListener('click', () => {
  ui.chatApp.dataset.view = 'rooms';
  ui.roomList.querySelector('[aria-current="true"]')?.focus();
});

// -------------------------------------------------------------- messages --

/** An event from the live connection (new, or replayed after a reconnect). */
function receive(room, event) {
  const state = openRooms.get(room);
  if (!state) return;
  const { fresh, gap } = state.timeline.add(event);
  for (const m of fresh) if (isMessage(m) && m.sender) forgetTypist(state, m.sender);
  showEvents(state, fresh, { live: true });
  // Resumed below the retention horizon: older messages are gone.
  if (event.type === 'horizon' && room === current) renderHistoryHead(state);
  if (gap) fillGap(state);
}

/** Shows events the timeline released: new messages at the bottom, and the
 * messages that edits, deletions and reactions changed, re-drawn in place. */
function showEvents(state, events, options) {
  appendMessages(state, events.filter(isShown), options);
  const changed = new Set(events.filter((e) => !isMessage(e)).map((e) => e.target));
  for (const seq of changed) redraw(state, seq);
  // A deletion can change what is unread.
  if (changed.size > 0 && state.room.name !== current) renderRoomList();
}

/** A jump in seq: fetch what is missing with ?after=, page by page. */
async function fillGap(state) {
  if (state.fillingGap) return;
  state.fillingGap = true;
  try {
    for (;;) {
      const after = state.timeline.newest;
      const page = await session.request(
        'GET',
        `${path(state.room.name)}/messages?after=${after}&limit=${GAP_PAGE}`,
      );
      showEvents(state, state.timeline.addAfter(page).fresh, { live: true });
      if (state.room.name === current) renderHistoryHead(state);
      if (!page.has_more || state.timeline.newest === after) break;
    }
  } catch (err) {
    ui.chatError.textContent = describeError(err);
  } finally {
    state.fillingGap = false;
  }
}

/** Adds messages (ascending, all newer than those shown) at the bottom. */
function appendMessages(state, messages, { live: isLive = false } = {}) {
  if (messages.length === 0) return;
  const onScreen = isOnScreen(state.room.name);
  const pinned = state.room.name === current && isNearBottom();
  for (const m of messages) {
    if (m.client_id) {
      // Our own message came back: it replaces its "sending…" placeholder.
      state.list.querySelector(`li.pending[data-client-id="${CSS.escape(m.client_id)}"]`)?.remove();
    }
    // Stored messages go above the ones still sending (null: at the end).
    state.list.insertBefore(renderEvent(state, m), state.list.querySelector('li.pending'));
  }
  if (isLive) {
    // A blocked person's events are no news: never announced nor counted.
    const others = messages.filter((m) => isMessage(m) && m.sender !== session.user?.username);
    if (onScreen) announce(others);
    if (others.length > 0) renderRoomList();
  }
  if (pinned) scrollToBottom();
  if (state.room.name === current) noteRead(state);
}

/** Draws message `seq` again from its current state, and the quotes of the
 * replies to it; keyboard focus stays on the same control. */
function redraw(state, seq) {
  const pinned = state.room.name === current && isNearBottom();
  // Deleted while being edited (by the room's owner, say): nothing to save.
  if (state.editing?.seq === seq && state.timeline.message(seq)?.deleted) state.editing = null;
  if (state.pickerFor === seq && state.timeline.message(seq)?.deleted) state.pickerFor = null;
  const seqs = [seq, ...state.timeline.repliesTo(seq)];
  for (const s of seqs) {
    const old = messageItem(state, s);
    const m = state.timeline.message(s);
    if (!old || !m) continue;
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = focused?.dataset.focus;
    const item = renderMessage(state, m);
    if (old.classList.contains('highlight')) item.classList.add('highlight');
    old.replaceWith(item);
    if (focused) {
      const again = focusKey ? item.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`) : null;
      (again ?? item).focus({ preventScroll: true });
    }
  }
  if (state.replyTo === seq) renderReplyBar(state);
  if (pinned) scrollToBottom();
}

const messageItem = (state, seq) => state.list.querySelector(`li[data-seq="${seq}"]`);
const me = () => session.user?.username ?? '';
const sameName = (a, b) => a.toLowerCase() === b.toLowerCase();

/** Whether message `m` names me in its `mentions`. */
const mentionsMe = (m) => (m.mentions ?? []).some((u) => sameName(u, me()));

/** Whether I may delete message `m`: my own, or any in a room I own or moderate. */
const mayDelete = (state, m) =>
  m.sender === me() ||
  state.room.owner === me() ||
  state.myRole === 'owner' ||
  state.myRole === 'moderator';

/** What the message list shows: messages, and placeholders for hidden events. */
const isShown = (event) => isMessage(event) || isHidden(event);

/** A list item for a shown event (see isShown). */
function renderEvent(state, event) {
  return isHidden(event)
    ? renderHidden(event)
    : renderMessage(state, state.timeline.message(event.seq) ?? event);
}

/** The placeholder for an event of someone I block: only its place in the log. */
function renderHidden(event) {
  const item = document.createElement('li');
  item.className = 'message hidden-event';
  item.dataset.seq = String(event.seq);
  item.tabIndex = -1;
  const body = document.createElement('p');
  body.className = 'body tombstone';
  body.textContent = 'blocked message';
  body.title = 'From someone you block. Unblock them to see it.';
  item.append(body);
  return item;
}

/**
 * One message as a list item. `m` is its current state (see timeline.js);
 * `pending` for a placeholder still being sent (no actions yet).
 */
function renderMessage(state, m, { pending = false } = {}) {
  const item = document.createElement('li');
  item.className = 'message';
  item.tabIndex = -1; // focusable when jumped to
  const own = m.sender === me();
  if (own) item.classList.add('own');
  if (m.deleted) item.classList.add('deleted');
  const forMe = !own && mentionsMe(m);
  if (forMe) item.classList.add('mentions-me');
  item.dataset.seq = String(m.seq);

  if (Number.isInteger(m.reply_to)) item.append(renderQuote(state, m.reply_to));

  const meta = document.createElement('div');
  meta.className = 'meta';
  const sender = document.createElement('span');
  sender.className = 'sender';
  sender.textContent = m.sender;
  const time = document.createElement('time');
  const at = new Date(m.created_at);
  time.dateTime = m.created_at;
  time.textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  time.title = at.toLocaleString();
  meta.append(sender, ' ', time);
  if (m.edited_at && !m.deleted) {
    const edited = document.createElement('span');
    edited.className = 'edited';
    edited.textContent = '(edited)';
    edited.title = `Edited ${new Date(m.edited_at).toLocaleString()}`;
    meta.append(' ', edited);
  }
  if (forMe) meta.append(' ', badge('mentions you', 'mention-badge'));
  // In the header line, as in most chat apps: no extra height per message.
  if (!pending && !m.deleted) meta.append(renderActions(state, m));
  item.append(meta);

  if (m.deleted) {
    const body = document.createElement('p');
    body.className = 'body tombstone';
    body.textContent = 'message deleted';
    item.append(body);
    return item;
  }
  if (state.editing?.seq === m.seq) item.append(renderEditor(state, m));
  else {
    const body = document.createElement('p');
    body.className = 'body';
    body.append(withMentions(m.body, m.mentions ?? []));
    item.append(body);
  }
  if (pending) return item;

  if (m.reactions?.length > 0) item.append(renderReactions(state, m));
  if (state.pickerFor === m.seq) item.append(renderPicker(state, m));
  return item;
}

/** `text` as text nodes, each `@name` the server resolved in `mentions`
 * (the contract's rule: a maximal run of [A-Za-z0-9_.-]) marked up. */
function withMentions(text, mentions) {
  const out = document.createDocumentFragment();
  const names = new Set(mentions.map((u) => u.toLowerCase()));
  if (names.size === 0) {
    out.append(text);
    return out;
  }
  let last = 0;
  for (const match of text.matchAll(/@([A-Za-z0-9_.-]+)/g)) {
    const name = match[1].toLowerCase();
    if (!names.has(name)) continue;
    out.append(text.slice(last, match.index));
    const mark = document.createElement('span');
    mark.className = 'mention';
    if (name === me().toLowerCase()) {
      mark.classList.add('me');
      mark.title = 'Mentions you';
    }
    mark.textContent = match[0];
    out.append(mark);
    last = match.index + match[0].length;
  }
  out.append(text.slice(last));
  return out;
}

/** The quoted original above a reply: a button that jumps to it. */
function renderQuote(state, seq) {
  const original = state.timeline.message(seq);
  const quote = document.createElement('button');
  quote.type = 'button';
  quote.className = 'quote';
  quote.dataset.focus = 'quote';
  quote.dataset.replyTo = String(seq);
  const who = document.createElement('span');
  who.className = 'quote-sender';
  const text = document.createElement('span');
  text.className = 'quote-body';
  const hidden = !original && (state.timeline.isHidden(seq) || state.hiddenOriginals.has(seq));
  if (hidden) {
    text.textContent = 'blocked message';
    text.classList.add('tombstone');
  } else if (!original) {
    who.textContent = '';
    const missing = state.missingOriginals.has(seq);
    text.textContent = missing ? 'The original message cannot be loaded.' : 'Loading the original message…';
    if (!missing) fetchOriginal(state, seq);
  } else {
    who.textContent = original.sender;
    text.textContent = original.deleted ? 'message deleted' : firstLine(original.body);
    if (original.deleted) text.classList.add('tombstone');
  }
  quote.append(who, ' ', text);
  const said = original
    ? `${original.sender}: ${original.deleted ? 'message deleted' : firstLine(original.body)}`
    : hidden
      ? 'a blocked message'
      : `message ${seq}`;
  quote.setAttribute('aria-label', `In reply to ${said}. Show the original message`);
  quote.addEventListener('click', () => jumpTo(state, seq));
  return quote;
}

function firstLine(text) {
  const line = text.split('\n', 1)[0];
  return line.length > QUOTE_CHARS ? `${line.slice(0, QUOTE_CHARS)}…` : line;
}

/** The original of a reply is older than what is loaded: fetch it alone. */
async function fetchOriginal(state, seq) {
  if (state.fetchingOriginals.has(seq)) return;
  state.fetchingOriginals.add(seq);
  try {
    const original = await session.request('GET', `${path(state.room.name)}/messages/${seq}`);
    if (isHidden(original)) state.hiddenOriginals.add(seq);
    else state.timeline.hold(original);
    redraw(state, seq);
  } catch {
    // Said in the quote; a click still pages back to look for it.
    state.missingOriginals.add(seq);
    redraw(state, seq);
  } finally {
    state.fetchingOriginals.delete(seq);
  }
}

/** Scrolls to message `seq` (paging back through history if need be) and
 * highlights it. */
async function jumpTo(state, seq, { pageSize, missing } = {}) {
  for (let page = 0; !messageItem(state, seq) && state.timeline.hasOlder && page < JUMP_PAGES; page++) {
    await loadOlder(state, pageSize);
  }
  const item = messageItem(state, seq);
  if (!item) {
    ui.chatError.textContent = missing ?? 'The original message is not in this room’s history any more.';
    return;
  }
  for (const other of state.list.querySelectorAll('li.highlight')) other.classList.remove('highlight');
  item.classList.add('highlight');
  item.scrollIntoView({ block: 'center', behavior: 'instant' });
  pinnedToBottom = isNearBottom();
  item.focus({ preventScroll: true });
  setTimeout(() => messageItem(state, seq)?.classList.remove('highlight'), HIGHLIGHT_MS);
  noteRead(state);
}

/** Reaction chips: key and count, pressed when I reacted; a click toggles mine. */
function renderReactions(state, m) {
  const group = document.createElement('div');
  group.className = 'reactions';
  group.setAttribute('role', 'group');
  group.setAttribute('aria-label', 'Reactions');
  for (const { key, users } of m.reactions) {
    const mine = users.includes(me());
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'reaction';
    chip.dataset.key = key;
    chip.dataset.focus = `reaction:${key}`;
    chip.setAttribute('aria-pressed', String(mine));
    const emoji = document.createElement('span');
    emoji.className = 'reaction-key';
    emoji.textContent = key;
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = String(users.length);
    chip.append(emoji, count);
    const n = users.length === 1 ? '1 reaction' : `${users.length} reactions`;
    chip.setAttribute('aria-label', `${key}: ${n}${mine ? ', including yours' : ''}`);
    chip.title = users.join(', ');
    chip.addEventListener('click', () => react(state, m.seq, key, !mine));
    group.append(chip);
  }
  return group;
}

/** Reply, react, edit and delete, as far as I may. */
function renderActions(state, m) {
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.setAttribute('role', 'group');
  actions.setAttribute('aria-label', `Actions for the message by ${m.sender}`);
  const action = (name, label, icon, handle) => {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `quiet icon action-${name}`;
    button.dataset.focus = `action:${name}`;
    button.setAttribute('aria-label', label);
    button.title = label;
    button.textContent = icon;
    button.addEventListener('click', handle);
    actions.append(button);
    return button;
  };
  action('reply', 'Reply', '↩', () => startReply(state, m.seq));
  const picker = action('react', 'Add a reaction', '☺+', () => togglePicker(state, m.seq));
  picker.setAttribute('aria-expanded', String(state.pickerFor === m.seq));
  if (m.sender === me()) action('edit', 'Edit message', '✎', () => startEdit(state, m.seq));
  if (mayDelete(state, m)) action('delete', 'Delete message', '🗑', () => confirmDelete(state, m.seq));
  return actions;
}

function renderPicker(state, m) {
  const picker = document.createElement('div');
  picker.className = 'picker';
  picker.setAttribute('role', 'group');
  picker.setAttribute('aria-label', 'Pick a reaction');
  for (const key of COMMON_REACTIONS) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'quiet icon';
    button.dataset.focus = `pick:${key}`;
    button.textContent = key;
    button.setAttribute('aria-label', `React with ${key}`);
    button.addEventListener('click', () => {
      state.pickerFor = null;
      redraw(state, m.seq);
      messageItem(state, m.seq)?.querySelector('[data-focus="action:react"]')?.focus();
      const mine = m.reactions?.find((r) => r.key === key)?.users.includes(me());
      if (!mine) react(state, m.seq, key, true);
    });
    picker.append(button);
  }
  picker.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      togglePicker(state, m.seq);
      messageItem(state, m.seq)?.querySelector('[data-focus="action:react"]')?.focus();
    }
  });
  return picker;
}

// Pressing anywhere else closes an open reaction picker, as a menu would
// (pointerdown: before a click's own handler redraws what it hit).
document.addEventListener('pointerdown', (event) => {
  const state = openRooms.get(current);
  if (!state || state.pickerFor === null) return;
  const item = messageItem(state, state.pickerFor);
  const inside = event.target instanceof Element && item?.contains(event.target);
  if (!inside || !event.target.closest('.picker, .action-react')) togglePicker(state, state.pickerFor);
});

function togglePicker(state, seq) {
  const previous = state.pickerFor;
  state.pickerFor = previous === seq ? null : seq;
  if (previous !== null && previous !== seq) redraw(state, previous);
  redraw(state, seq);
  if (state.pickerFor === seq) messageItem(state, seq)?.querySelector('.picker button')?.focus();
}

/** Answers of the room-log routes are events: they go through the timeline
 * like live ones (whichever comes first is shown, the other is a duplicate). */
async function changeMessage(state, method, route, body) {
  ui.chatError.textContent = '';
  try {
    const event = await session.request(method, `${path(state.room.name)}/messages/${route}`, body);
    if (event && Number.isInteger(event.seq)) receive(state.room.name, event);
    return true;
  } catch (err) {
    if (state.room.name === current) ui.chatError.textContent = describeError(err);
    return false;
  }
}

function react(state, seq, key, add) {
  return changeMessage(state, add ? 'PUT' : 'DELETE', `${seq}/reactions/${encodeURIComponent(key)}`);
}

// ------------------------------------------------------------ editing --

function startEdit(state, seq) {
  const m = state.timeline.message(seq);
  if (!m || m.deleted) return;
  const previous = state.editing?.seq;
  const input = document.createElement('textarea');
  input.className = 'edit-input';
  input.rows = 1;
  input.value = m.body;
  input.dataset.focus = 'edit-input';
  input.setAttribute('aria-label', 'Edit message');
  input.setAttribute('aria-describedby', 'edit-hint');
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      stopEdit(state, seq);
    } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      saveEdit(state, seq);
    }
  });
  state.editing = { seq, input };
  if (previous !== undefined && previous !== seq) redraw(state, previous);
  redraw(state, seq);
  input.focus();
  input.setSelectionRange(input.value.length, input.value.length);
}

function renderEditor(state, m) {
  const editor = document.createElement('div');
  editor.className = 'editor';
  const hint = document.createElement('p');
  hint.className = 'hint';
  hint.id = 'edit-hint';
  hint.textContent = 'Enter saves, Escape cancels, Shift+Enter starts a new line.';
  const save = document.createElement('button');
  save.type = 'button';
  save.textContent = 'Save';
  save.dataset.focus = 'edit-save';
  save.addEventListener('click', () => saveEdit(state, m.seq));
  const cancel = document.createElement('button');
  cancel.type = 'button';
  cancel.className = 'quiet';
  cancel.textContent = 'Cancel';
  cancel.dataset.focus = 'edit-cancel';
  cancel.addEventListener('click', () => stopEdit(state, m.seq));
  const row = document.createElement('div');
  row.className = 'row';
  row.append(save, cancel);
  editor.append(state.editing.input, row, hint);
  return editor;
}

function stopEdit(state, seq) {
  if (state.editing?.seq !== seq) return;
  state.editing = null;
  redraw(state, seq);
  messageItem(state, seq)?.querySelector('[data-focus="action:edit"]')?.focus();
}

async function saveEdit(state, seq) {
  const editing = state.editing;
  if (editing?.seq !== seq || editing.saving) return;
  const text = editing.input.value;
  const problem = bodyProblem(text);
  if (problem) {
    ui.chatError.textContent = problem;
    return;
  }
  if (text === state.timeline.message(seq)?.body) {
    stopEdit(state, seq);
    return;
  }
  editing.saving = true;
  editing.input.setAttribute('aria-busy', 'true');
  const saved = await changeMessage(state, 'PATCH', `${seq}`, { body: text });
  editing.saving = false;
  editing.input.removeAttribute('aria-busy');
  if (saved) stopEdit(state, seq);
}

// ----------------------------------------------------------- deleting --

/** The message waiting for the delete confirmation: { state, seq } or null. */
let deleting = null;

function confirmDelete(state, seq) {
  const m = state.timeline.message(seq);
  if (!m || m.deleted) return;
  deleting = { state, seq };
  ui.deletePreview.textContent = `${m.sender}: ${firstLine(m.body)}`;
  ui.deleteDialog.showModal();
  ui.deleteCancel.focus();
}

ui.deleteCancel.addEventListener('click', () => ui.deleteDialog.close());
ui.deleteConfirm.addEventListener('click', async () => {
  const target = deleting;
  ui.deleteDialog.close();
  if (target) await changeMessage(target.state, 'DELETE', `${target.seq}`);
});
ui.deleteDialog.addEventListener('close', () => {
  const target = deleting;
  deleting = null;
  // Back to the message (or, once it is deleted, the message itself).
  if (target) {
    const item = messageItem(target.state, target.seq);
    (item?.querySelector('[data-focus="action:delete"]') ?? item)?.focus({ preventScroll: true });
  }
});

// Older history: the button, or scrolling to the top.
ui.loadOlder.addEventListener('click', () => loadOlder(openRooms.get(current)));
ui.scroller.addEventListener('scroll', () => {
  pinnedToBottom = isNearBottom();
  const state = openRooms.get(current);
  if (state) noteRead(state);
  if (ui.scroller.scrollTop < OLDER_PX) loadOlder(openRooms.get(current));
});
// Rotating a phone or opening its keyboard keeps the latest messages in view.
new ResizeObserver(() => {
  if (pinnedToBottom) scrollToBottom();
}).observe(ui.scroller);

/** Loads the page before the oldest held; callers during a load share it. */
function loadOlder(state, limit) {
  if (!state || !state.timeline.hasOlder) return Promise.resolve();
  state.loadingOlder ||= fetchOlder(state, limit);
  return state.loadingOlder;
}

async function fetchOlder(state, limit) {
  ui.loadOlder.disabled = true;
  ui.loadOlder.textContent = 'Loading older messages…';
  try {
    const before = state.timeline.oldest;
    const size = limit ? `&limit=${limit}` : '';
    const page = await session.request('GET', `${path(state.room.name)}/messages?before=${before}${size}`);
    const older = state.timeline.addOlder(page);
    // Keep what the reader was looking at in place while prepending.
    const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
    state.list.prepend(...older.filter(isShown).map((e) => renderEvent(state, e)));
    if (state.room.name === current) ui.scroller.scrollTop = ui.scroller.scrollHeight - fromBottom;
  } catch (err) {
    ui.chatError.textContent = describeError(err);
  } finally {
    state.loadingOlder = false;
    ui.loadOlder.disabled = false;
    ui.loadOlder.textContent = 'Load older messages';
    if (state.room.name === current) renderHistoryHead(state);
  }
}

function renderHistoryHead(state) {
  ui.loadOlder.hidden = !state.timeline.hasOlder;
  ui.historyStart.hidden = state.timeline.hasOlder;
  // Pruned by the server's retention (README, "Retention"): not the beginning.
  ui.historyStart.textContent = state.timeline.atHorizon
    ? 'Older messages are no longer available.'
    : `This is the beginning of #${state.room.name}.`;
}

const phoneLayout = matchMedia('(max-width: 720px)');

/** Whether the room's messages are in view (on a phone, not while the room
 * list is shown instead). */
function isOnScreen(name) {
  return name === current && !(phoneLayout.matches && ui.chatApp.dataset.view === 'rooms');
}

function isNearBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < STICKY_PX;
}

function scrollToBottom() {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
}

// --------------------------------------------------------------- sending --

/** Why `text` cannot be sent (or saved as an edit), or null. */
function bodyProblem(text) {
  if (text.trim() === '') return 'A message cannot be empty.';
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    return `That message is too long (at most ${MAX_BODY_BYTES} bytes).`;
  }
  if (text.includes('\u0000')) return 'That message contains a character that cannot be sent.';
  return null;
}

ui.composerInput.addEventListener('keydown', (event) => {
  if (!ui.mentionList.hidden && mentionKey(event)) return;
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  } else if (event.key === 'Escape' && openRooms.get(current)?.replyTo != null) {
    event.preventDefault();
    cancelReply();
  }
});
ui.composerInput.addEventListener('input', () => {
  autoGrow();
  suggestMentions();
  sendTyping();
});
// The caret moved (arrows, a click): the word being completed may have changed.
ui.composerInput.addEventListener('click', () => suggestMentions());
ui.composerInput.addEventListener('blur', () => {
  // A click on a suggestion lands first (pointerdown keeps the focus here).
  setTimeout(() => {
    if (document.activeElement !== ui.composerInput) closeMentions();
  }, 150);
});

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const state = openRooms.get(current);
  const text = ui.composerInput.value;
  if (!state || !live || text.trim() === '') return;
  ui.chatError.textContent = '';
  const problem = bodyProblem(text);
  if (problem) {
    ui.chatError.textContent = problem;
    return;
  }
  const clientId = newClientId();
  const replyTo = state.replyTo;
  const placeholder = renderPending(state, text, clientId, replyTo);
  state.list.append(placeholder);
  scrollToBottom();
  ui.composerInput.value = '';
  // The message ends the typing it announced (receivers forget the typist):
  // the next keystroke says so again, as soon as the server takes another
  // signal (TYPING_RATE: one a second).
  state.typingNextAt = Math.min(state.typingNextAt, state.typingSentAt + TYPING_RATE_MS);
  autoGrow();
  closeMentions();
  if (replyTo !== null) cancelReply();
  // Shown once the server stores it and its MESSAGE comes back; until then
  // it waits in live's outbox, across reconnects if need be.
  live.send(state.room.name, text, clientId, { replyTo }).catch((err) => {
    placeholder.classList.add('failed');
    placeholder.querySelector('.sender').textContent = 'Not sent';
    if (state.room.name !== current) return;
    ui.chatError.textContent =
      err instanceof SendRefused && err.code === 'blocked'
        ? `Not sent: ${isDirect(state.room) ? state.room.peer : 'this person'} has blocked you.`
        : err.message;
  });
});

function renderPending(state, text, clientId, replyTo) {
  const item = renderMessage(
    state,
    {
      seq: 0,
      sender: 'Sending…',
      body: text,
      reply_to: replyTo,
      created_at: new Date().toISOString(),
    },
    { pending: true },
  );
  item.classList.add('own', 'pending');
  delete item.dataset.seq;
  item.dataset.clientId = clientId;
  return item;
}

function autoGrow() {
  const input = ui.composerInput;
  input.style.height = 'auto';
  input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
}

// ------------------------------------------------------------ replying --

function startReply(state, seq) {
  state.replyTo = seq;
  renderReplyBar(state);
  ui.composerInput.focus();
}

function cancelReply() {
  const state = openRooms.get(current);
  if (!state) return;
  state.replyTo = null;
  renderReplyBar(state);
  ui.composerInput.focus();
}

/** The quoted preview above the composer while a reply is being written. */
function renderReplyBar(state) {
  const original = state.replyTo === null ? null : state.timeline.message(state.replyTo);
  ui.replyBar.hidden = !original;
  if (!original) return;
  ui.replySender.textContent = original.sender;
  ui.replyText.textContent = original.deleted ? 'message deleted' : firstLine(original.body);
}

ui.replyCancel.addEventListener('click', cancelReply);

// ------------------------------------------------------------ mentions --

/** The open suggestions: { start, end, choices, active } or null. */
let mentioning = null;

/** The `@word` just before the caret, if the caret ends one. */
function mentionAtCaret() {
  const input = ui.composerInput;
  if (input.selectionStart !== input.selectionEnd) return null;
  const before = input.value.slice(0, input.selectionStart);
  const match = before.match(/(?:^|[^A-Za-z0-9_.-])@([A-Za-z0-9_.-]{0,32})$/);
  if (!match) return null;
  return { start: before.length - match[1].length - 1, end: before.length, prefix: match[1] };
}

async function suggestMentions() {
  const state = openRooms.get(current);
  const at = state ? mentionAtCaret() : null;
  if (!at) {
    closeMentions();
    return;
  }
  const members = await roomMembers(state);
  // The person may have typed on meanwhile, or left the room.
  const now = mentionAtCaret();
  if (state.room.name !== current || !now || now.start !== at.start) return;
  const prefix = now.prefix.toLowerCase();
  const choices = members
    .map((u) => u.username)
    .filter((name) => name !== me() && name.toLowerCase().startsWith(prefix))
    .sort((a, b) => a.localeCompare(b))
    .slice(0, MENTION_CHOICES);
  if (choices.length === 0) {
    closeMentions();
    return;
  }
  const keep = mentioning?.choices[mentioning.active];
  mentioning = { ...now, choices, active: Math.max(0, choices.indexOf(keep)) };
  renderMentions();
}

/** The room's members, fetched again once MEMBERS_TTL_MS old. */
function roomMembers(state) {
  if (state.members && Date.now() - state.members.at < MEMBERS_TTL_MS) {
    return Promise.resolve(state.members.list);
  }
  // Keystrokes while it loads share one request.
  state.loadingMembers ??= session
    .request('GET', `${path(state.room.name)}/members`)
    .then(({ members }) => {
      setMembers(state, members);
    })
    .catch(() => {
      // Offer what we had, if anything.
    })
    .then(() => {
      state.loadingMembers = null;
      return state.members?.list ?? [];
    });
  return state.loadingMembers;
}

function renderMentions() {
  const { choices, active } = mentioning;
  ui.mentionList.replaceChildren(
    ...choices.map((name, i) => {
      const option = document.createElement('li');
      option.id = `mention-option-${i}`;
      option.setAttribute('role', 'option');
      option.setAttribute('aria-selected', String(i === active));
      option.textContent = name;
      // pointerdown, not click: the composer keeps the focus.
      option.addEventListener('pointerdown', (event) => {
        event.preventDefault();
        pickMention(i);
      });
      return option;
    }),
  );
  ui.mentionList.hidden = false;
  ui.composerInput.setAttribute('aria-activedescendant', `mention-option-${active}`);
}

function closeMentions() {
  mentioning = null;
  ui.mentionList.hidden = true;
  ui.mentionList.replaceChildren();
  ui.composerInput.removeAttribute('aria-activedescendant');
}

/** Keys while suggestions are open; true if the key was theirs. */
function mentionKey(event) {
  if (!mentioning) return false;
  const n = mentioning.choices.length;
  switch (event.key) {
    case 'ArrowDown':
    case 'ArrowUp':
      mentioning.active = (mentioning.active + (event.key === 'ArrowDown' ? 1 : n - 1)) % n;
      renderMentions();
      break;
    case 'Enter':
    case 'Tab':
      if (event.shiftKey || event.isComposing) return false;
      pickMention(mentioning.active);
      break;
    case 'Escape':
      closeMentions();
      break;
    default:
      return false;
  }
  event.preventDefault();
  return true;
}

/** Replaces the `@word` being typed with `@name `. */
function pickMention(i) {
  if (!mentioning) return;
  const { start, end, choices } = mentioning;
  const input = ui.composerInput;
  const insert = `@${choices[i]} `;
  input.value = input.value.slice(0, start) + insert + input.value.slice(end);
  const caret = start + insert.length;
  input.setSelectionRange(caret, caret);
  closeMentions();
  input.focus();
  autoGrow();
}

// --------------------------------------------------------------- members --

const ROLE_RANK = { owner: 0, moderator: 1, member: 2 };

/** Takes in a members list: the cache for @-autocomplete, and my role.
 * `cache: false` for the list read when the room opens: the first @ typed
 * reads the list again, since people may have joined meanwhile. */
function setMembers(state, list, { cache = true } = {}) {
  // A server without roles marks only the owner, by the room's `owner`.
  const members = list.map((u) => ({
    ...u,
    role: u.role ?? (u.username === state.room.owner ? 'owner' : 'member'),
  }));
  state.members = { list: members, at: cache ? Date.now() : 0 };
  state.myRole = members.find((u) => sameName(u.username, me()))?.role ?? null;
  return members;
}

/** Whether I may remove or ban someone of role `role` (the server decides;
 * this only hides what it would refuse). */
function mayModerate(state, role) {
  if (isDirect(state.room) || role === 'owner') return false;
  return state.myRole === 'owner' || (state.myRole === 'moderator' && role === 'member');
}

const mayManage = (state) =>
  !isDirect(state.room) && (state.myRole === 'owner' || state.myRole === 'moderator');

ui.membersToggle.addEventListener('click', () => {
  if (ui.membersPanel.hidden) openMembers();
  else closeMembers();
});

ui.membersPanel.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && !event.defaultPrevented) {
    closeMembers();
    ui.membersToggle.focus();
  }
});

async function openMembers() {
  const state = openRooms.get(current);
  if (!state) return;
  ui.membersPanel.hidden = false;
  ui.membersToggle.setAttribute('aria-expanded', 'true');
  ui.membersError.textContent = '';
  ui.memberList.replaceChildren();
  ui.banList.replaceChildren();
  renderRoomActions(state);
  await refreshMembers(state);
}

function closeMembers() {
  closeMemberMenu();
  ui.membersPanel.hidden = true;
  ui.membersToggle.setAttribute('aria-expanded', 'false');
}

/** Whether the members panel shows `state`'s room. */
const panelShows = (state) => !ui.membersPanel.hidden && current === state.room.name;

/** Reads the members (and, for the owner and moderators, the bans) again. */
async function refreshMembers(state) {
  try {
    const [{ members }, presence] = await Promise.all([
      session.request('GET', `${path(state.room.name)}/members`),
      // Without it the panel shows no dots rather than failing.
      session.request('GET', `${path(state.room.name)}/presence`).catch(() => null),
    ]);
    if (Array.isArray(presence?.online)) state.online = new Set(presence.online);
    const list = setMembers(state, members);
    if (panelShows(state)) renderMembers(state, list);
    if (mayManage(state)) await refreshBans(state);
  } catch (err) {
    membershipError(state, err, {}, { reread: false });
  }
}

async function refreshBans(state) {
  const { bans } = await session.request('GET', `${path(state.room.name)}/bans`);
  if (panelShows(state)) renderBans(state, bans);
}

/** Leave, delete and add, as far as my role allows. */
function renderRoomActions(state) {
  const direct = isDirect(state.room);
  ui.addMemberForm.hidden = !mayManage(state);
  ui.leaveRoom.hidden = direct || state.myRole === 'owner' || state.myRole === null;
  ui.deleteRoom.hidden = direct || state.myRole !== 'owner';
  ui.bans.hidden = !mayManage(state);
  for (const button of [ui.leaveRoom, ui.deleteRoom]) {
    button.setAttribute('aria-describedby', 'chat-title');
  }
}

function renderMembers(state, members) {
  const focusedMenu = ui.memberList.contains(document.activeElement)
    ? document.activeElement.closest('li[data-username]')?.dataset.username
    : null;
  const sorted = [...members].sort(
    (a, b) => ROLE_RANK[a.role] - ROLE_RANK[b.role] || a.username.localeCompare(b.username),
  );
  closeMemberMenu(); // its items may no longer apply
  ui.memberList.replaceChildren(...sorted.map((u) => renderMember(state, u)));
  renderRoomActions(state);
  if (focusedMenu) {
    ui.memberList
      .querySelector(`li[data-username="${CSS.escape(focusedMenu)}"] .member-menu-button`)
      ?.focus();
  }
}

/** One member: name, role, and (for anyone but me) a menu of what I may do. */
function renderMember(state, user) {
  const item = document.createElement('li');
  item.className = 'member';
  item.dataset.username = user.username;
  item.dataset.role = user.role;
  const name = document.createElement('span');
  name.className = 'member-name';
  name.textContent = user.username;
  if (state.online) {
    const dot = document.createElement('span');
    dot.className = 'presence';
    dot.setAttribute('aria-hidden', 'true');
    const spoken = document.createElement('span');
    spoken.className = 'visually-hidden presence-text';
    item.append(dot, name, spoken);
    showPresence(item, state.online.has(user.username));
  } else {
    item.append(name);
  }
  if (user.role === 'owner' || user.role === 'moderator') {
    item.append(' ', badge(user.role, `role ${user.role}`));
  }
  if (blocks.has(user.username)) item.append(' ', badge('blocked', 'blocked-badge'));
  if (sameName(user.username, me())) {
    const you = document.createElement('span');
    you.className = 'hint';
    you.textContent = ' (you)';
    item.append(you);
    return item;
  }
  item.append(renderMemberMenu(state, user));
  return item;
}

/** The menu button and its menu (role="menu": arrow keys move, Escape closes). */
function renderMemberMenu(state, user) {
  const wrap = document.createElement('span');
  wrap.className = 'menu-wrap';
  const id = `member-menu-${user.id}`;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'quiet icon member-menu-button';
  button.textContent = '⋯';
  button.setAttribute('aria-label', `Actions for ${user.username}`);
  button.title = `Actions for ${user.username}`;
  button.setAttribute('aria-haspopup', 'menu');
  button.setAttribute('aria-expanded', 'false');
  button.setAttribute('aria-controls', id);

  const menu = document.createElement('ul');
  menu.className = 'menu';
  menu.id = id;
  menu.setAttribute('role', 'menu');
  menu.setAttribute('aria-label', `Actions for ${user.username}`);
  menu.hidden = true;
  const entry = (label, handle, kind = '') => {
    const li = document.createElement('li');
    li.setAttribute('role', 'none');
    const itemButton = document.createElement('button');
    itemButton.type = 'button';
    itemButton.className = `quiet menu-item ${kind}`;
    itemButton.setAttribute('role', 'menuitem');
    itemButton.tabIndex = -1;
    itemButton.textContent = label;
    itemButton.addEventListener('click', () => {
      closeMemberMenu();
      button.focus();
      handle();
    });
    li.append(itemButton);
    menu.append(li);
  };

  const name = user.username;
  if (!isDirect(state.room)) entry('Message', () => openConversation(name));
  if (!isDirect(state.room) && state.myRole === 'owner' && user.role !== 'owner') {
    if (user.role === 'moderator') entry('Make member', () => setRole(state, name, 'member'));
    else entry('Make moderator', () => setRole(state, name, 'moderator'));
  }
  if (mayModerate(state, user.role)) {
    entry('Remove from room', () => removeMember(state, name), 'danger-text');
    entry('Ban from room', () => banUser(state, name), 'danger-text');
  }
  if (blocks.has(name)) entry('Unblock', () => setBlocked(name, false));
  else entry('Block', () => setBlocked(name, true), 'danger-text');

  button.addEventListener('click', () => {
    if (menu.hidden) openMemberMenu(button, menu);
    else closeMemberMenu();
  });
  button.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      event.preventDefault();
      openMemberMenu(button, menu, event.key === 'ArrowUp' ? -1 : 0);
    }
  });
  menu.addEventListener('keydown', (event) => {
    const items = [...menu.querySelectorAll('[role="menuitem"]')];
    const at = items.indexOf(document.activeElement);
    const move = (to) => {
      event.preventDefault();
      items.at(to % items.length)?.focus();
    };
    switch (event.key) {
      case 'ArrowDown':
        move(at + 1);
        break;
      case 'ArrowUp':
        move(at - 1 + items.length);
        break;
      case 'Home':
        move(0);
        break;
      case 'End':
        move(items.length - 1);
        break;
      case 'Escape':
        event.preventDefault();
        closeMemberMenu();
        button.focus();
        break;
      case 'Tab':
        closeMemberMenu();
        break;
      default:
        break;
    }
  });
  wrap.append(button, menu);
  return wrap;
}

/** The open member menu: { button, menu } or null. */
let memberMenu = null;

function openMemberMenu(button, menu, focusIndex = 0) {
  closeMemberMenu();
  memberMenu = { button, menu };
  menu.hidden = false;
  button.setAttribute('aria-expanded', 'true');
  menu.querySelectorAll('[role="menuitem"]')[focusIndex === -1 ? menu.children.length - 1 : 0]?.focus();
}

function closeMemberMenu() {
  if (!memberMenu) return;
  memberMenu.menu.hidden = true;
  memberMenu.button.setAttribute('aria-expanded', 'false');
  memberMenu = null;
}

// A press outside the open menu closes it, as menus do.
document.addEventListener('pointerdown', (event) => {
  if (!memberMenu) return;
  const inside = event.target instanceof Node && memberMenu.button.parentElement.contains(event.target);
  if (!inside) closeMemberMenu();
});

function renderBans(state, bans) {
  ui.bans.hidden = false;
  ui.banList.replaceChildren(
    ...bans.map((u) => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = u.username;
      const unban = document.createElement('button');
      unban.type = 'button';
      unban.className = 'quiet';
      unban.textContent = 'Unban';
      unban.setAttribute('aria-label', `Unban ${u.username}`);
      unban.addEventListener('click', () => unbanUser(state, u.username));
      item.append(name, ' ', unban);
      return item;
    }),
  );
  ui.bansEmpty.hidden = bans.length > 0;
}

/**
 * A failed membership call, said in the panel. 404 room_not_found means the
 * room is gone for me (deleted, or I was banned or removed from a private
 * room): it closes. A 403 or a 404 user_not_found means the panel is out of
 * date (my role changed, the member left): the list is read again.
 */
function membershipError(state, err, overrides = {}, { reread = true } = {}) {
  if (err.code === 'room_not_found') {
    closeRoom(state.room.name, 'unavailable');
    return;
  }
  const text = describeError(err, overrides);
  if (state.room.name === current && !ui.membersPanel.hidden) ui.membersError.textContent = text;
  else if (state.room.name === current) ui.chatError.textContent = text;
  else ui.roomsError.textContent = text;
  const stale = err.code === 'forbidden' || err.code === 'user_not_found';
  if (reread && stale && panelShows(state)) refreshMembers(state);
}

/** Runs one membership call from the panel, then reads the list again. */
async function memberAction(state, call, { done, overrides } = {}) {
  ui.membersError.textContent = '';
  try {
    const answer = await call();
    if (done) announceText(done);
    if (openRooms.get(state.room.name) === state) await refreshMembers(state);
    return answer ?? true;
  } catch (err) {
    membershipError(state, err, overrides);
    return false;
  }
}

const memberPath = (state, name) => `${path(state.room.name)}/members/${encodeURIComponent(name)}`;
const notMember = (name) => ({ user_not_found: `${name} is not a member of this room any more.` });
const notAllowed = {
  forbidden:
    'You are not allowed to do that: moderators act on members only, and nobody on the owner.',
};

function setRole(state, name, role) {
  return memberAction(state, () => session.request('PUT', `${memberPath(state, name)}/role`, { role }), {
    done: `${name} is now a ${role} of #${state.room.name}.`,
    overrides: { ...notMember(name), forbidden: 'Only the owner can change roles.' },
  });
}

function removeMember(state, name) {
  return memberAction(state, () => session.request('DELETE', memberPath(state, name)), {
    done: `${name} was removed from #${state.room.name}.`,
    overrides: { ...notMember(name), ...notAllowed },
  });
}

function banUser(state, name) {
  return memberAction(
    state,
    () => session.request('POST', `${path(state.room.name)}/bans`, { username: name }),
    { done: `${name} is banned from #${state.room.name}.`, overrides: notAllowed },
  );
}

function unbanUser(state, name) {
  return memberAction(
    state,
    () => session.request('DELETE', `${path(state.room.name)}/bans/${encodeURIComponent(name)}`),
    {
      done: `${name} is no longer banned from #${state.room.name}.`,
      overrides: { user_not_found: `${name} is not banned.` },
    },
  );
}

ui.addMemberForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const state = openRooms.get(current);
  const username = ui.addMemberName.value.trim();
  if (!state || !username) return;
  setBusy(ui.addMemberForm, true);
  const added = await memberAction(
    state,
    () => session.request('POST', `${path(state.room.name)}/members`, { username }),
    {
      done: `${username} can now see #${state.room.name}.`,
      overrides: {
        user_banned: `${username} is banned from this room. Unban them first.`,
        forbidden: 'Only the owner and moderators can add people.',
      },
    },
  );
  setBusy(ui.addMemberForm, false);
  if (added) ui.addMemberName.value = '';
  ui.addMemberName.focus();
});

ui.leaveRoom.addEventListener('click', async () => {
  const state = openRooms.get(current);
  if (!state) return;
  ui.membersError.textContent = '';
  ui.leaveRoom.disabled = true;
  try {
    await session.request('POST', `${path(state.room.name)}/leave`);
    closeRoom(state.room.name, 'left');
  } catch (err) {
    membershipError(state, err);
  } finally {
    ui.leaveRoom.disabled = false;
  }
});

/** The room waiting for the delete confirmation, or null. */
let roomToDelete = null;
/** Rooms I am deleting (their closing notice says so). */
const deletingRooms = new Set();

ui.deleteRoom.addEventListener('click', () => {
  const state = openRooms.get(current);
  if (!state) return;
  roomToDelete = state;
  ui.roomDialogTitle.textContent = `Delete #${state.room.name}?`;
  ui.roomDialogText.textContent =
    'Its messages and members are removed for everyone, and everyone in it is sent out. ' +
    'This cannot be undone.';
  ui.roomDialog.showModal();
  ui.roomDialogCancel.focus();
});

ui.roomDialogCancel.addEventListener('click', () => ui.roomDialog.close());
ui.roomDialog.addEventListener('close', () => {
  const state = roomToDelete;
  roomToDelete = null;
  if (state && openRooms.get(state.room.name) === state) ui.deleteRoom.focus();
});
ui.roomDialogConfirm.addEventListener('click', async () => {
  const state = roomToDelete;
  roomToDelete = null;
  ui.roomDialog.close();
  if (!state) return;
  const name = state.room.name;
  // The server's access_revoked may come before its answer does.
  deletingRooms.add(name);
  try {
    await session.request('DELETE', path(name));
    closeRoom(name, 'room_deleted');
  } catch (err) {
    membershipError(state, err, { forbidden: 'Only the owner can delete the room.' });
  } finally {
    deletingRooms.delete(name);
  }
});

// ------------------------------------------------------ losing access --

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

/**
 * Access to room `name` is gone (`reason`: left, removed, banned,
 * room_deleted, or unavailable): nothing more is sent or received there,
 * the room closes with a notice saying why, and it leaves the room list,
 * except a public room one left or was removed from, which can be joined
 * again. Idempotent: my own leave is closed here and again by the server's
 * `access_revoked`.
 */
function closeRoom(name, reason) {
  const state = openRooms.get(name);
  const byMe = deletingRooms.has(name);
  live?.unfollow(name);
  if (!state) return;
  roomsVersion += 1;
  forgetRoomTimers(state);
  openRooms.delete(name);
  const room = state.room;
  const rejoinable = !room.private && !isDirect(room) && (reason === 'left' || reason === 'removed');
  if (!rejoinable) roomIndex.delete(name);
  state.list.remove(); // nothing of the room stays on the page
  if (roomToDelete === state) ui.roomDialog.close();
  if (deleting?.state === state) ui.deleteDialog.close();
  const text = closedText(room, name, reason, byMe);
  if (current === name) {
    closeMembers();
    showRoom(null);
    ui.chatError.textContent = '';
    if (phoneLayout.matches) ui.chatApp.dataset.view = 'rooms';
    // Focus was in the room that is gone; the notice is read out (role=alert).
    ui.roomsTitle.focus();
  } else {
    renderRoomList();
  }
  // In the chat pane when it is empty, else beside the room list.
  ui.roomNotice.textContent = current === null ? text : '';
  ui.roomsNotice.textContent = current === null ? '' : text;
}

// ---------------------------------------------------- direct messages --

/** Opens (or finds) the direct conversation with `username` and shows it. */
async function openConversation(username) {
  const state = openRooms.get(current);
  try {
    const room = await session.request('POST', '/dms', { username });
    roomIndex.set(room.name, room);
    renderRoomList();
    await openRoom(room.name);
  } catch (err) {
    const text = describeError(err, {
      blocked: `You cannot message ${username}: they have blocked you.`,
      user_not_found: `There is no user called ${username}.`,
    });
    if (state && panelShows(state)) ui.membersError.textContent = text;
    else ui.roomsError.textContent = text;
  }
}

// ------------------------------------------------------------ blocking --

async function loadBlocks() {
  try {
    const { blocks: list } = await session.request('GET', '/me/blocks');
    blocks = new Map(list.map((u) => [u.username, u]));
    renderBlocked();
  } catch (err) {
    ui.blockedError.textContent = describeError(err);
  }
}

function renderBlocked() {
  const list = [...blocks.values()].sort((a, b) => a.username.localeCompare(b.username));
  ui.blockedList.replaceChildren(
    ...list.map((u) => {
      const item = document.createElement('li');
      const name = document.createElement('span');
      name.textContent = u.username;
      const unblock = document.createElement('button');
      unblock.type = 'button';
      unblock.className = 'quiet';
      unblock.textContent = 'Unblock';
      unblock.setAttribute('aria-label', `Unblock ${u.username}`);
      unblock.addEventListener('click', () => setBlocked(u.username, false));
      item.append(name, ' ', unblock);
      return item;
    }),
  );
  ui.blockedEmpty.hidden = list.length > 0;
  ui.blockedCount.hidden = list.length === 0;
  ui.blockedCount.textContent = String(list.length);
}

/**
 * Blocks or unblocks `username`. The server then shows their events to me
 * as `hidden` placeholders (or again as they are): every open room is read
 * again from its latest page, so what is on screen follows at once.
 */
async function setBlocked(username, block) {
  ui.blockedError.textContent = '';
  try {
    await session.request(block ? 'PUT' : 'DELETE', `/me/blocks/${encodeURIComponent(username)}`);
    await loadBlocks();
    announceText(block ? `You block ${username}.` : `You no longer block ${username}.`);
    await Promise.all([...openRooms.values()].map((state) => reloadRoom(state)));
    const state = openRooms.get(current);
    if (state && panelShows(state)) renderMembers(state, state.members?.list ?? []);
  } catch (err) {
    const text = describeError(err, { user_not_found: `There is no user called ${username}.` });
    const state = openRooms.get(current);
    if (state && panelShows(state)) ui.membersError.textContent = text;
    else ui.blockedError.textContent = text;
  }
}

/** Replaces a room's timeline with its latest page, as if opened anew; the
 * live subscription goes on from there (its resume point is the timeline's). */
async function reloadRoom(state) {
  const name = state.room.name;
  let page;
  try {
    page = await session.request('GET', `${path(name)}/messages`);
  } catch (err) {
    if (err.code === 'room_not_found') closeRoom(name, 'unavailable');
    return;
  }
  if (openRooms.get(name) !== state) return;
  const before = state.timeline.newest;
  state.timeline = new Timeline();
  state.editing = null;
  state.pickerFor = null;
  state.replyTo = null;
  state.hiddenOriginals.clear();
  state.missingOriginals.clear();
  for (const item of state.list.querySelectorAll('li:not(.pending)')) item.remove();
  appendMessages(state, state.timeline.addLatest(page).filter(isShown));
  if (name === current) {
    renderHistoryHead(state);
    renderReplyBar(state);
    scrollToBottom();
  }
  // Events that came live while the page was read: fetched after it.
  if (state.timeline.newest < before) fillGap(state);
}

// ------------------------------------------------------------ read state --

/** A room's unread messages and mentions of me: counted from what is held
 * for an open room, else the room object's (GET /rooms). */
function unreadOf(name) {
  const state = openRooms.get(name);
  if (state) return countUnread(state);
  const membership = roomIndex.get(name)?.membership;
  return { unread: membership?.unread ?? 0, mentions: membership?.mentions ?? 0 };
}

/** As the server counts: messages after my marker, not deleted, not mine
 * (a blocked person's are placeholders, never held as messages). */
function countUnread(state) {
  if (state.lastRead === null) return { unread: 0, mentions: 0 };
  let unread = state.unreadBeyond;
  let mentions = state.mentionsBeyond;
  for (const [seq, m] of state.timeline.current) {
    if (seq <= state.lastRead || m.deleted || m.sender === me()) continue;
    unread += 1;
    if (mentionsMe(m)) mentions += 1;
  }
  return { unread, mentions };
}

/** Moves my marker here (never back); what is unread below the loaded
 * history is read once the marker passes the oldest message held. */
function moveMarker(state, seq) {
  if (state.lastRead === null || seq <= state.lastRead) return false;
  state.lastRead = seq;
  if (seq >= (state.timeline.oldest ?? 0)) {
    state.unreadBeyond = 0;
    state.mentionsBeyond = 0;
  }
  return true;
}

/** "New messages" above the first unread message of someone else. */
function placeDivider(state) {
  state.list.querySelector('li.new-divider')?.remove();
  if (state.lastRead === null) return;
  const first = [...state.list.querySelectorAll('li[data-seq]')].find((li) => {
    const seq = Number(li.dataset.seq);
    const m = state.timeline.message(seq);
    return seq > state.lastRead && m && !m.deleted && m.sender !== me();
  });
  if (!first) return;
  const divider = document.createElement('li');
  divider.className = 'new-divider';
  divider.setAttribute('role', 'separator');
  divider.setAttribute('aria-label', 'New messages');
  divider.textContent = 'New messages';
  state.list.insertBefore(divider, first);
}

/** The highest seq on screen in the room shown, or null when nobody can be
 * reading it (another tab, a window in the background, the room list on a phone). */
function newestOnScreen(state) {
  if (!isOnScreen(state.room.name) || document.visibilityState !== 'visible' || !document.hasFocus()) {
    return null;
  }
  const view = ui.scroller.getBoundingClientRect();
  if (view.height === 0) return null;
  const items = state.list.querySelectorAll('li[data-seq]');
  for (let i = items.length - 1; i >= 0; i--) {
    const box = items[i].getBoundingClientRect();
    if (box.top >= view.bottom - 1) continue; // below the view
    if (box.bottom <= view.top + 1) return null; // everything left is above it
    // The last message in view at the bottom: the edits and reactions after it are read too.
    return i === items.length - 1 && isNearBottom() ? state.timeline.newest : Number(items[i].dataset.seq);
  }
  return null;
}

/** Advances my marker to what is on screen; the PUT goes out at most every READ_EVERY_MS. */
function noteRead(state) {
  const seq = newestOnScreen(state);
  if (seq === null || !moveMarker(state, seq)) return;
  renderRoomList();
  state.readWanted = Math.max(state.readWanted, seq);
  state.readTimer ??= setTimeout(() => sendRead(state), READ_EVERY_MS);
}

async function sendRead(state) {
  state.readTimer = null;
  const seq = state.readWanted;
  try {
    const answer = await session.request('PUT', `${path(state.room.name)}/read`, { seq });
    if (openRooms.get(state.room.name) === state && moveMarker(state, answer.last_read_seq)) {
      renderRoomList();
    }
  } catch {
    // Not a member any more, or offline: the next move sends it again.
  }
}

/** Stops what a room's timers would still do (it closes, or I sign out). */
function forgetRoomTimers(state) {
  clearTimeout(state.readTimer);
  state.readTimer = null;
  for (const timer of state.typists.values()) clearTimeout(timer);
  state.typists.clear();
}

// --------------------------------------------------------------- activity --

/** A signal of an open room's activity destination. */
function onActivity(room, signal) {
  const state = openRooms.get(room);
  if (!state) return;
  switch (signal.type) {
    case 'typing':
      if (typeof signal.user === 'string' && !sameName(signal.user, me())) {
        addTypist(state, signal.user, signal.expires_in_ms);
      }
      break;
    case 'read':
      // My marker moved in another tab: the counts here follow.
      if (sameName(signal.user ?? '', me()) && moveMarker(state, Number(signal.last_read_seq))) {
        renderRoomList();
      }
      break;
    case 'presence': {
      if (!state.online || typeof signal.user !== 'string') break;
      if (signal.online) state.online.add(signal.user);
      else state.online.delete(signal.user);
      if (panelShows(state)) {
        const item = ui.memberList.querySelector(`li[data-username="${CSS.escape(signal.user)}"]`);
        if (item) showPresence(item, Boolean(signal.online));
      }
      break;
    }
    case 'member':
      // Someone joined, left, was removed or changed role: @-autocomplete
      // reads the list again. The panel is read again when it opens (and
      // after a refused action), as before.
      if (state.members) state.members.at = 0;
      break;
    default:
      break;
  }
}

/** The presence dot and its spoken text on a member's list item. */
function showPresence(item, online) {
  item.dataset.presence = online ? 'online' : 'offline';
  const dot = item.querySelector('.presence');
  if (dot) dot.title = online ? 'Online' : 'Offline';
  const spoken = item.querySelector('.presence-text');
  if (spoken) spoken.textContent = online ? ' (online)' : ' (offline)';
}

function addTypist(state, user, expiresInMs) {
  clearTimeout(state.typists.get(user));
  const ms = Number.isFinite(expiresInMs) && expiresInMs > 0 ? expiresInMs : TYPING_SHOWN_MS;
  state.typists.set(
    user,
    setTimeout(() => forgetTypist(state, user), ms),
  );
  if (state.room.name === current) renderTyping();
}

function forgetTypist(state, user) {
  if (!state.typists.has(user)) return;
  clearTimeout(state.typists.get(user));
  state.typists.delete(user);
  if (state.room.name === current) renderTyping();
}

/** "alice is typing…" under the composer of the room shown. */
function renderTyping() {
  const names = [...(openRooms.get(current)?.typists.keys() ?? [])].sort((a, b) => a.localeCompare(b));
  let text = '';
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = 'Several people are typing…';
  if (ui.typing.textContent !== text) ui.typing.textContent = text;
}

/** While composing, tells the room so, at most every TYPING_EVERY_MS. */
function sendTyping() {
  const state = openRooms.get(current);
  if (!state || !live || ui.composerInput.value.trim() === '') return;
  const now = Date.now();
  if (now < state.typingNextAt) return;
  if (live.typing(state.room.name)) {
    state.typingSentAt = now;
    state.typingNextAt = now + TYPING_EVERY_MS;
  }
}

// A tab coming to the front reads what is on its screen.
window.addEventListener('focus', () => {
  const state = openRooms.get(current);
  if (state) noteRead(state);
});
document.addEventListener('visibilitychange', () => {
  const state = openRooms.get(current);
  if (state) noteRead(state);
});

// ------------------------------------------------------ search, mentions --

/** The results shown: { kind: 'search' | 'mentions', q, items, before, hasMore } or null. */
let results = null;

ui.searchForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const q = ui.searchInput.value.trim();
  if ([...q].length < 2) {
    showResults({ kind: 'search', q });
    ui.resultsError.textContent = 'Search for at least 2 characters.';
    return;
  }
  showResults({ kind: 'search', q });
  loadResults();
});

ui.mentionsOpen.addEventListener('click', () => {
  showResults({ kind: 'mentions', q: '' });
  loadResults();
});

ui.resultsMore.addEventListener('click', () => loadResults());
ui.resultsClose.addEventListener('click', () => {
  const kind = results?.kind;
  closeResults();
  (kind === 'mentions' ? ui.mentionsOpen : ui.searchInput).focus();
});

function showResults({ kind, q }) {
  results = { kind, q, items: [], before: null, hasMore: false, loading: false, loaded: false };
  ui.results.hidden = false;
  ui.resultsError.textContent = '';
  ui.resultsTitle.textContent = kind === 'search' ? `Results for “${q}”` : 'Mentions of you';
  renderResults();
  ui.resultsTitle.focus();
}

function closeResults() {
  results = null;
  ui.results.hidden = true;
  ui.resultList.replaceChildren();
}

/**
 * Pages a search may read on its own before it asks: a page can come back
 * short, even empty, with more to read (README, "Search and mentions").
 */
const RESULTS_AUTO_PAGES = 3;

async function loadResults() {
  const r = results;
  if (!r || r.loading) return;
  r.loading = true;
  ui.results.setAttribute('aria-busy', 'true');
  ui.resultsError.textContent = '';
  try {
    for (let pages = 0; pages < RESULTS_AUTO_PAGES; pages += 1) {
      const before = r.before === null ? '' : `&before=${r.before}`;
      const route =
        r.kind === 'search'
          ? `/search?q=${encodeURIComponent(r.q)}&limit=${RESULTS_PAGE}${before}`
          : `/me/mentions?limit=${RESULTS_PAGE}${before}`;
      const page = await session.request('GET', route);
      if (results !== r) return;
      r.items.push(...page.results);
      r.loaded = true;
      const next = page.next_before ?? page.results.at(-1)?.id ?? null;
      r.hasMore = Boolean(page.has_more) && next !== null;
      if (next !== null) r.before = next;
      renderResults();
      if (!r.hasMore || page.results.length >= RESULTS_PAGE) break;
    }
  } catch (err) {
    if (results === r) ui.resultsError.textContent = describeError(err);
  } finally {
    r.loading = false;
    ui.results.removeAttribute('aria-busy');
  }
}

function renderResults() {
  const r = results;
  if (!r) return;
  const terms = r.kind === 'search' ? r.q.split(/\s+/).filter(Boolean) : [];
  ui.resultList.replaceChildren(...r.items.map((m) => renderResult(m, terms)));
  ui.resultsMore.hidden = !r.hasMore;
  ui.resultsMore.textContent = r.items.length > 0 ? 'More results' : 'Search older messages';
  // Said once the first page is in.
  ui.resultsEmpty.hidden = !r.loaded || r.items.length > 0;
  ui.resultsEmpty.textContent =
    r.kind === 'mentions'
      ? 'Nobody has mentioned you yet.'
      : r.hasMore
        ? 'No matches in the newest messages.'
        : 'No messages match.';
}

/** One result: where and who, and the text with the terms marked; a click jumps to it. */
function renderResult(m, terms) {
  const room = roomIndex.get(m.room) ?? openRooms.get(m.room)?.room;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'result';
  button.dataset.room = m.room;
  button.dataset.seq = String(m.seq);
  const where = document.createElement('span');
  where.className = 'result-meta';
  const at = new Date(m.created_at);
  where.textContent = `${room ? roomLabel(room, m.room) : `# ${m.room}`} · ${m.sender} · ${at.toLocaleString([], {
    dateStyle: 'short',
    timeStyle: 'short',
  })}`;
  const text = document.createElement('span');
  text.className = 'result-body';
  text.append(marked(firstLine(m.body ?? ''), terms));
  button.append(where, text);
  button.addEventListener('click', () => jumpToMessage(m.room, m.seq));
  const li = document.createElement('li');
  li.append(button);
  return li;
}

/** `text` as text nodes, each case-insensitive occurrence of a term in <mark>. */
function marked(text, terms) {
  const out = document.createDocumentFragment();
  if (terms.length === 0) {
    out.append(text);
    return out;
  }
  const pattern = new RegExp(terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'giu');
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match[0] === '') continue;
    out.append(text.slice(last, match.index));
    const mark = document.createElement('mark');
    mark.textContent = match[0];
    out.append(mark);
    last = match.index + match[0].length;
  }
  out.append(text.slice(last));
  return out;
}

/** Opens the room of a result and shows its message, paging back to it. */
async function jumpToMessage(name, seq) {
  if (!(await openRoom(name))) return;
  const state = openRooms.get(name);
  if (!state) return;
  await jumpTo(state, seq, {
    pageSize: GAP_PAGE,
    missing: 'That message is no longer in this room’s history.',
  });
}

// ------------------------------------------------------------- utilities --

/** Disables a form's buttons while its request runs (inputs keep focus). */
function setBusy(form, busy) {
  form.setAttribute('aria-busy', String(busy));
  for (const button of form.querySelectorAll('button')) button.disabled = busy;
}

let announceQueue = [];
let announceTimer = null;

/** Reads new messages out; a burst (e.g. after a reconnect) is summarised. */
function announce(messages) {
  if (messages.length === 0) return;
  announceQueue.push(...messages);
  announceTimer ??= setTimeout(() => {
    const batch = announceQueue;
    announceQueue = [];
    announceTimer = null;
    announceText(
      batch.length === 1
        ? `${batch[0].sender}${mentionsMe(batch[0]) ? ' mentioned you' : ''}: ${batch[0].body}`
        : `${batch.length} new messages in #${batch[0].room}.`,
    );
  }, 250);
}

function announceText(text) {
  ui.announcer.textContent = text;
}

// Hooks for the browser tests (and for trying reconnects by hand).
window.parley = {
  /** Closes the WebSocket as a network failure would. With `{hold: true}`
   * the client stays disconnected until `releaseConnection()`. */
  dropConnection: (options) => live?.dropConnection(options),
  releaseConnection: () => live?.releaseConnection(),
  get status() {
    return live?.status ?? 'offline';
  },
};

showAuth('');
