// "Threads" in the sidebar, with the number of replies I have not read in
// the threads I follow, and the list of those threads in the main pane (in
// place of the room shown, like search results): each says where, whose
// root, its first line, how many replies and how many are unread, and opens
// the thread in its room.

import { roomLabel } from '../domain/rooms.js';
import { $ } from './dom.js';
import { firstLine } from './message-view.js';
import { repliesText } from './thread-view.js';

export class ThreadsView {
  /** @param {object} shell  { followed, rooms, openThread(room, seq) } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      app: $('chat-app'),
      chat: $('chat'),
      open: $('threads-open'),
      badge: $('threads-badge'),
      panel: $('threads-view'),
      title: $('threads-title'),
      close: $('threads-close'),
      list: $('thread-list'),
      empty: $('threads-empty'),
      error: $('threads-error'),
    };
    const { ui } = this;
    const { followed } = shell;
    followed.addEventListener('change', () => this.render());
    followed.addEventListener('error', (event) => {
      ui.error.textContent = event.detail.text;
    });
    ui.open.addEventListener('click', () => {
      ui.error.textContent = '';
      this.paneBefore ??= ui.app.dataset.view;
      ui.app.dataset.view = 'chat';
      followed.show(true);
      ui.title.focus();
    });
    ui.close.addEventListener('click', () => {
      followed.show(false);
      ui.open.focus();
    });
    ui.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') ui.close.click();
    });
  }

  render() {
    const { ui } = this;
    const { followed } = this.shell;
    const unread = followed.totalUnread;
    ui.badge.hidden = unread === 0;
    ui.badge.textContent = String(unread);
    ui.open.setAttribute('aria-label', unread > 0 ? `Threads, ${unread} unread` : 'Threads');
    ui.panel.hidden = !followed.shown;
    ui.chat.toggleAttribute('data-threads', followed.shown);
    if (!followed.shown) {
      ui.list.replaceChildren();
      if (this.paneBefore !== undefined) ui.app.dataset.view = this.paneBefore;
      this.paneBefore = undefined;
      return;
    }
    ui.list.replaceChildren(...followed.items.map((t) => this.#renderThread(t)));
    ui.empty.hidden = !followed.loaded || followed.items.length > 0;
  }

  #renderThread(t) {
    const { root } = t;
    const room = this.shell.rooms.roomOf(t.room);
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'result followed-thread';
    b.dataset.room = t.room;
    b.dataset.seq = String(root.seq);
    const where = document.createElement('span');
    where.className = 'result-meta';
    where.textContent = `${room ? roomLabel(room, t.room) : `# ${t.room}`} · ${root.sender}`;
    const text = document.createElement('span');
    text.className = 'result-body';
    text.textContent = root.deleted ? 'message deleted' : firstLine(root.body ?? '');
    const counts = document.createElement('span');
    counts.className = 'thread-counts';
    counts.textContent = repliesText(root.thread_summary?.reply_count ?? 0);
    if (t.unread > 0) {
      const badge = document.createElement('span');
      badge.className = 'badge unread thread-unread';
      badge.textContent = `${t.unread} unread`;
      counts.append(' ', badge);
    }
    b.append(where, text, counts);
    b.addEventListener('click', () => {
      this.paneBefore = 'chat';
      this.shell.followed.show(false);
      this.shell.openThread(t.room, root.seq);
    });
    const li = document.createElement('li');
    li.append(b);
    return li;
  }
}
