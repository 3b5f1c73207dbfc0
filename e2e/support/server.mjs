// Shared by the e2e tests: start the real server binary on a free loopback
// port in a scratch directory, wait for /readyz, stop it (SIGTERM, then
// SIGKILL), run a suite on both backends (onBothBackends), REST calls, and
// small timing helpers. Not a test file itself.
import assert from 'node:assert/strict';
import { after, before, describe } from 'node:test';
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const PARLEY_BIN = process.env.PARLEY_BIN || path.join(ROOT, 'target', 'debug', 'parley');
export const JWT_SECRET = `e2e-${randomBytes(24).toString('hex')}`;
const READY_MS = 60_000;

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts the server. `databaseUrl(workdir)` picks the database (default: a
 * SQLite file in the scratch directory); `env(base)` adds settings.
 */
export async function startServer({ databaseUrl, env: extraEnv } = {}) {
  assert.ok(
    existsSync(PARLEY_BIN),
    `server binary not found at ${PARLEY_BIN}: run \`cargo build --bin parley\` or set PARLEY_BIN`,
  );
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // The server reads a .env in its working directory: give it an empty one.
  const workdir = mkdtempSync(path.join(tmpdir(), 'parley-e2e-'));
  const env = {
    ...process.env,
    BIND_ADDR: `127.0.0.1:${port}`,
    DATABASE_URL: databaseUrl ? databaseUrl(workdir) : `sqlite://${workdir}/e2e.db?mode=rwc`,
    JWT_SECRET,
    SEND_RATE: '0',
    RUST_LOG: process.env.RUST_LOG || 'warn',
    ...(extraEnv ? extraEnv(base) : {}),
  };
  delete env.REDIS_URL; // one instance, in-process broker
  const child = spawn(PARLEY_BIN, [], { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let output = '';
  const keep = (chunk) => {
    output = (output + chunk).slice(-20_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      resolve({ code, signal });
    });
  });
  const server = {
    port,
    base,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    child,
    exited,
    workdir,
    output: () => output,
  };
  try {
    await waitReady(server);
  } catch (err) {
    await stopServer(server);
    throw err;
  }
  return server;
}

async function waitReady(server) {
  const deadline = Date.now() + READY_MS;
  let last = 'no answer';
  while (Date.now() < deadline) {
    if (server.child.exitCode !== null || server.child.signalCode !== null) {
      throw new Error(`server exited before it was ready:\n${server.output()}`);
    }
    try {
      const res = await fetch(`${server.base}/readyz`, { signal: AbortSignal.timeout(2_000) });
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (err) {
      last = err.message;
    }
    await sleep(100);
  }
  throw new Error(`/readyz not 200 within ${READY_MS} ms (${last}):\n${server.output()}`);
}

/** SIGTERM, then SIGKILL if it lingers; always removes the work dir. */
export async function stopServer(server) {
  if (!server) return;
  const { child } = server;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    try {
      // The contract gives a graceful shutdown 30 s.
      await within(35_000, 'server exit after SIGTERM', server.exited);
    } catch {
      child.kill('SIGKILL');
      await server.exited;
    }
  }
  rmSync(server.workdir, { recursive: true, force: true });
}

/** How long a REST call or a psql command may take. */
const CALL_MS = 30_000;

/** A fresh database in the TEST_DATABASE_URL cluster, with its URL. */
function createPostgresDatabase() {
  const admin = process.env.TEST_DATABASE_URL;
  const name = `e2e_${randomBytes(6).toString('hex')}`;
  execFileSync('psql', [admin, '-v', 'ON_ERROR_STOP=1', '-q', '-c', `CREATE DATABASE ${name}`], {
    stdio: 'pipe',
    timeout: CALL_MS,
  });
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop() {
      try {
        execFileSync('psql', [admin, '-q', '-c', `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`], {
          stdio: 'pipe',
          timeout: CALL_MS,
        });
      } catch {
        // a throwaway cluster; a leftover database harms nobody
      }
    },
  };
}

/** A REST call: `{status, body}` with the body parsed as JSON (null if empty). */
export async function api(server, method, route, token, body) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(server.base + route, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(CALL_MS),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/**
 * The suite `name` twice: against a server on SQLite, and against one on a
 * fresh Postgres database (skipped when TEST_DATABASE_URL is not set).
 * `defineTests(server, backend)` registers the tests; `server()` is the
 * running server, `backend` is 'sqlite' or 'postgres'. `env(base)` adds
 * settings, as for startServer (a browser test allows the page's origin).
 */
export function onBothBackends(name, { timeout, env }, defineTests) {
  describe(`${name} on SQLite`, { timeout }, () => {
    let server;
    before(async () => {
      server = await startServer({ env });
    });
    after(async () => {
      await stopServer(server);
    });
    defineTests(() => server, 'sqlite');
  });

  describe(
    `${name} on Postgres`,
    {
      timeout,
      skip: process.env.TEST_DATABASE_URL ? false : 'TEST_DATABASE_URL is not set (scripts/test sets it)',
    },
    () => {
      let server;
      let database;
      before(async () => {
        database = createPostgresDatabase();
        server = await startServer({ databaseUrl: () => database.url, env });
      });
      after(async () => {
        await stopServer(server);
        database?.drop();
      });
      defineTests(() => server, 'postgres');
    },
  );
}
