// How a person is written and drawn, wherever a username is shown: their
// display name beside their username ("Alice Liddell @alice"; the username is
// always there, so a display name cannot pass for someone else), and their
// avatar. Every name and avatar drawn here carries `data-person`; when the
// PeopleViewModel learns or changes someone's profile, `PeopleView` redraws
// each of theirs in the page, so the views themselves never re-render for it.

import { labelOf, labelText } from '../domain/people.js';
import { fillAvatar } from './avatar.js';

/**
 * A person's name as an inline element: display name, then @username. With
 * `handle`, someone without a display name is written `@username` too (a
 * conversation's name in the sidebar).
 */
export function personName(people, username, className = 'person-name', { handle = false } = {}) {
  const name = document.createElement('span');
  name.className = className;
  name.dataset.person = username.toLowerCase();
  name.dataset.username = username;
  if (handle) name.dataset.handle = 'always';
  fillName(name, username, people?.get(username) ?? null);
  return name;
}

/** The one-line label for text-only places (titles, aria-labels, typing). */
export function personText(people, username) {
  return labelText(username, people?.get(username) ?? null);
}

function fillName(element, username, user) {
  const { name, handle } = labelOf(username, user);
  if (!handle) {
    element.textContent = element.dataset.handle === 'always' ? `@${name}` : name;
    element.removeAttribute('title');
    return;
  }
  const display = document.createElement('span');
  display.className = 'display-name';
  display.textContent = name;
  const at = document.createElement('span');
  at.className = 'handle';
  at.textContent = handle;
  element.replaceChildren(display, ' ', at);
  element.title = user?.status ? `${name} (${handle}): ${user.status}` : `${name} (${handle})`;
}

/** Redraws the names and avatars of whoever's profile changes. */
export class PeopleView {
  constructor(people, root = document) {
    people.addEventListener('change', ({ detail: { username, user } }) => {
      const key = CSS.escape(username.toLowerCase());
      for (const element of root.querySelectorAll(`[data-person="${key}"]`)) {
        if (element.classList.contains('avatar')) fillAvatar(element, username, user);
        else fillName(element, element.dataset.username ?? username, user);
      }
    });
  }
}
