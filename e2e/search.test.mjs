// End-to-end: finding what was said, in the web client, driven in Chromium
// through playwright-core. Alice writes in a room, then enough more that
// the message is no longer in the latest page; Bob, in his own browser
// context and looking at another room, finds it with the search box
// (Latin, case-insensitive, and Hangul: 안녕 inside 안녕하세요) or in his
// mentions, and a click opens the room scrolled to the message, which is
// highlighted. On SQLite and on Postgres (onBothBackends).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser } from './support/browser.mjs';
import {
  closePeople,
  createRoom,
  joinRoom,
  openPerson,
  rest,
  say,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 900_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
/** More than the latest page the room opens with (50). */
const LATER_MESSAGES = 70;

/** Alice writes `count` more messages over HTTP, so earlier ones fall out of the latest page. */
async function writeMore(server, room, count) {
  const token = await tokenOf(server, 'alice');
  for (let i = 1; i <= count; i++) {
    const res = await rest(server, 'POST', `/rooms/${room}/messages`, {
      token,
      body: { body: `later message ${i}` },
    });
    assert.equal(res.status, 201, `POST message ${i}`);
  }
}

/** The result buttons in the sidebar: their text, in order. */
const resultTexts = (person) =>
  person.page.locator('#result-list .result .result-body').allTextContents();

/** Searches from the sidebar and waits for the results heading. */
async function search(person, q) {
  const { page } = person;
  const answered = page.waitForResponse(
    (res) => new URL(res.url()).pathname === '/api/v1/search' && res.request().method() === 'GET',
  );
  await page.getByRole('searchbox', { name: 'Search messages' }).fill(q);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  await page.getByRole('heading', { name: `Results for “${q}”` }).waitFor();
  const res = await answered;
  assert.equal(res.status(), 200, `GET /search?q=${q}`);
  await res.finished();
}

/** The highlighted message of the open room: its body, and whether it is in view. */
async function highlighted(person) {
  await person.page.locator('.message-list li.highlight').waitFor();
  return person.page.evaluate(() => {
    const item = document.querySelector('.message-list li.highlight');
    const view = document.getElementById('message-scroller').getBoundingClientRect();
    const box = item.getBoundingClientRect();
    return {
      body: item.querySelector('.body')?.textContent ?? null,
      inView: box.top >= view.top - 1 && box.bottom <= view.bottom + 1,
      focused: document.activeElement === item,
      room: document.getElementById('chat-title').textContent,
    };
  });
}

onBothBackends(
  'search and mentions in the web client (Chromium)',
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

    test('the search box finds Latin and Hangul substrings, and a result opens its room scrolled to the highlighted message', EACH, async () => {
      const room = newName('found');
      const elsewhere = newName('elsewhere');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await say(alice, '안녕하세요 여러분');
      await say(alice, 'The Quokka smiles at everyone');
      await say(alice, 'nothing to see here');
      await writeMore(server(), room, LATER_MESSAGES);
      await createRoom(bob, elsewhere);

      await search(bob, '안녕');
      assert.deepEqual(await resultTexts(bob), ['안녕하세요 여러분'], 'Hangul inside a word');
      assert.equal(
        await bob.page.locator('#result-list .result mark').first().textContent(),
        '안녕',
        'the term is marked in the result',
      );
      await bob.page.locator('#result-list').getByRole('button', { name: /안녕하세요/ }).click();
      assert.deepEqual(
        await highlighted(bob),
        { body: '안녕하세요 여러분', inView: true, focused: true, room: `# ${room}` },
        'the room opens on the message, older than its latest page',
      );

      await search(bob, 'quokka SMILES');
      assert.deepEqual(
        await resultTexts(bob),
        ['The Quokka smiles at everyone'],
        'every term, case-insensitively',
      );
      await bob.page.locator('#result-list').getByRole('button', { name: /Quokka/ }).click();
      assert.deepEqual(await highlighted(bob), {
        body: 'The Quokka smiles at everyone',
        inView: true,
        focused: true,
        room: `# ${room}`,
      });

      await search(bob, 'zebra');
      assert.deepEqual(await resultTexts(bob), [], 'no result');
      await bob.page.getByText('No messages match.').waitFor();
    });

    test('the mentions view lists a message that mentions me and jumps to it', EACH, async () => {
      const room = newName('mentioned');
      const elsewhere = newName('elsewhere');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await say(alice, 'ping @bob about the report');
      await writeMore(server(), room, LATER_MESSAGES);
      await createRoom(bob, elsewhere);

      const answered = bob.page.waitForResponse((res) => new URL(res.url()).pathname === '/api/v1/me/mentions');
      await bob.page.getByRole('button', { name: 'Mentions of me' }).click();
      await bob.page.getByRole('heading', { name: 'Mentions of you' }).waitFor();
      assert.equal((await answered).status(), 200);
      await bob.page.locator('#result-list .result').first().waitFor();
      assert.deepEqual(await resultTexts(bob), ['ping @bob about the report']);
      const meta = await bob.page.locator('#result-list .result .result-meta').first().textContent();
      assert.match(meta, new RegExp(`# ${room} · alice`), 'says where and who');

      await bob.page.locator('#result-list').getByRole('button', { name: /ping @bob/ }).click();
      assert.deepEqual(await highlighted(bob), {
        body: 'ping @bob about the report',
        inView: true,
        focused: true,
        room: `# ${room}`,
      });
      // Alice has no mentions.
      await alice.page.getByRole('button', { name: 'Mentions of me' }).click();
      await alice.page.getByText('Nobody has mentioned you yet.').waitFor();
    });
  },
);

// A rare pair of letters, which no trigram index serves, with a small
// SEARCH_SCAN_LIMIT: each request reads 20 messages at most, so the client
// reads a few pages on its own, says nothing matched among the newest
// messages, and finds the match when asked to search older ones.
onBothBackends(
  'search past the scan limit in the web client (Chromium)',
  {
    timeout: SUITE_TIMEOUT_MS,
    env: (base) => ({ ALLOWED_ORIGINS: base, SEARCH_SCAN_LIMIT: '20' }),
  },
  (server) => {
    let browser;
    let alice;
    let bob;

    before(async () => {
      browser = await launchBrowser();
      alice = await openPerson(browser, server(), 'alice');
      bob = await openPerson(browser, server(), 'bob');
    });
    after(async () => {
      await closePeople([alice, bob]);
      await browser?.close();
    });

    test('a rare short term is found by searching older messages', EACH, async () => {
      await createRoom(alice, 'scanned');
      await joinRoom(bob, 'scanned');
      await say(alice, 'xq marks the spot');
      await writeMore(server(), 'scanned', LATER_MESSAGES);

      await search(bob, 'xq');
      const { page } = bob;
      await page.getByText('No matches in the newest messages.').waitFor();
      await page.waitForFunction(() => !document.getElementById('results').hasAttribute('aria-busy'));
      assert.deepEqual(await resultTexts(bob), [], 'three pages of 20 hold no match');
      const older = page.getByRole('button', { name: 'Search older messages' });
      await older.click();
      await page.locator('#result-list .result').first().waitFor();
      assert.deepEqual(await resultTexts(bob), ['xq marks the spot']);
      await page.waitForFunction(() => !document.getElementById('results').hasAttribute('aria-busy'));
      assert.equal(await older.isHidden(), true, 'nothing older is left to read');

      await page.locator('#result-list').getByRole('button', { name: /xq marks/ }).click();
      assert.deepEqual(await highlighted(bob), {
        body: 'xq marks the spot',
        inView: true,
        focused: true,
        room: '# scanned',
      });
    });
  },
);
