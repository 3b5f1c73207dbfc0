// One message as a list item, from its current state in the room's view
// model: the quote of what it replies to, sender and time, the actions I may
// take (as the room's view model says), the body with mentions marked, the
// editor while it is edited in place, reactions and the reaction picker.
// Nothing here holds state: `ctx` carries what the chat view owns.

import { isHidden } from '../timeline.js';
import { badge, button } from './dom.js';

/** The reaction picker's choice, as in most chat apps. */
const COMMON_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];
/** A quoted preview shows this much of the first line. */
const QUOTE_CHARS = 120;

export function firstLine(text) {
  const line = text.split('\n', 1)[0];
  return line.length > QUOTE_CHARS ? `${line.slice(0, QUOTE_CHARS)}…` : line;
}

export const mentionsMe = (m, me) => (m.mentions ?? []).some((u) => u.toLowerCase() === me.toLowerCase());

/** A list item for a shown event (a message, or a hidden event's placeholder). */
export function renderEvent(vm, event, ctx) {
  return isHidden(event) ? renderHidden(event) : renderMessage(vm, vm.timeline.message(event.seq) ?? event, ctx);
}

/** The placeholder for an event of someone I block: only its place in the log. */
function renderHidden(event) {
  const item = document.createElement('li');
  item.className = 'message hidden-event';
  item.dataset.seq = String(event.seq);
  item.tabIndex = -1;
  const body = document.createElement('p');
  body.className = 'body tombstone';
  body.textContent = 'blocked message';
  body.title = 'From someone you block. Unblock them to see it.';
  item.append(body);
  return item;
}

/**
 * One message as a list item. `m` is its current state (see timeline.js);
 * `pending` for a placeholder still being sent (no actions yet).
 */
export function renderMessage(vm, m, ctx, { pending = false } = {}) {
  const me = ctx.me();
  const item = document.createElement('li');
  item.className = 'message';
  item.tabIndex = -1; // focusable when jumped to
  const own = m.sender === me;
  if (own) item.classList.add('own');
  if (m.deleted) item.classList.add('deleted');
  const forMe = !own && mentionsMe(m, me);
  if (forMe) item.classList.add('mentions-me');
  item.dataset.seq = String(m.seq);

  if (Number.isInteger(m.reply_to)) item.append(renderQuote(vm, m.reply_to, ctx));

  const meta = document.createElement('div');
  meta.className = 'meta';
  const sender = document.createElement('span');
  sender.className = 'sender';
  sender.textContent = m.sender;
  const time = document.createElement('time');
  const at = new Date(m.created_at);
  time.dateTime = m.created_at;
  time.textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  time.title = at.toLocaleString();
  meta.append(sender, ' ', time);
  if (m.edited_at && !m.deleted) {
    const edited = document.createElement('span');
    edited.className = 'edited';
    edited.textContent = '(edited)';
    edited.title = `Edited ${new Date(m.edited_at).toLocaleString()}`;
    meta.append(' ', edited);
  }
  if (forMe) meta.append(' ', badge('mentions you', 'mention-badge'));
  // In the header line, as in most chat apps: no extra height per message.
  if (!pending && !m.deleted) meta.append(renderActions(vm, m, ctx));
  item.append(meta);

  if (m.deleted) {
    const body = document.createElement('p');
    body.className = 'body tombstone';
    body.textContent = 'message deleted';
    item.append(body);
    return item;
  }
  if (vm.editing?.seq === m.seq) item.append(renderEditor(vm, m, ctx));
  else {
    const body = document.createElement('p');
    body.className = 'body';
    body.append(withMentions(m.body, m.mentions ?? [], me));
    item.append(body);
  }
  if (pending) return item;

  if (m.reactions?.length > 0) item.append(renderReactions(vm, m, me));
  if (vm.pickerFor === m.seq) item.append(renderPicker(vm, m, ctx));
  return item;
}

/** `text` as text nodes, each `@name` the server resolved in `mentions` marked up. */
function withMentions(text, mentions, me) {
  const out = document.createDocumentFragment();
  const names = new Set(mentions.map((u) => u.toLowerCase()));
  if (names.size === 0) {
    out.append(text);
    return out;
  }
  let last = 0;
  for (const match of text.matchAll(/@([A-Za-z0-9_.-]+)/g)) {
    const name = match[1].toLowerCase();
    if (!names.has(name)) continue;
    out.append(text.slice(last, match.index));
    const mark = document.createElement('span');
    mark.className = 'mention';
    if (name === me.toLowerCase()) {
      mark.classList.add('me');
      mark.title = 'Mentions you';
    }
    mark.textContent = match[0];
    out.append(mark);
    last = match.index + match[0].length;
  }
  out.append(text.slice(last));
  return out;
}

