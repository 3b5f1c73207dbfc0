// End-to-end: the real server binary and the real @stomp/stompjs client.
//
// Starts `PARLEY_BIN` (scripts/test builds it and exports the path; locally:
// `cargo build --bin parley`, then it defaults to target/debug/parley) on a
// free loopback port, once on SQLite and once on a fresh Postgres database
// (when TEST_DATABASE_URL is set), and has two stompjs clients chat.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';

import { api, onBothBackends, sleep, within } from './support/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PER_CLIENT = 20;
const WAIT_MS = 30_000;
const TEST_TIMEOUT_MS = 180_000;

// -------------------------------------------------------------- postgres --

// ------------------------------------------------------------------- REST --

async function signup(server, username) {
  const r = await api(server, 'POST', '/api/v1/auth/signup', null, {
    username,
    password: `pw-${username}-secret`,
  });
  assert.equal(r.status, 201, `signup ${username}: ${JSON.stringify(r.body)}`);
  return { username, token: r.body.access_token };
}

async function createRoom(server, user, name) {
  const r = await api(server, 'POST', '/api/v1/rooms', user.token, { name });
  assert.equal(r.status, 201, `create room ${name}: ${JSON.stringify(r.body)}`);
}

async function history(server, user, room) {
  const r = await api(server, 'GET', `/api/v1/rooms/${room}/messages?after=0&limit=200`, user.token);
  assert.equal(r.status, 200, `history of ${room}: ${JSON.stringify(r.body)}`);
  assert.equal(r.body.has_more, false, 'the whole conversation fits in one page');
  return r.body.messages;
}

// ------------------------------------------------------------------ STOMP --

/** One stompjs client that records everything it is sent. */
class ChatClient {
  constructor(server, user) {
    this.server = server;
    this.user = user;
    this.deliveries = []; // { headers, message }
    this.problems = []; // STOMP errors and unexpected closes
    this.nextReceipt = 0;
  }

