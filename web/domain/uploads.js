// The pending attachments of one room's composer: the files being uploaded
// (with their progress), uploaded (with the server's `file` object, ready to
// go with the next message), or refused (with the reason), in the order they
// were added. Pure state: no DOM, no network. The room's view model runs
// each upload (`POST …/files`, api.js) and reports here; the upload view
// draws what this holds (e2e/view-models.test.mjs tests it under Node).
//
// Events: `change` (detail: { key }: that item changed, was added or
// removed; no key: several did).

/** The state of one pending attachment. */
export const UPLOADING = 'uploading';
export const READY = 'ready';
export const FAILED = 'failed';

export class UploadQueue extends EventTarget {
  #items = [];
  #nextKey = 1;

  /**
   * @param {object} limits  the server's, from `GET /config` when it says
   *   them: `maxBytes` (a file over it is refused before any byte is sent)
   *   and `maxCount` (attachments of one message). Unknown: the server says.
   */
  constructor({ maxBytes = null, maxCount = null } = {}) {
    super();
    this.maxBytes = Number.isFinite(maxBytes) ? maxBytes : null;
    this.maxCount = Number.isFinite(maxCount) ? maxCount : null;
  }

  #emit(key) {
    this.dispatchEvent(new CustomEvent('change', { detail: key === undefined ? {} : { key } }));
  }

  /** Every pending attachment, in the order added (copies). */
  get items() {
    return this.#items.map((item) => ({ ...item }));
  }

  item(key) {
    const found = this.#items.find((i) => i.key === key);
    return found ? { ...found } : null;
  }

  get size() {
    return this.#items.length;
  }

  /** Whether an upload is still running (the message waits for it). */
  get busy() {
    return this.#items.some((i) => i.state === UPLOADING);
  }

  /** The uploaded files, as the server described them, in order. */
  get ready() {
    return this.#items.filter((i) => i.state === READY).map((i) => i.file);
  }

  /**
   * A file chosen, dropped or pasted: `{ name, size, type }`. Returns its
   * item: `uploading`, or `failed` at once when a limit the server gave
   * already says no (the upload is then not started).
   */
  add({ name, size, type }) {
    const item = {
      key: this.#nextKey++,
      name: name || 'file',
      size: Number(size) || 0,
      type: type || '',
      loaded: 0,
      state: UPLOADING,
      file: null,
      error: null,
    };
    const counted = this.#items.filter((i) => i.state !== FAILED).length;
    if (this.maxBytes !== null && item.size > this.maxBytes) {
      item.state = FAILED;
      item.error = { status: 413, code: 'file_too_large', limit: this.maxBytes };
    } else if (this.maxCount !== null && counted >= this.maxCount) {
      item.state = FAILED;
      item.error = { status: 400, code: 'too_many_attachments', limit: this.maxCount };
    }
    this.#items.push(item);
    this.#emit(item.key);
    return { ...item };
  }

  /** Bytes sent so far; never more than the file, never backwards. */
  progress(key, loaded) {
    const item = this.#find(key, UPLOADING);
    if (!item || !Number.isFinite(loaded)) return;
    const next = Math.min(item.size, Math.max(item.loaded, loaded));
    if (next === item.loaded) return;
    item.loaded = next;
    this.#emit(key);
  }

  /** The server stored it: `file` is its answer (with `id`). */
  done(key, file) {
    const item = this.#find(key, UPLOADING);
    if (!item) return false;
    item.state = READY;
    item.loaded = item.size;
    item.file = file;
    this.#emit(key);
    return true;
  }

  /** The upload failed or was refused; `error` says why (an ApiError). */
  failed(key, error) {
    const item = this.#find(key, UPLOADING);
    if (!item) return false;
    item.state = FAILED;
    item.error = error;
    this.#emit(key);
    return true;
  }

  /** Drops one (cancelled or removed); returns it, so that a running
   * upload can be aborted, or null if it was gone. */
  remove(key) {
    const i = this.#items.findIndex((item) => item.key === key);
    if (i < 0) return null;
    const [item] = this.#items.splice(i, 1);
    this.#emit(key);
    return item;
  }

  /**
   * What the next message carries: the ready files, taken out of the queue
   * (refused ones stay, with their reason, until removed). Null while an
   * upload still runs.
   */
  take() {
    if (this.busy) return null;
    const files = this.ready;
    if (files.length === 0) return [];
    this.#items = this.#items.filter((i) => i.state !== READY);
    this.#emit();
    return files;
  }

  /** Files of a message that was not sent go back, ready to try again. */
  putBack(files) {
    if (files.length === 0) return;
    const back = files.map((file) => ({
      key: this.#nextKey++,
      name: file.name,
      size: file.size,
      type: file.content_type ?? '',
      loaded: file.size,
      state: READY,
      file,
      error: null,
    }));
    this.#items = [...back, ...this.#items];
    this.#emit();
  }

  /** Forgets everything; returns the items that were uploading. */
  clear() {
    const running = this.#items.filter((i) => i.state === UPLOADING);
    this.#items = [];
    this.#emit();
    return running;
  }

  #find(key, state) {
    return this.#items.find((i) => i.key === key && i.state === state) ?? null;
  }
}

/** How far an upload has gone, 0 to 1. */
export const fraction = (item) => (item.size > 0 ? item.loaded / item.size : item.state === UPLOADING ? 0 : 1);

/** A size as people read it: "512 bytes", "12 KB", "3.4 MB". */
export function formatSize(bytes) {
  const n = Number(bytes) || 0;
  if (n < 1024) return n === 1 ? '1 byte' : `${n} bytes`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value >= 10 ? Math.round(value) : Math.round(value * 10) / 10} ${units[unit]}`;
}
