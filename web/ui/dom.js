// Small helpers the views share. Every text a person wrote goes into the page
// as text (textContent, text nodes), never as markup; no inline handlers or
// styles (the page's Content-Security-Policy).

export const $ = (id) => document.getElementById(id);

/** A button of `type="button"`. */
export function button(text, className = '') {
  const b = document.createElement('button');
  b.type = 'button';
  if (className) b.className = className;
  b.textContent = text;
  return b;
}

/**
 * A line icon (24×24, drawn with the text colour) from SVG path data: for
 * glyphs a system may lack a font for (emoji), as the bell and the paper
 * clip of index.html are drawn.
 */
export function lineIcon(...paths) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  for (const [k, v] of Object.entries({
    viewBox: '0 0 24 24', width: '16', height: '16', fill: 'none', stroke: 'currentColor',
    'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round',
    'aria-hidden': 'true', focusable: 'false',
  })) svg.setAttribute(k, v);
  for (const d of paths) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', d);
    svg.append(path);
  }
  return svg;
}

/** A badge; with `label`, read out as ", label" instead of its text. */
export function badge(text, kind, label) {
  const el = document.createElement('span');
  el.className = `badge ${kind}`;
  el.textContent = text;
  if (label) {
    el.setAttribute('aria-hidden', 'true');
    const spoken = document.createElement('span');
    spoken.className = 'visually-hidden';
    spoken.textContent = `, ${label}`;
    const f = document.createDocumentFragment();
    f.append(el, spoken);
    return f;
  }
  return el;
}

/** A badge left out of its button's name (the button describes it). */
export function quietBadge(text, kind) {
  const el = badge(text, kind);
  el.setAttribute('aria-hidden', 'true');
  return el;
}

/** Disables a form's buttons while its request runs (inputs keep focus). */
export function setBusy(form, busy) {
  form.setAttribute('aria-busy', String(busy));
  for (const b of form.querySelectorAll('button')) b.disabled = busy;
}

/** A list of names, each with one button (Unban, Unblock): `{ name, action, label }`. */
export function nameList(items, actionText, onAction) {
  return items.map((name) => {
    const item = document.createElement('li');
    const span = document.createElement('span');
    span.textContent = name;
    const act = button(actionText, 'quiet');
    act.setAttribute('aria-label', `${actionText} ${name}`);
    act.addEventListener('click', () => onAction(name));
    item.append(span, ' ', act);
    return item;
  });
}

/** `text` as text nodes, each case-insensitive occurrence of a term in <mark>. */
export function marked(text, terms) {
  const out = document.createDocumentFragment();
  if (terms.length === 0) {
    out.append(text);
    return out;
  }
  const pattern = new RegExp(terms.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'giu');
  let last = 0;
  for (const match of text.matchAll(pattern)) {
    if (match[0] === '') continue;
    out.append(text.slice(last, match.index));
    const mark = document.createElement('mark');
    mark.textContent = match[0];
    out.append(mark);
    last = match.index + match[0].length;
  }
  out.append(text.slice(last));
  return out;
}

/**
 * The live region that reads things out: `say(text)`, and `messages(list)`
 * for new messages (a burst, e.g. after a reconnect, is summarised).
 */
export class Announcer {
  #el;
  #queue = [];
  #timer = null;

  constructor(el) {
    this.#el = el;
  }

  say(text) {
    this.#el.textContent = text;
  }

  /** `describe(message)` says one message; a burst is counted, in `place`
   * ("#general", "your conversation with bob"). */
  messages(list, describe, place = `#${list[0]?.room}`) {
    if (list.length === 0) return;
    this.#queue.push(...list);
    this.#timer ??= setTimeout(() => {
      const batch = this.#queue;
      this.#queue = [];
      this.#timer = null;
      this.say(batch.length === 1 ? describe(batch[0]) : `${batch.length} new messages in ${place}.`);
    }, 250);
  }
}
