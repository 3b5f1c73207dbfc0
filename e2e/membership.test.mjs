// End-to-end: membership and moderation in the web client, driven in
// Chromium through playwright-core. Alice owns the rooms; Bob and Carol are
// members, each in their own browser context. Everything is done through
// the page (the members panel, its menus, the dialogs), and each loss of
// access must show on the page of the one who lost it live, without a
// reload. On SQLite and on Postgres (onBothBackends).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser } from './support/browser.mjs';
import {
  LIVE_MS,
  chooseFromMenu,
  closePeople,
  composer,
  createRoom,
  eventually,
  joinRoom,
  memberItem,
  menuItems,
  messageWith,
  openMembers,
  openPerson,
  refreshRooms,
  reopenMembers,
  rest,
  roleShown,
  roomButton,
  roomNotice,
  say,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 900_000;
const EACH = { timeout: TEST_TIMEOUT_MS };

/** The text of the focused element. */
const focusedText = (person) => person.page.evaluate(() => document.activeElement?.textContent ?? '');

/** The usernames the server lists as members of `room`, with their roles. */
async function storedMembers(server, room) {
  const res = await rest(server, 'GET', `/rooms/${room}/members`, {
    token: await tokenOf(server, 'alice'),
  });
  assert.equal(res.status, 200, `members of ${room}`);
  return res.json.members.map((m) => [m.username, m.role]);
}

onBothBackends(
  'membership and moderation in the web client (Chromium)',
  { timeout: SUITE_TIMEOUT_MS, env: (base) => ({ ALLOWED_ORIGINS: base }) },
  (server) => {
    let browser;
    let alice;
    let bob;
    let carol;
    let n = 0;
    const newName = (what) => `${what}-${++n}`;

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

    test('the owner makes a member moderator, who removes a member; the removed one’s page closes the room live', EACH, async () => {
      const room = newName('mods');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await joinRoom(carol, room);
      await say(carol, 'hello from carol');

      await openMembers(alice, 'carol');
      assert.equal(await roleShown(alice, 'alice'), 'owner', 'the creator is shown as owner');
      assert.equal(await roleShown(alice, 'bob'), '', 'a member has no role badge');
      assert.deepEqual(
        await menuItems(alice, 'bob'),
        ['Message', 'Make moderator', 'Remove from room', 'Ban from room', 'Block'],
        'the owner may promote, remove and ban a member',
      );

      // By keyboard: ArrowDown on the menu button opens it on its first item.
      await alice.page.getByRole('button', { name: 'Actions for bob' }).focus();
      await alice.page.keyboard.press('ArrowDown');
      await eventually('the menu opens on its first item', () => focusedText(alice), 'Message');
      await alice.page.keyboard.press('ArrowDown');
      await eventually('ArrowDown moves to the next item', () => focusedText(alice), 'Make moderator');
      await alice.page.keyboard.press('Enter');
      await eventually('Alice sees Bob as moderator', () => roleShown(alice, 'bob'), 'moderator');
      assert.deepEqual(
        await menuItems(alice, 'bob'),
        ['Message', 'Make member', 'Remove from room', 'Ban from room', 'Block'],
        'a moderator can be made a member again',
      );
      assert.deepEqual(await storedMembers(server(), room), [
        ['alice', 'owner'],
        ['bob', 'moderator'],
        ['carol', 'member'],
      ]);

      // Bob's panel shows his new role, and what a moderator may do.
      await openMembers(bob, 'carol');
      assert.equal(await roleShown(bob, 'bob'), 'moderator', 'Bob sees himself as moderator');
      assert.deepEqual(await menuItems(bob, 'alice'), ['Message', 'Block'], 'nobody acts on the owner');
      assert.deepEqual(
        await menuItems(bob, 'carol'),
        ['Message', 'Remove from room', 'Ban from room', 'Block'],
        'a moderator removes and bans members, and promotes nobody',
      );
      await openMembers(carol, 'bob');
      assert.deepEqual(await menuItems(carol, 'bob'), ['Message', 'Block'], 'a member moderates nobody');
      assert.equal(await carol.page.getByRole('button', { name: 'Delete room' }).isVisible(), false);

      await chooseFromMenu(bob, 'carol', 'Remove from room');
      await memberItem(bob, 'carol').waitFor({ state: 'detached' });
      await roomNotice(carol)
        .filter({ hasText: `You were removed from #${room}` })
        .waitFor({ timeout: LIVE_MS });
      assert.equal(
        await carol.page.getByRole('heading', { name: `# ${room}` }).isVisible(),
        false,
        'the room is closed on Carol’s page',
      );
      assert.equal(await composer(carol).isVisible(), false, 'Carol has nowhere to send to');
      assert.deepEqual(await storedMembers(server(), room), [
        ['alice', 'owner'],
        ['bob', 'moderator'],
      ]);

      // A public room: it stays in her list, and she may join again.
      assert.match(await roomNotice(carol).textContent(), /join it again/);
      await roomButton(carol, room).click();
      await carol.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await messageWith(carol, 'hello from carol').waitFor();
      assert.deepEqual(
        (await storedMembers(server(), room)).find(([u]) => u === 'carol'),
        ['carol', 'member'],
        'joined again, as a member',
      );
    });

    test('a banned member loses a private room live and cannot find it; adding them back waits for the unban', EACH, async () => {
      const room = newName('secret');
      await createRoom(alice, room, { private: true });
      await openMembers(alice);
      const addName = alice.page.getByLabel('Add someone to this room');
      await addName.fill('carol');
      await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
      await memberItem(alice, 'carol').waitFor();
      await refreshRooms(carol);
      await roomButton(carol, room).click();
      await carol.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await say(alice, 'members only');
      await messageWith(carol, 'members only').waitFor();

      await chooseFromMenu(alice, 'carol', 'Ban from room');
      const bans = alice.page.getByRole('list', { name: 'Banned' });
      await bans.getByText('carol').waitFor();
      await memberItem(alice, 'carol').waitFor({ state: 'detached' });

      await roomNotice(carol)
        .filter({ hasText: `You were banned from #${room}.` })
        .waitFor({ timeout: LIVE_MS });
      await roomButton(carol, room).waitFor({ state: 'detached', timeout: LIVE_MS });
      assert.equal(await carol.page.locator('.message-list').count(), 0, 'no message of the room is left');

      // To Carol the room does not exist.
      await carol.page.getByRole('button', { name: 'Join a room', exact: true }).click();
      await carol.page.getByLabel('Join a room by name').fill(room);
      await carol.page.getByRole('button', { name: 'Join', exact: true }).click();
      await carol.page.getByRole('alert').filter({ hasText: 'Room not found' }).waitFor();
      await carol.page.keyboard.press('Escape'); // closes the "Join a room" dialog
      await refreshRooms(carol);
      assert.equal(await roomButton(carol, room).count(), 0, 'not in her room list either');

      // While banned, she cannot be added.
      await addName.fill('carol');
      await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
      await alice.page
        .locator('#members-error')
        .filter({ hasText: 'carol is banned from this room. Unban them first.' })
        .waitFor();
      assert.equal(await memberItem(alice, 'carol').count(), 0);

      await alice.page.getByRole('button', { name: 'Unban carol' }).click();
      await alice.page.getByText('Nobody is banned from this room.').waitFor();
      // Unbanning does not let her in: she must be added again.
      await refreshRooms(carol);
      assert.equal(await roomButton(carol, room).count(), 0, 'unbanned is not a member');
      await addName.fill('carol');
      await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
      await memberItem(alice, 'carol').waitFor();
      await refreshRooms(carol);
      await roomButton(carol, room).click();
      await messageWith(carol, 'members only').waitFor();
    });

    test('a member leaves from the panel and the private room is gone from their list; the owner cannot leave', EACH, async () => {
      const room = newName('leavers');
      await createRoom(alice, room, { private: true });
      await openMembers(alice);
      await alice.page.getByLabel('Add someone to this room').fill('bob');
      await alice.page.getByRole('button', { name: 'Add', exact: true }).click();
      await memberItem(alice, 'bob').waitFor();
      assert.equal(await alice.page.getByRole('button', { name: 'Leave room' }).isVisible(), false, 'the owner has no Leave');
      assert.equal(await alice.page.getByRole('button', { name: 'Delete room' }).isVisible(), true, 'the owner has Delete');

      await refreshRooms(bob);
      await roomButton(bob, room).click();
      await bob.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await openMembers(bob);
      assert.equal(await bob.page.getByRole('button', { name: 'Delete room' }).isVisible(), false);
      await bob.page.getByRole('button', { name: 'Leave room' }).click();
      await roomNotice(bob).filter({ hasText: `You left #${room}.` }).waitFor({ timeout: LIVE_MS });
      await roomButton(bob, room).waitFor({ state: 'detached' });
      assert.doesNotMatch(await roomNotice(bob).textContent(), /join it again/, 'a private room is not joinable');

      await reopenMembers(alice);
      assert.equal(await memberItem(alice, 'bob').count(), 0, 'Bob is gone from Alice’s panel');
      assert.deepEqual(await storedMembers(server(), room), [['alice', 'owner']]);
    });

    test('the owner deletes the room after confirming; the members’ pages show it is gone, and its name is free', EACH, async () => {
      const room = newName('doomed');
      const other = newName('lobby');
      await createRoom(alice, room);
      await say(alice, 'last words');
      await joinRoom(bob, room);
      await joinRoom(carol, room);
      await messageWith(carol, 'last words').waitFor();
      // Carol looks at another room meanwhile: the notice goes beside her list.
      await createRoom(carol, other);

      await openMembers(alice);
      const dialog = alice.page.getByRole('dialog', { name: `Delete #${room}?` });
      await alice.page.getByRole('button', { name: 'Delete room' }).click();
      await dialog.waitFor();
      await dialog.getByRole('button', { name: 'Cancel' }).click();
      await dialog.waitFor({ state: 'hidden' });
      const token = await tokenOf(server(), 'alice');
      assert.equal((await rest(server(), 'GET', `/rooms/${room}`, { token })).status, 200, 'Cancel deletes nothing');

      await alice.page.getByRole('button', { name: 'Delete room' }).click();
      await dialog.getByRole('button', { name: 'Delete room' }).click();
      await roomNotice(alice).filter({ hasText: `You deleted #${room}.` }).waitFor();
      await roomNotice(bob)
        .filter({ hasText: `#${room} was deleted by its owner.` })
        .waitFor({ timeout: LIVE_MS });
      await carol.page
        .locator('#rooms-notice')
        .filter({ hasText: `#${room} was deleted by its owner.` })
        .waitFor({ timeout: LIVE_MS });
      for (const person of [alice, bob, carol]) {
        await roomButton(person, room).waitFor({ state: 'detached' });
      }
      assert.equal(await composer(bob).isVisible(), false, 'Bob has nowhere to send to');
      await carol.page.getByRole('heading', { name: `# ${other}` }).waitFor();
      assert.equal((await rest(server(), 'GET', `/rooms/${room}`, { token })).status, 404);

      // The name is free again, and nothing of the old room is in the new one.
      await createRoom(bob, room);
      await bob.page.getByText(`This is the beginning of #${room}.`).waitFor();
      assert.equal(await bob.page.locator('.message-list li[data-seq]').count(), 0, 'an empty room');
      await openMembers(bob);
      assert.equal(await roleShown(bob, 'bob'), 'owner', 'Bob owns the new room');
    });

    test('an out-of-date menu gets a clear refusal and the panel catches up: the member left, or I was demoted', EACH, async () => {
      const room = newName('stale');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await joinRoom(carol, room);
      await openMembers(alice, 'bob');
      await chooseFromMenu(alice, 'bob', 'Make moderator');
      await eventually('Bob is moderator', () => roleShown(alice, 'bob'), 'moderator');
      await openMembers(bob, 'carol');
      assert.equal(await roleShown(bob, 'bob'), 'moderator');

      // Carol leaves while Bob's panel still lists her.
      await openMembers(carol);
      await carol.page.getByRole('button', { name: 'Leave room' }).click();
      await roomNotice(carol).filter({ hasText: `You left #${room}.` }).waitFor({ timeout: LIVE_MS });
      await chooseFromMenu(bob, 'carol', 'Remove from room');
      await bob.page
        .locator('#members-error')
        .filter({ hasText: 'carol is not a member of this room any more.' })
        .waitFor();
      await memberItem(bob, 'carol').waitFor({ state: 'detached' });

      // Carol is back; Alice makes Bob a member again while his panel is open.
      await roomButton(carol, room).click();
      await carol.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await reopenMembers(bob, 'carol');
      await chooseFromMenu(alice, 'bob', 'Make member');
      await eventually('Bob is a member', () => roleShown(alice, 'bob'), '');
      await chooseFromMenu(bob, 'carol', 'Remove from room');
      await bob.page
        .locator('#members-error')
        .filter({ hasText: 'You are not allowed to do that' })
        .waitFor();
      await eventually('Bob’s panel shows his new role', () => roleShown(bob, 'bob'), '');
      assert.deepEqual(await menuItems(bob, 'carol'), ['Message', 'Block'], 'the menu follows his role');
      assert.equal(await carol.page.getByRole('heading', { name: `# ${room}` }).isVisible(), true, 'Carol is still in');
      assert.deepEqual(
        (await storedMembers(server(), room)).map(([u]) => u),
        ['alice', 'bob', 'carol'],
      );
    });
  },
);
