// End-to-end: a room's Integrations panel (README, "Bots and webhooks") in
// Chromium. Alice owns the room and adds an incoming webhook in the panel;
// a POST to its URL (from the test, as a CI job would) appears live on
// Bob's page. She adds an outgoing webhook to a receiver on 127.0.0.1
// (allowed through WEBHOOK_ALLOWED_HOSTS) and sees its deliveries listed.
// Screenshots of the panel at desktop and phone widths go to
// docs/screenshots/ with SCREENSHOTS=1. On SQLite and on Postgres.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { launchBrowser } from './support/browser.mjs';
import { closePeople, createRoom, eventually, joinRoom, messageWith, openPerson, say } from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const SHOTS = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'screenshots');
const EACH = { timeout: 120_000 };

/** A webhook receiver on loopback that answers 200 and counts requests. */
function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ id: req.headers['webhook-id'], signature: req.headers['webhook-signature'], body });
      res.writeHead(200).end();
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve({ server, received, url: `http://127.0.0.1:${server.address().port}/hook` }));
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

      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text: 'build 42 is green' }),
      });
      assert.equal(res.status, 200, 'the webhook took the message');
      await messageWith(bob, 'build 42 is green').waitFor();
      const item = messageWith(bob, 'build 42 is green');
      assert.match(await item.textContent(), /webhook:ci/, 'from webhook:ci');

      // Bob, a member, may not manage them.
      await bob.page.getByRole('button', { name: 'Integrations' }).click();
      await eventually(
        'Bob is told who may',
        () => bob.page.locator('#integrations-error').textContent(),
        'Only the owner and moderators of this room manage its integrations.',
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
      if (process.env.SCREENSHOTS === '1' && backend === 'sqlite') {
        await page.setViewportSize({ width: 1280, height: 800 });
        await page.screenshot({ path: path.join(SHOTS, 'integrations.png') });
        await page.setViewportSize({ width: 390, height: 844 });
        await page.screenshot({ path: path.join(SHOTS, 'integrations-phone.png') });
        await page.setViewportSize({ width: 1100, height: 800 });
      }
      assert.deepEqual(alice.pageErrors, [], 'no page errors');
    });
  },
);
