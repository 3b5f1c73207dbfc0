// End-to-end: retention in the web client (README, "Retention"). The server
// keeps only the newest 5 events of each room (RETENTION_MAX_EVENTS_PER_ROOM,
// pruning every second: RETENTION_INTERVAL_SECS). Where the room's history
// starts at the horizon, the client says "Older messages are no longer
// available" instead of offering to load more: on opening a room whose old
// events are pruned, and when a reconnect's resume gets the server's
// `horizon` notice. First the bookkeeping (web/timeline.js) without a
// browser, then Chromium through playwright-core.
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path) with SQLite; Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Timeline } from '../web/timeline.js';
import { launchBrowser } from './support/browser.mjs';
import {
  WAIT_MS,
  closePeople,
  createRoom,
  joinRoom,
  openPerson,
  rest,
  tokenOf,
} from './support/person.mjs';
import { sleep, startServer, stopServer } from './support/server.mjs';

const KEEP = 5;
const EACH = { timeout: 120_000 };

const msg = (seq) => ({ seq, type: 'message', room: 'r', sender: 's', body: `m${seq}` });
const seqs = (events) => events.map((e) => e.seq);

describe('Timeline at the retention horizon', () => {
  test('a page at the horizon has nothing older to load', () => {
    const t = new Timeline();
    t.addLatest({ messages: [8, 9, 10].map(msg), has_more: false, horizon_seq: 7 });
    assert.equal(t.horizon, 7);
    assert.equal(t.atHorizon, true);
    const fresh = new Timeline();
    fresh.addLatest({ messages: [1, 2].map(msg), has_more: false, horizon_seq: 0 });
    assert.equal(fresh.atHorizon, false, 'nothing pruned: the real beginning');
    const paged = new Timeline();
    paged.addLatest({ messages: [9, 10].map(msg), has_more: true, horizon_seq: 7 });
    assert.equal(paged.atHorizon, false, 'seq 8 is still there');
    paged.addOlder({ messages: [msg(8)], has_more: false, horizon_seq: 7 });
    assert.equal(paged.atHorizon, true);
  });

  test('a horizon notice jumps over the pruned events and releases what waited', () => {
    const t = new Timeline();
    t.addLatest({ messages: [1, 2, 3].map(msg), has_more: false, horizon_seq: 0 });
    const notice = { type: 'horizon', room: 'r', horizon_seq: 7 };
    assert.deepEqual(t.add(notice), { fresh: [], gap: false });
    assert.equal(t.newest, 7, 'a resubscription resumes after the horizon');
    assert.equal(t.atHorizon, true);
    assert.deepEqual(seqs(t.add(msg(8)).fresh), [8], 'the replay goes on from the horizon + 1');
    assert.deepEqual(seqs(t.messages()), [1, 2, 3, 8], 'what was shown stays');

    // Live events beyond a gap that was pruned meanwhile (filling it with
    // ?after= finds the horizon above it).
    const u = new Timeline();
    u.addLatest({ messages: [1, 2].map(msg), has_more: false, horizon_seq: 0 });
    assert.equal(u.add(msg(9)).gap, true);
    const filled = u.addAfter({ messages: [8, 9].map(msg), has_more: false, horizon_seq: 7 });
    assert.deepEqual(seqs(filled.fresh), [8, 9]);
    assert.equal(filled.gap, false);
    assert.equal(u.newest, 9);
  });
});

async function post(server, token, room, n, from) {
  for (let i = 0; i < n; i++) {
    const res = await rest(server, 'POST', `/rooms/${room}/messages`, {
      token,
      body: { body: `message ${from + i}` },
    });
    assert.equal(res.status, 201, `post to ${room}`);
  }
}

