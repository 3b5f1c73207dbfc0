// The chat pane: the room shown (its title, its messages, older history,
// the "New messages" divider, jumping to a message), the delete dialog, and
// what is read on screen (which moves my read marker through the room's view
// model). The composer and the members panel are views of their own inside
// it. Each open room keeps its own message list (<ol>), swapped in when it
// is shown; this view keeps it in step with the room's view model events.

import { isMessage } from '../timeline.js';
import { isShown } from '../domain/room.js';
import { roomLabel } from '../domain/rooms.js';
import { $, button } from './dom.js';
import { regroup } from './grouping-view.js';
import { mentionsMe, renderEvent, renderMessage, summary } from './message-view.js';

/** Within this many pixels of the bottom, new messages keep the view pinned there. */
const STICKY_PX = 80;
/** Scrolling this close to the top loads older messages. */
const OLDER_PX = 60;
/** How long a message jumped to stays highlighted. */
const HIGHLIGHT_MS = 3_000;
/** Paging back to find a reply's original gives up after this many pages. */
const JUMP_PAGES = 40;

export class ChatView {
  /**
   * @param {object} shell  { rooms (RoomsViewModel), me(), announcer, composer, members }
   */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      app: $('chat-app'),
      empty: $('chat-empty'),
      room: $('chat-room'),
      back: $('back'),
      title: $('chat-title'),
      private: $('chat-private'),
      direct: $('chat-direct'),
      scroller: $('message-scroller'),
      loadOlder: $('load-older'),
      historyStart: $('history-start'),
      error: $('chat-error'),
      deleteDialog: $('delete-dialog'),
      deletePreview: $('delete-preview'),
      deleteConfirm: $('delete-confirm'),
      deleteCancel: $('delete-cancel'),
      roomList: $('room-list'),
    };
    /** Each open room's message list, its editor ({ seq, input }) and where
     * it was scrolled to when another room was shown (null: the bottom). */
    this.lists = new WeakMap();
    this.editors = new WeakMap();
    this.scrollTops = new WeakMap();
    /** Whether the reader is at the latest message (kept there as it grows). */
    this.pinned = true;
    /** The message waiting for the delete confirmation: { vm, seq } or null. */
    this.deleting = null;
    this.phone = matchMedia('(max-width: 720px)');
    /** What message views need from here. */
    this.ctx = {
      me: shell.me,
      people: shell.people,
      jumpTo: (vm, seq) => this.jumpTo(vm, seq),
      startReply: (vm, seq) => {
        vm.startReply(seq);
        shell.composer.focus();
      },
      togglePicker: (vm, seq) => {
        vm.togglePicker(seq);
        if (vm.pickerFor === seq) this.item(vm, seq)?.querySelector('.picker button')?.focus();
      },
      startEdit: (vm, seq) => this.startEdit(vm, seq),
      stopEdit: (vm, seq) => {
        vm.stopEdit(seq);
        this.focusIn(vm, seq, '[data-focus="action:edit"]');
      },
      saveEdit: (vm, seq) => this.saveEdit(vm, seq),
      confirmDelete: (vm, seq) => this.confirmDelete(vm, seq),
      report: (vm, m, back) => shell.report.open(vm, m, back),
      focusIn: (vm, seq, selector) => this.focusIn(vm, seq, selector),
      editInput: (vm, m) => this.editInput(vm, m),
      openMenu: (vm, seq) => this.openMenu(vm, seq),
      toggleMenu: (vm, seq) => (this.menuOf(vm, seq) ? this.closeMenu() : this.openMenu(vm, seq)),
      closeMenu: (vm, seq) => Boolean(this.menuOf(vm, seq)) && this.closeMenu(),
      openThread: (vm, seq) => shell.openThread(vm.name, seq),
      openImage: (vm, seq, file, opener) =>
        shell.viewer.open(file, opener, async () => (await vm.refreshFiles(seq))?.find((f) => f.id === file.id)),
    };
    /** "Jump to latest": shown while the reader is scrolled up, with how
     * many messages of others arrived since (`unseen`). */
    this.unseen = 0;
    this.jumpBar = button('', 'jump-latest');
    this.jumpBar.id = 'jump-latest';
    this.jumpBar.hidden = true;
    this.jumpBar.addEventListener('click', () => {
      this.scrollToBottom();
      this.pinned = true;
      this.renderJumpBar();
      this.ui.scroller.focus({ preventScroll: true });
    });
    this.ui.scroller.append(this.jumpBar);
    this.#listen();
  }

  #listen() {
    const { ui } = this;
    ui.back.addEventListener('click', () => {
      ui.app.dataset.view = 'rooms';
      ui.roomList.querySelector('[aria-current="true"]')?.focus();
    });
    ui.loadOlder.addEventListener('click', () => this.shown?.loadOlder());
    ui.scroller.addEventListener('scroll', () => {
      this.pinned = this.isNearBottom();
      if (this.pinned || this.jumpBar.hidden) this.renderJumpBar();
      const vm = this.shown;
      if (!vm) return;
      this.noteRead(vm);
      if (ui.scroller.scrollTop < OLDER_PX) vm.loadOlder();
    });
    // Rotating a phone or opening its keyboard keeps the latest messages in view.
    new ResizeObserver(() => {
      if (this.pinned) this.scrollToBottom();
    }).observe(ui.scroller);
    ui.deleteCancel.addEventListener('click', () => ui.deleteDialog.close());
    ui.deleteConfirm.addEventListener('click', async () => {
      const target = this.deleting;
      ui.deleteDialog.close();
      if (target) await target.vm.deleteMessage(target.seq);
    });
    ui.deleteDialog.addEventListener('close', () => {
      const target = this.deleting;
      this.deleting = null;
      // Back to the message (or, once it is deleted, the message itself).
      if (target) {
        const item = this.item(target.vm, target.seq);
        (item?.querySelector('[data-focus="action:delete"]') ?? item)?.focus({ preventScroll: true });
      }
    });
    // Pressing anywhere else closes an open reaction picker, as a menu would
    // (pointerdown: before a click's own handler redraws what it hit).
    document.addEventListener('pointerdown', (event) => {
      const vm = this.shown;
      if (!vm || vm.pickerFor === null) return;
      const item = this.item(vm, vm.pickerFor);
      const inside = event.target instanceof Element && item?.contains(event.target);
      if (!inside || !event.target.closest('.picker, .action-react')) vm.togglePicker(vm.pickerFor);
    });
    // The same for an open actions menu (a phone's).
    document.addEventListener('pointerdown', (event) => {
      const open = this.ui.scroller.querySelector('li.menu-open');
      if (open && !(event.target instanceof Element && open.querySelector('.toolbar')?.contains(event.target))) {
        this.closeMenu();
      }
    });
    // A tab coming to the front reads what is on its screen.
    const reread = () => {
      if (this.shown) this.noteRead(this.shown);
    };
    window.addEventListener('focus', reread);
    document.addEventListener('visibilitychange', reread);
  }

  get shown() {
    return this.shell.rooms.shown;
  }

  isShownRoom(vm) {
    return this.shown === vm;
  }

  /** A room just opened: its list, drawn from what it holds, kept in step. */
  attach(vm) {
    const list = document.createElement('ol');
    list.className = 'message-list';
    list.setAttribute('aria-label', `Messages in ${vm.direct ? `your conversation with ${vm.room.peer}` : `#${vm.name}`}`);
    this.lists.set(vm, list);
    list.append(...vm.timeline.messages().filter(isShown).map((e) => renderEvent(vm, e, this.ctx)));
    regroup(list);
    const on = (type, handle) => vm.addEventListener(type, (event) => handle(event.detail));
    on('events', ({ events, live }) => this.#append(vm, events.filter(isShown), live));
    on('older', ({ events }) => this.#prepend(vm, events));
    on('redraw', ({ seq }) => this.#redraw(vm, seq));
    on('reset', () => {
      for (const item of list.querySelectorAll('li:not(.pending)')) item.remove();
      this.#append(vm, vm.timeline.messages().filter(isShown), false);
      regroup(list);
      if (this.isShownRoom(vm)) {
        this.renderHead(vm);
        this.shell.composer.renderReplyBar(vm);
        this.scrollToBottom();
      }
    });
    on('head', () => {
      if (this.isShownRoom(vm)) this.renderHead(vm);
    });
    on('error', ({ text }) => {
      if (this.isShownRoom(vm)) this.ui.error.textContent = text;
    });
    on('reply', () => {
      if (this.isShownRoom(vm)) this.shell.composer.renderReplyBar(vm);
    });
  }

  /** The room is gone: nothing of it stays on the page. */
  detach(vm) {
    this.lists.get(vm)?.remove();
    if (this.deleting?.vm === vm) this.ui.deleteDialog.close();
  }

  listOf(vm) {
    return this.lists.get(vm);
  }

  item(vm, seq) {
    return this.lists.get(vm)?.querySelector(`li[data-seq="${seq}"]`) ?? null;
  }

  focusIn(vm, seq, selector) {
    this.item(vm, seq)?.querySelector(selector)?.focus();
  }

  /** Shows room `vm` (null: none). */
  show(vm, previous) {
    const { ui } = this;
    if (previous) this.scrollTops.set(previous, this.pinned ? null : ui.scroller.scrollTop);
    ui.empty.hidden = Boolean(vm);
    ui.room.hidden = !vm;
    if (!vm) return;
    const list = this.lists.get(vm);
    this.placeDivider(vm);
    const target = vm.direct ? `@${vm.room.peer}` : `#${vm.name}`;
    ui.title.textContent = roomLabel(vm.room);
    ui.private.hidden = !vm.room.private || vm.direct;
    ui.direct.hidden = !vm.direct;
    list.setAttribute('aria-label', `Messages in ${target}`);
    ui.scroller.querySelector('.message-list')?.remove();
    ui.scroller.insertBefore(list, this.jumpBar);
    regroup(list); // "Today" may have become "Yesterday"
    this.unseen = 0;
    this.renderHead(vm);
    ui.app.dataset.view = 'chat'; // first: a hidden pane cannot be scrolled
    const scrollTop = this.scrollTops.get(vm) ?? null;
    ui.scroller.scrollTop = scrollTop ?? ui.scroller.scrollHeight;
    this.pinned = scrollTop === null;
    const divider = list.querySelector('li.new-divider');
    if (divider && scrollTop === null) {
      // Back where reading stopped: the first unread message at the top.
      divider.scrollIntoView({ block: 'start', behavior: 'instant' });
      this.pinned = this.isNearBottom();
    }
    this.renderJumpBar();
    this.noteRead(vm);
  }

  /** New events (ascending, all newer than those shown) at the bottom. */
  #append(vm, events, live) {
    if (events.length === 0) return;
    const list = this.lists.get(vm);
    const pinned = this.isShownRoom(vm) && this.isNearBottom();
    for (const m of events) {
      if (m.client_id) {
        // Our own message came back: it replaces its "sending…" placeholder.
        list.querySelector(`li.pending[data-client-id="${CSS.escape(m.client_id)}"]`)?.remove();
      }
      // Stored messages go above the ones still sending (null: at the end).
      list.insertBefore(renderEvent(vm, m, this.ctx), list.querySelector('li.pending'));
    }
    if (live && this.isOnScreen(vm)) {
      const me = this.shell.me();
      const others = events.filter((m) => isMessage(m) && m.sender !== me);
      const place = vm.direct ? `your conversation with ${vm.room.peer}` : `#${vm.name}`;
      this.shell.announcer.messages(others, (m) => `${m.sender}${mentionsMe(m, me) ? ' mentioned you' : ''}: ${m.body.trim() ? m.body : summary(m)}`, place);
    }
    regroup(list);
    if (pinned) this.scrollToBottom();
    else if (live && this.isShownRoom(vm)) {
      // Scrolled up: the view stays where it is, the bar counts what came.
      const me = this.shell.me();
      this.unseen += events.filter((m) => isMessage(m) && m.sender !== me).length;
      this.renderJumpBar();
    }
    if (this.isShownRoom(vm)) this.noteRead(vm);
  }

  #prepend(vm, events) {
    const { scroller } = this.ui;
    // Keep what the reader was looking at in place while prepending.
    const fromBottom = scroller.scrollHeight - scroller.scrollTop;
    const list = this.lists.get(vm);
    list.prepend(...events.map((e) => renderEvent(vm, e, this.ctx)));
    regroup(list);
    if (this.isShownRoom(vm)) scroller.scrollTop = scroller.scrollHeight - fromBottom;
  }

  /** Draws message `seq` again; keyboard focus stays on the same control. */
  #redraw(vm, seq) {
    const old = this.item(vm, seq);
    const m = vm.timeline.message(seq);
    if (!old || !m) return;
    const pinned = this.isShownRoom(vm) && this.isNearBottom();
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    const focusKey = focused?.dataset.focus;
    const item = renderMessage(vm, m, this.ctx);
    for (const kept of ['highlight', 'continued', 'menu-open']) {
      if (old.classList.contains(kept)) item.classList.add(kept);
    }
    item.querySelector('[data-focus="more"]')?.setAttribute('aria-expanded', String(item.classList.contains('menu-open')));
    old.replaceWith(item);
    if (focused) {
      const again = focusKey ? item.querySelector(`[data-focus="${CSS.escape(focusKey)}"]`) : null;
      (again ?? item).focus({ preventScroll: true });
    }
    if (vm.replyTo === seq && this.isShownRoom(vm)) this.shell.composer.renderReplyBar(vm);
    if (m.deleted) this.shell.viewer.closeIfGone(item);
    if (pinned) this.scrollToBottom();
  }

  /** A message still being sent: shown as "Sending…" until it comes back. */
  addPending(vm, text, clientId, replyTo, attachments = []) {
    const item = renderMessage(
      vm,
      { seq: 0, sender: 'Sending…', body: text, reply_to: replyTo, attachments, created_at: new Date().toISOString() },
      this.ctx,
      { pending: true },
    );
    item.classList.add('own', 'pending');
    delete item.dataset.seq;
    item.dataset.clientId = clientId;
    this.lists.get(vm).append(item);
    this.scrollToBottom();
    this.pinned = true;
    this.renderJumpBar();
    return item;
  }

  // ----------------------------------------------------- actions menu --

  /** The message whose actions menu is open, if it is `seq` of `vm`. */
  menuOf(vm, seq) {
    const item = this.item(vm, seq);
    return item?.classList.contains('menu-open') ? item : null;
  }

  /** Opens message `seq`'s actions as a menu (a phone's ⋯ or long press). */
  openMenu(vm, seq) {
    this.closeMenu();
    const item = this.item(vm, seq);
    if (!item) return;
    item.classList.add('menu-open');
    item.querySelector('[data-focus="more"]')?.setAttribute('aria-expanded', 'true');
    item.querySelector('.actions button')?.focus({ preventScroll: true });
  }

  /** Closes the open actions menu; true when one was open. */
  closeMenu() {
    const open = this.ui.scroller.querySelector('li.menu-open');
    if (!open) return false;
    open.classList.remove('menu-open');
    open.querySelector('[data-focus="more"]')?.setAttribute('aria-expanded', 'false');
    return true;
  }

  // ---------------------------------------------------- jump to latest --

  renderJumpBar() {
    if (this.pinned) this.unseen = 0;
    const bar = this.jumpBar;
    bar.hidden = this.pinned;
    const n = this.unseen;
    bar.textContent = n === 0 ? 'Jump to latest ↓' : `${n} new ${n === 1 ? 'message' : 'messages'} · Jump to latest ↓`;
    bar.setAttribute('aria-label', n === 0 ? 'Jump to the latest message' : `${n} new, jump to the latest message`);
  }

  // ------------------------------------------------------------ editing --

  startEdit(vm, seq) {
    this.editors.delete(vm);
    if (!vm.startEdit(seq)) return;
    const input = this.editors.get(vm)?.input;
    input?.focus();
    input?.setSelectionRange(input.value.length, input.value.length);
  }

  /** The text area of the message being edited, kept across redraws. */
  editInput(vm, m) {
    const held = this.editors.get(vm);
    if (held?.seq === m.seq) return held.input;
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
        this.ctx.stopEdit(vm, m.seq);
      } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.saveEdit(vm, m.seq);
      }
    });
    this.editors.set(vm, { seq: m.seq, input });
    return input;
  }

  async saveEdit(vm, seq) {
    const input = this.editors.get(vm)?.input;
    if (!input) return;
    this.ui.error.textContent = '';
    input.setAttribute('aria-busy', 'true');
    const saved = await vm.saveEdit(seq, input.value);
    input.removeAttribute('aria-busy');
    if (saved) this.focusIn(vm, seq, '[data-focus="action:edit"]');
  }

  confirmDelete(vm, seq) {
    const m = vm.timeline.message(seq);
    if (!m || m.deleted) return;
    this.deleting = { vm, seq };
    this.ui.deletePreview.textContent = `${m.sender}: ${summary(m)}`;
    this.ui.deleteDialog.showModal();
    this.ui.deleteCancel.focus();
  }

  // ------------------------------------------------------------ history --

  renderHead(vm) {
    const { ui } = this;
    const hasOlder = vm.timeline.hasOlder;
    ui.loadOlder.hidden = !hasOlder;
    ui.historyStart.hidden = hasOlder;
    ui.loadOlder.disabled = Boolean(vm.loadingOlder);
    ui.loadOlder.textContent = vm.loadingOlder ? 'Loading older messages…' : 'Load older messages';
    // Pruned by the server's retention (README, "Retention"): not the beginning.
    ui.historyStart.textContent = vm.timeline.atHorizon
      ? 'Older messages are no longer available.'
      : vm.direct
        ? `This is the beginning of your conversation with ${vm.room.peer}.`
        : `This is the beginning of #${vm.name}.`;
  }

  /** Scrolls to message `seq` (paging back if need be) and highlights it. */
  async jumpTo(vm, seq, { pageSize, missing } = {}) {
    for (let page = 0; !this.item(vm, seq) && vm.timeline.hasOlder && page < JUMP_PAGES; page++) {
      await vm.loadOlder(pageSize);
    }
    const item = this.item(vm, seq);
    if (!item) {
      this.ui.error.textContent = missing ?? 'The original message is not in this room’s history any more.';
      return;
    }
    for (const other of this.lists.get(vm).querySelectorAll('li.highlight')) other.classList.remove('highlight');
    item.classList.add('highlight');
    item.scrollIntoView({ block: 'center', behavior: 'instant' });
    this.pinned = this.isNearBottom();
    item.focus({ preventScroll: true });
    setTimeout(() => this.item(vm, seq)?.classList.remove('highlight'), HIGHLIGHT_MS);
    this.noteRead(vm);
  }

  // ------------------------------------------------------- read on screen --

  /** "New messages" above the first unread message of someone else. */
  placeDivider(vm) {
    const list = this.lists.get(vm);
    list.querySelector('li.new-divider')?.remove();
    const lastRead = vm.unread.lastRead;
    if (lastRead === null) return;
    const me = this.shell.me();
    const first = [...list.querySelectorAll('li[data-seq]')].find((li) => {
      const seq = Number(li.dataset.seq);
      const m = vm.timeline.message(seq);
      return seq > lastRead && m && !m.deleted && m.sender !== me;
    });
    if (!first) return;
    const divider = document.createElement('li');
    divider.className = 'new-divider';
    const mark = document.createElement('span');
    mark.setAttribute('role', 'separator');
    mark.setAttribute('aria-label', 'New messages');
    mark.textContent = 'New messages';
    divider.append(mark);
    list.insertBefore(divider, first);
  }

  /** Whether the room's messages are in view (on a phone, not while the room list is shown). */
  isOnScreen(vm) {
    return this.isShownRoom(vm) && !(this.phone.matches && this.ui.app.dataset.view === 'rooms');
  }

  /** The highest seq on screen, or null when nobody can be reading it. */
  newestOnScreen(vm) {
    if (!this.isOnScreen(vm) || document.visibilityState !== 'visible' || !document.hasFocus()) return null;
    const view = this.ui.scroller.getBoundingClientRect();
    if (view.height === 0) return null;
    const items = this.lists.get(vm).querySelectorAll('li[data-seq]');
    for (let i = items.length - 1; i >= 0; i--) {
      const box = items[i].getBoundingClientRect();
      if (box.top >= view.bottom - 1) continue; // below the view
      if (box.bottom <= view.top + 1) return null; // everything left is above it
      // The last message in view at the bottom: the edits and reactions after it are read too.
      return i === items.length - 1 && this.isNearBottom() ? vm.timeline.newest : Number(items[i].dataset.seq);
    }
    return null;
  }

  noteRead(vm) {
    const seq = this.newestOnScreen(vm);
    if (seq !== null) vm.seen(seq);
  }

  isNearBottom() {
    const s = this.ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < STICKY_PX;
  }

  scrollToBottom() {
    this.ui.scroller.scrollTop = this.ui.scroller.scrollHeight;
  }
}
