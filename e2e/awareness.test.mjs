// End-to-end: what makes the chat feel alive, in the web client, driven in
// Chromium through playwright-core with two people (and a second tab of
// one of them), each in their own browser context: unread badges and the
// mention marker in the room list, the "New messages" divider, the read
// marker advancing as messages are seen, "alice is typing…", and presence
// dots in the members panel. On SQLite and on Postgres (onBothBackends).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser } from './support/browser.mjs';
import {
  LIVE_MS,
  closePeople,
  composer,
  createRoom,
  eventually,
  joinRoom,
  openMembers,
  openPerson,
  rest,
  say,
  signIn,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends, sleep } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 900_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
/** A typist is shown for the signal's expires_in_ms (6 s), then forgotten. */
const TYPING_GONE_MS = 10_000;

/** The badges on a room's button in the sidebar: the unread count ('' when
 * none) and whether the mention marker shows. */
const badgesOf = (person, room) =>
  person.page.evaluate((name) => {
    const button = document.querySelector(`#room-list [data-room="${CSS.escape(name)}"]`);
    if (!button) return null;
    return {
      unread: button.querySelector('.badge.unread')?.textContent ?? '',
      mention: button.querySelector('.badge.mention-marker') !== null,
      // What a screen reader adds to the button's name.
      spoken: document.getElementById(button.getAttribute('aria-describedby'))?.textContent ?? '',
    };
  }, room);

const counts = async (person, room) => {
  const b = await badgesOf(person, room);
  return b && { unread: b.unread, mention: b.mention };
};

/** The room object as the server gives it to `username`. */
async function storedRoom(server, username, room) {
  const res = await rest(server, 'GET', `/rooms/${room}`, { token: await tokenOf(server, username) });
  assert.equal(res.status, 200, `GET /rooms/${room} as ${username}`);
  return res.json;
}

/** The bodies just above and just below the "New messages" divider (null: no divider). */
const aroundDivider = (person) =>
  person.page.evaluate(() => {
    const divider = document.querySelector('.message-list li.new-divider');
    if (!divider) return null;
    const body = (li) => li?.querySelector('.body')?.textContent ?? null;
    return { above: body(divider.previousElementSibling), below: body(divider.nextElementSibling) };
  });

const openFromList = (person, room) =>
  person.page.locator(`#room-list [data-room="${room}"]`).click();

/** What the members panel says of `username`'s presence ('online', 'offline', or null). */
const presenceOf = (person, username) =>
  person.page.evaluate((name) => {
    const item = document.querySelector(`#member-list li[data-username="${CSS.escape(name)}"]`);
    if (!item) return null;
    const spoken = item.querySelector('.presence-text')?.textContent.trim() ?? '';
    return `${item.dataset.presence ?? 'none'} ${spoken}`;
  }, username);

const typingShown = (person) => person.page.locator('#typing').textContent();

