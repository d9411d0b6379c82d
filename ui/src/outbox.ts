// Orders composed offline. Each gets its Idempotency-Key when it is composed
// and keeps it on every retry, so the server places it once however often
// it is sent (a retry after a lost response returns the original order).
import { api, call, Offline, Problem, type S } from "./api/client";
import { get } from "./state";

export type Pending = {
  key: string;
  /** Who composed it: only their session ever sends it. */
  userId: string;
  body: S["CheckoutRequest"];
  shopName: string;
  total: number;
  createdAt: string;
  error?: string;
};

const KEY = "uphill.outbox";
const subs = new Set<() => void>();

/** Everything queued on this device (see `mine` for the signed-in user's). */
export function pending(): Pending[] {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "[]") as Pending[];
  } catch {
    return [];
  }
}
export function mine(): Pending[] {
  const me = get().me?.id;
  return pending().filter((p) => p.userId === me);
}
function save(list: Pending[]) {
  localStorage.setItem(KEY, JSON.stringify(list));
  subs.forEach((f) => f());
}
function update(key: string, f: (p: Pending) => Pending | null) {
  save(pending().flatMap((p) => (p.key === key ? (f(p) ?? []) : [p])));
}
export function onOutboxChange(f: () => void) {
  subs.add(f);
  return () => void subs.delete(f);
}
export function dismiss(key: string) {
  update(key, () => null);
}

/** A v4 UUID; crypto.randomUUID needs a secure context, plain-HTTP LANs lack one. */
export function uuid(): string {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function send(p: Pending) {
  return call(api.POST("/api/v1/orders", { params: { header: { "Idempotency-Key": p.key } }, body: p.body }));
}

export type Placed = { order: S["OrderView"] } | { queued: Pending };

/** Places an order now, or queues it when there is no network. */
export async function place(body: S["CheckoutRequest"], shopName: string, total: number): Promise<Placed> {
  const p: Pending = { key: uuid(), userId: get().me?.id ?? "", body, shopName, total, createdAt: new Date().toISOString() };
  // Queued before the first try: a tab closed mid-request still retries it.
  save([...pending(), p]);
  if (!navigator.onLine) return { queued: p };
  try {
    const order = await send(p);
    update(p.key, () => null);
    return { order };
  } catch (e) {
    if (e instanceof Offline) return { queued: p };
    update(p.key, () => null);
    throw e;
  }
}

let flushing: Promise<S["OrderView"][]> | null = null;

async function sendAll(): Promise<S["OrderView"][]> {
  const placed: S["OrderView"][] = [];
  const me = get().me?.id;
  // The browser knows it has no network: trying would only fail (and under
  // emulated offline, a request can still slip out through the service
  // worker). The "online" event flushes again.
  if (!navigator.onLine) return placed;
  for (const p of pending()) {
    if (p.error || !me || p.userId !== me) continue;
    try {
      placed.push(await send(p));
      update(p.key, () => null);
    } catch (e) {
      if (e instanceof Offline) break;
      // Refused for good (sold out, shop closed): say why, keep it visible.
      const detail = e instanceof Problem ? e.detail : String(e);
      update(p.key, (x) => ({ ...x, error: detail }));
    }
  }
  return placed;
}

/** Sends every queued order once more; one flush at a time. */
export function flush(): Promise<S["OrderView"][]> {
  // `.finally` runs after the assignment even when there is nothing to
  // send, so a finished flush never sticks around.
  flushing ??= sendAll().finally(() => {
    flushing = null;
  });
  return flushing;
}
