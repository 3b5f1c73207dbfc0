// Shared by the membership and direct-conversation browser tests: one person
// in their own Chromium context, driving the page the way a person would
// (labels, roles and visible text), and the REST calls a test makes to check
// what the server holds. Not a test file itself.
import assert from 'node:assert/strict';

import { passwordOf } from './browser.mjs';
import { sleep } from './server.mjs';

/** How long the page may take to show what a test waits for. */
export const WAIT_MS = 20_000;
/** How soon a loss of access must show on the page of the one who lost it:
 * the server acts within 2 s, the page on the frame it gets. */
export const LIVE_MS = 5_000;

/** A REST call under /api/v1: `{ status, json }`. */
export async function rest(server, method, route, { token, body } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.base}/api/v1${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  const text = await res.text();
  return { status: res.status, json: text ? JSON.parse(text) : null };
}

export async function tokenOf(server, username) {
  const res = await rest(server, 'POST', '/auth/login', {
    body: { username, password: passwordOf(username) },
  });
  assert.equal(res.status, 200, `REST login as ${username}`);
  return res.json.access_token;
}

/** One person in their own browser context, signed up and connected. */
export async function openPerson(browser, server, username) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const person = { username, context, page, pageErrors: [] };
  page.on('pageerror', (err) => person.pageErrors.push(err.message));
  await page.goto(server.base);
  await page.getByLabel('Username').fill(username);
  await page.locator('#auth-view').getByLabel('Password', { exact: true }).fill(passwordOf(username));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${username}`).waitFor();
  await page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
  return person;
}

/** Another tab (its own browser context) of someone signed up already: logs in. */
export async function signIn(browser, server, username) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const person = { username, context, page, pageErrors: [] };
  page.on('pageerror', (err) => person.pageErrors.push(err.message));
  await page.goto(server.base);
  await page.getByLabel('Username').fill(username);
  await page.locator('#auth-view').getByLabel('Password', { exact: true }).fill(passwordOf(username));
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByText(`Signed in as ${username}`).waitFor();
  await page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
  return person;
}

export async function closePeople(people) {
  for (const p of people) {
    if (p) assert.deepEqual(p.pageErrors, [], `${p.username}: no script errors in the page`);
  }
  await Promise.allSettled(people.filter(Boolean).map((p) => p.context.close()));
}

/** Creates a room from the sidebar (private if asked) and waits for it to open. */
export async function createRoom(person, room, { private: isPrivate = false } = {}) {
  const { page } = person;
  await page.getByRole('button', { name: '+ New room' }).click();
  await page.getByLabel('Create a room').fill(room);
  if (isPrivate) await page.getByRole('checkbox', { name: /^Private/ }).check();
  await page.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { name: `# ${room}` }).waitFor();
}

/** Joins a room by name from the sidebar and waits for it to open. */
export async function joinRoom(person, room) {
  const { page } = person;
  await page.getByRole('button', { name: 'Join a room', exact: true }).click();
  await page.getByLabel('Join a room by name').fill(room);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await page.getByRole('heading', { name: `# ${room}` }).waitFor();
}

/** Reads the room list again (the ↻ button), and waits until it is shown. */
export async function refreshRooms(person) {
  const { page } = person;
  const answered = page.waitForResponse(
    (res) => res.request().method() === 'GET' && new URL(res.url()).pathname === '/api/v1/rooms',
  );
  await page.getByRole('button', { name: 'Refresh the room list' }).click();
  await (await answered).finished();
  await sleep(100); // the list is drawn once the answer is parsed
}

/** The room's button in the sidebar's room list. */
export const roomButton = (person, room) =>
  person.page.locator('#room-list').getByRole('button', { name: `# ${room}` });

/** A conversation's button in "Direct messages", named by the peer. */
export const conversationButton = (person, peer) =>
  person.page.locator('#dm-list').getByRole('button', { name: `@${peer}`, exact: true });

export const composer = (person) => person.page.getByRole('textbox', { name: /^Message [#@]/ });

/** Sends through the composer (Enter) and waits until it is stored. */
export async function say(person, text) {
  await composer(person).fill(text);
  await composer(person).press('Enter');
  // (A refused one stays, marked failed: it is not waited for.)
  await person.page
    .locator('.message-list li.pending:not(.failed)')
    .first()
    .waitFor({ state: 'detached' });
}

/** The shown message whose body is exactly `text`. */
export function messageWith(person, text) {
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return person.page
    .locator('.message-list li[data-seq]')
    .filter({ has: person.page.locator('.body', { hasText: exact }) });
}

/** The list item of seq `seq` in the open room. */
export const itemAt = (person, seq) => person.page.locator(`.message-list li[data-seq="${seq}"]`);

/** Opens the members panel (if closed) and waits for `username` in it. */
export async function openMembers(person, username = person.username) {
  const { page } = person;
  const toggle = page.getByRole('button', { name: 'Members' });
  if ((await toggle.getAttribute('aria-expanded')) !== 'true') await toggle.click();
  await memberItem(person, username).waitFor();
}

/** Closes and reopens the members panel: it reads the list again. */
export async function reopenMembers(person, username = person.username) {
  const toggle = person.page.getByRole('button', { name: 'Members' });
  if ((await toggle.getAttribute('aria-expanded')) === 'true') await toggle.click();
  await openMembers(person, username);
}

export const memberItem = (person, username) =>
  person.page.locator(`#member-list li[data-username="${username}"]`);

/** The role badge shown beside a member ('' for a plain member). */
export async function roleShown(person, username) {
  await memberItem(person, username).waitFor();
  // Read in one go: the panel may be redrawn between two reads.
  return person.page.evaluate((name) => {
    const item = document.querySelector(`#member-list li[data-username="${CSS.escape(name)}"]`);
    return item ? (item.querySelector('.badge.role')?.textContent.trim() ?? '') : null;
  }, username);
}

/** The items of the menu of `username` in the members panel (opened, read, closed). */
export async function menuItems(person, username) {
  const { page } = person;
  const button = page.getByRole('button', { name: `Actions for ${username}` });
  await button.click();
  const menu = page.getByRole('menu', { name: `Actions for ${username}` });
  await menu.waitFor();
  const items = await menu.getByRole('menuitem').allTextContents();
  await page.keyboard.press('Escape');
  await menu.waitFor({ state: 'hidden' });
  return items;
}

/** Picks `item` from the menu of `username` in the members panel. */
export async function chooseFromMenu(person, username, item) {
  const { page } = person;
  await page.getByRole('button', { name: `Actions for ${username}` }).click();
  const menu = page.getByRole('menu', { name: `Actions for ${username}` });
  await menu.getByRole('menuitem', { name: item, exact: true }).click();
  await menu.waitFor({ state: 'hidden' });
  // Removing and banning ask for confirmation first (ui/confirm.js).
  const confirm = { 'Remove from room': 'Remove', 'Ban from room': 'Ban' }[item];
  if (confirm) {
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: confirm, exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
  }
}

/** Waits until `read()` (re-read every 50 ms) deep-equals `expected`. */
export async function eventually(what, read, expected, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let actual;
  while (Date.now() < deadline) {
    actual = await read();
    try {
      assert.deepEqual(actual, expected);
      return;
    } catch {
      await sleep(50);
    }
  }
  assert.deepEqual(actual, expected, what);
}

/** The notice shown where the chat was (empty when none). */
export const roomNotice = (person) => person.page.locator('#room-notice');
