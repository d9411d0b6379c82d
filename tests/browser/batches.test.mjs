// A vendor's batches in headless Chromium: the prep summary of an open
// batch (each item summed over its orders), locking early only after a
// confirmation, and the batch history with its status filter in the URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSeededServer, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, openContext, tokenFor, until, getAs, placeOrder } from "./kit.mjs";

const SHOP = "Squeeze Juice Bar";
const get = (token, path) => getAs(server.base, token, path);
/** A student's order at the juice bar: `[name, quantity]` lines. */
const place = (token, key, lines) => placeOrder(server.base, token, key, SHOP, (products) => lines.map(([name, quantity]) => ({ product_id: products.find((p) => p.name === name).id, quantity })));
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

test("a vendor packs from the prep summary, locks only after confirming, and finds the batch in the history", async () => {
  const asha = await tokenFor(server.base, "asha@uphill.test", server.password);
  const ravi = await tokenFor(server.base, "ravi@uphill.test", server.password);
  const first = await place(asha, "prep-1", [["Orange Juice", 1], ["Mango Shake", 3]]);
  const second = await place(ravi, "prep-2", [["Orange Juice", 1]]);
  assert.equal(first.batch_id, second.batch_id, "both join the next batch");
  const batchId = first.batch_id;

  const vendor = await openContext(browser, server.base, 360);
  await signIn(vendor.page, "juice@uphill.test", server.password);
  await vendor.page.goto("/vendor");
  await vendor.page.locator(`a[href="/vendor/batches/${batchId}"]`).click();
  const prep = vendor.page.getByRole("region", { name: /To pack/ });
  await prep.waitFor();
  // Summed over both orders, most first.
  assert.deepEqual(await prep.getByRole("row").allTextContents(), ["3 ×Mango Shake", "2 ×Orange Juice"]);
  await shoot(vendor.page, "vendor-batch-prep", prep);

  // "Lock now" asks first; "Keep it" leaves the batch open.
  const vendorToken = await tokenFor(server.base, "juice@uphill.test", server.password);
  await vendor.page.getByRole("button", { name: "Lock now" }).click();
  const ask = vendor.page.getByRole("group", { name: "Are you sure?" });
  await ask.getByText(/No more orders join, and 2 students get an OTP/).waitFor();
  await ask.getByRole("button", { name: "Keep it" }).click();
  assert.equal((await get(vendorToken, `/api/v1/batches/${batchId}`)).status, "OPEN", "nothing happened on the first tap");
  await vendor.page.getByRole("button", { name: "Lock now" }).click();
  await vendor.page.getByRole("button", { name: "Yes, lock" }).click();
  await until("the batch locked", async () => (await get(vendorToken, `/api/v1/batches/${batchId}`)).status === "LOCKED");
  await vendor.page.getByText("Locked", { exact: true }).first().waitFor();

  // The history lists it; the filter is in the URL and survives a reload.
  await vendor.page.getByRole("navigation", { name: "Shop" }).getByRole("link", { name: "Batch history" }).click();
  await vendor.page.getByRole("heading", { name: "Batch history" }).waitFor();
  await vendor.page.getByLabel("Show").selectOption("LOCKED");
  await vendor.page.waitForURL(/\/vendor\/batches\?status=LOCKED$/);
  await vendor.page.reload();
  assert.equal(await vendor.page.getByLabel("Show").inputValue(), "LOCKED");
  await vendor.page.locator(`a[href="/vendor/batches/${batchId}"]`).waitFor();
  await shoot(vendor.page, "vendor-batch-history");
  await vendor.page.getByLabel("Show").selectOption("COMPLETED");
  await vendor.page.getByText("No batches completed yet.").waitFor();
  assert.equal(await vendor.page.locator(`a[href="/vendor/batches/${batchId}"]`).count(), 0);
  await vendor.page.goBack();
  await vendor.page.locator(`a[href="/vendor/batches/${batchId}"]`).waitFor();
  assert.deepEqual(real(vendor.errors), [], "vendor console errors");
  await vendor.ctx.close();
});
