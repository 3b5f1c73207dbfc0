// End-to-end: accounts in the web client (README, "Accounts"), driven in
// Chromium through playwright-core, with Alice signed in in two browser
// contexts (two devices) on SQLite and on Postgres (onBothBackends).
// Settings › Sessions lists both, this device marked; "Sign out" on the
// other signs that device out: its page goes back to the sign-in form.
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`); Chromium:
// /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser } from './support/browser.mjs';
import { closePeople, openPerson, signIn, WAIT_MS } from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
/** The server ends a session's connections within 2 s; the page then renews and is refused. */
const SIGNED_OUT_MS = 8_000;

/** Opens Settings from the header and waits for the Sessions list. */
async function openSettings(person) {
  const { page } = person;
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByRole('heading', { name: 'Settings' }).waitFor();
  await page.getByRole('list', { name: 'Your sessions' }).locator('li').first().waitFor();
}

onBothBackends(
  'accounts in the web client (Chromium)',
  { timeout: SUITE_TIMEOUT_MS, env: (base) => ({ ALLOWED_ORIGINS: base }) },
  (server) => {
    let browser;
    const people = [];

    before(async () => {
      browser = await launchBrowser();
    });
    after(async () => {
      await closePeople(people);
      await browser?.close();
    });

    test('signing another session out signs that device out', EACH, async () => {
      const laptop = await openPerson(browser, server(), 'alice');
      const phone = await signIn(browser, server(), 'alice');
      people.push(laptop, phone);

      await openSettings(laptop);
      const sessions = laptop.page.getByRole('list', { name: 'Your sessions' }).locator('li');
      await sessions.nth(1).waitFor();
      assert.equal(await sessions.count(), 2, 'two sessions: this device and the other');
      const current = sessions.filter({ hasText: 'This device' });
      assert.equal(await current.count(), 1, 'this device is marked');
      assert.equal(
        await current.getByRole('button', { name: /^Sign out/ }).count(),
        0,
        'this device has no Sign out button here (Log out does that)',
      );
      await laptop.page.getByRole('button', { name: /^Sign out / }).click();
      await sessions.nth(1).waitFor({ state: 'detached' });
      assert.equal(await sessions.count(), 1, 'only this device is left');

      // The phone's live connection is ended; its page goes back to signing in.
      await phone.page.locator('#auth-view').waitFor({ state: 'visible', timeout: SIGNED_OUT_MS });
      await phone.page.getByText('Your session has ended').waitFor({ timeout: WAIT_MS });
      // The laptop is still signed in and connected.
      await laptop.page.getByRole('button', { name: 'Back to chat' }).click();
      await laptop.page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
      assert.equal(await laptop.page.locator('#auth-view').isVisible(), false);
    });
  },
);
