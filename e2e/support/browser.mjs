// Shared by the browser e2e tests: Debian's Chromium through playwright-core
// (/usr/bin/chromium, which scripts/test installs as root, or CHROMIUM_BIN),
// and the password each test user signs up with. Not a test file itself.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';

import { chromium } from 'playwright-core';

export const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export const passwordOf = (username) => `pw-${username}-secret`;

export async function launchBrowser() {
  assert.ok(
    existsSync(CHROMIUM_BIN),
    `Chromium not found at ${CHROMIUM_BIN}: apt-get install chromium (scripts/test does as root) or set CHROMIUM_BIN`,
  );
  return chromium.launch({ executablePath: CHROMIUM_BIN, args: CHROMIUM_ARGS });
}
