// The web UI end to end, in headless Chromium against the real binary on
// the demo campus: a student registers and orders, the vendor locks the
// batch in another browser and the student's page shows the OTP without a
// reload, the vendor delivers with it, the student reviews; an admin
// verifies a new shop; an order placed offline is sent exactly once when
// the network returns. Screenshots of each role's main screen land in
// docs/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startSeededServer, startSmtpSink, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, until, openContext, apiAs as apiGet, postJson as post } from "./kit.mjs";
import { crc32, deflateSync } from "node:zlib";

const SHOP = "Foot Hill Canteen";
const ITEM = "Samosa (2 pcs)";
const STUDENT = { email: "kavya@uphill.test", name: "Kavya Rao", password: "kavya-password-1" };

let server;
let browser;
let smtp;

const context = (width, options = {}) => openContext(browser, server.base, width, options);
const apiAs = (ctx, path) => apiGet(server.base, ctx, path);
const postJson = (path, body) => post(server.base, path, body);

before(async () => {
  // Mail goes to a real SMTP server, so the mailed links can be followed.
  smtp = await startSmtpSink();
  server = await startSeededServer({
    // One-second rollups, so the admin charts have points within the test.
    UPHILL_METRICS__ROLLUP_SECS: "1",
    // Alert rules evaluated every second, so a dead letter opens an incident at once.
    UPHILL_ALERTS__INTERVAL_SECS: "1",
    // Every sign-up here comes from loopback.
    UPHILL_AUTH__REGISTRATIONS_PER_IP_PER_HOUR: "1000",
    ...smtp.env,
  });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await smtp?.stop();
});

async function addToCartAndCheckout(page) {
  await page.goto("/");
  await page.getByRole("link", { name: new RegExp(SHOP) }).click();
  await page.getByRole("heading", { name: SHOP }).waitFor();
  await page.getByRole("button", { name: `Add ${ITEM} to cart` }).click();
  await page.getByRole("button", { name: `One more ${ITEM}` }).click();
  await page.getByRole("link", { name: /^Checkout/ }).click();
  await page.getByRole("heading", { name: `Checkout: ${SHOP}` }).waitFor();
}

/**
 * Signs up through the form: the page says "check your mail" and signs nobody
 * in; the mailed confirmation link then confirms the address and signs in.
 */
async function signUp(page, user) {
  await page.goto("/register");
  await page.getByLabel("Email").fill(user.email);
  await page.getByLabel("Name").fill(user.name);
  await page.getByLabel("Password", { exact: true }).fill(user.password);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("heading", { name: "Check your mail" }).waitFor();
  await page.getByRole("status").filter({ hasText: user.email }).waitFor();
  const mail = await smtp.waitFor(user.email, /Confirm your email/);
  const link = new URL(mail.text.match(/(http\S+\/verify-email\?token=[0-9a-f]{64})/)[1]);
  await page.goto(link.pathname + link.search);
  await page.getByRole("status").filter({ hasText: `Thank you: ${user.email} is confirmed.` }).waitFor();
  await page.getByRole("link", { name: "Go to the shops" }).click();
}

let student;

