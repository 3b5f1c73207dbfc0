// My sessions (GET /me/sessions): every device or browser signed in as me,
// the current one marked. Events: `change`, `error` {text}.

import { describeError } from '../api.js';

export class SessionsViewModel extends EventTarget {
  constructor(app) {
    super();
    this.app = app;
    /** As the server lists them: most recently used first. */
    this.list = [];
    this.loaded = false;
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async load() {
    try {
      const { sessions } = await this.app.session.request('GET', '/me/sessions');
      this.list = sessions;
      this.loaded = true;
      this.#emit('change');
    } catch (err) {
      this.#emit('error', { text: describeError(err) });
    }
  }

  /** Signs session `id` out (its device is signed out within seconds); throws what the server said. */
  async signOut(id) {
    await this.app.session.request('DELETE', `/me/sessions/${encodeURIComponent(id)}`);
    await this.load();
  }

  clear() {
    this.list = [];
    this.loaded = false;
    this.#emit('change');
  }
}

/** A User-Agent in a few words a person recognises ("Firefox on Linux"). */
export function describeAgent(agent) {
  if (!agent) return 'Unknown device';
  const browser =
    [
      [/Edg\//, 'Edge'],
      [/OPR\//, 'Opera'],
      [/Firefox\//, 'Firefox'],
      [/Chrome\/|Chromium\//, 'Chrome'],
      [/Safari\//, 'Safari'],
    ].find(([re]) => re.test(agent))?.[1] ?? null;
  const system =
    [
      [/Android/, 'Android'],
      [/iPhone|iPad/, 'iOS'],
      [/Windows/, 'Windows'],
      [/Mac OS X|Macintosh/, 'macOS'],
      [/Linux|X11/, 'Linux'],
    ].find(([re]) => re.test(agent))?.[1] ?? null;
  if (browser && system) return `${browser} on ${system}`;
  return browser ?? system ?? agent.slice(0, 60);
}
