// The admin's moderation in headless Chromium (issue #22): a shop's review
// removed with a reason after a confirmation (its author is told), one of
// its products removed, the shop deactivated (students stop seeing it), and
// the users list filtered by role, the filter kept in the URL.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startSeededServer, launchBrowser } from "./server.mjs";
import { real, shoot, signIn, openContext, apiAs, tokenFor, getAs, postJson, placeOrder } from "./kit.mjs";

const SHOP = "Squeeze Juice Bar";
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

test("an admin removes a review with a reason, removes a product and deactivates the shop", async () => {
  const base = server.base;
  const ravi = await tokenFor(base, "ravi@uphill.test", server.password);
  const admin = await tokenFor(base, "admin@uphill.test", server.password);
  const bearer = (t) => ({ authorization: `Bearer ${t}` });
  // Ravi's delivered order (an admin's override), and his review of it.
  const placed = await placeOrder(base, ravi, "moderation-1", SHOP, (products) => [{ product_id: products[0].id, quantity: 1 }]);
  const juice = placed.items[0];
  await postJson(base, `/api/v1/admin/orders/${placed.id}/status`, { status: "COMPLETED", reason: "delivered by hand" }, bearer(admin));
  await postJson(base, `/api/v1/orders/${placed.id}/reviews`, { product_id: juice.product_id, rating: 1, comment: "Worst juice, the owner is a crook" }, bearer(ravi));
  assert.equal((await getAs(base, ravi, `/api/v1/products/${juice.product_id}`)).review_count, 1);

  const { ctx, page, errors } = await openContext(browser, base, 1280);
  await signIn(page, "admin@uphill.test", server.password);
  await page.goto("/admin/shops");
  await page.getByLabel("Status").selectOption("ALL");
  await page.getByLabel("Shop, owner name or email").fill("squeeze");
  await page.getByLabel("Shop, owner name or email").press("Enter");
  await page.waitForURL(/verification=ALL/);
  await page.waitForURL(/q=squeeze/);
  const card = page.getByTestId(`shop-${SHOP}`);
  await card.waitFor();
  assert.equal(await page.locator("[data-testid^=shop-]").count(), 1, "the text filter leaves one shop");
  await card.getByRole("link", { name: "Moderate products and reviews" }).click();
  await page.getByRole("heading", { name: `Moderate ${SHOP}` }).waitFor();

  // The review: a reason first, then a confirmation.
  await page.getByRole("button", { name: "Remove the review by Ravi Kumar" }).click();
  const group = page.getByRole("group", { name: "Remove the review by Ravi Kumar" });
  const go = group.getByRole("button", { name: "Remove review" });
  assert.ok(await go.isDisabled(), "no reason, no removal");
  await group.getByLabel(/Reason/).fill("Insults the owner");
  await go.click();
  await shoot(page, "admin-moderation-review", group);
  await group.getByRole("button", { name: "Keep it" }).click();
  assert.equal((await getAs(base, ravi, `/api/v1/products/${juice.product_id}`)).review_count, 1, "backing out changed nothing");
  await go.click();
  await group.getByRole("button", { name: "Yes, remove the review" }).click();
  await page.getByText("No reviews.").waitFor();
  assert.equal((await getAs(base, ravi, `/api/v1/products/${juice.product_id}`)).review_count, 0);
  const notes = await getAs(base, ravi, "/api/v1/notifications");
  assert.ok(
    notes.items.some((n) => n.title === "Your review was removed" && n.message.includes("Insults the owner")),
    "the author is told why",
  );

  // A product, after a confirmation; the owner is told.
  const row = page.getByTestId("mod-product-Lime Soda");
  await row.getByRole("button", { name: "Remove Lime Soda" }).click();
  await row.getByRole("button", { name: "Yes, remove" }).click();
  await row.waitFor({ state: "detached" });
  const shop = (await getAs(base, ravi, "/api/v1/shops?limit=200")).items.find((s) => s.name === SHOP);
  const products = (await getAs(base, ravi, `/api/v1/shops/${shop.id}/products?limit=200`)).items;
  assert.ok(!products.some((p) => p.name === "Lime Soda"), "students no longer see it");
  const owner = await tokenFor(base, "juice@uphill.test", server.password);
  const ownerNotes = await getAs(base, owner, "/api/v1/notifications");
  assert.ok(ownerNotes.items.some((n) => n.message.includes("Lime Soda")), "the owner is told");
  await shoot(page, "admin-moderation", page.getByRole("heading", { name: "Products" }), "start");

  // Deactivate: students stop seeing the shop.
  await page.getByRole("link", { name: "← Shops" }).click();
  await page.getByLabel("Shop, owner name or email").fill("squeeze");
  await page.getByLabel("Shop, owner name or email").press("Enter");
  await card.getByRole("button", { name: `Deactivate ${SHOP}` }).click();
  await card.getByRole("button", { name: "Yes, deactivate" }).click();
  await card.getByText("inactive", { exact: true }).waitFor();
  const listed = (await getAs(base, ravi, "/api/v1/shops?limit=200")).items;
  assert.ok(!listed.some((s) => s.name === SHOP), "students no longer see the shop");
  const audit = await apiAs(base, ctx, `/api/v1/admin/audit?target=${shop.id}`);
  assert.ok(audit.items.some((e) => e.action === "shop.update"), "audited");
  await shoot(page, "admin-shops", card);
  // And back on.
  await card.getByRole("button", { name: `Activate ${SHOP}` }).click();
  await card.getByText("inactive", { exact: true }).waitFor({ state: "detached" });
  assert.ok((await getAs(base, ravi, "/api/v1/shops?limit=200")).items.some((s) => s.name === SHOP));
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("an admin edits a shop's details, sending only what changed", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 360);
  await signIn(page, "admin@uphill.test", server.password);
  await page.goto("/admin/shops?verification=ALL&q=crumbs");
  const card = page.getByTestId("shop-Crumbs Bakery");
  await card.getByRole("button", { name: "Edit Crumbs Bakery" }).click();
  const form = card.getByRole("form", { name: "Details of Crumbs Bakery" });
  const save = form.getByRole("button", { name: "Save details" });
  assert.ok(await save.isDisabled(), "nothing changed yet");
  await form.getByLabel("Location").fill("Market row 3, shop 1");
  await shoot(page, "admin-shop-edit", form);
  await save.click();
  await card.getByText(/Market row 3, shop 1/).waitFor();
  const shop = (await apiAs(server.base, ctx, "/api/v1/admin/shops?q=crumbs")).items[0];
  assert.equal(shop.location, "Market row 3, shop 1");
  assert.equal(shop.name, "Crumbs Bakery");
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});

test("an admin filters users by role, and the URL keeps the filter", async () => {
  const { ctx, page, errors } = await openContext(browser, server.base, 1280);
  await signIn(page, "admin@uphill.test", server.password);
  await page.goto("/admin/users");
  await page.getByTestId("user-asha@uphill.test").waitFor();
  await page.getByLabel("Role").selectOption("RUNNER");
  await page.waitForURL(/role=RUNNER/);
  await page.getByTestId("user-runner@uphill.test").waitFor();
  await page.reload();
  await page.getByTestId("user-runner@uphill.test").waitFor();
  assert.equal(await page.getByLabel("Role").inputValue(), "RUNNER");
  assert.equal(await page.locator("[data-testid^=user-]").count(), 1, "only the runner");
  await shoot(page, "admin-users-role", page.getByLabel("Role"));
  await page.getByLabel("Role").selectOption("VENDOR");
  await page.getByTestId("user-juice@uphill.test").waitFor();
  assert.equal(await page.getByTestId("user-asha@uphill.test").count(), 0, "students are not vendors");
  assert.deepEqual(real(errors), [], "console errors");
  await ctx.close();
});
