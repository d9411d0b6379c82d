// A student's account in headless Chromium: profile (name, phone), and
// addresses added, edited, made the default and deleted after asking; no
// page probes for a shop the user does not have.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSeededServer, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, openContext, apiAs, postJson, tokenFor, until } from "./kit.mjs";

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

test("a student edits their profile and addresses, and nothing is probed for a shop they do not have", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 360);
  const probes = [];
  page.on("request", (r) => new URL(r.url()).pathname === "/api/v1/me/shop" && probes.push(r.url()));
  await signIn(page, "ravi@uphill.test", server.password);
  await page.goto("/account");

  // Profile: filled from the account; a reload shows what was saved.
  const name = page.getByLabel("Name", { exact: true });
  assert.equal(await name.inputValue(), "Ravi Kumar");
  await name.fill("Ravi K.");
  await page.getByLabel("Phone").fill("+91 98450 12345");
  await page.getByRole("button", { name: "Save profile" }).click();
  await page.getByRole("status").filter({ hasText: "Profile saved." }).waitFor();
  await page.getByLabel("Phone").fill("12");
  await page.getByRole("button", { name: "Save profile" }).click();
  await page.getByRole("alert").filter({ hasText: /phone/ }).waitFor();
  await page.reload();
  assert.equal(await page.getByLabel("Name", { exact: true }).inputValue(), "Ravi K.");
  assert.equal(await page.getByLabel("Phone").inputValue(), "+91 98450 12345");
  const me = await apiAs(server.base, ctx, "/api/v1/me");
  assert.equal(me.phone, "+91 98450 12345", "the refused phone was not saved");

  // A second address: the building is asked for, not guessed.
  await page.getByRole("button", { name: "Add an address" }).click();
  const form = page.getByRole("form", { name: "New address" });
  await form.getByLabel("Label").fill("Lab");
  await form.getByLabel("Room").fill("L-204");
  assert.ok(await form.getByRole("button", { name: "Save address" }).isDisabled());
  await form.getByLabel("Building").selectOption({ label: "Hostel C" });
  await form.getByRole("button", { name: "Save address" }).click();
  const lab = page.getByTestId("address-Lab");
  await lab.getByText("Hostel C, room L-204").waitFor();

  // Edit it (the form fills from it), then make it the default.
  await page.getByRole("button", { name: "Edit address Lab" }).click();
  const edit = page.getByRole("form", { name: "Edit address Lab" });
  assert.equal(await edit.getByLabel("Room").inputValue(), "L-204");
  await edit.getByLabel("Room").fill("L-210");
  await edit.getByRole("button", { name: "Save address" }).click();
  await lab.getByText("Hostel C, room L-210").waitFor();
  await page.getByRole("button", { name: "Make Lab the default" }).click();
  await lab.getByText("default").waitFor();
  let list = await apiAs(server.base, ctx, "/api/v1/me/addresses");
  assert.deepEqual(list.filter((x) => x.default).map((x) => x.label), ["Lab"], "one default");
  await shoot(page, "account-profile-addresses", page.getByRole("heading", { name: "Addresses" }));

  // Delete asks first.
  await page.getByRole("button", { name: "Delete address Lab" }).click();
  await page.getByRole("button", { name: "Keep it" }).click();
  assert.equal((await apiAs(server.base, ctx, "/api/v1/me/addresses")).length, list.length);
  await page.getByRole("button", { name: "Delete address Lab" }).click();
  await page.getByRole("button", { name: "Yes, delete" }).click();
  await lab.waitFor({ state: "detached" });
  list = await apiAs(server.base, ctx, "/api/v1/me/addresses");
  assert.ok(!list.some((x) => x.label === "Lab"));

  assert.deepEqual(probes, [], "a student's pages never ask for /me/shop");
  // No 404 probe: the only failed request is the refused phone's 422.
  assert.deepEqual(errors.filter((e) => !/status of 422/.test(e)), [], "console errors");
  await ctx.close();
});

