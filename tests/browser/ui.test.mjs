// The web UI end to end, in headless Chromium against the real binary on
// the demo campus: a student registers and orders, the vendor locks the
// batch in another browser and the student's page shows the OTP without a
// reload, the vendor delivers with it, the student reviews; an admin
// verifies a new shop; an order placed offline is sent exactly once when
// the network returns. Screenshots of each role's main screen land in
// docs/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { startSeededServer, launchBrowser, watchConsole } from "./server.mjs";

const SHOTS = resolve(import.meta.dirname, "../../docs/screenshots");
const SHOP = "Foot Hill Canteen";
const ITEM = "Samosa (2 pcs)";
const STUDENT = { email: "kavya@uphill.test", name: "Kavya Rao", password: "kavya-password-1" };

let server;
let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // One-second rollups, so the admin charts have points within the test.
  server = await startSeededServer({ UPHILL_METRICS__ROLLUP_SECS: "1" });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Console errors, less the browser's log line for each expected 4xx answer (shown to the user as the problem's detail). */
const real = (errors) => errors.filter((e) => !/Failed to load resource: the server responded with a status of 4\d\d/.test(e));

async function context(width) {
  const ctx = await browser.newContext({
    viewport: { width, height: width < 500 ? 780 : 900 },
    baseURL: server.base,
  });
  const page = await ctx.newPage();
  return { ctx, page, errors: watchConsole(page) };
}

/** The same screen at 360 px and 1280 px wide. */
async function shoot(page, name) {
  const size = page.viewportSize();
  for (const width of [360, 1280]) {
    await page.setViewportSize({ width, height: width < 500 ? 780 : 900 });
    await page.waitForTimeout(150);
    // Mobile first: nothing may force sideways scrolling at 360 px.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px scrolls sideways by ${overflow} px`);
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: false });
  }
  await page.setViewportSize(size);
}

async function signIn(page, email, password) {
  await page.goto("/login");
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Shops" }).waitFor();
}

/** The API as the student, from Node, with the browser's session cookie. */
async function apiAs(ctx, path) {
  const cookies = await ctx.cookies(server.base);
  const res = await fetch(`${server.base}${path}`, {
    headers: { cookie: cookies.map((c) => `${c.name}=${c.value}`).join("; ") },
  });
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return res.json();
}

async function addToCartAndCheckout(page) {
  await page.goto("/");
  await page.getByRole("link", { name: new RegExp(SHOP) }).click();
  await page.getByRole("heading", { name: SHOP }).waitFor();
  await page.getByRole("button", { name: `Add ${ITEM} to cart` }).click();
  await page.getByRole("button", { name: `One more ${ITEM}` }).click();
  await page.getByRole("link", { name: /^Checkout/ }).click();
  await page.getByRole("heading", { name: `Checkout: ${SHOP}` }).waitFor();
}

let student;

