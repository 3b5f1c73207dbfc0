// End-to-end: direct conversations and blocking in the web client, driven in
// Chromium through playwright-core, with Alice, Bob and Carol each in their
// own browser context, on SQLite and on Postgres (onBothBackends). A person
// opens a conversation from a member's menu; blocking is done from the same
// menu and undone from the sidebar's list of blocked people.
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`, or scripts/test exports
// the path); Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser } from './support/browser.mjs';
import {
  chooseFromMenu,
  closePeople,
  composer,
  conversationButton,
  createRoom,
  eventually,
  itemAt,
  joinRoom,
  memberItem,
  menuItems,
  messageWith,
  openMembers,
  openPerson,
  refreshRooms,
  rest,
  roomButton,
  say,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const TEST_TIMEOUT_MS = 120_000;
const SUITE_TIMEOUT_MS = 600_000;
const EACH = { timeout: TEST_TIMEOUT_MS };

/** The shown list items of the open room: [seq, 'hidden' | body] in order. */
const shown = (person) =>
  person.page.locator('.message-list li[data-seq]').evaluateAll((items) =>
    items.map((li) => [
      Number(li.dataset.seq),
      li.classList.contains('hidden-event') ? 'hidden' : li.querySelector('.body').textContent,
    ]),
  );

/** Opens the sidebar's "Blocked people" (a disclosure) unless it is open. */
async function showBlocked(person) {
  const open = await person.page.locator('#blocked').evaluate((details) => details.open);
  if (!open) await person.page.getByText('Blocked people').click();
}

/** The seq of the shown message whose body is `text`. */
async function seqOf(person, text) {
  const item = messageWith(person, text);
  await item.waitFor();
  return Number(await item.getAttribute('data-seq'));
}

onBothBackends(
  'direct conversations and blocking in the web client (Chromium)',
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

    test('“Message” on a member opens one conversation that both people see and talk in', EACH, async () => {
      const room = newName('meet');
      await createRoom(alice, room);
      await joinRoom(bob, room);

      await openMembers(alice, 'bob');
      await chooseFromMenu(alice, 'bob', 'Message');
      await alice.page.getByRole('heading', { name: '@bob', exact: true }).waitFor();
      await conversationButton(alice, 'bob').waitFor();
      assert.equal(await alice.page.getByText('direct conversation', { exact: true }).isVisible(), true);
      await say(alice, 'psst, bob');

      // In the conversation, the panel offers neither leave nor delete nor moderation.
      await openMembers(alice, 'bob');
      assert.deepEqual(await menuItems(alice, 'bob'), ['Block'], 'only blocking, in a conversation');
      for (const label of ['Leave room', 'Delete room']) {
        assert.equal(await alice.page.getByRole('button', { name: label }).isVisible(), false, label);
      }
      assert.equal(await alice.page.getByLabel('Add someone to this room').isVisible(), false);

      // Bob finds it under "Direct messages", by Alice's name.
      await refreshRooms(bob);
      await conversationButton(bob, 'alice').click();
      await bob.page.getByRole('heading', { name: '@alice', exact: true }).waitFor();
      await messageWith(bob, 'psst, bob').waitFor();
      await say(bob, 'hi alice');
      await messageWith(alice, 'hi alice').waitFor();

      // "Message" on Alice from Bob's side is the same conversation.
      await roomButton(bob, room).click();
      await openMembers(bob, 'alice');
      await chooseFromMenu(bob, 'alice', 'Message');
      await bob.page.getByRole('heading', { name: '@alice', exact: true }).waitFor();
      await messageWith(bob, 'psst, bob').waitFor();
      assert.equal(await bob.page.locator('#dm-list li').count(), 1, 'one conversation in Bob’s list');
      assert.equal(await alice.page.locator('#dm-list li').count(), 1, 'one in Alice’s');
      assert.equal(
        await bob.page.locator('#room-list').getByText(/dm-/).count(),
        0,
        'a conversation is not listed among the rooms',
      );

      const { json } = await rest(server(), 'GET', '/rooms', { token: await tokenOf(server(), 'alice') });
      const direct = json.rooms.filter((r) => r.kind === 'direct');
      assert.deepEqual(
        direct.map((r) => r.peer),
        ['bob'],
        'the server holds one conversation of the pair',
      );
    });

    test('the blocker sees the blocked one’s messages as placeholders, others see them, the conversation refuses them; unblocking restores', EACH, async () => {
      const room = newName('crowd');
      await createRoom(alice, room);
      await joinRoom(bob, room);
      await joinRoom(carol, room);
      await say(alice, 'before the block');
      await messageWith(bob, 'before the block').waitFor();

      await openMembers(bob, 'alice');
      await chooseFromMenu(bob, 'alice', 'Block');
      await memberItem(bob, 'alice').locator('.badge', { hasText: 'blocked' }).waitFor();
      assert.deepEqual(await menuItems(bob, 'alice'), ['Message', 'Unblock'], 'the menu now offers Unblock');
      await showBlocked(bob);
      const blockedList = bob.page.getByRole('list', { name: 'Blocked people' });
      await blockedList.getByText('alice').waitFor();

      // What Alice wrote before is hidden too, in its place.
      const before = await seqOf(carol, 'before the block');
      await itemAt(bob, before).and(bob.page.locator('.hidden-event')).waitFor();
      assert.equal(await itemAt(bob, before).textContent(), 'blocked message');

      await say(alice, 'alice after the block');
      await say(carol, 'carol still heard');
      const hidden = await seqOf(carol, 'alice after the block');
      const carols = await seqOf(bob, 'carol still heard');
      assert.equal(carols, hidden + 1);
      await eventually(
        'Bob sees a placeholder in the place of Alice’s message, and Carol’s message after it',
        async () => (await shown(bob)).filter(([seq]) => seq >= before),
        [
          [before, 'hidden'],
          [hidden, 'hidden'],
          [carols, 'carol still heard'],
        ],
      );
      const bobsText = await bob.page.locator('.message-list').textContent();
      assert.ok(!bobsText.includes('after the block'), 'none of Alice’s text is on Bob’s page');
      assert.deepEqual(
        (await shown(carol)).filter(([seq]) => seq >= before),
        [
          [before, 'before the block'],
          [hidden, 'alice after the block'],
          [carols, 'carol still heard'],
        ],
        'Carol sees everything',
      );
      const seqs = (await shown(bob)).map(([seq]) => seq);
      assert.deepEqual(
        seqs,
        Array.from({ length: seqs.length }, (_, i) => seqs[0] + i),
        'Bob’s seqs have no gap',
      );

      // Alice cannot open a conversation with Bob.
      await openMembers(alice, 'bob');
      await chooseFromMenu(alice, 'bob', 'Message');
      await alice.page
        .locator('#members-error')
        .filter({ hasText: 'You cannot message bob: they have blocked you.' })
        .waitFor();
      await alice.page.getByRole('heading', { name: `# ${room}` }).waitFor();

      // Bob unblocks from the sidebar: Alice's messages are back, new ones too.
      await bob.page.getByRole('button', { name: 'Unblock alice' }).click();
      await bob.page.getByText('You block nobody.').waitFor();
      await messageWith(bob, 'before the block').waitFor();
      await messageWith(bob, 'alice after the block').waitFor();
      await say(alice, 'after the unblock');
      await messageWith(bob, 'after the unblock').waitFor();
      assert.equal(await bob.page.locator('.message-list .hidden-event').count(), 0, 'no placeholder left');
    });

    test('while blocked, a message to the conversation is refused with a clear reason', EACH, async () => {
      // Carol and Bob talk first; then Bob blocks Carol.
      const room = newName('pair');
      await createRoom(carol, room);
      await joinRoom(bob, room);
      await openMembers(carol, 'bob');
      await chooseFromMenu(carol, 'bob', 'Message');
      await carol.page.getByRole('heading', { name: '@bob', exact: true }).waitFor();
      await say(carol, 'are you there?');

      await roomButton(bob, room).click();
      await openMembers(bob, 'carol');
      await chooseFromMenu(bob, 'carol', 'Block');
      await memberItem(bob, 'carol').locator('.badge', { hasText: 'blocked' }).waitFor();

      await composer(carol).fill('let me in');
      await composer(carol).press('Enter');
      await carol.page.locator('.message-list li.pending.failed').waitFor();
      await carol.page
        .getByRole('alert')
        .filter({ hasText: 'Not sent: bob has blocked you.' })
        .waitFor();
      await carol.page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
      const { json } = await rest(server(), 'GET', '/rooms', { token: await tokenOf(server(), 'carol') });
      const conversation = json.rooms.find((r) => r.kind === 'direct' && r.peer === 'bob');
      const log = await rest(server(), 'GET', `/rooms/${conversation.name}/messages`, {
        token: await tokenOf(server(), 'carol'),
      });
      assert.deepEqual(
        log.json.messages.map((m) => m.body),
        ['are you there?'],
        'nothing of the refused message is stored',
      );

      await showBlocked(bob);
      await bob.page.getByRole('button', { name: 'Unblock carol' }).click();
      await bob.page.getByText('You block nobody.').waitFor();
      await say(carol, 'now?');
      await refreshRooms(bob);
      await conversationButton(bob, 'carol').click();
      await messageWith(bob, 'now?').waitFor();
      await messageWith(bob, 'are you there?').waitFor();
    });
  },
);
