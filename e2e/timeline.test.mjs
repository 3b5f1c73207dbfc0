// The web client's per-room bookkeeping (web/timeline.js), without a
// browser: every message is shown once, in seq order, and `newest` (the
// `since-seq` of a resubscription) never skips a missing message.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { Timeline } from '../web/timeline.js';

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
