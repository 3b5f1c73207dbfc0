// The administrators' page (a dialog over the chat, opened from the header):
// accounts with search, Deactivate, Reactivate and Delete (after a
// confirmation); every room's reports with
// Dismiss and Delete message; the audit log, newest first.

import { confirmAction } from './confirm.js';
import { $, button, setBusy } from './dom.js';
import { auditItems, reportItems } from './moderation-view.js';

export class AdminView {
  /** @param {object} shell  { accounts (AccountsViewModel), moderation (ModerationViewModel of `/admin`), me() } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      open: $('admin-open'),
      dialog: $('admin-dialog'),
      close: $('admin-close'),
      error: $('admin-error'),
      search: $('admin-search'),
      query: $('admin-query'),
      users: $('admin-user-list'),
      usersMore: $('admin-users-more'),
      reports: $('admin-report-list'),
      reportsEmpty: $('admin-reports-empty'),
      audit: $('admin-audit-list'),
      auditEmpty: $('admin-audit-empty'),
      auditMore: $('admin-audit-more'),
    };
    const { ui } = this;
    const { accounts, moderation } = shell;
    const showError = (event) => {
      ui.error.textContent = event.detail.text;
    };
    accounts.addEventListener('change', () => this.renderUsers());
    accounts.addEventListener('error', showError);
    moderation.addEventListener('change', () => this.renderModeration());
    moderation.addEventListener('error', showError);
    ui.open.addEventListener('click', () => this.open());
    ui.close.addEventListener('click', () => ui.dialog.close());
    ui.dialog.addEventListener('close', () => ui.open.focus());
    ui.search.addEventListener('submit', async (event) => {
      event.preventDefault();
      ui.error.textContent = '';
      setBusy(ui.search, true);
      await accounts.search(ui.query.value);
      setBusy(ui.search, false);
    });
    ui.usersMore.addEventListener('click', () => accounts.more());
    ui.auditMore.addEventListener('click', () => moderation.olderEntries());
  }

  /** Shown to administrators only (the server refuses everyone else anyway). */
  setAdmin(admin) {
    this.ui.open.hidden = !admin;
    if (!admin && this.ui.dialog.open) this.ui.dialog.close();
  }

  open() {
    const { ui } = this;
    ui.error.textContent = '';
    ui.dialog.showModal();
    ui.query.focus();
    this.shell.accounts.search('');
    this.shell.moderation.load();
  }

  renderUsers() {
    const { ui } = this;
    const { accounts } = this.shell;
    ui.users.replaceChildren(
      ...accounts.users.map((u) => {
        const item = document.createElement('li');
        item.dataset.user = u.username;
        const name = document.createElement('span');
        name.className = 'admin-user';
        name.textContent = u.username;
        const facts = document.createElement('span');
        facts.className = 'hint';
        const since = new Date(u.created_at).toLocaleDateString();
        facts.textContent = [u.admin ? 'administrator' : null, u.deactivated ? 'deactivated' : null, `since ${since}`]
          .filter(Boolean)
          .join(' · ');
        item.append(name, ' ', facts);
        if (u.username !== this.shell.me()) {
          const act = u.deactivated ? button('Reactivate', 'quiet') : button('Deactivate', 'danger');
          act.setAttribute('aria-label', `${u.deactivated ? 'Reactivate' : 'Deactivate'} ${u.username}`);
          act.addEventListener('click', async () => {
            act.disabled = true;
            ui.error.textContent = '';
            if (await accounts.setActive(u.username, u.deactivated)) this.shell.moderation.load();
            act.disabled = false;
          });
          const remove = button('Delete', 'danger');
          remove.setAttribute('aria-label', `Delete ${u.username}`);
          remove.addEventListener('click', async () => {
            const sure = await confirmAction({
              title: `Delete ${u.username}?`,
              text: `${u.username} is signed out everywhere, their messages are erased for everyone and they leave every room. Their name stays taken. This cannot be undone.`,
              confirm: 'Delete account',
            });
            if (!sure) return;
            remove.disabled = true;
            ui.error.textContent = '';
            if (await accounts.remove(u.username)) this.shell.moderation.load();
            else remove.disabled = false;
          });
          const actions = document.createElement('span');
          actions.className = 'admin-user-actions';
          actions.append(act, remove);
          item.append(' ', actions);
        }
        return item;
      }),
    );
    ui.usersMore.hidden = !accounts.hasMore;
  }

  renderModeration() {
    const { ui } = this;
    const { moderation } = this.shell;
    ui.reports.replaceChildren(
      ...reportItems(moderation.reports, {
        showRoom: true,
        resolve: (id, action) => moderation.resolve(id, action),
      }),
    );
    ui.reportsEmpty.hidden = moderation.reports.length > 0;
    ui.audit.replaceChildren(...auditItems(moderation.entries, { showRoom: true }));
    ui.auditEmpty.hidden = moderation.entries.length > 0;
    ui.auditMore.hidden = !moderation.moreEntries;
  }
}
