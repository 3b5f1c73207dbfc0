// Parley's browser client: the screens and what the person does with them.
// REST and tokens are in api.js, the STOMP connection in live.js, each room's
// ordered, duplicate-free message bookkeeping in timeline.js.

import { Session, describeError } from './api.js';
import { Live, newClientId } from './live.js';
import { Timeline } from './timeline.js';

const MAX_BODY_BYTES = 4096;
const GAP_PAGE = 200;
/** Within this many pixels of the bottom, new messages keep the view pinned there. */
const STICKY_PX = 80;
/** Scrolling this close to the top loads older messages. */
const OLDER_PX = 60;

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
  roomsError: $('rooms-error'),
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
  membersToggle: $('members-toggle'),
  membersPanel: $('members-panel'),
  memberList: $('member-list'),
  addMemberForm: $('add-member-form'),
  addMemberName: $('add-member-name'),
  membersError: $('members-error'),
  scroller: $('message-scroller'),
  loadOlder: $('load-older'),
  historyStart: $('history-start'),
  chatError: $('chat-error'),
  composer: $('composer'),
  composerInput: $('composer-input'),
  announcer: $('announcer'),
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

  for (const el of [ui.roomsError, ui.chatError, ui.membersError]) el.textContent = '';

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
}

function stopChat() {
  // Not awaited: a dead connection must not hold up signing out.
  live?.stop();
  live = null;
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

async function loadRooms() {
  try {
    const { rooms } = await session.request('GET', '/rooms');
    roomIndex = new Map(rooms.map((r) => [r.name, r]));
    renderRoomList();
  } catch (err) {
    ui.roomsError.textContent = describeError(err);
  }
}

function renderRoomList() {
  const names = [...new Set([...roomIndex.keys(), ...openRooms.keys()])].sort();
  // Re-rendering must not take keyboard focus away from a room button.
  const focused = ui.roomList.contains(document.activeElement)
    ? document.activeElement.dataset.room
    : null;
  ui.roomList.replaceChildren(
    ...names.map((name) => {
      const room = roomIndex.get(name) ?? openRooms.get(name)?.room;
      const unread = openRooms.get(name)?.unread ?? 0;
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'room-button';
      button.dataset.room = name;
      if (name === current) button.setAttribute('aria-current', 'true');
      const label = document.createElement('span');
      label.className = 'room-name';
      label.textContent = `# ${name}`;
      button.append(label);
      if (room?.private) button.append(badge('private', 'private'));
      if (unread > 0) {
        button.append(badge(`${unread}`, 'unread', `${unread} unread`));
      }
      button.addEventListener('click', () => openRoom(name));
      const item = document.createElement('li');
      item.append(button);
      return item;
    }),
  );
  ui.roomsEmpty.hidden = names.length > 0;
  if (focused) ui.roomList.querySelector(`[data-room="${CSS.escape(focused)}"]`)?.focus();
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
  ui.chatError.textContent = '';
  let state = openRooms.get(name);
  if (!state) {
    if (opening.has(name)) return false;
    opening.add(name);
    if (form) setBusy(form, true);
    try {
      const room = await session.request('POST', `${path(name)}/join`);
      const page = await session.request('GET', `${path(name)}/messages`);
      state = newRoomState(room);
      openRooms.set(name, state);
      roomIndex.set(name, room);
      appendMessages(state, state.timeline.addLatest(page));
    } catch (err) {
      ui.roomsError.textContent = describeError(err);
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
    unread: 0,
    scrollTop: null,
    loadingOlder: false,
    fillingGap: false,
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
  state.unread = 0;
  renderRoomList();
  ui.chatTitle.textContent = `# ${name}`;
  ui.chatPrivate.hidden = !state.room.private;
  ui.composerInput.placeholder = `Message #${name}`;
  ui.composer.querySelector('label').textContent = `Message #${name}`;
  ui.scroller.querySelector('.message-list')?.remove();
  ui.scroller.append(state.list);
  renderHistoryHead(state);
  ui.chatApp.dataset.view = 'chat'; // first: a hidden pane cannot be scrolled
  ui.scroller.scrollTop = state.scrollTop ?? ui.scroller.scrollHeight;
  pinnedToBottom = state.scrollTop === null;
  ui.composerInput.focus();
}

ui.back.addEventListener('click', () => {
  ui.chatApp.dataset.view = 'rooms';
  ui.roomList.querySelector('[aria-current="true"]')?.focus();
});

// -------------------------------------------------------------- messages --

/** A message from the live connection (new, or replayed after a reconnect). */
function receive(room, message) {
  const state = openRooms.get(room);
  if (!state) return;
  const { fresh, gap } = state.timeline.add(message);
  appendMessages(state, fresh, { live: true });
  if (gap) fillGap(state);
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
      for (const m of page.messages) {
        appendMessages(state, state.timeline.add(m).fresh, { live: true });
      }
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
    state.list.insertBefore(renderMessage(m), state.list.querySelector('li.pending'));
  }
  if (isLive) {
    const others = messages.filter((m) => m.sender !== session.user?.username);
    if (onScreen) announce(others);
    else if (others.length > 0) {
      state.unread += others.length;
      renderRoomList();
    }
  }
  if (pinned) scrollToBottom();
}

function renderMessage(m) {
  const item = document.createElement('li');
  item.className = 'message';
  if (m.sender === session.user?.username) item.classList.add('own');
  item.dataset.seq = String(m.seq);
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
  const body = document.createElement('p');
  body.className = 'body';
  body.textContent = m.body;
  item.append(meta, body);
  return item;
}

// Older history: the button, or scrolling to the top.
ui.loadOlder.addEventListener('click', () => loadOlder(openRooms.get(current)));
ui.scroller.addEventListener('scroll', () => {
  pinnedToBottom = isNearBottom();
  if (ui.scroller.scrollTop < OLDER_PX) loadOlder(openRooms.get(current));
});
// Rotating a phone or opening its keyboard keeps the latest messages in view.
new ResizeObserver(() => {
  if (pinnedToBottom) scrollToBottom();
}).observe(ui.scroller);

async function loadOlder(state) {
  if (!state || state.loadingOlder || !state.timeline.hasOlder) return;
  state.loadingOlder = true;
  ui.loadOlder.disabled = true;
  ui.loadOlder.textContent = 'Loading older messages…';
  try {
    const before = state.timeline.oldest;
    const page = await session.request('GET', `${path(state.room.name)}/messages?before=${before}`);
    const older = state.timeline.addOlder(page);
    // Keep what the reader was looking at in place while prepending.
    const fromBottom = ui.scroller.scrollHeight - ui.scroller.scrollTop;
    state.list.prepend(...older.map(renderMessage));
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
  ui.historyStart.textContent = `This is the beginning of #${state.room.name}.`;
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

ui.composerInput.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    ui.composer.requestSubmit();
  }
});
ui.composerInput.addEventListener('input', autoGrow);

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  const state = openRooms.get(current);
  const text = ui.composerInput.value;
  if (!state || !live || text.trim() === '') return;
  ui.chatError.textContent = '';
  if (new TextEncoder().encode(text).length > MAX_BODY_BYTES) {
    ui.chatError.textContent = `That message is too long (at most ${MAX_BODY_BYTES} bytes).`;
    return;
  }
  if (text.includes('\u0000')) {
    ui.chatError.textContent = 'That message contains a character that cannot be sent.';
    return;
  }
  const clientId = newClientId();
  const placeholder = renderPending(text, clientId);
  state.list.append(placeholder);
  scrollToBottom();
  ui.composerInput.value = '';
  autoGrow();
  // Shown once the server stores it and its MESSAGE comes back; until then
  // it waits in live's outbox, across reconnects if need be.
  live.send(state.room.name, text, clientId).catch((err) => {
    placeholder.classList.add('failed');
    placeholder.querySelector('.sender').textContent = 'Not sent';
    if (state.room.name === current) ui.chatError.textContent = err.message;
  });
});

