// End-to-end: threads in the web client, driven in Chromium through
// playwright-core (README, "Threads"). Alice and Bob, each in their own
// browser context: Bob opens a thread on Alice's message from its actions
// and answers in the side panel; Alice sees "1 reply" under her message
// live, opens the thread and sees Bob's next reply arrive in it; with the
// panel closed, a further reply shows as unread in her "Threads" view and in
// the sidebar's badge, and opening it from there reads it. On a phone the
// panel is the whole screen with a way back. axe-core finds no serious or
// critical violation with the panel or the threads view open. On SQLite
// and on Postgres (onBothBackends).
//
// With PARLEY_SCREENSHOTS=DIR set, screenshots of the panel and the threads
// view at desktop and phone widths are saved there (docs/screenshots/).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import { WAIT_MS, closePeople, createRoom, eventually, joinRoom, say } from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const SHOTS = process.env.PARLEY_SCREENSHOTS || '';
const EACH = { timeout: 120_000 };

/** One person in their own context (CSP bypassed only so that axe-core can
 * be injected), signed up and connected. */
async function openPerson(browser, server, username, viewport = DESKTOP) {
  const context = await browser.newContext({ viewport, bypassCSP: true });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const person = { username, context, page, pageErrors: [] };
  page.on('pageerror', (err) => person.pageErrors.push(err.message));
  await page.goto(server.base);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(passwordOf(username));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${username}`).waitFor();
  await page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
  return person;
}

async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE_PATH });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

async function shoot(page, name, viewport) {
  if (!SHOTS) return;
  const before = page.viewportSize();
  await page.setViewportSize(viewport);
  await page.waitForTimeout(200); // the layout settles
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  await page.setViewportSize(before);
}

/** The main list's message whose body is exactly `text`. */
const inRoom = (person, text) =>
  person.page.locator('#message-scroller li[data-seq]').filter({
    has: person.page.locator('.body', { hasText: new RegExp(`^${text}$`) }),
  });

const panel = (person) => person.page.locator('#thread-panel');
const replyBox = (person) => person.page.getByRole('textbox', { name: 'Reply in thread' });
const panelBodies = (person) => panel(person).locator('#thread-replies .body').allTextContents();

/** Replies in the open thread panel (Enter) and waits for the reply to show. */
async function replyInThread(person, text) {
  await replyBox(person).fill(text);
  await replyBox(person).press('Enter');
  await panel(person).locator('#thread-replies .body', { hasText: text }).waitFor();
}

/** The sidebar's Threads badge ('' when none shows). */
const threadsBadge = (person) =>
  person.page.evaluate(() => {
    const b = document.getElementById('threads-badge');
    return b.hidden ? '' : b.textContent;
  });

onBothBackends(
  'threads in the web client (Chromium)',
  { timeout: 900_000, env: (base) => ({ ALLOWED_ORIGINS: base }) },
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

    test('a thread opened from a message is answered live, and the Threads view counts what is unread', EACH, async () => {
      const room = newName('plans');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await say(alice, 'Where shall we meet?');

      // Bob opens a thread on it from the message's actions and answers.
      const root = inRoom(bob, 'Where shall we meet\\?');
      await root.waitFor();
      await root.hover();
      await root.getByRole('button', { name: 'Thread', exact: true }).click();
      await bob.page.getByRole('heading', { name: `Thread # ${room}` }).waitFor();
      await panel(bob).getByText('No replies yet. Start the thread.').waitFor();
      await replyInThread(bob, 'At the station');
      await panel(bob).getByText('1 reply', { exact: true }).waitFor();
      await panel(bob).getByRole('button', { name: 'Following' }).waitFor();

      // Alice sees "1 reply" under her message, live, and opens the thread.
      const link = inRoom(alice, 'Where shall we meet\\?').locator('.thread-link');
      await eventually('Alice sees the reply count', () => link.locator('.thread-link-count').textContent(), '1 reply');
      assert.equal(await link.locator('.thread-link-who').textContent(), 'bob');
      await link.click();
      await alice.page.getByRole('heading', { name: `Thread # ${room}` }).waitFor();
      await eventually('the thread is read', () => panelBodies(alice), ['At the station']);

      // Bob's next reply arrives in Alice's open panel, and under her message.
      await replyInThread(bob, 'See you at noon');
      await eventually('the reply shows in Alice’s panel', () => panelBodies(alice), ['At the station', 'See you at noon']);
      await eventually('two replies under the root', () => link.locator('.thread-link-count').textContent(), '2 replies');
      // Open, focused and at its latest reply, the thread is read.
      await eventually('nothing unread while the panel shows it all', () => threadsBadge(alice), '');
      assert.deepEqual(await axeViolations(alice.page), [], 'the thread panel at desktop width');
      await shoot(alice.page, 'thread-desktop', DESKTOP);
      await alice.page.setViewportSize(PHONE);
      assert.deepEqual(await axeViolations(alice.page), [], 'the thread panel at phone width');
      await alice.page.setViewportSize(DESKTOP);

      // With the panel closed, a further reply is unread in her Threads view.
      await panel(alice).getByRole('button', { name: 'Close the thread' }).click();
      assert.equal(await panel(alice).isHidden(), true);
      await replyInThread(bob, 'Bring an umbrella');
      await eventually('the sidebar counts one unread reply', () => threadsBadge(alice), '1');
      await alice.page.getByRole('button', { name: /^Threads/ }).click();
      await alice.page.getByRole('heading', { name: 'Threads you follow' }).waitFor();
      const item = alice.page.locator('#thread-list .followed-thread');
      await eventually('one followed thread', () => item.count(), 1);
      assert.equal(await item.locator('.result-body').textContent(), 'Where shall we meet?');
      assert.equal(await item.locator('.thread-unread').textContent(), '1 unread');
      assert.match(await item.locator('.thread-counts').textContent(), /^3 replies/);
      assert.deepEqual(await axeViolations(alice.page), [], 'the threads view at desktop width');
      await shoot(alice.page, 'threads-desktop', DESKTOP);
      await shoot(alice.page, 'threads-phone', PHONE);

      // Opening it from there shows the thread and reads it.
      await item.click();
      await alice.page.getByRole('heading', { name: `Thread # ${room}` }).waitFor();
      await eventually(
        'every reply in the panel',
        () => panelBodies(alice),
        ['At the station', 'See you at noon', 'Bring an umbrella'],
      );
      await eventually('nothing unread any more', () => threadsBadge(alice), '');
    });

    test('on a phone the thread is the whole screen, with a way back to the room', EACH, async () => {
      const room = newName('phone');
      await createRoom(alice, room);
      await say(alice, 'A question for later');
      await alice.page.setViewportSize(PHONE);
      try {
        const root = inRoom(alice, 'A question for later');
        await root.getByRole('button', { name: 'Message actions' }).click();
        await root.getByRole('button', { name: 'Thread', exact: true }).click();
        await alice.page.getByRole('heading', { name: `Thread # ${room}` }).waitFor();
        assert.equal(await alice.page.locator('#chat').isHidden(), true, 'the room is out of the way');
        await replyInThread(alice, 'Answering myself');
        await shoot(alice.page, 'thread-phone', PHONE);
        await panel(alice).getByRole('button', { name: '‹ Back' }).click();
        await alice.page.getByRole('heading', { name: `# ${room}`, exact: true }).waitFor();
        assert.equal(await panel(alice).isHidden(), true, 'back in the room');
        await eventually(
          'the room shows the reply count',
          () => inRoom(alice, 'A question for later').locator('.thread-link-count').textContent(),
          '1 reply',
        );
      } finally {
        await alice.page.setViewportSize(DESKTOP);
      }
    });
  },
);
