// The sidebar's "Blocked people": whom I block, each with Unblock.

import { $, nameList } from './dom.js';

export class BlockedView {
  /** @param {object} shell  { blocks (BlocksViewModel), setBlocked(name, block) } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      count: $('blocked-count'),
      list: $('blocked-list'),
      empty: $('blocked-empty'),
      error: $('blocked-error'),
    };
    shell.blocks.addEventListener('change', () => this.render());
    shell.blocks.addEventListener('error', (event) => {
      this.ui.error.textContent = event.detail.text;
    });
  }

  render() {
    const { ui } = this;
    const names = this.shell.blocks.names;
    ui.list.replaceChildren(...nameList(names, 'Unblock', (name) => this.shell.setBlocked(name, false)));
    ui.empty.hidden = names.length > 0;
    ui.count.hidden = names.length === 0;
    ui.count.textContent = String(names.length);
  }
}