onBothBackends(
  'read state, typing and presence in the web client (Chromium)',
  { timeout: SUITE_TIMEOUT_MS, env: (base) => ({ ALLOWED_ORIGINS: base }) },
  (server) => {
    let browser;
    let alice;
    let bob;
    let bobAgain;
    let n = 0;
    const newName = (what) => `${what}-${++n}`;

    before(async () => {
      browser = await launchBrowser();
      alice = await openPerson(browser, server(), 'alice');
      bob = await openPerson(browser, server(), 'bob');
    });
    after(async () => {
      await closePeople([alice, bob, bobAgain]);
      await browser?.close();
    });

    test('messages someone writes while I look elsewhere show as an unread badge and a mention marker, the divider sits above the first of them, and reading clears both', EACH, async () => {
      const room = newName('unread');
      const elsewhere = newName('elsewhere');
      await createRoom(alice, room);
      await say(alice, 'before bob came');
      await joinRoom(bob, room);
      await say(alice, 'seen as it came');
      // Bob has it on screen: his marker follows.
      await eventually(
        'the message Bob saw is read on the server',
        async () => {
          const r = await storedRoom(server(), 'bob', room);
          return r.membership.last_read_seq === r.last_seq && r.membership.unread;
        },
        0,
      );

      await createRoom(bob, elsewhere);
      await say(alice, 'first unread');
      await say(alice, 'second unread');
      await say(alice, 'hey @bob look here');
      await eventually(
        'Bob sees three unread and a mention',
        () => counts(bob, room),
        { unread: '3', mention: true },
        LIVE_MS,
      );
      assert.equal((await badgesOf(bob, room)).spoken, '1 mention, 3 unread', 'the badges are spoken');
      await bob.page.getByRole('button', { name: `# ${room}`, exact: true }).waitFor();
      const stored = await storedRoom(server(), 'bob', room);
      assert.equal(stored.membership.unread, 3, 'the server counts the same');
      assert.equal(stored.membership.mentions, 1);
      assert.deepEqual(await counts(bob, elsewhere), { unread: '', mention: false }, 'nothing new elsewhere');
      assert.deepEqual(await counts(alice, room), { unread: '', mention: false }, 'one’s own messages are not unread');

      await openFromList(bob, room);
      await bob.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      assert.deepEqual(
        await aroundDivider(bob),
        { above: 'seen as it came', below: 'first unread' },
        'the divider sits where Bob stopped reading',
      );
      assert.equal(
        await bob.page.getByRole('separator', { name: 'New messages' }).count(),
        1,
        'one divider, named for screen readers',
      );
      await eventually('the badges clear', () => counts(bob, room), { unread: '', mention: false }, LIVE_MS);
      await eventually(
        'the server has the marker at the last message',
        async () => {
          const r = await storedRoom(server(), 'bob', room);
          return [r.membership.last_read_seq === r.last_seq, r.membership.unread, r.membership.mentions];
        },
        [true, 0, 0],
        LIVE_MS,
      );

      // Opened again once all is read: no divider.
      await openFromList(bob, elsewhere);
      await openFromList(bob, room);
      assert.equal(await aroundDivider(bob), null, 'no divider when nothing is new');
    });

    test('my second tab shows the server’s counts, and what I read in one tab clears the badge in the other live', EACH, async () => {
      const room = newName('tabs');
      const elsewhere = newName('elsewhere');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await createRoom(bob, elsewhere);
      await say(alice, 'one');
      await say(alice, 'two');
      await eventually('the first tab counts two', () => counts(bob, room), { unread: '2', mention: false }, LIVE_MS);

      bobAgain = await signIn(browser, server(), 'bob');
      await eventually(
        'a new tab shows the count from the room list',
        () => counts(bobAgain, room),
        { unread: '2', mention: false },
      );
      await openFromList(bobAgain, room);
      await bobAgain.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await eventually(
        'reading in the second tab clears the first tab’s badge',
        () => counts(bob, room),
        { unread: '', mention: false },
        LIVE_MS,
      );

      await openFromList(bobAgain, elsewhere);
      await bobAgain.page.getByRole('heading', { name: `# ${elsewhere}` }).waitFor();
      await say(alice, 'three for @bob today');
      await eventually('the first tab', () => counts(bob, room), { unread: '1', mention: true }, LIVE_MS);
      await eventually('the second tab', () => counts(bobAgain, room), { unread: '1', mention: true }, LIVE_MS);
      await openFromList(bob, room);
      await eventually(
        'reading in the first tab clears the second tab’s badge',
        () => counts(bobAgain, room),
        { unread: '', mention: false },
        LIVE_MS,
      );
      await closePeople([bobAgain]);
      bobAgain = null;
    });

    test('bob sees “alice is typing…” while she types; it goes when her message arrives or when she stops, and nothing is stored', EACH, async () => {
      const room = newName('typing');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await say(alice, 'hello');
      await sleep(1_100); // typing 'hello' sent a signal: the server takes one a second
      const before = (await storedRoom(server(), 'alice', room)).last_seq;

      await composer(alice).pressSequentially('I am writing something long', { delay: 40 });
      await bob.page.locator('#typing').filter({ hasText: 'alice is typing…' }).waitFor({ timeout: LIVE_MS });
      assert.equal(await typingShown(alice), '', 'nobody is shown typing to herself');
      assert.equal(
        (await storedRoom(server(), 'alice', room)).last_seq,
        before,
        'typing takes no seq: nothing is stored',
      );

      await composer(alice).press('Enter');
      await eventually('her message ends it', () => typingShown(bob), '', LIVE_MS);
      assert.equal((await storedRoom(server(), 'alice', room)).last_seq, before + 1, 'only the message is stored');

      await sleep(1_100); // the server lets one typing signal a second through
      await composer(alice).pressSequentially('and more', { delay: 40 });
      await bob.page.locator('#typing').filter({ hasText: 'alice is typing…' }).waitFor({ timeout: LIVE_MS });
      // She stops: shown until the signal expires, then gone.
      await eventually('it expires once she stops', () => typingShown(bob), '', TYPING_GONE_MS);
      await composer(alice).fill('');
    });

    test('the members panel shows who is online: green while bob has a page open, grey once he closes it, green again when he comes back', EACH, async () => {
      const room = newName('presence');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await openMembers(alice, 'bob');
      await eventually('Bob is online', () => presenceOf(alice, 'bob'), 'online (online)', LIVE_MS);
      assert.equal(await presenceOf(alice, 'alice'), 'online (online)', 'so is Alice herself');
      const dot = await alice.page.evaluate(
        () => getComputedStyle(document.querySelector('#member-list li[data-username="bob"] .presence')).backgroundColor,
      );

      await closePeople([bob]);
      bob = null;
      await eventually('Bob is offline once his page is closed', () => presenceOf(alice, 'bob'), 'offline (offline)', LIVE_MS);
      const grey = await alice.page.evaluate(
        () => getComputedStyle(document.querySelector('#member-list li[data-username="bob"] .presence')).backgroundColor,
      );
      assert.notEqual(grey, dot, 'the dot changes colour');

      bob = await signIn(browser, server(), 'bob');
      await eventually('Bob is online again', () => presenceOf(alice, 'bob'), 'online (online)', LIVE_MS);
    });
  },
);
