// A person's avatar: the one place that draws it. Their picture when they
// chose one (`avatar_url` of their user object, a square the server
// re-encoded), else their initials in a circle whose colour follows from the
// name (the same colour everywhere, for everyone). Every avatar carries
// `data-person`, so `people-view.js` redraws it when their profile changes.

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

/**
 * The avatar of `username` (decorative: the name is always written beside
 * it), with their picture if `people` (the PeopleViewModel) knows one.
 */
export function renderAvatar(username, people = null) {
  const avatar = document.createElement('span');
  avatar.dataset.person = username.toLowerCase();
  avatar.setAttribute('aria-hidden', 'true');
  fillAvatar(avatar, username, people?.get(username) ?? null);
  return avatar;
}

/** Draws `user`'s picture (or the initials of `username`) into `avatar`. */
export function fillAvatar(avatar, username, user) {
  avatar.className = `avatar c${colourOf(username)}`;
  if (user?.avatar_url) {
    const picture = document.createElement('img');
    picture.src = user.avatar_url;
    picture.alt = '';
    picture.decoding = 'async';
    avatar.classList.add('picture');
    avatar.replaceChildren(picture);
  } else {
    avatar.textContent = initials(username);
  }
}
