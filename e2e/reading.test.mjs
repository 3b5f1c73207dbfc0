// End-to-end: messages read like a chat in the web client, with Alice and
// Bob each in their own Chromium context: consecutive messages of one sender
// grouped under one name, a date separator, Markdown rendered (and hostile
// bodies rendered inert, as text), the "Jump to latest" bar when scrolled
// up, and the actions menu opened by "⋯" at phone width. Also, under Node,
// the grouping rule itself (web/domain/grouping.js).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { GROUP_GAP_MS, continuesGroup, dayLabel } from '../web/domain/grouping.js';
import { launchBrowser } from './support/browser.mjs';
import { closePeople, composer, createRoom, eventually, joinRoom, messageWith, openPerson, say } from './support/person.mjs';
import { startServer, stopServer } from './support/server.mjs';

const ARTIFACTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'test-artifacts');
const EACH = { timeout: 120_000 };

describe('grouping rule (Node)', () => {
  const at = Date.parse('2026-12-06T12:00:00');
  test('one sender within 5 minutes on one day continues; anything else starts a group', () => {
    assert.equal(continuesGroup({ sender: 'a', at }, { sender: 'a', at: at + 60_000 }), true);
    assert.equal(continuesGroup({ sender: 'a', at }, { sender: 'b', at: at + 1 }), false, 'another sender');
    assert.equal(continuesGroup({ sender: 'a', at }, { sender: 'a', at: at + GROUP_GAP_MS }), false, 'a pause');
    assert.equal(continuesGroup(null, { sender: 'a', at }), false, 'the first one');
    assert.equal(continuesGroup({ sender: 'a', at }, null), false, 'a hidden event');
    const late = Date.parse('2026-12-06T23:59:00');
    assert.equal(continuesGroup({ sender: 'a', at: late }, { sender: 'a', at: late + 120_000 }), false, 'midnight');
  });
  test('days are Today, Yesterday, else a date', () => {
    assert.equal(dayLabel(at, at + 3_600_000), 'Today');
    assert.equal(dayLabel(at, at + 86_400_000), 'Yesterday');
    const older = dayLabel(at, at + 5 * 86_400_000);
    assert.ok(older.includes('6') && older !== 'Yesterday', older);
  });
});

