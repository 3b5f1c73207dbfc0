// End-to-end: administration in the web client (README, "Administration"),
// driven in Chromium through playwright-core, each person in their own
// browser context, doing what a person would: a member reports a message
// from its actions menu, the room's owner resolves the report from the
// members panel and the message is gone from the reporter's page too; an
// administrator (ADMIN_USERS) deactivates an account from the
// Administration page and that person's open tab is signed out; an
// administrator deletes an account there (after a confirmation) and that
// person's tab is signed out, their message erased on the others' pages.
// On SQLite and on Postgres (onBothBackends).
//
// With PARLEY_SCREENSHOTS=DIR set, it also saves screenshots of the report
// dialog, the moderation panel and the administration page there, at
// desktop and phone widths (docs/screenshots/ holds the ones the README
// shows).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { launchBrowser } from './support/browser.mjs';
import {
  LIVE_MS,
  WAIT_MS,
  closePeople,
  createRoom,
  eventually,
  joinRoom,
  messageWith,
  openMembers,
  openPerson,
  rest,
  say,
  signIn,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
const SHOTS = process.env.PARLEY_SCREENSHOTS || '';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };

/** Saves `name`-desktop.png and `name`-phone.png of the page as it is now. */
async function screenshots(person, name, reopen = async () => {}) {
  if (!SHOTS) return;
  const { page } = person;
  const before = page.viewportSize();
  for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(viewport);
    await reopen();
    await page.screenshot({ path: path.join(SHOTS, `${name}-${size}.png`) });
  }
  await page.setViewportSize(before);
  await reopen();
}

