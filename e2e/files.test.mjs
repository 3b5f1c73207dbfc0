// End-to-end: files and images in the web client, driven in Chromium through
// playwright-core. Alice and Bob sit in two browser contexts:
//
// - Alice attaches an image with the 📎 button; its chip shows the upload's
//   progress (the upload is slowed down so that a person could see it), and
//   the message goes out with a caption. Bob sees the thumbnail live, opens
//   it full size with the keyboard (Escape closes, the focus comes back),
//   and downloads it: the bytes are the ones Alice picked. Alice deletes the
//   message and the image disappears for both.
// - Files dropped on the messages and an image pasted into the composer are
//   attached too; a message of files alone (no text) shows a non-image file
//   as a card with its name, size and a download link, live and, after a
//   reload, from history.
// - Cancelling an upload aborts it and drops the file; removing a ready one
//   keeps it off the message.
//
// axe-core checks the room with images, a file card and pending uploads.
// With PARLEY_SCREENSHOTS=DIR set, it saves screenshots of them there
// (docs/screenshots/ holds the ones the README shows).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`) on SQLite and on Postgres
// (TEST_DATABASE_URL); files in the server's default folder storage.
// Chromium: /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

import { launchBrowser, passwordOf } from './support/browser.mjs';
import {
  WAIT_MS,
  closePeople,
  composer,
  createRoom,
  eventually,
  joinRoom,
  messageWith,
  rest,
  say,
  tokenOf,
} from './support/person.mjs';
import { onBothBackends } from './support/server.mjs';

const SUITE_TIMEOUT_MS = 900_000;
const EACH = { timeout: 180_000 };
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const SHOTS = process.env.PARLEY_SCREENSHOTS || '';
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** Uploads are slowed to this (bytes per second) where a test must see them run. */
const SLOW_UPLOAD = 300 * 1024;

// ---------------------------------------------------------------- files --

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** A real PNG of `width` x `height` (RGB); `noise` makes it hard to compress (a big file). */
function png(width, height, { noise = false, rgb = [40, 120, 200] } = {}) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // truecolour
  const rows = [];
  for (let y = 0; y < height; y++) {
    const row = noise ? randomBytes(width * 3) : Buffer.alloc(width * 3);
    if (!noise) for (let x = 0; x < width; x++) row.set([rgb[0], (rgb[1] + y) % 256, rgb[2]], x * 3);
    rows.push(Buffer.from([0]), row);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(Buffer.concat(rows), { level: noise ? 0 : 6 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// -------------------------------------------------------------- helpers --

/** One person in their own context (the page's CSP is kept: images must load under it). */
async function openPerson(browser, server, username) {
  const context = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const person = { username, context, page, pageErrors: [] };
  page.on('pageerror', (err) => person.pageErrors.push(err.message));
  await page.goto(server.base);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password', { exact: true }).fill(passwordOf(username));
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.getByText(`Signed in as ${username}`).waitFor();
  await page.locator('#connection-status').filter({ hasText: 'Connected' }).waitFor();
  return person;
}

/** Uploads of this page go at most `bytesPerSecond` (null: full speed again). */
async function slowUploads(person, bytesPerSecond) {
  person.cdp ??= await person.context.newCDPSession(person.page);
  await person.cdp.send('Network.enable');
  await person.cdp.send('Network.emulateNetworkConditions', {
    offline: false,
    latency: 0,
    downloadThroughput: -1,
    uploadThroughput: bytesPerSecond ?? -1,
  });
}

/** Picks files with the 📎 button, as a person would in the file chooser. */
async function attach(person, files) {
  const chooser = person.page.waitForEvent('filechooser');
  await person.page.getByRole('button', { name: 'Attach files' }).click();
  await (await chooser).setFiles(files);
}

/** The chip of a pending file, by name. */
const chip = (person, name) =>
  person.page.locator('#upload-list li.upload').filter({ has: person.page.locator('.upload-name', { hasText: name }) });

/** Every value the progress bars showed, from now on (read with `progressSeen`). */
async function watchProgress(person) {
  await person.page.evaluate(() => {
    window.progressSeen = [];
    new MutationObserver((records) => {
      for (const r of records) {
        if (r.target instanceof HTMLProgressElement && !r.target.hidden) window.progressSeen.push(r.target.value);
      }
    }).observe(document.getElementById('upload-list'), { subtree: true, attributes: true, attributeFilter: ['value'] });
  });
}

/** Builds `files` ({ name, type, base64 }) in the page as a DataTransfer. */
const dataTransfer = (person, files) =>
  person.page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.type }));
    }
    return dt;
  }, files);

