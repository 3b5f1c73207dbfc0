// The web client's view models under Node, without a browser or a server:
// they hold state and logic and never touch the DOM (web/README.md), so they
// run here as they are. The unread count is the server's numbers plus the
// events the server sent; permissions and limits come from GET /config.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { UnreadCount } from '../web/domain/unread.js';
import { RoomViewModel } from '../web/domain/room.js';

const message = (seq, sender, extra = {}) => ({
  type: 'message',
  seq,
  sender,
  body: `m${seq}`,
  mentions: [],
  ...extra,
});
const roomObject = (lastSeq, membership) => ({ name: 'general', kind: 'room', last_seq: lastSeq, membership });

describe('unread counts', () => {
  test('the server’s numbers plus the messages of others it sent since', () => {
    const count = new UnreadCount(() => 'bob');
    count.fromRoom(roomObject(10, { role: 'member', last_read_seq: 7, unread: 2, mentions: 1 }));
    assert.deepEqual(count.counts, { unread: 2, mentions: 1 });
    assert.equal(count.add(message(9, 'alice')), false, 'already in the server’s count');
    assert.equal(count.add(message(11, 'bob')), false, 'my own message');
    assert.equal(count.add({ type: 'hidden', seq: 12 }), false, 'a blocked person’s placeholder');
    assert.equal(count.add(message(13, 'alice', { mentions: ['Bob'] })), true);
    assert.deepEqual(count.counts, { unread: 3, mentions: 2 });
  });

  test('reading past everything counted clears it without asking; reading into it asks the server', () => {
    const count = new UnreadCount(() => 'bob');
    count.fromRoom(roomObject(10, { role: 'member', last_read_seq: 7, unread: 3, mentions: 0 }));
    count.add(message(11, 'alice'));
    assert.equal(count.read(8), 'ask', 'the server counted 8..10: it says what is left');
    assert.equal(count.read(8), 'same', 'the marker never moves back or stays');
    assert.equal(count.read(11), 'local');
    assert.deepEqual(count.counts, { unread: 0, mentions: 0 });
    assert.equal(count.add(message(11, 'alice')), false, 'a replay of what is read');
  });

  test('a deletion the server sent uncounts a live message, and asks about one it counted', () => {
    const count = new UnreadCount(() => 'bob');
    count.fromRoom(roomObject(10, { role: 'member', last_read_seq: 5, unread: 5, mentions: 0 }));
    count.add(message(11, 'alice'));
    assert.equal(count.deleted(11), 'local');
    assert.deepEqual(count.counts, { unread: 5, mentions: 0 });
    assert.equal(count.deleted(9), 'ask');
    assert.equal(count.deleted(4), 'same', 'read already');
  });

  test('a room object older than my marker is not taken', () => {
    const count = new UnreadCount(() => 'bob');
    count.fromRoom(roomObject(10, { role: 'member', last_read_seq: 7, unread: 3, mentions: 0 }));
    count.read(10);
    assert.equal(count.fromRoom(roomObject(10, { role: 'member', last_read_seq: 7, unread: 3, mentions: 0 })), false);
    assert.deepEqual(count.counts, { unread: 0, mentions: 0 });
    assert.equal(count.fromRoom(roomObject(12, { role: 'member', last_read_seq: 10, unread: 2, mentions: 0 })), true);
    assert.deepEqual(count.counts, { unread: 2, mentions: 0 });
  });
});

describe('a room’s view model', () => {
  const config = {
    max_body_bytes: 8,
    max_history_limit: 200,
    typing_rate: 1,
    permissions: {
      owner: { add_members: true, ban: ['moderator', 'member'], delete_any_message: true, delete_room: true, leave: false, manage_integrations: true, remove: ['moderator', 'member'], set_role: ['moderator', 'member'], unban: true },
      moderator: { add_members: true, ban: ['member'], delete_any_message: true, delete_room: false, leave: true, manage_integrations: true, remove: ['member'], set_role: [], unban: true },
      member: { add_members: false, ban: [], delete_any_message: false, delete_room: false, leave: true, manage_integrations: false, remove: [], set_role: [], unban: false },
    },
  };
  const fakeApp = (calls) => ({
    config,
    me: () => 'bob',
    live: () => ({
      send: (room, body) => {
        calls.push(['stomp', room, body]);
        return Promise.resolve({ seq: 1 });
      },
      typing: () => true,
    }),
    session: {
      request: async (method, route, body) => {
        calls.push([method, route, body]);
        return message(1, 'bob', { body: body?.body });
      },
    },
  });

  test('what I may do follows the server’s table for the role the server reports', () => {
    const vm = new RoomViewModel(fakeApp([]), roomObject(0, null));
    vm.setMembers([
      { username: 'alice', role: 'owner' },
      { username: 'bob', role: 'moderator' },
    ]);
    assert.equal(vm.myRole, 'moderator');
    assert.deepEqual(vm.mayActOn('member'), { setRole: false, remove: true, ban: true });
    assert.deepEqual(vm.mayActOn('owner'), { setRole: false, remove: false, ban: false });
    assert.equal(vm.mayDelete(message(3, 'carol')), true, 'moderators delete any message');
    vm.setMembers([{ username: 'bob', role: 'member' }]);
    assert.equal(vm.mayDelete(message(3, 'carol')), false);
    assert.equal(vm.mayDelete(message(4, 'bob')), true, 'one’s own');
  });

  test('a body the STOMP session could not carry goes to the server by HTTP; whitespace goes by STOMP', async () => {
    const calls = [];
    const vm = new RoomViewModel(fakeApp(calls), roomObject(0, null));
    assert.deepEqual(await vm.send('123456789', 'c-1', null), { byHttp: true });
    await vm.send('   ', 'c-2', null);
    assert.deepEqual(calls, [
      ['POST', '/rooms/general/messages', { body: '123456789' }],
      ['stomp', 'general', '   '],
    ]);
  });
});
