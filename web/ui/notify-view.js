// Notifications in the page: the shown room's menu (level: every message,
// mentions, nothing; mute for 1 h, 8 h or until turned back on), saved as
// soon as it changes, and the sidebar's "Enable notifications" button,
// which subscribes this browser to Web Push. The settings are the server's
// (room objects' `membership.notifications`); this view only shows them.

import { describeError } from '../api.js';
import { isDirect } from '../domain/room.js';
import { mutedForever, settingOf } from '../domain/notifications.js';
import { $ } from './dom.js';

const PUSH_TEXT = {
  unsupported: 'This browser cannot show notifications.',
  denied: 'Notifications are blocked for this site in the browser’s settings.',
  off: '',
  on: 'Notifications are on in this browser.',
  working: 'Turning notifications on…',
};

const timeOf = (iso) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

export class NotifyView {
  /** @param {object} shell  { rooms, notifications, announcer } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      toggle: $('notify-toggle'),
      panel: $('notify-panel'),
      form: $('notify-form'),
      mute: $('notify-mute'),
      status: $('notify-status'),
      error: $('notify-error'),
      enable: $('push-enable'),
      pushStatus: $('push-status'),
    };
    this.#listen();
  }

  get room() {
    const vm = this.shell.rooms.shown;
    return vm ? this.shell.rooms.roomOf(vm.name) : null;
  }

  #listen() {
    const { ui } = this;
    ui.toggle.addEventListener('click', () => (ui.panel.hidden ? this.open() : this.close()));
    ui.panel.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') {
        this.close();
        ui.toggle.focus();
      }
    });
    ui.form.addEventListener('submit', (event) => event.preventDefault());
    ui.form.addEventListener('change', (event) => this.#save(event.target === ui.mute));
    // A change from elsewhere (another tab: `room_updated`) shows at once.
    this.shell.rooms.addEventListener('change', () => {
      if (!ui.panel.hidden) this.render();
    });
    const vm = this.shell.notifications;
    vm.addEventListener('push', ({ detail: { state } }) => this.#renderPush(state));
    ui.enable.addEventListener('click', async () => {
      try {
        await vm.enable();
        this.shell.announcer.say('Notifications are on.');
      } catch (err) {
        ui.pushStatus.textContent = `Notifications could not be turned on: ${describeError(err)}`;
      }
    });
  }

  /** Registers the service worker and shows whether this browser is subscribed. */
  async start() {
    try {
      await this.shell.notifications.start();
    } catch (err) {
      this.ui.pushStatus.textContent = `Notifications are unavailable: ${describeError(err)}`;
    }
  }

  #renderPush(state) {
    const { ui } = this;
    ui.enable.hidden = state !== 'off';
    ui.enable.disabled = state === 'working';
    ui.pushStatus.textContent = PUSH_TEXT[state] ?? '';
  }

  open() {
    const { ui } = this;
    ui.error.textContent = '';
    this.render();
    ui.panel.hidden = false;
    ui.toggle.setAttribute('aria-expanded', 'true');
    ui.form.querySelector('input:checked')?.focus();
  }

  close() {
    this.ui.panel.hidden = true;
    this.ui.toggle.setAttribute('aria-expanded', 'false');
  }

  /** The shown room's setting into the form. */
  render() {
    const { ui } = this;
    const room = this.room;
    if (!room) return;
    const { level, muted_until: mutedUntil } = settingOf(room);
    for (const input of ui.form.elements['notify-level']) input.checked = input.value === level;
    ui.form.querySelector('option[value="until"]')?.remove();
    if (mutedUntil === null) {
      ui.mute.value = '';
    } else if (mutedForever(mutedUntil)) {
      ui.mute.value = 'forever';
    } else {
      // A mute that runs out: shown as what it is, kept until changed.
      const until = new Option(`Until ${timeOf(mutedUntil)}`, 'until');
      ui.mute.add(until, 1);
      ui.mute.value = 'until';
    }
    const who = isDirect(room) ? `from ${room.peer}` : `in #${room.name}`;
    ui.status.textContent =
      mutedUntil !== null
        ? `Muted: no notifications ${who} ${mutedForever(mutedUntil) ? 'until you turn them back on' : `until ${timeOf(mutedUntil)}`}.`
        : level === 'none'
          ? `No notifications ${who}.`
          : '';
  }

  async #save(muteChanged) {
    const { ui } = this;
    const room = this.room;
    if (!room) return;
    const level = ui.form.elements['notify-level'].value;
    const current = settingOf(room);
    ui.error.textContent = '';
    try {
      const choice = ui.mute.value;
      const stored = muteChanged
        ? await this.shell.notifications.set(room.name, level, choice === 'until' ? '' : choice)
        : await this.shell.notifications.keep(room.name, level, current.muted_until);
      this.shell.rooms.apply({
        type: 'room_updated',
        room: { ...room, membership: { ...room.membership, notifications: stored } },
      });
      this.render();
    } catch (err) {
      ui.error.textContent = describeError(err);
      this.render();
    }
  }
}
