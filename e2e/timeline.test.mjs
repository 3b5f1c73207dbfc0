// The web client's per-room bookkeeping (web/timeline.js), without a
// browser: every message is shown once, in seq order, and `newest` (the
// `since-seq` of a resubscription) never skips a missing message.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Timeline, isHidden, isMessage } from '../web/timeline.js';

const msg = (seq) => ({ seq, room: 'r', sender: 's', body: `m${seq}`, client_id: null });
const page = (seqs, hasMore = false) => ({ messages: seqs.map(msg), has_more: hasMore });
const seqs = (messages) => messages.map((m) => m.seq);

describe('Timeline', () => {
  test('the latest page sets where a subscription resumes', () => {
    const t = new Timeline();
    assert.deepEqual(seqs(t.addLatest(page([8, 9, 10], true))), [8, 9, 10]);
    assert.equal(t.newest, 10, 'since-seq is the last seq held');
    assert.equal(t.oldest, 8);
    assert.equal(t.hasOlder, true);
  });

  test('an empty room resumes from 0', () => {
    const t = new Timeline();
    t.addLatest(page([]));
    assert.equal(t.newest, 0);
    assert.deepEqual(seqs(t.add(msg(1)).fresh), [1]);
  });

  test('a replayed message is dropped: each seq is shown once', () => {
    const t = new Timeline();
    t.addLatest(page([1, 2, 3]));
    assert.deepEqual(t.add(msg(3)), { fresh: [], gap: false });
    assert.deepEqual(seqs(t.add(msg(4)).fresh), [4]);
    assert.deepEqual(t.add(msg(4)), { fresh: [], gap: false });
    assert.deepEqual(seqs(t.messages()), [1, 2, 3, 4]);
  });

  test('a jump waits for the gap to be filled, then releases in order', () => {
    const t = new Timeline();
    t.addLatest(page([1, 2]));
    assert.deepEqual(t.add(msg(5)), { fresh: [], gap: true }, 'seq 5 after 2: fetch ?after=2');
    assert.equal(t.newest, 2, 'since-seq does not skip 3 and 4');
    assert.deepEqual(seqs(t.add(msg(4)).fresh), [], 'still waiting for 3');
    const filled = t.add(msg(3));
    assert.deepEqual(seqs(filled.fresh), [3, 4, 5]);
    assert.equal(filled.gap, false);
    assert.equal(t.newest, 5);
    assert.deepEqual(t.add(msg(5)).fresh, [], 'the gap-fill page repeating 5 changes nothing');
  });

  test('older pages prepend only what is older', () => {
    const t = new Timeline();
    t.addLatest(page([51, 52, 53], true));
    assert.deepEqual(seqs(t.addOlder(page([49, 50, 51], true))), [49, 50]);
    assert.equal(t.oldest, 49);
    assert.deepEqual(seqs(t.addOlder(page([48]))), [48]);
    assert.equal(t.hasOlder, false);
    assert.equal(t.newest, 53, 'paging back leaves the resume point alone');
    assert.deepEqual(seqs(t.messages()), [48, 49, 50, 51, 52, 53]);
  });
});

