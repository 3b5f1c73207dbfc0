// Settings › Password: the current password and a new one. The server
// signs every session out (this one included) and answers a new session,
// which this page takes at once; other devices go back to signing in.

import { describeError } from '../../api.js';
import { setBusy } from '../dom.js';

function field(form, id, label, autocomplete, hint) {
  const wrap = document.createElement('div');
  wrap.className = 'field';
  const l = document.createElement('label');
  l.htmlFor = id;
  l.textContent = label;
  const input = document.createElement('input');
  input.id = id;
  input.type = 'password';
  input.required = true;
  input.maxLength = 128;
  input.autocomplete = autocomplete;
  wrap.append(l, input);
  if (hint) {
    const p = document.createElement('p');
    p.className = 'hint';
    p.id = `${id}-hint`;
    p.textContent = hint;
    input.setAttribute('aria-describedby', p.id);
    wrap.append(p);
  }
  form.append(wrap);
  return input;
}

export const passwordSection = {
  id: 'password',
  title: 'Change password',
  /** @param {object} shell  { session, announcer } */
  create(shell) {
    const form = document.createElement('form');
    form.className = 'stack';
    const current = field(form, 'password-current', 'Current password', 'current-password');
    const next = field(
      form,
      'password-new',
      'New password',
      'new-password',
      'At least 8 characters. Every other device is signed out.',
    );
    next.minLength = 8;
    const error = document.createElement('p');
    error.className = 'error';
    error.setAttribute('role', 'alert');
    const done = document.createElement('p');
    done.className = 'notice';
    done.setAttribute('role', 'status');
    const actions = document.createElement('div');
    actions.className = 'actions';
    const submit = document.createElement('button');
    submit.type = 'submit';
    submit.textContent = 'Change password';
    actions.append(submit);
    form.append(error, done, actions);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      error.textContent = '';
      done.textContent = '';
      setBusy(form, true);
      try {
        const auth = await shell.session.request('POST', '/me/password', {
          current_password: current.value,
          new_password: next.value,
        });
        shell.session.adopt(auth);
        form.reset();
        done.textContent = 'Password changed. Your other devices were signed out.';
      } catch (err) {
        error.textContent = describeError(err, { invalid_credentials: 'That is not your current password.' });
        current.focus();
      } finally {
        setBusy(form, false);
      }
    });
    return {
      element: form,
      open: () => {
        error.textContent = '';
        done.textContent = '';
      },
      close: () => form.reset(),
    };
  },
};
