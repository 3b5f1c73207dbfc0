// The Integrations panel of the room shown (README, "Bots and webhooks"), for
// its owner and moderators: add an incoming webhook and copy its URL (shown
// once), an outgoing webhook with its URL and events (its signing secret
// shown once) and its recent deliveries, a slash command; delete any. The
// server decides who may: a refusal is said here in its words.

import { describeError } from '../api.js';
import { roomPath } from '../domain/room.js';
import { $, button, setBusy } from './dom.js';

export class IntegrationsView {
  /** @param {object} shell  { rooms, session, members } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      toggle: $('integrations-toggle'),
      panel: $('integrations-panel'),
      list: $('webhook-list'),
      empty: $('webhooks-empty'),
      error: $('integrations-error'),
      shown: $('integration-secret'),
      shownText: $('integration-secret-text'),
      shownValue: $('integration-secret-value'),
      copy: $('integration-secret-copy'),
      incoming: $('incoming-form'),
      incomingName: $('incoming-name'),
      outgoing: $('outgoing-form'),
      outgoingUrl: $('outgoing-url'),
      command: $('command-form'),
      commandName: $('command-name'),
      commandUrl: $('command-url'),
    };
    this.#listen();
  }

  get vm() {
    return this.shell.rooms.shown;
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
    ui.copy.addEventListener('click', async () => {
      try {
        await navigator.clipboard.writeText(ui.shownValue.value);
        ui.copy.textContent = 'Copied';
      } catch {
        ui.shownValue.select();
      }
    });
    ui.incoming.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#create(ui.incoming, { kind: 'incoming', name: ui.incomingName.value.trim() },
        'Post JSON {"text": "…"} to this URL to write in the room. It is shown only now:');
    });
    ui.outgoing.addEventListener('submit', (event) => {
      event.preventDefault();
      const events = [...ui.outgoing.querySelectorAll('input[name="event"]:checked')].map((c) => c.value);
      this.#create(ui.outgoing, { kind: 'outgoing', url: ui.outgoingUrl.value.trim(), events },
        'The signing secret of this webhook (Standard Webhooks). It is shown only now:');
    });
    ui.command.addEventListener('submit', (event) => {
      event.preventDefault();
      const command = ui.commandName.value.trim().replace(/^\//, '');
      this.#create(ui.command, { kind: 'command', command, url: ui.commandUrl.value.trim() },
        `The signing secret of /${command}. It is shown only now:`);
    });
  }

  async open() {
    const vm = this.vm;
    if (!vm) return;
    this.shell.members?.close();
    const { ui } = this;
    ui.panel.hidden = false;
    ui.toggle.setAttribute('aria-expanded', 'true');
    ui.shown.hidden = true;
    ui.error.textContent = '';
    await this.refresh();
  }

  close() {
    this.ui.panel.hidden = true;
    this.ui.toggle.setAttribute('aria-expanded', 'false');
  }

  /** The room shown changed: the toggle is there for rooms, not conversations. */
  show(vm) {
    this.close();
    // Only those who may manage them see the button (GET /config's
    // permissions); the routes check again.
    this.ui.toggle.hidden = !vm || vm.direct || !vm.permissions.manage_integrations;
  }

  #path(rest = '') {
    return `${roomPath(this.vm.name)}/webhooks${rest}`;
  }

  async refresh() {
    const { ui } = this;
    try {
      const { webhooks } = await this.shell.session.request('GET', this.#path());
      ui.list.replaceChildren(...webhooks.map((w) => this.#item(w)));
      ui.empty.hidden = webhooks.length > 0;
    } catch (err) {
      ui.list.replaceChildren();
      ui.empty.hidden = true;
      ui.error.textContent = describeError(err, {
        forbidden: 'Only the owner and moderators of this room manage its integrations.',
      });
    }
  }

  #item(hook) {
    const item = document.createElement('li');
    item.className = 'webhook';
    const title = document.createElement('span');
    const what = {
      incoming: `Incoming webhook “${hook.name}”`,
      outgoing: `Outgoing webhook to ${hook.url} (${(hook.events ?? []).join(', ')})`,
      command: `Slash command /${hook.command} → ${hook.url}`,
    }[hook.kind];
    title.textContent = what;
    const remove = button('Delete', 'quiet');
    remove.setAttribute('aria-label', `Delete ${what}`);
    remove.addEventListener('click', () => this.#delete(hook));
    item.append(title, ' ', remove);
    if (hook.kind === 'outgoing') {
      const log = document.createElement('ul');
      log.className = 'deliveries plain-list';
      log.setAttribute('aria-label', `Recent deliveries of webhook ${hook.id}`);
      const more = button('Recent deliveries', 'quiet');
      more.setAttribute('aria-expanded', 'false');
      more.addEventListener('click', () => this.#deliveries(hook, log, more));
      item.append(' ', more, log);
    }
    return item;
  }

  async #deliveries(hook, log, toggle) {
    try {
      const { deliveries } = await this.shell.session.request('GET', this.#path(`/${hook.id}/deliveries`));
      toggle.setAttribute('aria-expanded', 'true');
      if (deliveries.length === 0) {
        const none = document.createElement('li');
        none.textContent = 'Nothing sent yet.';
        log.replaceChildren(none);
        return;
      }
      log.replaceChildren(...deliveries.slice(0, 20).map((d) => {
        const li = document.createElement('li');
        const when = new Date(d.at).toLocaleTimeString();
        li.textContent = `#${d.seq} ${d.status}${d.code ? ` (${d.code})` : ''} at ${when}`;
        li.className = d.status;
        return li;
      }));
    } catch (err) {
      this.ui.error.textContent = describeError(err);
    }
  }

  async #create(form, body, explanation) {
    const { ui } = this;
    ui.error.textContent = '';
    setBusy(form, true);
    try {
      const made = await this.shell.session.request('POST', this.#path(), body);
      form.reset();
      ui.shownText.textContent = explanation;
      ui.shownValue.value = made.url ?? made.secret;
      ui.copy.textContent = 'Copy';
      ui.shown.hidden = false;
      ui.shownValue.focus();
      ui.shownValue.select();
      await this.refresh();
    } catch (err) {
      ui.error.textContent = describeError(err, {
        forbidden: 'Only the owner and moderators of this room manage its integrations.',
      });
    } finally {
      setBusy(form, false);
    }
  }

  async #delete(hook) {
    try {
      await this.shell.session.request('DELETE', this.#path(`/${hook.id}`));
      this.ui.shown.hidden = true;
      await this.refresh();
    } catch (err) {
      this.ui.error.textContent = describeError(err);
    }
  }
}
