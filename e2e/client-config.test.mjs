// End-to-end: the web client takes the server's limits from GET /api/v1/config
// instead of restating them (web/README.md). With MAX_BODY_BYTES=16, a body
// made only of spaces is sent and stored (the server accepts it), a longer
// body is refused by the server and said in words, and the session goes on
// (typing, whose signal is longer than 16 bytes, included: the limit is a
// chat message's).
//
// Starts `PARLEY_BIN` (`cargo build --bin parley`) with SQLite; Chromium:
// /usr/bin/chromium or CHROMIUM_BIN.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { launchBrowser } from './support/browser.mjs';
import { closePeople, composer, createRoom, openPerson, rest, tokenOf } from './support/person.mjs';
import { startServer, stopServer } from './support/server.mjs';

const MAX_BODY_BYTES = 16;

describe('the server’s limits in the web client (Chromium)', { timeout: 300_000 }, () => {
  let server;
  let browser;
  let carol;

  before(async () => {
    server = await startServer({
      env: (base) => ({ ALLOWED_ORIGINS: base, MAX_BODY_BYTES: String(MAX_BODY_BYTES) }),
    });
    browser = await launchBrowser();
    carol = await openPerson(browser, server, 'carol');
  });
  after(async () => {
    await closePeople([carol]);
    await browser?.close();
    if (server) await stopServer(server);
  });

  test('spaces alone are sent; a body over the server’s limit is refused in words and the session goes on', async () => {
    const config = await rest(server, 'GET', '/config');
    assert.equal(config.json.max_body_bytes, MAX_BODY_BYTES, 'the server says its limit');
    await createRoom(carol, 'lab');
    const { page } = carol;
    // The page opens another socket only to reconnect, as it must after an
    // ERROR (the server closes the socket after one). Typing in the composer
    // sends the typing signal, 17 bytes, over this server's 16: it must not
    // end the session either.
    const reopened = [];
    page.on('websocket', (ws) => reopened.push(ws.url()));

    await composer(carol).fill('   ');
    await composer(carol).press('Enter');
    await page.locator('.message-list li[data-seq="1"]').waitFor();

    const long = 'longer than sixteen bytes';
    await composer(carol).fill(long);
    await composer(carol).press('Enter');
    await page.locator('.message-list li.pending.failed').waitFor();
    assert.equal(
      await page.locator('#chat-error').textContent(),
      `Not sent: the message is too long (${long.length} bytes; this server takes at most ${MAX_BODY_BYTES}).`,
    );
    assert.equal(await page.locator('#connection-status').textContent(), 'Connected', 'no ERROR ended the session');
    assert.deepEqual(reopened, [], 'no ERROR ended the session: the page never had to reconnect');

    await composer(carol).fill('short again');
    await composer(carol).press('Enter');
    await page.locator('.message-list li[data-seq="2"]').waitFor();
    const token = await tokenOf(server, 'carol');
    const history = await rest(server, 'GET', '/rooms/lab/messages', { token });
    assert.deepEqual(
      history.json.messages.map((m) => m.body),
      ['   ', 'short again'],
      'the spaces were stored as written; the long body was not',
    );
    assert.deepEqual(reopened, [], 'the session went on on the same socket');
    assert.equal(
      await page.locator('#search-input').getAttribute('minlength'),
      String(config.json.search.min_query_chars),
      'the search box takes its bounds from the server',
    );
  });
});
