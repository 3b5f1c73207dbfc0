// One message as a list item, from its current state in the room's view
// model: the quote of what it replies to, sender and time, the actions I may
// take (as the room's view model says), the body with mentions marked, its
// files (attachments-view.js), the editor while it is edited in place,
// reactions and the reaction picker.
// Nothing here holds state: `ctx` carries what the chat view owns.

import { threadRootOf } from '../domain/thread.js';
import { isHidden } from '../timeline.js';
import { renderAttachments } from './attachments-view.js';
import { renderAvatar } from './avatar.js';
import { personName, personText } from './people-view.js';
import { badge, button, lineIcon } from './dom.js';
import { renderBody } from './markdown.js';

/** The reaction picker's choice, as in most chat apps. */
const COMMON_REACTIONS = ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'];
/** A quoted preview shows this much of the first line. */
const QUOTE_CHARS = 120;

export function firstLine(text) {
  const line = text.split('\n', 1)[0];
  return line.length > QUOTE_CHARS ? `${line.slice(0, QUOTE_CHARS)}…` : line;
}

/** A message in one line: its first line, or the names of its files when it
 * has no text. */
export function summary(m) {
  const line = firstLine(m.body ?? '');
  const files = m.attachments ?? [];
  if (line.trim() !== '' || files.length === 0) return line;
  return `${files.length === 1 ? 'File' : 'Files'}: ${files.map((f) => f.name).join(', ')}`;
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

/** Press this long on a message (touch) to open its actions menu. */
const LONG_PRESS_MS = 500;

/**
 * One message as a list item. `m` is its current state (see timeline.js);
 * `pending` for a placeholder still being sent (no actions yet). The avatar
 * and the header (sender, time) are always drawn; the chat view marks a
 * message that continues its sender's group (`continued`), which shows only
 * its body (the name stays for screen readers, the time on hover).
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
  item.dataset.sender = pending ? me : m.sender;
  item.dataset.at = String(Date.parse(m.created_at));

  const content = document.createElement('div');
  content.className = 'content';
  item.append(renderAvatar(pending ? me : m.sender, ctx.people), content);

  const meta = document.createElement('div');
  meta.className = 'meta';
  const sender = personName(ctx.people, pending ? me : m.sender, 'sender');
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
  content.append(meta);
  if (Number.isInteger(m.reply_to)) content.append(renderQuote(vm, m.reply_to, ctx));
  if (!pending && !m.deleted) {
    item.append(renderActions(vm, m, ctx));
    listenLongPress(item, () => ctx.openMenu(vm, m.seq));
  }

  if (m.deleted) {
    const body = document.createElement('p');
    body.className = 'body tombstone';
    body.textContent = 'message deleted';
    content.append(body);
    return item;
  }
  const files = m.attachments ?? [];
  if (vm.editing?.seq === m.seq) content.append(renderEditor(vm, m, ctx));
  else if (m.body !== '' || files.length === 0) {
    const body = document.createElement('div');
    body.className = 'body';
    body.append(renderBody(m.body, m.mentions ?? [], me));
    content.append(body);
  }
  if (files.length > 0) {
    content.append(
      renderAttachments(files, {
        open: (file, opener) => ctx.openImage(vm, m.seq, file, opener),
        expired: () => pending || vm.refreshFiles(m.seq),
      }),
    );
  }
  if (pending) return item;

  if (m.reactions?.length > 0) content.append(renderReactions(vm, m, me));
  if (vm.pickerFor === m.seq) content.append(renderPicker(vm, m, ctx));
  if (m.thread_summary?.reply_count > 0) content.append(renderThreadLink(vm, m, ctx));
  return item;
}

/** Under a thread's root: "3 replies" and who replied; opens the thread. */
function renderThreadLink(vm, m, ctx) {
  const { reply_count: n, participants } = m.thread_summary;
  const link = button('', 'quiet thread-link');
  link.dataset.focus = 'thread';
  const count = document.createElement('span');
  count.className = 'thread-link-count';
  count.textContent = n === 1 ? '1 reply' : `${n} replies`;
  const who = document.createElement('span');
  who.className = 'thread-link-who';
  who.textContent = participants.slice(0, 3).join(', ') + (participants.length > 3 ? '…' : '');
  const hint = document.createElement('span');
  hint.className = 'visually-hidden';
  hint.textContent = ': open the thread';
  // The name is the text shown, then what the button does.
  link.append(count, ' ', who, hint);
  link.title = `Replies from ${participants.join(', ')}`;
  link.addEventListener('click', () => ctx.openThread(vm, m.seq));
  return link;
}

/** A long press with a finger (or a touch screen's context menu) opens the menu. */
function listenLongPress(item, open) {
  let timer = null;
  const cancel = () => {
    clearTimeout(timer);
    timer = null;
  };
  item.addEventListener('pointerdown', (event) => {
    if (event.pointerType !== 'touch' || event.target.closest('button, a, textarea')) return;
    cancel();
    timer = setTimeout(() => {
      timer = null;
      open();
    }, LONG_PRESS_MS);
  });
  for (const type of ['pointerup', 'pointercancel', 'pointermove']) {
    item.addEventListener(type, (event) => {
      if (type !== 'pointermove' || Math.abs(event.movementY) + Math.abs(event.movementX) > 4) cancel();
    });
  }
  item.addEventListener('contextmenu', (event) => {
    if (!matchMedia('(hover: none)').matches || event.target.closest('a, textarea')) return;
    event.preventDefault();
    cancel();
    open();
  });
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
    who.textContent = personText(ctx.people, original.sender);
    text.textContent = original.deleted ? 'message deleted' : summary(original);
    if (original.deleted) text.classList.add('tombstone');
  }
  quote.append(who, ' ', text);
  const said = original
    ? `${personText(ctx.people, original.sender)}: ${original.deleted ? 'message deleted' : summary(original)}`
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

/** A speech bubble: open the message's thread. */
const THREAD_ICON = () => lineIcon('M21 12a8 8 0 0 1-11.6 7.1L4 20.5l1.4-5.2A8 8 0 1 1 21 12z');
/** A bin: delete the message. */
const DELETE_ICON = () => lineIcon('M4 7h16', 'M10 11v6', 'M14 11v6', 'M6 7l1 13h10l1-13', 'M9 7V4h6v3');

/** Reply, react, edit and delete, as far as the room's view model says I may. */
function renderActions(vm, m, ctx) {
  const actions = document.createElement('div');
  actions.className = 'actions';
  actions.setAttribute('role', 'group');
  actions.setAttribute('aria-label', `Actions for the message by ${m.sender}`);
  // `icon`: a character, or an SVG element for what fonts may lack.
  const action = (name, label, icon, handle) => {
    const b = button(typeof icon === 'string' ? icon : '', `quiet icon action-${name}`);
    if (typeof icon !== 'string') b.append(icon);
    b.dataset.focus = `action:${name}`;
    b.setAttribute('aria-label', label);
    b.title = label;
    b.addEventListener('click', handle);
    actions.append(b);
    return b;
  };
  action('reply', 'Reply', '↩', () => ctx.startReply(vm, m.seq));
  action('thread', 'Thread', THREAD_ICON(), () => ctx.openThread(vm, threadRootOf(m)));
  const picker = action('react', 'Add a reaction', '☺+', () => ctx.togglePicker(vm, m.seq));
  picker.setAttribute('aria-expanded', String(vm.pickerFor === m.seq));
  if (vm.mayEdit(m)) action('edit', 'Edit message', '✎', () => ctx.startEdit(vm, m.seq));
  if (vm.mayReport(m)) {
    const report = action('report', 'Report message', '⚑', () => ctx.report(vm, m, report));
  }
  if (vm.mayDelete(m)) action('delete', 'Delete message', DELETE_ICON(), () => ctx.confirmDelete(vm, m.seq));
  // On a desktop the actions show on hover or keyboard focus; on a phone this
  // one button (or a long press) opens them as a menu.
  const more = button('⋯', 'quiet icon more');
  more.dataset.focus = 'more';
  more.setAttribute('aria-label', 'Message actions');
  more.setAttribute('aria-haspopup', 'true');
  more.setAttribute('aria-expanded', 'false');
  more.title = 'Message actions';
  more.addEventListener('click', () => ctx.toggleMenu(vm, m.seq));
  // Whatever was chosen, a phone's menu has done its job.
  actions.addEventListener('click', () => ctx.closeMenu(vm, m.seq));
  actions.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && ctx.closeMenu(vm, m.seq)) ctx.focusIn(vm, m.seq, '[data-focus="more"]');
  });
  const toolbar = document.createElement('div');
  toolbar.className = 'toolbar';
  toolbar.append(actions, more);
  return toolbar;
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
