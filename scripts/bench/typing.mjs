// Typing fan-out cost (BENCHMARKS.md, scenario 9): SUBSCRIBERS (100) watch
// one room's activity over raw STOMP/WebSocket while TYPISTS (10) send
// {"type":"typing"} to it at RATE (1000) signals per second in all, for
// SECONDS (10), with TYPING_RATE=0 on the server (so the fan-out itself is
// measured, not the rate limit). Prints one JSON line: signals sent,
// deliveries received (signals are at most once: a subscriber that falls
// behind loses some), and deliveries per second of the server's CPU time
// (from /proc/PID/stat).
//
//   PARLEY=http://127.0.0.1:18080 SERVER_PID=… node scripts/bench/typing.mjs
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../e2e/package.json', import.meta.url));
const WebSocket = require('ws');

const BASE = process.env.PARLEY ?? 'http://127.0.0.1:18080';
const SUBSCRIBERS = Number(process.env.SUBSCRIBERS ?? 100);
const TYPISTS = Number(process.env.TYPISTS ?? 10);
const SECONDS = Number(process.env.SECONDS ?? 10);
const RATE = Number(process.env.RATE ?? 1000);
const PID = process.env.SERVER_PID;

async function call(method, path, token, body) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const r = await fetch(BASE + path, { method, headers, body: body && JSON.stringify(body) });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return r.status === 204 ? null : r.json();
}

function cpuSeconds() {
  const fields = readFileSync(`/proc/${PID}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in ticks
}

function connect(token) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(BASE.replace('http', 'ws') + '/ws', ['v12.stomp']);
    ws.on('open', () => ws.send(`CONNECT\naccept-version:1.2\nhost:parley\nAuthorization:Bearer ${token}\n\n\0`));
    ws.once('message', (data) => (String(data).startsWith('CONNECTED') ? resolve(ws) : reject(new Error(String(data)))));
    ws.on('error', reject);
  });
}

const run = String(Date.now() % 100000);
const users = [];
for (let i = 0; i < SUBSCRIBERS + TYPISTS; i++) {
  const u = await call('POST', '/api/v1/auth/signup', null, { username: `t${run}u${i}`, password: 'bench-password-1' });
  users.push(u.access_token);
}
const room = `typing-${run}`;
await call('POST', '/api/v1/rooms', users[0], { name: room });
for (const t of users.slice(1)) await call('POST', `/api/v1/rooms/${room}/join`, t);
const destination = `/topic/rooms/${room}/activity`;

let delivered = 0;
const subscribers = await Promise.all(users.slice(0, SUBSCRIBERS).map(connect));
for (const [i, ws] of subscribers.entries()) {
  ws.on('message', (data) => {
    for (const frame of String(data).split('\0')) if (frame.startsWith('MESSAGE')) delivered++;
  });
  ws.send(`SUBSCRIBE\nid:${i}\ndestination:${destination}\nreceipt:s${i}\n\n\0`);
}
const typists = await Promise.all(users.slice(SUBSCRIBERS).map(connect));
await new Promise((r) => setTimeout(r, 1000)); // subscriptions in place
const frame = `SEND\ndestination:${destination}\ncontent-type:application/json\n\n{"type":"typing"}\0`;
let sent = 0;
const cpu0 = cpuSeconds();
const t0 = Date.now();
const deadline = t0 + SECONDS * 1000;
const TICK_MS = 10;
const perTick = RATE / TYPISTS / (1000 / TICK_MS);
await Promise.all(typists.map(async (ws) => {
  let owed = 0;
  for (let tick = 1; Date.now() < deadline; tick++) {
    owed += perTick;
    const n = Math.floor(owed);
    if (n > 0) {
      ws.send(frame.repeat(n));
      sent += n;
      owed -= n;
    }
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + tick * TICK_MS - Date.now())));
  }
}));
await new Promise((r) => setTimeout(r, 2000)); // the last deliveries
const cpu = cpuSeconds() - cpu0;
const secs = (Date.now() - t0) / 1000;
for (const ws of [...subscribers, ...typists]) ws.terminate();
console.log(JSON.stringify({
  scenario: 'typing-fanout',
  subscribers: SUBSCRIBERS,
  typists: TYPISTS,
  rate: RATE,
  seconds: Math.round(secs * 10) / 10,
  signals_sent: sent,
  deliveries: delivered,
  deliveries_per_signal: Math.round((delivered / Math.max(sent, 1)) * 100) / 100,
  deliveries_per_s: Math.round(delivered / secs),
  server_cpu_s: Math.round(cpu * 100) / 100,
  deliveries_per_cpu_s: Math.round(delivered / Math.max(cpu, 0.01)),
}));