test("a student orders, sees the OTP live when the vendor locks, and reviews after delivery", async () => {
  student = await context(360);
  const { page } = student;
  await page.goto("/register");
  await page.getByLabel("Email").fill(STUDENT.email);
  await page.getByLabel("Name").fill(STUDENT.name);
  await page.getByLabel("Password", { exact: true }).fill(STUDENT.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Shops" }).waitFor();
  await page.getByRole("link", { name: new RegExp(SHOP) }).waitFor();
  await shoot(page, "student-shops");

  await addToCartAndCheckout(page);
  // The countdown to the batch cutoff and every fee, spelled out.
  await page.getByRole("timer").waitFor();
  assert.match(await page.getByRole("timer").innerText(), /closes at .*left to order/);
  const bill = page.getByRole("table", { name: "Bill" });
  for (const row of ["Subtotal", "Delivery fee", "Platform fee", "Total"]) {
    await bill.getByRole("rowheader", { name: row, exact: true }).waitFor();
  }
  assert.equal(await page.getByTestId("subtotal").innerText(), "₹60.00");
  // Demo fees: delivery ₹10, platform ₹2.
  assert.equal(await page.getByTestId("total").innerText(), "₹72.00");

  // No address yet: one is added right here.
  await page.getByLabel("Room").fill("C-7");
  await page.getByRole("button", { name: "Save address" }).click();
  await page.getByRole("radio", { name: /room C-7/ }).waitFor();
  await page.getByRole("button", { name: /^Place order/ }).click();
  await page.waitForURL(/\/orders\/[0-9A-Z]{26}$/);
  const heading = await page.getByRole("heading", { name: /^Order UP-/ }).innerText();
  const displayId = heading.replace("Order ", "");
  assert.equal(await page.getByTestId("otp").count(), 0, "no OTP before the batch locks");

  // From here on the student's page must never load again.
  let loads = 0;
  page.on("load", () => loads++);

  const vendor = await context(1280);
  await signIn(vendor.page, "canteen@uphill.test", server.password);
  await vendor.page.getByRole("link", { name: "My shop" }).click();
  await vendor.page.getByRole("heading", { name: "Today's batches" }).waitFor();
  await vendor.page.getByRole("link", { name: /batch.*Open/i }).first().waitFor();
  await shoot(vendor.page, "vendor-batches");
  await vendor.page.getByRole("link", { name: /batch.*Open/i }).first().click();
  await vendor.page.getByTestId(`order-${displayId}`).waitFor();

  // Chat, live both ways: neither page reloads.
  const vendorRow = vendor.page.getByTestId(`order-${displayId}`);
  await vendorRow.getByText(`Chat about ${displayId}`).click();
  const vendorLog = vendorRow.getByRole("log");
  await vendorLog.getByText("No messages yet.").waitFor();
  let vendorLoads = 0;
  vendor.page.on("load", () => vendorLoads++);
  await page.getByLabel("Message to the shop").fill("Please add extra chutney");
  await page.getByRole("button", { name: "Send" }).click();
  await page.getByRole("log").getByText("Please add extra chutney").waitFor();
  assert.equal(await page.getByLabel("Message to the shop").inputValue(), "", "the box empties once sent");
  await vendorLog.getByText("Please add extra chutney").waitFor({ timeout: 10000 });
  await vendorLog.getByText(STUDENT.name).waitFor();
  await vendorRow.getByLabel(`Message to the student (${displayId})`).fill("Sure, packing it now");
  await vendorRow.getByRole("button", { name: "Send" }).click();
  await page.getByRole("log").getByText("Sure, packing it now").waitFor({ timeout: 10000 });
  assert.equal(await page.getByRole("log").getByRole("listitem").count(), 2);
  assert.equal(vendorLoads, 0, "the vendor's page was not reloaded");
  assert.equal(loads, 0, "the order page was not reloaded");
  const thread = await apiAs(student.ctx, `/api/v1/orders/${page.url().split("/").pop()}/messages`);
  assert.deepEqual(
    thread.map((m) => [m.sender, m.body]),
    [
      ["STUDENT", "Please add extra chutney"],
      ["SHOP", "Sure, packing it now"],
    ],
  );
  await shoot(page, "student-order-chat");

  await vendor.page.getByRole("button", { name: "Lock now" }).click();

  // The OTP arrives over SSE, large, without a reload.
  const otpBox = page.getByTestId("otp");
  await otpBox.waitFor({ timeout: 10000 });
  const otp = (await otpBox.innerText()).trim();
  assert.match(otp, /^\d{4}$/);
  assert.equal(loads, 0, "the order page was not reloaded");
  const fontSize = await otpBox.evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  assert.ok(fontSize >= 40, `OTP font ${fontSize}px`);
  await shoot(page, "student-order-otp");
  // The vendor never sees it.
  assert.equal(await vendor.page.getByText(otp, { exact: true }).count(), 0);

  // The runner sees the locked batch.
  const runner = await context(360);
  await signIn(runner.page, "runner@uphill.test", server.password);
  await runner.page.goto("/runs");
  await runner.page.getByRole("link", { name: /Locked/ }).first().waitFor();
  await shoot(runner.page, "runner-runs");
  await runner.ctx.close();

  // Dispatch, a milestone the student sees live, a wrong OTP, then the right one.
  await vendor.page.getByRole("button", { name: /^Dispatch/ }).click();
  await vendor.page.getByLabel("Milestone").waitFor();
  await page.getByRole("listitem").filter({ hasText: "On the way" }).locator(".muted").waitFor();
  await vendor.page.getByLabel("Milestone").selectOption("MIDWAY");
  await vendor.page.getByRole("button", { name: "Set milestone" }).click();
  await page.getByTestId("milestone").waitFor({ timeout: 10000 });

  const row = vendor.page.getByTestId(`order-${displayId}`);
  const wrong = otp === "0000" ? "1111" : "0000";
  await row.getByLabel(`OTP for ${displayId}`).fill(wrong);
  await row.getByRole("button", { name: "Delivered" }).click();
  // The problem's detail, shown as is.
  await row.getByRole("alert").waitFor();
  assert.match(await row.getByRole("alert").innerText(), /OTP|code/i);
  await row.getByLabel(`OTP for ${displayId}`).fill(otp);
  await row.getByRole("button", { name: "Delivered" }).click();
  await row.getByText("Completed").waitFor();

  // The student's page turns to "Delivered" and offers reviews, live.
  const review = page.getByRole("form", { name: `Review ${ITEM}` });
  await review.waitFor({ timeout: 10000 });
  assert.equal(await page.getByTestId("otp").count(), 0, "the OTP is gone once delivered");
  await review.getByLabel("4 stars").check();
  await review.getByLabel(`Comment on ${ITEM}`).fill("Crisp and hot after the climb");
  await review.getByRole("button", { name: "Submit review" }).click();
  await page.getByText(`Thanks for reviewing ${ITEM}`).waitFor();
  assert.equal(loads, 0, "the order page was not reloaded");

  const orders = await apiAs(student.ctx, "/api/v1/orders");
  assert.equal(orders.items.length, 1);
  assert.equal(orders.items[0].status, "COMPLETED");
  const product = orders.items[0].items[0].product_id;
  const reviews = await apiAs(student.ctx, `/api/v1/products/${product}/reviews`);
  assert.ok(reviews.some((r) => r.rating === 4 && r.comment === "Crisp and hot after the climb"));

  // Quick restock from the products screen.
  await vendor.page.getByRole("link", { name: "Products" }).click();
  const stock = vendor.page.getByTestId(`stock-${ITEM}`);
  const was = Number(await stock.innerText());
  await vendor.page.getByRole("button", { name: `Restock ${ITEM} by 10` }).click();
  await vendor.page.getByTestId(`stock-${ITEM}`).filter({ hasText: String(was + 10) }).waitFor();
  const p = await apiAs(student.ctx, `/api/v1/products/${product}`);
  assert.equal(p.stock, was + 10);

  assert.deepEqual(real(vendor.errors), [], "vendor console errors");
  await vendor.ctx.close();
});

test("an admin verifies a new shop", async () => {
  const owner = await context(1280);
  const p = owner.page;
  await p.goto("/register");
  await p.getByLabel("Email").fill("nila@uphill.test");
  await p.getByLabel("Name").fill("Nila Das");
  await p.getByLabel("Password", { exact: true }).fill("nila-password-1");
  await p.getByRole("button", { name: "Create account" }).click();
  await p.getByRole("heading", { name: "Shops" }).waitFor();
  await p.goto("/vendor");
  await p.getByRole("heading", { name: "Open a shop" }).waitFor();
  await p.getByLabel("Shop name").fill("Nila's Notebooks");
  await p.getByLabel("Description").fill("Notebooks, pens and printouts.");
  await p.getByLabel("Location in the market").fill("Market row 2, shop 9");
  await p.getByLabel("Type").selectOption("STATIONERY");
  await p.getByRole("button", { name: "Create shop" }).click();
  await p.getByRole("link", { name: "Shop settings" }).click();
  await p.getByRole("button", { name: "Submit for verification" }).click();
  await p.getByText("Pending", { exact: true }).first().waitFor();

  const admin = await context(1280);
  await signIn(admin.page, "admin@uphill.test", server.password);
  await admin.page.getByRole("link", { name: "Admin" }).click();
  const card = admin.page.getByTestId("shop-Nila's Notebooks");
  await card.waitFor();
  // The owner's details are there to check.
  await card.getByText("Nila Das · nila@uphill.test").waitFor();
  await shoot(admin.page, "admin-verify");
  await card.getByLabel(/Note to the owner/).fill("Checked the stall in person.");
  await card.getByRole("button", { name: "Verify" }).click();
  await card.waitFor({ state: "detached" });

  await p.reload();
  await p.getByText("Verified", { exact: true }).first().waitFor();
  const shops = await (await fetch(`${server.base}/api/v1/shops`)).json();
  assert.ok(shops.some((s) => s.name === "Nila's Notebooks" && s.verification === "VERIFIED"));
  assert.deepEqual(real(admin.errors), [], "admin console errors");
  await owner.ctx.close();
  await admin.ctx.close();
});

test("an order placed offline waits for the network and is sent exactly once", async () => {
  const { ctx, page, errors } = student;
  await page.setViewportSize({ width: 1280, height: 900 });
  const before = (await apiAs(ctx, "/api/v1/orders")).items.length;
  // Seen once online, the orders list is readable offline later.
  await page.goto("/orders");
  await page.getByRole("link", { name: /^UP-/ }).first().waitFor();
  await addToCartAndCheckout(page);
  await page.getByRole("radio", { name: /room C-7/ }).waitFor();
  // The service worker has taken over by now: the shell and catalog stay readable.
  await page.evaluate(() => navigator.serviceWorker.ready);

  await ctx.setOffline(true);
  await page.getByRole("status").filter({ hasText: "You are offline" }).waitFor();
  await page.getByRole("button", { name: /^Place order/ }).click();
  await page.getByTestId("queued").waitFor();
  assert.match(await page.getByTestId("queued").innerText(), /Waiting for network/);
  await page.getByRole("link", { name: "See your orders" }).click();
  const waiting = page.getByRole("list", { name: "Orders not yet sent" });
  await waiting.getByText("waiting for network").waitFor();
  // A cold load offline: the service worker serves the shell, the catalog
  // and the orders it saw; the queued order is still there.
  await page.reload();
  await waiting.getByText("waiting for network").waitFor();
  await page.getByRole("link", { name: /^UP-/ }).first().click();
  await page.getByRole("heading", { name: /^Order UP-/ }).waitFor();
  await page.getByRole("link", { name: "Shops" }).click();
  await page.getByRole("link", { name: new RegExp(SHOP) }).click();
  await page.getByRole("button", { name: `Add ${ITEM} to cart` }).waitFor();
  await page.getByRole("link", { name: "Orders" }).click();
  await waiting.waitFor();

  // Nothing reached the server while offline (Node's fetch is not the browser's network).
  assert.equal((await apiAs(ctx, "/api/v1/orders")).items.length, before);

  // Back online: sent once, and the queue empties.
  await ctx.setOffline(false);
  await waiting.waitFor({ state: "detached", timeout: 10000 }).catch(async (e) => {
    throw new Error(`still queued: ${await waiting.innerText()}\n${e.message}`);
  });
  await page.getByRole("link", { name: /^UP-/ }).nth(before).waitFor();
  // A second "online" must not send it again.
  await page.evaluate(() => window.dispatchEvent(new Event("online")));
  await page.waitForTimeout(1000);
  const after = await apiAs(ctx, "/api/v1/orders");
  assert.equal(after.items.length, before + 1, "exactly one order was placed");
  assert.equal(after.items[0].status, "NEW");
  assert.equal(await page.evaluate(() => localStorage.getItem("uphill.outbox")), "[]");
  assert.deepEqual(
    real(errors).filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch|net::|EventSource|Failed to load resource|FetchEvent/.test(e)),
    [],
    "student console errors",
  );
  await ctx.close();
});

