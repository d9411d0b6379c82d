// App-wide state: who is signed in, their roles, the unread count, fees.
// A tiny observable instead of a state library: a few fields, few writers.
import { useEffect, useState } from "preact/hooks";
import { carts, pull } from "./cart";
import { api, call, hasCsrf, PAGE_MAX, Problem, setCsrf, type S } from "./api/client";

export type Session = {
  me: S["Me"] | null | undefined; // undefined while loading
  shop: S["ShopView"] | null;
  runner: boolean;
  unread: number;
  fees: S["FeesView"] | null;
};

let state: Session = { me: undefined, shop: null, runner: false, unread: 0, fees: null };
const subs = new Set<() => void>();

export function set(patch: Partial<Session>) {
  state = { ...state, ...patch };
  subs.forEach((f) => f());
}
export const get = () => state;

export function useSession(): Session {
  const [, tick] = useState(0);
  useEffect(() => {
    const f = () => tick((n) => n + 1);
    subs.add(f);
    return () => void subs.delete(f);
  }, []);
  return state;
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof Problem && (e.status === 404 || e.status === 401 || e.status === 403)) return null;
    throw e;
  }
}

export async function refreshUnread() {
  const page = await orNull(call(api.GET("/api/v1/notifications", { params: { query: { limit: 1 } } })));
  set({ unread: (page?.unread_count ?? 0) + (page?.unread_broadcasts ?? 0) });
}

export async function refreshShop() {
  // `/me` says whether there is a shop: no 404 probe for everyone else.
  const me = await orNull(call(api.GET("/api/v1/me")));
  set({ me: me ?? get().me, shop: me?.shop_id ? await orNull(call(api.GET("/api/v1/me/shop"))) : null });
}

/** Loads the signed-in user and what they can do. */
export async function loadSession() {
  call(api.GET("/api/v1/fees")).then((fees) => set({ fees }), () => {});
  let me: S["Me"] | null = null;
  // A session cookie without its CSRF token (storage cleared) could read
  // but never change anything: sign in again for a fresh pair. Without a
  // token there is no session to ask about (and no 401 in the console).
  if (hasCsrf()) {
    try {
      me = await orNull(call(api.GET("/api/v1/me")));
    } catch {
      me = null;
    }
  }
  if (!me) {
    set({ me: null, shop: null, runner: false, unread: 0 });
    return;
  }
  set({ me });
  await Promise.allSettled([
    me.shop_id ? orNull(call(api.GET("/api/v1/me/shop"))).then((shop) => set({ shop })) : set({ shop: null }),
    refreshUnread(),
    // Not awaited: sign-in never waits on the service worker (it may be
    // blocked or never become ready in this browser).
    pull().then(() => void warm()),
    // Runs shows in the menu for whoever carries batches or is invited to.
    Promise.all([
      orNull(call(api.GET("/api/v1/me/runs", { params: { query: { limit: 1 } } }))),
      orNull(call(api.GET("/api/v1/me/invitations", { params: { query: { limit: 1 } } }))),
    ]).then(([runs, invites]) => set({ runner: (!!runs && runs.items.length > 0) || (!!invites && invites.items.length > 0) })),
  ]);
}

/**
 * Reads, once signed in, what an offline checkout needs (addresses, fees,
 * orders, buildings, and the shop and slots of every cart) through the
 * service worker, which keeps the last copy of each: a phone that goes
 * offline before ever opening checkout can still order. The URLs are the
 * ones the pages ask for.
 */
async function warm() {
  if (!("serviceWorker" in navigator) || !navigator.onLine) return;
  const sw = navigator.serviceWorker;
  // `ready` never settles where workers are blocked: give up after 5 s.
  const ready = await Promise.race([sw.ready.then(() => true), new Promise<boolean>((ok) => setTimeout(() => ok(false), 5000))]);
  if (!ready) return;
  if (!sw.controller) {
    await new Promise((ok) => {
      sw.addEventListener("controllerchange", ok, { once: true });
      setTimeout(ok, 5000);
    });
  }
  if (!sw.controller) return;
  // Once per tab and user: pages keep their own copies fresh after that.
  const me = get().me?.id;
  if (!me || sessionStorage.getItem("uphill.warmed") === me) return;
  sessionStorage.setItem("uphill.warmed", me);
  const urls = ["/api/v1/me", "/api/v1/me/addresses", "/api/v1/fees", "/api/v1/orders", `/api/v1/buildings?limit=${PAGE_MAX}`];
  for (const shopId of Object.keys(carts())) urls.push(`/api/v1/shops/${shopId}`, `/api/v1/shops/${shopId}/slots?limit=${PAGE_MAX}`);
  // Each body is read to its end, or the request never finishes.
  await Promise.allSettled(urls.map((u) => fetch(u, { credentials: "same-origin" }).then((r) => r.arrayBuffer())));
}

export function signedIn(s: S["SignedIn"]) {
  setCsrf(s.csrf_token);
  set({ me: s.user });
  return loadSession();
}

export async function signOut() {
  try {
    await call(api.POST("/api/v1/auth/logout"));
  } finally {
    setCsrf(null);
    // The cart is this user's; queued orders stay (tagged with their owner).
    localStorage.removeItem("uphill.cart");
    sessionStorage.removeItem("uphill.warmed");
    // The service worker's copies of this user's orders and addresses.
    if ("caches" in window) await caches.delete("uphill-api-v1");
    set({ me: null, shop: null, runner: false, unread: 0 });
  }
}