onBothBackends(
  'reports and administration in the web client (Chromium)',
  {
    timeout: SUITE_TIMEOUT_MS,
    env: (base) => ({ ALLOWED_ORIGINS: base, ADMIN_USERS: 'root' }),
  },
  (server) => {
    let browser;
    let alice;
    let bob;
    let carol;

    before(async () => {
      browser = await launchBrowser();
      alice = await openPerson(browser, server(), 'alice');
      bob = await openPerson(browser, server(), 'bob');
      carol = await openPerson(browser, server(), 'carol');
    });
    after(async () => {
      await closePeople([alice, bob, carol]);
      await browser?.close();
    });

    test('a member reports a message and the room’s owner deletes it from the report', EACH, async () => {
      await createRoom(alice, 'hall');
      await joinRoom(bob, 'hall');
      await joinRoom(carol, 'hall');
      await say(carol, 'cheap watches here');
      const offending = messageWith(bob, 'cheap watches here');
      await offending.waitFor();

      // Bob reports it from the message's actions.
      await offending.hover();
      await offending.getByRole('button', { name: 'Report message' }).click();
      const dialog = bob.page.getByRole('dialog', { name: 'Report this message' });
      await dialog.waitFor();
      await dialog.getByLabel('Why should the moderators look at it?').fill('spam');
      await screenshots(bob, 'report');
      await dialog.getByRole('button', { name: 'Report', exact: true }).click();
      await dialog.waitFor({ state: 'hidden' });
      // Carol's own message offers her no "Report".
      const own = messageWith(carol, 'cheap watches here');
      await own.hover();
      assert.equal(await own.getByRole('button', { name: 'Report message' }).count(), 0);

      // Bob, a member, has no moderation part in his members panel.
      await openMembers(bob);
      assert.equal(await bob.page.locator('#moderation').isVisible(), false);

      // Alice, the owner, sees the report in the members panel and deletes the message.
      await openMembers(alice);
      const report = alice.page.locator('#room-report-list li.report').filter({ hasText: 'spam' });
      await report.waitFor();
      assert.match(await report.textContent(), /bob reported a message by carol/);
      await screenshots(alice, 'moderation', () => openMembers(alice));
      await report.getByRole('button', { name: 'Delete the message reported by bob' }).click();
      await report.getByText('Resolved: message deleted').waitFor();
      await alice.page
        .locator('#room-audit-list li')
        .filter({ hasText: 'alice deleted a message of carol' })
        .waitFor();
      // Live on the reporter's page: the message is gone.
      await messageWith(bob, 'cheap watches here').waitFor({ state: 'detached', timeout: LIVE_MS });
      await bob.page.locator('.message-list li.deleted').first().waitFor({ timeout: LIVE_MS });

      // What the server holds: resolved, deleted, audited.
      const token = await tokenOf(server(), 'alice');
      const stored = await rest(server(), 'GET', '/rooms/hall/reports', { token });
      assert.equal(stored.status, 200);
      assert.deepEqual(
        stored.json.reports.map((r) => [r.reporter, r.resolved, r.action]),
        [['bob', true, 'deleted']],
      );
    });

    test('an administrator deactivates an account and its open tab is signed out', EACH, async () => {
      const root = await openPerson(browser, server(), 'root');
      const dave = await openPerson(browser, server(), 'dave');
      try {
        await root.page.getByRole('button', { name: 'Administration' }).click();
        const page = root.page.getByRole('dialog', { name: 'Administration' });
        await page.waitFor();
        await page.getByLabel('Search accounts').fill('dav');
        await page.getByRole('button', { name: 'Search', exact: true }).click();
        const row = page.locator('#admin-user-list li[data-user="dave"]');
        await row.waitFor();
        // The search's answer replaces the first page of accounts.
        await eventually('only dave matches', () => page.locator('#admin-user-list li').count(), 1);
        await row.getByRole('button', { name: 'Deactivate dave' }).click();
        await row.getByRole('button', { name: 'Reactivate dave' }).waitFor();
        await page.locator('#admin-audit-list li').filter({ hasText: 'root deactivated dave' }).waitFor();
        await screenshots(root, 'admin', async () => {
          if (!(await page.isVisible())) await root.page.getByRole('button', { name: 'Administration' }).click();
        });

        // Dave's open tab is signed out, and he cannot log in again.
        await dave.page.locator('#auth-view').waitFor({ state: 'visible', timeout: WAIT_MS });
        await dave.page.getByLabel('Username').fill('dave');
        await dave.page.locator('#auth-view').getByLabel('Password', { exact: true }).fill('pw-dave-secret');
        await dave.page.getByRole('button', { name: 'Log in', exact: true }).click();
        await dave.page.getByText('This account has been deactivated by an administrator.').waitFor();

        // Other people see no Administration button.
        assert.equal(await alice.page.locator('#admin-open').isVisible(), false);
        assert.equal(await alice.page.getByRole('button', { name: 'Administration' }).count(), 0);
      } finally {
        await closePeople([root, dave]);
      }
    });

    test('an administrator deletes an account and its open tab is signed out', EACH, async () => {
      // Root signed up in the test before.
      const root = await signIn(browser, server(), 'root');
      const erin = await openPerson(browser, server(), 'erin');
      try {
        await createRoom(erin, 'porch');
        await joinRoom(alice, 'porch');
        await say(erin, 'erin was here');
        await messageWith(alice, 'erin was here').waitFor();

        await root.page.getByRole('button', { name: 'Administration' }).click();
        const page = root.page.getByRole('dialog', { name: 'Administration' });
        await page.waitFor();
        await page.getByLabel('Search accounts').fill('erin');
        await page.getByRole('button', { name: 'Search', exact: true }).click();
        const row = page.locator('#admin-user-list li[data-user="erin"]');
        await row.waitFor();
        await eventually('only erin matches', () => page.locator('#admin-user-list li').count(), 1);

        // Cancelling the confirmation deletes nothing.
        await row.getByRole('button', { name: 'Delete erin' }).click();
        const confirm = root.page.getByRole('dialog', { name: 'Delete erin?' });
        await confirm.waitFor();
        await confirm.getByRole('button', { name: 'Cancel' }).click();
        await confirm.waitFor({ state: 'hidden' });
        assert.equal(await row.count(), 1, 'still listed');
        const token = await tokenOf(server(), 'root');
        const listed = await rest(server(), 'GET', '/admin/users?q=erin', { token });
        assert.deepEqual(listed.json.users.map((u) => u.username), ['erin']);

        await row.getByRole('button', { name: 'Delete erin' }).click();
        await screenshots(root, 'admin-delete');
        await confirm.getByRole('button', { name: 'Delete account' }).click();
        await row.waitFor({ state: 'detached' });
        await page.locator('#admin-audit-list li').filter({ hasText: 'root deleted the account of erin' }).waitFor();

        // Erin's open tab is signed out; her words are gone from Alice's page.
        await erin.page.locator('#auth-view').waitFor({ state: 'visible', timeout: WAIT_MS });
        await messageWith(alice, 'erin was here').waitFor({ state: 'detached', timeout: LIVE_MS });
        const again = await rest(server(), 'GET', '/admin/users?q=erin', { token });
        assert.deepEqual(again.json.users, [], 'a deleted account is not listed');
        const signup = await rest(server(), 'POST', '/auth/signup', {
          body: { username: 'erin', password: 'another long password' },
        });
        assert.equal(signup.status, 409, 'the name stays taken');
      } finally {
        await closePeople([root, erin]);
      }
    });
  },
);
