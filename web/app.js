// Parley's browser client: the shell. It signs in, reads the server's limits
// and rules (GET /config), starts the live connection, and routes between the
// views: the sign-in form, the sidebar (rooms, conversations, search,
// blocked people) and the chat pane of the room shown (messages, composer,
// members). State and logic live in view models (`domain/`: no DOM); views
// (`ui/`) render them and turn what people do into calls on them. REST and
// tokens are in api.js, the STOMP connection in live.js, each room's ordered,
// duplicate-free log in timeline.js. See web/README.md.
//
// Staying signed in: on load the page asks the server for a session from its
// refresh cookie (api.js `Session.restore`), then reopens the room this tab
// (or the last tab) showed, at the same place (restore.js). The room list is
// kept live by the user destination (live.js `update` events), read again
// only after a reconnect or when the tab comes back into view; the tab's
// title carries the number of unread messages.

import { Session, describeError, loadClientConfig } from './api.js';
import { Live } from './live.js';
import { ViewMemory } from './restore.js';
import { BlocksViewModel } from './domain/blocks.js';
import { NotificationsViewModel } from './domain/notifications.js';
import { PeopleViewModel } from './domain/people.js';
import { ProfileViewModel } from './domain/profile.js';
import { isDirect } from './domain/room.js';
import { RoomsViewModel } from './domain/rooms.js';
import { AccountsViewModel, ModerationViewModel } from './domain/moderation.js';
import { SearchViewModel } from './domain/search.js';
import { FollowedThreadsViewModel } from './domain/threads.js';
import { AdminView } from './ui/admin-view.js';
import { BlockedView } from './ui/blocked-view.js';
import { ChatView } from './ui/chat-view.js';
import { ImageViewer } from './ui/attachments-view.js';
import { ComposerView } from './ui/composer-view.js';
import { $, Announcer, setBusy } from './ui/dom.js';
import { IntegrationsView } from './ui/integrations-view.js';
import { MembersView } from './ui/members-view.js';
import { NotifyView } from './ui/notify-view.js';
import { ReportView } from './ui/report-view.js';
import { RoomModerationView } from './ui/room-moderation-view.js';
import { PeopleView, personName } from './ui/people-view.js';
import { RoomsView } from './ui/rooms-view.js';
import { SearchView } from './ui/search-view.js';
import { ResetView } from './ui/reset-view.js';
import { SettingsView } from './ui/settings-view.js';
import { SignInView } from './ui/signin-view.js';
import { ThreadView } from './ui/thread-view.js';
import { ThreadsView } from './ui/threads-view.js';
import { UploadView } from './ui/upload-view.js';

/** The page's own title; "(3) Parley" while 3 messages are unread. */
const TITLE = 'Parley';
/** The place in the shown room is written down at most this often while scrolling. */
const PLACE_SAVE_MS = 300;

const STATUS_TEXT = {
  connecting: 'Connecting…',
  online: 'Connected',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
};