test("a student orders, sees the OTP live when the vendor locks, and reviews after delivery", async () => {
  student = await context(360);
  const { page } = student;
  await signUp(page, STUDENT);
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

  // No address yet: one is added right here; the building is asked, never guessed.
  const save = page.getByRole("button", { name: "Save address" });
  await page.getByLabel("Room").fill("C-7");
  assert.ok(await save.isDisabled(), "no building chosen yet");
  await page.getByLabel("Building").selectOption({ label: "Hostel C" });
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
  const thread = (await apiAs(student.ctx, `/api/v1/orders/${page.url().split("/").pop()}/messages`)).items;
  assert.deepEqual(
    thread.map((m) => [m.sender, m.body]),
    [
      ["STUDENT", "Please add extra chutney"],
      ["SHOP", "Sure, packing it now"],
    ],
  );
  await shoot(page, "student-order-chat");

  await vendor.page.getByRole("button", { name: "Lock now" }).click();
  await vendor.page.getByRole("button", { name: "Yes, lock" }).click();

  // The OTP arrives over SSE, large, without a reload.
  const otpBox = page.getByTestId("otp");
  await otpBox.waitFor({ timeout: 10000 });
  const otp = (await otpBox.innerText()).trim();
  assert.match(otp, /^\d{4}$/);
  assert.equal(loads, 0, "the order page was not reloaded");
  const fontSize = await otpBox.evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
  assert.ok(fontSize >= 40, `OTP font ${fontSize}px`);
  // The OTP itself in view (the chat above may have scrolled the page past it).
  await shoot(page, "student-order-otp", otpBox);
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
  // The milestone is the order's too: a reload still shows it.
  await page.reload();
  await page.getByTestId("milestone").locator(".done").nth(2).waitFor();
  loads = 0;

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
  // A reload remembers the review instead of asking again.
  await page.reload();
  await page.getByText(`Thanks for reviewing ${ITEM}`).waitFor();
  assert.equal(await page.getByRole("form", { name: `Review ${ITEM}` }).count(), 0);

  const orders = await apiAs(student.ctx, "/api/v1/orders");
  assert.equal(orders.items.length, 1);
  assert.equal(orders.items[0].status, "COMPLETED");
  const product = orders.items[0].items[0].product_id;
  const reviews = (await apiAs(student.ctx, `/api/v1/products/${product}/reviews`)).items;
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
  await signUp(p, { email: "nila@uphill.test", name: "Nila Das", password: "nila-password-1" });
  await p.getByRole("heading", { name: "Shops" }).waitFor();
  await p.goto("/vendor");
  await p.getByRole("heading", { name: "Open a shop" }).waitFor();
  await p.getByLabel("Shop name").fill("Nila's Notebooks");
  await p.getByLabel("Description").fill("Notebooks, pens and printouts.");
  await p.getByLabel("Location in the market").fill("Market row 2, shop 9");
  await p.getByLabel("Type").selectOption("STATIONERY");
  await p.getByLabel("UPI id (optional now)").fill("nila@okaxis");
  await p.getByRole("button", { name: "Create shop" }).click();
  // Verification needs a product and an active slot too (the UPI id is given).
  await p.getByRole("link", { name: "Products" }).click();
  const product = p.getByRole("form", { name: "New product" });
  await product.getByLabel("Name").fill("A5 notebook");
  await product.getByLabel("Price").fill("40");
  await product.getByRole("button", { name: "Add product" }).click();
  await p.getByTestId("product-A5 notebook").waitFor();
  await p.getByRole("link", { name: "Slots" }).click();
  const slot = p.getByRole("form", { name: "New slot" });
  await slot.getByLabel("Label").fill("5 PM Batch");
  await slot.getByRole("button", { name: "Add slot" }).click();
  await p.getByTestId("slot-5 PM Batch").waitFor();
  await p.getByRole("link", { name: "Shop settings" }).click();
  await p.getByRole("button", { name: "Submit for verification" }).click();
  await p.getByText("Pending", { exact: true }).first().waitFor();

  const admin = await context(1280);
  await signIn(admin.page, "admin@uphill.test", server.password);
  await admin.page.getByRole("link", { name: "Admin" }).click();
  await admin.page.getByRole("navigation", { name: "Admin" }).getByRole("link", { name: "Shops", exact: true }).click();
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
  const shops = (await (await fetch(`${server.base}/api/v1/shops`)).json()).items;
  assert.ok(shops.some((s) => s.name === "Nila's Notebooks" && s.verification === "VERIFIED"));
  assert.deepEqual(real(admin.errors), [], "admin console errors");
  await owner.ctx.close();
  await admin.ctx.close();
});

/**
 * Counts the context's requests (the page's and its service worker's) and
 * knows which are still in flight; the live event stream never ends, so it
 * is left out.
 */