/** The quoted original above a reply: a button that jumps to it. */
function renderQuote(vm, seq, ctx) {
  const original = vm.timeline.message(seq);
  const quote = button('', 'quote');
  quote.dataset.focus = 'quote';
  quote.dataset.replyTo = String(seq);
  const who = document.createElement('span');
  who.className = 'quote-sender';
  const text = document.createElement('span');
  text.className = 'quote-body';
  const hidden = !original && (vm.timeline.isHidden(seq) || vm.hiddenOriginals.has(seq));
  if (hidden) {
    text.textContent = 'blocked message';
    text.classList.add('tombstone');
  } else if (!original) {
    const missing = vm.missingOriginals.has(seq);
    text.textContent = missing ? 'The original message cannot be loaded.' : 'Loading the original message…';
    if (!missing) queueMicrotask(() => vm.fetchOriginal(seq));
  } else {
    who.textContent = original.sender;
    text.textContent = original.deleted ? 'message deleted' : firstLine(original.body);
    if (original.deleted) text.classList.add('tombstone');
  }
  quote.append(who, ' ', text);
  const said = original
    ? `${original.sender}: ${original.deleted ? 'message deleted' : firstLine(original.body)}`
    : hidden
      ? 'a blocked message'
      : `message ${seq}`;
  quote.setAttribute('aria-label', `In reply to ${said}. Show the original message`);
  quote.addEventListener('click', () => ctx.jumpTo(vm, seq));
  return quote;
}

/** Reaction chips: key and count, pressed when I reacted; a click toggles mine. */
function renderReactions(vm, m, me) {
  const group = document.createElement('div');
  group.className = 'reactions';
  group.setAttribute('role', 'group');
  group.setAttribute('aria-label', 'Reactions');
  for (const { key, users } of m.reactions) {
    const mine = users.includes(me);
    const chip = button('', 'reaction');
    chip.dataset.key = key;
    chip.dataset.focus = `reaction:${key}`;
    chip.setAttribute('aria-pressed', String(mine));
    const emoji = document.createElement('span');
    emoji.className = 'reaction-key';
    emoji.textContent = key;
    const count = document.createElement('span');
    count.className = 'count';
    count.textContent = String(users.length);
    chip.append(emoji, count);
    const n = users.length === 1 ? '1 reaction' : `${users.length} reactions`;
    chip.setAttribute('aria-label', `${key}: ${n}${mine ? ', including yours' : ''}`);
    chip.title = users.join(', ');
    chip.addEventListener('click', () => vm.react(m.seq, key, !mine));
    group.append(chip);
  }
  return group;
}

/** Reply, react, edit and delete, as far as the room's view model says I may. */
function renderActions(vm, m, ctx) {
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.setAttribute('role', 'group');
  actions.setAttribute('aria-label', `Actions for the message by ${m.sender}`);
  const action = (name, label, icon, handle) => {
    const b = button(icon, `quiet icon action-${name}`);
    b.dataset.focus = `action:${name}`;
    b.setAttribute('aria-label', label);
    b.title = label;
    b.addEventListener('click', handle);
    actions.append(b);
    return b;
  };
  action('reply', 'Reply', '↩', () => ctx.startReply(vm, m.seq));
  const picker = action('react', 'Add a reaction', '☺+', () => ctx.togglePicker(vm, m.seq));
  picker.setAttribute('aria-expanded', String(vm.pickerFor === m.seq));
  if (vm.mayEdit(m)) action('edit', 'Edit message', '✎', () => ctx.startEdit(vm, m.seq));
  if (vm.mayDelete(m)) action('delete', 'Delete message', '🗑', () => ctx.confirmDelete(vm, m.seq));
  return actions;
}

function renderPicker(vm, m, ctx) {
  const picker = document.createElement('div');
  picker.className = 'picker';
  picker.setAttribute('role', 'group');
  picker.setAttribute('aria-label', 'Pick a reaction');
  for (const key of COMMON_REACTIONS) {
    const b = button(key, 'quiet icon');
    b.dataset.focus = `pick:${key}`;
    b.setAttribute('aria-label', `React with ${key}`);
    b.addEventListener('click', () => {
      vm.pickerFor = null;
      vm.redraw(m.seq);
      ctx.focusIn(vm, m.seq, '[data-focus="action:react"]');
      const mine = m.reactions?.find((r) => r.key === key)?.users.includes(ctx.me());
      if (!mine) vm.react(m.seq, key, true);
    });
    picker.append(b);
  }
  picker.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      ctx.togglePicker(vm, m.seq);
      ctx.focusIn(vm, m.seq, '[data-focus="action:react"]');
    }
  });
  return picker;
}

/** The editor in place: the text area (kept by the chat view across
 * redraws), Save and Cancel. */
function renderEditor(vm, m, ctx) {
  const editor = document.createElement('div');
  editor.className = 'editor';
  const hint = document.createElement('p');
  hint.className = 'hint';
  hint.id = 'edit-hint';
  hint.textContent = 'Enter saves, Escape cancels, Shift+Enter starts a new line.';
  const save = button('Save');
  save.dataset.focus = 'edit-save';
  save.addEventListener('click', () => ctx.saveEdit(vm, m.seq));
  const cancel = button('Cancel', 'quiet');
  cancel.dataset.focus = 'edit-cancel';
  cancel.addEventListener('click', () => ctx.stopEdit(vm, m.seq));
  const row = document.createElement('div');
  row.className = 'row';
  row.append(save, cancel);
  editor.append(ctx.editInput(vm, m), row, hint);
  return editor;
}
