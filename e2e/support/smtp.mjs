// A loopback SMTP server for the mail e2e test: Python's aiosmtpd through
// tests/support/smtp_capture.py (scripts/test installs aiosmtpd), each
// message one JSON line of a capture file. `PYTHON` names the interpreter
// (default python3). Not a test file itself.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { freePort, sleep } from './server.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SCRIPT = path.join(ROOT, 'tests', 'support', 'smtp_capture.py');
const START_MS = 10_000;

export async function startSmtp() {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'parley-smtp-'));
  const file = path.join(dir, 'mails.jsonl');
  const child = spawn(process.env.PYTHON || 'python3', [SCRIPT, String(port), file], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the SMTP capture did not start (pip install aiosmtpd)')), START_MS);
    child.on('exit', () => reject(new Error('the SMTP capture exited (is aiosmtpd installed? pip install aiosmtpd)')));
    child.stdout.on('data', (chunk) => {
      if (String(chunk).includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const mails = () =>
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line));
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    /** The mails to `to`, once there are at least `n` (waits up to `ms`). */
    async waitFor(to, n, ms = 15_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const found = mails().filter((m) => m.to.includes(to));
        if (found.length >= n) return found;
        if (Date.now() > deadline) throw new Error(`${n} mail(s) to ${to} expected, got ${found.length}`);
        await sleep(100);
      }
    },
    stop() {
      child.stdin.end();
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
