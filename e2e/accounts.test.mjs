// End-to-end: accounts in the web client (README, "Accounts"), driven in
// Chromium through playwright-core, with Alice signed in in two browser
// contexts (two devices) on SQLite and on Postgres (onBothBackends).
// Settings › Sessions lists both, this device marked; "Sign out" on the
// other signs that device out: its page goes back to the sign-in form.
// Bob turns two-factor on (the test reads the key from the page, as a
// person types it into an app), then logs in on another device with a
// code; Settings › Password changes his password and signs that device out.
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`); Chromium:
// /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import { closePeople, openPerson, signIn, WAIT_MS } from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
/** The server ends a session's connections within 2 s; the page then renews and is refused. */
const SIGNED_OUT_MS = 8_000;

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 key at unix second `at`. */
function totpCode(base32, at = Date.now() / 1000) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of base32.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => Number.parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

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

    test('two-factor: set up from the page, then a login needs a code', EACH, async () => {
      const bob = await openPerson(browser, server(), 'bob');
      people.push(bob);
      await openSettings(bob);
      const section = bob.page.getByRole('region', { name: 'Two-factor authentication' });
      await section.getByRole('button', { name: 'Set up two-factor authentication' }).click();
      await section.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
      const key = (await section.locator('.totp-secret').textContent()).trim();
      assert.match(key, /^[A-Z2-7]{32}$/, 'the key is shown as text');
      // The code of the step before: the current one stays fresh for the login below.
      await section.getByLabel('Code from the app').fill(totpCode(key, Date.now() / 1000 - 30));
      await section.getByRole('button', { name: 'Turn on' }).click();
      const codes = section.getByRole('list', { name: 'Recovery codes' }).locator('li');
      await codes.nth(9).waitFor();
      assert.equal(await codes.count(), 10, 'ten recovery codes, shown once');
      await section.getByRole('button', { name: 'I saved them' }).click();
      await section.getByText(/^On\./).waitFor();

      // Another device: the password alone is not enough.
      const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
      const page = await context.newPage();
      page.setDefaultTimeout(WAIT_MS);
      const other = { username: 'bob', context, page, pageErrors: [] };
      page.on('pageerror', (err) => other.pageErrors.push(err.message));
      people.push(other);
      await page.goto(server().base);
      await page.getByLabel('Username').fill('bob');
      await page.getByLabel('Password', { exact: true }).fill(passwordOf('bob'));
      await page.getByRole('button', { name: 'Log in' }).click();
      const code = page.getByLabel('Two-factor code');
      await code.waitFor();
      await page.getByText('This account has two-factor authentication').waitFor();
      await code.fill(totpCode(key));
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByText('Signed in as bob').waitFor();
      await page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();

      // A password change on the first device signs the other one out.
      const password = bob.page.getByRole('region', { name: 'Change password' });
      await password.getByLabel('Current password').fill(passwordOf('bob'));
      await password.getByLabel('New password').fill('a-brand-new-password');
      await password.getByRole('button', { name: 'Change password' }).click();
      await password.getByText('Password changed.').waitFor();
      await page.locator('#auth-view').waitFor({ state: 'visible', timeout: SIGNED_OUT_MS });
      await bob.page.getByRole('button', { name: 'Back to chat' }).click();
      await bob.page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
      assert.equal(await bob.page.locator('#auth-view').isVisible(), false, 'the device that changed it stays in');
    });
  },
);
