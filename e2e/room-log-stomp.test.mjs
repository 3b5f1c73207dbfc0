// End-to-end: the room log (README, "The room log") with the real
// @stomp/stompjs client against the real server binary (PARLEY_BIN, see
// support/server.mjs), on SQLite and, when TEST_DATABASE_URL is set, on a
// fresh Postgres database. A reply is sent with `in-reply-to`; the edit
// (PATCH), reactions (PUT / DELETE) and the deletion made over REST arrive at
// both stompjs subscribers as MESSAGE frames with their `event-type`, once
// and in seq order; a bad `in-reply-to` is an ERROR that ends the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

import { api, onBothBackends, sleep, within } from './support/server.mjs';

const WAIT_MS = 30_000;
const TEST_TIMEOUT_MS = 120_000;

async function expectStatus(promise, status, what) {
  const r = await promise;
  assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function signup(server, username) {
  const body = await expectStatus(
    api(server, 'POST', '/api/v1/auth/signup', null, { username, password: `pw-${username}-secret` }),
    201,
    `signup ${username}`,
  );
  return { username, token: body.access_token };
}

async function history(server, user, room) {
  const body = await expectStatus(
    api(server, 'GET', `/api/v1/rooms/${room}/messages?after=0&limit=200`, user.token),
    200,
    `history of ${room}`,
  );
  assert.equal(body.has_more, false);
  return body.messages;
}

/** One stompjs client that records every MESSAGE and every problem. */
class LogClient {
  constructor(server, user) {
    this.server = server;
    this.user = user;
    this.deliveries = []; // { headers, event }
    this.errors = []; // ERROR frames
    this.closes = []; // close codes seen
    this.nextReceipt = 0;
  }

  async connect() {
    await within(WAIT_MS, `${this.user.username} CONNECTED`, new Promise((resolve, reject) => {
      this.client = new Client({
        webSocketFactory: () => new WebSocket(this.server.wsUrl, ['v12.stomp']),
        connectHeaders: { Authorization: `Bearer ${this.user.token}` },
        reconnectDelay: 0,
        onConnect: () => resolve(),
        onStompError: (frame) => {
          this.errors.push(frame);
          reject(new Error(`${this.user.username}: ERROR ${frame.headers.message}`));
        },
        onWebSocketClose: (event) => {
          this.closes.push(event.code);
          reject(new Error(`${this.user.username}: socket closed before CONNECTED`));
        },
      });
      this.client.activate();
    }));
  }

  receipt(id) {
    return within(WAIT_MS, `${this.user.username} RECEIPT ${id}`, new Promise((resolve) => {
      this.client.watchForReceipt(id, resolve);
    }));
  }

  async subscribe(room) {
    const receipt = `${this.user.username}-sub`;
    const confirmed = this.receipt(receipt);
    this.client.subscribe(
      `/topic/rooms/${room}`,
      (frame) => this.deliveries.push({ headers: frame.headers, event: JSON.parse(frame.body) }),
      { id: 'log', receipt },
    );
    await confirmed;
  }

  async publish(room, body, headers = {}) {
    const receipt = `${this.user.username}-r${this.nextReceipt++}`;
    const done = this.receipt(receipt);
    this.client.publish({ destination: `/topic/rooms/${room}`, body, headers: { ...headers, receipt } });
    return (await done).headers;
  }

  async waitFor(n) {
    const deadline = Date.now() + WAIT_MS;
    while (this.deliveries.length < n && Date.now() < deadline) await sleep(20);
    assert.ok(this.deliveries.length >= n, `${this.user.username} got ${this.deliveries.length} of ${n} events`);
  }

  async close() {
    if (!this.client) return;
    this.client.reconnectDelay = 0;
    await within(WAIT_MS, `${this.user.username} deactivate`, this.client.deactivate());
  }
}

async function roomLogOverStompjs(server) {
  const room = 'log';
  const alice = await signup(server, 'alice');
  const bob = await signup(server, 'bob');
  await expectStatus(api(server, 'POST', '/api/v1/rooms', alice.token, { name: room }), 201, 'create room');
  await expectStatus(api(server, 'POST', `/api/v1/rooms/${room}/join`, bob.token), 200, 'bob joins');
  const clients = [new LogClient(server, alice), new LogClient(server, bob)];
  const path = `/api/v1/rooms/${room}/messages`;
  const thumbs = encodeURIComponent('👍');
  try {
    await Promise.all(clients.map((c) => c.connect()));
    await Promise.all(clients.map((c) => c.subscribe(room)));
    const [a, b] = clients;

    const r1 = await a.publish(room, 'hello @bob');
    assert.equal(r1.seq, '1');
    const r2 = await b.publish(room, 'a reply', { 'in-reply-to': '1' });
    assert.equal(r2.seq, '2');
    // Made over REST (fetch): an edit, two reactions, a removal, a delete.
    const answers = new Map();
    answers.set(3, await expectStatus(api(server, 'PATCH', `${path}/1`, alice.token, { body: 'hello @bob, edited' }), 200, 'edit'));
    answers.set(4, await expectStatus(api(server, 'PUT', `${path}/1/reactions/${thumbs}`, bob.token), 200, 'react'));
    answers.set(5, await expectStatus(api(server, 'PUT', `${path}/2/reactions/${thumbs}`, alice.token), 200, 'react'));
    answers.set(6, await expectStatus(api(server, 'DELETE', `${path}/1/reactions/${thumbs}`, bob.token), 200, 'unreact'));
    answers.set(7, await expectStatus(api(server, 'DELETE', `${path}/2`, bob.token), 200, 'delete'));
    const types = ['message', 'message', 'edit', 'reaction', 'reaction', 'reaction', 'delete'];

    await Promise.all(clients.map((c) => c.waitFor(types.length)));
    await sleep(300); // a duplicate would arrive now
    const stored = await history(server, alice, room);
    for (const c of clients) {
      const who = c.user.username;
      assert.equal(c.deliveries.length, types.length, `${who}: each event exactly once`);
      assert.deepEqual(c.deliveries.map((d) => d.headers['event-type']), types, `${who}: event-type headers in order`);
      assert.deepEqual(c.deliveries.map((d) => Number(d.headers.seq)), [1, 2, 3, 4, 5, 6, 7], `${who}: seqs in order`);
      for (const { headers, event } of c.deliveries) {
        assert.equal(event.type, headers['event-type'], `${who}: body type = event-type`);
        assert.equal(String(event.seq), headers.seq);
        assert.equal(headers['message-id'], String(event.id));
        assert.equal(headers.destination, `/topic/rooms/${room}`);
      }
      const live = c.deliveries.map((d) => d.event);
      assert.equal(live[0].body, 'hello @bob');
      assert.deepEqual(live[0].mentions, ['bob']);
      assert.equal(live[1].reply_to, 1, 'in-reply-to became reply_to');
      assert.equal(live[1].sender, 'bob');
      for (const [seq, answer] of answers) assert.deepEqual(live[seq - 1], answer, `${who}: live ${seq} = REST answer`);
      assert.deepEqual(
        [live[2].target, live[2].body],
        [1, 'hello @bob, edited'],
        'the edit event names its message and new body',
      );
      assert.deepEqual(
        live.slice(3, 6).map((e) => [e.sender, e.target, e.key, e.added]),
        [
          ['bob', 1, '👍', true],
          ['alice', 2, '👍', true],
          ['bob', 1, '👍', false],
        ],
      );
      assert.deepEqual([live[6].sender, live[6].target], ['bob', 2]);
      // Non-message events read back in history as delivered.
      for (const seq of [3, 4, 5, 6, 7]) assert.deepEqual(stored[seq - 1], live[seq - 1], `history ${seq}`);
    }
    assert.deepEqual(stored.map((e) => e.seq), [1, 2, 3, 4, 5, 6, 7]);
    assert.equal(stored[0].body, 'hello @bob, edited');
    assert.equal(stored[0].edited_at, stored[2].created_at);
    assert.deepEqual(stored[0].reactions, [], 'bob removed the only reaction');
    assert.deepEqual(
      [stored[1].deleted, stored[1].body, stored[1].reactions, stored[1].reply_to],
      [true, '', [], 1],
      'the reply is a tombstone',
    );
    for (const c of clients) assert.deepEqual(c.errors, [], `${c.user.username} saw no ERROR`);

    // A bad in-reply-to (the seq of an edit event): ERROR, the session ends, nothing stored.
    const bad = new LogClient(server, bob);
    await bad.connect();
    const failed = within(WAIT_MS, 'ERROR for a bad in-reply-to', new Promise((resolve) => {
      bad.client.onStompError = (frame) => {
        bad.errors.push(frame);
        resolve(frame);
      };
    }));
    const closed = within(WAIT_MS, 'socket closed after the ERROR', new Promise((resolve) => {
      bad.client.onWebSocketClose = (event) => resolve(event.code);
    }));
    bad.client.publish({ destination: `/topic/rooms/${room}`, body: 'reply to an edit', headers: { 'in-reply-to': '3', receipt: 'nope' } });
    const error = await failed;
    assert.match(error.headers.message, /in-reply-to/);
    await closed;
    await bad.client.deactivate();
    await sleep(300);
    assert.equal((await history(server, alice, room)).length, 7, 'nothing from the bad SEND stored');
    for (const c of clients) assert.equal(c.deliveries.length, 7, `${c.user.username} got nothing more`);
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

onBothBackends('The room log over @stomp/stompjs', { timeout: TEST_TIMEOUT_MS }, (server) => {
  test('in-reply-to, then edit, reaction and delete events arrive with their event-type, once and in order', async () => {
    await roomLogOverStompjs(server());
  });
});
