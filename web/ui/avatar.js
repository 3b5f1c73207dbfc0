// A person's avatar: the one place that draws it. For now their initials in
// a circle whose colour follows from the name (the same colour everywhere,
// for everyone); when accounts get pictures, this function shows them.

/** How many colours `ui/timeline.css` defines (`.avatar.c0` … `.avatar.c7`). */
const COLOURS = 8;

/** Up to two letters: "alice" → "A", "mary.jane" / "mary_jane" → "MJ". */
export function initials(username) {
  const parts = username.split(/[._-]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : [...username][0] ?? '?';
  return letters.toUpperCase();
}

function colourOf(username) {
  let hash = 0;
  for (const ch of username.toLowerCase()) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return hash % COLOURS;
}

/** The avatar of `username` (decorative: the name is always written beside it). */
export function renderAvatar(username) {
  const avatar = document.createElement('span');
  avatar.className = `avatar c${colourOf(username)}`;
  avatar.setAttribute('aria-hidden', 'true');
  avatar.textContent = initials(username);
  return avatar;
}
