// End-to-end: the web client served at `/`, driven in Debian's Chromium
// through playwright-core.
//
// Starts `PARLEY_BIN` (as chat.test.mjs does: `cargo build --bin parley`,
// or scripts/test exports the path) on a free loopback port with SQLite, and
// has two people chat in two browser contexts, one of whom loses the
// connection and must get every missed message exactly once, in order.
// Chromium: /usr/bin/chromium (scripts/test installs it as root), or
// CHROMIUM_BIN. A screenshot of the chat lands in test-artifacts/.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import { sleep, startServer as startParley, stopServer, within } from './support/server.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..');
const ARTIFACTS = path.join(ROOT, 'test-artifacts');
const WAIT_MS = 30_000;
const TEST_TIMEOUT_MS = 180_000;

// ------------------------------------------------------------------ utils --

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The server, with the page's own origin allowed (CORS and WebSocket). */
const startServer = (extraEnv = {}) =>
  startParley({ env: (base) => ({ ALLOWED_ORIGINS: base, ...extraEnv }) });

/** The stored history of a room, read over REST as `username`. */
async function history(server, username, room) {
  const post = (route, body) =>
    fetch(server.base + route, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const login = await post('/api/v1/auth/login', { username, password: passwordOf(username) });
  assert.equal(login.status, 200, `REST login as ${username}`);
  const { access_token: token } = await login.json();
  const res = await fetch(`${server.base}/api/v1/rooms/${room}/messages?after=0&limit=200`, {
    headers: { authorization: `Bearer ${token}` },
  });
  assert.equal(res.status, 200, `history of ${room}`);
  const page = await res.json();
  assert.equal(page.has_more, false, 'the conversation fits in one page');
  return page.messages;
}

// ---------------------------------------------------------------- browser --

/** One person in their own browser context, with what went wrong in the page. */
async function openPerson(browser, server, username, viewport = { width: 1100, height: 760 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const person = { username, context, page, pageErrors: [], sockets: 0, refreshes: 0 };
  page.on('pageerror', (err) => person.pageErrors.push(err.message));
  page.on('websocket', () => {
    person.sockets += 1;
  });
  page.on('request', (req) => {
    if (req.url().endsWith('/api/v1/auth/refresh')) person.refreshes += 1;
  });
  await page.goto(server.base);
  return person;
}

async function signUp(person) {
  const { page } = person;
  await page.getByLabel('Username').fill(person.username);
  await page.getByLabel('Password', { exact: true }).fill(passwordOf(person.username));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${person.username}`).waitFor();
  await waitStatus(person, 'Connected');
}

async function waitStatus(person, text) {
  await person.page.locator('#connection-status').filter({ hasText: text }).waitFor({ timeout: WAIT_MS });
}

/** Sends through the composer, as a person would (Enter). */
async function say(person, text) {
  const input = person.page.getByRole('textbox', { name: /^Message #/ });
  await input.fill(text);
  await input.press('Enter');
}

/** The message list on screen: [{ seq, sender, body }] in DOM order. */
function shownMessages(person) {
  return person.page.locator('.message-list li[data-seq]').evaluateAll((items) =>
    items.map((li) => ({
      seq: Number(li.dataset.seq),
      sender: li.querySelector('.sender').textContent,
      body: li.querySelector('.body').textContent,
    })),
  );
}

/** Waits until `count` messages are shown and nothing is still sending. */
async function waitShown(person, count) {
  const deadline = Date.now() + WAIT_MS;
  let shown = [];
  let pending = 0;
  while (Date.now() < deadline) {
    shown = await shownMessages(person);
    pending = await person.page.locator('.message-list li.pending').count();
    if (shown.length >= count && pending === 0) return shown;
    await sleep(50);
  }
  assert.fail(`${person.username} shows ${shown.length} of ${count} messages (${pending} still sending)`);
}

/** The screen holds exactly the stored history: every seq once, in order. */
function assertShowsHistory(person, shown, stored) {
  const who = person.username;
  assert.deepEqual(
    shown.map((m) => m.seq),
    range(1, stored.length),
    `${who} shows seqs 1..${stored.length}, each once, in order`,
  );
  assert.deepEqual(
    shown,
    stored.map(({ seq, sender, body }) => ({ seq, sender, body })),
    `${who} shows what history holds`,
  );
}

// ------------------------------------------------------------------ tests --

describe('web client in Chromium', { timeout: TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  before(async () => {
    server = await startServer({ LOGIN_FAILURES_PER_USER: '3' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stopServer(server);
  });

  test('the page is served with its policy; unknown API paths still answer JSON', async () => {
    const page = await fetch(`${server.base}/`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.match(page.headers.get('content-security-policy'), /script-src 'self'/);
    const missing = await fetch(`${server.base}/api/v1/no-such-route`);
    assert.equal(missing.status, 404);
    assert.deepEqual((await missing.json()).error.code, 'not_found');
  });

  test('two people chat, and one who drops gets every missed message once, in order', async () => {
    const room = 'lobby';
    const alice = await openPerson(browser, server, 'alice');
    const bob = await openPerson(browser, server, 'bob');
    try {
      await Promise.all([signUp(alice), signUp(bob)]);

      await alice.page.getByRole('button', { name: '+ New room' }).click();

      await alice.page.getByLabel('Create a room').fill(room);
      await alice.page.getByRole('button', { name: 'Create', exact: true }).click();
      await alice.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await bob.page.getByRole('button', { name: 'Join a room', exact: true }).click();
      await bob.page.getByLabel('Join a room by name').fill(room);
      await bob.page.getByRole('button', { name: 'Join', exact: true }).click();
      await bob.page.getByRole('heading', { name: `# ${room}` }).waitFor();

      // Both type at once.
      await Promise.all(
        [alice, bob].map(async (p) => {
          for (let i = 0; i < 5; i++) await say(p, `${p.username} ${i}`);
        }),
      );
      const shownFirst = await Promise.all([alice, bob].map((p) => waitShown(p, 10)));
      let stored = await history(server, 'alice', room);
      assert.equal(stored.length, 10, 'ten messages stored');
      [alice, bob].forEach((p, i) => assertShowsHistory(p, shownFirst[i], stored));
      for (const p of [alice, bob]) {
        assert.deepEqual(
          stored.filter((m) => m.sender === p.username).map((m) => m.body),
          range(0, 4).map((i) => `${p.username} ${i}`),
          `${p.username}'s messages are stored in the order typed`,
        );
      }

      // Bob's connection drops and stays down while Alice keeps talking;
      // Bob writes one message meanwhile (it waits in his outbox).
      await bob.page.evaluate(() => window.parley.dropConnection({ hold: true }));
      await waitStatus(bob, 'Reconnecting…');
      for (let i = 5; i < 15; i++) await say(alice, `alice ${i}`);
      await waitShown(alice, 20);
      await say(bob, 'bob while offline');
      await bob.page.locator('.message-list li.pending').filter({ hasText: 'bob while offline' }).waitFor();
      assert.equal((await shownMessages(bob)).length, 10, 'a disconnected Bob sees nothing new');

      await bob.page.evaluate(() => window.parley.releaseConnection());
      await waitStatus(bob, 'Connected');
      const shownAfter = await Promise.all([alice, bob].map((p) => waitShown(p, 21)));
      stored = await history(server, 'alice', room);
      assert.equal(stored.length, 21, "Bob's queued message was stored once after the reconnect");
      assert.equal(stored.at(-1).body, 'bob while offline');
      [alice, bob].forEach((p, i) => assertShowsHistory(p, shownAfter[i], stored));

      // A drop that the client recovers from on its own (no hold), with
      // messages arriving right then.
      await bob.page.evaluate(() => window.parley.dropConnection());
      for (let i = 15; i < 18; i++) await say(alice, `alice ${i}`);
      await waitStatus(bob, 'Connected');
      const shownLast = await Promise.all([alice, bob].map((p) => waitShown(p, 24)));
      stored = await history(server, 'alice', room);
      assert.equal(stored.length, 24);
      [alice, bob].forEach((p, i) => assertShowsHistory(p, shownLast[i], stored));
      await sleep(500); // a duplicate would show up now
      assertShowsHistory(bob, await shownMessages(bob), stored);
      assert.ok(bob.sockets >= 3, `Bob reconnected twice (WebSockets opened: ${bob.sockets})`);

      mkdirSync(ARTIFACTS, { recursive: true });
      await bob.page.screenshot({ path: path.join(ARTIFACTS, 'chat.png') });
      await bob.page.setViewportSize({ width: 390, height: 760 });
      await bob.page.screenshot({ path: path.join(ARTIFACTS, 'chat-phone.png') });

      for (const p of [alice, bob]) assert.deepEqual(p.pageErrors, [], `${p.username}: no script errors`);
    } finally {
      await Promise.allSettled([alice.context.close(), bob.context.close()]);
    }
  });

  test('the room owner adds someone to a private room, who then sees it', async () => {
    const owner = await openPerson(browser, server, 'olivia');
    const guest = await openPerson(browser, server, 'gus');
    try {
      await Promise.all([signUp(owner), signUp(guest)]);
      await owner.page.getByRole('button', { name: '+ New room' }).click();
      await owner.page.getByLabel('Create a room').fill('secret');
      await owner.page.getByRole('checkbox', { name: /^Private/ }).check();
      await owner.page.getByRole('button', { name: 'Create', exact: true }).click();
      await owner.page.getByRole('heading', { name: '# secret' }).waitFor();
      await say(owner, 'for members only');
      await waitShown(owner, 1);

      // Not a member yet: the room is invisible.
      await guest.page.getByRole('button', { name: 'Join a room', exact: true }).click();
      await guest.page.getByLabel('Join a room by name').fill('secret');
      await guest.page.getByRole('button', { name: 'Join', exact: true }).click();
      await guest.page.getByRole('alert').filter({ hasText: 'Room not found' }).waitFor();
      await guest.page.keyboard.press('Escape'); // closes the "Join a room" dialog

      await owner.page.getByRole('button', { name: 'Members' }).click();
      await owner.page.getByLabel('Add someone to this room').fill('gus');
      await owner.page.getByRole('button', { name: 'Add', exact: true }).click();
      await owner.page.locator('#member-list li').filter({ hasText: 'gus' }).waitFor();

      await guest.page.getByRole('button', { name: 'Refresh the room list' }).click();
      await guest.page.getByRole('button', { name: /# secret/ }).click();
      await guest.page.getByRole('heading', { name: '# secret' }).waitFor();
      const shown = await waitShown(guest, 1);
      assert.deepEqual(shown, [{ seq: 1, sender: 'olivia', body: 'for members only' }]);
    } finally {
      await Promise.allSettled([owner.context.close(), guest.context.close()]);
    }
  });

  test('scrolling up pages back through history', async () => {
    const talker = await openPerson(browser, server, 'tess');
    const reader = await openPerson(browser, server, 'ray');
    try {
      await Promise.all([signUp(talker), signUp(reader)]);
      await talker.page.getByRole('button', { name: '+ New room' }).click();
      await talker.page.getByLabel('Create a room').fill('archive');
      await talker.page.getByRole('button', { name: 'Create', exact: true }).click();
      await talker.page.getByRole('heading', { name: '# archive' }).waitFor();
      for (let i = 1; i <= 60; i++) await say(talker, `line ${i}`);
      await waitShown(talker, 60);

      await reader.page.getByRole('button', { name: 'Join a room', exact: true }).click();

      await reader.page.getByLabel('Join a room by name').fill('archive');
      await reader.page.getByRole('button', { name: 'Join', exact: true }).click();
      await reader.page.getByRole('heading', { name: '# archive' }).waitFor();
      const latest = await waitShown(reader, 50);
      assert.deepEqual(latest.map((m) => m.seq), range(11, 60), 'the room opens on its latest 50 messages');
      await reader.page.getByRole('button', { name: 'Load older messages' }).waitFor();

      await reader.page.locator('#message-scroller').evaluate((el) => {
        el.scrollTop = 0;
      });
      await reader.page.getByText('This is the beginning of #archive.').waitFor();
      const all = await shownMessages(reader);
      assert.deepEqual(all.map((m) => m.seq), range(1, 60), 'older messages are added above, once');
      assert.deepEqual(all.map((m) => m.body), range(1, 60).map((i) => `line ${i}`));
      assert.equal(await reader.page.getByRole('button', { name: 'Load older messages' }).count(), 0);
    } finally {
      await Promise.allSettled([talker.context.close(), reader.context.close()]);
    }
  });

  test('errors are shown: wrong password, then too many attempts', async () => {
    const mallory = await openPerson(browser, server, 'mallory');
    try {
      await signUp(mallory);
      await mallory.page.getByRole('button', { name: 'Log out' }).click();
      const { page } = mallory;
      await page.getByLabel('Username').fill('mallory');
      await page.getByLabel('Password', { exact: true }).fill('not-the-password');
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').filter({ hasText: 'Wrong username or password.' }).waitFor();

      // LOGIN_FAILURES_PER_USER is 3 here: the server soon answers 429.
      for (let attempt = 0; attempt < 5; attempt++) {
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.getByRole('button', { name: 'Log in' }).and(page.locator(':enabled')).waitFor();
        if ((await page.locator('#auth-error').textContent()).startsWith('Too many attempts')) break;
      }
      await page.getByRole('alert').filter({ hasText: /^Too many attempts\. Try again in \d+ seconds\.$/ }).waitFor();
      assert.deepEqual(mallory.pageErrors, []);
    } finally {
      await mallory.context.close();
    }
  });
});

