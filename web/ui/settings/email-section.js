// Settings › Email: the address (with a "Verified" badge once its code was
// confirmed), a form to set it, and, after setting it, a field for the
// 6-digit code the server mailed (README, "Accounts"). Shown only when the
// server sends mail (`GET /config` → `mail`).

import { describeError } from '../../api.js';
import { badge, setBusy } from '../dom.js';

function field(form, id, label, type, hint) {
  const wrap = document.createElement('div');
  wrap.className = 'field';
  const l = document.createElement('label');
  l.htmlFor = id;
  l.textContent = label;
  const input = document.createElement('input');
  input.id = id;
  input.type = type;
  input.required = true;
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
  return { wrap, input };
}

function submitRow(form, text) {
  const actions = document.createElement('div');
  actions.className = 'actions';
  const submit = document.createElement('button');
  submit.type = 'submit';
  submit.textContent = text;
  actions.append(submit);
  form.append(actions);
}

function messageLines(form) {
  const error = document.createElement('p');
  error.className = 'error';
  error.setAttribute('role', 'alert');
  const done = document.createElement('p');
  done.className = 'notice';
  done.setAttribute('role', 'status');
  form.append(error, done);
  return { error, done };
}

export const emailSection = {
  id: 'email',
  title: 'Email',
  available: (config) => config.mail === true,
  /** @param {object} shell  { session } */
  create(shell) {
    const element = document.createElement('div');
    element.className = 'stack';
    const current = document.createElement('p');
    current.id = 'email-current';
    const setForm = document.createElement('form');
    setForm.className = 'stack';
    const address = field(
      setForm,
      'email-address',
      'Email address',
      'email',
      'For resetting your password. We mail it a 6-digit code to check it is yours.',
    ).input;
    address.autocomplete = 'email';
    address.maxLength = 254;
    const setLines = messageLines(setForm);
    submitRow(setForm, 'Send code');
    const codeForm = document.createElement('form');
    codeForm.className = 'stack';
    codeForm.hidden = true;
    const code = field(codeForm, 'email-code', 'Code from the mail', 'text', 'Good for 30 minutes.').input;
    code.autocomplete = 'one-time-code';
    code.inputMode = 'numeric';
    code.maxLength = 6;
    code.pattern = '[0-9]{6}';
    const codeLines = messageLines(codeForm);
    submitRow(codeForm, 'Verify');
    element.append(current, setForm, codeForm);

    const show = (user) => {
      current.replaceChildren();
      if (!user?.email) {
        current.textContent = 'No address yet.';
        return;
      }
      const strong = document.createElement('strong');
      strong.textContent = user.email;
      current.append('Your address: ', strong, ' ');
      current.append(user.email_verified ? badge('Verified', 'verified') : badge('Not verified', 'unverified'));
    };
    const load = async () => {
      try {
        show(await shell.session.request('GET', '/me'));
      } catch (err) {
        setLines.error.textContent = describeError(err);
      }
    };

    setForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      setLines.error.textContent = '';
      setLines.done.textContent = '';
      setBusy(setForm, true);
      try {
        show(await shell.session.request('PUT', '/me/email', { email: address.value.trim() }));
        setLines.done.textContent = `We mailed a code to ${address.value.trim()}.`;
        codeForm.hidden = false;
        code.value = '';
        code.focus();
      } catch (err) {
        setLines.error.textContent = describeError(err, {
          invalid_email: 'That is not an email address.',
        });
        address.focus();
      } finally {
        setBusy(setForm, false);
      }
    });
    codeForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      codeLines.error.textContent = '';
      codeLines.done.textContent = '';
      setBusy(codeForm, true);
      try {
        show(await shell.session.request('POST', '/me/email/verify', { code: code.value.trim() }));
        codeForm.reset();
        codeForm.hidden = true;
        setLines.done.textContent = '';
        codeLines.done.textContent = '';
        current.focus?.();
        shell.announcer?.say?.('Your email address is verified.');
      } catch (err) {
        codeLines.error.textContent = describeError(err, {
          invalid_code: 'That code is not right, or it expired. After 5 wrong tries, send a new one.',
          email_taken: 'Another account already uses this address.',
        });
        code.select();
      } finally {
        setBusy(codeForm, false);
      }
    });
    return {
      element,
      open: () => {
        setLines.error.textContent = '';
        setLines.done.textContent = '';
        codeLines.error.textContent = '';
        load();
      },
      close: () => {
        setForm.reset();
        codeForm.reset();
        codeForm.hidden = true;
      },
    };
  },
};
