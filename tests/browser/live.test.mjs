// Live updates that never die silently, in headless Chromium: a student's
// order page stays live through quick reloads; when the stream is refused
// (the browser's EventSource then gives up for good) the page says it is
// not live, reconnects by itself with backoff, and re-reads the order, so
// an OTP made while it was away shows without a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSeededServer, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, openContext, postJson, tokenFor, getAs, placeOrder } from "./kit.mjs";

const SHOP = "Crumbs Bakery";
const get = (token, path) => getAs(server.base, token, path);
/** Three of a product with stock to spare and worth the shop's minimum. */
const place = (token, key) => placeOrder(server.base, token, key, SHOP, (products) => [{ product_id: products.find((p) => p.stock > 10 && p.unit_price >= 1500).id, quantity: 3 }]);
let server;
let browser;

before(async () => {
  server = await startSeededServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

async function lock(token, batchId) {
  await postJson(server.base, `/api/v1/batches/${batchId}/lock`, {}, { authorization: `Bearer ${token}` });
}

test("the order page stays live through reloads, says so when it is not, and catches up when the stream returns", async () => {
  const meera = await tokenFor(server.base, "meera@uphill.test", server.password);
  const vendor = await tokenFor(server.base, "bakery@uphill.test", server.password);
  // Service workers off: the stream must be refusable from the test.
  const student = await openContext(browser, server.base, 360, { serviceWorkers: "block" });
  await signIn(student.page, "meera@uphill.test", server.password);

  // Six quick reloads, then a lock: the OTP arrives live.
  const first = await place(meera, "live-1");
  await student.page.goto(`/orders/${first.id}`);
  for (let i = 0; i < 6; i++) {
    await student.page.reload();
    await student.page.getByRole("heading", { name: `Order ${first.display_id}` }).waitFor();
  }
  await student.page.waitForTimeout(500);
  await lock(vendor, first.batch_id);
  await student.page.getByTestId("otp").waitFor({ timeout: 10000 });
  assert.equal(await student.page.getByTestId("live-banner").count(), 0, "live: no banner");

  // The stream is refused (as a restarting server or a proxy would): the
  // browser's EventSource gives up on a non-200, so the page must retry.
  const second = await place(meera, "live-2");
  assert.notEqual(second.batch_id, first.batch_id, "the next batch");
  let refused = 0;
  await student.page.route("**/api/v1/events", (route) => {
    refused++;
    return route.fulfill({ status: 503, contentType: "application/problem+json", body: '{"title":"Service Unavailable","status":503}' });
  });
  await student.page.goto(`/orders/${second.id}`);
  await student.page.getByRole("heading", { name: `Order ${second.display_id}` }).waitFor();
  await student.page.getByTestId("live-banner").filter({ hasText: "Not live" }).waitFor({ timeout: 10000 });
  await shoot(student.page, "student-order-not-live", student.page.getByTestId("live-banner"));
  // It keeps trying, with backoff (not a tight loop).
  await student.page.waitForTimeout(3500);
  assert.ok(refused >= 2 && refused <= 6, `retried ${refused} times in about 7 s`);
  // Locked while the page was not live: no event reaches it.
  await lock(vendor, second.batch_id);
  await student.page.waitForTimeout(1000);
  assert.equal(await student.page.getByTestId("otp").count(), 0, "nothing arrived while refused");
  // The stream returns: the page reconnects and re-reads the order.
  await student.page.unroute("**/api/v1/events");
  await student.page.getByTestId("otp").waitFor({ timeout: 40000 });
  await student.page.getByTestId("live-banner").waitFor({ state: "detached" });
  const otp = (await get(meera, `/api/v1/orders/${second.id}`)).otp;
  assert.equal(await student.page.getByTestId("otp").textContent(), otp);
  assert.deepEqual(real(student.errors).filter((e) => !/503|EventSource/.test(e)), [], "console errors");
  await student.ctx.close();
});
