// End-to-end: a room's Integrations panel and Settings › Bots (README, "Bots
// and webhooks") in Chromium. Alice owns the room and adds an incoming
// webhook in the panel; a POST to its URL (from the test, as a CI job would)
// appears live on Bob's page. She adds an outgoing webhook to a receiver on
// 127.0.0.1 (allowed through WEBHOOK_ALLOWED_HOSTS) and sees its deliveries
// listed, and a slash command whose answer Bob sees. In Settings › Bots she
// creates a bot (its token works), gives it a new token (the old one stops
// working) and deletes it (asked first): Bob sees its message erased.
//
// With PARLEY_SCREENSHOTS=DIR set, it saves screenshots of the panel and of
// the Bots section at desktop and phone widths there (docs/screenshots/
// holds the ones the README shows). On SQLite and on Postgres.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';

import { launchBrowser } from './support/browser.mjs';
import {
  closePeople,
  createRoom,
  eventually,
  joinRoom,
  messageWith,
  openPerson,
  rest,
  say,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const SHOTS = process.env.PARLEY_SCREENSHOTS || '';
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 800 };
const EACH = { timeout: 120_000 };

/** Saves `name`-desktop.png and `name`-phone.png of the page as it is now,
 * `show()` bringing what matters into view at each size. */
async function screenshots(person, name, show = async () => {}) {
  if (!SHOTS) return;
  const { page } = person;
  const before = page.viewportSize();
  for (const [size, viewport] of [['desktop', DESKTOP], ['phone', PHONE]]) {
    await page.setViewportSize(viewport);
    await show();
    await page.screenshot({ path: path.join(SHOTS, `${name}-${size}.png`) });
  }
  await page.setViewportSize(before);
}

/** A webhook receiver on loopback that counts requests: `/hook` answers
 * 200, `/cmd` (a slash command) `{"text": "deploying <its text>"}`. */
function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ id: req.headers['webhook-id'], signature: req.headers['webhook-signature'], body });
      if (req.url === '/cmd') {
        const { text } = JSON.parse(body);
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ text: `deploying ${text}` }));
      } else {
        res.writeHead(200).end();
      }
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const base = `http://127.0.0.1:${server.address().port}`;
      resolve({ server, received, url: `${base}/hook`, commandUrl: `${base}/cmd` });
    });
  });
}

