// Settings › Two-factor authentication: off → "Set up" shows a QR code of
// the otpauth:// URI (and the secret as text, for typing), a code from the
// app turns it on and shows the ten recovery codes once; on → a code (or a
// recovery code) turns it off. The account's state is read from GET /me.

import { describeError } from '../../api.js';
import { button, setBusy } from '../dom.js';

const SVG = 'http://www.w3.org/2000/svg';

/** `text` as a QR code: SVG squares built here (the library only computes). */
function qrCode(text) {
  const qr = globalThis.qrcode(0, 'M');
  qr.addData(text);
  qr.make();
  const n = qr.getModuleCount();
  const quiet = 4;
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', `0 0 ${n + 2 * quiet} ${n + 2 * quiet}`);
  svg.setAttribute('class', 'qr');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'QR code for your authenticator app');
  const back = document.createElementNS(SVG, 'rect');
  back.setAttribute('width', String(n + 2 * quiet));
  back.setAttribute('height', String(n + 2 * quiet));
  back.setAttribute('fill', '#fff');
  svg.append(back);
  let d = '';
  for (let r = 0; r < n; r += 1) {
    for (let c = 0; c < n; c += 1) if (qr.isDark(r, c)) d += `M${c + quiet} ${r + quiet}h1v1h-1z`;
  }
  const path = document.createElementNS(SVG, 'path');
  path.setAttribute('d', d);
  path.setAttribute('fill', '#000');
  svg.append(path);
  return svg;
}

function codeForm(labelText, buttonText, onCode) {
  const form = document.createElement('form');
  form.className = 'inline-form';
  const id = `totp-code-${buttonText.replace(/\W+/g, '-').toLowerCase()}`;
  const label = document.createElement('label');
  label.htmlFor = id;
  label.textContent = labelText;
  const input = document.createElement('input');
  input.id = id;
  input.required = true;
  input.maxLength = 32;
  input.autocomplete = 'one-time-code';
  input.spellcheck = false;
  const submit = document.createElement('button');
  submit.type = 'submit';
  submit.textContent = buttonText;
  form.append(label, input, submit);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    setBusy(form, true);
    try {
      await onCode(input.value.trim());
      input.value = '';
    } finally {
      setBusy(form, false);
    }
  });
  return { form, input };
}

export const twoFactorSection = {
  id: 'two-factor',
  title: 'Two-factor authentication',
  /** @param {object} shell  { session, announcer } */
  create(shell) {
    const element = document.createElement('div');
    const state = document.createElement('p');
    const body = document.createElement('div');
    body.className = 'stack totp-body';
    const error = document.createElement('p');
    error.className = 'error';
    error.setAttribute('role', 'alert');
    element.append(state, body, error);

    const fail = (err) => {
      error.textContent = describeError(err);
    };

    const showOff = () => {
      state.textContent = 'Off. Turn it on to need a code from an authenticator app at every login.';
      const start = button('Set up two-factor authentication');
      start.addEventListener('click', async () => {
        error.textContent = '';
        try {
          showSetup(await shell.session.request('POST', '/me/totp', {}));
        } catch (err) {
          fail(err);
        }
      });
      body.replaceChildren(start);
    };

    const showSetup = ({ secret, otpauth_uri: uri }) => {
      state.textContent = 'Scan this QR code with your authenticator app, then enter the code it shows.';
      const secretLine = document.createElement('p');
      secretLine.className = 'hint';
      const code = document.createElement('code');
      code.className = 'totp-secret';
      code.textContent = secret;
      secretLine.append('Or type this key into the app: ', code);
      const { form, input } = codeForm('Code from the app', 'Turn on', async (value) => {
        error.textContent = '';
        try {
          const { recovery_codes: codes } = await shell.session.request('POST', '/me/totp/confirm', { code: value });
          showCodes(codes);
        } catch (err) {
          fail(err);
          input.focus();
        }
      });
      input.inputMode = 'numeric';
      body.replaceChildren(qrCode(uri), secretLine, form);
      input.focus();
    };

    const showCodes = (codes) => {
      state.textContent = 'On. Save these recovery codes somewhere safe: each one signs you in once if you lose your phone. They are not shown again.';
      const list = document.createElement('ol');
      list.className = 'recovery-codes';
      list.setAttribute('aria-label', 'Recovery codes');
      for (const c of codes) {
        const item = document.createElement('li');
        const code = document.createElement('code');
        code.textContent = c;
        item.append(code);
        list.append(item);
      }
      const doneButton = button('I saved them');
      doneButton.addEventListener('click', () => showOn());
      body.replaceChildren(list, doneButton);
      shell.announcer.say('Two-factor authentication is on.');
    };

    const showOn = () => {
      state.textContent = 'On. Logins need a code from your authenticator app (or a recovery code).';
      const { form } = codeForm('Code or recovery code', 'Turn off', async (value) => {
        error.textContent = '';
        try {
          await shell.session.request('DELETE', '/me/totp', { code: value });
          shell.announcer.say('Two-factor authentication is off.');
          showOff();
        } catch (err) {
          fail(err);
        }
      });
      body.replaceChildren(form);
    };

    return {
      element,
      open: async () => {
        error.textContent = '';
        try {
          const me = await shell.session.request('GET', '/me');
          if (me.totp_enabled) showOn();
          else showOff();
        } catch (err) {
          fail(err);
        }
      },
      close: () => body.replaceChildren(),
    };
  },
};