describe('Timeline applies the room log', () => {
  const message = (seq, extra = {}) => ({
    seq,
    type: 'message',
    sender: 'alice',
    body: `m${seq}`,
    reply_to: null,
    mentions: [],
    edited_at: null,
    deleted: false,
    reactions: [],
    ...extra,
  });
  const edit = (seq, target, body) => ({
    seq,
    type: 'edit',
    sender: 'alice',
    target,
    body,
    mentions: [],
    created_at: `t${seq}`,
  });
  const del = (seq, target) => ({ seq, type: 'delete', sender: 'alice', target, created_at: `t${seq}` });
  const react = (seq, target, sender, key, added) => ({
    seq,
    type: 'reaction',
    sender,
    target,
    key,
    added,
    created_at: `t${seq}`,
  });
  const reactions = (t, seq) => t.message(seq).reactions.map((r) => [r.key, r.users.join(',')]);

  test('live edits, reactions and a delete change their target in place', () => {
    const t = new Timeline();
    t.addLatest({ messages: [message(1), message(2)], has_more: false });
    t.add(edit(3, 1, 'fixed'));
    assert.equal(t.message(1).body, 'fixed');
    assert.equal(t.message(1).edited_at, 't3');
    t.add(react(4, 2, 'bob', '👍', true));
    t.add(react(5, 2, 'carol', '👍', true));
    t.add(react(6, 2, 'bob', '🎉', true));
    assert.deepEqual(reactions(t, 2), [['👍', 'bob,carol'], ['🎉', 'bob']]);
    t.add(react(7, 2, 'bob', '👍', false));
    t.add(react(8, 2, 'bob', '🎉', false));
    assert.deepEqual(reactions(t, 2), [['👍', 'carol']], 'a removed reaction leaves; an empty key goes');
    t.add(del(9, 2));
    assert.equal(t.message(2).deleted, true);
    assert.equal(t.message(2).body, '');
    assert.deepEqual(t.message(2).reactions, [], 'a deleted message has no reactions');
    t.add(edit(9, 2, 'too late'));
    assert.equal(t.message(2).body, '', 'a repeated seq changes nothing');
    assert.equal(t.newest, 9);
  });

  test('history in current state plus its events ends in the same state (idempotent)', () => {
    const t = new Timeline();
    const current = message(1, {
      body: 'third',
      edited_at: 't4',
      reactions: [{ key: '👍', count: 1, users: ['bob'] }],
    });
    t.addLatest({
      messages: [
        current,
        edit(2, 1, 'second'),
        react(3, 1, 'bob', '👍', true),
        edit(4, 1, 'third'),
        react(5, 1, 'carol', '👍', true),
        react(6, 1, 'carol', '👍', false),
        message(7, { deleted: true, body: '' }),
        edit(8, 7, ''),
        del(9, 7),
      ],
      has_more: false,
    });
    assert.equal(t.message(1).body, 'third');
    assert.equal(t.message(1).edited_at, 't4');
    assert.deepEqual(reactions(t, 1), [['👍', 'bob']]);
    assert.equal(t.message(7).deleted, true);
    assert.equal(t.message(7).body, '');
    t.add(react(10, 1, 'bob', '👍', true));
    assert.deepEqual(reactions(t, 1), [['👍', 'bob']], 'the same user and key counts once');
  });

  test('an older page gets the changes held for its messages, in seq order', () => {
    const t = new Timeline();
    // The latest page holds an edit of seq 1, which is not loaded yet.
    t.addLatest({ messages: [message(3), edit(4, 1, 'latest')], has_more: true });
    assert.equal(t.message(1), undefined);
    // The older page was read before seq 4 was committed (an older body).
    t.addOlder({ messages: [message(1, { body: 'first' }), edit(2, 1, 'middle')], has_more: false });
    assert.equal(t.message(1).body, 'latest', 'edit 2 then edit 4, not the other way round');
  });

  test('replies are indexed by the message they quote', () => {
    const t = new Timeline();
    t.addLatest({ messages: [message(1), message(2, { reply_to: 1 })], has_more: false });
    t.add(message(3, { reply_to: 1 }));
    assert.deepEqual(t.repliesTo(1), [2, 3]);
    assert.deepEqual(t.repliesTo(2), []);
  });

  test('a hidden placeholder takes its seq: no gap, no message, nothing changed', () => {
    const hidden = (seq) => ({ type: 'hidden', room: 'r', seq });
    const t = new Timeline();
    t.addLatest({ messages: [message(1), hidden(2)], has_more: false });
    assert.equal(t.newest, 2, 'a hidden event in history counts for the resume point');
    assert.equal(t.isHidden(2), true);
    assert.equal(t.isHidden(1), false);
    assert.equal(t.message(2), undefined, 'a placeholder is not a message');
    const live = t.add(hidden(3));
    assert.deepEqual(seqs(live.fresh), [3], 'a live placeholder is released in order');
    assert.equal(live.gap, false, 'it is no jump');
    assert.deepEqual(seqs(t.add(message(5)).fresh), [], 'seq 5 after 3 waits: 4 is missing');
    assert.deepEqual(seqs(t.add(hidden(4)).fresh), [4, 5], 'a placeholder fills the gap');
    assert.equal(t.newest, 5);
    assert.deepEqual(t.add(hidden(4)), { fresh: [], gap: false }, 'a replayed placeholder is dropped');
    assert.equal(t.message(1).body, 'm1', 'the message before it is unchanged');
    assert.equal(isHidden(hidden(9)) && !isMessage(hidden(9)), true);
  });
  test('a reply taken in live counts once in its root’s summary, and its deletion takes it off', () => {
    const t = new Timeline();
    const root = { ...msg(1), thread_summary: { reply_count: 1, last_reply_seq: 2, participants: ['b'] } };
    const first = { ...msg(2), sender: 'b', reply_to: 1, thread: 1 };
    t.addLatest({ messages: [root, first], has_more: false });
    assert.equal(t.message(1).thread_summary.reply_count, 1, 'as the server read it');
    t.add({ ...msg(3), sender: 'c', reply_to: 2, thread: 1 });
    assert.deepEqual(t.message(1).thread_summary, { reply_count: 2, last_reply_seq: 3, participants: ['b', 'c'] });
    t.add({ ...msg(3), sender: 'c', reply_to: 2, thread: 1 });
    assert.equal(t.message(1).thread_summary.reply_count, 2, 'a replayed reply is not counted again');
    t.add({ seq: 4, room: 'r', type: 'delete', sender: 'c', target: 3 });
    assert.equal(t.message(1).thread_summary.reply_count, 1, 'a deleted reply counts no more');
    assert.equal(t.message(1).thread_summary.last_reply_seq, 3, 'the last activity stays');
    t.add({ seq: 5, room: 'r', type: 'delete', sender: 'c', target: 3 });
    assert.equal(t.message(1).thread_summary.reply_count, 1, 'deleted once only');
    assert.equal(t.threadOf(t.message(2)), 1);
    assert.equal(t.threadOf(t.message(1)), 1, 'a root is its own thread');
  });
});
