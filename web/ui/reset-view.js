// Password reset on the sign-in page (README, "Accounts"), when the server
// sends mail (`GET /config` → `mail`): "Forgot password?" under the log-in
// form asks for the account's verified address and asks the server to mail
// a link; the link (`PUBLIC_URL/#reset=TOKEN`) opens this page with a form
// for the new password, after which the person logs in with it. While one of
// these panels shows, the log-in form is hidden; "Back to log in" returns.

import { describeError, publicRequest } from '../api.js';
import { $, button, setBusy } from './dom.js';

const RESET_PREFIX = '#reset=';

function panel(id, { label, type, autocomplete, hint, submit }) {
  const form = document.createElement('form');
  form.id = id;
  form.className = 'stack';
  form.hidden = true;
  const wrap = document.createElement('div');
  wrap.className = 'field';
  const l = document.createElement('label');
  l.htmlFor = `${id}-input`;
  l.textContent = label;
  const input = document.createElement('input');
  input.id = `${id}-input`;
  input.type = type;
  input.required = true;
  input.autocomplete = autocomplete;
  const p = document.createElement('p');
  p.className = 'hint';
  p.id = `${id}-hint`;
  p.textContent = hint;
  input.setAttribute('aria-describedby', p.id);
  wrap.append(l, input, p);
  const error = document.createElement('p');
  error.className = 'error';
  error.setAttribute('role', 'alert');
  const done = document.createElement('p');
  done.className = 'notice';
  done.setAttribute('role', 'status');
  const actions = document.createElement('div');
  actions.className = 'actions';
  const go = document.createElement('button');
  go.type = 'submit';
  go.textContent = submit;
  const back = button('Back to log in', 'link');
  actions.append(go, back);
  form.append(wrap, error, done, actions);
  return { form, input, error, done, back };
}

export class ResetView {
  /** @param {object} config  GET /config; `onDone()` shows the log-in form. */
  constructor(config, onDone) {
    this.onDone = onDone;
    this.available = config.mail === true;
    this.ui = {
      view: $('auth-view'),
      title: $('auth-title'),
      lead: $('auth-lead'),
      form: $('auth-form'),
    };
    this.forgot = panel('forgot-form', {
      label: 'Email address',
      type: 'email',
      autocomplete: 'email',
      hint: 'The verified address of your account.',
      submit: 'Send reset link',
    });
    this.reset = panel('reset-form', {
      label: 'New password',
      type: 'password',
      autocomplete: 'new-password',
      hint: 'At least 8 characters. Every device signed in to your account is signed out.',
      submit: 'Set new password',
    });
    this.reset.input.minLength = 8;
    this.reset.input.maxLength = 128;
    this.forgot.input.maxLength = 254;
    this.notice = document.createElement('p');
    this.notice.className = 'notice';
    this.notice.setAttribute('role', 'status');
    this.ui.lead.after(this.notice);
    this.link = button('Forgot password?', 'link');
    this.link.id = 'auth-forgot';
    this.link.hidden = !this.available;
    this.ui.view.append(this.link, this.forgot.form, this.reset.form);
    this.link.addEventListener('click', () => this.#show(this.forgot, 'Reset your password',
      'We mail a link to choose a new password to your verified address.'));
    for (const p of [this.forgot, this.reset]) p.back.addEventListener('click', () => this.#leave(''));
    this.forgot.form.addEventListener('submit', (event) => this.#askForLink(event));
    this.reset.form.addEventListener('submit', (event) => this.#setPassword(event));
    // A link opened in this tab while the sign-in page shows.
    window.addEventListener('hashchange', () => {
      if (!this.ui.view.hidden) this.openFromLink();
    });
  }

  /** The log-in mode is shown: offer "Forgot password?" there only. */
  setMode(mode) {
    this.link.hidden = !this.available || mode !== 'login';
  }

  /** Opens the new-password form when the page was opened from a reset link. */
  openFromLink() {
    if (!location.hash.startsWith(RESET_PREFIX)) return false;
    this.token = decodeURIComponent(location.hash.slice(RESET_PREFIX.length));
    history.replaceState(null, '', location.pathname + location.search);
    this.ui.view.hidden = false;
    this.#show(this.reset, 'Choose a new password', 'Then log in with it.');
    return true;
  }

  #show(p, title, lead) {
    this.saved ??= { title: this.ui.title.textContent, lead: this.ui.lead.textContent };
    this.ui.title.textContent = title;
    this.ui.lead.textContent = lead;
    this.ui.form.hidden = true;
    this.link.hidden = true;
    this.notice.textContent = '';
    for (const other of [this.forgot, this.reset]) other.form.hidden = other !== p;
    p.error.textContent = '';
    p.done.textContent = '';
    p.input.focus();
  }

  #leave(message) {
    for (const p of [this.forgot, this.reset]) {
      p.form.reset();
      p.form.hidden = true;
    }
    if (this.saved) {
      this.ui.title.textContent = this.saved.title;
      this.ui.lead.textContent = this.saved.lead;
      this.saved = null;
    }
    this.ui.form.hidden = false;
    this.link.hidden = !this.available;
    this.onDone();
    this.notice.textContent = message;
  }

  async #askForLink(event) {
    event.preventDefault();
    const { form, input, error, done } = this.forgot;
    error.textContent = '';
    done.textContent = '';
    setBusy(form, true);
    try {
      await publicRequest('POST', '/auth/password-reset', { email: input.value.trim() });
      done.textContent = `If ${input.value.trim()} is the verified address of an account, a link is on its way. It works once, for 30 minutes.`;
    } catch (err) {
      error.textContent = describeError(err, { invalid_email: 'That is not an email address.' });
      input.focus();
    } finally {
      setBusy(form, false);
    }
  }

  async #setPassword(event) {
    event.preventDefault();
    const { form, input, error } = this.reset;
    error.textContent = '';
    setBusy(form, true);
    try {
      await publicRequest('POST', '/auth/password-reset/confirm', {
        token: this.token,
        new_password: input.value,
      });
      this.token = null;
      this.#leave('Your password is changed. Log in with the new one.');
    } catch (err) {
      error.textContent = describeError(err, {
        invalid_token: 'This reset link was already used or has expired. Ask for a new one with “Forgot password?”.',
        weak_password: 'Choose a password of 8 to 128 characters.',
      });
      input.focus();
    } finally {
      setBusy(form, false);
    }
  }
}
