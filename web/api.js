// REST client for /api/v1 and the signed-in session.
//
// The access token lives in this module's memory only (never in storage).
// The refresh token is the server's `parley_refresh` cookie (HttpOnly,
// SameSite=Strict, scoped to /api/v1/auth: the page never sees it), so a
// reload or a second tab restores the session with `POST /auth/refresh {}`
// (the README, "Staying signed in"). The access token is refreshed that way
// shortly before it expires (from `expires_in`), and once more on demand if
// the server answers 401 anyway (clock skew, a sleeping laptop). Every
// refresh rotates the cookie, so the tabs of one browser take turns (a Web
// Lock): two presenting the same cookie at once would look like a stolen
// token to the server, which then ends the whole login.

const API = '/api/v1';

/** How long before expiry the access token is renewed: 60 s, or a quarter
 * of its lifetime when that is shorter. */
const renewMargin = (lifetimeMs) => Math.min(60_000, lifetimeMs / 4);

/** Retry delay when a refresh fails for a reason other than a rejected token. */
const REFRESH_RETRY_MS = 5_000;

/** The one lock every tab of this browser takes to rotate the refresh cookie. */
const REFRESH_LOCK = 'parley-refresh';

/** Runs `task` holding the refresh lock (where the browser has Web Locks:
 * secure contexts, which include http://localhost and 127.0.0.1). */
function withRefreshLock(task) {
  const locks = globalThis.navigator?.locks;
  return locks ? locks.request(REFRESH_LOCK, task) : task();
}

/** A failed API call, with the contract's `{"error":{code,message}}`. */
export class ApiError extends Error {
  constructor(status, code, message, retryAfterSecs = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfterSecs = retryAfterSecs;
  }
}

// Errors are put in words by errors.js, the one module that maps the
// server's codes to sentences.
export { describeError } from './errors.js';

/**
 * One HTTP call; resolves to the parsed JSON body (or null), throws ApiError.
 * A `Blob` body (an image) is sent as it is, with its own type; with `blob`,
 * a successful answer resolves to its bytes as a Blob (a download).
 */