test("an admin sees metrics charts after some traffic, and backs up", async () => {
  // Some traffic for the rollups to count.
  for (let i = 0; i < 20; i++) await fetch(`${server.base}/api/v1/shops`);
  await new Promise((r) => setTimeout(r, 2500));
  const admin = await context(1280);
  await signIn(admin.page, "admin@uphill.test", server.password);
  await admin.page.goto("/admin/metrics");
  await admin.page.getByRole("heading", { name: "Metrics" }).waitFor();
  for (const key of ["requests", "p95", "5xx", "orders", "batches", "sse", "disk"]) {
    await admin.page.getByTestId(`chart-${key}`).waitFor();
  }
  // Requests were counted: the line is drawn and its maximum is above zero.
  const requests = admin.page.getByTestId("chart-requests");
  const d = await requests.locator("svg path").getAttribute("d");
  assert.match(d, /^M[\d.]+ [\d.]+(L[\d.]+ [\d.]+)+$/, `requests path ${d}`);
  const label = await requests.getByRole("img").getAttribute("aria-label");
  const max = Number(label.match(/highest (\d+)/)?.[1]);
  assert.ok(max > 0, label);
  assert.ok((await admin.page.locator(".chart svg path").count()) >= 5, "most series have a line");
  await admin.page.getByRole("button", { name: "Last week" }).click();
  await admin.page.getByRole("button", { name: "Last week", pressed: true }).waitFor();
  // A week of one-second rollups folds into one ten-minute point: a flat stroke.
  await admin.page.getByTestId("chart-requests").locator("svg path").waitFor({ state: "attached" });
  await admin.page.getByRole("button", { name: "Last day" }).click();
  await admin.page.getByTestId("chart-requests").locator("svg path").waitFor({ state: "attached" });
  await shoot(admin.page, "admin-metrics");

  await admin.page.goto("/admin/backups");
  await admin.page.getByText("No backups yet.").waitFor();
  await admin.page.getByRole("button", { name: "Back up now" }).click();
  const link = admin.page.getByRole("link", { name: /^Download the backup of/ });
  await link.first().waitFor({ timeout: 20000 });
  const href = await link.first().getAttribute("href");
  const cookies = await admin.ctx.cookies(server.base);
  const res = await fetch(`${server.base}${href}`, { headers: { cookie: cookies.map((c) => `${c.name}=${c.value}`).join("; ") } });
  assert.equal(res.status, 200);
  const gz = new Uint8Array(await res.arrayBuffer());
  assert.deepEqual([gz[0], gz[1]], [0x1f, 0x8b], "a gzip archive");
  // Without the session the archive is refused.
  assert.equal((await fetch(`${server.base}${href}`)).status, 401);
  await shoot(admin.page, "admin-backups");
  assert.deepEqual(real(admin.errors), [], "admin console errors");
  await admin.ctx.close();
});