test("a broadcast to students counts in a student's badge until dismissed, and never reaches a vendor", async () => {
  const admin = await tokenFor(server.base, "admin@uphill.test", server.password);
  const student = await openContext(browser, server.base, 360);
  const vendor = await openContext(browser, server.base, 360);
  await signIn(student.page, "meera@uphill.test", server.password);
  await signIn(vendor.page, "juice@uphill.test", server.password);
  const badge = (p) => p.getByTestId("unread");
  const before = (await badge(student.page).count()) ? Number(await badge(student.page).textContent()) : 0;
  await postJson(server.base, "/api/v1/admin/broadcasts", { title: "Water cut", message: "No water 2-4 PM in Hostel C", audience: "STUDENTS" }, { authorization: `Bearer ${admin}` });
  // Live: the badge counts it without a reload.
  await badge(student.page).filter({ hasText: String(before + 1) }).waitFor();
  await student.page.goto("/notifications");
  await student.page.getByText("No water 2-4 PM in Hostel C").waitFor();
  await student.page.getByRole("button", { name: "Dismiss" }).first().click();
  await student.page.getByText("No water 2-4 PM in Hostel C").waitFor({ state: "detached" });
  if (before === 0) await badge(student.page).waitFor({ state: "detached" });
  else await badge(student.page).filter({ hasText: String(before) }).waitFor();
  // The vendor's pages never heard of it.
  await vendor.page.goto("/notifications");
  await vendor.page.getByRole("heading", { name: "Notifications" }).waitFor();
  assert.equal(await vendor.page.getByText("No water 2-4 PM in Hostel C").count(), 0);
  await student.ctx.close();
  await vendor.ctx.close();
});

