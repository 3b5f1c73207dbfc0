// View model of my own profile and account: my display name, status and
// picture (PATCH /me, PUT and DELETE /me/avatar), the export of my data
// (GET /me/export) and deleting my account (DELETE /me). The server decides
// every rule (lengths, what an image is); what it refuses is shown in its
// words. Events: `change` (detail: { user }) after my profile changed.

export class ProfileViewModel extends EventTarget {
  /** @param {{ session: import('../api.js').Session }} context */
  constructor(context) {
    super();
    this.context = context;
  }

  get user() {
    return this.context.session.user;
  }

  #changed(user) {
    this.context.session.updateUser(user);
    this.dispatchEvent(new CustomEvent('change', { detail: { user } }));
    return user;
  }

  /**
   * Saves the display name and status as typed: an empty field clears it.
   * Only what differs from what the server has is sent.
   */
  async save({ displayName, status }) {
    const patch = {};
    const name = displayName === '' ? null : displayName;
    const line = status === '' ? null : status;
    if (name !== (this.user?.display_name ?? null)) patch.display_name = name;
    if (line !== (this.user?.status ?? null)) patch.status = line;
    if (Object.keys(patch).length === 0) return this.user;
    return this.#changed(await this.context.session.request('PATCH', '/me', patch));
  }

  /** Uploads `file` (an image) as my picture; the server squares and re-encodes it. */
  async setAvatar(file) {
    return this.#changed(await this.context.session.request('PUT', '/me/avatar', file));
  }

  async removeAvatar() {
    return this.#changed(await this.context.session.request('DELETE', '/me/avatar'));
  }

  /** My data as a JSON file (a Blob). */
  exportData() {
    return this.context.session.request('GET', '/me/export', undefined, { blob: true });
  }

  /** Deletes my account; throws what the server said (a wrong password: `invalid_credentials`). */
  async deleteAccount(password) {
    await this.context.session.request('DELETE', '/me', { password });
  }
}
