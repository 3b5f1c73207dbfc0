// The files waiting for a room's next message (web/domain/uploads.js) and
// how a room's view model runs them, under Node without a browser or a
// server: the queue's states (uploading with progress, ready, refused),
// cancel and remove, what a message takes, the server's limits from
// GET /config, and a message carrying attachments by STOMP and by HTTP. A
// deletion takes a message's files away (web/timeline.js).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { RoomViewModel } from '../web/domain/room.js';
import { FAILED, READY, UPLOADING, UploadQueue, formatSize, fraction } from '../web/domain/uploads.js';
import { Timeline } from '../web/timeline.js';

const stored = (id, name, size) => ({ id, name, size, content_type: 'image/png', image: { width: 4, height: 3 } });

describe('the upload queue', () => {
  test('a file goes from uploading, with progress that never goes back, to ready', () => {
    const queue = new UploadQueue();
    const changes = [];
    queue.addEventListener('change', (event) => changes.push(event.detail.key));
    const item = queue.add({ name: 'cat.png', size: 1000, type: 'image/png' });
    assert.equal(item.state, UPLOADING);
    assert.equal(queue.busy, true);
    queue.progress(item.key, 400);
    queue.progress(item.key, 300);
    assert.equal(queue.item(item.key).loaded, 400, 'progress never goes backwards');
    queue.progress(item.key, 5000);
    assert.equal(fraction(queue.item(item.key)), 1, 'never more than the file');
    assert.equal(queue.done(item.key, stored(7, 'cat.png', 1000)), true);
    assert.equal(queue.item(item.key).state, READY);
    assert.equal(queue.busy, false);
    assert.deepEqual(queue.ready.map((f) => f.id), [7]);
    assert.deepEqual(changes, [item.key, item.key, item.key, item.key], 'one change per step');
  });

  test('a message takes the ready files; refused ones stay with their reason; nothing while one uploads', () => {
    const queue = new UploadQueue();
    const a = queue.add({ name: 'a.txt', size: 3 });
    const b = queue.add({ name: 'b.txt', size: 3 });
    const c = queue.add({ name: 'c.txt', size: 3 });
    queue.done(a.key, stored(1, 'a.txt', 3));
    queue.failed(b.key, { status: 413, code: 'quota_exceeded' });
    assert.equal(queue.take(), null, 'c still uploads: the message waits');
    queue.done(c.key, stored(3, 'c.txt', 3));
    assert.deepEqual(queue.take().map((f) => f.id), [1, 3]);
    assert.deepEqual(queue.items.map((i) => [i.name, i.state, i.error.code]), [['b.txt', FAILED, 'quota_exceeded']]);
    assert.deepEqual(queue.take(), [], 'nothing ready: nothing to carry');
  });

  test('a cancelled upload is dropped, and its late answer changes nothing', () => {
    const queue = new UploadQueue();
    const item = queue.add({ name: 'big.bin', size: 10 });
    assert.equal(queue.remove(item.key).state, UPLOADING, 'the caller aborts what was running');
    assert.equal(queue.done(item.key, stored(9, 'big.bin', 10)), false);
    assert.equal(queue.failed(item.key, new Error('aborted')), false);
    assert.equal(queue.size, 0);
    assert.equal(queue.remove(item.key), null);
  });

  test('the server’s limits, when GET /config gives them, refuse before any byte is sent', () => {
    const queue = new UploadQueue({ maxBytes: 100, maxCount: 2 });
    assert.equal(queue.add({ name: 'huge', size: 101 }).state, FAILED);
    assert.equal(queue.items[0].error.code, 'file_too_large');
    assert.equal(queue.add({ name: 'one', size: 100 }).state, UPLOADING);
    assert.equal(queue.add({ name: 'two', size: 1 }).state, UPLOADING);
    const third = queue.add({ name: 'three', size: 1 });
    assert.equal(third.state, FAILED, 'a third file for a message of at most 2');
    assert.equal(third.error.code, 'too_many_attachments');
    const unknown = new UploadQueue({ maxBytes: undefined });
    assert.equal(unknown.add({ name: 'any', size: 1e12 }).state, UPLOADING, 'no limit known: the server decides');
  });

  test('files of a message that was not sent come back, ready, first', () => {
    const queue = new UploadQueue();
    const later = queue.add({ name: 'later', size: 1 });
    queue.putBack([stored(4, 'x.png', 10)]);
    assert.deepEqual(queue.items.map((i) => [i.name, i.state]), [['x.png', READY], ['later', UPLOADING]]);
    assert.notEqual(queue.items[0].key, later.key, 'keys stay unique');
  });

  test('sizes read as people read them', () => {
    assert.equal(formatSize(0), '0 bytes');
    assert.equal(formatSize(1), '1 byte');
    assert.equal(formatSize(1536), '1.5 KB');
    assert.equal(formatSize(25 * 1024 * 1024), '25 MB');
  });
});

