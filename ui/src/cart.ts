// The server's cart is the truth (reorder fills it, the "batch closes soon"
// reminder reads it); the device keeps a copy so the cart works offline.
// Every change here is written to the server when online; at sign-in a
// shop's server cart fills an empty device cart (a new phone, a reorder
// from another device), and a device cart changed offline is sent up.
import { allPages, api, call, PAGE_MAX, type S } from "./api/client";

export type Line = { product_id: string; name: string; unit_price: number; quantity: number };
type Carts = Record<string, { shopName: string; lines: Record<string, Line> }>;
const KEY = "uphill.cart";
const subs = new Set<() => void>();

function read(): Carts {
  try {
    return JSON.parse(localStorage.getItem(KEY) || "{}") as Carts;
  } catch {
    return {};
  }
}
function write(c: Carts) {
  localStorage.setItem(KEY, JSON.stringify(c));
  subs.forEach((f) => f());
}

export function onCartChange(f: () => void) {
  subs.add(f);
  return () => void subs.delete(f);
}
export const carts = read;
export function cartOf(shopId: string) {
  return read()[shopId];
}
export function count(): number {
  return Object.values(read()).reduce((n, c) => n + Object.values(c.lines).reduce((m, l) => m + l.quantity, 0), 0);
}

export function setQuantity(shopId: string, shopName: string, line: Omit<Line, "quantity">, quantity: number) {
  const c = read();
  const cart = c[shopId] ?? { shopName, lines: {} };
  if (quantity <= 0) delete cart.lines[line.product_id];
  else cart.lines[line.product_id] = { ...line, quantity: Math.min(99, quantity) };
  if (Object.keys(cart.lines).length === 0) delete c[shopId];
  else c[shopId] = cart;
  write(c);
  sync(shopId, cart.lines);
}

export function clear(shopId?: string) {
  if (!shopId) return write({});
  const c = read();
  delete c[shopId];
  write(c);
  sync(shopId, {});
}

function sync(shopId: string, lines: Record<string, Line>) {
  if (!navigator.onLine) return;
  const items = Object.values(lines).map((l) => ({ product_id: l.product_id, quantity: l.quantity }));
  const p = items.length
    ? api.PUT("/api/v1/cart/{shop_id}", { params: { path: { shop_id: shopId } }, body: { items } })
    : api.DELETE("/api/v1/cart/{shop_id}", { params: { path: { shop_id: shopId } } });
  // Only the reminder depends on it; the order carries its own lines.
  p.catch(() => {});
}

/** Replaces the device's cart for one shop with the server's. */
export function adopt(view: S["CartView"], shopName: string) {
  const c = read();
  const lines: Record<string, Line> = {};
  for (const l of view.items) lines[l.product_id] = { product_id: l.product_id, name: l.name, unit_price: l.unit_price, quantity: l.quantity };
  if (Object.keys(lines).length === 0) delete c[view.shop_id];
  else c[view.shop_id] = { shopName, lines };
  write(c);
}

/** At sign-in: server carts fill empty device carts; device carts go up. */
export async function pull() {
  const server = await allPages((cursor) => call(api.GET("/api/v1/cart", { params: { query: { cursor, limit: PAGE_MAX } } })));
  const local = read();
  for (const view of server) {
    if (view.items.length > 0 && !local[view.shop_id]) {
      const shop = await call(api.GET("/api/v1/shops/{id}", { params: { path: { id: view.shop_id } } })).catch(() => null);
      if (shop) adopt(view, shop.name);
    }
  }
  for (const [shopId, cart] of Object.entries(local)) sync(shopId, cart.lines);
}