/** The bytes of what the page downloads when `click` runs. */
async function downloaded(person, click) {
  const download = person.page.waitForEvent('download');
  await click();
  const file = await download;
  return { name: file.suggestedFilename(), bytes: readFileSync(await file.path()) };
}

/** Whether an <img> has loaded, and its natural size. */
const loadedSize = (img) =>
  img.evaluate(async (el) => {
    if (!el.complete) await new Promise((resolve) => el.addEventListener('load', resolve, { once: true }));
    return { width: el.naturalWidth, height: el.naturalHeight };
  });

/** axe-core's serious and critical violations at desktop and phone widths. */
async function assertAccessible(page, where) {
  for (const viewport of [DESKTOP, PHONE]) {
    await page.setViewportSize(viewport);
    // Evaluated through the DevTools protocol: the page's CSP stays on.
    if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.evaluate(AXE_SOURCE);
    const violations = await page.evaluate(async () => {
      const result = await window.axe.run(document, { resultTypes: ['violations'] });
      return result.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
    });
    const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
    assert.deepEqual(serious, [], `${where} at ${viewport.width}x${viewport.height}`);
  }
  await page.setViewportSize(DESKTOP);
}

async function shoot(page, name, viewport = DESKTOP) {
  if (!SHOTS) return;
  await page.setViewportSize(viewport);
  await page.mouse.move(1, 1); // no message hovered or focused
  await page.evaluate(() => {
    if (document.activeElement?.closest('.message-list')) document.activeElement.blur();
  });
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`) });
  await page.setViewportSize(DESKTOP);
}

/** The room's latest message as the server holds it (Alice's view). */
async function latest(server, room) {
  const res = await rest(server, 'GET', `/rooms/${room}/messages?limit=1`, { token: await tokenOf(server, 'alice') });
  assert.equal(res.status, 200);
  return res.json.messages.at(-1);
}

// ---------------------------------------------------------------- tests --

onBothBackends(
  'files and images in the web client (Chromium)',
  { timeout: SUITE_TIMEOUT_MS, env: (base) => ({ ALLOWED_ORIGINS: base }) },
  (server, backend) => {
    let browser;
    let alice;
    let bob;
    const room = 'photos';

    before(async () => {
      browser = await launchBrowser();
      alice = await openPerson(browser, server(), 'alice');
      bob = await openPerson(browser, server(), 'bob');
      await createRoom(alice, room);
      await joinRoom(bob, room);
    });

    after(async () => {
      await closePeople([alice, bob]);
      await browser?.close();
    });

    test('an image uploads with visible progress, reaches the other person live, opens full size, downloads; deleted, it disappears for both', EACH, async () => {
      const picture = png(640, 480, { noise: true });
      await watchProgress(alice);
      await slowUploads(alice, SLOW_UPLOAD);
      await attach(alice, { name: 'beach.png', mimeType: 'image/png', buffer: picture });
      const pending = chip(alice, 'beach.png');
      await pending.locator('progress').waitFor();
      await pending.getByRole('button', { name: 'Cancel upload of beach.png' }).waitFor();
      await alice.page.waitForFunction(() => window.progressSeen.some((v) => v > 0 && v < 100));
      await slowUploads(alice, null);
      await pending.and(alice.page.locator('[data-state="ready"]')).waitFor();
      assert.equal(await pending.locator('progress').isVisible(), false, 'no bar once uploaded');
      assert.deepEqual(
        [...new Set(await alice.page.evaluate(() => window.progressSeen))].every((v, i, all) => i === 0 || v >= all[i - 1]),
        true,
        'the bar only moves forward',
      );

      await say(alice, 'the beach today');
      assert.equal(await alice.page.locator('#upload-list').isVisible(), false, 'the chip went with the message');
      const stored = await latest(server(), room);
      assert.equal(stored.body, 'the beach today');
      assert.deepEqual(stored.attachments.map((f) => [f.name, f.content_type, f.size, f.image]), [
        ['beach.png', 'image/png', picture.length, { width: 640, height: 480 }],
      ]);

      // Bob sees it live: the thumbnail, served by the server at most 320 px wide.
      const bobs = messageWith(bob, 'the beach today');
      const thumb = bobs.getByRole('button', { name: 'Open image beach.png' });
      await thumb.waitFor();
      const small = await loadedSize(thumb.locator('img'));
      assert.ok(small.width > 0 && small.width <= 320, `a thumbnail, not the full image (${small.width} px)`);
      const alicesThumb = messageWith(alice, 'the beach today').getByRole('button', { name: 'Open image beach.png' });
      assert.ok((await loadedSize(alicesThumb.locator('img'))).width > 0, 'Alice sees her image too');

      // With the keyboard: Enter opens it full size, Escape closes, focus returns.
      await thumb.focus();
      await bob.page.keyboard.press('Enter');
      const dialog = bob.page.getByRole('dialog', { name: 'beach.png' });
      await dialog.waitFor();
      assert.deepEqual(await loadedSize(dialog.locator('img')), { width: 640, height: 480 }, 'the full image');
      const saved = await downloaded(bob, () => dialog.getByRole('link', { name: /^Download beach\.png/ }).click());
      assert.equal(saved.name, 'beach.png');
      assert.ok(saved.bytes.equals(picture), 'Bob downloads exactly the bytes Alice picked');
      await bob.page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'hidden' });
      assert.equal(await thumb.evaluate((el) => el === document.activeElement), true, 'focus is back on the thumbnail');

      // Alice deletes the message: the image disappears for both.
      const mine = messageWith(alice, 'the beach today');
      await mine.hover();
      await mine.getByRole('button', { name: 'Delete message' }).click();
      await alice.page.locator('#delete-dialog').getByRole('button', { name: 'Delete', exact: true }).click();
      for (const p of [alice, bob]) {
        await p.page.getByRole('button', { name: 'Open image beach.png' }).waitFor({ state: 'detached' });
        await p.page.locator('.message-list li[data-seq]').filter({ hasText: 'message deleted' }).first().waitFor();
      }
      // The server erases it (within 60 s, the README's "Files"): its link answers 404.
      const token = await tokenOf(server(), 'alice');
      const status = async () => (await fetch(`${server().base}/api/v1/files/${stored.attachments[0].id}`, { headers: { authorization: `Bearer ${token}` } })).status;
      await eventually('the deleted message’s file is no longer served', status, 404, 65_000);
    });

    test('files dropped on the messages and an image pasted into the composer go with a message of files alone', EACH, async () => {
      const notes = Buffer.from(`minutes of ${backend}\nall agreed\n`.repeat(40));
      const sticker = png(480, 300);
      // Drop a text file on the message list: the list says where it goes.
      const dropped = await dataTransfer(alice, [{ name: 'minutes.txt', type: 'text/plain', base64: notes.toString('base64') }]);
      await alice.page.locator('#message-scroller').dispatchEvent('dragenter', { dataTransfer: dropped });
      await alice.page.getByText(`Drop to attach to your message in #${room}`).waitFor();
      await alice.page.locator('#message-scroller').dispatchEvent('drop', { dataTransfer: dropped });
      await alice.page.locator('#drop-hint').waitFor({ state: 'hidden' });
      await chip(alice, 'minutes.txt').and(alice.page.locator('[data-state="ready"]')).waitFor();
      // Paste an image into the composer.
      const clipboard = await dataTransfer(alice, [{ name: 'image.png', type: 'image/png', base64: sticker.toString('base64') }]);
      await composer(alice).evaluate((input, dt) => {
        input.focus();
        input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true }));
      }, clipboard);
      await chip(alice, 'image.png').and(alice.page.locator('[data-state="ready"]')).waitFor();
      assert.equal(await composer(alice).inputValue(), '', 'nothing pasted as text');
      // One more, slowly: how the composer looks while a file uploads.
      await slowUploads(alice, SLOW_UPLOAD);
      await attach(alice, { name: 'site-visit.mov', mimeType: 'video/quicktime', buffer: randomBytes(6 * 1024 * 1024) });
      const slow = chip(alice, 'site-visit.mov');
      await slow.locator('progress').waitFor();
      await composer(alice).fill('Notes from today');
      await assertAccessible(alice.page, 'the composer with files waiting');
      await shoot(alice.page, 'files-composer-desktop');
      await shoot(alice.page, 'files-composer-phone', PHONE);
      await composer(alice).press('Enter');
      await alice.page.getByText('Wait until your files have uploaded, or cancel them, then send.').waitFor();
      await slow.getByRole('button', { name: 'Cancel upload of site-visit.mov' }).click();
      await slow.waitFor({ state: 'detached' });
      await slowUploads(alice, null);
      await composer(alice).fill('');

      // Enter with no text sends the files alone.
      await composer(alice).press('Enter');
      await alice.page.locator('.message-list li.pending').waitFor({ state: 'detached' });
      const stored = await latest(server(), room);
      assert.equal(stored.body, '');
      assert.deepEqual(stored.attachments.map((f) => f.name), ['minutes.txt', 'image.png']);

      // Bob: a card for the text file, a thumbnail for the image.
      const card = bob.page.locator('.message-list .file-card').filter({ hasText: 'minutes.txt' });
      await card.waitFor();
      assert.equal(await card.locator('.file-size').textContent(), `${Math.round((notes.length / 1024) * 10) / 10} KB`);
      await bob.page.getByRole('button', { name: 'Open image image.png' }).waitFor();
      const saved = await downloaded(bob, () => card.getByRole('link', { name: /^Download minutes\.txt/ }).click());
      assert.ok(saved.bytes.equals(notes), 'the card downloads the file’s bytes');
      await bob.page.locator('#message-scroller').evaluate((el) => {
        el.scrollTop = el.scrollHeight;
      });
      await assertAccessible(bob.page, 'a room with an image and a file card');
      // Right after Alice's deleted message, her files read as a message of
      // their own: her name above them, not under "message deleted".
      const filesItem = bob.page.locator('.message-list li[data-seq]').filter({ has: bob.page.locator('.file-card').filter({ hasText: 'minutes.txt' }) });
      assert.equal(await filesItem.evaluate((li) => li.classList.contains('continued')), false, 'the files start a group of their own');
      await shoot(bob.page, 'files-room-desktop');
      await shoot(bob.page, 'files-room-phone', PHONE);

      // From history: after a reload Bob sees the same card and thumbnail.
      await bob.page.reload();
      await bob.page.getByRole('heading', { name: `# ${room}` }).waitFor();
      await bob.page.locator('.message-list .file-card').filter({ hasText: 'minutes.txt' }).waitFor();
      await bob.page.getByRole('button', { name: 'Open image image.png' }).waitFor();
      const again = await downloaded(bob, () =>
        bob.page.locator('.message-list .file-card').filter({ hasText: 'minutes.txt' }).getByRole('link', { name: /^Download minutes\.txt/ }).click(),
      );
      assert.ok(again.bytes.equals(notes), 'the file from history downloads the same bytes');
    });

    test('cancelling an upload stops it and drops the file; a removed file stays off the message', EACH, async () => {
      const big = randomBytes(4 * 1024 * 1024);
      await slowUploads(alice, SLOW_UPLOAD);
      await attach(alice, [
        { name: 'big.bin', mimeType: 'application/octet-stream', buffer: big },
      ]);
      const running = chip(alice, 'big.bin');
      await running.locator('progress').waitFor();
      await running.getByRole('button', { name: 'Cancel upload of big.bin' }).click();
      await running.waitFor({ state: 'detached' });
      await slowUploads(alice, null);
      await attach(alice, { name: 'draft.txt', mimeType: 'text/plain', buffer: Buffer.from('not this one') });
      await chip(alice, 'draft.txt').and(alice.page.locator('[data-state="ready"]')).waitFor();
      await chip(alice, 'draft.txt').getByRole('button', { name: 'Remove draft.txt' }).click();
      await chip(alice, 'draft.txt').waitFor({ state: 'detached' });
      await say(alice, 'no files after all');
      const stored = await latest(server(), room);
      assert.equal(stored.body, 'no files after all');
      assert.deepEqual(stored.attachments, [], 'neither the cancelled nor the removed file went with it');
      await messageWith(bob, 'no files after all').waitFor();
    });
  },
);