function renderPending(text, clientId) {
  const item = renderMessage({
    seq: 0,
    sender: 'Sending…',
    body: text,
    created_at: new Date().toISOString(),
  });
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

// --------------------------------------------------------------- members --

ui.membersToggle.addEventListener('click', () => {
  if (ui.membersPanel.hidden) openMembers();
  else closeMembers();
});

ui.membersPanel.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
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
  ui.addMemberForm.hidden = state.room.owner !== session.user?.username;
  ui.memberList.replaceChildren();
  try {
    const { members } = await session.request('GET', `${path(state.room.name)}/members`);
    renderMembers(members);
  } catch (err) {
    ui.membersError.textContent = describeError(err);
  }
}

function closeMembers() {
  ui.membersPanel.hidden = true;
  ui.membersToggle.setAttribute('aria-expanded', 'false');
}

function renderMembers(members) {
  const owner = openRooms.get(current)?.room.owner;
  ui.memberList.replaceChildren(
    ...members.map((u) => {
      const item = document.createElement('li');
      item.textContent = u.username;
      if (u.username === owner) item.append(' ', badge('owner', 'owner'));
      return item;
    }),
  );
}

ui.addMemberForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const state = openRooms.get(current);
  const username = ui.addMemberName.value.trim();
  if (!state || !username) return;
  ui.membersError.textContent = '';
  setBusy(ui.addMemberForm, true);
  try {
    const { members } = await session.request('POST', `${path(state.room.name)}/members`, {
      username,
    });
    renderMembers(members);
    ui.addMemberName.value = '';
    announceText(`${username} can now see #${state.room.name}.`);
  } catch (err) {
    ui.membersError.textContent = describeError(err);
  } finally {
    setBusy(ui.addMemberForm, false);
    ui.addMemberName.focus();
  }
});

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
        ? `${batch[0].sender}: ${batch[0].body}`
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
