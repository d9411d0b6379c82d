// The cart lives on the device (it must work offline); the server's copy is
// updated best-effort so its "batch closes soon" reminder knows about it.
import { api } from "./api/client";

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
