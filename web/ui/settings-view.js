// The settings page: opened from "Settings" in the header, in place of the
// chat (or from "Profile", at that section); its sections stacked one under
// the other (one column on a phone), each with its own heading. "Back to
// chat" (or Escape) returns.
//
// Adding a section: write a module under `ui/settings/` that exports
//   { id, title, available?(config), create(shell) → { element, open(), close() } }
// (`available`: whether the server offers it, from GET /config; absent: always)
// (`element` is put under the section's heading; `open` runs each time the
// page opens, e.g. to load; `close` when it closes, e.g. to forget), import
// it here and add it to SECTIONS in the order it should appear; add its
// file to ASSETS in src/http/web_client.rs.

import { $ } from './dom.js';
import { botsSection } from './settings/bots-section.js';
import { emailSection } from './settings/email-section.js';
import { passwordSection } from './settings/password-section.js';
import { profileSection } from './settings/profile-section.js';
import { sessionsSection } from './settings/sessions-section.js';
import { twoFactorSection } from './settings/two-factor-section.js';

const SECTIONS = [profileSection, passwordSection, sessionsSection, twoFactorSection, emailSection, botsSection];

export class SettingsView {
  /** @param {object} shell  { session, config, announcer, profile, … } and showSettings(open, section) */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      view: $('settings-view'),
      title: $('settings-title'),
      sections: $('settings-sections'),
      back: $('settings-back'),
      open: $('settings-open'),
    };
    const offered = SECTIONS.filter((section) => section.available?.(shell.config) ?? true);
    this.sections = offered.map((section) => {
      const made = section.create(shell);
      const wrap = document.createElement('section');
      wrap.className = 'settings-section';
      wrap.id = `settings-${section.id}`;
      const heading = document.createElement('h3');
      heading.id = `settings-${section.id}-title`;
      heading.tabIndex = -1;
      heading.textContent = section.title;
      wrap.setAttribute('aria-labelledby', heading.id);
      wrap.append(heading, made.element);
      this.ui.sections.append(wrap);
      return made;
    });
    this.ui.open.addEventListener('click', () => shell.showSettings(true));
    $('profile-open').addEventListener('click', () => shell.showSettings(true, profileSection.id));
    this.ui.back.addEventListener('click', () => shell.showSettings(false));
    this.ui.view.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') shell.showSettings(false);
    });
  }

  get shown() {
    return !this.ui.view.hidden;
  }

  /** Shows the page and (re)loads every section. */
  open() {
    this.ui.view.hidden = false;
    this.ui.open.setAttribute('aria-expanded', 'true');
    this.ui.title.focus();
    for (const s of this.sections) s.open?.();
  }

  /** Brings section `id` into view, focus on its heading. */
  show(id) {
    const heading = document.getElementById(`settings-${id}-title`);
    if (!heading) return;
    heading.scrollIntoView({ block: 'start' });
    heading.focus({ preventScroll: true });
  }

  close() {
    if (this.ui.view.hidden) return;
    this.ui.view.hidden = true;
    this.ui.open.setAttribute('aria-expanded', 'false');
    for (const s of this.sections) s.close?.();
  }
}
