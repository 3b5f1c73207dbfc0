// The thread panel (README, "Threads"): beside the room on a wide screen, the
// whole screen with a back button on a phone. It renders a ThreadViewModel:
// the root, "N replies", the replies in order (each as in the room: sender,
// time, Markdown body, or "message deleted" / "blocked message"), Follow /
// Following, and a composer whose messages reply to the root. Replies that
// arrive while it is open are added at the bottom; while the panel is on
// screen, what it shows is read (the thread read marker).

import { ThreadViewModel } from '../domain/thread.js';
import { describeError } from '../api.js';
import { renderAvatar } from './avatar.js';
import { $, setBusy } from './dom.js';
import { renderBody } from './markdown.js';

/** How close to the bottom counts as "at the latest reply". */
const NEAR_BOTTOM_PX = 48;

export const repliesText = (n) => (n === 1 ? '1 reply' : `${n} replies`);

export class ThreadView {
  /** @param {object} shell  { me(), followed, chat } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      app: $('chat-app'),
      panel: $('thread-panel'),
      title: $('thread-title'),
      where: $('thread-where'),
      back: $('thread-back'),
      close: $('thread-close'),
      follow: $('thread-follow'),
      scroller: $('thread-scroller'),
      root: $('thread-root'),
      count: $('thread-count'),
      replies: $('thread-replies'),
      error: $('thread-error'),
      form: $('thread-composer'),
      input: $('thread-input'),
    };
    /** @type {ThreadViewModel | null} */
    this.vm = null;
    this.phone = matchMedia('(max-width: 720px)');
    const { ui } = this;
    ui.close.addEventListener('click', () => this.close({ refocus: true }));
    ui.back.addEventListener('click', () => this.close({ refocus: true }));
    ui.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && event.target !== ui.input) this.close({ refocus: true });
    });
    ui.follow.addEventListener('click', () => this.vm?.setFollowing(!this.vm.following));
    ui.scroller.addEventListener('scroll', () => this.#markSeen());
    ui.input.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.form.requestSubmit();
      }
    });
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#send();
    });
    document.addEventListener('visibilitychange', () => this.#markSeen());
    window.addEventListener('focus', () => this.#markSeen());
  }

  /** The room the panel shows a thread of, or null. */
  get room() {
    return this.vm?.room ?? null;
  }

  /** Opens the thread of `rootSeq` in the room `roomVm` (closing any other). */
  open(roomVm, rootSeq) {
    const { ui } = this;
    if (this.vm?.room === roomVm && this.vm.rootSeq === rootSeq) {
      ui.input.focus();
      return;
    }
    this.close();
    const vm = new ThreadViewModel(roomVm, rootSeq);
    this.vm = vm;
    vm.addEventListener('change', () => this.render());
    vm.addEventListener('error', (event) => {
      ui.error.textContent = event.detail.text;
    });
    vm.addEventListener('read', () => this.shell.followed.loadSoon());
    ui.error.textContent = '';
    ui.input.value = '';
    ui.panel.hidden = false;
    ui.app.toggleAttribute('data-thread', true);
    if (this.phone.matches) ui.app.dataset.view = 'thread';
    this.stickToBottom = true;
    this.render();
    vm.load();
    ui.input.focus();
  }

  /** Closes the panel; with `refocus`, focus goes back to the room. */
  close({ refocus = false } = {}) {
    const { ui } = this;
    const vm = this.vm;
    if (!vm) return;
    vm.dispose();
    this.vm = null;
    ui.panel.hidden = true;
    ui.app.removeAttribute('data-thread');
    if (ui.app.dataset.view === 'thread') ui.app.dataset.view = 'chat';
    ui.root.replaceChildren();
    ui.replies.replaceChildren();
    if (refocus) {
      const item = this.shell.chat.item(vm.room, vm.rootSeq);
      (item?.querySelector('.thread-link') ?? this.shell.composerInput())?.focus();
    }
  }

  render() {
    const { ui, vm } = this;
    if (!vm) return;
    const me = this.shell.me();
    ui.where.textContent = vm.room.direct ? `@${vm.room.room.peer}` : `# ${vm.room.name}`;
    const root = vm.root;
    ui.root.replaceChildren(...(root ? [renderItem(root, me)] : []));
    const replies = vm.list();
    const visible = replies.filter((r) => r.type !== 'hidden' && !r.deleted).length;
    ui.count.textContent = vm.loaded ? (visible === 0 ? 'No replies yet. Start the thread.' : repliesText(visible)) : 'Loading…';
    const atBottom = this.stickToBottom || this.#nearBottom();
    ui.replies.replaceChildren(...replies.map((m) => renderItem(m, me)));
    ui.follow.hidden = !vm.loaded || replies.length === 0;
    ui.follow.textContent = vm.following ? 'Following' : 'Follow';
    ui.follow.setAttribute('aria-pressed', String(vm.following));
    ui.follow.title = vm.following ? 'Stop following this thread' : 'Follow this thread: its replies count in Threads';
    if (atBottom) ui.scroller.scrollTop = ui.scroller.scrollHeight;
    this.stickToBottom = false;
    this.#markSeen();
  }

  #nearBottom() {
    const s = this.ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  /** While the panel is on screen (tab visible and focused) and its latest
   * reply is in view, the thread is read. */
  #markSeen() {
    if (!this.vm || this.ui.panel.hidden) return;
    if (document.visibilityState !== 'visible' || !document.hasFocus()) return;
    if (this.#nearBottom()) this.vm.seen();
  }

  async #send() {
    const { ui, vm } = this;
    const text = ui.input.value;
    if (!vm || text.trim() === '') return;
    ui.error.textContent = '';
    setBusy(ui.form, true);
    try {
      await vm.reply(text);
      ui.input.value = '';
      this.stickToBottom = true;
      this.render();
    } catch (err) {
      ui.error.textContent = describeError(err);
    } finally {
      setBusy(ui.form, false);
      ui.input.focus();
    }
  }
}

/** One message of the thread: avatar, sender and time, the body. */
function renderItem(m, me) {
  const item = document.createElement('li');
  item.className = 'message';
  item.dataset.seq = String(m.seq);
  if (m.type === 'hidden') {
    item.classList.add('hidden-event');
    const body = document.createElement('p');
    body.className = 'body tombstone';
    body.textContent = 'blocked message';
    item.append(body);
    return item;
  }
  if (m.sender === me) item.classList.add('own');
  const content = document.createElement('div');
  content.className = 'content';
  item.append(renderAvatar(m.sender), content);
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
  if (m.edited_at && !m.deleted) meta.append(' (edited)');
  content.append(meta);
  const body = document.createElement('div');
  body.className = m.deleted ? 'body tombstone' : 'body';
  if (m.deleted) body.textContent = 'message deleted';
  else body.append(renderBody(m.body, m.mentions ?? [], me));
  content.append(body);
  if (!m.deleted && m.reactions?.length > 0) {
    const r = document.createElement('p');
    r.className = 'thread-reactions hint';
    r.textContent = m.reactions.map((x) => `${x.key} ${x.users?.length ?? x.count}`).join('  ');
    content.append(r);
  }
  return item;
}
