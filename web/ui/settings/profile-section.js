// Settings › Profile: my picture (with a preview of the one chosen before it
// is sent), display name and status, "Export my data" and "Delete account"
// (with my password, after a confirmation). It renders the ProfileViewModel
// (`shell.profile`) into the form of index.html's #profile-settings, which it
// moves into the settings page. "Profile" in the header opens the settings
// page at this section.

import { describeError } from '../../api.js';
import { fillAvatar } from '../avatar.js';
import { confirmAction } from '../confirm.js';
import { $, setBusy } from '../dom.js';

export const profileSection = {
  id: 'profile',
  title: 'Profile',
  /** @param {object} shell  { profile (ProfileViewModel), signedOut(text) } */
  create(shell) {
    const form = new ProfileForm(shell.profile, shell);
    return { element: form.element, open: () => form.show(), close: () => form.clear() };
  },
};

class ProfileForm {
  /**
   * @param {import('../../domain/profile.js').ProfileViewModel} vm
   * @param {{ signedOut: (text: string) => void }} shell
   */
  constructor(vm, shell) {
    this.vm = vm;
    this.shell = shell;
    this.element = $('profile-settings');
    this.element.hidden = false;
    this.ui = {
      form: $('profile-form'),
      preview: $('profile-preview'),
      avatar: $('profile-avatar'),
      removeAvatar: $('profile-avatar-remove'),
      displayName: $('profile-display-name'),
      status: $('profile-status'),
      error: $('profile-error'),
      saved: $('profile-saved'),
      exportButton: $('profile-export'),
      deleteForm: $('profile-delete-form'),
      deletePassword: $('profile-delete-password'),
      deleteError: $('profile-delete-error'),
    };
    this.#listen();
  }

  /** Shows my profile as the server has it. */
  show() {
    this.clear();
    const { ui } = this;
    const user = this.vm.user;
    ui.displayName.value = user?.display_name ?? '';
    ui.status.value = user?.status ?? '';
    this.#preview(user);
  }

  /** Forgets what was typed or said (the page closed). */
  clear() {
    const { ui } = this;
    ui.avatar.value = '';
    ui.error.textContent = '';
    ui.saved.textContent = '';
    ui.deleteError.textContent = '';
    ui.deletePassword.value = '';
  }

  #preview(user, picture = null) {
    const username = user?.username ?? '?';
    fillAvatar(this.ui.preview, username, picture ? { avatar_url: picture } : user);
    this.ui.preview.classList.add('avatar-preview');
    this.ui.removeAvatar.hidden = !user?.avatar_url;
  }

  #listen() {
    const { ui } = this;
    ui.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.#busy(ui.form, ui.error, async () => {
        const file = ui.avatar.files?.[0];
        if (file) await this.vm.setAvatar(file);
        await this.vm.save({ displayName: ui.displayName.value, status: ui.status.value });
        ui.avatar.value = '';
        this.#preview(this.vm.user);
        ui.saved.textContent = 'Saved.';
      });
    });
    ui.avatar.addEventListener('change', () => {
      const file = ui.avatar.files?.[0];
      ui.saved.textContent = '';
      if (!file) return this.#preview(this.vm.user);
      // A data: URL: the page's Content-Security-Policy allows those images.
      const reader = new FileReader();
      reader.addEventListener('load', () => this.#preview(this.vm.user, String(reader.result)));
      reader.readAsDataURL(file);
    });
    ui.removeAvatar.addEventListener('click', () =>
      this.#busy(ui.form, ui.error, async () => {
        await this.vm.removeAvatar();
        ui.avatar.value = '';
        this.#preview(this.vm.user);
        ui.saved.textContent = 'Picture removed.';
      }),
    );
    ui.exportButton.addEventListener('click', () =>
      this.#busy(ui.exportButton.parentElement, ui.error, async () => {
        const data = await this.vm.exportData();
        const link = document.createElement('a');
        link.href = URL.createObjectURL(data);
        link.download = `parley-${this.vm.user?.username ?? 'export'}.json`;
        link.click();
        setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
      }),
    );
    ui.deleteForm.addEventListener('submit', async (event) => {
      event.preventDefault();
      const sure = await confirmAction({
        title: 'Delete your account?',
        text: 'Your messages are erased for everyone and you leave every room. This cannot be undone.',
        confirm: 'Delete my account',
      });
      if (!sure) return;
      await this.#busy(ui.deleteForm, ui.deleteError, async () => {
        await this.vm.deleteAccount(ui.deletePassword.value);
        ui.deletePassword.value = '';
        this.shell.signedOut('Your account is deleted.');
      }, { invalid_credentials: 'That password is not right.' });
    });
  }

  async #busy(element, error, work, overrides = undefined) {
    error.textContent = '';
    setBusy(element, true);
    try {
      await work();
    } catch (err) {
      error.textContent = describeError(err, overrides);
    } finally {
      setBusy(element, false);
    }
  }
}
