// A message's files, drawn under its body: an image as its thumbnail (a
// button that opens the full image in the image dialog), any other file as
// a card with an icon (its extension on a page), its name, its size and a
// download link. Every address
// is the one the server put in the `file` object: a signed URL of this
// origin that works without a token for a while (the README, "Files"), so
// <img> and <a download> use it as it is. The server decides how a file is
// served (`inline` only for images and plain text); nothing here renders a
// file's content.
//
// `ImageViewer` is the image dialog: the full image, its name, a download
// link; Escape, the ✕ button or a click beside the image closes it, and the
// focus goes back to the thumbnail that opened it.

import { formatSize } from '../domain/uploads.js';
import { $, button } from './dom.js';

/** A thumbnail is shown at most this large (the server's are 320 px at most). */
const THUMB_WIDTH = 320;
const THUMB_HEIGHT = 240;

/** What the card's icon says: the name's extension (at most 4 letters), or
 * the kind of file. */
function labelOf(file) {
  const ext = /\.([A-Za-z0-9]{1,4})$/.exec(file.name ?? '')?.[1];
  if (ext) return ext.toUpperCase();
  const type = file.content_type ?? '';
  if (type.startsWith('text/')) return 'TXT';
  return type.split('/')[0] === 'application' ? 'FILE' : (type.split('/')[0] || 'FILE').toUpperCase().slice(0, 4);
}

/** The size an image is drawn at: within the thumbnail box, proportions kept. */
export function thumbnailSize(image) {
  const width = Math.max(1, Number(image?.width) || THUMB_WIDTH);
  const height = Math.max(1, Number(image?.height) || THUMB_HEIGHT);
  const scale = Math.min(1, THUMB_WIDTH / width, THUMB_HEIGHT / height);
  return { width: Math.max(1, Math.round(width * scale)), height: Math.max(1, Math.round(height * scale)) };
}

/** Whether a file is shown as an image (the server measured it as one). */
const isImage = (file) => Boolean(file.image && (file.thumbnail_url || file.url));

/**
 * A message's files as one group. `on.open(file, opener)` opens an image in
 * the dialog; `on.expired()` is called when a thumbnail does not load (its
 * link expired: the message is read again and drawn anew).
 */
export function renderAttachments(files, on) {
  const group = document.createElement('div');
  group.className = 'attachments';
  group.setAttribute('role', 'group');
  group.setAttribute('aria-label', files.length === 1 ? 'Attached file' : `${files.length} attached files`);
  for (const file of files) {
    group.append(isImage(file) ? renderImage(file, on) : renderFile(file));
  }
  return group;
}

function renderImage(file, on) {
  const open = button('', 'attachment-image');
  open.dataset.focus = `file:${file.id}`;
  open.dataset.fileId = String(file.id);
  open.setAttribute('aria-label', `Open image ${file.name}`);
  open.title = file.name;
  const img = document.createElement('img');
  const { width, height } = thumbnailSize(file.image);
  img.width = width;
  img.height = height;
  img.alt = file.name;
  img.decoding = 'async';
  img.src = file.thumbnail_url ?? file.url;
  img.addEventListener(
    'error',
    () => {
      open.classList.add('broken');
      on.expired();
    },
    { once: true },
  );
  open.append(img);
  open.addEventListener('click', () => on.open(file, open));
  return open;
}

function renderFile(file) {
  const card = document.createElement('div');
  card.className = 'file-card';
  card.dataset.fileId = String(file.id);
  const icon = document.createElement('span');
  icon.className = 'file-icon';
  icon.setAttribute('aria-hidden', 'true');
  icon.textContent = labelOf(file);
  const about = document.createElement('div');
  about.className = 'file-about';
  const name = document.createElement('span');
  name.className = 'file-name';
  name.textContent = file.name;
  name.title = file.name;
  const size = document.createElement('span');
  size.className = 'file-size';
  size.textContent = formatSize(file.size);
  about.append(name, size);
  const download = document.createElement('a');
  download.className = 'file-download';
  download.href = file.url;
  download.download = file.name;
  download.dataset.focus = `file:${file.id}`;
  download.textContent = 'Download';
  download.setAttribute('aria-label', `Download ${file.name} (${formatSize(file.size)})`);
  card.append(icon, about, download);
  return card;
}

/** The image dialog (`#image-dialog` in index.html). */
export class ImageViewer {
  constructor() {
    this.ui = {
      dialog: $('image-dialog'),
      title: $('image-title'),
      img: $('image-full'),
      download: $('image-download'),
      close: $('image-close'),
      error: $('image-error'),
    };
    /** The file shown, the element to give the focus back to, and how to
     * get fresh links for it. */
    this.file = null;
    this.opener = null;
    this.fresh = async () => null;
    const { ui } = this;
    ui.close.addEventListener('click', () => ui.dialog.close());
    // A click on the backdrop (the dialog itself, outside its content) closes it.
    ui.dialog.addEventListener('click', (event) => {
      if (event.target === ui.dialog) ui.dialog.close();
    });
    ui.img.addEventListener('error', () => this.#failed());
    ui.dialog.addEventListener('close', () => {
      const opener = this.opener;
      this.file = null;
      this.opener = null;
      ui.img.removeAttribute('src');
      if (opener?.isConnected) opener.focus({ preventScroll: true });
    });
  }

  /** Shows `file` full size; `opener` gets the focus back on closing.
   * `fresh()` resolves to the file with fresh links (or nothing), asked once
   * if the image does not load. */
  open(file, opener, fresh = async () => null) {
    const { ui } = this;
    this.file = file;
    this.opener = opener;
    this.fresh = fresh;
    ui.error.textContent = '';
    ui.title.textContent = file.name;
    ui.img.alt = file.name;
    if (file.image) {
      ui.img.width = file.image.width;
      ui.img.height = file.image.height;
    }
    ui.img.src = file.url;
    ui.download.href = file.url;
    ui.download.download = file.name;
    ui.download.setAttribute('aria-label', `Download ${file.name} (${formatSize(file.size)})`);
    if (!ui.dialog.open) ui.dialog.showModal();
    ui.close.focus();
  }

  close() {
    if (this.ui.dialog.open) this.ui.dialog.close();
  }

  /** The image did not load: once with fresh links, then say so. */
  async #failed() {
    const file = this.file;
    if (!file) return;
    const fresh = this.fresh;
    this.fresh = async () => null;
    const again = await fresh();
    if (this.file !== file) return; // closed or another image meanwhile
    if (again?.url && again.url !== file.url) {
      this.file = again;
      this.ui.img.src = again.url;
      this.ui.download.href = again.url;
      return;
    }
    this.ui.error.textContent = 'This image cannot be shown: it has been removed, or the server cannot be reached.';
  }

  /** Closes the dialog when its image is no longer on the page (its
   * message was deleted); `fallback` then gets the focus. */
  closeIfGone(fallback) {
    if (!this.file || !this.ui.dialog.open) return;
    if (document.querySelector(`.message-list [data-file-id="${CSS.escape(String(this.file.id))}"]`)) return;
    this.opener = fallback;
    this.ui.dialog.close();
  }
}
