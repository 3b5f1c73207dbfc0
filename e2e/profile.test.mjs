// End-to-end: profiles in the web client, driven in Chromium through
// playwright-core, with Alice and Bob each in their own browser context, on
// SQLite and on Postgres (onBothBackends). Alice opens "Profile" (the
// settings page at its Profile section), sets a
// display name and a picture (previewed before she saves it); Bob, who shares
// a room with her, sees her name and picture change live in the timeline, the
// members list and the conversation list, with her username still beside
// the name. Alice exports her data; then she deletes her account and Bob sees
// her messages erased.
//
// With PARLEY_SCREENSHOTS=DIR set, it saves screenshots of the profile section
// and of Bob's view at desktop and phone widths there.
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { deflateSync } from 'node:zlib';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import {
  closePeople,
  conversationButton,
  createRoom,
  eventually,
  joinRoom,
  memberItem,
  messageWith,
  openMembers,
  openPerson,
  refreshRooms,
  rest,
  say,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };
const SHOTS = process.env.PARLEY_SCREENSHOTS;

/** A real PNG, `width` x `height`, in two colours (no image library needed). */
function png(width, height) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (bytes) => {
    let c = 0xffffffff;
    for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'ascii');
    data.copy(out, 8);
    out.writeUInt32BE(crc(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const rows = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const at = y * (width * 3 + 1) + 1 + x * 3;
      const inner = Math.abs(x - width / 2) < width / 4 && Math.abs(y - height / 2) < height / 4;
      rows.set(inner ? [250, 200, 40] : [30, 90, 200], at);
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(rows)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Opens the settings page at its Profile section from the top bar's "Profile". */
async function openProfile(person) {
  await person.page.getByRole('button', { name: 'Profile', exact: true }).click();
  await profileOf(person).waitFor();
}

/** The Profile section of the settings page. */
const profileOf = (person) => person.page.getByRole('region', { name: 'Profile' });

/** Back from the settings page to the chat. */
async function backToChat(person) {
  await person.page.getByRole('button', { name: 'Back to chat' }).click();
  await profileOf(person).waitFor({ state: 'hidden' });
}

onBothBackends(
  'profiles in the web client (Chromium)',
  { timeout: SUITE_TIMEOUT_MS, env: (base) => ({ ALLOWED_ORIGINS: base }) },
  (server) => {
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

    test('Alice changes her display name and picture; Bob sees both live, her username beside the name', EACH, async () => {
      await createRoom(bob, 'garden');
      await joinRoom(alice, 'garden');
      await say(alice, 'hello from alice');
      await messageWith(bob, 'hello from alice').waitFor();
      await openMembers(bob, 'alice');

      await openProfile(alice);
      const section = profileOf(alice);
      // "Profile" opens the settings page at that section, which takes the focus.
      await eventually('the section heading has the focus', () => alice.page.evaluate(() => document.activeElement?.id), 'settings-profile-title');
      await section.getByLabel('Display name').fill('Alice Liddell');
      await section.getByLabel('Status').fill('down the rabbit hole');
      await section.getByLabel('Picture').setInputFiles({
        name: 'me.png',
        mimeType: 'image/png',
        buffer: png(300, 200),
      });
      // The chosen picture is shown before it is sent.
      await section.locator('#profile-preview img').waitFor();
      if (SHOTS) {
        await alice.page.locator('#settings-view').evaluate((view) => view.scrollTo(0, 0));
        await alice.page.screenshot({ path: path.join(SHOTS, 'settings-desktop.png') });
      }
      await section.getByRole('button', { name: 'Save' }).click();
      await section.getByText('Saved.').waitFor();

      // The server holds a square picture of at most 256 px.
      const token = await tokenOf(server(), 'bob');
      const { json: seen } = await rest(server(), 'GET', '/users/alice', { token });
      assert.equal(seen.display_name, 'Alice Liddell');
      assert.equal(seen.status, 'down the rabbit hole');
      assert.ok(seen.avatar_url, 'an avatar URL');
      const picture = await fetch(new URL(seen.avatar_url, server().base));
      assert.equal(picture.status, 200);
      await backToChat(alice);

      // Bob's timeline: the name with the username beside it, and the picture.
      const sender = messageWith(bob, 'hello from alice').locator('.sender');
      await eventually('Bob sees the display name', () => sender.textContent(), 'Alice Liddell @alice');
      await messageWith(bob, 'hello from alice').locator('.avatar img').waitFor();
      // The members list too.
      const member = memberItem(bob, 'alice');
      await eventually('in the members list', () => member.locator('.member-name').textContent(), 'Alice Liddell @alice');
      // And a conversation with her is named by it.
      await rest(server(), 'POST', '/dms', { token, body: { username: 'alice' } });
      await refreshRooms(bob);
      await bob.page.locator('#dm-list').getByRole('button', { name: /Alice Liddell @alice/ }).waitFor();
      if (SHOTS) {
        await bob.page.screenshot({ path: path.join(SHOTS, 'profile-seen.png') });
        await bob.page.setViewportSize({ width: 390, height: 844 });
        await bob.page.screenshot({ path: path.join(SHOTS, 'profile-seen-phone.png') });
        await bob.page.setViewportSize({ width: 1100, height: 800 });
        await alice.page.setViewportSize({ width: 390, height: 844 });
        await openProfile(alice);
        await alice.page.screenshot({ path: path.join(SHOTS, 'profile-settings-phone.png') });
        await backToChat(alice);
        await alice.page.setViewportSize({ width: 1100, height: 800 });
      }

      // Clearing the name shows the username alone again, live.
      await openProfile(alice);
      await section.getByLabel('Display name').fill('');
      await section.getByRole('button', { name: 'Save' }).click();
      await section.getByText('Saved.').waitFor();
      await backToChat(alice);
      await eventually('the name is cleared for Bob', () => sender.textContent(), 'alice');
      await conversationButton(bob, 'alice').waitFor();
    });

    test('Alice exports her data, then deletes her account; Bob sees her messages erased', EACH, async () => {
      await say(alice, 'a last word');
      await messageWith(bob, 'a last word').waitFor();

      await openProfile(alice);
      const section = profileOf(alice);
      const download = alice.page.waitForEvent('download');
      await section.getByRole('button', { name: 'Export my data' }).click();
      const file = await download;
      const exported = JSON.parse(await (await file.createReadStream()).toArray().then((b) => Buffer.concat(b).toString()));
      assert.equal(exported.user.username, 'alice');
      assert.ok(exported.messages.some((m) => m.body === 'a last word'), 'her messages are in it');

      // A wrong password deletes nothing.
      await section.getByLabel('Your password').fill('not the password');
      await section.getByRole('button', { name: 'Delete my account' }).click();
      await alice.page.getByRole('dialog', { name: 'Delete your account?' }).getByRole('button', { name: 'Delete my account' }).click();
      await section.getByText('That password is not right.').waitFor();

      await section.getByLabel('Your password').fill(passwordOf('alice'));
      await section.getByRole('button', { name: 'Delete my account' }).click();
      await alice.page.getByRole('dialog', { name: 'Delete your account?' }).getByRole('button', { name: 'Delete my account' }).click();
      await alice.page.getByText('Your account is deleted.').waitFor();
      await alice.page.getByLabel('Username').waitFor();

      // Bob sees her messages go, live.
      await eventually('her message is erased for Bob', () => messageWith(bob, 'a last word').count(), 0);
      const { status } = await rest(server(), 'POST', '/auth/login', {
        body: { username: 'alice', password: passwordOf('alice') },
      });
      assert.equal(status, 401, 'she can no longer log in');
    });
  },
);
