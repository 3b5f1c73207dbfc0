// End-to-end: notifications in the web client, driven in Chromium through
// playwright-core, with Alice and Bob each in their own browser context, on
// SQLite and on Postgres (onBothBackends). A person sets a room's level and
// mute from its 🔔 menu; the service worker registers at the root scope.
// (Chromium reaches no real push service here: subscribing itself is tested
// against a push receiver by tests/api/notifications.)
//
// With PARLEY_SCREENSHOTS=DIR set, screenshots of the menu are saved there
// at desktop and phone widths (docs/screenshots/ holds the README's).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import {
  closePeople,
  conversationButton,
  createRoom,
  eventually,
  joinRoom,
  openPerson,
  rest,
  say,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
const SCREENSHOTS = process.env.PARLEY_SCREENSHOTS;
const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

/** axe-core's serious and critical violations on the page as it is now. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE_PATH });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Opens the shown room's notification menu (unless open). */
async function openMenu(person) {
  const toggle = person.page.getByRole('button', { name: 'Notifications', exact: true });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await person.page.getByRole('heading', { name: 'Notifications for this room' }).waitFor();
}

/** The level checked in the open menu. */
const checkedLevel = (person) =>
  person.page.locator('input[name="notify-level"]:checked').evaluate((input) => input.value);

/** What the server holds for `person` in `room`. */
async function stored(server, person, room) {
  const res = await rest(server, 'GET', `/rooms/${room}/notifications`, { token: await tokenOf(server, person.username) });
  assert.equal(res.status, 200, `GET notifications of ${person.username}`);
  return res.json;
}

onBothBackends(
  'notifications in the web client (Chromium)',
  { timeout: SUITE_TIMEOUT_MS, env: (base) => ({ ALLOWED_ORIGINS: base }) },
  (server, backend) => {
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

    test('a room’s menu sets my level and mute, and shows changes made elsewhere', EACH, async () => {
      await createRoom(alice, 'lobby');
      await joinRoom(bob, 'lobby');
      await openMenu(alice);
      assert.equal(await checkedLevel(alice), 'mentions', 'the default in a room');
      assert.equal(await alice.page.getByLabel('Mute').inputValue(), '', 'not muted');

      await alice.page.getByRole('radio', { name: 'Every message' }).check();
      await eventually('level all stored', async () => (await stored(server(), alice, 'lobby')).level, 'all');

      await alice.page.getByLabel('Mute').selectOption({ label: 'For 1 hour' });
      await eventually(
        'muted for about an hour',
        async () => {
          const until = (await stored(server(), alice, 'lobby')).muted_until;
          const ahead = until ? Date.parse(until) - Date.now() : 0;
          return ahead > 55 * 60_000 && ahead <= 60 * 60_000;
        },
        true,
      );
      await alice.page.getByRole('status').filter({ hasText: /^Muted: no notifications in #lobby until/ }).waitFor();
      assert.equal(await checkedLevel(alice), 'all', 'the level stays as chosen');

      if (SCREENSHOTS && backend === 'sqlite') {
        await say(bob, 'Anyone up for lunch?');
        await alice.page.setViewportSize({ width: 1280, height: 800 });
        await alice.page.screenshot({ path: path.join(SCREENSHOTS, 'notifications-desktop.png') });
        await alice.page.setViewportSize({ width: 390, height: 844 });
        await alice.page.screenshot({ path: path.join(SCREENSHOTS, 'notifications-phone.png') });
        await alice.page.setViewportSize({ width: 1100, height: 800 });
      }

      await alice.page.getByLabel('Mute').selectOption({ label: 'Until I turn it back on' });
      await eventually(
        'muted until turned back on',
        async () => (await stored(server(), alice, 'lobby')).muted_until?.startsWith('9999-') ?? false,
        true,
      );
      await alice.page.getByLabel('Mute').selectOption({ label: 'Not muted' });
      await eventually('unmuted', async () => (await stored(server(), alice, 'lobby')).muted_until, null);
      await alice.page.getByRole('radio', { name: 'Nothing' }).check();
      await eventually('level none', async () => (await stored(server(), alice, 'lobby')).level, 'none');

      // Each person's own: Bob's setting is still the default.
      assert.deepEqual(await stored(server(), bob, 'lobby'), { level: 'mentions', muted_until: null });
      await openMenu(bob);
      assert.equal(await checkedLevel(bob), 'mentions');

      // Changed elsewhere (another device, here REST): the open menu follows
      // the user destination's room_updated.
      const token = await tokenOf(server(), 'alice');
      const res = await rest(server(), 'PUT', '/rooms/lobby/notifications', {
        token,
        body: { level: 'mentions', muted_until: null },
      });
      assert.equal(res.status, 200);
      await eventually('the menu shows the new level', () => checkedLevel(alice), 'mentions');

      await alice.page.keyboard.press('Escape');
      await alice.page.getByRole('heading', { name: 'Notifications for this room' }).waitFor({ state: 'hidden' });
    });

    test('a direct conversation notifies of every message by default', EACH, async () => {
      const token = await tokenOf(server(), 'bob');
      const res = await rest(server(), 'POST', '/dms', { token, body: { username: 'alice' } });
      assert.ok(res.status === 200 || res.status === 201, 'bob opens the conversation');
      await conversationButton(alice, 'bob').click();
      await alice.page.getByRole('heading', { name: '@bob' }).waitFor();
      await openMenu(alice);
      assert.equal(await checkedLevel(alice), 'all');
    });

    test('the menu is accessible at desktop and phone widths', EACH, async () => {
      // A context of its own: CSP bypassed only so that axe-core can be injected.
      const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true });
      const page = await context.newPage();
      try {
        await page.goto(server().base);
        await page.getByLabel('Username').fill('carol');
        await page.getByLabel('Password', { exact: true }).fill(passwordOf('carol'));
        await page.getByRole('button', { name: 'Create account' }).click();
        await page.getByText('Signed in as carol').waitFor();
        const carol = { page };
        await joinRoom(carol, 'lobby');
        await openMenu(carol);
        for (const viewport of [{ width: 1280, height: 800 }, { width: 390, height: 844 }]) {
          await page.setViewportSize(viewport);
          assert.deepEqual(await axeViolations(page), [], `the menu at ${viewport.width}x${viewport.height}`);
        }
      } finally {
        await context.close();
      }
    });

    test('the service worker registers at the root scope', EACH, async () => {
      const scope = await alice.page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
      assert.equal(scope, `${server().base}/`);
      const enable = alice.page.getByRole('button', { name: 'Enable notifications' });
      const status = alice.page.locator('#push-status');
      // Either offered, or the browser says why it cannot be.
      await eventually(
        'the button or a reason',
        async () => (await enable.isVisible()) || (await status.textContent()).length > 0,
        true,
      );
      const res = await fetch(`${server().base}/sw.js`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type'), /javascript/);
    });
  },
);
