// Notifications (README, "Notifications"): each room's level and mute, as
// room objects carry them (`membership.notifications`, kept live by the
// user destination's `room_updated`), and this browser's Web Push
// subscription. No DOM. Events: `push` (the subscription's state changed).

/** How long each mute choice lasts; `null`: until turned back on. */
export const MUTES = {
  '1h': 60 * 60 * 1000,
  '8h': 8 * 60 * 60 * 1000,
  forever: null,
};

/** "Until turned back on": a time no one reaches. */
const FOREVER = '9999-12-31T23:59:59.000Z';

export const LEVELS = ['all', 'mentions', 'none'];

/** The room's setting for me, as shown: `{level, muted_until}`. */
export function settingOf(room) {
  return room?.membership?.notifications ?? { level: 'mentions', muted_until: null };
}

/** Whether `muted_until` means "until turned back on". */
export const mutedForever = (mutedUntil) => mutedUntil !== null && mutedUntil.startsWith('9999-');

export class NotificationsViewModel extends EventTarget {
  /** @param {object} app  { session } */
  constructor(app) {
    super();
    this.app = app;
    /** `unsupported`, `denied`, `off`, `on`, or `working`. */
    this.push = 'off';
  }

  /**
   * Sets my level in `room`, with a mute of `mute` (a key of MUTES, or
   * '' for none). Answers the setting as stored; throws what the server said.
   */
  async set(room, level, mute) {
    let mutedUntil = null;
    if (mute) {
      const span = MUTES[mute];
      mutedUntil = span === null ? FOREVER : new Date(Date.now() + span).toISOString();
    }
    return this.app.session.request('PUT', `/rooms/${encodeURIComponent(room)}/notifications`, {
      level,
      muted_until: mutedUntil,
    });
  }

  /** Sets my level in `room`, keeping the mute as it is (`mutedUntil`). */
  async keep(room, level, mutedUntil) {
    return this.app.session.request('PUT', `/rooms/${encodeURIComponent(room)}/notifications`, {
      level,
      muted_until: mutedUntil,
    });
  }

  #state(state) {
    this.push = state;
    this.dispatchEvent(new CustomEvent('push', { detail: { state } }));
  }

  /** Whether this browser can receive pushes at all. */
  get supported() {
    return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
  }

  /** Registers the service worker (at the root scope) and reads whether
   * this browser is subscribed already. */
  async start() {
    if (!this.supported) {
      this.#state('unsupported');
      return null;
    }
    const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
    if (Notification.permission === 'denied') this.#state('denied');
    else this.#state((await registration.pushManager.getSubscription()) ? 'on' : 'off');
    return registration;
  }

  /** Asks the browser for permission, subscribes with the server's VAPID key
   * and gives the subscription to the server. Throws on failure. */
  async enable() {
    this.#state('working');
    try {
      const permission = await Notification.requestPermission();
      if (permission !== 'granted') {
        this.#state(permission === 'denied' ? 'denied' : 'off');
        return;
      }
      const registration = await navigator.serviceWorker.register('/sw.js', { scope: '/' });
      const { public_key: key } = await this.app.session.request('GET', '/push/vapid-key');
      const subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64url(key),
      });
      await this.app.session.request('POST', '/me/push-subscriptions', subscription.toJSON());
      this.#state('on');
    } catch (err) {
      this.#state('off');
      throw err;
    }
  }
}

/** The bytes of a base64url string. */
function base64url(text) {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(text.length / 4) * 4, '=');
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
