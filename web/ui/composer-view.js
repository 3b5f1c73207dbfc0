// The composer of the room shown: writing and sending (Enter) with the files
// uploaded for the message (ui/upload-view.js draws and adds them), the reply
// preview above it, @-autocomplete of the room's members, "I am typing"
// signals, and who else is typing below it. What is sent is for the server to
// accept or refuse; its refusal is said in words a person understands.

import { describeError } from '../api.js';
import { SendRefused, newClientId } from '../live.js';
import { $ } from './dom.js';
import { summary } from './message-view.js';
import { personText } from './people-view.js';

/** At most this many people are offered for an @-mention. */
const MENTION_CHOICES = 8;

export class ComposerView {
  /** @param {object} shell  { rooms, me(), chat (ChatView) } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      form: $('composer'),
      input: $('composer-input'),
      label: $('composer').querySelector('label'),
      replyBar: $('reply-bar'),
      replySender: $('reply-sender'),
      replyText: $('reply-text'),
      replyCancel: $('reply-cancel'),
      mentionList: $('mention-list'),
      typing: $('typing'),
      error: $('chat-error'),
    };
    /** The open suggestions: { start, end, choices, active } or null. */
    this.mentioning = null;
    this.#listen();
  }

  get vm() {
    return this.shell.rooms.shown;
  }

  focus() {
    this.ui.input.focus();
  }

  #listen() {
    const { ui } = this;
    ui.input.addEventListener('keydown', (event) => {
      if (!ui.mentionList.hidden && this.#mentionKey(event)) return;
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        ui.form.requestSubmit();
      } else if (event.key === 'Escape' && this.vm?.replyTo != null) {
        event.preventDefault();
        this.cancelReply();
      }
    });
    ui.input.addEventListener('input', () => {
      this.autoGrow();
      this.suggestMentions();
      // Only while there is something written: clearing it is no typing.
      if (ui.input.value !== '') this.vm?.typing();
    });
    // The caret moved (arrows, a click): the word being completed may have changed.
    ui.input.addEventListener('click', () => this.suggestMentions());
    ui.input.addEventListener('blur', () => {
      // A click on a suggestion lands first (pointerdown keeps the focus here).
      setTimeout(() => {
        if (document.activeElement !== ui.input) this.closeMentions();
      }, 150);
    });
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.send();
    });
    ui.replyCancel.addEventListener('click', () => this.cancelReply());
  }

  /** The room shown changed. */
  show(vm) {
    const target = vm.direct ? `@${vm.room.peer}` : `#${vm.name}`;
    this.ui.input.placeholder = `Message ${target}`;
    this.ui.label.textContent = `Message ${target}`;
    this.renderReplyBar(vm);
    this.closeMentions();
    this.renderTyping(vm);
  }

  /** Sends what is written, with the files uploaded for it. Nothing written
   * and no file is nothing to send; anything else goes to the server, which
   * stores it or says why not. A message waits for its files to finish. */
  send() {
    const vm = this.vm;
    const text = this.ui.input.value;
    if (!vm || !this.shell.live()) return;
    if (vm.uploads.busy) {
      this.ui.error.textContent = 'Wait until your files have uploaded, or cancel them, then send.';
      return;
    }
    const files = vm.uploads.take();
    if (text === '' && files.length === 0) return;
    this.ui.error.textContent = '';
    const clientId = newClientId();
    const replyTo = vm.replyTo;
    const placeholder = this.shell.chat.addPending(vm, text, clientId, replyTo, files);
    this.ui.input.value = '';
    this.autoGrow();
    this.closeMentions();
    if (replyTo !== null) this.cancelReply();
    // Shown once the server stores it and its MESSAGE comes back; until then
    // it waits in live's outbox, across reconnects if need be.
    vm.send(text, clientId, replyTo, files.map((f) => f.id)).then(
      (answer) => {
        // Sent by HTTP instead: its answer was the stored message itself.
        // A room's slash command (README, "Bots and webhooks") is answered
        // but never stored, so no MESSAGE of ours replaces the placeholder:
        // its RECEIPT is the end of it (a `/word` that is no command comes
        // back as our MESSAGE and is shown then).
        if (answer?.byHttp || text.startsWith('/')) placeholder.remove();
      },
      (err) => {
        placeholder.classList.add('failed');
        placeholder.querySelector('.sender').textContent = 'Not sent';
        // Nothing was stored: the files wait for the next try, unless they
        // were what the server refused.
        if (!/attachment/.test(`${err.code ?? ''} ${err.message ?? ''}`)) vm.uploads.putBack(files);
        if (this.vm !== vm) return;
        this.ui.error.textContent = this.#refusal(vm, err, text);
      },
    );
  }

  /** Why a message was not sent, in words: the server's refusal, with the
   * server's own limit when the body was over it. */
  #refusal(vm, err, text) {
    if (err instanceof SendRefused) {
      return err.code === 'blocked' ? `Not sent: ${vm.direct ? vm.room.peer : 'this person'} has blocked you.` : err.message;
    }
    const max = this.shell.config.max_body_bytes;
    const bytes = new TextEncoder().encode(text).length;
    if (err.code === 'invalid_body' && bytes > max) {
      return `Not sent: the message is too long (${bytes} bytes; this server takes at most ${max}).`;
    }
    return `Not sent: ${describeError(err)}`;
  }

  autoGrow() {
    const { input } = this.ui;
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
  }

  // ------------------------------------------------------------ replying --

  cancelReply() {
    const vm = this.vm;
    if (!vm) return;
    vm.cancelReply();
    this.ui.input.focus();
  }

  /** The quoted preview above the composer while a reply is being written. */
  renderReplyBar(vm) {
    const original = vm.replyTo === null ? null : vm.timeline.message(vm.replyTo);
    this.ui.replyBar.hidden = !original;
    if (!original) return;
    this.ui.replySender.textContent = original.sender;
    this.ui.replyText.textContent = original.deleted ? 'message deleted' : summary(original);
  }

  // -------------------------------------------------------------- typing --

  /** "alice is typing…" under the composer of the room shown. */
  renderTyping(vm) {
    const names = [...(vm?.typists.keys() ?? [])]
      .sort((a, b) => a.localeCompare(b))
      .map((name) => personText(this.shell.people, name));
    let text = '';
    if (names.length === 1) text = `${names[0]} is typing…`;
    else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
    else if (names.length > 2) text = 'Several people are typing…';
    if (this.ui.typing.textContent !== text) this.ui.typing.textContent = text;
  }

  // ------------------------------------------------------------ mentions --

  /** The `@word` just before the caret, if the caret ends one. */
  #mentionAtCaret() {
    const { input } = this.ui;
    if (input.selectionStart !== input.selectionEnd) return null;
    const before = input.value.slice(0, input.selectionStart);
    const match = before.match(/(?:^|[^A-Za-z0-9_.-])@([A-Za-z0-9_.-]{0,32})$/);
    if (!match) return null;
    return { start: before.length - match[1].length - 1, end: before.length, prefix: match[1] };
  }

  async suggestMentions() {
    const vm = this.vm;
    const at = vm ? this.#mentionAtCaret() : null;
    if (!at) {
      this.closeMentions();
      return;
    }
    const members = await vm.roomMembers();
    // The person may have typed on meanwhile, or left the room.
    const now = this.#mentionAtCaret();
    if (this.vm !== vm || !now || now.start !== at.start) return;
    const prefix = now.prefix.toLowerCase();
    const me = this.shell.me();
    const choices = members
      .map((u) => u.username)
      .filter((name) => name !== me && name.toLowerCase().startsWith(prefix))
      .sort((a, b) => a.localeCompare(b))
      .slice(0, MENTION_CHOICES);
    if (choices.length === 0) {
      this.closeMentions();
      return;
    }
    const keep = this.mentioning?.choices[this.mentioning.active];
    this.mentioning = { ...now, choices, active: Math.max(0, choices.indexOf(keep)) };
    this.#renderMentions();
  }

  #renderMentions() {
    const { choices, active } = this.mentioning;
    this.ui.mentionList.replaceChildren(
      ...choices.map((name, i) => {
        const option = document.createElement('li');
        option.id = `mention-option-${i}`;
        option.setAttribute('role', 'option');
        option.setAttribute('aria-selected', String(i === active));
        option.textContent = name;
        // pointerdown, not click: the composer keeps the focus.
        option.addEventListener('pointerdown', (event) => {
          event.preventDefault();
          this.#pickMention(i);
        });
        return option;
      }),
    );
    this.ui.mentionList.hidden = false;
    this.ui.input.setAttribute('aria-activedescendant', `mention-option-${active}`);
  }

  closeMentions() {
    this.mentioning = null;
    this.ui.mentionList.hidden = true;
    this.ui.mentionList.replaceChildren();
    this.ui.input.removeAttribute('aria-activedescendant');
  }

  /** Keys while suggestions are open; true if the key was theirs. */
  #mentionKey(event) {
    const mentioning = this.mentioning;
    if (!mentioning) return false;
    const n = mentioning.choices.length;
    switch (event.key) {
      case 'ArrowDown':
      case 'ArrowUp':
        mentioning.active = (mentioning.active + (event.key === 'ArrowDown' ? 1 : n - 1)) % n;
        this.#renderMentions();
        break;
      case 'Enter':
      case 'Tab':
        if (event.shiftKey || event.isComposing) return false;
        this.#pickMention(mentioning.active);
        break;
      case 'Escape':
        this.closeMentions();
        break;
      default:
        return false;
    }
    event.preventDefault();
    return true;
  }

  /** Replaces the `@word` being typed with `@name `. */
  #pickMention(i) {
    if (!this.mentioning) return;
    const { start, end, choices } = this.mentioning;
    const { input } = this.ui;
    const insert = `@${choices[i]} `;
    input.value = input.value.slice(0, start) + insert + input.value.slice(end);
    const caret = start + insert.length;
    input.setSelectionRange(caret, caret);
    this.closeMentions();
    input.focus();
    this.autoGrow();
  }
}
