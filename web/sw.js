// Parley's service worker (README, "Notifications"), served at /sw.js so its
// scope is the whole client. It only shows what the server pushes: each push
// is one message (decrypted by the browser: {type, room, seq, sender, reason,
// body, url}), shown as a notification that a click turns into the room,
// opened at that message. It caches nothing and fetches nothing.

const TITLES = {
  dm: (p) => p.sender,
  mention: (p) => `${p.sender} mentioned you in #${p.room}`,
  thread: (p) => `${p.sender} replied in a thread in #${p.room}`,
  room: (p) => `${p.sender} in #${p.room}`,
};

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('push', (event) => {
  let push;
  try {
    push = event.data ? event.data.json() : null;
  } catch {
    push = null;
  }
  if (!push || push.type !== 'message') return;
  const title = (TITLES[push.reason] ?? TITLES.room)(push);
  event.waitUntil(self.registration.showNotification(title, {
    body: push.body ?? 'New message',
    // One notification per room: a burst replaces itself.
    tag: `room:${push.room}`,
    renotify: push.reason === 'dm' || push.reason === 'mention',
    data: { url: push.url, room: push.room, seq: push.seq },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const url = new URL(event.notification.data?.url ?? '/', self.location.origin).href;
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    const open = windows.find((w) => new URL(w.url).origin === self.location.origin);
    if (open) {
      await open.focus();
      open.postMessage({ type: 'open-room', room: event.notification.data?.room, seq: event.notification.data?.seq });
      return;
    }
    await self.clients.openWindow(url);
  })());
});
