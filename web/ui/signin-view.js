// The sign-in page's two modes: "Log in" (the default) and "Create account".
// The visible mode owns the form's primary button, which is the first submit
// button in the form, so Enter does what the page says. The other mode is
// one switch button below ("New to Parley? Create account"): clicked with
// both fields filled, it switches and does what it says; clicked with them
// empty, it only switches. The shell (app.js) asks `action(event)` what a
// submission means.

import { $ } from './dom.js';

const MODES = {
  login: {
    title: 'Log in to Parley',
    lead: 'Welcome back. Log in with your username and password.',
    switchText: 'New to Parley?',
    passwordHint: 'The password you chose when you created your account.',
    autocomplete: 'current-password',
  },
  signup: {
    title: 'Create your Parley account',
    lead: 'Choose a username and a password; you are signed in at once.',
    switchText: 'Already have an account?',
    passwordHint: 'At least 8 characters.',
    autocomplete: 'new-password',
  },
};

export class SignInView {
  constructor() {
    this.ui = {
      view: $('auth-view'),
      title: $('auth-title'),
      lead: $('auth-lead'),
      form: $('auth-form'),
      username: $('auth-username'),
      password: $('auth-password'),
      passwordHint: $('auth-password-hint'),
      actions: $('auth-actions'),
      switchLine: $('auth-switch'),
      switchText: $('auth-switch-text'),
      error: $('auth-error'),
      totpField: $('auth-totp-field'),
      totp: $('auth-totp'),
      buttons: { login: $('auth-login'), signup: $('auth-signup') },
    };
    this.mode = 'login';
    /** Told each mode shown (app.js: "Forgot password?" only when logging in). */
    this.onMode = null;
    this.setMode('login');
  }

  /** Shows `mode`: its title, its primary button first, the other as the switch. */
  setMode(mode) {
    const { ui } = this;
    const m = MODES[mode];
    const other = mode === 'login' ? 'signup' : 'login';
    this.mode = mode;
    this.onMode?.(mode);
    ui.view.dataset.mode = mode;
    if (mode !== 'login') this.askForCode(false);
    ui.title.textContent = m.title;
    ui.lead.textContent = m.lead;
    ui.switchText.textContent = m.switchText;
    ui.passwordHint.textContent = m.passwordHint;
    ui.password.autocomplete = m.autocomplete;
    const primary = ui.buttons[mode];
    const secondary = ui.buttons[other];
    primary.className = '';
    primary.formNoValidate = false;
    secondary.className = 'link';
    // Switching needs no filled fields; doing it does (checked in action()).
    secondary.formNoValidate = true;
    ui.actions.replaceChildren(primary);
    ui.switchLine.replaceChildren(ui.switchText, ' ', secondary);
  }

  /**
   * What a submission means: 'login', 'signup', or null when it only
   * switched modes (the switch button with a field left empty).
   */
  action(event) {
    const wanted = event.submitter?.value === 'signup' ? 'signup' : event.submitter?.value === 'login' ? 'login' : this.mode;
    if (wanted === this.mode) return wanted;
    this.setMode(wanted);
    this.ui.error.textContent = '';
    const { username, password } = this.ui;
    if (username.value.trim() !== '' && password.value !== '' && this.ui.form.checkValidity()) return wanted;
    (username.value.trim() === '' ? username : password).focus();
    return null;
  }

  /** The two-factor code typed, once asked for (else undefined). */
  get totp() {
    return this.ui.totpField.hidden ? undefined : this.ui.totp.value.trim() || undefined;
  }

  /** Asks for the two-factor code (the server answered `totp_required`), or stops asking. */
  askForCode(ask) {
    this.ui.totpField.hidden = !ask;
    this.ui.totp.value = '';
    this.ui.totp.required = ask;
    if (ask) this.ui.totp.focus();
  }

  /** Sentences that depend on the mode (errors.js words the rest). */
  overrides(action) {
    return action === 'login'
      ? {
          invalid_credentials: this.totp
            ? 'Wrong password or two-factor code. Codes change every 30 seconds and each works once.'
            : 'Wrong username or password. If you are new here, this name may have no account yet: choose “Create account” to make one.',
          totp_required: 'This account has two-factor authentication. Enter the code from your authenticator app.',
        }
      : {};
  }
}
