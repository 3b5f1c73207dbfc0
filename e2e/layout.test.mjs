// End-to-end: the calmer layout, the two sign-in modes, errors in words and
// accessibility, in the web client driven in Chromium through playwright-core.
// Alice and Bob, each in their own browser context: the search box at the top
// shows whole messages with the terms marked in the main pane and opens the
// room at the message; a direct conversation is named after the other
// person; removing and banning ask first (cancel keeps the member); Enter
// does what the visible sign-in mode says; a server error is a sentence; and
// axe-core finds no serious or critical violation at desktop and phone
// widths on the sign-in page, a room with messages, and an open dialog.
//
// With PARLEY_SCREENSHOTS=DIR set, it also saves screenshots of the main
// views there (docs/screenshots/ holds the ones the README shows).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`) on SQLite; Chromium:
// /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import {
  WAIT_MS,
  closePeople,
  conversationButton,
  createRoom,
  joinRoom,
  memberItem,
  messageWith,
  openMembers,
  refreshRooms,
  rest,
  say,
  tokenOf,
} from './support/person.mjs';
import { startServer, stopServer } from './support/server.mjs';

const AXE_PATH = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const SHOTS = process.env.PARLEY_SCREENSHOTS || '';
const EACH = { timeout: 120_000 };

/** A page of its own; CSP bypassed only so that axe-core can be injected. */
async function newPage(browser, server, username) {
  const context = await browser.newContext({ viewport: DESKTOP, bypassCSP: true });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const person = { username, context, page, pageErrors: [] };
  page.on('pageerror', (err) => person.pageErrors.push(err.message));
  await page.goto(server.base);
  return person;
}