describe('messages read like a chat (Chromium)', { timeout: 600_000 }, () => {
  let server;
  let browser;
  let alice;
  let bob;
  let n = 0;
  const newRoom = async () => {
    const room = `reading-${++n}`;
    await createRoom(alice, room);
    await joinRoom(bob, room);
    await alice.page.locator('#room-list').getByRole('button', { name: `# ${room}` }).click();
    return room;
  };
  /** [sender, continued] of each shown message, in order. */
  const groups = (person) =>
    person.page.locator('.message-list li[data-seq]').evaluateAll((items) =>
      items.map((li) => [li.querySelector('.sender').textContent, li.classList.contains('continued')]),
    );

  before(async () => {
    server = await startServer({ env: (base) => ({ ALLOWED_ORIGINS: base }) });
    browser = await launchBrowser();
    alice = await openPerson(browser, server, 'alice');
    bob = await openPerson(browser, server, 'bob');
  });
  after(async () => {
    await closePeople([alice, bob]);
    await browser?.close();
    await stopServer(server);
  });

  test('consecutive messages of one sender are one group, under a date separator', EACH, async () => {
    await newRoom();
    for (const text of ['one', 'two', 'three']) await say(alice, text);
    await say(bob, 'four');
    await say(alice, 'five');
    for (const person of [alice, bob]) {
      await messageWith(person, 'five').waitFor();
      assert.deepEqual(await groups(person), [
        ['alice', false],
        ['alice', true],
        ['alice', true],
        ['bob', false],
        ['alice', false],
      ]);
      const shownNames = await person.page
        .locator('.message-list li[data-seq] .sender')
        .evaluateAll((els) => els.filter((el) => el.getBoundingClientRect().width > 1).map((el) => el.textContent));
      assert.deepEqual(shownNames, ['alice', 'bob', 'alice'], 'one visible name per group');
      const separators = person.page.locator('.message-list li.date-divider');
      assert.deepEqual(await separators.allTextContents(), ['Today']);
      assert.equal(await separators.locator('[role=separator]').getAttribute('aria-label'), 'Today');
      const avatar = messageWith(person, 'four').locator('.avatar');
      assert.equal(await avatar.textContent(), 'B');
      assert.equal(await avatar.isVisible(), true);
    }
  });

  test('Markdown is rendered: bold, code block, link (new tab), mentions still marked', EACH, async () => {
    await newRoom();
    await say(alice, 'this is **bold** and _it_ with `code`, see https://example.com/x?y=1 or [docs](https://example.org/d), @bob and _you_');
    await say(alice, '```\nfn main() {\n    <b>x</b>\n}\n```');
    const item = bob.page.locator('.message-list li[data-seq]').first();
    await item.waitFor();
    const body = item.locator('.body');
    assert.equal(await body.locator('strong').textContent(), 'bold');
    assert.deepEqual(await body.locator('em').allTextContents(), ['it', 'you']);
    assert.equal(await body.locator('code').textContent(), 'code');
    const links = await body.locator('a').evaluateAll((as) => as.map((a) => [a.textContent, a.href, a.target, a.rel]));
    assert.deepEqual(links, [
      ['https://example.com/x?y=1', 'https://example.com/x?y=1', '_blank', 'noopener noreferrer'],
      ['docs', 'https://example.org/d', '_blank', 'noopener noreferrer'],
    ]);
    assert.deepEqual(await body.locator('.mention').allTextContents(), ['@bob']);
    const block = bob.page.locator('.message-list li[data-seq]').nth(1).locator('.body pre code');
    await block.waitFor();
    assert.equal(await block.textContent(), 'fn main() {\n    <b>x</b>\n}\n');
    assert.equal(await block.locator('b').count(), 0, 'HTML in a code block is text');
    await say(alice, 'two lines\nin one message\n\n> a quote\n\n1. first\n2. second');
    const third = bob.page.locator('.message-list li[data-seq]').nth(2).locator('.body');
    await third.locator('ol').waitFor();
    assert.equal(await third.locator('p').first().textContent(), 'two lines\nin one message', 'a newline is kept');
    const lines = await third
      .locator('p')
      .first()
      .evaluate((p) => Math.round(p.getBoundingClientRect().height / parseFloat(getComputedStyle(p).lineHeight)));
    assert.equal(lines, 2, 'shown as two lines, not three');
    assert.equal(await third.locator('blockquote').textContent(), 'a quote');
    assert.deepEqual(await third.locator('ol li').allTextContents(), ['first', 'second']);
  });

  test('hostile bodies are rendered inert, as the text they are', EACH, async () => {
    await newRoom();
    const hostile = [
      '<img src=x onerror="window.__pwned=1">',
      '[x](javascript:window.__pwned=1)',
      '<script>window.__pwned=1</script>',
      '[y](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
    ];
    for (const text of hostile) await say(alice, text);
    for (const person of [alice, bob]) {
      const list = person.page.locator('.message-list');
      await eventually(
        `${person.username}: each body shows literally`,
        () => list.locator('li[data-seq] .body').allTextContents(),
        hostile,
      );
      assert.equal(await list.locator('img, script, iframe, object, embed').count(), 0, 'no element came from a body');
      assert.equal(await list.locator('li[data-seq] .body a').count(), 0, 'javascript: and data: are not links');
      assert.equal(await list.locator('[onerror]').count(), 0);
      assert.equal(await person.page.evaluate(() => window.__pwned), undefined);
    }
  });

  test('scrolled up, new messages leave the view alone; the bar counts them and jumps down', EACH, async () => {
    await newRoom();
    for (let i = 1; i <= 40; i++) await say(alice, `filler line ${i}`);
    await messageWith(bob, 'filler line 40').waitFor();
    const scroller = bob.page.locator('#message-scroller');
    const bar = bob.page.locator('#jump-latest');
    assert.equal(await bar.isVisible(), false, 'at the bottom: no bar');
    // Compact rows: the old cards showed about 8 messages in the pane at 1100x800.
    const perScreen = await bob.page.locator('.message-list li[data-seq]').evaluateAll((items) => {
      const view = document.getElementById('message-scroller').getBoundingClientRect();
      return items.filter((li) => {
        const box = li.getBoundingClientRect();
        return box.top >= view.top && box.bottom <= view.bottom;
      }).length;
    });
    assert.ok(perScreen >= 16, `one-line messages fully in view: ${perScreen}`);
    await scroller.evaluate((el) => {
      el.scrollTop = 0;
    });
    await bar.waitFor(); // scrolled up: the bar is offered at once
    const before = await scroller.evaluate((el) => el.scrollTop);
    await say(alice, 'news one');
    await say(alice, 'news two');
    await messageWith(bob, 'news two').waitFor({ state: 'attached' });
    await eventually('the bar counts the new messages', () => bar.textContent(), '2 new messages · Jump to latest ↓');
    const still = await scroller.evaluate((el) => el.scrollTop);
    assert.ok(Math.abs(still - before) < 5, `the view was not moved (${before} → ${still})`);
    await bar.click();
    await eventually(
      'clicking it scrolls to the latest',
      () => scroller.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 80),
      true,
    );
    assert.equal(await messageWith(bob, 'news two').isVisible(), true);
    await bar.waitFor({ state: 'hidden' });
  });

  test('on a phone, "⋯" opens one menu of actions; Escape closes it', EACH, async () => {
    await newRoom();
    await say(alice, 'tap me');
    await say(bob, 'mine');
    const { page } = bob;
    await page.setViewportSize({ width: 390, height: 844 });
    try {
      const item = messageWith(bob, 'tap me');
      const reply = item.getByRole('button', { name: 'Reply' });
      assert.equal(await reply.isVisible(), false, 'no action buttons shown before the menu opens');
      const more = item.getByRole('button', { name: 'Message actions' });
      assert.equal(await page.getByRole('button', { name: 'Message actions' }).count(), 2, 'one ⋯ per message');
      await more.click();
      assert.equal(await more.getAttribute('aria-expanded'), 'true');
      await reply.waitFor();
      assert.equal(await item.getByRole('button', { name: 'Add a reaction' }).isVisible(), true);
      assert.equal(await item.getByRole('button', { name: 'Edit message' }).count(), 0, "not Bob's to edit");
      assert.equal(await messageWith(bob, 'mine').getByRole('button', { name: 'Reply' }).isVisible(), false, 'one menu');
      await page.keyboard.press('Escape');
      await reply.waitFor({ state: 'hidden' });
      await more.click();
      await reply.click();
      await page.locator('#reply-bar').waitFor();
      assert.equal(await page.locator('#reply-sender').textContent(), 'alice');
      assert.equal(await composer(bob).evaluate((el) => el === document.activeElement), true);
    } finally {
      await page.setViewportSize({ width: 1100, height: 800 });
    }
  });

  test('screenshots: desktop and phone, a room of ~30 messages with Markdown', EACH, async () => {
    await newRoom();
    const lines = [
      [alice, 'Morning! Did the deploy go out?'],
      [bob, 'Yes, about an hour ago.'],
      [bob, 'Release notes: https://example.com/releases/42'],
      [alice, 'Great, **thanks**.'],
      [alice, 'One thing: the `retention` job logs twice.'],
      [alice, 'Here is what I see:\n```\nINFO prune: 120 events\nINFO prune: 120 events\n```'],
      [bob, '> the `retention` job logs twice\n\nKnown, fixed in the next one.'],
      [alice, 'Checklist for tomorrow:\n- rotate the keys\n- _update_ the docs\n- tell @bob today'],
      [bob, 'On it.'],
    ];
    // Three rounds; later ones marked " (2)", " (3)" at the end of their first line.
    for (let i = 0; i < 3; i++) {
      for (const [who, text] of lines) await say(who, i === 0 ? text : text.replace(/^[^\n]*/, (l) => `${l} (${i + 1})`));
    }
    await say(alice, 'last one for today, @bob and all');
    await messageWith(alice, 'last one for today, @bob and all').waitFor();
    await messageWith(bob, 'last one for today, @bob and all').waitFor();
    mkdirSync(ARTIFACTS, { recursive: true });
    await bob.page.setViewportSize({ width: 1280, height: 800 });
    await bob.page.screenshot({ path: path.join(ARTIFACTS, 'reading-desktop.png') });
    await messageWith(bob, 'On it. (3)').hover();
    await bob.page.screenshot({ path: path.join(ARTIFACTS, 'reading-desktop-hover.png') });
    await bob.page.setViewportSize({ width: 390, height: 844 });
    await bob.page.screenshot({ path: path.join(ARTIFACTS, 'reading-phone.png') });
    await messageWith(bob, 'On it. (3)').getByRole('button', { name: 'Message actions' }).click();
    await bob.page.screenshot({ path: path.join(ARTIFACTS, 'reading-phone-menu.png') });
    await bob.page.keyboard.press('Escape');
    await bob.page.setViewportSize({ width: 1100, height: 800 });
  });
});