describe('a room’s uploads and attachments', () => {
  /** A room view model whose session and live connection record the calls. */
  function room(config = {}) {
    const calls = [];
    const uploads = [];
    const app = {
      config: { max_body_bytes: 8, max_history_limit: 200, typing_rate: 1, ...config },
      me: () => 'bob',
      live: () => ({
        send: (name, body, clientId, options) => {
          calls.push(['stomp', name, body, options.attachments]);
          return Promise.resolve({ seq: 1 });
        },
        typing: () => true,
      }),
      session: {
        request: async (method, route, body) => {
          calls.push([method, route, body]);
          return { type: 'message', seq: 1, sender: 'bob', body: body.body, attachments: [] };
        },
        upload: (route, file, onProgress) => {
          const running = { route, file, onProgress, aborted: false };
          running.promise = new Promise((resolve, reject) => {
            running.resolve = resolve;
            running.reject = reject;
          });
          uploads.push(running);
          return {
            promise: running.promise,
            abort: () => {
              running.aborted = true;
              running.reject(Object.assign(new Error('cancelled'), { code: 'aborted' }));
            },
          };
        },
      },
    };
    const vm = new RoomViewModel(app, { name: 'general', kind: 'room', last_seq: 0, membership: null });
    return { vm, calls, uploads };
  }
  const file = (name, size) => ({ name, size, type: 'text/plain' });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  test('an upload goes to the room’s files route with its name, and its progress and answer land in the queue', async () => {
    const { vm, uploads } = room();
    const item = vm.upload(file('notes 1.txt', 10));
    assert.equal(uploads[0].route, '/rooms/general/files?filename=notes%201.txt');
    uploads[0].onProgress(4);
    assert.equal(vm.uploads.item(item.key).loaded, 4);
    uploads[0].resolve(stored(5, 'notes 1.txt', 10));
    await settle();
    assert.deepEqual(vm.uploads.ready.map((f) => f.id), [5]);
  });

  test('cancelling aborts the request and drops the file; a refusal stays with its reason', async () => {
    const { vm, uploads } = room();
    const a = vm.upload(file('a', 10));
    const b = vm.upload(file('b', 10));
    vm.removeUpload(a.key);
    assert.equal(uploads[0].aborted, true);
    uploads[1].reject(Object.assign(new Error('full'), { status: 413, code: 'quota_exceeded' }));
    await settle();
    assert.deepEqual(vm.uploads.items.map((i) => [i.name, i.state]), [['b', FAILED]]);
  });

  test('a file over the server’s limit is never sent', () => {
    const { vm, uploads } = room({ max_upload_bytes: 5 });
    assert.equal(vm.upload(file('big', 6)).state, FAILED);
    assert.equal(uploads.length, 0);
  });

  test('attachments go as the STOMP header’s ids, or in the HTTP body when the text goes by HTTP', async () => {
    const { vm, calls } = room();
    await vm.send('', 'c-1', null, [3, 4]);
    await vm.send('123456789', 'c-2', null, [5]);
    assert.deepEqual(calls, [
      ['stomp', 'general', '', [3, 4]],
      ['POST', '/rooms/general/messages', { body: '123456789', attachments: [5] }],
    ]);
  });

  test('expired file links are read again with the message, at most once a minute', async () => {
    const { vm, calls } = room();
    vm.timeline.addLatest({ messages: [{ type: 'message', seq: 1, sender: 'a', body: '', attachments: [stored(1, 'old.png', 3)] }], has_more: false });
    const fresh = { type: 'message', seq: 1, sender: 'a', body: '', attachments: [{ ...stored(1, 'old.png', 3), url: '/fresh' }] };
    vm.app.session.request = async (method, route) => {
      calls.push([method, route]);
      return fresh;
    };
    const redrawn = [];
    vm.addEventListener('redraw', (event) => redrawn.push(event.detail.seq));
    assert.deepEqual((await vm.refreshFiles(1)).map((f) => f.url), ['/fresh']);
    assert.equal(vm.timeline.message(1).attachments[0].url, '/fresh');
    assert.deepEqual(redrawn, [1]);
    assert.equal(await vm.refreshFiles(1), null, 'not again within a minute');
    assert.deepEqual(calls, [['GET', '/rooms/general/messages/1']]);
  });

  test('closing the room stops its uploads', () => {
    const { vm, uploads } = room();
    vm.upload(file('a', 10));
    vm.dispose();
    assert.equal(uploads[0].aborted, true);
    assert.equal(vm.uploads.size, 0);
  });
});

test('a message keeps its files until it is deleted', () => {
  const t = new Timeline();
  const files = [stored(1, 'cat.png', 10)];
  t.addLatest({ messages: [{ type: 'message', seq: 1, sender: 'a', body: '', attachments: files }], has_more: false });
  assert.deepEqual(t.message(1).attachments.map((f) => f.id), [1]);
  t.add({ type: 'delete', seq: 2, target: 1, sender: 'a' });
  assert.deepEqual(t.message(1).attachments, [], 'deleted: its files are gone with its text');
  const late = new Timeline();
  late.addLatest({ messages: [{ type: 'message', seq: 1, sender: 'a', body: '', deleted: true, attachments: files }], has_more: false });
  assert.deepEqual(late.message(1).attachments, [], 'a deleted message from history shows no files');
});