async function call(method, path, { token, body, blob = false } = {}) {
  const headers = { accept: blob ? '*/*' : 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const raw = body instanceof Blob;
  if (body !== undefined) headers['content-type'] = raw ? body.type || 'application/octet-stream' : 'application/json';
  let res;
  try {
    res = await fetch(API + path, {
      method,
      headers,
      body: body === undefined || raw ? body : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch {
    throw new ApiError(0, 'network_error', 'Cannot reach the server.');
  }
  if (blob && res.ok) return res.blob();
  return answer(res.status, await res.text(), res.headers.get('retry-after'));
}

/** The parsed JSON body of a 2xx answer (or null); else throws its ApiError. */
function answer(status, text, retryAfterHeader) {
  let json = null;
  if (text) {
    try {
      json = JSON.parse(text);
    } catch {
      // e.g. a proxy's HTML error page
    }
  }
  if (status >= 200 && status < 300) return json;
  const retryAfter = Number.parseInt(retryAfterHeader ?? '', 10);
  const error = json?.error;
  throw new ApiError(
    status,
    error?.code ?? (status === 429 ? 'too_many_attempts' : status === 413 ? 'file_too_large' : 'http_error'),
    error?.message ?? `The server answered ${status}.`,
    Number.isFinite(retryAfter) ? retryAfter : null,
  );
}

/**
 * POSTs `file` (a Blob) as the raw request body, its type as Content-Type,
 * through XMLHttpRequest: fetch cannot report how much of a body was sent.
 * `onProgress(loaded)` follows the bytes; `abort` stops it (the promise
 * then rejects with code `aborted`).
 */
function sendFile(path, file, token, onProgress) {
  let xhr = null;
  const promise = new Promise((resolve, reject) => {
    xhr = new XMLHttpRequest();
    xhr.open('POST', API + path);
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('authorization', `Bearer ${token}`);
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
    xhr.upload.addEventListener('progress', (event) => onProgress?.(event.loaded));
    xhr.addEventListener('load', () => {
      try {
        resolve(answer(xhr.status, xhr.responseText, xhr.getResponseHeader('retry-after')));
      } catch (err) {
        reject(err);
      }
    });
    xhr.addEventListener('error', () => reject(new ApiError(0, 'network_error', 'Cannot reach the server.')));
    xhr.addEventListener('abort', () => reject(new ApiError(0, 'aborted', 'The upload was cancelled.')));
    xhr.send(file);
  });
  return { promise, abort: () => xhr.abort() };
}

/** A call that needs no sign-in (password reset); resolves to the JSON body or null. */
export function publicRequest(method, path, body) {
  return call(method, path, { body });
}

/** Tries to read the server's limits and rules before giving up. */
const CONFIG_ATTEMPTS = 5;
const CONFIG_RETRY_MS = 1_000;

/**
 * The server's limits and rules for clients (`GET /config`, no sign-in
 * needed): `max_body_bytes`, `max_history_limit`, `search`, `typing_rate`,
 * `permissions` per role, …. Nothing the server owns is written down in this
 * client; it is read here once, when the page loads.
 */
export async function loadClientConfig() {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return Object.freeze(await call('GET', '/config'));
    } catch (err) {
      if (attempt >= CONFIG_ATTEMPTS) throw err;
      await new Promise((resolve) => setTimeout(resolve, CONFIG_RETRY_MS));
    }
  }
}

/**
 * The signed-in user and their tokens. Dispatches `ended` (detail: a reason
 * for people) when the session can no longer be renewed.
 */
export class Session extends EventTarget {
  #access = null;
  #expiresAt = 0;
  #timer = null;
  #refreshing = null;
  /** Bumped when signing out: a refresh answered after that is dropped. */
  #generation = 0;
  user = null;

  get signedIn() {
    return this.#access !== null;
  }

  async signup(username, password) {
    this.#start(await call('POST', '/auth/signup', { body: { username, password } }));
  }

  /** `totp`: the two-factor code, once the server asked for it (`totp_required`). */
  async login(username, password, totp) {
    const body = totp ? { username, password, totp } : { username, password };
    this.#start(await call('POST', '/auth/login', { body }));
  }

  /** Takes the tokens of a new session the server started (a password change). */
  adopt(auth) {
    this.#start(auth);
  }

  /**
   * Signs in again from the refresh cookie, if this browser holds a live
   * one (a reload, a second tab). Resolves to whether it did; a missing or
   * dead cookie (401) or a refused origin (403) is simply "no".
   */
  async restore() {
    try {
      await this.refresh({ restoring: true });
      return true;
    } catch {
      return false;
    }
  }

  /** Revokes the login (its cookie; best effort) and forgets everything. */
  async logout() {
    const wasSignedIn = this.signedIn;
    this.#forget();
    if (wasSignedIn) {
      try {
        await withRefreshLock(() => call('POST', '/auth/logout', { body: {} }));
      } catch {
        // the access token is gone from memory either way
      }
    }
  }

  /** A current access token, renewed first if it is about to expire (or
   * `force`d, after the server refused it). */
  async accessToken({ force = false } = {}) {
    if (!this.signedIn) throw new ApiError(401, 'unauthorized', 'You are signed out.');
    if (force || Date.now() >= this.#expiresAt) await this.refresh();
    return this.#access;
  }

  /** Trades the refresh cookie for new tokens; concurrent callers share one request. */
  refresh({ restoring = false } = {}) {
    this.#refreshing ??= this.#doRefresh(restoring).finally(() => {
      this.#refreshing = null;
    });
    return this.#refreshing;
  }

  /** An authenticated API call; retried once with a renewed token on 401. */
  async request(method, path, body, { blob = false } = {}) {
    const token = await this.accessToken();
    try {
      return await call(method, path, { token, body, blob });
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'unauthorized' || !this.signedIn) throw err;
      return call(method, path, { token: await this.accessToken({ force: true }), body, blob });
    }
  }

  /**
   * Uploads `file` (a Blob) to `path` as the raw body, with progress
   * (`onProgress(loaded)`): `{ promise, abort }`. The promise resolves to
   * the server's answer; rejects with an ApiError (`aborted` once
   * `abort()` is called). A 401 is retried once with a renewed token.
   */
  upload(path, file, onProgress) {
    let current = null;
    let aborted = false;
    const attempt = async (force) => {
      const token = await this.accessToken({ force });
      if (aborted) throw new ApiError(0, 'aborted', 'The upload was cancelled.');
      current = sendFile(path, file, token, onProgress);
      return current.promise;
    };
    const promise = attempt(false).catch((err) => {
      if (aborted || !(err instanceof ApiError) || err.code !== 'unauthorized' || !this.signedIn) throw err;
      return attempt(true);
    });
    return {
      promise,
      abort: () => {
        aborted = true;
        current?.abort();
      },
    };
  }

  /** My `user` object changed (my profile): every view reading `user` sees it. */
  updateUser(user) {
    if (this.user && user?.id === this.user.id) this.user = user;
  }

  async #doRefresh(restoring) {
    const generation = this.#generation;
    if (!restoring && !this.signedIn) throw new ApiError(401, 'unauthorized', 'You are signed out.');
    try {
      const auth = await withRefreshLock(() => call('POST', '/auth/refresh', { body: {} }));
      if (generation !== this.#generation) throw new ApiError(401, 'unauthorized', 'You are signed out.');
      if (!restoring && auth.user?.id !== this.user?.id) {
        // Another tab signed in as someone else: the cookie is theirs now.
        this.#forget();
        this.dispatchEvent(
          new CustomEvent('ended', { detail: `You signed in as ${auth.user?.username} in another tab. Log in again here.` }),
        );
        throw new ApiError(401, 'unauthorized', 'You are signed out.');
      }
      this.#start(auth);
    } catch (err) {
      if (restoring || generation !== this.#generation) throw err; // nothing to end
      if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
        this.#forget();
        this.dispatchEvent(
          new CustomEvent('ended', { detail: 'Your session has ended. Please log in again.' }),
        );
      } else {
        this.#schedule(REFRESH_RETRY_MS);
      }
      throw err;
    }
  }

  #start(auth) {
    this.user = auth.user;
    this.#access = auth.access_token;
    const lifetimeMs = auth.expires_in * 1000;
    // Renew a little early so the token never lapses while in use.
    this.#expiresAt = Date.now() + lifetimeMs - renewMargin(lifetimeMs);
    this.#schedule(this.#expiresAt - Date.now());
  }

  #schedule(delayMs) {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.refresh().catch(() => {
        // handled in #doRefresh: retried later or the session ended
      });
    }, Math.max(0, delayMs));
  }

  #forget() {
    this.#generation += 1;
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#access = null;
    this.#expiresAt = 0;
    this.user = null;
  }
}
