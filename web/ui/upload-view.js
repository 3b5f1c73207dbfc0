// Adding files to the next message of the room shown, and the files waiting
// for it: the paperclip button ("Attach files": a file picker), files
// dropped on the message list, an image pasted into the composer. Each file
// is uploaded at once by the room's view model (`upload`); here each one is
// a chip above the composer with its name and size, a progress bar while it
// uploads, and one button: "Cancel upload" while it runs (the request is
// aborted and the file dropped), "Remove" once it is uploaded or was
// refused. The chips draw the room's upload queue (domain/uploads.js) and
// are updated in place, so a keyboard user's focus stays on the button
// they are on.

import { describeError } from '../api.js';
import { FAILED, READY, UPLOADING, formatSize, fraction } from '../domain/uploads.js';
import { $, button } from './dom.js';

export class UploadView {
  /** @param {object} shell  { rooms, announcer } */
  constructor(shell) {
    this.shell = shell;
    this.ui = {
      attach: $('attach'),
      picker: $('attach-input'),
      list: $('upload-list'),
      room: $('chat-room'),
      scroller: $('message-scroller'),
      dropHint: $('drop-hint'),
      input: $('composer-input'),
    };
    /** Rooms whose queue this view listens to. */
    this.watched = new WeakSet();
    /** Nested dragenter/dragleave pairs over the message list. */
    this.dragDepth = 0;
    this.#listen();
  }

  get vm() {
    return this.shell.rooms.shown;
  }

  #listen() {
    const { ui } = this;
    ui.attach.addEventListener('click', () => ui.picker.click());
    ui.picker.addEventListener('change', () => {
      this.add([...ui.picker.files]);
      ui.picker.value = ''; // the same file may be chosen again
    });
    // Files dragged over the message list: it shows where they would go.
    const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes('Files');
    ui.scroller.addEventListener('dragenter', (event) => {
      if (!carriesFiles(event) || !this.vm) return;
      event.preventDefault();
      this.dragDepth += 1;
      this.#showDropHint(true);
    });
    ui.scroller.addEventListener('dragover', (event) => {
      if (!carriesFiles(event) || !this.vm) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
    });
    ui.scroller.addEventListener('dragleave', () => {
      this.dragDepth = Math.max(0, this.dragDepth - 1);
      if (this.dragDepth === 0) this.#showDropHint(false);
    });
    ui.scroller.addEventListener('drop', (event) => {
      this.dragDepth = 0;
      this.#showDropHint(false);
      if (!carriesFiles(event)) return;
      event.preventDefault();
      this.add([...event.dataTransfer.files]);
    });
    // An image (or any file) pasted into the composer is attached; pasted
    // text is pasted as usual.
    ui.input.addEventListener('paste', (event) => {
      const files = [...(event.clipboardData?.files ?? [])];
      if (files.length === 0) return;
      if (!event.clipboardData.types.includes('text/plain')) event.preventDefault();
      this.add(files);
    });
  }

  #showDropHint(on) {
    const vm = this.vm;
    this.ui.room.classList.toggle('dropping', on);
    this.ui.dropHint.hidden = !on;
    if (on && vm) {
      this.ui.dropHint.textContent = `Drop to attach to your message in ${vm.direct ? `@${vm.room.peer}` : `#${vm.name}`}`;
    }
  }

  /** Starts uploading `files` to the room shown. */
  add(files) {
    const vm = this.vm;
    if (!vm || files.length === 0) return;
    for (const file of files) vm.upload(file);
    this.ui.input.focus();
  }

  /** The room shown changed: its chips (the queue of each room stays its own). */
  show(vm) {
    if (vm && !this.watched.has(vm)) {
      this.watched.add(vm);
      vm.uploads.addEventListener('change', ({ detail }) => {
        if (this.vm === vm) this.render(vm);
        this.#announce(vm, detail.key);
      });
    }
    this.render(vm);
  }

  /** Says when a file is ready or was refused (the chip shows it too). */
  #announce(vm, key) {
    const item = key === undefined ? null : vm.uploads.item(key);
    if (!item || this.vm !== vm) return;
    if (item.state === READY) this.shell.announcer.say(`${item.name} uploaded. It goes with your next message.`);
    if (item.state === FAILED) this.shell.announcer.say(`${item.name} not uploaded: ${describeError(item.error)}`);
  }

  /** Draws the chips of `vm`'s queue, updating the ones already drawn. */
  render(vm) {
    const { list } = this.ui;
    const items = vm ? vm.uploads.items : [];
    const drawn = new Map([...list.children].map((li) => [li.dataset.key, li]));
    const keep = new Set();
    let previous = null;
    for (const item of items) {
      const key = String(item.key);
      keep.add(key);
      let li = drawn.get(key);
      if (!li) li = this.#chip(vm, item);
      this.#update(li, item);
      if (li.previousElementSibling !== previous || li.parentNode !== list) {
        if (previous) previous.after(li);
        else list.prepend(li);
      }
      previous = li;
    }
    for (const [key, li] of drawn) if (!keep.has(key)) li.remove();
    list.hidden = items.length === 0;
  }

  #chip(vm, item) {
    const li = document.createElement('li');
    li.className = 'upload';
    li.dataset.key = String(item.key);
    const name = document.createElement('span');
    name.className = 'upload-name';
    name.textContent = item.name;
    name.title = item.name;
    const status = document.createElement('span');
    status.className = 'upload-status';
    const bar = document.createElement('progress');
    bar.max = 100;
    bar.setAttribute('aria-label', `Uploading ${item.name}`);
    const remove = button('✕', 'quiet icon upload-remove');
    remove.addEventListener('click', () => {
      const next = li.nextElementSibling ?? li.previousElementSibling;
      vm.removeUpload(item.key);
      // The focus goes to the next chip's button, or back to writing.
      (next?.querySelector('button') ?? this.ui.input).focus();
    });
    li.append(name, status, bar, remove);
    return li;
  }

  #update(li, item) {
    li.dataset.state = item.state;
    const percent = Math.round(fraction(item) * 100);
    const bar = li.querySelector('progress');
    bar.hidden = item.state !== UPLOADING;
    bar.value = percent;
    const status = li.querySelector('.upload-status');
    const text =
      item.state === UPLOADING
        ? `${percent}% of ${formatSize(item.size)}`
        : item.state === READY
          ? formatSize(item.size)
          : describeError(item.error);
    if (status.textContent !== text) status.textContent = text;
    status.classList.toggle('error', item.state === FAILED);
    const remove = li.querySelector('.upload-remove');
    const label = item.state === UPLOADING ? `Cancel upload of ${item.name}` : `Remove ${item.name}`;
    if (remove.getAttribute('aria-label') !== label) {
      remove.setAttribute('aria-label', label);
      remove.title = item.state === UPLOADING ? 'Cancel upload' : 'Remove';
    }
  }
}