/** Signs up from the log-in mode's "Create account" switch, fields filled. */
async function signUp(browser, server, username) {
  const person = await newPage(browser, server, username);
  const { page } = person;
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(passwordOf(username));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${username}`).waitFor();
  await page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
  return person;
}

/** axe-core's serious and critical violations on the page as it is now. */
async function axeViolations(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ path: AXE_PATH });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** The same check at desktop and phone widths (the page is left at desktop width). */
async function assertAccessible(page, where) {
  for (const viewport of [DESKTOP, PHONE]) {
    await page.setViewportSize(viewport);
    assert.deepEqual(await axeViolations(page), [], `${where} at ${viewport.width}x${viewport.height}`);
  }
  await page.setViewportSize(DESKTOP);
}

async function shoot(page, name, viewport = DESKTOP) {
  if (!SHOTS) return;
  await page.setViewportSize(viewport);
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  await page.setViewportSize(DESKTOP);
}

/** The members of `room` as the server holds them. */
async function membersOf(server, room) {
  const res = await rest(server, 'GET', `/rooms/${room}/members`, { token: await tokenOf(server, 'alice') });
  assert.equal(res.status, 200);
  return res.json.members.map((m) => m.username).sort();
}

describe('layout, sign-in modes, errors and accessibility (Chromium)', { timeout: 600_000 }, () => {
  let server;
  let browser;
  let alice;
  let bob;
  const room = 'lounge';

  before(async () => {
    server = await startServer({ env: (base) => ({ ALLOWED_ORIGINS: base }) });
    browser = await launchBrowser();
    const signIn = await newPage(browser, server, 'nobody');
    await assertAccessible(signIn.page, 'the sign-in page');
    await shoot(signIn.page, 'sign-in-desktop');
    await shoot(signIn.page, 'sign-in-phone', PHONE);
    await closePeople([signIn]);
    alice = await signUp(browser, server, 'alice');
    bob = await signUp(browser, server, 'bob');
    await createRoom(alice, room);
    await joinRoom(bob, room);
  });

  after(async () => {
    await closePeople([alice, bob]);
    await browser?.close();
    if (server) await stopServer(server);
  });

  test('log in and create account are two modes, and Enter does what the visible one says', EACH, async () => {
    const person = await newPage(browser, server, 'newbie');
    const { page } = person;
    try {
      await page.getByRole('heading', { name: 'Log in to Parley' }).waitFor();
      await page.getByLabel('Username').fill('newbie');
      await page.getByLabel('Password', { exact: true }).fill(passwordOf('newbie'));
      const asked = page.waitForRequest((req) => req.method() === 'POST' && req.url().includes('/api/v1/auth/'));
      await page.getByLabel('Password', { exact: true }).press('Enter');
      assert.equal(new URL((await asked).url()).pathname, '/api/v1/auth/login', 'Enter in log-in mode logs in');
      const error = page.locator('#auth-error');
      await error.filter({ hasText: 'Wrong username or password.' }).waitFor();
      assert.match(await error.textContent(), /this name may have no account yet: choose “Create account”/);
      assert.equal(await page.getByText('Signed in as').isVisible(), false);

      // The switch with empty fields only switches; then Enter creates the account.
      await page.getByLabel('Password', { exact: true }).fill('');
      await page.getByRole('button', { name: 'Create account' }).click();
      await page.getByRole('heading', { name: 'Create your Parley account' }).waitFor();
      assert.equal(await error.textContent(), '', 'switching clears the error');
      assert.equal(
        await page.locator('#auth-form button[type="submit"]').first().textContent(),
        'Create account',
        'the visible mode’s button is the form’s default (Enter)',
      );
      assert.equal(await page.getByRole('button', { name: 'Log in' }).isVisible(), true, 'the way back is shown');
      await page.getByLabel('Password', { exact: true }).fill(passwordOf('newbie'));
      const created = page.waitForRequest((req) => req.method() === 'POST' && req.url().includes('/api/v1/auth/'));
      await page.getByLabel('Password', { exact: true }).press('Enter');
      assert.equal(new URL((await created).url()).pathname, '/api/v1/auth/signup', 'Enter in sign-up mode signs up');
      await page.getByText('Signed in as newbie').waitFor();
    } finally {
      await closePeople([person]);
    }
  });

  test('a server error is shown as a sentence, not its code or raw text', EACH, async () => {
    const { page } = alice;
    const answered = page.waitForResponse((res) => res.url().endsWith('/api/v1/rooms') && res.request().method() === 'POST');
    await page.getByRole('button', { name: '+ New room' }).click();
    await page.getByLabel('Create a room').fill('dm-mine');
    await page.getByRole('button', { name: 'Create', exact: true }).click();
    const res = await answered;
    assert.equal(res.status(), 400);
    assert.equal((await res.json()).error.code, 'invalid_room_name');
    const dialog = page.getByRole('dialog', { name: 'New room' });
    await dialog.getByRole('alert').filter({ hasText: /\S/ }).waitFor();
    assert.equal(
      await dialog.getByRole('alert').textContent(),
      'A room name is 1 to 64 lower-case letters, digits, “_” or “-”, and cannot start with “dm-”.',
    );
    await assertAccessible(page, 'the New room dialog with an error');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'create-open',
      'focus returns to the button that opened it',
    );
  });

  test('the search box at the top shows whole messages with the match marked in the main pane, and opens the room at it', EACH, async () => {
    const body =
      'A long message that goes on and on about the weather, the harbour, the ferries and the gulls, ' +
      'so that the word we look for, zebrafish, comes only near its end.';
    await say(alice, body);
    for (let i = 1; i <= 3; i++) await say(alice, `filler ${i}`);
    await createRoom(bob, 'elsewhere');

    const { page } = bob;
    await page.getByRole('searchbox', { name: 'Search messages' }).fill('zebrafish');
    await page.getByRole('searchbox', { name: 'Search messages' }).press('Enter');
    await page.getByRole('heading', { name: 'Results for “zebrafish”' }).waitFor();
    const result = page.locator('#result-list .result').first();
    await result.waitFor();
    assert.equal(await result.locator('.result-body').textContent(), body, 'the whole text');
    assert.deepEqual(await result.locator('mark').allTextContents(), ['zebrafish']);
    assert.equal(await result.locator('.result-body').evaluate((el) => el.scrollWidth <= el.clientWidth), true, 'nothing cut off');
    assert.equal(await page.locator('#chat #results').isVisible(), true, 'the results are in the main pane');
    assert.equal(await page.locator('#room-list').isVisible(), true, 'the room list stays beside them');
    assert.equal(await page.locator('#chat-room').isVisible(), false, 'in place of the room');
    await shoot(page, 'search-desktop');
    await shoot(page, 'search-phone', PHONE);

    await result.click();
    await page.getByRole('heading', { name: `# ${room}` }).waitFor();
    await page.locator('.message-list li.highlight').waitFor();
    assert.equal(await page.locator('.message-list li.highlight .body').textContent(), body);
    assert.equal(await page.locator('#results').isVisible(), false, 'the room has the main pane back');
    await assertAccessible(page, 'a room with messages');
    await shoot(page, 'room-desktop');
    await shoot(page, 'room-phone', PHONE);
  });

  test('a direct conversation is named after the other person, on both sides', EACH, async () => {
    await openMembers(alice, 'bob');
    await alice.page.getByRole('button', { name: 'Actions for bob' }).click();
    await alice.page.getByRole('menuitem', { name: 'Message', exact: true }).click();
    await alice.page.getByRole('heading', { name: '@bob' }).waitFor();
    await alice.page.getByText('This is the beginning of your conversation with bob.').waitFor();
    await say(alice, 'hello bob');

    await refreshRooms(bob);
    await conversationButton(bob, 'alice').click();
    await bob.page.getByRole('heading', { name: '@alice' }).waitFor();
    await messageWith(bob, 'hello bob').waitFor();
    for (const p of [alice, bob]) {
      const text = await p.page.evaluate(() => document.body.innerText);
      assert.doesNotMatch(text, /dm-\d/, `${p.username} never sees the conversation's internal name`);
      const labels = await p.page.evaluate(() =>
        [...document.querySelectorAll('[aria-label]')].map((el) => el.getAttribute('aria-label')).join('\n'),
      );
      assert.doesNotMatch(labels, /dm-\d/, `${p.username}: nor is it read out`);
    }
  });

  test('remove and ban ask first: Escape or Cancel keeps the member, Remove removes', EACH, async () => {
    const { page } = alice;
    await page.locator('#room-list').getByRole('button', { name: `# ${room}` }).click();
    await page.getByRole('heading', { name: `# ${room}` }).waitFor();
    await openMembers(alice, 'bob');
    const actions = page.getByRole('button', { name: 'Actions for bob' });
    const dialog = page.getByRole('dialog');

    await actions.click();
    await page.getByRole('menuitem', { name: 'Remove from room', exact: true }).click();
    await dialog.filter({ hasText: `Remove bob from #${room}?` }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Cancel', 'Cancel has focus first');
    await assertAccessible(page, 'an open dialog');
    await shoot(page, 'dialog-desktop');
    await shoot(page, 'dialog-phone', PHONE);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Actions for bob', 'focus returns');
    assert.deepEqual(await membersOf(server, room), ['alice', 'bob'], 'Escape keeps bob');

    await actions.click();
    await page.getByRole('menuitem', { name: 'Ban from room', exact: true }).click();
    await dialog.filter({ hasText: `Ban bob from #${room}?` }).waitFor();
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    assert.deepEqual(await membersOf(server, room), ['alice', 'bob'], 'Cancel keeps bob');

    await actions.click();
    await page.getByRole('menuitem', { name: 'Remove from room', exact: true }).click();
    await dialog.getByRole('button', { name: 'Remove', exact: true }).click();
    await memberItem(alice, 'bob').waitFor({ state: 'detached' });
    assert.deepEqual(await membersOf(server, room), ['alice'], 'confirmed: bob is removed');
  });
});

test('errors.js words every known code and falls back to the server’s message', async () => {
  const { describeError, KNOWN_CODES } = await import('../web/errors.js');
  const err = (code, message = 'raw server text', extra = {}) => Object.assign(new Error(message), { status: 400, code, ...extra });
  for (const code of KNOWN_CODES) {
    const text = describeError(err(code));
    assert.match(text, /^[A-Z].*[.]$/, `${code} is a sentence`);
    if (code.includes('_')) assert.ok(!text.includes(code), `${code} is not shown as a code`);
  }
  assert.equal(describeError(err('invalid_room_name')).includes('a-z'), false, 'not the server’s raw text');
  assert.equal(describeError(err('something_new', 'The server says why.')), 'The server says why.', 'unknown code: the server’s message');
  assert.equal(describeError(err('forbidden'), { forbidden: 'Only the owner can.' }), 'Only the owner can.', 'overrides win');
  assert.equal(
    describeError(err('too_many_attempts', 'x', { retryAfterSecs: 7 })),
    'Too many attempts. Try again in 7 seconds.',
  );
  assert.equal(describeError(new Error('plain failure')), 'plain failure', 'not an API error: its message');
});
