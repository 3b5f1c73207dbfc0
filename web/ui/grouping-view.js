// Draws a message list's grouping (domain/grouping.js) onto its items: a
// date separator before each day's first message, and `continued` on each
// message that continues its sender's group (the chat view calls `regroup`
// after every change to the list). A hidden event, the "New messages"
// divider or a message still being sent ends a group, and so does a deleted
// message: what its sender sent next (files alone, say) must not read as
// what was deleted.

import { continuesGroup, dayKey, dayLabel } from '../domain/grouping.js';

export function regroup(list, now = Date.now()) {
  for (const old of list.querySelectorAll(':scope > li.date-divider')) old.remove();
  let prev = null;
  let prevDay = null;
  for (const item of [...list.children]) {
    if (!item.classList.contains('message')) {
      prev = null; // the "New messages" divider
      continue;
    }
    const at = Number(item.dataset.at);
    const here = item.classList.contains('hidden-event') ? null : { sender: item.dataset.sender, at };
    if (Number.isFinite(at) && dayKey(at) !== prevDay) {
      prevDay = dayKey(at);
      list.insertBefore(dateDivider(at, now), item);
      prev = null;
    }
    item.classList.toggle('continued', continuesGroup(prev, here) && !item.classList.contains('pending'));
    prev = item.classList.contains('deleted') ? null : here;
  }
}

function dateDivider(at, now) {
  // A list may hold only list items (axe's `list` rule): the separator is
  // the item's content, not the item.
  const divider = document.createElement('li');
  divider.className = 'date-divider';
  const label = dayLabel(at, now);
  const text = document.createElement('span');
  text.setAttribute('role', 'separator');
  text.setAttribute('aria-label', label);
  text.textContent = label;
  divider.append(text);
  return divider;
}