function trackRequests(ctx) {
  const inflight = new Set();
  const seen = [];
  const live = (r) => !r.url().includes("/api/v1/events");
  ctx.on("request", (r) => {
    if (!live(r)) return;
    inflight.add(r);
    seen.push(r);
  });
  ctx.on("requestfinished", (r) => inflight.delete(r));
  ctx.on("requestfailed", (r) => inflight.delete(r));
  return {
    seen,
    /** Resolves once nothing has been in flight for `quiet` ms (at most `timeout`). */
    async idle(quiet = 300, timeout = 10000) {
      const deadline = Date.now() + timeout;
      let calm = Date.now();
      for (;;) {
        if (inflight.size > 0) calm = Date.now();
        else if (Date.now() - calm >= quiet) return;
        if (Date.now() > deadline) throw new Error(`still in flight: ${[...inflight].map((r) => `${r.method()} ${r.url()}`).join(", ")}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

const isPlace = (r) => r.method() === "POST" && new URL(r.url()).pathname === "/api/v1/orders";

test("an order placed offline waits for the network and is sent exactly once", async (t) => {
  const { ctx, page, errors } = student;
  await page.setViewportSize({ width: 1280, height: 900 });
  const requests = trackRequests(ctx);
  // Seen once online, the orders list is readable offline later.
  await page.goto("/orders");
  await page.getByRole("link", { name: /^UP-/ }).first().waitFor();
  await addToCartAndCheckout(page);
  await page.getByRole("radio", { name: /room C-7/ }).waitFor();
  // The service worker has taken over by now: the shell and catalog stay readable.
  await page.evaluate(() => navigator.serviceWorker.ready);
  // Settle first: whatever the app had in flight (the previous test's
  // order, a cart sync) lands before the network goes, so the count taken
  // here is the one nothing may change while offline.
  await requests.idle();
  const before = (await apiAs(ctx, "/api/v1/orders")).items.length;
  assert.equal(await page.evaluate(() => localStorage.getItem("uphill.outbox") || "[]"), "[]", "nothing queued yet");
  const fromHere = requests.seen.length;

  const offlineAt = new Date().toISOString();
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

  // The app tried nothing while offline: no order request left the page
  // or its service worker.
  const offlineTries = requests.seen.slice(fromHere).filter(isPlace);
  assert.deepEqual(offlineTries.map((r) => r.url()), [], "no order was sent while offline");
  // What the server holds (Node's fetch is not the browser's network).
  // Chromium's emulated offline has a hole: about one run in five the
  // queued order reached the server although the page made no request
  // Playwright saw and the page itself was told it failed (never so with
  // the network really gone). Then it must be that same order, which the
  // replay below proves; anything else is a bug.
  const during = (await apiAs(ctx, "/api/v1/orders")).items;
  const leaked = during.length === before + 1 ? during[0] : null;
  assert.ok(
    during.length === before || leaked,
    `orders reached the server while offline (offline from ${offlineAt}): ${JSON.stringify(during.map((o) => [o.display_id, o.created_at]))}; ` +
      `requests seen while offline: ${requests.seen.slice(fromHere).map((r) => `${r.method()} ${r.url()}${r.serviceWorker() ? " (worker)" : ""}`).join(", ")}`,
  );
  const queued = JSON.parse(await page.evaluate(() => localStorage.getItem("uphill.outbox")));
  assert.equal(queued.length, 1);
  const key = queued[0].key;

  // Back online: sent once, with the key it was composed with, and the queue empties.
  const fromOnline = requests.seen.length;
  await ctx.setOffline(false);
  await waiting.waitFor({ state: "detached", timeout: 10000 }).catch(async (e) => {
    throw new Error(`still queued: ${await waiting.innerText()}\n${e.message}`);
  });
  await page.getByRole("link", { name: /^UP-/ }).nth(before).waitFor();
  // A second "online" must not send it again.
  await page.evaluate(() => window.dispatchEvent(new Event("online")));
  await page.waitForTimeout(1000);
  await requests.idle();
  const sent = requests.seen.slice(fromOnline).filter(isPlace);
  assert.equal(sent.length, 1, `one POST /orders after reconnect, saw ${sent.length}`);
  assert.equal((await sent[0].allHeaders())["idempotency-key"], key);
  const answer = await sent[0].response();
  const placed = await answer.json();
  if (leaked) {
    t.diagnostic(`emulated offline let the queued order ${leaked.display_id} through; the reconnect replayed it`);
    // The server had it already: the same key replays the same order.
    assert.equal(answer.status(), 200);
    assert.equal((await answer.allHeaders())["idempotent-replayed"], "true");
    assert.equal(placed.id, leaked.id, "the order that slipped through is the queued one");
  } else {
    assert.equal(answer.status(), 201);
  }
  const after = await apiAs(ctx, "/api/v1/orders");
  assert.equal(after.items.length, before + 1, "exactly one order was placed");
  assert.equal(after.items[0].id, placed.id);
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

test("search as you type: debounced, stale answers dropped, typos forgiven, keyboard usable", async () => {
  // No service worker here: the test holds back one answer in flight (routes miss what a worker fetches).
  const { ctx, page, errors } = await context(360, { serviceWorkers: "block" });
  const searches = [];
  page.on("request", (r) => r.url().includes("/api/v1/search?") && searches.push(r));
  const aborted = [];
  page.on("requestfailed", (r) => r.url().includes("/api/v1/search?") && aborted.push(new URL(r.url()).searchParams.get("q")));
  // The answer for "pan" is held back 2 s: it must never replace a later query's results.
  await page.route(/\/api\/v1\/search\?/, async (route) => {
    if (new URL(route.request().url()).searchParams.get("q") === "pan") await new Promise((r) => setTimeout(r, 2000));
    await route.continue().catch(() => {});
  });
  await page.goto("/");
  const box = page.getByRole("searchbox", { name: "Search products and shops" });
  await box.pressSequentially("pan", { delay: 40 });
  // "pan" is asked for (after the pause), then overtaken while its answer is held.
  await page.waitForFunction(() => document.querySelector("[data-testid=search-status]")?.textContent === "Searching…");
  await page.waitForTimeout(400);
  await box.pressSequentially("ner r", { delay: 40 });
  const products = page.getByRole("list", { name: "Products found" });
  // The index is updated within a second of a write; the seed is older than that, but bound the wait anyway.
  await products.getByRole("link", { name: "Paneer Roll" }).waitFor({ timeout: 10000 });
  const status = page.getByTestId("search-status");
  assert.match(await status.innerText(), /for “panner r”$/);
  await page.waitForTimeout(2300);
  assert.match(await status.innerText(), /for “panner r”$/, "the held-back answer for “pan” did not overwrite the results");
  assert.ok(aborted.includes("pan"), `the stale request was aborted (aborted: ${aborted})`);
  // Debounced: far fewer requests than keystrokes (8), the last for the whole text.
  const productQueries = searches.map((r) => new URL(r.url()).searchParams).filter((q) => q.get("kind") === "products");
  assert.ok(productQueries.length <= 3, `${productQueries.length} product searches for 8 keystrokes`);
  assert.equal(productQueries.at(-1).get("q"), "panner r");
  // The hit names its shop, linked.
  const hit = products.getByRole("listitem").filter({ hasText: "Paneer Roll" });
  await hit.getByRole("link", { name: SHOP }).waitFor();
  // The query is in the address.
  assert.equal(new URL(page.url()).searchParams.get("q"), "panner r");
  await shoot(page, "student-search", box);

  // Keyboard: down arrow from the box to the first result, Enter opens it.
  await box.focus();
  await page.keyboard.press("ArrowDown");
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), "Paneer Roll");
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Paneer Roll" }).waitFor();
  // Back: the search is still there.
  await page.goBack();
  await products.getByRole("link", { name: "Paneer Roll" }).waitFor();
  assert.equal(await box.inputValue(), "panner r");

  // Shops are found too.
  await box.fill("inkwel");
  await page.getByRole("list", { name: "Shops found" }).getByRole("link", { name: /Inkwell Stationers/ }).waitFor({ timeout: 10000 });

  // Filters: the sold-out Gulab Jamun goes away with "In stock only".
  await box.fill("gulab");
  await products.getByRole("listitem").filter({ hasText: "Gulab Jamun" }).getByText("sold out").waitFor({ timeout: 10000 });
  await page.getByLabel("In stock only").check();
  await status.filter({ hasText: "Nothing matches “gulab”." }).waitFor();
  await page.getByLabel("In stock only").uncheck();
  await page.getByLabel("Veg only").check();
  await box.fill("roll");
  await products.getByRole("link", { name: "Paneer Roll" }).waitFor();
  assert.equal(await products.getByRole("link", { name: "Egg Roll" }).count(), 0, "veg only hides the egg roll");
  await page.getByLabel("Veg only").uncheck();
  await products.getByRole("link", { name: "Egg Roll" }).waitFor();

  // Empty and error states: the server's problem detail, as is.
  await box.fill("zzqxwv");
  await status.filter({ hasText: "Nothing matches “zzqxwv”." }).waitFor();
  await box.fill("!!!");
  await page.getByRole("alert").filter({ hasText: "q: must contain at least one letter or digit" }).waitFor();
  // Clearing the box brings the shop list back.
  await box.fill("");
  await page.getByRole("link", { name: new RegExp(SHOP) }).waitFor();
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

/** A real PNG (solid colour, `size` px square), built here so the test needs no fixture file. */
function png(size, [r, g, b]) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([len, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: size }, () => [r, g, b]).flat())]);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk("IHDR", ihdr), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

test("a vendor adds a product photo: preview first, then the server's thumbnail; a fake image is refused with the detail", async () => {
  const vendor = await context(360, { serviceWorkers: "block" });
  const { page } = vendor;
  await signIn(page, "canteen@uphill.test", server.password);
  await page.goto("/vendor/products");
  const product = "Paneer Roll";
  await page.getByRole("button", { name: `Edit ${product}` }).click();
  const input = page.getByLabel(`Photo of ${product}`);
  assert.equal(await input.getAttribute("accept"), "image/jpeg,image/png,image/webp");

  // The upload is held until the preview has been seen, so the order is certain.
  let release;
  const held = new Promise((r) => (release = r));
  await page.route("**/api/v1/uploads", async (route) => {
    await held;
    await route.continue();
  });
  await input.setInputFiles({ name: "roll.png", mimeType: "image/png", buffer: png(320, [200, 120, 40]) });
  const preview = page.getByTestId("photo-preview");
  await preview.waitFor();
  assert.match(await preview.getAttribute("src"), /^blob:/, "the local preview comes first");
  await page.getByRole("status").filter({ hasText: "Uploading…" }).waitFor();
  release();
  const served = page.getByTestId("photo-served");
  await served.waitFor({ timeout: 15000 });
  const src = await served.getAttribute("src");
  assert.match(src, /^\/files\/[0-9a-f]{64}\/thumb$/);
  await page.getByRole("status").filter({ hasText: "Photo saved (320 × 320)." }).waitFor();
  // The thumbnail really loaded from the server.
  await page.waitForFunction(() => {
    const img = document.querySelector("[data-testid=photo-served]");
    return img && img.complete && img.naturalWidth > 0;
  });
  const id = src.split("/")[2];
  const shops = (await (await fetch(`${server.base}/api/v1/shops`)).json()).items;
  const canteen = shops.find((s) => s.name === SHOP);
  const list = (await (await fetch(`${server.base}/api/v1/shops/${canteen.id}/products`)).json()).items;
  const stored = list.find((p) => p.name === product);
  assert.equal(stored.image?.id, id, "the product refers to the upload");
  const thumb = await fetch(`${server.base}${src}`);
  assert.equal(thumb.status, 200);
  assert.equal(thumb.headers.get("content-type"), "image/webp");
  await shoot(page, "vendor-product-photo", served);
  await page.unroute("**/api/v1/uploads");

  // Text with a .png name: refused, the problem's detail shown, the photo kept.
  await input.setInputFiles({ name: "notes.png", mimeType: "image/png", buffer: Buffer.from("these are my notes, not a picture\n") });
  const alert = page.getByRole("alert").filter({ hasText: "not a JPEG, PNG or WebP image" });
  await alert.waitFor({ timeout: 15000 });
  assert.match(await alert.innerText(), /^file: is not a JPEG, PNG or WebP image/);
  assert.equal(await page.getByTestId("photo-preview").count(), 0, "the refused file's preview is gone");
  assert.equal(await page.getByTestId("photo-served").getAttribute("src"), src);
  const again = (await (await fetch(`${server.base}/api/v1/shops/${canteen.id}/products`)).json()).items.find((p) => p.name === product);
  assert.equal(again.image?.id, id, "the product still has its photo");

  // A new product with its photo, found by a student's search within a bounded wait (the index lags writes by < 1 s).
  const form = page.locator("form").filter({ has: page.getByLabel("Photo (optional)") });
  await form.getByLabel("Name").fill("Paneer Tikka Wrap");
  await form.getByLabel("Price").fill("80");
  await form.getByLabel("Photo (optional)").setInputFiles({ name: "wrap.png", mimeType: "image/png", buffer: png(200, [40, 140, 60]) });
  await form.getByRole("status").filter({ hasText: "Photo saved (200 × 200)." }).waitFor({ timeout: 15000 });
  const wrapSrc = await form.getByTestId("photo-served").getAttribute("src");
  await form.getByRole("button", { name: "Add product" }).click();
  await page.getByRole("button", { name: "Edit Paneer Tikka Wrap" }).waitFor();
  const wrap = (await (await fetch(`${server.base}/api/v1/shops/${canteen.id}/products`)).json()).items.find((p) => p.name === "Paneer Tikka Wrap");
  assert.equal(wrap?.image?.thumb, wrapSrc, "the new product was created with its photo");

  // Students see the photos on the shop page and in search.
  const student = await context(360);
  await student.page.goto(`/shops/${canteen.id}`);
  const img = student.page.getByRole("listitem").filter({ hasText: product }).locator("img");
  assert.equal(await img.getAttribute("src"), src);
  await student.page.goto("/");
  await student.page.getByRole("searchbox", { name: "Search products and shops" }).fill("tika wrap");
  const found = student.page.getByRole("list", { name: "Products found" }).getByRole("listitem").filter({ hasText: "Paneer Tikka Wrap" });
  await found.waitFor({ timeout: 5000 });
  assert.equal(await found.locator("img").getAttribute("src"), wrapSrc);
  assert.deepEqual(real(vendor.errors), [], "vendor console errors");
  await student.ctx.close();
  await vendor.ctx.close();
});



test("an admin sees the dead-letter alert, retries one mail and discards another", async () => {
  // Two addresses whose mailbox refuses mail for good: their welcome mails die.
  smtp.rejectPermanently(["bounce@uphill.test", "gone@uphill.test"]);
  await postJson("/api/v1/auth/register", { email: "bounce@uphill.test", name: "Bo Unce", password: "bounce-password-1" });
  await postJson("/api/v1/auth/register", { email: "gone@uphill.test", name: "Gone Away", password: "gone-password-1" });

  const admin = await context(1280);
  const { page } = admin;
  await signIn(page, "admin@uphill.test", server.password);
  const deadOf = async () => (await apiAs(admin.ctx, "/api/v1/admin/mail?state=DEAD")).items.map((m) => m.to).sort();
  await until("two dead letters", async () => (await deadOf()).length === 2);
  await until("the dead-mail incident", async () => (await apiAs(admin.ctx, "/api/v1/admin/alerts")).active.some((i) => i.rule === "DEAD_MAIL"));

  await page.goto("/admin/mail");
  const banner = page.getByTestId("alert-banner");
  await banner.waitFor();
  assert.match(await banner.innerText(), /open alert.*Mail was dead-lettered/);
  const bounce = page.getByTestId("mail-bounce@uphill.test");
  await bounce.getByText("Dead letter").waitFor();
  assert.match(await bounce.getByTestId("last-error").innerText(), /550/);
  await page.getByTestId("mail-status").getByText("2 dead").waitFor();
  await shoot(page, "admin-mail");

  // The mailbox works again: a retry delivers it.
  smtp.rejectPermanently(["gone@uphill.test"]);
  await bounce.getByRole("button", { name: "Retry the mail to bounce@uphill.test" }).click();
  const delivered = await smtp.waitFor("bounce@uphill.test", /Confirm your email/);
  assert.match(delivered.text, /\/verify-email\?token=[0-9a-f]{64}/);
  await until("the outbox without bounce@", async () => !(await apiAs(admin.ctx, "/api/v1/admin/mail")).items.some((m) => m.to === "bounce@uphill.test"));
  await page.getByRole("button", { name: "Refresh" }).click();
  await bounce.waitFor({ state: "detached" });

  // Discard asks once more, then removes it for good.
  const gone = page.getByTestId("mail-gone@uphill.test");
  await gone.getByRole("button", { name: "Discard the mail to gone@uphill.test", exact: true }).click();
  await gone.getByRole("button", { name: "Discard the mail to gone@uphill.test for good" }).click();
  await gone.waitFor({ state: "detached" });
  // Other mail may be passing through (the alert mailed to admins), so the dead count is what must be zero.
  await page.getByTestId("mail-status").getByText("0 dead").waitFor();
  assert.deepEqual(await deadOf(), []);
  const audit = await apiAs(admin.ctx, "/api/v1/admin/audit");
  assert.ok(audit.items.some((e) => e.action === "mail.retry"), "the retry is audited");
  assert.ok(audit.items.some((e) => e.action === "mail.discard"), "the discard is audited");

  // No dead letters left: the incident resolves and the banner goes.
  await until("the incident resolved", async () => !(await apiAs(admin.ctx, "/api/v1/admin/alerts")).active.some((i) => i.rule === "DEAD_MAIL"));
  await page.goto("/admin/alerts");
  const incident = page.getByRole("list", { name: "Recent incidents" }).getByTestId("incident-DEAD_MAIL").first();
  await incident.getByText("Resolved", { exact: true }).waitFor();
  // (Only this rule is checked: on a loaded machine another could open.)
  assert.equal(await page.getByRole("list", { name: "Open alerts" }).getByTestId("incident-DEAD_MAIL").count(), 0);
  assert.equal(await banner.filter({ hasText: "Mail was dead-lettered" }).count(), 0, "the banner no longer names it");
  await shoot(page, "admin-alerts");
  assert.deepEqual(real(admin.errors), [], "admin console errors");
  await admin.ctx.close();
});

test("the mailed links: a bad reset token shows the detail; a real reset and an email confirmation work end to end", async () => {
  const { ctx, page, errors } = await context(360);
  // A well-formed token the server never issued.
  await page.goto(`/reset-password?token=${"ab".repeat(32)}`);
  await page.getByRole("heading", { name: "Choose a new password" }).waitFor();
  const pw = page.getByLabel("New password", { exact: true });
  const repeat = page.getByLabel("Repeat the new password");
  const set = page.getByRole("button", { name: "Set the new password" });
  // Checked here first: too short, then not the same twice.
  await pw.fill("short");
  await repeat.fill("short");
  await set.click();
  await page.getByRole("alert").filter({ hasText: "The new password needs at least 8 characters." }).waitFor();
  await pw.fill("a-long-new-password");
  await repeat.fill("a-long-new-passwort");
  await set.click();
  await page.getByRole("alert").filter({ hasText: "The two passwords differ." }).waitFor();
  await repeat.fill("a-long-new-password");
  await set.click();
  await page.getByRole("alert").filter({ hasText: "token: this link is invalid, already used or expired; ask for a new one" }).waitFor();
  await shoot(page, "reset-password-bad-token");
  // A link without its token says so, and sends nothing.
  await page.goto("/reset-password");
  await page.getByRole("alert").filter({ hasText: "This link has no token" }).waitFor();
  assert.equal(await page.getByLabel("New password", { exact: true }).count(), 0);

  const user = { email: "tenzin@uphill.test", name: "Tenzin Norbu", password: "tenzin-old-password" };
  await postJson("/api/v1/auth/register", user);
  await signIn(page, user.email, user.password);

  // The confirmation mail sent at sign-up: its link confirms the address.
  assert.equal((await apiAs(ctx, "/api/v1/me")).email_verified, false);
  await page.goto("/account");
  await page.getByText("Your email address is not confirmed yet").waitFor();
  const welcome = await smtp.waitFor(user.email, /Confirm your email/);
  const verify = new URL(welcome.text.match(/(http\S+\/verify-email\?token=[0-9a-f]{64})/)[1]);
  assert.equal(verify.origin, server.base, "the mailed link points at this server");
  await page.goto(verify.pathname + verify.search);
  await page.getByRole("status").filter({ hasText: `Thank you: ${user.email} is confirmed.` }).waitFor();
  assert.equal((await apiAs(ctx, "/api/v1/me")).email_verified, true);
  await page.getByRole("link", { name: "Account" }).click();
  await page.getByRole("heading", { name: "Account" }).waitFor();
  assert.equal(await page.getByText("Your email address is not confirmed yet").count(), 0);
  // Twice is refused, with the detail.
  await page.goto(verify.pathname + verify.search);
  await page.getByRole("alert").filter({ hasText: "token: this link is invalid, already used or expired" }).waitFor();

  // A forgotten password: ask for a link, follow the mailed link, set a new one, sign in with it.
  await page.goto("/login");
  await page.getByRole("link", { name: "Forgot your password?" }).click();
  await page.getByLabel("Email").fill(user.email);
  await page.getByRole("button", { name: "Mail me a link" }).click();
  await page.getByRole("status").filter({ hasText: `If an account uses ${user.email}` }).waitFor();
  const mail = await smtp.waitFor(user.email, /Reset your Uphill password/);
  const link = new URL(mail.text.match(/(http\S+\/reset-password\?token=[0-9a-f]{64})/)[1]);
  assert.equal(link.origin, server.base, "the mailed link points at this server");
  await page.goto(link.pathname + link.search);
  await page.getByLabel("New password", { exact: true }).fill("tenzin-new-password");
  await page.getByLabel("Repeat the new password").fill("tenzin-new-password");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await page.getByRole("status").filter({ hasText: "Your password is changed" }).waitFor();
  // Every session ended, this one too: the page shows signed out.
  await page.getByRole("link", { name: "Sign in" }).first().waitFor();
  assert.equal((await fetch(`${server.base}/api/v1/me`, { headers: { cookie: (await ctx.cookies(server.base)).map((c) => `${c.name}=${c.value}`).join("; ") } })).status, 401);
  // The link worked once.
  await page.goto(link.pathname + link.search);
  await page.getByLabel("New password", { exact: true }).fill("tenzin-other-password");
  await page.getByLabel("Repeat the new password").fill("tenzin-other-password");
  await page.getByRole("button", { name: "Set the new password" }).click();
  await page.getByRole("alert").filter({ hasText: "already used" }).waitFor();
  const old = await fetch(`${server.base}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ email: user.email, password: user.password }) });
  assert.equal(old.status, 401, "the old password no longer works");
  await signIn(page, user.email, "tenzin-new-password");
  assert.equal((await apiAs(ctx, "/api/v1/me")).email, user.email);
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("a vendor invites a runner by email; the runner accepts under Runs", async () => {
  const vendor = await context(1280);
  await signIn(vendor.page, "canteen@uphill.test", server.password);
  await vendor.page.goto("/vendor/settings");
  await vendor.page.getByRole("heading", { name: "Runners" }).waitFor();
  // The same answer for any address: an account is never revealed.
  await vendor.page.getByLabel("Runner's email").fill("nobody-here@uphill.test");
  await vendor.page.getByRole("button", { name: "Invite runner" }).click();
  await vendor.page.getByRole("status").filter({ hasText: "Invitation sent to nobody-here@uphill.test" }).waitFor();
  await vendor.page.getByLabel("Runner's email").fill("asha@uphill.test");
  await vendor.page.getByRole("button", { name: "Invite runner" }).click();
  await vendor.page.getByRole("status").filter({ hasText: "Invitation sent to asha@uphill.test" }).waitFor();
  const pending = vendor.page.getByRole("list", { name: "Pending invitations" });
  await pending.getByText(/asha@uphill\.test · invited/).waitFor();
  await pending.getByText(/nobody-here@uphill\.test · invited/).waitFor();
  await shoot(vendor.page, "vendor-invite-runner", vendor.page.getByRole("heading", { name: "Runners" }));

  // Asha (a demo student) finds the invitation under Runs and accepts.
  const asha = await context(360);
  await signIn(asha.page, "asha@uphill.test", server.password);
  await asha.page.getByRole("link", { name: "Runs" }).click();
  const invites = asha.page.getByRole("region", { name: "Invitations" });
  await invites.getByText(`${SHOP} invites you to carry its batches.`).waitFor();
  await shoot(asha.page, "runner-invitation");
  await invites.getByRole("button", { name: "Accept" }).click();
  await invites.waitFor({ state: "detached" });

  // The owner's list now has her as a runner, and her invitation is gone.
  const shop = await apiAs(vendor.ctx, "/api/v1/me/shop");
  const staff = (await apiAs(vendor.ctx, `/api/v1/shops/${shop.id}/staff`)).items;
  assert.ok(staff.some((r) => r.email === "asha@uphill.test"), JSON.stringify(staff));
  const left = (await apiAs(vendor.ctx, `/api/v1/shops/${shop.id}/staff/invites`)).items;
  assert.deepEqual(
    left.map((i) => i.email),
    ["nobody-here@uphill.test"],
  );
  await vendor.page.reload();
  await vendor.page.getByText("Asha Menon · asha@uphill.test").first().waitFor();
  assert.deepEqual(real(vendor.errors), [], "vendor console errors");
  assert.deepEqual(real(asha.errors), [], "runner console errors");
  await vendor.ctx.close();
  await asha.ctx.close();
});

test("a student changes the password: the other device is signed out; a device is signed out from the list", async () => {
  const email = "meera@uphill.test";
  const one = await context(360);
  const two = await context(1280);
  await signIn(one.page, email, server.password);
  await signIn(two.page, email, server.password);
  await one.page.goto("/account");
  const devices = one.page.getByRole("list", { name: "Signed-in devices" });
  await devices.getByText("this device").waitFor();
  assert.equal(await devices.getByRole("listitem").count(), 2);

  const form = one.page.getByRole("form", { name: "Change password" });
  // A wrong current password: the problem's detail, nothing changes.
  await form.getByLabel("Current password").fill("not my password");
  await form.getByLabel("New password").fill("meera-new-password-2");
  await form.getByRole("button", { name: "Change password" }).click();
  await form.getByRole("alert").waitFor();
  assert.match(await form.getByRole("alert").innerText(), /current/i);
  await form.getByLabel("Current password").fill(server.password);
  await form.getByLabel("New password").fill("meera-new-password-2");
  await form.getByRole("button", { name: "Change password" }).click();
  await form.getByRole("status").filter({ hasText: "Password changed; 1 other device signed out." }).waitFor();
  await shoot(one.page, "account-password-devices", form);

  // The other device is signed out at its next request.
  await two.page.goto("/account");
  await two.page.getByRole("link", { name: "Sign in" }).first().waitFor();
  // Signed in again with the new password, then signed out from the first device's list.
  await signIn(two.page, email, "meera-new-password-2");
  await one.page.reload();
  await devices.getByRole("listitem").nth(1).waitFor();
  await devices.getByRole("button", { name: /^Sign out the device/ }).click();
  await devices.getByRole("listitem").nth(1).waitFor({ state: "detached" });
  await two.page.goto("/account");
  await two.page.getByRole("link", { name: "Sign in" }).first().waitFor();
  assert.deepEqual(real(one.errors), [], "console errors");
  await one.ctx.close();
  await two.ctx.close();
});

test("a user makes a personal API token on the account page, uses it, and revokes it", async () => {
  const { ctx, page, errors } = await context(360);
  await signIn(page, "ravi@uphill.test", server.password);
  await page.goto("/account");
  const form = page.getByRole("form", { name: "New API token" });
  await form.getByLabel("Token name").fill("laptop script");
  await form.getByRole("button", { name: "Create token" }).click();
  const secret = (await page.getByTestId("token-secret").innerText()).trim();
  assert.ok(secret.length > 40, secret);
  await page.getByRole("list", { name: "API tokens" }).getByText("laptop script").waitFor();
  await shoot(page, "account-api-token", page.getByRole("heading", { name: "API tokens" }));
  const me = () => fetch(`${server.base}/api/v1/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal((await me()).status, 200);
  // Shown once: a reload lists the token but never its secret again.
  await page.reload();
  await page.getByRole("list", { name: "API tokens" }).getByText("laptop script").waitFor();
  assert.equal(await page.getByTestId("token-secret").count(), 0);
  await page.getByRole("button", { name: "Revoke token laptop script" }).click();
  await page.getByRole("list", { name: "API tokens" }).getByText("No tokens.").waitFor();
  assert.equal((await me()).status, 401);
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("a vendor reads the earnings of today, this week and this month, and downloads the orders as CSV", async () => {
  const vendor = await context(1280);
  await signIn(vendor.page, "canteen@uphill.test", server.password);
  await vendor.page.goto("/vendor");
  await vendor.page.getByRole("navigation", { name: "Shop" }).getByRole("link", { name: "Earnings" }).click();
  await vendor.page.getByRole("heading", { name: "Earnings" }).waitFor();
  const shop = await apiAs(vendor.ctx, "/api/v1/me/shop");
  const { timezone } = await apiAs(vendor.ctx, "/api/v1/fees");
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: timezone }).format(new Date());
  const api = await apiAs(vendor.ctx, `/api/v1/shops/${shop.id}/earnings?from=${today}&to=${today}`);
  // The screen shows what the API sums, formatted as money.
  const figure = (name) => vendor.page.locator(".figures > div").filter({ has: vendor.page.getByText(name, { exact: true }) }).locator("dd");
  await figure("Orders").filter({ hasText: String(api.total.orders) }).waitFor();
  const inr = (minor) => new Intl.NumberFormat("en-IN", { style: "currency", currency: "INR" }).format(minor / 100);
  assert.equal(await figure("Collected").textContent(), inr(api.total.collected));
  assert.equal(await figure("Platform fee owed").textContent(), inr(api.total.platform_fees_owed));
  await shoot(vendor.page, "vendor-earnings-today");

  await vendor.page.getByRole("button", { name: "This month" }).click();
  const month = await apiAs(vendor.ctx, `/api/v1/shops/${shop.id}/earnings?from=${today.slice(0, 8)}01&to=${today}`);
  const bars = vendor.page.getByRole("list", { name: "Collected per day" }).getByRole("listitem");
  if (month.days.length > 1) {
    await bars.nth(month.days.length - 1).waitFor();
    assert.equal(await bars.count(), month.days.length);
  }
  assert.equal(await vendor.page.getByRole("button", { name: "This month" }).getAttribute("aria-pressed"), "true");
  await shoot(vendor.page, "vendor-earnings-month");

  const [download] = await Promise.all([
    vendor.page.waitForEvent("download"),
    vendor.page.getByRole("link", { name: "Download orders (CSV)" }).click(),
  ]);
  assert.match(download.suggestedFilename(), /^orders-\d{8}-\d{8}\.csv$/);
  const csv = readFileSync(await download.path(), "utf8");
  const [header, ...rows] = csv.trim().split("\n");
  assert.ok(header.startsWith("order,placed,delivered,status,student"), header);
  // One row per order placed this month, each opening with its display id.
  assert.ok(rows.every((r) => /^UP-[0-9A-Z]+,\d{4}-\d{2}-\d{2} \d{2}:\d{2},/.test(r)), csv);
  if (month.total.orders > 0) assert.ok(rows.some((r) => r.includes(",completed,")), csv);
  assert.deepEqual(real(vendor.errors), [], "vendor console errors");
  await vendor.ctx.close();
});

test("two tabs edit the same product: the restock in one is never written back by the other, whose save is refused with the reason", async () => {
  const vendor = await context(1280);
  await signIn(vendor.page, "canteen@uphill.test", server.password);
  const tabA = vendor.page;
  const tabB = await vendor.ctx.newPage();
  const product = "Egg Roll";
  for (const tab of [tabA, tabB]) {
    await tab.goto("/vendor/products");
    await tab.getByTestId(`stock-${product}`).waitFor();
  }
  const before = Number(await tabB.getByTestId(`stock-${product}`).textContent());
  // Tab B opens the form; the form fills from the product as loaded.
  await tabB.getByRole("button", { name: `Edit ${product}` }).click();
  const stockField = tabB.locator(`input[name^="stock-"]`).first();
  assert.equal(await stockField.inputValue(), String(before));
  // Tab A restocks.
  await tabA.getByRole("button", { name: `Restock ${product} by 10` }).click();
  await tabA.getByTestId(`stock-${product}`).filter({ hasText: String(before + 10) }).waitFor();
  // Tab B saves a new price from its older copy: refused, with the reason.
  await tabB.locator(`input[name^="price-"]`).first().fill("65");
  await tabB.getByRole("button", { name: "Save" }).click();
  await tabB.getByText(/changed since you loaded it; reload/).waitFor();
  await shoot(tabB, "vendor-product-stale-edit", tabB.getByText(/changed since you loaded it/));
  const shop = await apiAs(vendor.ctx, "/api/v1/me/shop");
  const list = await apiAs(vendor.ctx, `/api/v1/shops/${shop.id}/products?limit=200`);
  const now = list.items.find((p) => p.name === product);
  assert.equal(now.stock, before + 10, "the restock stands");
  assert.equal(now.price, 6000, "the refused price was not written");
  // After a reload the form fills from the new stock, and a save sends only the price.
  await tabB.reload();
  await tabB.getByRole("button", { name: `Edit ${product}` }).click();
  assert.equal(await tabB.locator(`input[name^="stock-"]`).first().inputValue(), String(before + 10));
  const sent = tabB.waitForRequest((r) => r.method() === "PATCH" && r.url().includes("/api/v1/products/"));
  await tabB.locator(`input[name^="price-"]`).first().fill("65");
  await tabB.getByRole("button", { name: "Save" }).click();
  assert.deepEqual(JSON.parse((await sent).postData()), { price: 6500 });
  await tabB.getByTestId(`stock-${product}`).filter({ hasText: String(before + 10) }).waitFor();
  assert.deepEqual(real(vendor.errors), [], "vendor console errors");
  await vendor.ctx.close();
});