const wsUrl = () => `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;

class App {
  constructor(config) {
    this.session = new Session();
    this.config = config;
    /** @type {Live | null} */
    this.connection = null;
    this.memory = new ViewMemory();
    this.placeTimer = null;
    this.ui = {
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
      roomNotice: $('room-notice'),
      roomsNotice: $('rooms-notice'),
      roomsError: $('rooms-error'),
      chatError: $('chat-error'),
      membersError: $('members-error'),
      blockedError: $('blocked-error'),
    };
    // What view models need: no DOM, only the session, the server's rules,
    // who I am and the live connection.
    const context = {
      session: this.session,
      config,
      me: () => this.me(),
      live: () => this.connection,
    };
    this.rooms = new RoomsViewModel(context);
    this.blocks = new BlocksViewModel(context);
    this.search = new SearchViewModel(context);
    this.notifications = new NotificationsViewModel(context);
    this.followed = new FollowedThreadsViewModel(context);
    // Names and faces (display names beside usernames), kept live by `user_updated`.
    this.people = new PeopleViewModel(context);
    this.peopleView = new PeopleView(this.people);
    this.profile = new ProfileViewModel(context);
    this.announcer = new Announcer($('announcer'));
    // What views need: the view models and the routes between views.
    const shell = {
      session: this.session,
      config,
      rooms: this.rooms,
      blocks: this.blocks,
      search: this.search,
      notifications: this.notifications,
      followed: this.followed,
      people: this.people,
      announcer: this.announcer,
      me: () => this.me(),
      live: () => this.connection,
      openRoom: (name, form) => this.openRoom(name, form),
      openConversation: (name) => this.openConversation(name),
      setBlocked: (name, block) => this.setBlocked(name, block),
      jumpToMessage: (room, seq) => this.jumpToMessage(room, seq),
      showSettings: (open, section) => this.showSettings(open, section),
      profile: this.profile,
      signedOut: (text) => this.#signedOut(text),
      openThread: (room, seq) => this.openThread(room, seq),
      composerInput: () => $('composer-input'),
    };
    shell.viewer = this.viewer = new ImageViewer();
    this.roomsView = new RoomsView(shell);
    shell.report = new ReportView(shell);
    shell.roomModeration = new RoomModerationView(shell);
    this.adminView = new AdminView({
      accounts: new AccountsViewModel(context),
      moderation: new ModerationViewModel(context, '/admin'),
      me: () => this.me(),
    });
    shell.composer = this.composer = new ComposerView(shell);
    shell.members = this.members = new MembersView(shell);
    shell.integrations = this.integrations = new IntegrationsView(shell);
    shell.chat = this.chat = new ChatView(shell);
    this.uploadView = new UploadView(shell);
    this.searchView = new SearchView(shell);
    this.blockedView = new BlockedView(shell);
    this.settings = new SettingsView(shell);
    this.notifyView = new NotifyView(shell);
    this.threadView = new ThreadView(shell);
    this.threadsView = new ThreadsView(shell);
    this.signIn = new SignInView();
    this.profile.addEventListener('change', ({ detail: { user } }) => this.people.apply(user));
    this.resetView = new ResetView(config, () => this.showAuth(''));
    this.signIn.onMode = (mode) => this.resetView.setMode(mode);
    this.rooms.addEventListener('closed', (event) => this.#closed(event.detail));
    this.rooms.addEventListener('change', () => this.#showUnreadInTitle());
    this.rooms.addEventListener('added', ({ detail: { room } }) => {
      // Said once, politely: the list shows it too.
      if (isDirect(room)) this.announcer.say(`${room.peer} opened a conversation with you.`);
      else this.announcer.say(`You were added to #${room.name}.`);
    });
    this.#listen();
  }

  me() {
    return this.session.user?.username ?? '';
  }

  #listen() {
    const { ui } = this;
    ui.authForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      // Log in or create an account, as the visible mode says (null: it only switched).
      const action = this.signIn.action(event);
      if (!action) return;
      ui.authError.textContent = '';
      setBusy(ui.authForm, true);
      try {
        await this.session[action](ui.authUsername.value.trim(), ui.authPassword.value, this.signIn.totp);
        ui.authPassword.value = '';
        this.signIn.askForCode(false);
        this.startChat();
      } catch (err) {
        ui.authError.textContent = describeError(err, this.signIn.overrides(action));
        if (err.code === 'totp_required') {
          this.signIn.askForCode(true); // the password stays: the code completes it
        } else if (this.signIn.totp) {
          this.signIn.askForCode(true);
        } else {
          ui.authPassword.select();
          ui.authPassword.focus();
        }
      } finally {
        setBusy(ui.authForm, false);
      }
    });
    ui.logout.addEventListener('click', async () => {
      this.memory.forget(this.me());
      this.stopChat();
      await this.session.logout();
      this.showAuth('');
    });
    // Where the shown room was scrolled to, for a reload.
    this.chat.ui.scroller.addEventListener('scroll', () => {
      this.placeTimer ??= setTimeout(() => {
        this.placeTimer = null;
        this.#rememberPlace();
      }, PLACE_SAVE_MS);
    });
    window.addEventListener('pagehide', () => this.#rememberPlace());
    // A notification clicked while this tab is open (sw.js).
    navigator.serviceWorker?.addEventListener('message', ({ data }) => {
      if (data?.type === 'open-room' && this.session.signedIn && data.room) {
        this.jumpToMessage(String(data.room), Number(data.seq));
      }
    });
    // Counts of rooms not open here were the server's when last read: a tab
    // coming back into view reads them again (no polling while it is not).
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible' && this.connection?.status === 'online') {
        this.rooms.load();
        this.followed.load();
      }
    });
    this.session.addEventListener('ended', (event) => {
      this.stopChat();
      this.showAuth(event.detail);
    });
  }

  /** My account is gone (deleted here): back to the sign-in page, saying so. */
  async #signedOut(text) {
    this.memory.forget(this.me());
    this.stopChat();
    await this.session.logout();
    this.showAuth(text);
  }

  showAuth(message) {
    const { ui } = this;
    this.settings.close();
    ui.chatApp.hidden = true;
    ui.account.hidden = true;
    ui.status.hidden = true;
    ui.authView.hidden = false;
    ui.authError.textContent = message;
    ui.authUsername.focus();
  }

  /**
   * Signs in from the refresh cookie if this browser has a live one (a
   * reload, a second tab) and reopens the room that was shown; else shows
   * the sign-in form.
   */
  async restore() {
    // Opened from a mailed reset link: the new-password form, signed in or not.
    if (this.resetView.openFromLink()) return;
    if (!(await this.session.restore())) {
      this.showAuth('');
      return;
    }
    const kept = this.memory.recall(this.me()); // before startChat shows no room
    this.startChat();
    // Opened from a notification (sw.js): that room, at that message.
    const asked = new URLSearchParams(location.search);
    if (asked.has('room')) {
      history.replaceState(null, '', '/');
      await this.jumpToMessage(asked.get('room'), Number(asked.get('seq')));
      return;
    }
    if (!kept) return;
    if (!(await this.openRoom(kept.room))) {
      this.memory.remember(this.me(), null);
      return;
    }
    const vm = this.rooms.shown;
    if (vm && vm.name === kept.room) this.#restorePlace(vm, kept.place);
  }

  /** The anchor of the shown room's scroll position (see restore.js). */
  #placeOf(vm) {
    const { scroller } = this.chat.ui;
    if (this.chat.pinned) return 'bottom';
    const top = scroller.getBoundingClientRect().top;
    for (const item of this.chat.listOf(vm)?.querySelectorAll('li[data-seq]') ?? []) {
      const box = item.getBoundingClientRect();
      if (box.bottom > top) return { seq: Number(item.dataset.seq), offset: Math.round(box.top - top) };
    }
    return null;
  }

  #restorePlace(vm, place) {
    const { scroller } = this.chat.ui;
    if (place === 'bottom') {
      this.chat.scrollToBottom();
      this.chat.pinned = true;
      return;
    }
    if (!place || !Number.isFinite(place.seq)) return;
    const item = this.chat.item(vm, place.seq);
    if (!item) return; // older than the page loaded: the view stays where it opened
    const top = scroller.getBoundingClientRect().top;
    scroller.scrollTop += item.getBoundingClientRect().top - top - place.offset;
  }

  #rememberPlace() {
    if (!this.session.signedIn) return;
    const vm = this.rooms.shown;
    this.memory.remember(this.me(), vm?.name ?? null, vm ? this.#placeOf(vm) : null);
  }

  #showUnreadInTitle() {
    const unread = this.session.signedIn ? this.rooms.totalUnread() : 0;
    document.title = unread > 0 ? `(${unread}) ${TITLE}` : TITLE;
  }

  startChat() {
    const { ui } = this;
    ui.authView.hidden = true;
    this.people.apply(this.session.user);
    ui.accountName.replaceChildren(personName(this.people, this.me()));
    ui.account.hidden = false;
    this.adminView.setAdmin(this.session.user?.admin === true);
    ui.chatApp.hidden = false;
    ui.chatApp.dataset.view = 'rooms';
    this.showRoom(null);
    for (const el of [ui.roomsError, ui.roomsNotice, ui.roomNotice, ui.chatError, ui.membersError]) {
      el.textContent = '';
    }

    const connection = new Live(this.session, wsUrl());
    // Events of a connection being stopped (after logout) are ignored.
    const on = (type, handle) =>
      connection.addEventListener(type, (event) => {
        if (this.connection === connection) handle(event.detail);
      });
    let problem = null; // { el, text } of the last connection problem shown
    on('status', (status) => {
      this.showStatus(status);
      // Once connected, a connection problem shown earlier is over.
      if (status === 'online' && problem && problem.el.textContent === problem.text) problem.el.textContent = '';
    });
    on('message', ({ room, message }) => {
      this.rooms.open.get(room)?.receive(message);
      this.followed.received(message);
    });
    on('activity', ({ room, signal }) => this.rooms.open.get(room)?.activity(signal));
    on('revoked', ({ room, reason }) => this.rooms.close(room, reason));
    on('update', (update) => {
      if (update.type !== 'user_updated') return this.rooms.apply(update);
      // Someone I share a room with (or I, in another tab) changed their profile.
      this.session.updateUser(update.user);
      this.people.apply(update.user);
    });
    // The user destination keeps nothing: what it said while we were away is read.
    on('connected', ({ again }) => {
      if (again) {
        this.rooms.load();
        this.followed.load();
      }
    });
    on('problem', ({ kind, text }) => {
      const el = this.rooms.current ? ui.chatError : ui.roomsError;
      el.textContent = text;
      if (kind === 'connection') problem = { el, text };
    });
    this.connection = connection;
    this.showStatus(connection.status);
    connection.start();

    ui.roomsTitle.focus();
    this.rooms.load();
    this.blocks.load();
    this.notifyView.start();
    this.followed.load();
  }

  stopChat() {
    this.adminView.setAdmin(false);
    // Not awaited: a dead connection must not hold up signing out.
    this.connection?.stop();
    this.connection = null;
    clearTimeout(this.placeTimer);
    this.placeTimer = null;
    this.blocks.clear();
    this.people.clear();
    this.search.close();
    this.threadView.close();
    this.followed.clear();
    this.viewer.close();
    for (const vm of this.rooms.open.values()) this.chat.detach(vm);
    this.rooms.clear();
    document.title = TITLE;
  }

  /**
   * Settings in place of the chat (at `section` if given: e.g. `profile`), or
   * the chat back (focus on the room list).
   */
  showSettings(open, section = undefined) {
    if (open && section && this.settings.shown) return this.settings.show(section);
    if (open === this.settings.shown) return;
    this.ui.chatApp.hidden = open;
    if (open) {
      this.settings.open();
      if (section) this.settings.show(section);
    } else {
      this.settings.close();
      this.ui.roomsTitle.focus();
    }
  }

  showStatus(status) {
    const { ui } = this;
    ui.status.hidden = false;
    ui.status.dataset.state = status;
    ui.status.textContent = STATUS_TEXT[status] ?? status;
  }

  /**
   * Joins (idempotent), loads the latest page, follows the room live and
   * shows it. Returns false, with the error shown, when that fails.
   */
  async openRoom(name, form = null) {
    this.roomsView.clearNotices();
    this.ui.chatError.textContent = '';
    const isNew = !this.rooms.open.has(name);
    if (isNew && this.rooms.opening.has(name)) return false;
    if (form) setBusy(form, true);
    let vm;
    try {
      vm = await this.rooms.openRoom(name);
    } catch (err) {
      this.ui.roomsError.textContent = describeError(err);
      if (form) form.querySelector('input')?.focus();
      return false;
    } finally {
      if (form) setBusy(form, false);
    }
    if (!vm) return false;
    if (isNew) this.#attach(vm);
    this.showRoom(name);
    return true;
  }

  /** A room just opened: the views follow its view model. */
  #attach(vm) {
    this.chat.attach(vm);
    vm.addEventListener('typing', () => {
      if (this.rooms.shown === vm) this.composer.renderTyping(vm);
    });
    vm.addEventListener('presence', (event) => this.members.presence(vm, event.detail.user, event.detail.online));
  }

  showRoom(name) {
    const previous = this.rooms.shown;
    this.rooms.current = name;
    const vm = this.rooms.shown;
    this.members.close();
    this.notifyView.close();
    // The thread panel belongs to the room it was opened in.
    if (this.threadView.room && this.threadView.room !== vm) this.threadView.close();
    this.integrations.show(vm);
    this.roomsView.render();
    this.chat.show(vm, previous);
    this.uploadView.show(vm);
    if (this.session.signedIn) this.memory.remember(this.me(), vm?.name ?? null, vm ? this.#placeOf(vm) : null);
    if (!vm) return;
    this.composer.show(vm);
    this.composer.focus();
  }

  /** An open room closed (access lost): say why, where the person looks. */
  #closed({ name, vm, text }) {
    const { ui } = this;
    if (this.threadView.room === vm) this.threadView.close();
    this.chat.detach(vm);
    this.members.forget(vm);
    if (this.rooms.current === name) {
      this.members.close();
      this.showRoom(null);
      ui.chatError.textContent = '';
      if (this.chat.phone.matches) ui.chatApp.dataset.view = 'rooms';
      // Focus was in the room that is gone; the notice is read out (role=alert).
      ui.roomsTitle.focus();
    }
    // In the chat pane when it is empty, else beside the room list.
    ui.roomNotice.textContent = this.rooms.current === null ? text : '';
    ui.roomsNotice.textContent = this.rooms.current === null ? '' : text;
  }

  /** Opens (or finds) the direct conversation with `username` and shows it. */
  async openConversation(username) {
    const vm = this.rooms.shown;
    try {
      const room = await this.rooms.conversation(username);
      await this.openRoom(room.name);
    } catch (err) {
      const text = describeError(err, {
        blocked: `You cannot message ${username}: they have blocked you.`,
        user_not_found: `There is no user called ${username}.`,
      });
      if (vm && this.members.shows(vm)) this.ui.membersError.textContent = text;
      else this.ui.roomsError.textContent = text;
    }
  }

  /**
   * Blocks or unblocks `username`. The server then shows their events to me
   * as `hidden` placeholders (or again as they are): every open room is read
   * again from its latest page, so what is on screen follows at once.
   */
  async setBlocked(username, block) {
    this.ui.blockedError.textContent = '';
    try {
      await this.blocks.set(username, block);
      this.announcer.say(block ? `You block ${username}.` : `You no longer block ${username}.`);
      await Promise.all([...this.rooms.open.values()].map((vm) => vm.reload()));
      const vm = this.rooms.shown;
      if (vm && this.members.shows(vm)) this.members.render(vm, vm.members?.list ?? []);
    } catch (err) {
      const text = describeError(err, { user_not_found: `There is no user called ${username}.` });
      const vm = this.rooms.shown;
      if (vm && this.members.shows(vm)) this.ui.membersError.textContent = text;
      else this.ui.blockedError.textContent = text;
    }
  }

  /** Shows the room `name` with the thread of `seq` open beside it. */
  async openThread(name, seq) {
    if (this.rooms.shown?.name !== name && !(await this.openRoom(name))) return;
    const vm = this.rooms.open.get(name);
    if (vm) this.threadView.open(vm, seq);
  }

  /** Opens the room of a search result and shows its message, paging back to it. */
  async jumpToMessage(name, seq) {
    if (!(await this.openRoom(name))) return;
    const vm = this.rooms.open.get(name);
    if (!vm) return;
    await this.chat.jumpTo(vm, seq, {
      pageSize: this.config.max_history_limit,
      missing: 'That message is no longer in this room’s history.',
    });
  }
}

/** Starts the page once the server's limits and rules are read. */
async function boot() {
  let config;
  try {
    config = await loadClientConfig();
  } catch (err) {
    $('auth-error').textContent = `${describeError(err)} Reload the page to try again.`;
    return;
  }
  const app = new App(config);
  // Hooks for the browser tests (and for trying reconnects by hand).
  window.parley = {
    /** Closes the WebSocket as a network failure would. With `{hold: true}`
     * the client stays disconnected until `releaseConnection()`. */
    dropConnection: (options) => app.connection?.dropConnection(options),
    releaseConnection: () => app.connection?.releaseConnection(),
    get status() {
      return app.connection?.status ?? 'offline';
    },
  };
  await app.restore();
}

boot();
