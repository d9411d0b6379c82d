// Campus at a glance in headless Chromium: the admin lands on the
// dashboard, whose figures for today match the orders placed through the
// API, with the bars, alerts and housekeeping panels beside them.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSeededServer, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, openContext, tokenFor, getAs, placeOrder } from "./kit.mjs";

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

test("the admin's dashboard shows today's orders, students and shops as the API counts them", async () => {
  const base = server.base;
  const admin = await tokenFor(base, "admin@uphill.test", server.password);
  const today = async () => (await getAs(base, admin, "/api/v1/admin/dashboard")).days.at(-1);
  const before = await today();
  for (const [who, key] of [
    ["asha@uphill.test", "dash-1"],
    ["asha@uphill.test", "dash-2"],
  ]) {
    const token = await tokenFor(base, who, server.password);
    const o = await placeOrder(base, token, key, "Squeeze Juice Bar", (products) => [{ product_id: products[0].id, quantity: 1 }]);
    assert.ok(o.id, JSON.stringify(o));
  }
  const after = await today();
  assert.equal(after.orders_placed, before.orders_placed + 2);
  assert.ok(after.active_students >= 1 && after.active_shops >= 1);

  const { ctx, page, errors } = await openContext(browser, base, 1280);
  await signIn(page, "admin@uphill.test", server.password);
  await page.getByRole("link", { name: "Admin" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  const figure = (k) => page.getByTestId(`today-${k}`).locator("dd");
  await figure("placed").filter({ hasText: new RegExp(`^${after.orders_placed}$`) }).waitFor();
  assert.equal(await figure("students").textContent(), String(after.active_students));
  assert.equal(await figure("shops").textContent(), String(after.active_shops));
  assert.equal(await figure("completed").textContent(), String(after.orders_completed));
  const bars = page.getByTestId("bars-placed");
  assert.match(await bars.locator("svg").getAttribute("aria-label"), new RegExp(`today ${after.orders_placed},`));
  assert.equal(await bars.locator("rect.bar").count(), 14);
  await page.getByTestId("dash-alerts").getByRole("heading", { name: "Alerts" }).waitFor();
  await page.getByTestId("sweep-carts").getByText(/kept 30 days/).waitFor();
  await shoot(page, "admin-dashboard");

  // A longer range redraws the bars.
  await page.getByRole("button", { name: "30 days" }).click();
  await page.getByTestId("bars-placed").locator("rect.bar").nth(29).waitFor();
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});