test("order again: a past order's items go back in the cart (the server's, so a second phone has it too) and order again", async () => {
  const base = server.base;
  const asha = await tokenFor(base, "asha@uphill.test", server.password);
  const get = async (path) => (await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${asha}` } })).json();
  const shop = (await get("/api/v1/shops?limit=200")).items.find((s) => s.name === "Squeeze Juice Bar");
  const product = (await get(`/api/v1/shops/${shop.id}/products?limit=200`)).items.find((p) => p.name === "Lime Soda");
  const [address] = await get("/api/v1/me/addresses");
  const auth = { authorization: `Bearer ${asha}` };
  const first = await (await postJson(base, "/api/v1/orders", { shop_id: shop.id, items: [{ product_id: product.id, quantity: 2 }], address_id: address.id, payment_method: "CASH" }, { ...auth, "idempotency-key": "again-1" })).json();
  await postJson(base, `/api/v1/orders/${first.id}/cancel`, {}, auth);

  const phone = await openContext(browser, base, 360);
  await signIn(phone.page, "asha@uphill.test", server.password);
  await phone.page.goto(`/orders/${first.id}`);
  await phone.page.getByRole("button", { name: "Order again" }).click();
  await phone.page.getByRole("status").filter({ hasText: "In your cart again." }).waitFor();
  const server_cart = await get(`/api/v1/cart/${shop.id}`);
  assert.deepEqual(server_cart.items.map((l) => [l.name, l.quantity]), [["Lime Soda", 2]], "the server's cart holds it");

  // A second device signed in later finds the same cart.
  const laptop = await openContext(browser, base, 1280);
  await signIn(laptop.page, "asha@uphill.test", server.password);
  await laptop.page.goto("/cart");
  await laptop.page.getByText("Lime Soda").waitFor();

  // Order it again from the phone.
  await phone.page.getByRole("link", { name: "Go to the cart" }).click();
  await phone.page.getByRole("link", { name: /^Checkout/ }).click();
  await phone.page.getByRole("button", { name: /^Place order/ }).click();
  await phone.page.waitForURL(/\/orders\/[0-9A-Z]{26}$/);
  const again = await get(phone.page.url().replace(/.*\/orders\//, "/api/v1/orders/"));
  assert.notEqual(again.id, first.id);
  assert.deepEqual(again.items.map((i) => [i.name, i.quantity]), [["Lime Soda", 2]]);
  // The history names the shop and filters by status, in the URL.
  await phone.page.goto("/orders");
  await phone.page.getByLabel("Show").selectOption("CANCELLED");
  await phone.page.waitForURL(/\/orders\?status=CANCELLED$/);
  const cancelled = phone.page.locator(`a[href="/orders/${first.id}"]`);
  await cancelled.getByText("Squeeze Juice Bar").waitFor();
  // The new order is not cancelled: the filtered list drops it.
  await phone.page.locator(`a[href="/orders/${again.id}"]`).waitFor({ state: "detached" });
  await phone.page.reload();
  await cancelled.waitFor();
  assert.deepEqual(real(phone.errors), [], "console errors");
  await phone.ctx.close();
  await laptop.ctx.close();
});

test("checkout says how much is missing below the shop's minimum, and a UPI payer sees where to pay, there and on the order", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 360);
  await signIn(page, "meera@uphill.test", server.password);
  await page.goto("/");
  await page.getByRole("link", { name: /Crumbs Bakery/ }).click();
  await page.getByRole("heading", { name: "Crumbs Bakery" }).waitFor();
  await page.getByRole("button", { name: "Add Veg Puff to cart" }).click();
  // Focus moves to the control that replaced "Add", not to the page.
  await page.getByRole("button", { name: "One more Veg Puff" }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.getAttribute("aria-label")), "One more Veg Puff");
  await page.getByRole("link", { name: /^Checkout/ }).click();
  // ₹25 of a ₹30 minimum: the button waits, and says why in money.
  await page.getByText("This shop's minimum order is ₹30.00: add ₹5.00 more to order.").waitFor();
  assert.ok(await page.getByRole("button", { name: /^Place order/ }).isDisabled());
  await page.goBack();
  await page.getByRole("button", { name: "One more Veg Puff" }).click();
  await page.getByRole("link", { name: /^Checkout/ }).click();
  await page.getByRole("button", { name: /^Place order/ }).waitFor();
  assert.equal(await page.getByText(/add .* more to order/).count(), 0);
  await page.getByLabel("UPI").check();
  const shop = (await apiAs(server.base, ctx, "/api/v1/shops?limit=200")).items.find((s) => s.name === "Crumbs Bakery");
  assert.equal(await page.getByTestId("upi-id").textContent(), shop.upi_id);
  await shoot(page, "student-checkout-upi", page.getByTestId("upi-id"));
  await page.getByRole("button", { name: /^Place order/ }).click();
  await page.waitForURL(/\/orders\/[0-9A-Z]{26}$/);
  // The order names its shop and where to pay.
  await page.getByRole("link", { name: "Crumbs Bakery" }).waitFor();
  assert.equal(await page.getByTestId("upi-id").textContent(), shop.upi_id);
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("checkout lets the student pick a later batch, or direct delivery for its fee", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 360);
  await signIn(page, "ravi@uphill.test", server.password);
  const shop = (await apiAs(server.base, ctx, "/api/v1/shops?limit=200")).items.find((s) => s.name === "Squeeze Juice Bar");
  const slots = (await apiAs(server.base, ctx, `/api/v1/shops/${shop.id}/slots?limit=200`)).items
    .filter((s) => s.active && s.next_cutoff_at)
    .sort((a, b) => Date.parse(a.next_cutoff_at) - Date.parse(b.next_cutoff_at));
  const order = async (pick) => {
    await page.goto(`/shops/${shop.id}`);
    await page.getByRole("button", { name: "Add Orange Juice to cart" }).click();
    await page.getByRole("link", { name: /^Checkout/ }).click();
    const when = page.getByRole("group", { name: "When" });
    await when.getByRole("radio").first().waitFor();
    assert.equal(await when.getByRole("radio").count(), slots.length + 1, "each slot's next batch, and direct");
    await pick(when);
    await page.getByRole("button", { name: /^Place order/ }).click();
    await page.waitForURL(/\/orders\/[0-9A-Z]{26}$/);
    return apiAs(server.base, ctx, page.url().replace(/.*\/orders\//, "/api/v1/orders/"));
  };
  // The second batch, not the next one.
  const later = await order((when) => when.getByRole("radio").nth(1).check());
  assert.equal(Date.parse(later.cutoff_at), Date.parse(slots[1].next_cutoff_at));
  // Direct: no batch, the direct fee, shown on the bill first.
  const direct = await order(async (when) => {
    await when.getByRole("radio", { name: /Direct delivery/ }).check();
    await page.getByRole("table", { name: "Bill" }).getByText("₹25.00").waitFor();
  });
  assert.equal(direct.batch_id ?? null, null);
  assert.equal(direct.delivery_fee, shop.direct_delivery_fee);
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("offline from a cold start: signed in and a cart filled online, checkout opened for the first time offline still orders once", async () => {
  const base = server.base;
  const token = await tokenFor(base, "asha@uphill.test", server.password);
  const count = async () => (await (await fetch(`${base}/api/v1/orders?limit=200`, { headers: { authorization: `Bearer ${token}` } })).json()).items.length;
  const { ctx, page, errors } = await openContext(browser, base, 360);
  await signIn(page, "asha@uphill.test", server.password);
  const shop = (await apiAs(base, ctx, "/api/v1/shops?limit=200")).items.find((s) => s.name === "Crumbs Bakery");
  await page.goto(`/shops/${shop.id}`);
  await page.getByRole("button", { name: "Add Bun Maska to cart" }).click();
  // Sign-in read the addresses through the service worker, which kept them.
  await until("the offline copies", () =>
    page.evaluate(async () => !!navigator.serviceWorker.controller && !!(await (await caches.open("uphill-api-v1")).match("/api/v1/me/addresses"))),
  );
  const before = await count();
  await ctx.setOffline(true);
  // Checkout was never opened: a cold load, offline.
  await page.goto(`/checkout/${shop.id}`);
  await page.getByRole("status").filter({ hasText: "You are offline" }).waitFor();
  await page.getByRole("group", { name: "Deliver to" }).getByRole("radio").first().waitFor();
  await page.getByRole("button", { name: /^Place order/ }).click();
  await page.getByTestId("queued").waitFor();
  await ctx.setOffline(false);
  await until("the queued order sent", async () => (await count()) === before + 1, 20000);
  await page.waitForTimeout(1500);
  assert.equal(await count(), before + 1, "sent exactly once");
  assert.deepEqual(real(errors).filter((e) => !/ERR_INTERNET_DISCONNECTED|Failed to fetch|net::/.test(e)), [], "console errors");
  await ctx.close();
});

test("a stock watch survives a reload of the shop page", async () => {
  const base = server.base;
  const vendor = await tokenFor(base, "bakery@uphill.test", server.password);
  const auth = { authorization: `Bearer ${vendor}` };
  const shop = await (await fetch(`${base}/api/v1/me/shop`, { headers: auth })).json();
  const products = (await (await fetch(`${base}/api/v1/shops/${shop.id}/products?limit=200`, { headers: auth })).json()).items;
  const croissant = products.find((p) => p.name === "Croissant");
  const patched = await fetch(`${base}/api/v1/products/${croissant.id}`, { method: "PATCH", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ stock: 0 }) });
  assert.equal(patched.status, 200);

  const { ctx, page, errors } = await openContext(browser, base, 360);
  await signIn(page, "ravi@uphill.test", server.password);
  await page.goto(`/shops/${shop.id}`);
  const row = page.locator(".product", { hasText: "Croissant" });
  await row.getByRole("button", { name: "Sold out: notify me" }).click();
  await row.getByRole("button", { name: "Watching: stop" }).waitFor();
  await page.reload();
  await row.getByRole("button", { name: "Watching: stop" }).waitFor();
  assert.equal((await apiAs(base, ctx, `/api/v1/products/${croissant.id}`)).watching, true);
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});
