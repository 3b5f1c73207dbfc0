// One confirmation dialog for acts that cannot be taken back (removing or
// banning someone): a native modal <dialog>, so focus stays inside it and
// Escape cancels; Cancel has focus first, and focus goes back where it was.

import { $ } from './dom.js';

/**
 * Asks `{ title, text, confirm }` (confirm: the button's words, e.g. "Remove").
 * Resolves true only when the person chose that button.
 */
export function confirmAction({ title, text, confirm }) {
  const dialog = $('confirm-dialog');
  const ok = $('confirm-ok');
  const cancel = $('confirm-cancel');
  const back = document.activeElement;
  $('confirm-title').textContent = title;
  $('confirm-text').textContent = text;
  ok.textContent = confirm;
  return new Promise((resolve) => {
    let answer = false;
    const choose = (value) => () => {
      answer = value;
      dialog.close();
    };
    const onOk = choose(true);
    const onCancel = choose(false);
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener(
      'close',
      () => {
        ok.removeEventListener('click', onOk);
        cancel.removeEventListener('click', onCancel);
        if (back instanceof HTMLElement && back.isConnected) back.focus();
        resolve(answer);
      },
      { once: true },
    );
    dialog.showModal();
    cancel.focus();
  });
}
