// The sidebar's rooms: the room list and the direct conversations (each with
// its unread count and mention marker, the server's numbers), the "New room"
// and "Join a room" dialogs, and the notices beside the list. Room names are
// the server's to accept or refuse; its error is shown.

import { describeError } from '../api.js';
import { isDirect } from '../domain/room.js';
import { roomLabel } from '../domain/rooms.js';
import { $, badge, quietBadge, setBusy } from './dom.js';
import { personName } from './people-view.js';

export class RoomsView {
  /** @param {object} shell  { rooms (RoomsViewModel), openRoom(name, form) } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      title: $('rooms-title'),
      refresh: $('rooms-refresh'),
      list: $('room-list'),
      empty: $('rooms-empty'),
      notice: $('rooms-notice'),
      error: $('rooms-error'),
      dmList: $('dm-list'),
      dmsEmpty: $('dms-empty'),
      joinForm: $('join-form'),
      joinName: $('join-name'),
      createForm: $('create-form'),
      createName: $('create-name'),
      createPrivate: $('create-private'),
      createOpen: $('create-open'),
      createDialog: $('create-dialog'),
      createCancel: $('create-cancel'),
      createError: $('create-error'),
      joinOpen: $('join-open'),
      joinDialog: $('join-dialog'),
      joinCancel: $('join-cancel'),
      joinError: $('join-error'),
    };
    /** Ids of the room buttons' descriptions. */
    this.statusIds = 0;
    const { rooms } = shell;
    rooms.addEventListener('change', () => this.render());
    rooms.addEventListener('error', (event) => {
      this.ui.error.textContent = event.detail.text;
    });
    this.#listen();
  }

  #listen() {
    const { ui } = this;
    ui.refresh.addEventListener('click', () => {
      ui.error.textContent = '';
      this.shell.rooms.load();
    });
    // "New room" and "Join a room" are modal dialogs: focus stays in them,
    // Escape or Cancel closes them, and focus goes back to their button.
    const dialogs = [
      [ui.createOpen, ui.createDialog, ui.createCancel, ui.createName, ui.createError],
      [ui.joinOpen, ui.joinDialog, ui.joinCancel, ui.joinName, ui.joinError],
    ];
    for (const [open, dialog, cancel, input, error] of dialogs) {
      open.addEventListener('click', () => {
        error.textContent = '';
        dialog.showModal();
        input.focus();
      });
      cancel.addEventListener('click', () => dialog.close());
      dialog.addEventListener('close', () => {
        // Unless a room opened (the composer has focus then).
        if (dialog.contains(document.activeElement) || document.activeElement === document.body) open.focus();
      });
    }
    ui.joinForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      // Room names are lower case; "General" means #general.
      const name = ui.joinName.value.trim().toLowerCase();
      this.shell.search.close();
      ui.joinError.textContent = '';
      if (await this.shell.openRoom(name, ui.joinForm)) {
        ui.joinName.value = '';
        ui.joinDialog.close();
        this.shell.composer.focus();
      } else {
        // The shell says why beside the room list: here it is read in the dialog.
        ui.joinError.textContent = ui.error.textContent;
        ui.error.textContent = '';
        ui.joinName.focus();
      }
    });
    ui.createForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const name = ui.createName.value.trim().toLowerCase();
      this.shell.search.close();
      ui.createError.textContent = '';
      setBusy(ui.createForm, true);
      try {
        const room = await this.shell.rooms.create(name, ui.createPrivate.checked);
        ui.createName.value = '';
        ui.createPrivate.checked = false;
        ui.createDialog.close();
        await this.shell.openRoom(room.name);
      } catch (err) {
        ui.createError.textContent = describeError(err);
        ui.createName.focus();
      } finally {
        setBusy(ui.createForm, false);
      }
    });
  }

  clearNotices() {
    this.ui.error.textContent = '';
    this.ui.notice.textContent = '';
  }

  /** The rooms, and below them the direct conversations by their peer. */
  render() {
    const { ui } = this;
    const rooms = this.shell.rooms;
    const lists = rooms.lists();
    // Re-rendering must not take keyboard focus away from a room button.
    const active = document.activeElement;
    const focused = ui.list.contains(active) || ui.dmList.contains(active) ? active.dataset.room : null;
    const item = (name) => {
      const room = rooms.roomOf(name);
      const { unread, mentions } = rooms.countsOf(name);
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'room-button';
      b.dataset.room = name;
      if (name === rooms.current) b.setAttribute('aria-current', 'true');
      // A conversation by the other person's name (display name beside it).
      const label = isDirect(room) ? personName(this.shell.people, room.peer, 'room-name', { handle: true }) : document.createElement('span');
      label.classList.add('room-name');
      if (!isDirect(room)) label.textContent = roomLabel(room, name);
      b.append(label);
      if (room?.private && !isDirect(room)) b.append(badge('private', 'private'));
      // The counts are the button's description, not its name: "# general"
      // stays "# general" however much is unread.
      const status = [];
      if (mentions > 0) {
        b.append(quietBadge('@', 'mention-marker'));
        status.push(mentions === 1 ? '1 mention' : `${mentions} mentions`);
      }
      if (unread > 0) {
        b.append(quietBadge(`${unread}`, 'unread'));
        status.push(`${unread} unread`);
      }
      if (status.length > 0) {
        const spoken = document.createElement('span');
        spoken.className = 'visually-hidden';
        spoken.id = `room-status-${++this.statusIds}`;
        spoken.setAttribute('aria-hidden', 'true');
        spoken.textContent = status.join(', ');
        b.append(spoken);
        b.setAttribute('aria-describedby', spoken.id);
      }
      b.addEventListener('click', () => {
        // The room takes the main pane back from search results.
        this.shell.search.close();
        this.shell.openRoom(name);
      });
      const li = document.createElement('li');
      li.append(b);
      return li;
    };
    ui.list.replaceChildren(...lists.rooms.map(item));
    ui.dmList.replaceChildren(...lists.dms.map(item));
    ui.empty.hidden = lists.rooms.length > 0;
    ui.dmsEmpty.hidden = lists.dms.length > 0;
    if (focused) {
      const selector = `[data-room="${CSS.escape(focused)}"]`;
      (ui.list.querySelector(selector) ?? ui.dmList.querySelector(selector))?.focus();
    }
  }
}
