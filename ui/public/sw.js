// Uphill's service worker: the app shell works offline, and the catalog and
// the user's own orders stay readable offline.
//
// - /assets/* are content-hashed: cache first, forever.
// - Page loads: network first, falling back to the cached shell (index.html).
// - GET of the catalog, orders and a few lookups: network first, falling
//   back to the last copy. Everything else (writes, the event stream,
//   admin data) goes straight to the network.
// Signing out clears the API cache (the page deletes it), so another user
// on the same device never reads the previous one's orders.
const SHELL = "uphill-shell-v2";
const ASSETS = "uphill-assets-v1";
const API = "uphill-api-v1";
const READABLE_OFFLINE = [
  /^\/api\/v1\/shops(\/[^/]+(\/(products|slots))?)?$/,
  /^\/api\/v1\/products\/[^/]+$/,
  /^\/api\/v1\/orders(\/[^/]+)?$/,
  /^\/api\/v1\/(me|me\/addresses|me\/favorites|buildings|categories|fees)$/,
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      const res = await fetch("/", { headers: { accept: "text/html" } });
      if (!res.ok) return;
      const html = await res.clone().text();
      await cache.put("/", res);
      // The logo and the manifest the shell links to.
      await cache.addAll(["/favicon.svg", "/manifest.webmanifest"]);
      // The entry script and style the shell names, so a cold offline load works.
      const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]);
      const store = await caches.open(ASSETS);
      await store.addAll(assets);
    })().then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  const keep = [SHELL, ASSETS, API];
  event.waitUntil(
    (async () => {
      for (const k of await caches.keys()) if (!keep.includes(k)) await caches.delete(k);
      await self.clients.claim();
    })(),
  );
});

async function networkFirst(cacheName, request, key) {
  const cache = await caches.open(cacheName);
  try {
    const res = await fetch(request);
    if (res.ok) await cache.put(key || request, res.clone());
    return res;
  } catch (err) {
    const hit = await cache.match(key || request);
    if (hit) return hit;
    throw err;
  }
}

async function cacheFirst(request) {
  const cache = await caches.open(ASSETS);
  const hit = await cache.match(request);
  if (hit) return hit;
  const res = await fetch(request);
  if (res.ok) await cache.put(request, res.clone());
  return res;
}

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === "navigate") {
    const owned = /^\/(api|docs|files|metrics|healthz|readyz|setup)(\/|$)/.test(url.pathname);
    if (!owned) event.respondWith(networkFirst(SHELL, req, "/"));
    return;
  }
  if (url.pathname === "/favicon.svg" || url.pathname === "/manifest.webmanifest") {
    event.respondWith(networkFirst(SHELL, req));
    return;
  }
  if (url.pathname.startsWith("/assets/")) {
    event.respondWith(cacheFirst(req));
    return;
  }
  if (READABLE_OFFLINE.some((re) => re.test(url.pathname))) {
    event.respondWith(networkFirst(API, req));
  }
});
