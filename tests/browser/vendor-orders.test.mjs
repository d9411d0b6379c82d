// The vendor's orders desk end to end, in headless Chromium against the real
// binary on the demo campus: the dashboard shows a student's new order
// without a reload and accepts a direct one; the orders list filters by
// text (kept in the URL across a reload and Back); an order's page names
// the student with a phone link and cancels a NEW order after an in-page
// confirmation (stock back, student told); the inbox lists a student's
// message. Screenshots of each screen at 360 and 1280 px land in
// docs/screenshots/vendor-*.png.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { startSeededServer, launchBrowser, watchConsole } from "./server.mjs";

const SHOTS = resolve(import.meta.dirname, "../../docs/screenshots");
const SHOP = "Foot Hill Canteen";
const ITEM = "Samosa (2 pcs)";

let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  server = await startSeededServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Console errors, less the browser's line for each expected 4xx answer. */
const real = (errors) => errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

async function context(width) {
  const ctx = await browser.newContext({ viewport: { width, height: width < 500 ? 780 : 900 }, baseURL: server.base });
  const page = await ctx.newPage();
  return { ctx, page, errors: watchConsole(page) };
}

/** The same screen at 360 px and 1280 px wide; nothing may scroll sideways. */
async function shoot(page, name) {
  const size = page.viewportSize();
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: width < 500 ? 780 : 900 });
    await page.waitForTimeout(200);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px scrolls sideways by ${overflow} px`);
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: width > 500 });
  }
  await page.setViewportSize(size);
}

async function signIn(page, email) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(server.password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Shops" }).waitFor();
}

/** A signed-in API client from Node (session cookie and CSRF token), as a student's phone would be. */
async function apiUser(email) {
  const res = await fetch(`${server.base}/api/v1/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email, password: server.password }),
  });
  assert.equal(res.status, 200, `login ${email}`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const { csrf_token } = await res.json();
  const call = async (method, path, body, headers = {}) => {
    const r = await fetch(`${server.base}/api/v1${path}`, {
      method,
      headers: { cookie, "x-csrf-token": csrf_token, ...(body ? { "content-type": "application/json" } : {}), ...headers },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : null };
  };
  return {
    call,
    async get(path) {
      const r = await call("GET", path);
      assert.equal(r.status, 200, `GET ${path}: ${JSON.stringify(r.body)}`);
      return r.body;
    },
  };
}

let keys = 0;
async function placeOrder(who, shop, items, delivery = "AUTO") {
  const [address] = await who.get("/me/addresses");
  const r = await who.call(
    "POST",
    "/orders",
    { shop_id: shop.id, items, address_id: address.id, payment_method: "CASH", delivery, notes: "Ring the bell" },
    { "idempotency-key": `vendor-orders-${Date.now()}-${keys++}` },
  );
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function until(what, check, timeout = 10000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

test("a vendor runs the orders desk: live dashboard, filters, the student, cancel, accept, inbox", async () => {
  const asha = await apiUser("asha@uphill.test");
  const ravi = await apiUser("ravi@uphill.test");
  const shops = await asha.get("/shops?limit=50");
  const shop = shops.items.find((s) => s.name === SHOP);
  assert.ok(shop, "the demo canteen");
  const products = (await asha.get(`/shops/${shop.id}/products?limit=200`)).items;
  const samosa = products.find((p) => p.name === ITEM);
  const other = products.find((p) => p.name !== ITEM && p.stock > 20);
  assert.ok(samosa && other, "two products in stock");
  // Enough of a product to reach the shop's minimum order.
  const enough = (p) => Math.max(1, Math.ceil(shop.min_order_value / p.unit_price));

  const vendor = await context(1280);
  const { page } = vendor;
  await signIn(page, "canteen@uphill.test");
  await page.getByRole("link", { name: "My shop" }).click();
  await page.getByRole("heading", { name: "Today's batches" }).waitFor();
  await page.getByRole("heading", { name: "Waiting to be accepted" }).waitFor();
  assert.equal(await page.getByRole("button", { name: "Refresh" }).count(), 0, "no Refresh button");
  let loads = 0;
  page.on("load", () => loads++);

  // A student orders: the order shows up on the open dashboard by itself.
  const first = await placeOrder(asha, shop, [{ product_id: samosa.id, quantity: enough(samosa) }]);
  await page.getByTestId(`row-${first.display_id}`).waitFor({ timeout: 10000 });
  await page.getByRole("region", { name: "Notifications" }).getByText("New order").first().waitFor();
  // A direct order waits for the shop to accept it.
  const direct = await placeOrder(asha, shop, [{ product_id: other.id, quantity: enough(other) }], "DIRECT");
  const waiting = page.getByTestId(`waiting-${direct.display_id}`);
  await waiting.waitFor({ timeout: 10000 });
  assert.equal(loads, 0, "the dashboard was not reloaded");
  await shoot(page, "vendor-dashboard");
  await waiting.getByRole("button", { name: `Accept ${direct.display_id}` }).click();
  await waiting.waitFor({ state: "detached" });
  assert.equal((await asha.get(`/orders/${direct.id}`)).status, "OUT_FOR_DELIVERY");

  // The sound toggle is off by default and remembered.
  const sound = page.getByLabel("Sound on a new order");
  assert.equal(await sound.isChecked(), false);
  await sound.check();
  await page.reload();
  assert.equal(await page.getByLabel("Sound on a new order").isChecked(), true);
  await page.getByLabel("Sound on a new order").uncheck();

  // The orders list: filter by the student's name; the filter is in the URL.
  const third = await placeOrder(ravi, shop, [{ product_id: other.id, quantity: enough(other) }]);
  await page.getByRole("navigation", { name: "Shop" }).getByRole("link", { name: "Orders" }).click();
  await page.getByRole("heading", { name: "Orders", exact: true }).waitFor();
  await page.getByTestId(`row-${first.display_id}`).waitFor();
  await page.getByLabel("Search order, student, item").fill("ravi");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/\/vendor\/orders\?q=ravi$/);
  await page.getByTestId(`row-${first.display_id}`).waitFor({ state: "detached" });
  await page.getByTestId(`row-${third.display_id}`).waitFor();
  await page.reload();
  assert.equal(await page.getByLabel("Search order, student, item").inputValue(), "ravi", "the filter survives a reload");
  await page.getByTestId(`row-${third.display_id}`).waitFor();
  assert.equal(await page.getByTestId(`row-${first.display_id}`).count(), 0);
  await shoot(page, "vendor-orders");
  // Into an order and Back: the list is still filtered.
  await page.getByTestId(`row-${third.display_id}`).getByRole("link").click();
  await page.getByRole("heading", { name: `Order ${third.display_id}` }).waitFor();
  await page.goBack();
  await page.getByTestId(`row-${third.display_id}`).waitFor();
  assert.equal(await page.getByLabel("Search order, student, item").inputValue(), "ravi", "the filter survives Back");
  assert.equal(await page.getByTestId(`row-${first.display_id}`).count(), 0);

  // An order's page: who the student is, with a phone link.
  await page.goto(`/vendor/orders/${first.id}`);
  await page.getByRole("heading", { name: `Order ${first.display_id}` }).waitFor();
  assert.equal(await page.getByTestId("student-name").innerText(), "Asha Menon");
  const phone = page.getByRole("link", { name: "+91 98450 11101" });
  assert.equal(await phone.getAttribute("href"), "tel:+919845011101");
  await page.getByText("Ring the bell").waitFor();
  assert.equal(await page.getByRole("link", { name: "Receipt (PDF)" }).getAttribute("href"), `/api/v1/orders/${first.id}/receipt.pdf`);
  await page.getByRole("log").waitFor();
  await shoot(page, "vendor-order");

  // Cancel asks first; saying no changes nothing.
  await page.getByRole("button", { name: `Cancel ${first.display_id}` }).click();
  await page.getByRole("button", { name: "Keep the order" }).click();
  assert.equal((await asha.get(`/orders/${first.id}`)).status, "NEW");
  const stockBefore = (await asha.get(`/products/${samosa.id}`)).stock;
  await page.getByRole("button", { name: `Cancel ${first.display_id}` }).click();
  const confirm = page.getByRole("group", { name: `Confirm: cancel order ${first.display_id}` });
  await confirm.getByLabel("Reason").fill("Out of samosas, sorry");
  await confirm.getByRole("button", { name: "Yes, cancel order" }).click();
  await page.getByText("Cancelled: Out of samosas, sorry").waitFor();
  const cancelled = await asha.get(`/orders/${first.id}`);
  assert.equal(cancelled.status, "CANCELLED");
  assert.equal((await asha.get(`/products/${samosa.id}`)).stock, stockBefore + enough(samosa), "the samosas are back in stock");
  const told = await asha.get("/notifications");
  assert.ok(told.items.some((n) => n.title === "Order cancelled" && n.message.includes("Out of samosas")), JSON.stringify(told.items));

  // The inbox lists a student's message, live, and opens the order's chat.
  await page.getByRole("navigation", { name: "Shop" }).getByRole("link", { name: "Inbox" }).click();
  await page.getByRole("heading", { name: "Inbox" }).waitFor();
  const r = await ravi.call("POST", `/orders/${third.id}/messages`, { body: "Can you bring change for 500?" });
  assert.equal(r.status, 201);
  const thread = page.getByTestId(`thread-${third.display_id}`);
  await thread.getByText("Can you bring change for 500?").waitFor({ timeout: 10000 });
  await thread.getByText("Ravi Kumar").waitFor();
  await shoot(page, "vendor-inbox");
  await thread.getByRole("link").click();
  await page.getByRole("heading", { name: `Order ${third.display_id}` }).waitFor();
  await page.getByRole("log").getByText("Can you bring change for 500?").waitFor();

  assert.deepEqual(real(vendor.errors), [], "vendor console errors");
  await vendor.ctx.close();
});
