// The "Report" dialog of a message's actions: a reason (1–500 characters),
// sent to the room's moderators and the administrators.

import { describeError } from '../api.js';
import { $, setBusy } from './dom.js';

export class ReportView {
  /** @param {object} shell  { announcer } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      dialog: $('report-dialog'),
      form: $('report-form'),
      preview: $('report-preview'),
      reason: $('report-reason'),
      error: $('report-error'),
      cancel: $('report-cancel'),
    };
    /** The message being reported: { vm, seq, back } or null. */
    this.target = null;
    this.ui.cancel.addEventListener('click', () => this.ui.dialog.close());
    this.ui.dialog.addEventListener('close', () => {
      const back = this.target?.back;
      this.target = null;
      back?.focus({ preventScroll: true });
    });
    this.ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#send();
    });
  }

  /** Asks why message `m` of `vm` should be looked at; `back` gets focus after. */
  open(vm, m, back) {
    const { ui } = this;
    this.target = { vm, seq: m.seq, back };
    ui.preview.textContent = `${m.sender}: ${m.body.split('\n')[0]}`;
    ui.reason.value = '';
    ui.error.textContent = '';
    ui.dialog.showModal();
    ui.reason.focus();
  }

  async #send() {
    const { ui } = this;
    const target = this.target;
    if (!target) return;
    setBusy(ui.form, true);
    try {
      await target.vm.reportMessage(target.seq, ui.reason.value.trim());
      ui.dialog.close();
      this.shell.announcer.say('Thank you. The moderators will look at it.');
    } catch (err) {
      ui.error.textContent = describeError(err);
    } finally {
      setBusy(ui.form, false);
    }
  }
}