  async connect() {
    await within(WAIT_MS, `${this.user.username} CONNECTED`, new Promise((resolve, reject) => {
      this.client = new Client({
        webSocketFactory: () => new WebSocket(this.server.wsUrl, ['v12.stomp', 'v11.stomp', 'v10.stomp']),
        connectHeaders: { Authorization: `Bearer ${this.user.token}` },
        reconnectDelay: 0, // a dropped session is a failure here, not something to paper over
        onConnect: (frame) => {
          this.connected = frame;
          resolve();
        },
        onStompError: (frame) => {
          this.problems.push(`ERROR ${frame.headers.message}: ${frame.body}`);
          reject(new Error(`${this.user.username}: ${this.problems.at(-1)}`));
        },
        onWebSocketClose: (event) => {
          if (!this.closing) this.problems.push(`socket closed (code ${event.code})`);
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

  /** SUBSCRIBE, resolved when the server has confirmed it with a RECEIPT. */
  async subscribe(room) {
    const receipt = `${this.user.username}-sub`;
    const confirmed = this.receipt(receipt);
    this.client.subscribe(
      `/topic/rooms/${room}`,
      (frame) => this.deliveries.push({ headers: frame.headers, message: JSON.parse(frame.body) }),
      { id: 'sub-0', receipt },
    );
    await confirmed;
  }

  /** SEND with a receipt; resolves to the RECEIPT's headers. */
  async publish(room, body) {
    const receipt = `${this.user.username}-r${this.nextReceipt++}`;
    const done = this.receipt(receipt);
    this.client.publish({ destination: `/topic/rooms/${room}`, body, headers: { receipt } });
    return (await done).headers;
  }

  async waitForDeliveries(n) {
    const deadline = Date.now() + WAIT_MS;
    while (this.deliveries.length < n && Date.now() < deadline) await sleep(20);
    assert.ok(
      this.deliveries.length >= n,
      `${this.user.username} got ${this.deliveries.length} of ${n} messages within ${WAIT_MS} ms`,
    );
  }

  async close() {
    if (!this.client) return;
    this.closing = true;
    await within(WAIT_MS, `${this.user.username} deactivate`, this.client.deactivate());
  }
}

// -------------------------------------------------------------- scenarios --

/** Two users chat in one room; everyone sees everything once, in order. */
async function twoClientsChat(server) {
  const room = 'lobby';
  const users = [await signup(server, 'alice'), await signup(server, 'bob')];
  await createRoom(server, users[0], room);
  const clients = users.map((u) => new ChatClient(server, u));
  try {
    await Promise.all(clients.map((c) => c.connect()));
    for (const c of clients) {
      assert.equal(c.connected.headers.version, '1.2', 'stompjs and Parley settle on STOMP 1.2');
      assert.equal(c.connected.headers['user-name'], c.user.username);
    }
    await Promise.all(clients.map((c) => c.subscribe(room)));

    // Both send at the same time, each waiting for nothing but its receipts.
    const receipts = new Map(); // body -> RECEIPT headers
    await Promise.all(
      clients.map(async (c) => {
        const sent = [];
        for (let i = 0; i < PER_CLIENT; i++) {
          const body = `${c.user.username} ${i}`;
          sent.push(c.publish(room, body).then((headers) => receipts.set(body, headers)));
        }
        await Promise.all(sent);
      }),
    );
    const total = clients.length * PER_CLIENT;
    assert.equal(receipts.size, total, 'every SEND got its RECEIPT');

    await Promise.all(clients.map((c) => c.waitForDeliveries(total)));
    await sleep(300); // anything extra (a duplicate) would arrive now

    const stored = await history(server, users[0], room);
    assert.deepEqual(
      stored.map((m) => m.seq),
      Array.from({ length: total }, (_, i) => i + 1),
      'history holds seqs 1..40',
    );
    for (const c of clients) {
      const who = c.user.username;
      const messages = c.deliveries.map((d) => d.message);
      assert.equal(messages.length, total, `${who} got each message exactly once`);
      assert.deepEqual(
        messages.map((m) => m.seq),
        Array.from({ length: total }, (_, i) => i + 1),
        `${who} got seqs 1..${total} in order`,
      );
      assert.deepEqual(messages, stored, `${who}: what was delivered is what history holds`);
      for (const { headers, message } of c.deliveries) {
        assert.equal(headers.destination, `/topic/rooms/${room}`);
        assert.equal(headers.subscription, 'sub-0');
        assert.equal(headers['message-id'], String(message.id), 'message-id header = message id');
        assert.equal(headers.seq, String(message.seq), 'seq header = message seq');
        assert.equal(headers['content-type'], 'application/json');
      }
    }
    for (const m of stored) {
      const receipt = receipts.get(m.body);
      assert.ok(receipt, `a RECEIPT was received for ${m.body}`);
      assert.equal(receipt['message-id'], String(m.id), `RECEIPT message-id of ${m.body}`);
      assert.equal(receipt.seq, String(m.seq), `RECEIPT seq of ${m.body}`);
      assert.equal(m.sender, m.body.split(' ')[0], 'the sender is the authenticated user');
    }
    for (const u of users) {
      const own = stored.filter((m) => m.sender === u.username).map((m) => m.body);
      assert.deepEqual(
        own,
        Array.from({ length: PER_CLIENT }, (_, i) => `${u.username} ${i}`),
        `${u.username}'s messages are stored in the order sent`,
      );
    }
    for (const c of clients) assert.deepEqual(c.problems, [], `${c.user.username} saw no error`);
  } finally {
    await Promise.allSettled(clients.map((c) => c.close()));
  }
}

/** e2e/README-example.mjs, run as a user would, prints its own message. */
async function readmeExampleRuns(server) {
  const carol = await signup(server, 'carol');
  await createRoom(server, carol, 'readme');
  const { stdout } = await promisify(execFile)(process.execPath, [path.join(HERE, 'README-example.mjs')], {
    cwd: HERE,
    env: { ...process.env, PARLEY_URL: server.wsUrl, TOKEN: carol.token, ROOM: 'readme' },
    timeout: WAIT_MS,
  });
  assert.equal(stdout.trim(), '#1 carol: hello from stompjs', 'the example prints the message it sent');
}

// ------------------------------------------------------------------ tests --

onBothBackends('Parley with @stomp/stompjs', { timeout: TEST_TIMEOUT_MS }, (server, backend) => {
  test('two clients each send 20 messages; both see all 40 once, in seq order, as in history', async () => {
    await twoClientsChat(server());
  });

  if (backend === 'sqlite') {
    test('the README example runs', async () => {
      await readmeExampleRuns(server());
    });
  }
});
