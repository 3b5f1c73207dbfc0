// The live connection: one STOMP 1.2 session over /ws through the vendored
// @stomp/stompjs client (global `StompJs`, loaded by index.html).
//
// After any drop (network, server restart, `ERROR token expired`) stompjs
// reconnects with backoff; before each attempt we get a fresh access token,
// and once CONNECTED we resubscribe every followed room with
// `since-seq` = the last seq the room's timeline holds without a gap, so the
// server replays exactly what was missed. SENDs go out with a `client-id`
// and a `receipt`; until the RECEIPT arrives they stay in an outbox and are
// sent again, with the same client-id, after a reconnect: the server stores
// a repeated client-id once, so nothing is lost or doubled.
//
// When the user loses access to a room (they left, were removed or banned,
// or the room was deleted), the server ends the room's subscription with a
// last MESSAGE of `event-type:access_revoked`: the room is then no longer
// followed (not resubscribed after a reconnect) and its unsent messages are
// dropped, since the server would refuse them.
//
// Each followed room's activity destination is subscribed too: ephemeral
// signals (typing, read-marker moves, presence, membership changes), never
// replayed, so it is subscribed without `since-seq`.
//
// The user destination `/user/queue/updates` is subscribed on every
// CONNECTED: what changes my own room list (`room_added`, `room_removed`,
// `room_updated`), from any instance. Nothing of it is stored or replayed,
// so after a reconnect (`connected` with `again: true`) the room list is
// read again.

const { Client, ReconnectionTimeMode } = globalThis.StompJs;

/** First reconnect delay; doubles up to MAX_RECONNECT_MS, reset on CONNECTED. */
const RECONNECT_MS = 500;
const MAX_RECONNECT_MS = 15_000;
/** A socket that has not reached CONNECTED by then is dropped and retried. */
const CONNECT_TIMEOUT_MS = 10_000;
/** The server's floor for heart-beats (HEARTBEAT_MS). */
const HEARTBEAT_MS = 10_000;

/** A random id usable as `client-id` (crypto.randomUUID needs a secure context). */
export function newClientId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `web-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
}

const destination = (room) => `/topic/rooms/${room}`;
/** What changes my own room list (the README, "Staying signed in, and a live
 * view of one's own rooms"). */
export const USER_UPDATES = '/user/queue/updates';
const UPDATE_TYPES = new Set(['room_added', 'room_removed', 'room_updated']);
const activityDestination = (room) => `/topic/rooms/${room}/activity`;

/** A SEND the server refused; `code` is the ERROR's `message` header
 * (`blocked`, `room not found`, …). */
export class SendRefused extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'SendRefused';
    this.code = code;
  }
}

const revokedText = (room, reason) =>
  reason === 'room_deleted'
    ? `Message not sent: #${room} was deleted.`
    : `Message not sent: you no longer have access to #${room}.`;

/**
 * Events: `status` (detail: 'connecting' | 'online' | 'reconnecting' |
 * 'offline'), `connected` (detail: { again }: CONNECTED, `again` after a
 * drop: what the user destination said meanwhile is lost), `update` (detail:
 * a user destination update: { type: 'room_added' | 'room_removed' |
 * 'room_updated', room, reason? }), `activity` (detail: { room, signal }: a signal of the room's
 * activity destination: typing, read, presence or member), `message`
 * (detail: { room, message }: any event of the room's
 * log, its `type` in the JSON as in the frame's `event-type`), `revoked`
 * (detail: { room, reason }: access to the room is gone, reason 'left' |
 * 'removed' | 'banned' | 'room_deleted', or 'unavailable' when a
 * resubscription was refused), `problem` (detail: { kind: 'connection' |
 * 'room', room?, text }) for errors worth showing; a 'connection' problem is
 * over once the status is 'online' again.
 */
export class Live extends EventTarget {
  #session;
  #client;
  /** room → () => seq to resume after (the timeline's `newest`). */
  #followed = new Map();
  /** room → its current StompSubscription (while connected). */
  #subscriptions = new Map();
  /** room → its activity StompSubscription (while connected). */
  #activity = new Map();
  /** client-id → { room, body, resolve, reject } awaiting a RECEIPT. */
  #outbox = new Map();
  #status = 'offline';
  #everConnected = false;
  /** Set after `ERROR authentication failed`: renew the token even if it looks valid. */
  #tokenRefused = false;
  /** Test hook: while set, reconnecting waits for this promise. */
  #hold = null;
  #subscriptionCount = 0;
  /** Sockets closed before ever reaching CONNECTED. */
  #failuresBeforeFirstConnect = 0;

