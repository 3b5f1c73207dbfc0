// How a room's messages are grouped as a chat shows them, without the DOM
// (tested under Node in e2e/reading.test.mjs): consecutive messages of one
// sender share one name and time until another sender, a pause of
// GROUP_GAP_MS, or a new day; each day starts under a date separator.

/** A pause this long starts a new group, as in most chat apps. */
export const GROUP_GAP_MS = 5 * 60_000;

/** The local calendar day of `ms` (a key to compare days with). */
export function dayKey(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/**
 * Whether message `next` continues the group of `prev` (both
 * `{ sender, at }`, `at` in ms; `prev` null at the top of what is loaded).
 */
export function continuesGroup(prev, next) {
  if (!prev || !next || prev.sender !== next.sender) return false;
  if (!Number.isFinite(prev.at) || !Number.isFinite(next.at)) return false;
  return next.at >= prev.at && next.at - prev.at < GROUP_GAP_MS && dayKey(prev.at) === dayKey(next.at);
}

/** "Today", "Yesterday", else the date ("Monday, 30 November 2026"; the year when not this one). */
export function dayLabel(ms, now = Date.now()) {
  const day = dayKey(ms);
  if (day === dayKey(now)) return 'Today';
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  if (day === dayKey(yesterday.getTime())) return 'Yesterday';
  const date = new Date(ms);
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString([], {
    weekday: 'long',
    day: 'numeric',
    month: 'long',
    ...(sameYear ? {} : { year: 'numeric' }),
  });
}