onBothBackends(
  'integrations in the web client (Chromium)',
  { timeout: 600_000, env: (base) => ({ ALLOWED_ORIGINS: base, WEBHOOK_ALLOWED_HOSTS: '127.0.0.1' }) },
  (server, backend) => {
    let browser;
    let alice;
    let bob;
    let receiver;

    before(async () => {
      browser = await launchBrowser();
      alice = await openPerson(browser, server(), 'alice');
      bob = await openPerson(browser, server(), 'bob');
      receiver = await startReceiver();
    });
    after(async () => {
      await closePeople([alice, bob]);
      await browser?.close();
      receiver?.server.close();
    });

    test('an incoming webhook made in the panel posts live to another member', EACH, async () => {
      await createRoom(alice, 'deploys');
      await joinRoom(bob, 'deploys');
      const page = alice.page;
      await page.getByRole('button', { name: 'Integrations' }).click();
      await page.getByLabel('New incoming webhook: its name').fill('ci');
      await page.locator('#incoming-form').getByRole('button', { name: 'Create' }).click();
      const shown = page.locator('#integration-secret-value');
      await shown.waitFor();
      const url = await shown.inputValue();
      assert.match(url, /\/api\/v1\/hooks\/\d+\/[A-Za-z0-9_-]{43}$/, 'the URL is shown to copy');
      await page.getByRole('listitem').filter({ hasText: 'Incoming webhook “ci”' }).waitFor();
      if (backend === 'sqlite') await screenshots(alice, 'integrations-incoming', () => shown.scrollIntoViewIfNeeded());

      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'build 42 is green' }),
      });
      assert.equal(res.status, 200, 'the webhook took the message');
      await messageWith(bob, 'build 42 is green').waitFor();
      const item = messageWith(bob, 'build 42 is green');
      assert.match(await item.textContent(), /webhook:ci/, 'from webhook:ci');

      // Bob, a member, may not manage them: he is not offered the panel.
      assert.equal(
        await bob.page.locator('#integrations-toggle').isHidden(),
        true,
        'no Integrations button for a plain member',
      );
    });

    test('an outgoing webhook made in the panel lists its deliveries', EACH, async () => {
      const page = alice.page;
      await page.getByLabel("New outgoing webhook: where to send the room's events").fill(receiver.url);
      await page.getByRole('checkbox', { name: 'reactions' }).uncheck();
      await page.locator('#outgoing-form').getByRole('button', { name: 'Create' }).click();
      // The box showed the incoming webhook's URL before: wait for the secret.
      const secretBox = page.locator('#integration-secret-value');
      await eventually('the signing secret is shown once', async () => /^whsec_/.test(await secretBox.inputValue()), true);
      await say(alice, 'release shipped');
      await eventually('the receiver got the message', () => receiver.received.some((r) => r.body.includes('release shipped')), true);
      const hook = page.getByRole('listitem').filter({ hasText: 'Outgoing webhook to' });
      await hook.getByRole('button', { name: 'Recent deliveries' }).click();
      await eventually(
        'the delivery is listed',
        async () => /delivered \(200\)/.test(await hook.textContent()),
        true,
      );
      assert.deepEqual(alice.pageErrors, [], 'no page errors');
    });

    test('a slash command made in the panel answers in the room', EACH, async () => {
      const page = alice.page;
      await page.getByLabel('New slash command: its name and URL').fill('/deploy');
      await page.getByLabel('Command URL').fill(receiver.commandUrl);
      await page.locator('#command-form').getByRole('button', { name: 'Add' }).click();
      await page.getByRole('listitem').filter({ hasText: 'Slash command /deploy' }).waitFor();
      await say(alice, '/deploy main');
      await messageWith(bob, 'deploying main').waitFor();
      assert.match(await messageWith(bob, 'deploying main').textContent(), /webhook:deploy/, 'from webhook:deploy');
      assert.equal(await messageWith(bob, '/deploy main').count(), 0, 'the command itself is not stored');
      const hook = page.getByRole('listitem').filter({ hasText: 'Outgoing webhook to' });
      await hook.getByRole('button', { name: 'Recent deliveries' }).click();
      await eventually('the deliveries are listed', async () => /delivered \(200\)/.test(await hook.textContent()), true);
      const title = page.getByRole('heading', { name: 'Integrations' });
      if (backend === 'sqlite') await screenshots(alice, 'integrations', () => title.scrollIntoViewIfNeeded());
      assert.deepEqual(alice.pageErrors, [], 'no page errors');
    });

    test('Settings › Bots creates a bot, gives it a new token and deletes it', EACH, async () => {
      const page = alice.page;
      await page.getByRole('button', { name: 'Settings' }).click();
      const section = page.getByRole('region', { name: 'Bots' });
      await section.getByLabel('Name of a new bot').fill('helperbot');
      await section.getByRole('button', { name: 'Create bot' }).click();
      const shown = section.getByRole('textbox', { name: /The token of helperbot/ });
      await eventually('the token is shown once', async () => /^parley_bot_/.test(await shown.inputValue()), true);
      const first = await shown.inputValue();
      await section.getByRole('listitem').filter({ hasText: 'helperbot' }).waitFor();
      const me = await rest(server(), 'GET', '/me', { token: first });
      assert.equal(me.status, 200, 'the token works');
      assert.equal(me.json.bot, true);
      const posted = await rest(server(), 'POST', '/rooms/deploys/messages', {
        token: first,
        body: { body: 'hello from helperbot' },
      });
      assert.equal(posted.status, 201, 'the bot posts with it');
      await messageWith(bob, 'hello from helperbot').waitFor();

      await section.getByRole('button', { name: 'New token for helperbot' }).click();
      await eventually('a new token is shown', async () => (await shown.inputValue()) !== first, true);
      const second = await shown.inputValue();
      assert.match(second, /^parley_bot_/);
      assert.equal((await rest(server(), 'GET', '/me', { token: first })).status, 401, 'the old token stops working');
      assert.equal((await rest(server(), 'GET', '/me', { token: second })).status, 200, 'the new one works');
      if (backend === 'sqlite') await screenshots(alice, 'bots', () => shown.scrollIntoViewIfNeeded());

      await section.getByRole('button', { name: 'Delete helperbot' }).click();
      const dialog = page.getByRole('dialog');
      await dialog.getByRole('button', { name: 'Delete bot', exact: true }).click();
      await dialog.waitFor({ state: 'hidden' });
      await section.getByRole('listitem').filter({ hasText: 'helperbot' }).waitFor({ state: 'detached' });
      assert.equal((await rest(server(), 'GET', '/me', { token: second })).status, 401, 'a deleted bot is refused');
      await messageWith(bob, 'hello from helperbot').waitFor({ state: 'detached' });
      await page.getByRole('button', { name: 'Back to chat' }).click();
      assert.deepEqual(alice.pageErrors, [], 'no page errors');
    });
  },
);
