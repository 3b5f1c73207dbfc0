// Reports and audit entries as lists, drawn the same way in the members
// panel (one room, for its owner and moderators) and on the administrators'
// page (every room): each report with the message, who reported it and why,
// and Dismiss / Delete message while unresolved; each entry as one line.

import { button } from './dom.js';

const ACTIONS = {
  role_changed: 'changed the role of',
  member_removed: 'removed',
  member_banned: 'banned',
  member_unbanned: 'unbanned',
  room_deleted: 'deleted the room',
  message_deleted: 'deleted a message of',
  report_resolved: 'resolved a report',
  user_deactivated: 'deactivated',
  user_reactivated: 'reactivated',
  user_deleted: 'deleted the account of',
};

const when = (iso) => new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });

/** One `<li>` per report; `resolve(id, action)` on Dismiss or Delete message. */
export function reportItems(reports, { showRoom, resolve }) {
  return reports.map((r) => {
    const item = document.createElement('li');
    item.className = r.resolved ? 'report resolved' : 'report';
    item.dataset.report = String(r.id);
    const head = document.createElement('p');
    head.className = 'report-head';
    const where = showRoom ? ` in #${r.room}` : '';
    head.textContent = `${r.reporter} reported a message by ${r.sender ?? 'someone'}${where}`;
    const quote = document.createElement('blockquote');
    quote.textContent = r.body === null ? 'no longer in the history' : r.body === '' ? 'message deleted' : r.body;
    if (!r.body) quote.classList.add('tombstone');
    const reason = document.createElement('p');
    reason.className = 'report-reason';
    reason.textContent = `“${r.reason}” · ${when(r.created_at)}`;
    item.append(head, quote, reason);
    if (r.resolved) {
      const done = document.createElement('p');
      done.className = 'hint';
      done.textContent = r.action === 'deleted' ? 'Resolved: message deleted' : 'Resolved: dismissed';
      item.append(done);
    } else {
      const actions = document.createElement('div');
      actions.className = 'actions';
      const dismiss = button('Dismiss', 'quiet');
      dismiss.setAttribute('aria-label', `Dismiss the report by ${r.reporter}`);
      dismiss.addEventListener('click', () => resolve(r.id, 'dismissed'));
      const remove = button('Delete message', 'danger');
      remove.setAttribute('aria-label', `Delete the message reported by ${r.reporter}`);
      remove.addEventListener('click', () => resolve(r.id, 'deleted'));
      actions.append(dismiss, remove);
      item.append(actions);
    }
    return item;
  });
}

/** One `<li>` per audit entry: "time: actor action target (detail)". */
export function auditItems(entries, { showRoom }) {
  return entries.map((e) => {
    const item = document.createElement('li');
    const time = document.createElement('time');
    time.dateTime = e.at;
    time.textContent = when(e.at);
    const text = [e.actor ?? 'someone', ACTIONS[e.action] ?? e.action];
    if (e.target) text.push(e.target);
    if (showRoom && e.room) text.push(`in #${e.room}`);
    if (e.detail) text.push(`(${e.detail})`);
    item.append(time, ` ${text.join(' ')}`);
    return item;
  });
}
