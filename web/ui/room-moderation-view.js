// The members panel's "Moderation" part, for the room's owner and
// moderators: the room's reports (Dismiss, Delete message) and its audit log.

import { ModerationViewModel } from '../domain/moderation.js';
import { roomPath } from '../domain/room.js';
import { $ } from './dom.js';
import { auditItems, reportItems } from './moderation-view.js';

export class RoomModerationView {
  /** @param {object} shell  { session, config, me(), announcer } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      section: $('moderation'),
      reports: $('room-report-list'),
      reportsEmpty: $('room-reports-empty'),
      audit: $('room-audit-list'),
      auditEmpty: $('room-audit-empty'),
      auditMore: $('room-audit-more'),
      error: $('moderation-error'),
    };
    /** The model of the room shown, or null. */
    this.model = null;
    this.ui.auditMore.addEventListener('click', () => this.model?.olderEntries());
  }

  /** Shows `vm`'s reports and audit log if I moderate it; hides them else. */
  show(vm) {
    const moderates = !vm.direct && Boolean(vm.permissions.delete_any_message);
    this.ui.section.hidden = !moderates;
    this.model = null;
    if (!moderates) return;
    const model = new ModerationViewModel({ session: this.shell.session }, roomPath(vm.name));
    model.addEventListener('change', () => this.#render(model));
    model.addEventListener('error', (event) => {
      if (this.model === model) this.ui.error.textContent = event.detail.text;
    });
    this.model = model;
    this.ui.error.textContent = '';
    model.load();
  }

  hide() {
    this.ui.section.hidden = true;
    this.model = null;
  }

  #render(model) {
    if (this.model !== model) return;
    const { ui } = this;
    ui.reports.replaceChildren(
      ...reportItems(model.reports, {
        showRoom: false,
        resolve: async (id, action) => {
          if (await model.resolve(id, action)) {
            this.shell.announcer.say(action === 'deleted' ? 'Message deleted.' : 'Report dismissed.');
          }
        },
      }),
    );
    ui.reportsEmpty.hidden = model.reports.length > 0;
    ui.audit.replaceChildren(...auditItems(model.entries, { showRoom: false }));
    ui.auditEmpty.hidden = model.entries.length > 0;
    ui.auditMore.hidden = !model.moreEntries;
  }
}
