// End-to-end: email verification and password reset in the web client
// (README, "Accounts"), in Chromium through playwright-core, against a real
// SMTP server on loopback (support/smtp.mjs). Alice sets her address in
// Settings › Email and types the code the test reads from the mail (as she
// would from her inbox); the badge says Verified. On another device (a
// second browser context, signed out) she uses "Forgot password?", opens the
// mailed link, chooses a new password and logs in with it; her first device
// is signed out. On SQLite and on Postgres (onBothBackends), one SMTP server
// for both (each run mails its own address).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`); Chromium:
// /usr/bin/chromium or CHROMIUM_BIN; Python with aiosmtpd (PYTHON).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';

import { launchBrowser } from './support/browser.mjs';
import { closePeople, openPerson, WAIT_MS } from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';
import { startSmtp } from './support/smtp.mjs';

const TIMEOUT_MS = 90_000;
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
const SCREENSHOTS = process.env.SCREENSHOTS_DIR;

let smtp;
before(async () => {
  smtp = await startSmtp();
});
after(() => smtp?.stop());

onBothBackends(
  'email and password reset in the web client (Chromium)',
  {
    timeout: 2 * TIMEOUT_MS,
    env: (base) => ({ ALLOWED_ORIGINS: base, SMTP_URL: smtp.url, PUBLIC_URL: base, MAIL_FROM: 'Parley <parley@example.com>' }),
  },
  (serverOf, backend) => {
    let browser;
    let server;
    const people = [];
    // Screenshots from one run only.
    const SHOTS = backend === 'sqlite' ? SCREENSHOTS : '';
    const address = `alice-${backend}@example.com`;

    before(async () => {
      server = serverOf();
      browser = await launchBrowser();
    });
    after(async () => {
      await closePeople(people);
      await browser?.close();
    });

    test('verify an address, then reset the password through the mailed link', { timeout: TIMEOUT_MS }, async () => {
      const laptop = await openPerson(browser, server, 'alice');
      people.push(laptop);
      const { page } = laptop;
      await page.getByRole('button', { name: 'Settings' }).click();
      const section = page.getByRole('region', { name: 'Email' });
      await section.getByText('No address yet.').waitFor();
      await section.getByLabel('Email address').fill(address);
      await section.getByRole('button', { name: 'Send code' }).click();
      await section.getByText(`We mailed a code to ${address}.`).waitFor();
      const [codeMail] = await smtp.waitFor(address, 1);
      const code = codeMail.body.match(/\b(\d{6})\b/)[1];
      await section.getByLabel('Code from the mail').fill(code === '000000' ? '111111' : '000000');
      await section.getByRole('button', { name: 'Verify' }).click();
      await section.getByText(/That code is not right/).waitFor();
      await section.getByLabel('Code from the mail').fill(code);
      await section.getByRole('button', { name: 'Verify' }).click();
      await section.locator('.badge', { hasText: 'Verified' }).waitFor();
      if (SHOTS) {
        await page.screenshot({ path: `${SHOTS}/email-settings-desktop.png` });
      }

      // Another device, signed out: Forgot password?
      // (CSP bypassed only so that axe-core can be injected.)
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, bypassCSP: true });
      const phone = { username: 'alice', context, page: await context.newPage(), pageErrors: [] };
      people.push(phone);
      phone.page.setDefaultTimeout(WAIT_MS);
      phone.page.on('pageerror', (err) => phone.pageErrors.push(err.message));
      await phone.page.goto(server.base);
      await phone.page.getByRole('button', { name: 'Forgot password?' }).waitFor();
      assert.deepEqual(await axeViolations(phone.page), [], 'sign-in with Forgot password?');
      if (SHOTS) await phone.page.screenshot({ path: `${SHOTS}/signin-forgot-phone.png` });
      await phone.page.getByRole('button', { name: 'Forgot password?' }).click();
      await phone.page.locator('#forgot-form').getByLabel('Email address').fill(address);
      await phone.page.getByRole('button', { name: 'Send reset link' }).click();
      await phone.page.getByText(/a link is on its way/).waitFor();
      assert.deepEqual(await axeViolations(phone.page), [], 'the Forgot password form');
      if (SHOTS) await phone.page.screenshot({ path: `${SHOTS}/forgot-password-phone.png` });
      const resetMail = (await smtp.waitFor(address, 2))[1];
      const link = resetMail.body.match(/(http\S+#reset=[\w-]+)/)[1];
      assert.ok(link.startsWith(server.base), link);

      // The link opens in a new tab, as from a mail program.
      await phone.page.close();
      phone.page = await context.newPage();
      phone.page.setDefaultTimeout(WAIT_MS);
      phone.page.on('pageerror', (err) => phone.pageErrors.push(err.message));
      await phone.page.goto(link);
      await phone.page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
      assert.ok(!phone.page.url().includes('#reset='), 'the token leaves the address bar');
      assert.deepEqual(await axeViolations(phone.page), [], 'the new-password form');
      await phone.page.locator('#reset-form').getByLabel('New password').fill('a-brand-new-password');
      if (SHOTS) await phone.page.screenshot({ path: `${SHOTS}/reset-password-phone.png` });
      await phone.page.getByRole('button', { name: 'Set new password' }).click();
      await phone.page.getByText('Your password is changed. Log in with the new one.').waitFor();
      await phone.page.getByLabel('Username').fill('alice');
      await phone.page.getByLabel('Password', { exact: true }).fill('a-brand-new-password');
      await phone.page.getByRole('button', { name: 'Log in' }).click();
      await phone.page.getByText('Signed in as alice').waitFor();
      if (SHOTS) await phone.page.screenshot({ path: `${SHOTS}/signed-in-after-reset-phone.png` });

      // The first device was signed out by the reset.
      await page.locator('#auth-view').waitFor({ state: 'visible', timeout: 15_000 });
      assert.deepEqual([...laptop.pageErrors, ...phone.pageErrors], []);
    });
  },
);