  constructor(session, url) {
    super();
    this.#session = session;
    this.#client = new Client({
      brokerURL: url,
      reconnectDelay: RECONNECT_MS,
      maxReconnectDelay: MAX_RECONNECT_MS,
      reconnectTimeMode: ReconnectionTimeMode.EXPONENTIAL,
      connectionTimeout: CONNECT_TIMEOUT_MS,
      heartbeatIncoming: HEARTBEAT_MS,
      heartbeatOutgoing: HEARTBEAT_MS,
      beforeConnect: () => this.#beforeConnect(),
      onConnect: () => this.#onConnect(),
      onStompError: (frame) => this.#onStompError(frame),
      onWebSocketClose: () => this.#onWebSocketClose(),
    });
  }

  get status() {
    return this.#status;
  }

  start() {
    this.#client.activate();
  }

  /** Disconnects for good (logout); queued SENDs are abandoned. */
  async stop() {
    this.#hold?.release();
    this.#followed.clear();
    this.#subscriptions.clear();
    this.#activity.clear();
    for (const entry of this.#outbox.values()) entry.reject(new Error('Signed out.'));
    this.#outbox.clear();
    await this.#client.deactivate();
    this.#setStatus('offline');
  }

  /** Receive a room's messages from `resumeFrom()` on, now and after every reconnect. */
  follow(room, resumeFrom) {
    if (this.#followed.has(room)) return;
    this.#followed.set(room, resumeFrom);
    if (this.#client.connected) this.#subscribe(room);
  }

  isFollowing(room) {
    return this.#followed.has(room);
  }

  /** Stops following `room` (access to it is gone) and drops its unsent
   * messages, rejected with `reason`. */
  unfollow(room, reason = 'You no longer have access to this room.') {
    this.#followed.delete(room);
    const subscription = this.#subscriptions.get(room);
    this.#subscriptions.delete(room);
    const activity = this.#activity.get(room);
    this.#activity.delete(room);
    for (const sub of [subscription, activity]) {
      if (!sub || !this.#client.connected) continue;
      try {
        sub.unsubscribe();
      } catch {
        // the socket is closing: nothing to unsubscribe from
      }
    }
    for (const [clientId, entry] of this.#outbox) {
      if (entry.room !== room) continue;
      this.#outbox.delete(clientId);
      entry.reject(new SendRefused(reason, 'room not found'));
    }
  }

  /**
   * Sends `body` to `room`, now or as soon as the connection is back; with
   * `replyTo`, as a reply to the message of that seq (`in-reply-to`).
   * Resolves with `{ seq, messageId }` once the server has stored it.
   */
  send(room, body, clientId = newClientId(), { replyTo = null } = {}) {
    return new Promise((resolve, reject) => {
      this.#outbox.set(clientId, { room, body, replyTo, resolve, reject });
      if (this.#client.connected) this.#transmit(clientId);
    });
  }

  /** Tells the room's members that I am typing (dropped while offline:
   * a typing signal is only worth anything now). */
  typing(room) {
    if (!this.#client.connected || !this.#activity.has(room)) return false;
    this.#client.publish({
      destination: activityDestination(room),
      body: JSON.stringify({ type: 'typing' }),
      headers: { 'content-type': 'application/json' },
    });
    return true;
  }

  /** Closes the socket as a network failure would; the client then reconnects
   * by itself, or waits for `releaseConnection()` when `hold` is set. */
  dropConnection({ hold = false } = {}) {
    if (hold && !this.#hold) {
      let release;
      const promise = new Promise((resolve) => {
        release = resolve;
      });
      this.#hold = {
        promise,
        release: () => {
          this.#hold = null;
          release();
        },
      };
    }
    this.#client.forceDisconnect();
    this.#setStatus('reconnecting');
  }

  releaseConnection() {
    this.#hold?.release();
  }

  async #beforeConnect() {
    this.#setStatus(this.#everConnected ? 'reconnecting' : 'connecting');
    if (this.#hold) await this.#hold.promise;
    try {
      const token = await this.#session.accessToken({ force: this.#tokenRefused });
      this.#tokenRefused = false;
      this.#client.connectHeaders = { Authorization: `Bearer ${token}` };
    } catch {
      // Server unreachable: try with the old token, fail, and retry later.
      // Session over: the app stops us on the session's `ended` event.
      if (!this.#session.signedIn) await this.#client.deactivate();
    }
  }

  #onWebSocketClose() {
    if (this.#client.active) this.#setStatus('reconnecting');
    if (!this.#everConnected && ++this.#failuresBeforeFirstConnect === 3) {
      // The browser hides why (an upgrade refused with 403 looks like any
      // network failure); the usual cause when self-hosting is the Origin.
      this.dispatchEvent(
        new CustomEvent('problem', {
          detail: {
            kind: 'connection',
            text:
              'Cannot open the live connection. Still trying… If you run this server, ' +
              `check that ALLOWED_ORIGINS includes ${location.origin}.`,
          },
        }),
      );
    }
  }

  #onConnect() {
    const again = this.#everConnected;
    this.#everConnected = true;
    queueMicrotask(() => this.dispatchEvent(new CustomEvent('connected', { detail: { again } })));
    this.#subscriptions.clear(); // the old socket's subscriptions died with it
    this.#activity.clear();
    this.#setStatus('online');
    this.#subscribeUpdates();
    for (const room of this.#followed.keys()) this.#subscribe(room);
    for (const clientId of this.#outbox.keys()) this.#transmit(clientId);
  }

  #subscribe(room) {
    const resumeFrom = this.#followed.get(room);
    const n = ++this.#subscriptionCount;
    const subscription = this.#client.subscribe(
      destination(room),
      (frame) => {
        // A frame of a subscription ended meanwhile (or of an older one).
        if (this.#subscriptions.get(room) !== subscription) return;
        let message;
        try {
          message = JSON.parse(frame.body);
        } catch {
          return;
        }
        const type = frame.headers['event-type'] ?? message.type;
        if (type === 'access_revoked') {
          // The last frame of this subscription: nothing follows it.
          const reason = message.reason ?? 'unavailable';
          this.unfollow(room, revokedText(room, reason));
          this.dispatchEvent(new CustomEvent('revoked', { detail: { room, reason } }));
          return;
        }
        this.dispatchEvent(new CustomEvent('message', { detail: { room, message } }));
      },
      {
        id: `room-${room}-${n}`,
        receipt: `subscribe-${room}-${n}`,
        'since-seq': String(resumeFrom()),
      },
    );
    this.#subscriptions.set(room, subscription);
    const activity = this.#client.subscribe(
      activityDestination(room),
      (frame) => {
        if (this.#activity.get(room) !== activity) return;
        let signal;
        try {
          signal = JSON.parse(frame.body);
        } catch {
          return;
        }
        // The log's own subscription says when access is gone.
        if (!signal || typeof signal.type !== 'string' || signal.type === 'access_revoked') return;
        this.dispatchEvent(new CustomEvent('activity', { detail: { room, signal } }));
      },
      { id: `activity-${room}-${n}` },
    );
    this.#activity.set(room, activity);
  }

  /** The user destination, on this socket (its subscription dies with it). */
  #subscribeUpdates() {
    this.#client.subscribe(
      USER_UPDATES,
      (frame) => {
        let update;
        try {
          update = JSON.parse(frame.body);
        } catch {
          return;
        }
        const type = frame.headers['event-type'] ?? update?.type;
        if (!update || !UPDATE_TYPES.has(type)) return;
        this.dispatchEvent(new CustomEvent('update', { detail: { ...update, type } }));
      },
      { id: `user-updates-${++this.#subscriptionCount}` },
    );
  }

  #transmit(clientId) {
    const { room, body, replyTo } = this.#outbox.get(clientId);
    const receipt = `send-${clientId}`;
    const headers = { receipt, 'client-id': clientId };
    if (replyTo !== null) headers['in-reply-to'] = String(replyTo);
    this.#client.watchForReceipt(receipt, (frame) => {
      const entry = this.#outbox.get(clientId);
      if (!entry) return;
      this.#outbox.delete(clientId);
      entry.resolve({ seq: Number(frame.headers.seq), messageId: frame.headers['message-id'] });
    });
    this.#client.publish({
      destination: destination(room),
      body,
      headers,
    });
  }

  #onStompError(frame) {
    // The server closes the socket after every ERROR; stompjs reconnects.
    const text = frame.headers.message || 'connection error';
    const receiptId = frame.headers['receipt-id'] || '';
    if (text === 'token expired') return; // routine: reconnect with a fresh token
    // Signed out (README, "Accounts"): the renewal is refused and the session ends.
    if (text === 'authentication failed' || text === 'session revoked') {
      this.#tokenRefused = true;
      return;
    }
    if (receiptId.startsWith('send-')) {
      // This message itself was refused: sending it again would fail again.
      const clientId = receiptId.slice('send-'.length);
      const entry = this.#outbox.get(clientId);
      this.#outbox.delete(clientId);
      entry?.reject(new SendRefused(`Message not sent: ${text}`, text));
      if (entry && text === 'room not found') {
        // Access was lost before this SEND arrived: the room is gone for us.
        this.unfollow(entry.room, revokedText(entry.room, 'unavailable'));
        this.dispatchEvent(
          new CustomEvent('revoked', { detail: { room: entry.room, reason: 'unavailable' } }),
        );
      }
      return;
    }
    const room = receiptId.match(/^subscribe-(.+)-\d+$/)?.[1];
    if (room && this.#followed.has(room)) {
      this.unfollow(room, revokedText(room, 'unavailable'));
      if (text === 'room not found') {
        // Access was lost while disconnected (removed, banned, deleted).
        this.dispatchEvent(
          new CustomEvent('revoked', { detail: { room, reason: 'unavailable' } }),
        );
      } else {
        this.dispatchEvent(
          new CustomEvent('problem', {
            detail: { kind: 'room', room, text: `Cannot follow #${room}: ${text}` },
          }),
        );
      }
      return;
    }
    this.dispatchEvent(
      new CustomEvent('problem', {
        detail: { kind: 'connection', text: `Connection error: ${text}` },
      }),
    );
  }

  #setStatus(status) {
    if (status === this.#status) return;
    this.#status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }
}
