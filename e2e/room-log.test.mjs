// End-to-end: the room log in the web client (replies, edits, deletions,
// reactions, mentions), driven in Chromium through playwright-core. Alice
// and Bob sit in two browser contexts; each thing one of them does is seen
// by the other live, and again after a reload (which keeps the session
// and reloads the room from history).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path) with SQLite; Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import { sleep, startServer, stopServer } from './support/server.mjs';

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
const WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };


// ------------------------------------------------------------------ REST --

async function api(server, method, route, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.base}/api/v1${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

async function tokenOf(server, username) {
  const res = await api(server, 'POST', '/auth/login', {
    body: { username, password: passwordOf(username) },
  });
  assert.equal(res.status, 200, `REST login as ${username}`);
  return res.json.access_token;
}

/** The room's whole log over REST: every event, messages in current state. */
async function log(server, room) {
  const res = await api(server, 'GET', `/rooms/${room}/messages?after=0&limit=200`, {
    token: await tokenOf(server, 'alice'),
  });
  assert.equal(res.status, 200, `history of ${room}`);
  assert.equal(res.json.has_more, false, 'the log fits in one page');
  return res.json.messages;
}

// --------------------------------------------------------------- browser --

/** One person in their own browser context. */
async function openPerson(browser, server, username) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const person = { username, context, page, pageErrors: [] };
  page.on('pageerror', (err) => person.pageErrors.push(err.message));
  await page.goto(server.base);
  return person;
}

async function signIn(person, button) {
  const { page } = person;
  await page.getByLabel('Username').fill(person.username);
  await page.getByLabel('Password', { exact: true }).fill(passwordOf(person.username));
  await page.getByRole('button', { name: button }).click();
  await page.getByText(`Signed in as ${person.username}`).waitFor();
  await page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
}

async function enterRoom(person, room, { create = false } = {}) {
  const { page } = person;
  if (create) {
    await page.getByRole('button', { name: '+ New room' }).click();
    await page.getByLabel('Create a room').fill(room);
    await page.getByRole('button', { name: 'Create', exact: true }).click();
  } else {
    await page.getByRole('button', { name: 'Join a room', exact: true }).click();
    await page.getByLabel('Join a room by name').fill(room);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
  }
  await page.getByRole('heading', { name: `# ${room}` }).waitFor();
}

/** A reload keeps the session (the refresh cookie) and reopens the room,
 * from history. */
async function reload(person, room) {
  await person.page.reload();
  await person.page.getByText(`Signed in as ${person.username}`).waitFor();
  await person.page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
  await enterRoom(person, room);
}

