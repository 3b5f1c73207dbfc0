// End-to-end: staying signed in and the live room list in the web client,
// driven in Chromium through playwright-core, with Alice and Bob each in
// their own browser context (on SQLite and on Postgres, onBothBackends).
// A reload keeps the session and the open room; a second tab of the same
// browser is signed in; a conversation opened by one person, and being
// added to or removed from a private room, reach the other's room list
// through the user destination, without any GET /rooms; the tab's title
// carries the unread count and clears on reading; logging out forgets it.
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`); Chromium:
// /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser } from './support/browser.mjs';
import {
  chooseFromMenu,
  closePeople,
  conversationButton,
  createRoom,
  eventually,
  joinRoom,
  openMembers,
  openPerson,
  rest,
  roomButton,
  say,
  tokenOf,
  WAIT_MS,
} from './support/person.mjs';
import { onBothBackends, sleep } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
/** The user destination's promise: within 2 s. */
const LIVE_MS = 2_000;

/** Records every GET /api/v1/rooms the page makes from now on. */
function watchRoomListReads(page) {
  const reads = [];
  const listener = (request) => {
    if (request.method() === 'GET' && new URL(request.url()).pathname === '/api/v1/rooms') reads.push(request.url());
  };
  page.on('request', listener);
  return { reads, stop: () => page.off('request', listener) };
}

/** Waits up to LIVE_MS for `locator` to show; false if it did not. */
async function showsWithin(locator, ms = LIVE_MS) {
  try {
    await locator.waitFor({ timeout: ms });
    return true;
  } catch {
    return false;
  }
}

onBothBackends(
  'staying signed in and the live room list in the web client (Chromium)',
  { timeout: SUITE_TIMEOUT_MS, env: (base) => ({ ALLOWED_ORIGINS: base }) },
  (server) => {
    let browser;
    let alice;
    let bob;
    let n = 0;
    const newName = (what) => `${what}-${++n}`;

    before(async () => {
      browser = await launchBrowser();
      alice = await openPerson(browser, server(), 'alice');
      bob = await openPerson(browser, server(), 'bob');
    });
    after(async () => {
      await closePeople([alice, bob]);
      await browser?.close();
    });

    test('a reload keeps the session, the open room and where it was scrolled', EACH, async () => {
      const room = newName('reload');
      await createRoom(alice, room);
      for (let i = 1; i <= 40; i += 1) await say(alice, `line ${i}`);
      // Scrolled up to "line 10" at the top of the view.
      await alice.page.evaluate(() => {
        const scroller = document.getElementById('message-scroller');
        const item = [...scroller.querySelectorAll('li[data-seq]')].find(
          (li) => li.querySelector('.body')?.textContent === 'line 10',
        );
        scroller.scrollTop += item.getBoundingClientRect().top - scroller.getBoundingClientRect().top;
      });
      await sleep(500); // the place is written down at most every 300 ms
      await alice.page.reload();
      await alice.page.getByText('Signed in as alice').waitFor();
      await alice.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await alice.page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
      assert.equal(await alice.page.locator('#auth-view').isVisible(), false, 'no sign-in form after a reload');
      const topBody = () =>
        alice.page.evaluate(() => {
          const scroller = document.getElementById('message-scroller');
          const top = scroller.getBoundingClientRect().top;
          const item = [...scroller.querySelectorAll('li[data-seq]')].find(
            (li) => li.getBoundingClientRect().bottom > top + 1,
          );
          return item?.querySelector('.body')?.textContent ?? null;
        });
      await eventually('the view is back at "line 10"', topBody, 'line 10');
      // The tokens are in no storage the page can read.
      const stored = await alice.page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
      assert.doesNotMatch(stored, /eyJ|access_token|refresh_token/, 'no token in web storage');
      assert.doesNotMatch(await alice.page.evaluate(() => document.cookie), /parley_refresh/, 'the cookie is HttpOnly');
    });

    test('a second tab of the same browser is signed in, in the last room', EACH, async () => {
      const room = newName('second-tab');
      await createRoom(bob, room);
      await sleep(100);
      const tab = await bob.context.newPage();
      tab.setDefaultTimeout(WAIT_MS);
      const errors = [];
      tab.on('pageerror', (err) => errors.push(err.message));
      try {
        await tab.goto(server().base);
        await tab.getByText('Signed in as bob').waitFor();
        await tab.getByRole('heading', { name: `# ${room}` }).waitFor();
        await tab.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
        // Both tabs keep working: each renews its token through the one cookie.
        await tab.getByRole('textbox', { name: /^Message [#@]/ }).fill('from the second tab');
        await tab.keyboard.press('Enter');
        await bob.page.locator('.message-list .body', { hasText: 'from the second tab' }).waitFor();
      } finally {
        await tab.close();
      }
      assert.deepEqual(errors, [], 'no script errors in the second tab');
    });

    test('a conversation opened by one person shows in the other’s list within 2 s, without a re-read', EACH, async () => {
      const room = newName('meet');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      const watch = watchRoomListReads(alice.page);
      try {
        await openMembers(bob, 'alice');
        await chooseFromMenu(bob, 'alice', 'Message');
        await bob.page.getByRole('heading', { name: '@alice' }).waitFor();
        assert.ok(await showsWithin(conversationButton(alice, 'bob')), 'Alice sees @bob within 2 s');
        assert.deepEqual(watch.reads, [], 'no GET /rooms on Alice’s page meanwhile');
      } finally {
        watch.stop();
      }
    });

    test('being added to a private room shows it live; being removed or banned takes it away live', EACH, async () => {
      const room = newName('secret');
      await createRoom(alice, room, { private: true });
      const token = await tokenOf(server(), 'alice');
      const watch = watchRoomListReads(bob.page);
      try {
        const added = await rest(server(), 'POST', `/rooms/${room}/members`, { token, body: { username: 'bob' } });
        assert.ok([200, 201, 204].includes(added.status), `add bob: ${added.status}`);
        assert.ok(await showsWithin(roomButton(bob, room)), 'Bob sees the room within 2 s of being added');
        const removed = await rest(server(), 'DELETE', `/rooms/${room}/members/bob`, { token });
        assert.ok([200, 204].includes(removed.status), `remove bob: ${removed.status}`);
        await roomButton(bob, room).waitFor({ state: 'detached', timeout: LIVE_MS });
        // Added again, then banned.
        await rest(server(), 'POST', `/rooms/${room}/members`, { token, body: { username: 'bob' } });
        assert.ok(await showsWithin(roomButton(bob, room)), 'Bob sees the room again');
        const banned = await rest(server(), 'POST', `/rooms/${room}/bans`, { token, body: { username: 'bob' } });
        assert.ok([200, 201, 204].includes(banned.status), `ban bob: ${banned.status}`);
        await roomButton(bob, room).waitFor({ state: 'detached', timeout: LIVE_MS });
        assert.deepEqual(watch.reads, [], 'no GET /rooms on Bob’s page meanwhile');
      } finally {
        watch.stop();
      }
    });

    test('the tab title shows the unread count and clears on reading', EACH, async () => {
      const room = newName('title');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      // Bob looks at another room, so this one's messages stay unread.
      const elsewhere = newName('elsewhere');
      await createRoom(bob, elsewhere);
      for (const text of ['one', 'two', 'three']) await say(alice, text);
      await eventually('Bob’s title counts 3', () => bob.page.title(), '(3) Parley');
      await roomButton(bob, room).click();
      await bob.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await eventually('Bob’s title is clear once read', () => bob.page.title(), 'Parley');
    });

    test('logging out forgets the session and the room: a reload shows the sign-in form', EACH, async () => {
      const page = alice.page;
      await page.getByRole('button', { name: 'Log out' }).click();
      await page.getByLabel('Username').waitFor();
      await page.reload();
      await page.getByLabel('Username').waitFor();
      await sleep(300);
      assert.equal(await page.getByText('Signed in as alice').isVisible(), false, 'still signed out after a reload');
      assert.equal(await page.title(), 'Parley');
      const kept = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
      assert.doesNotMatch(kept, /parley\.view\.alice/, 'nothing of Alice’s kept');
    });
  },
);