describe('web client across access-token expiry', { timeout: TEST_TIMEOUT_MS }, () => {
  let server;
  let browser;
  before(async () => {
    // Tokens live 6 s: the client renews them, and the STOMP session the
    // server ends at expiry ("token expired") resumes without a gap.
    server = await startServer({ JWT_TTL_SECS: '6' });
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await stopServer(server);
  });

  test('the session outlives its access tokens', async () => {
    const carol = await openPerson(browser, server, 'carol');
    try {
      await signUp(carol);
      await carol.page.getByRole('button', { name: '+ New room' }).click();
      await carol.page.getByLabel('Create a room').fill('night');
      await carol.page.getByRole('button', { name: 'Create', exact: true }).click();
      await carol.page.getByRole('heading', { name: '# night' }).waitFor();
      await say(carol, 'before expiry');
      await waitShown(carol, 1);

      await sleep(14_000); // two token lifetimes
      await waitStatus(carol, 'Connected');
      await say(carol, 'after expiry');
      const shown = await waitShown(carol, 2);
      const stored = await history(server, 'carol', 'night');
      assert.equal(stored.length, 2);
      assertShowsHistory(carol, shown, stored);
      assert.ok(carol.refreshes >= 2, `tokens were renewed (${carol.refreshes} refreshes)`);
      assert.ok(carol.sockets >= 2, `the STOMP session was resumed after expiry (${carol.sockets} sockets)`);
      assert.deepEqual(carol.pageErrors, []);
    } finally {
      await carol.context.close();
    }
  });
});
