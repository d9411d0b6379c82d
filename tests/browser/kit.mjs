// What every browser test file uses: screenshots at both widths, signing
// in, API reads with the page's cookie, bounded polling.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { watchConsole } from "./server.mjs";

export const SHOTS = resolve(import.meta.dirname, "../../docs/screenshots");
mkdirSync(SHOTS, { recursive: true });

/** Console errors, less the browser's log line for each expected 4xx answer (shown to the user as the problem's detail). */
export const real = (errors) => errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

/** A fresh browser context (no cookies) at `width`, its first page, and that page's console errors. */
export async function openContext(browser, base, width, options = {}) {
  const ctx = await browser.newContext({
    viewport: { width, height: width < 500 ? 780 : 900 },
    baseURL: base,
    ...options,
  });
  const page = await ctx.newPage();
  return { ctx, page, errors: watchConsole(page) };
}

/** The same screen at 360 px and 1280 px wide, scrolled to `focus` when given (to its `block` position). */
export async function shoot(page, name, focus, block = "center") {
  const size = page.viewportSize();
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: width < 500 ? 780 : 900 });
    await page.waitForTimeout(150);
    if (focus) await focus.evaluate((e, b) => e.scrollIntoView({ block: b }), block);
    // Mobile first: nothing may force sideways scrolling at 360 px.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px scrolls sideways by ${overflow} px`);
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: false });
  }
  await page.setViewportSize(size);
}

export async function signIn(page, email, password) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Shops" }).waitFor();
}

/** GET `path` with the context's session cookie; must answer 200. */
export async function apiAs(base, ctx, path) {
  const cookies = await ctx.cookies(base);
  const res = await fetch(`${base}${path}`, {
    headers: { cookie: cookies.map((c) => `${c.name}=${c.value}`).join("; ") },
  });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

/** POST JSON from Node (no browser), e.g. to register a user. */
export async function postJson(base, path, body, headers = {}) {
  const res = await fetch(`${base}${path}`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
  assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
  return res;
}

/** A bearer token for `email` (signs in from Node), for API calls a test makes on someone's behalf. */
export async function tokenFor(base, email, password) {
  const login = await postJson(base, "/api/v1/auth/login", { email, password });
  const cookie = login.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const { csrf_token } = await login.json();
  const made = await postJson(base, "/api/v1/me/tokens", { name: "browser test" }, { cookie, "x-csrf-token": csrf_token });
  return (await made.json()).secret;
}

/** Polls (bounded) until `check` returns something truthy. */
export async function until(what, check, timeout = 15000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** GET `path` with a bearer token; must answer 200. */
export async function getAs(base, token, path) {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

/** PUT `body` (JSON, or none) with a bearer token; must answer 2xx. */
export async function putAs(base, token, path, body) {
  const headers = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) };
  const res = await fetch(`${base}${path}`, { method: "PUT", headers, body: body === undefined ? undefined : JSON.stringify(body) });
  assert.ok(res.ok, `${path}: ${res.status} ${await res.clone().text()}`);
  return res;
}

/**
 * A student's order at the shop named `shopName`, placed through the API
 * (cash, their first address): `lines(products)` picks the items.
 */
export async function placeOrder(base, token, key, shopName, lines) {
  const shop = (await getAs(base, token, "/api/v1/shops?limit=200")).items.find((s) => s.name === shopName);
  const products = (await getAs(base, token, `/api/v1/shops/${shop.id}/products?limit=200`)).items;
  const [address] = await getAs(base, token, "/api/v1/me/addresses");
  const body = { shop_id: shop.id, items: lines(products), address_id: address.id, payment_method: "CASH" };
  return (await postJson(base, "/api/v1/orders", body, { authorization: `Bearer ${token}`, "idempotency-key": key })).json();
}