const composer = (person) => person.page.getByRole('textbox', { name: /^Message #/ });

/** Sends through the composer (Enter) and waits until it is stored and shown. */
async function say(person, text) {
  await composer(person).fill(text);
  await composer(person).press('Enter');
  await person.page.locator('.message-list li.pending').first().waitFor({ state: 'detached' });
}

/** The shown message whose body is exactly `text`. */
function messageWith(person, text) {
  return person.page
    .locator('.message-list li[data-seq]')
    .filter({ has: person.page.locator('.body', { hasText: new RegExp(`^${escapeRe(text)}$`) }) });
}

const messageAt = (person, seq) => person.page.locator(`.message-list li[data-seq="${seq}"]`);
const escapeRe = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function seqOf(person, text) {
  const item = messageWith(person, text);
  await item.waitFor();
  return Number(await item.getAttribute('data-seq'));
}

/** Waits until `read()` (re-read every 50 ms) deep-equals `expected`. */
async function eventually(what, read, expected) {
  const deadline = Date.now() + WAIT_MS;
  let actual;
  while (Date.now() < deadline) {
    actual = await read();
    try {
      assert.deepEqual(actual, expected);
      return;
    } catch {
      await sleep(50);
    }
  }
  assert.deepEqual(actual, expected, what);
}

/** The chips under a message: [[key, count, pressed]]. */
const chips = (item) =>
  item.locator('.reaction').evaluateAll((buttons) =>
    buttons.map((b) => [
      b.dataset.key,
      Number(b.querySelector('.count').textContent),
      b.getAttribute('aria-pressed'),
    ]),
  );

/** A screenshot in test-artifacts/, to look at. */
async function snapshot(person, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await person.page.screenshot({ path: path.join(ARTIFACTS, `room-log-${name}.png`) });
}

/** Whether `item` is within the visible part of the message scroller. */
const inView = (item) =>
  item.evaluate((el) => {
    const box = el.getBoundingClientRect();
    const view = document.getElementById('message-scroller').getBoundingClientRect();
    return box.top >= view.top && box.bottom <= view.bottom;
  });

// ------------------------------------------------------------------ tests --

describe('room log in the web client (Chromium)', { timeout: SUITE_TIMEOUT_MS }, () => {
  let server;
  let browser;
  let alice;
  let bob;
  let n = 0;
  /** A fresh room owned by Alice, with both of them in it. */
  async function newRoom() {
    const room = `log-${++n}`;
    await enterRoom(alice, room, { create: true });
    await enterRoom(bob, room);
    return room;
  }

  before(async () => {
    server = await startServer({ env: (base) => ({ ALLOWED_ORIGINS: base }) });
    browser = await launchBrowser();
    alice = await openPerson(browser, server, 'alice');
    bob = await openPerson(browser, server, 'bob');
    await signIn(alice, 'Create account');
    await signIn(bob, 'Create account');
  });
  after(async () => {
    for (const p of [alice, bob]) {
      if (p) assert.deepEqual(p.pageErrors, [], `${p.username}: no script errors`);
    }
    await browser?.close();
    await stopServer(server);
  });

  test('a reply quotes its original, live and after a reload; the quote jumps to it', EACH, async () => {
    const room = await newRoom();
    await say(alice, 'where shall we meet?\nsecond line of it');
    const original = await seqOf(bob, 'where shall we meet?\nsecond line of it');
    // Enough after it that, once reloaded, the original is older than the
    // latest page (50 events) and must be paged back to.
    for (let i = 1; i <= 55; i++) await say(alice, `filler ${i}`);
    await messageWith(bob, 'filler 55').waitFor();

    // Alice replies: the quoted preview above the composer, cancelable.
    await messageAt(alice, original).getByRole('button', { name: 'Reply' }).click();
    const bar = alice.page.locator('#reply-bar');
    await bar.waitFor();
    assert.equal(
      (await bar.locator('.reply-preview').textContent()).trim(),
      'Replying to alice: where shall we meet?',
      'the preview names the sender and shows the first line',
    );
    await alice.page.getByRole('button', { name: 'Cancel reply' }).click();
    await bar.waitFor({ state: 'hidden' });
    await messageAt(alice, original).getByRole('button', { name: 'Reply' }).click();
    await bar.waitFor();
    await say(alice, 'by the fountain');
    assert.equal(await bar.isHidden(), true, 'sending ends the reply');

    const stored = await log(server, room);
    const reply = stored.find((e) => e.body === 'by the fountain');
    assert.equal(reply.reply_to, original, 'sent with in-reply-to: the original seq');
    const cancelled = stored.filter((e) => e.reply_to !== null && e.reply_to !== undefined);
    assert.equal(cancelled.length, 1, 'only the message sent while replying is a reply');

    async function checkQuoteJumps(person, label) {
      const item = messageAt(person, reply.seq);
      const quote = item.getByRole('button', { name: /^In reply to alice: where shall we meet\?/ });
      await quote.waitFor();
      assert.equal(await quote.locator('.quote-sender').textContent(), 'alice', `${label}: sender quoted`);
      assert.equal(
        await quote.locator('.quote-body').textContent(),
        'where shall we meet?',
        `${label}: first line quoted`,
      );
      const target = messageAt(person, original);
      if ((await target.count()) > 0) {
        assert.equal(await inView(target), false, `${label}: the original starts out of view`);
      }
      await quote.click();
      await person.page.locator(`.message-list li.highlight[data-seq="${original}"]`).waitFor();
      assert.equal(await inView(target), true, `${label}: the original is scrolled into view`);
      assert.equal(
        await target.evaluate((el) => el === document.activeElement),
        true,
        `${label}: the original has the focus`,
      );
      assert.equal(await person.page.locator('.message-list li.highlight').count(), 1, 'one highlight');
    }
    await checkQuoteJumps(bob, 'Bob live');
    await snapshot(bob, 'reply-jump');
    await reload(bob, room);
    assert.equal(await messageAt(bob, original).count(), 0, 'after a reload the original is not loaded');
    await checkQuoteJumps(bob, 'Bob after a reload');
  });

  test('an edit shows in place with "(edited)", live and after a reload', EACH, async () => {
    const room = await newRoom();
    await say(alice, 'teh plan');
    const seq = await seqOf(bob, 'teh plan');
    const bobsItem = messageAt(bob, seq);
    assert.equal(await bobsItem.locator('.edited').count(), 0, 'not edited yet');
    const bobsButtons = (name) => bobsItem.getByRole('button', { name }).count();
    assert.equal(await bobsButtons('Edit message'), 0, "Bob cannot edit Alice's");
    assert.equal(await bobsButtons('Delete message'), 0, "Bob cannot delete Alice's");

    // Escape cancels: nothing is sent.
    const alicesItem = messageAt(alice, seq);
    await alicesItem.getByRole('button', { name: 'Edit message' }).click();
    const editor = alicesItem.getByRole('textbox', { name: 'Edit message' });
    assert.equal(await editor.inputValue(), 'teh plan', 'the editor starts with the text');
    await editor.fill('never saved');
    await editor.press('Escape');
    await editor.waitFor({ state: 'detached' });
    assert.equal(await alicesItem.locator('.body').textContent(), 'teh plan');

    // Enter saves.
    await alicesItem.getByRole('button', { name: 'Edit message' }).click();
    await editor.fill('the plan, fixed');
    await editor.press('Enter');
    await editor.waitFor({ state: 'detached' });

    for (const [person, label] of [
      [bob, 'Bob live'],
      [alice, 'Alice'],
    ]) {
      const item = messageAt(person, seq);
      const body = () => item.locator('.body').textContent();
      await eventually(`${label}: new text in place`, body, 'the plan, fixed');
      assert.equal(await item.locator('.edited').textContent(), '(edited)', `${label}: marked edited`);
    }
    const stored = await log(server, room);
    assert.equal(stored.filter((e) => e.type === 'edit').length, 1, 'Escape sent nothing; Enter one edit');
    assert.equal(stored.find((e) => e.seq === seq).body, 'the plan, fixed');

    await reload(bob, room);
    const after = messageAt(bob, seq);
    assert.equal(await after.locator('.body').textContent(), 'the plan, fixed', 'after a reload: new text');
    assert.equal(await after.locator('.edited').textContent(), '(edited)', 'after a reload: marked edited');
    const shown = await bob.page.locator('.message-list li[data-seq]').count();
    assert.equal(shown, 1, 'the edit is no message of its own');
    assert.equal(await after.getByRole('button', { name: 'Edit message' }).count(), 0, 'still not for Bob');
  });

  test('a deletion shows "message deleted" in place, live and after a reload; the owner deletes any', EACH, async () => {
    const room = await newRoom();
    await say(alice, 'i regret this');
    await say(bob, 'spam from bob');
    const mine = await seqOf(bob, 'i regret this');
    const bobs = await seqOf(alice, 'spam from bob');
    // Bob answers Alice's first: the quote must follow the deletion.
    await messageAt(bob, mine).getByRole('button', { name: 'Reply' }).click();
    await say(bob, 'why would you?');
    const reply = await seqOf(alice, 'why would you?');
    const quoted = (person) => messageAt(person, reply).locator('.quote-body').textContent();
    await eventually('the quote shows the original', () => quoted(alice), 'i regret this');
    assert.equal(
      await messageAt(bob, mine).getByRole('button', { name: /^(Edit|Delete) message$/ }).count(),
      0,
      "Bob has no edit or delete on Alice's message",
    );
    assert.equal(
      await messageAt(bob, bobs).getByRole('button', { name: 'Delete message' }).count(),
      1,
      'Bob may delete his own',
    );
    assert.equal(
      await messageAt(alice, bobs).getByRole('button', { name: 'Edit message' }).count(),
      0,
      "the owner cannot edit Bob's",
    );

    // The confirmation: Cancel keeps it.
    const dialog = alice.page.getByRole('dialog', { name: 'Delete this message?' });
    await messageAt(alice, mine).getByRole('button', { name: 'Delete message' }).click();
    await dialog.waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await sleep(300);
    const stillThere = await messageAt(bob, mine).locator('.body').textContent();
    assert.equal(stillThere, 'i regret this', 'cancel deletes nothing');

    await messageAt(alice, mine).getByRole('button', { name: 'Delete message' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    // Alice owns the room: she deletes Bob's too.
    await messageAt(alice, bobs).getByRole('button', { name: 'Delete message' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();

    async function checkDeleted(person, label) {
      for (const seq of [mine, bobs]) {
        const item = messageAt(person, seq);
        const body = () => item.locator('.body').textContent();
        await eventually(`${label}: ${seq} deleted in place`, body, 'message deleted');
        assert.equal(await item.getByRole('button').count(), 0, `${label}: a deleted message has no actions`);
      }
      await eventually(`${label}: the reply quotes a deleted message`, () => quoted(person), 'message deleted');
      assert.equal(await messageAt(person, reply).locator('.body').textContent(), 'why would you?');
      const text = await person.page.locator('.message-list').textContent();
      assert.ok(!text.includes('regret') && !text.includes('spam'), `${label}: the text is gone`);
    }
    await checkDeleted(bob, 'Bob live');
    await checkDeleted(alice, 'Alice live');
    const stored = await log(server, room);
    assert.deepEqual(
      stored.filter((e) => e.type === 'delete').map((e) => [e.target, e.sender]),
      [
        [mine, 'alice'],
        [bobs, 'alice'],
      ],
      'two deletions stored (none from the cancelled one)',
    );
    await reload(bob, room);
    await checkDeleted(bob, 'Bob after a reload');
  });

  test('reaction chips count per person, live and after a reload', EACH, async () => {
    const room = await newRoom();
    await say(alice, 'react to me');
    const seq = await seqOf(bob, 'react to me');
    const atAlice = messageAt(alice, seq);
    const atBob = messageAt(bob, seq);
    assert.deepEqual(await chips(atAlice), [], 'no reactions yet');

    // Bob picks 👍.
    await atBob.getByRole('button', { name: 'Add a reaction' }).click();
    const picker = atBob.getByRole('group', { name: 'Pick a reaction' });
    await picker.waitFor();
    assert.deepEqual(
      await picker.getByRole('button').evaluateAll((bs) => bs.map((b) => b.textContent)),
      ['👍', '❤️', '😂', '🎉', '😮', '😢', '🙏', '👀'],
      'the common emoji',
    );
    await picker.getByRole('button', { name: 'React with 👍' }).click();
    await picker.waitFor({ state: 'detached' });
    await eventually('Alice sees 1, not hers', () => chips(atAlice), [['👍', 1, 'false']]);
    await eventually('Bob sees 1, his', () => chips(atBob), [['👍', 1, 'true']]);

    // Alice clicks the chip: 2.
    await atAlice.getByRole('button', { name: /^👍: 1 reaction$/ }).click();
    await eventually('Alice sees 2, hers too', () => chips(atAlice), [['👍', 2, 'true']]);
    await eventually('Bob sees 2', () => chips(atBob), [['👍', 2, 'true']]);

    // Bob takes his back: 1.
    await atBob.getByRole('button', { name: /^👍: 2 reactions, including yours$/ }).click();
    await eventually('Alice sees 1, hers', () => chips(atAlice), [['👍', 1, 'true']]);
    await eventually('Bob sees 1, not his', () => chips(atBob), [['👍', 1, 'false']]);

    const stored = await log(server, room);
    assert.deepEqual(stored.find((e) => e.seq === seq).reactions, [
      { key: '👍', count: 1, users: ['alice'] },
    ]);
    assert.deepEqual(
      stored.filter((e) => e.type === 'reaction').map((e) => [e.sender, e.added]),
      [
        ['bob', true],
        ['alice', true],
        ['bob', false],
      ],
    );

    await atBob.getByRole('button', { name: 'Add a reaction' }).click();
    await picker.waitFor();
    await snapshot(bob, 'reactions');
    await picker.getByRole('button', { name: 'React with 👍' }).press('Escape');
    await picker.waitFor({ state: 'detached' });
    await atBob.getByRole('button', { name: 'Add a reaction' }).click();
    await picker.waitFor();
    await bob.page.getByRole('heading', { name: `# ${room}` }).click();
    await picker.waitFor({ state: 'detached' });
    assert.deepEqual(await chips(atBob), [['👍', 1, 'false']], 'closing the picker changes nothing');

    await reload(bob, room);
    await reload(alice, room);
    assert.deepEqual(await chips(messageAt(bob, seq)), [['👍', 1, 'false']], 'Bob after a reload');
    assert.deepEqual(await chips(messageAt(alice, seq)), [['👍', 1, 'true']], 'Alice after a reload');
    await bob.page.setViewportSize({ width: 390, height: 760 });
    await snapshot(bob, 'reactions-phone');
    await bob.page.setViewportSize({ width: 1100, height: 760 });
  });

  test('@-autocomplete offers the room members; the mentioned one sees it highlighted', EACH, async () => {
    const room = await newRoom();
    // A third member whose name also starts with b, so the arrow keys matter.
    await api(server, 'POST', '/auth/signup', { body: { username: 'bea', password: passwordOf('bea') } });
    const bea = await tokenOf(server, 'bea');
    assert.equal((await api(server, 'POST', `/rooms/${room}/join`, { token: bea })).status, 200);

    const input = composer(alice);
    await input.fill('see you soon @b');
    const list = alice.page.getByRole('listbox', { name: 'People to mention' });
    await list.waitFor();
    const options = () =>
      list
        .getByRole('option')
        .evaluateAll((os) => os.map((o) => [o.textContent, o.getAttribute('aria-selected')]));
    await eventually('members starting with b, first selected', options, [
      ['bea', 'true'],
      ['bob', 'false'],
    ]);
    await input.press('ArrowDown');
    await eventually('ArrowDown selects bob', options, [
      ['bea', 'false'],
      ['bob', 'true'],
    ]);
    await input.press('Enter');
    await list.waitFor({ state: 'hidden' });
    assert.equal(await input.inputValue(), 'see you soon @bob ', 'Enter picks, it does not send');
    await input.pressSequentially('and @be');
    await list.getByRole('option', { name: 'bea' }).waitFor();
    await snapshot(alice, 'mention-autocomplete');
    await list.getByRole('option', { name: 'bea' }).click();
    assert.equal(await input.inputValue(), 'see you soon @bob and @bea ', 'a click picks too');
    await input.pressSequentially('tonight');
    await input.press('Enter');
    await alice.page.locator('.message-list li.pending').first().waitFor({ state: 'detached' });

    const seq = await seqOf(bob, 'see you soon @bob and @bea tonight');
    const stored = await log(server, room);
    assert.deepEqual(stored.find((e) => e.seq === seq).mentions, ['bob', 'bea']);

    async function checkMention(person, label) {
      const item = messageAt(person, seq);
      await item.waitFor();
      const marks = await item
        .locator('.body .mention')
        .evaluateAll((ms) => ms.map((m) => [m.textContent, m.classList.contains('me')]));
      const forBob = person === bob;
      assert.deepEqual(marks, [['@bob', forBob], ['@bea', false]], `${label}: the mentions are marked`);
      const addressed = await item.evaluate((el) => el.classList.contains('mentions-me'));
      assert.equal(addressed, forBob, `${label}: addressed to Bob, and only to him`);
    }
    await checkMention(bob, 'Bob live');
    await eventually(
      'a screen reader tells Bob he is mentioned',
      () => bob.page.locator('#announcer').textContent(),
      'alice mentioned you: see you soon @bob and @bea tonight',
    );
    await snapshot(bob, 'mention');
    await checkMention(alice, 'Alice');
    await reload(bob, room);
    await checkMention(bob, 'Bob after a reload');
  });
});
