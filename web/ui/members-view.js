// The members panel of the room shown: every member with their role and
// presence, a menu per member of what I may do (as the room's view model
// says, from the server's permission table and my role), the add form, the
// bans, leaving and deleting the room. Every action is the server's to
// decide; a refusal is said here and the list is read again.

import { confirmAction } from './confirm.js';
import { describeError } from '../api.js';
import { roomPath } from '../domain/room.js';
import { $, badge, button, nameList, setBusy } from './dom.js';
import { personName } from './people-view.js';

const ROLE_RANK = { owner: 0, moderator: 1, member: 2 };

export class MembersView {
  /** @param {object} shell  { rooms, blocks, me(), announcer, session, openConversation(name), setBlocked(name, block) } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      toggle: $('members-toggle'),
      panel: $('members-panel'),
      list: $('member-list'),
      addForm: $('add-member-form'),
      addName: $('add-member-name'),
      error: $('members-error'),
      bans: $('bans'),
      banList: $('ban-list'),
      bansEmpty: $('bans-empty'),
      leave: $('leave-room'),
      deleteRoom: $('delete-room'),
      dialog: $('room-dialog'),
      dialogTitle: $('room-dialog-title'),
      dialogText: $('room-dialog-text'),
      dialogConfirm: $('room-dialog-confirm'),
      dialogCancel: $('room-dialog-cancel'),
      chatError: $('chat-error'),
      roomsError: $('rooms-error'),
    };
    /** The open member menu: { button, menu } or null. */
    this.menu = null;
    /** The room waiting for the delete confirmation, or null. */
    this.toDelete = null;
    this.#listen();
  }

  get vm() {
    return this.shell.rooms.shown;
  }

  /** Whether the panel shows `vm`'s room. */
  shows(vm) {
    return !this.ui.panel.hidden && this.vm === vm;
  }

  #listen() {
    const { ui } = this;
    ui.toggle.addEventListener('click', () => (ui.panel.hidden ? this.open() : this.close()));
    ui.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && !event.defaultPrevented) {
        this.close();
        ui.toggle.focus();
      }
    });
    ui.addForm.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#add();
    });
    ui.leave.addEventListener('click', () => this.#leave());
    ui.deleteRoom.addEventListener('click', () => {
      const vm = this.vm;
      if (!vm) return;
      this.toDelete = vm;
      ui.dialogTitle.textContent = `Delete #${vm.name}?`;
      ui.dialogText.textContent =
        'Its messages and members are removed for everyone, and everyone in it is sent out. ' +
        'This cannot be undone.';
      ui.dialog.showModal();
      ui.dialogCancel.focus();
    });
    ui.dialogCancel.addEventListener('click', () => ui.dialog.close());
    ui.dialog.addEventListener('close', () => {
      const vm = this.toDelete;
      this.toDelete = null;
      if (vm && this.shell.rooms.open.get(vm.name) === vm) ui.deleteRoom.focus();
    });
    ui.dialogConfirm.addEventListener('click', async () => {
      const vm = this.toDelete;
      this.toDelete = null;
      ui.dialog.close();
      if (!vm) return;
      try {
        await this.shell.rooms.deleteRoom(vm);
      } catch (err) {
        this.error(vm, err, { forbidden: 'Only the owner can delete the room.' });
      }
    });
    // A press outside the open menu closes it, as menus do.
    document.addEventListener('pointerdown', (event) => {
      if (!this.menu) return;
      const inside = event.target instanceof Node && this.menu.button.parentElement.contains(event.target);
      if (!inside) this.closeMenu();
    });
  }

  /** A room closed: a dialog about it goes. */
  forget(vm) {
    if (this.toDelete === vm) this.ui.dialog.close();
  }

  async open() {
    const vm = this.vm;
    if (!vm) return;
    const { ui } = this;
    this.shell.integrations?.close();
    ui.panel.hidden = false;
    ui.toggle.setAttribute('aria-expanded', 'true');
    ui.error.textContent = '';
    ui.list.replaceChildren();
    ui.banList.replaceChildren();
    this.#renderRoomActions(vm);
    this.shell.roomModeration?.show(vm);
    await this.refresh(vm);
  }

  close() {
    this.closeMenu();
    this.shell.roomModeration?.hide();
    this.ui.panel.hidden = true;
    this.ui.toggle.setAttribute('aria-expanded', 'false');
  }

  /** Reads the members (and, for those who may see them, the bans) again. */
  async refresh(vm) {
    try {
      const list = await vm.refreshMembers();
      if (this.shows(vm)) this.render(vm, list);
      if (vm.permissions.unban) {
        const bans = await vm.bans();
        if (this.shows(vm)) this.#renderBans(vm, bans);
      }
    } catch (err) {
      this.error(vm, err, {}, { reread: false });
    }
  }

  /** Presence changed for `user` (a signal). */
  presence(vm, user, online) {
    if (!this.shows(vm)) return;
    const item = this.ui.list.querySelector(`li[data-username="${CSS.escape(user)}"]`);
    if (item) showPresence(item, online);
  }

  #renderRoomActions(vm) {
    const { ui } = this;
    const p = vm.permissions;
    ui.addForm.hidden = !p.add_members;
    ui.leave.hidden = vm.direct || vm.myRole === null || !p.leave;
    ui.deleteRoom.hidden = vm.direct || !p.delete_room;
    ui.bans.hidden = !p.unban;
    for (const b of [ui.leave, ui.deleteRoom]) b.setAttribute('aria-describedby', 'chat-title');
  }

  render(vm, members) {
    const { ui } = this;
    const focusedMenu = ui.list.contains(document.activeElement)
      ? document.activeElement.closest('li[data-username]')?.dataset.username
      : null;
    const sorted = [...members].sort(
      (a, b) => ROLE_RANK[a.role] - ROLE_RANK[b.role] || a.username.localeCompare(b.username),
    );
    this.closeMenu(); // its items may no longer apply
    ui.list.replaceChildren(...sorted.map((u) => this.#renderMember(vm, u)));
    this.#renderRoomActions(vm);
    if (focusedMenu) {
      ui.list.querySelector(`li[data-username="${CSS.escape(focusedMenu)}"] .member-menu-button`)?.focus();
    }
  }

  /** One member: name, role, and (for anyone but me) a menu of what I may do. */
  #renderMember(vm, user) {
    const item = document.createElement('li');
    item.className = 'member';
    item.dataset.username = user.username;
    item.dataset.role = user.role;
    this.shell.people.apply(user);
    const name = personName(this.shell.people, user.username, 'member-name');
    if (vm.online) {
      const dot = document.createElement('span');
      dot.className = 'presence';
      dot.setAttribute('aria-hidden', 'true');
      const spoken = document.createElement('span');
      spoken.className = 'visually-hidden presence-text';
      item.append(dot, name, spoken);
      showPresence(item, vm.online.has(user.username));
    } else {
      item.append(name);
    }
    if (user.role === 'owner' || user.role === 'moderator') item.append(' ', badge(user.role, `role ${user.role}`));
    if (this.shell.blocks.has(user.username)) item.append(' ', badge('blocked', 'blocked-badge'));
    if (user.username.toLowerCase() === this.shell.me().toLowerCase()) {
      const you = document.createElement('span');
      you.className = 'hint';
      you.textContent = ' (you)';
      item.append(you);
      return item;
    }
    item.append(this.#renderMenu(vm, user));
    return item;
  }

  /** The menu button and its menu (role="menu": arrow keys move, Escape closes). */
  #renderMenu(vm, user) {
    const wrap = document.createElement('span');
    wrap.className = 'menu-wrap';
    const id = `member-menu-${user.id}`;
    const opener = button('⋯', 'quiet icon member-menu-button');
    opener.setAttribute('aria-label', `Actions for ${user.username}`);
    opener.title = `Actions for ${user.username}`;
    opener.setAttribute('aria-haspopup', 'menu');
    opener.setAttribute('aria-expanded', 'false');
    opener.setAttribute('aria-controls', id);

    const menu = document.createElement('ul');
    menu.className = 'menu';
    menu.id = id;
    menu.setAttribute('role', 'menu');
    menu.setAttribute('aria-label', `Actions for ${user.username}`);
    menu.hidden = true;
    const entry = (label, handle, kind = '') => {
      const li = document.createElement('li');
      li.setAttribute('role', 'none');
      const b = button(label, `quiet menu-item ${kind}`);
      b.setAttribute('role', 'menuitem');
      b.tabIndex = -1;
      b.addEventListener('click', () => {
        this.closeMenu();
        opener.focus();
        handle();
      });
      li.append(b);
      menu.append(li);
    };

    const name = user.username;
    const may = vm.mayActOn(user.role);
    if (!vm.direct) entry('Message', () => this.shell.openConversation(name));
    if (may.setRole) {
      if (user.role === 'moderator') entry('Make member', () => this.#setRole(vm, name, 'member'));
      else entry('Make moderator', () => this.#setRole(vm, name, 'moderator'));
    }
    if (may.remove) entry('Remove from room', () => this.#remove(vm, name), 'danger-text');
    if (may.ban) entry('Ban from room', () => this.#ban(vm, name), 'danger-text');
    if (this.shell.blocks.has(name)) entry('Unblock', () => this.shell.setBlocked(name, false));
    else entry('Block', () => this.shell.setBlocked(name, true), 'danger-text');

    opener.addEventListener('click', () => (menu.hidden ? this.#openMenu(opener, menu) : this.closeMenu()));
    opener.addEventListener('keydown', (event) => {
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        this.#openMenu(opener, menu, event.key === 'ArrowUp' ? -1 : 0);
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
          this.closeMenu();
          opener.focus();
          break;
        case 'Tab':
          this.closeMenu();
          break;
        default:
          break;
      }
    });
    wrap.append(opener, menu);
    return wrap;
  }

  #openMenu(opener, menu, focusIndex = 0) {
    this.closeMenu();
    this.menu = { button: opener, menu };
    menu.hidden = false;
    opener.setAttribute('aria-expanded', 'true');
    menu.querySelectorAll('[role="menuitem"]')[focusIndex === -1 ? menu.children.length - 1 : 0]?.focus();
  }

  closeMenu() {
    if (!this.menu) return;
    this.menu.menu.hidden = true;
    this.menu.button.setAttribute('aria-expanded', 'false');
    this.menu = null;
  }

  #renderBans(vm, bans) {
    this.ui.bans.hidden = false;
    this.ui.banList.replaceChildren(...nameList(bans.map((u) => u.username), 'Unban', (name) => this.#unban(vm, name)));
    this.ui.bansEmpty.hidden = bans.length > 0;
  }

  /**
   * A failed membership call, said in the panel. 404 room_not_found means the
   * room is gone for me: it closes. A 403 or a 404 user_not_found means the
   * panel is out of date (my role changed, the member left): read it again.
   */
  error(vm, err, overrides = {}, { reread = true } = {}) {
    if (err.code === 'room_not_found') {
      this.shell.rooms.close(vm.name, 'unavailable');
      return;
    }
    const text = describeError(err, overrides);
    const shown = this.vm === vm;
    if (shown && !this.ui.panel.hidden) this.ui.error.textContent = text;
    else if (shown) this.ui.chatError.textContent = text;
    else this.ui.roomsError.textContent = text;
    const stale = err.code === 'forbidden' || err.code === 'user_not_found';
    if (reread && stale && this.shows(vm)) this.refresh(vm);
  }

  /** Runs one membership call from the panel, then reads the list again. */
  async #act(vm, method, route, body, { done, overrides } = {}) {
    this.ui.error.textContent = '';
    try {
      const answer = await this.shell.session.request(method, `${roomPath(vm.name)}${route}`, body);
      if (done) this.shell.announcer.say(done);
      if (this.shell.rooms.open.get(vm.name) === vm) await this.refresh(vm);
      return answer ?? true;
    } catch (err) {
      this.error(vm, err, overrides);
      return false;
    }
  }

  #setRole(vm, name, role) {
    return this.#act(vm, 'PUT', `/members/${encodeURIComponent(name)}/role`, { role }, {
      done: `${name} is now a ${role} of #${vm.name}.`,
      overrides: { ...notMember(name), forbidden: 'Only the owner can change roles.' },
    });
  }

  async #remove(vm, name) {
    const sure = await confirmAction({
      title: `Remove ${name} from #${vm.name}?`,
      text: vm.room?.private
        ? `${name} loses access to this private room until someone adds them again.`
        : `${name} stops receiving this room's messages. They can join it again.`,
      confirm: 'Remove',
    });
    if (!sure) return false;
    return this.#act(vm, 'DELETE', `/members/${encodeURIComponent(name)}`, undefined, {
      done: `${name} was removed from #${vm.name}.`,
      overrides: { ...notMember(name), ...NOT_ALLOWED },
    });
  }

  async #ban(vm, name) {
    const sure = await confirmAction({
      title: `Ban ${name} from #${vm.name}?`,
      text: `${name} is removed and cannot join or be added again until a moderator unbans them.`,
      confirm: 'Ban',
    });
    if (!sure) return false;
    return this.#act(vm, 'POST', '/bans', { username: name }, {
      done: `${name} is banned from #${vm.name}.`,
      overrides: NOT_ALLOWED,
    });
  }

  #unban(vm, name) {
    return this.#act(vm, 'DELETE', `/bans/${encodeURIComponent(name)}`, undefined, {
      done: `${name} is no longer banned from #${vm.name}.`,
      overrides: { user_not_found: `${name} is not banned.` },
    });
  }

  async #add() {
    const vm = this.vm;
    const { ui } = this;
    const username = ui.addName.value.trim();
    if (!vm || !username) return;
    setBusy(ui.addForm, true);
    const added = await this.#act(vm, 'POST', '/members', { username }, {
      done: `${username} can now see #${vm.name}.`,
      overrides: {
        user_banned: `${username} is banned from this room. Unban them first.`,
        forbidden: 'Only the owner and moderators can add people.',
      },
    });
    setBusy(ui.addForm, false);
    if (added) ui.addName.value = '';
    ui.addName.focus();
  }

  async #leave() {
    const vm = this.vm;
    if (!vm) return;
    this.ui.error.textContent = '';
    this.ui.leave.disabled = true;
    try {
      await this.shell.rooms.leave(vm);
    } catch (err) {
      this.error(vm, err);
    } finally {
      this.ui.leave.disabled = false;
    }
  }
}

const notMember = (name) => ({ user_not_found: `${name} is not a member of this room any more.` });
const NOT_ALLOWED = {
  forbidden: 'You are not allowed to do that: moderators act on members only, and nobody on the owner.',
};

/** The presence dot and its spoken text on a member's list item. */
function showPresence(item, online) {
  item.dataset.presence = online ? 'online' : 'offline';
  const dot = item.querySelector('.presence');
  if (dot) dot.title = online ? 'Online' : 'Offline';
  const spoken = item.querySelector('.presence-text');
  if (spoken) spoken.textContent = online ? ' (online)' : ' (offline)';
}