/** Waits until the room's history says `horizon`; returns that page. */
async function waitForHorizon(server, token, room, horizon) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const res = await rest(server, 'GET', `/rooms/${room}/messages`, { token });
    assert.equal(res.status, 200);
    if (res.json.horizon_seq === horizon) return res.json;
    assert.ok(Date.now() < deadline, `horizon ${horizon} not reached: ${JSON.stringify(res.json)}`);
    await sleep(100);
  }
}

const shownSeqs = (person) =>
  person.page
    .locator('.message-list li[data-seq]')
    .evaluateAll((items) => items.map((li) => Number(li.dataset.seq)));

async function waitShown(person, expected) {
  const deadline = Date.now() + WAIT_MS;
  let actual;
  while (Date.now() < deadline) {
    actual = await shownSeqs(person);
    if (JSON.stringify(actual) === JSON.stringify(expected)) return;
    await sleep(50);
  }
  assert.deepEqual(actual, expected, `${person.username} shows these messages`);
}

const NO_LONGER = 'Older messages are no longer available.';

describe('retention in the web client (Chromium)', { timeout: 600_000 }, () => {
  let server;
  let browser;
  let alice;
  let bob;

  before(async () => {
    server = await startServer({
      env: (base) => ({
        ALLOWED_ORIGINS: base,
        RETENTION_MAX_EVENTS_PER_ROOM: String(KEEP),
        RETENTION_INTERVAL_SECS: '1',
      }),
    });
    browser = await launchBrowser();
    alice = await openPerson(browser, server, 'alice');
    bob = await openPerson(browser, server, 'bob');
  });
  after(async () => {
    await closePeople([alice, bob]);
    await browser?.close();
    await stopServer(server);
  });

  test('a room whose old messages are pruned says so at the top instead of loading more', EACH, async () => {
    const room = 'pruned';
    await createRoom(alice, room);
    const head = alice.page.locator('#history-start');
    await head.filter({ hasText: `This is the beginning of #${room}.` }).waitFor();
    const token = await tokenOf(server, 'alice');
    await post(server, token, room, 12, 1);
    const latest = await waitForHorizon(server, token, room, 12 - KEEP);
    assert.equal(latest.has_more, false);

    await joinRoom(bob, room);
    await waitShown(bob, [8, 9, 10, 11, 12]);
    await bob.page.locator('#history-start').filter({ hasText: NO_LONGER }).waitFor();
    assert.equal(await bob.page.locator('#load-older').isHidden(), true, 'nothing older to load');
    // Scrolling to the top loads nothing more.
    await bob.page.locator('#message-scroller').evaluate((el) => {
      el.scrollTop = 0;
    });
    await sleep(300);
    assert.deepEqual(await shownSeqs(bob), [8, 9, 10, 11, 12]);
  });

  test('a reconnect that resumes below the horizon says older messages are gone', EACH, async () => {
    const room = 'resumed';
    await createRoom(alice, room);
    await joinRoom(bob, room);
    const token = await tokenOf(server, 'alice');
    await post(server, token, room, 3, 1);
    await waitShown(bob, [1, 2, 3]);
    const head = bob.page.locator('#history-start');
    await head.filter({ hasText: `This is the beginning of #${room}.` }).waitFor();

    // Bob is away while the room moves on and its events up to 7 are pruned.
    await bob.page.evaluate(() => window.parley.dropConnection({ hold: true }));
    await bob.page.locator('#connection-status').filter({ hasText: 'Reconnecting…' }).waitFor();
    await post(server, token, room, 9, 4);
    await waitForHorizon(server, token, room, 12 - KEEP);
    await bob.page.evaluate(() => window.parley.releaseConnection());
    await bob.page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();

    // since-seq:3 is below the horizon: the `horizon` notice, then 8..12.
    await waitShown(bob, [1, 2, 3, 8, 9, 10, 11, 12]);
    await head.filter({ hasText: NO_LONGER }).waitFor();
    await post(server, token, room, 1, 13);
    await waitShown(bob, [1, 2, 3, 8, 9, 10, 11, 12, 13]);
  });
});
